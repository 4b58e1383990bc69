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

# a tenant's first admin, from the provider's billing system: the answer
# carries a one-time link to the console, and no mail is queued
my $mails = $t->psql(q{SELECT count(*) FROM helpdesk.outbox WHERE kind = 'email'});
$tx = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/admins") => $ph => json => {
    email => 'Dona@Acme.example', name => 'Dona Admin', url => 'https://ignored.example/agent/' });
is $tx->res->code, 201, 'the provider makes a tenant admin' or diag $tx->res->body;
my $adm = $tx->res->json;
is_deeply [@{ $adm->{user} }{qw(email name role)}], ['dona@acme.example', 'Dona Admin', 'admin'], '... an admin';
like $adm->{link}, qr{^http://acme\.localhost:\d+/agent/reset/[0-9a-f]{64}$},
     "... with a one-time link on the tenant's own name (of the URL only the path)";
like $adm->{expires_at}, qr/^\d{4}-/, '... that expires';
is $t->psql(q{SELECT count(*) FROM helpdesk.outbox WHERE kind = 'email'}), $mails, '... and no mail queued';
my ($token) = $adm->{link} =~ m{/reset/([0-9a-f]{64})$};
is $t->psql(qq{SELECT purpose || ' ' || (expires_at > now() + interval '6 days') FROM helpdesk.password_resets
               WHERE token_hash = sha256('$token'::bytea) AND user_id = '$adm->{user}{id}' AND used_at IS NULL}),
   'invite true', "... the console's invitation link (a week), kept as its hash only";
# a retry with the same Idempotency-Key replays the answer without the link
my @idem = ($t->url("/v1/provider/tenants/$acme->{id}/admins") => { %$ph, 'Idempotency-Key' => 'adm-1' }
            => json => { email => 'eva@acme.example', url => 'https://x.example/agent' });
my $first = $ua->post(@idem)->res->json;
my $again = $ua->post(@idem)->res;
is $again->headers->header('Idempotent-Replayed'), 'true', 'a replay (Idempotency-Key)';
is $again->json->{link}, undef, '... shows no link';
like $again->json->{link_shown}, qr/only in the first response/, '... and says why';
like $first->{link}, qr{/agent/reset/[0-9a-f]{64}$}, '(the first answer had it)';
$tx = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/admins") => $ph => json => {
    email => 'dona@acme.example', url => 'https://x.example/agent' });
is $tx->res->code, 201, 'asked again for the same admin: a new link';
isnt $tx->res->json->{link}, $adm->{link}, '... another one';
is $tx->res->json->{user}{id}, $adm->{user}{id}, '... for the same admin';
$t->psql(qq{INSERT INTO helpdesk.users (tenant_id, email, name, role) VALUES ('$acme->{id}', 'cli\@acme.example', 'Cli', 'customer')});
$tx = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/admins") => $ph => json => {
    email => 'cli@acme.example', url => 'https://x.example/agent' });
is $tx->res->code, 409, "a customer's address is not made an admin";
for my $bad ([{ url => 'https://x.example/agent' }, 'email'], [{ email => 'not an address', url => 'https://x.example/agent' }, 'email'],
             [{ email => 'a@b.example' }, 'url'], [{ email => 'a@b.example', url => 'javascript:alert(1)' }, 'url'],
             [{ email => 'a@b.example', url => 'https://x.example/agent', language => 'fr' }, 'language']) {
    $tx = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/admins") => $ph => json => $bad->[0]);
    is $tx->res->code, 422, "refused without a valid $bad->[1]";
    is $tx->res->json->{errors}[0]{field}, $bad->[1], '... naming the field';
}
is $ua->post($t->url('/v1/provider/tenants/00000000-0000-4000-8000-000000000000/admins') => $ph
             => json => { email => 'a@b.example', url => 'https://x.example/agent' })->res->code, 404, 'no such tenant';
my $initech = $t->create_tenant('initech');
is $ua->post($t->url("/v1/provider/tenants/$acme->{id}/admins") => $t->auth($initech->{key})
             => json => { email => 'a@b.example', url => 'https://x.example/agent' })->res->code, 401,
   "a tenant's key cannot make admins";
$tx = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/admins") => { %$ph, 'Content-Type' => 'application/json' }
                => "{\"email\": \"\xff\@b.example\", \"url\": \"https://x.example/agent\"}");
is $tx->res->code, 400, 'a body that is not UTF-8: 400';
like $t->psql(q{SELECT string_agg(action, ',' ORDER BY audit_id) FROM helpdesk.audit_log
                WHERE actor_type = 'provider' AND action LIKE 'agent.%'}),
     qr/^agent\.create,agent\.invite,agent\.create,agent\.invite,agent\.invite$/, 'made and linked, audited as the provider\'s';

$t->done;
