# Bad input of every kind gets a clear RFC 9457 problem, never a crash;
# keys, scopes and tenants are enforced.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Mojo::JSON qw(encode_json);
use Mojo::File;
use Helpdesk::Test;

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx;
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});
my $json = { %$h, 'Content-Type' => 'application/json' };

sub problem {
    my ($tx, $code, $slug, $name) = @_;
    is $tx->res->code, $code, "$name: $code";
    like $tx->res->headers->content_type, qr{^application/problem\+json}, "$name: problem+json";
    my $p = $tx->res->json // {};
    is $p->{status}, $code, "$name: status in body";
    like $p->{type} // '', qr{/problems/\Q$slug\E$}, "$name: type $slug";
    ok length($p->{title} // '') && length($p->{detail} // ''), "$name: title and detail";
    return $p;
}

# authentication
my $tx = $ua->get($t->url('/v1/tickets'));
problem($tx, 401, 'unauthorized', 'no key');
like $tx->res->headers->www_authenticate, qr/^Bearer realm="helpdesk"$/, 'challenge';
$tx = $ua->get($t->url('/v1/tickets') => { Authorization => 'Bearer hdk_wrong' });
problem($tx, 401, 'unauthorized', 'wrong key');
like $tx->res->headers->www_authenticate, qr/error="invalid_token"/, 'invalid_token';
problem($ua->get($t->url('/v1/tickets') => { Authorization => 'Basic Zm9vOmJhcg==' }),
        401, 'unauthorized', 'basic auth');
problem($ua->get($t->url('/v1/tickets') => { Authorization => 'Bearer ' . ('x' x 300) }),
        401, 'unauthorized', 'huge key');

# scopes
my $reader = $t->create_key($acme->{id}, 'tickets:read');
my $rh = $t->auth($reader->{key});
is $ua->get($t->url('/v1/tickets') => $rh)->res->code, 200, 'read scope reads';
my $p = problem($ua->post($t->url('/v1/tickets') => $rh => json => { subject => 'x' }),
                403, 'insufficient-scope', 'read key writes');
like $p->{detail}, qr/tickets:write/, 'names the scope';
problem($ua->get($t->url('/v1/users') => $rh), 403, 'insufficient-scope', 'admin endpoint');
is $ua->get($t->url('/v1/users') => $h)->res->code, 200, 'admin scope reaches users';

# another tenant's ticket is 404, never 403
my $theirs = $ua->post($t->url('/v1/tickets') => $t->auth($globex->{key})
                       => json => { subject => 'globex secret' })->res->json;
problem($ua->get($t->url("/v1/tickets/$theirs->{id}") => $h), 404, 'not-found', 'other tenant by id');
problem($ua->get($t->url("/v1/tickets/$theirs->{number}") => $h), 404, 'not-found', 'other tenant by number');
problem($ua->patch($t->url("/v1/tickets/$theirs->{id}") => $h => json => { status => 'closed' }),
        404, 'not-found', 'other tenant patch');
problem($ua->post($t->url("/v1/tickets/$theirs->{id}/comments") => $h => json => { body => 'x' }),
        404, 'not-found', 'other tenant comment');
is scalar @{ $ua->get($t->url('/v1/tickets') => $h)->res->json->{data} }, 0,
    'list shows none of the other tenant';

# routing
problem($ua->get($t->url('/v1/nothing') => $h), 404, 'not-found', 'unknown path');
$tx = $ua->delete($t->url('/v1/tickets') => $h);
problem($tx, 405, 'method-not-allowed', 'wrong method');
is $tx->res->headers->header('Allow'), 'GET, HEAD, POST', 'Allow lists the methods';

# bodies
$tx = $ua->post($t->url('/v1/tickets') => { %$h, 'Content-Type' => 'text/plain' } => 'hi');
problem($tx, 415, 'unsupported-media-type', 'text/plain');
problem($ua->post($t->url('/v1/tickets') => $h => 'no type'), 415, 'unsupported-media-type', 'no type');

$tx = $ua->post($t->url('/v1/tickets') => $json => '{"subject": "x",}');
$p = problem($tx, 400, 'malformed-json', 'trailing comma');
like $p->{detail}, qr/line 1, column \d+/, 'says where';
ok defined $p->{position}, 'position given';
problem($ua->post($t->url('/v1/tickets') => $json => ''), 400, 'malformed-json', 'empty body');
problem($ua->post($t->url('/v1/tickets') => $json => "{\"subject\": \"\xff\xfe\"}"),
        400, 'malformed-json', 'invalid UTF-8');
problem($ua->post($t->url('/v1/tickets') => $json => '{"subject": "a\u0000b"}'),
        400, 'malformed-json', 'NUL byte');
problem($ua->post($t->url('/v1/tickets') => $json => '{"subject": "x", "n": 123456789012345678901234567890}'),
        400, 'malformed-json', 'huge integer');
problem($ua->post($t->url('/v1/tickets') => $json => '{"subject": "x", "n": 1e999}'),
        400, 'malformed-json', 'huge real');
problem($ua->post($t->url('/v1/tickets') => $json => ('[' x 5000) . (']' x 5000)),
        400, 'malformed-json', 'deep nesting');
problem($ua->post($t->url('/v1/tickets') => $json => '{"subject": "a", "subject": "b"}'),
        400, 'malformed-json', 'duplicate key');

$tx = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'x' x 80000 });
problem($tx, 413, 'payload-too-large', 'too large');

