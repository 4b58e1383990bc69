# The hosting provider's API: tenants and their API keys.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test;

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx;
my $ua = $t->ua;
my $ph = $t->auth($t->provider_key);

is $ua->get($t->url('/v1/provider/tenants'))->res->code, 401, 'no provider key';
is $ua->get($t->url('/v1/provider/tenants') => $t->auth('hdp_' . 'x' x 32))->res->code, 401,
    'wrong provider key';

my $tx = $ua->post($t->url('/v1/provider/tenants') => $ph => json => { name => 'Acme Ltda', slug => 'acme' });
is $tx->res->code, 201, 'tenant created';
my $acme = $tx->res->json;
ok $acme->{id}, 'has an id';
is $tx->res->headers->location, "/api/v1/provider/tenants/$acme->{id}", 'Location';
is $ua->post($t->url('/v1/provider/tenants') => $ph => json => { name => 'Other', slug => 'acme' })->res->code,
    409, 'slug taken is 409';
$tx = $ua->post($t->url('/v1/provider/tenants') => $ph => json => { name => '', slug => 'Bad Slug' });
is $tx->res->code, 422, 'bad tenant is 422';
is scalar @{ $tx->res->json->{errors} }, 2, 'both fields named';

# a tenant key cannot use the provider API, nor the provider key the tenant API
$tx = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/api-keys") => $ph
                => json => { name => 'billing', scopes => ['tickets:read', 'tickets:write'] });
is $tx->res->code, 201, 'key created';
my $key = $tx->res->json;
like $key->{key}, qr/^hdk_[A-Za-z0-9_-]{32}$/, 'the secret is shown';
is $key->{prefix}, substr($key->{key}, 0, 12), 'prefix is the start of the key';
is_deeply $key->{scopes}, ['tickets:read', 'tickets:write'], 'scopes';
is $ua->get($t->url('/v1/provider/tenants') => $t->auth($key->{key}))->res->code, 401,
    'tenant key is not a provider key';
$tx = $ua->get($t->url('/v1/tickets') => $ph);
is $tx->res->code, 401, 'provider key is not a tenant key';
like $tx->res->json->{detail} // '', qr/hosting provider's key.*tenant's API keys/,
    'and the answer says which key it is';

$tx = $ua->get($t->url("/v1/provider/tenants/$acme->{id}/api-keys") => $ph);
is scalar @{ $tx->res->json->{data} }, 1, 'key listed';
ok !exists $tx->res->json->{data}[0]{key}, 'the secret is shown once only';
unlike $tx->res->body, qr/\Q$key->{key}\E/, 'not even in passing';
is $t->psql(qq{SELECT count(*) FROM helpdesk.api_keys WHERE key_hash = sha256(convert_to('$key->{key}', 'UTF8'))}),
    1, 'stored as its hash';
is $t->psql(qq{SELECT count(*) FROM helpdesk.api_keys WHERE prefix || '' = '$key->{key}'}), 0,
    'and not in clear';

$tx = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/api-keys") => $ph
                => json => { name => 'x', scopes => ['root'] });
is $tx->res->code, 422, 'unknown scope is 422';

my $kh = $t->auth($key->{key});
is $ua->post($t->url('/v1/tickets') => $kh => json => { subject => 'hello' })->res->code, 201, 'key works';

# list, get, rename, disable
$ua->post($t->url('/v1/provider/tenants') => $ph => json => { name => 'Globex', slug => 'globex' });
$tx = $ua->get($t->url('/v1/provider/tenants') => $ph);
is_deeply [map { $_->{slug} } @{ $tx->res->json->{data} }], ['acme', 'globex'], 'tenants listed';
is $ua->get($t->url("/v1/provider/tenants/$acme->{id}") => $ph)->res->json->{name}, 'Acme Ltda', 'get';
is $ua->get($t->url('/v1/provider/tenants/acme') => $ph)->res->json->{id}, $acme->{id}, 'get by slug';
is $ua->get($t->url('/v1/provider/tenants/nobody') => $ph)->res->code, 404, 'an unknown slug: 404';
is $ua->get($t->url('/v1/provider/tenants/00000000-0000-0000-0000-000000000000') => $ph)->res->code,
    404, 'unknown tenant';

$tx = $ua->patch($t->url("/v1/provider/tenants/$acme->{id}") => $ph => json => { name => 'Acme S.A.' });
is $tx->res->json->{name}, 'Acme S.A.', 'renamed';

$tx = $ua->patch($t->url("/v1/provider/tenants/$acme->{id}") => $ph => json => { status => 'disabled' });
is $tx->res->json->{status}, 'disabled', 'disabled';
$tx = $ua->get($t->url('/v1/tickets') => $kh);
is $tx->res->code, 403, 'a disabled tenant\'s keys stop answering';
like $tx->res->json->{type}, qr/tenant-disabled$/, 'and say why';

$ua->patch($t->url("/v1/provider/tenants/$acme->{id}") => $ph => json => { status => 'active' });
is $ua->get($t->url('/v1/tickets') => $kh)->res->code, 200, 're-enabled';

# revoke
$tx = $ua->delete($t->url("/v1/provider/tenants/$acme->{id}/api-keys/$key->{id}") => $ph);
is $tx->res->code, 204, 'key revoked';
is $ua->get($t->url('/v1/tickets') => $kh)->res->code, 401, 'revoked key is refused at once';
is $ua->delete($t->url("/v1/provider/tenants/$acme->{id}/api-keys/00000000-0000-0000-0000-000000000000") => $ph)
    ->res->code, 404, 'unknown key';

like $t->psql(q{SELECT string_agg(action, ',' ORDER BY audit_id) FROM helpdesk.audit_log WHERE actor_type = 'provider'}),
    qr/^tenant\.create,api_key\.create,api_key\.list,tenant\.create,tenant\.list,tenant\.list,tenant\.read,tenant\.read,tenant\.update,tenant\.update,tenant\.update,api_key\.revoke$/,
    'provider actions are audited, reads included (a list: one row per tenant listed)';

$t->done;
