# Idempotency-Key on POST: a retry returns the original response and
# creates nothing; the same key with another body is refused.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test;
use Mojo::IOLoop;
use Mojo::Promise;
use Time::HiRes qw(time);

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


# the key binds the method and the path too, not only the body
my $cm = { %{ $t->auth($acme->{key}) }, 'Idempotency-Key' => 'k3' };
is $ua->post($t->url('/v1/tickets/TKT-000001/comments') => $cm => json => { body => 'same' })->res->code,
    201, 'a comment under k3';
my $res = $ua->post($t->url('/v1/tickets/TKT-000002/comments') => $cm => json => { body => 'same' })->res;
is $res->code, 422, 'the same key and body on another path: 422';
like $res->json->{type} // '', qr/idempotency-key-reused$/, 'reused';

# a secret shown once is not kept for a replay
my $ph = { Authorization => 'Bearer ' . $t->provider_key, 'Idempotency-Key' => 'new-key-1' };
my $k1 = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/api-keys") => $ph
                   => json => { name => 'ci', scopes => ['tickets:read'] })->res;
is $k1->code, 201, 'an API key created under an Idempotency-Key';
like $k1->json->{key} // '', qr/^hdk_/, 'with its secret';
my $k2 = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/api-keys") => $ph
                   => json => { name => 'ci', scopes => ['tickets:read'] })->res;
is $k2->code, 201, 'the retry is answered';
is $k2->headers->header('Idempotent-Replayed'), 'true', 'as a replay';
is $k2->json->{id}, $k1->json->{id}, 'of the same key';
ok !defined $k2->json->{key}, 'without the secret';
like $k2->json->{key_shown} // '', qr/only in the first response/, 'saying where it was shown';
my $stored = `redis-cli -s @{[$t->dir]}/run/redis.sock --scan --pattern 'hd:idem:*:new-key-1' | head -1 | xargs redis-cli -s @{[$t->dir]}/run/redis.sock get`;
ok length $stored, 'the replay is stored';
unlike $stored, qr/\Q@{[ $k1->json->{key} ]}\E/, 'and the secret is not in it';

my $wh = { %{ $t->auth($acme->{key}) }, 'Idempotency-Key' => 'hook-1' };
my $w1 = $ua->post($t->url('/v1/webhooks') => $wh => json => { url => 'https://example.com/h', events => ['ticket.created'] })->res;
is $w1->code, 201, 'a webhook created under an Idempotency-Key';
like $w1->json->{secret} // '', qr/^whsec_/, 'with its signing secret';
my $w2 = $ua->post($t->url('/v1/webhooks') => $wh => json => { url => 'https://example.com/h', events => ['ticket.created'] })->res;
is $w2->json->{id}, $w1->json->{id}, 'replayed';
ok !defined $w2->json->{secret}, 'without the signing secret';

# runs the event loop (where the requests started with *_p live) until
# $cond holds
sub loop_until {
    my ($cond, $timeout) = @_;
    my $end = time + $timeout;
    while (time < $end) {
        return 1 if $cond->();
        my $id = Mojo::IOLoop->timer(0.05 => sub { });
        Mojo::IOLoop->one_tick;
        Mojo::IOLoop->remove($id);
    }
    return 0;
}

# while a request runs its claim is a short lease, and a retry is 409
$t->psql(<<'SQL');
CREATE FUNCTION helpdesk.test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.subject LIKE 'slow%' THEN PERFORM pg_sleep(3); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_slow BEFORE INSERT ON helpdesk.tickets
    FOR EACH ROW EXECUTE FUNCTION helpdesk.test_slow();
SQL
my $sh = { %{ $t->auth($acme->{key}) }, 'Idempotency-Key' => 'slow-1' };
my $slow = $ua->post_p($t->url('/v1/tickets') => $sh => json => { subject => 'slow one' });
my $redis = "redis-cli -s @{[$t->dir]}/run/redis.sock";
my $key = '';
ok loop_until(sub { $key = `$redis --scan --pattern 'hd:idem:*:slow-1'`; chomp $key; length $key }, 5),
    'the claim is taken';
my $pttl = `$redis pttl $key`; chomp $pttl;
ok $pttl > 0 && $pttl <= 2 * 5000 + 30000, "a lease of seconds, not a day (pttl $pttl ms)";
my $busy = $ua->post($t->url('/v1/tickets') => $sh => json => { subject => 'slow one' })->res;
is $busy->code, 409, 'a retry meanwhile: 409';
like $busy->json->{type} // '', qr/idempotency-key-in-use$/, 'in use';
my $slow_code;
$slow->then(sub { $slow_code = $_[0]->res->code })->wait;
is $slow_code, 201, 'the first one completes';

# sent and then lost: it may have committed, so a retry is not run again
my $lh = { %{ $t->auth($acme->{key}) }, 'Idempotency-Key' => 'lost-1' };
my $lost_code;
my $lost = $ua->post_p($t->url('/v1/tickets') => $lh => json => { subject => 'slow lost' })
    ->then(sub { $lost_code = $_[0]->res->code });
ok loop_until(sub { $t->psql(q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%api_call%' AND state = 'active' AND pid <> pg_backend_pid()}) > 0 }, 5),
    'the statement runs';
$t->psql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%api_call%' AND pid <> pg_backend_pid()});
$lost->wait;
is $lost_code, 503, 'the connection lost mid-statement: 503';
my $retry = $ua->post($t->url('/v1/tickets') => $lh => json => { subject => 'slow lost' })->res;
is $retry->code, 409, 'the retry is not run again';
like $retry->json->{type} // '', qr/idempotency-outcome-unknown$/, 'the outcome is unknown';
like $retry->json->{detail} // '', qr/may have been applied/, 'and it says why';

$t->done;
