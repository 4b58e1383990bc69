# Idempotency-Key on POST: a retry returns the original response and
# creates nothing; the same key with another body is refused.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test;
use Mojo::Promise;

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx;
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = { %{ $t->auth($acme->{key}) }, 'Idempotency-Key' => 'order-42' };
my $body = { subject => 'Site down', priority => 'urgent' };

my $first = $ua->post($t->url('/v1/tickets') => $h => json => $body)->res;
is $first->code, 201, 'first request creates';
ok !$first->headers->header('Idempotent-Replayed'), 'not a replay';

my $again = $ua->post($t->url('/v1/tickets') => $h => json => $body)->res;
is $again->code, 201, 'retry gets the same status';
is $again->body, $first->body, 'and the same body';
is $again->headers->location, $first->headers->location, 'and Location';
is $again->headers->header('Idempotent-Replayed'), 'true', 'marked as a replay';

my $list = $ua->get($t->url('/v1/tickets') => $t->auth($acme->{key}))->res->json;
is scalar @{ $list->{data} }, 1, 'only one ticket exists';

my $other = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'Something else' })->res;
is $other->code, 422, 'same key, other body: 422';
like $other->json->{type}, qr/idempotency-key-reused$/, 'typed';

# keys belong to the API key that used them
my $globex = $t->create_tenant('globex');
my $gh = { %{ $t->auth($globex->{key}) }, 'Idempotency-Key' => 'order-42' };
my $g = $ua->post($t->url('/v1/tickets') => $gh => json => $body)->res;
is $g->code, 201, 'another tenant may use the same key string';
isnt $g->json->{id}, $first->json->{id}, 'and gets its own ticket';

# failures are not stored: the corrected request goes through
my $bad = { %{ $t->auth($acme->{key}) }, 'Idempotency-Key' => 'k2' };
is $ua->post($t->url('/v1/tickets/TKT-000999/comments') => $bad => json => { body => 'x' })->res->code,
    404, 'failed attempt';
is $ua->post($t->url('/v1/tickets/TKT-000001/comments') => $bad => json => { body => 'x' })->res->code,
    201, 'after a failure the key is free for the corrected request';
is $ua->post($t->url('/v1/tickets/TKT-000001/comments') => $bad => json => { body => 'x' })->res->headers
    ->header('Idempotent-Replayed'), 'true', 'whose success is then replayed';

is $ua->post($t->url('/v1/tickets') => { %{ $t->auth($acme->{key}) }, 'Idempotency-Key' => 'x' x 300 }
              => json => $body)->res->code, 400, 'overlong key is 400';

# the same key sent concurrently, on many connections to both workers: one
# ticket; every answer is that ticket or a 409 while it is being made
{
    my $kh = { %{ $t->auth($acme->{key}) }, 'Idempotency-Key' => 'burst-1' };
    my @res;
    Mojo::Promise->all(map { $ua->post_p($t->url('/v1/tickets') => $kh => json => { subject => 'Burst' }) } 1 .. 24)
        ->then(sub { @res = map { $_->[0]->res } @_ })->wait;
    is scalar @res, 24, 'twenty-four concurrent requests with one key answered';
    $t->spread_ok(qr{^POST /api/v1/tickets }, 'the same Idempotency-Key');
    is $t->psql(q{SELECT count(*) FROM helpdesk.tickets WHERE subject = 'Burst'}), 1, 'exactly one ticket';
    my @made = grep { $_->code == 201 } @res;
    ok scalar @made, 'created';
    is scalar(keys %{{ map { $_->json->{id} => 1 } @made }}), 1, 'every 201 is the same ticket';
    my @other = grep { $_->code != 201 } @res;
    is_deeply [map { $_->code . ' ' . ($_->json->{type} // '') =~ s{.*/}{}r } @other],
        [('409 idempotency-key-in-use') x @other], 'the others: 409 while it is being made'
        or diag explain [map { $_->body } @other];
    my $after = $ua->post($t->url('/v1/tickets') => $kh => json => { subject => 'Burst' })->res;
    is $after->json->{id}, $made[0]->json->{id}, 'afterwards, the key replays that ticket';
}

my $ttl = `redis-cli -s @{[$t->dir]}/run/redis.sock --scan --pattern 'hd:idem:*:order-42' | head -1 | xargs redis-cli -s @{[$t->dir]}/run/redis.sock ttl`;
chomp $ttl;
ok $ttl > 86000 && $ttl <= 86400, "stored for 24 hours (ttl $ttl)";

$t->done;