# chunked bodies are taken, and held to the same limit as the others
$tx = $ua->build_tx(POST => $t->url('/v1/tickets') => { %$json, 'Transfer-Encoding' => 'chunked' });
$tx->req->content->write_chunk('{"subject":"chunked"}' => sub { $_[0]->write_chunk('') });
$tx = $ua->start($tx);
is $tx->res->code, 201, 'chunked body: created';
is $tx->res->json->{subject}, 'chunked', 'chunked body: as sent';

# over the limit in the first packet, and over it only after a while
for my $case (['at once', 70000, 1], ['later', 8000, 12]) {
    my ($name, $size, $count) = @$case;
    my $raw = "POST /api/v1/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Authorization: Bearer $acme->{key}\r\nContent-Type: application/json\r\n"
        . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    my $res = $t->raw_request($raw, map { sprintf("%x\r\n%s\r\n", $size, 'x' x $size) } 1 .. $count);
    like $res, qr{^HTTP/1\.1 413 }, "chunked over the limit ($name): 413";
    like $res, qr{\r\nContent-Type: application/problem\+json\r\n}i,
        "chunked over the limit ($name): problem+json";
    like $res, qr{"type": "[^"]*/problems/payload-too-large"}, "chunked over the limit ($name): slug";
}

# and the directives' reference says what these answers are
{
    my $doc = Mojo::File->new('docs/directives.md')->slurp;
    my ($api) = $doc =~ /^### helpdesk_api\n(.*?)^### /ms;
    ok $api, 'docs/directives.md: the helpdesk_api section';
    unlike $api // '', qr/chunked[^.]*\b411\b/, 'docs: a chunked body is not said to be refused with 411';
    like $api // '', qr/chunked[^.]*\b413\b/s, 'docs: a chunked body over the limit is 413';
}

# a malformed chunk: nginx's 400 also comes as a problem document
my $res = $t->raw_request("POST /api/v1/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    . "Authorization: Bearer $acme->{key}\r\nContent-Type: application/json\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n", "zz\r\n{}\r\n0\r\n\r\n");
like $res, qr{^HTTP/1\.1 400 }, 'malformed chunk: 400';
like $res, qr{\r\nContent-Type: application/problem\+json\r\n}i, 'malformed chunk: problem+json';
like $res, qr{"status": 400}, 'malformed chunk: status in body';

# field errors: every one listed
$tx = $ua->post($t->url('/v1/tickets') => $h => json => {
    priority => 'extreme', requester_email => 'not-an-email', colour => 'red',
    custom_fields => [1], description => 42 });
$p = problem($tx, 422, 'validation-error', 'bad fields');
my %err = map { $_->{field} => $_->{message} } @{ $p->{errors} };
is_deeply [sort keys %err], [qw(colour custom_fields description priority requester_email subject)],
    'every field error is listed';
like $err{priority}, qr/low normal high urgent/, 'enum values named';
like $err{colour}, qr/unknown/, 'unknown field';
like $err{subject}, qr/required/, 'missing field';
$p = problem($ua->post($t->url('/v1/tickets') => $h => json => [1, 2]), 422, 'validation-error', 'array body');
$p = problem($ua->post($t->url('/v1/tickets') => $h => json => { subject => 'x' x 201 }),
             422, 'validation-error', 'subject too long');
like $p->{errors}[0]{message}, qr/200 characters/, 'says the limit';
is $ua->post($t->url('/v1/tickets') => $h => json => { subject => "\x{00e7}" x 200 })->res->code,
    201, 'the limit counts characters, not bytes';

$p = problem($ua->get($t->url('/v1/tickets?status=bogus&limit=0&colour=1&created_after=yesterday') => $h),
             422, 'validation-error', 'bad filters');
is_deeply [sort map { $_->{field} } @{ $p->{errors} }], [qw(colour created_after limit status)],
    'every filter error listed';
problem($ua->get($t->url('/v1/tickets?q=a%00b') => $h), 422, 'validation-error', 'NUL in query');
problem($ua->get($t->url('/v1/tickets?q=%ff') => $h), 422, 'validation-error', 'bad UTF-8 in query');
problem($ua->get($t->url('/v1/tickets?status=open&status=closed') => $h), 422, 'validation-error',
        'repeated parameter');

# a path segment that decodes to bytes that are not UTF-8: no such
# resource, said like any other (the path is not UTF-8, so the problem
# document leaves its "instance" out rather than answering nothing)
for my $path ('/v1/tickets/%FF', '/v1/groups/%C3', '/v1/groups/%FF/members',
              '/v1/webhooks/%80%80') {
    my $p = problem($ua->get($t->url($path) => $h), 404, 'not-found', "$path (not UTF-8)");
    ok !exists $p->{instance}, "$path: no instance";
}

# success and error bodies are written the same way
my $ok = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'format' })->res->body;
my $err = $ua->get($t->url('/v1/tickets/TKT-999999') => $h)->res->body;
like $ok, qr/^\{"[a-z_]+": /, 'a success: ": " between name and value';
like $err, qr/^\{"[a-z_]+": /, 'a problem: the same';
unlike $err, qr/":"|","/, 'never compact';

# still alive and well after all that
is $ua->get($t->url('/v1/health'))->res->code, 200, 'healthy';

$t->done;
