# Nothing blocks a worker: with one worker and a two-second statement in
# flight, other requests on the same worker complete at once.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Mojo::IOLoop;
use Mojo::Promise;
use Time::HiRes qw(time);
use Helpdesk::Test;

my $t = Helpdesk::Test->new(workers => 1)->start_stack;
$t->start_nginx;
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
my $id = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'fast' })->res->json->{id};

$t->psql(<<'SQL');
CREATE FUNCTION helpdesk.test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.subject = 'slow' THEN PERFORM pg_sleep(2); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_slow BEFORE INSERT ON helpdesk.tickets
    FOR EACH ROW EXECUTE FUNCTION helpdesk.test_slow();
SQL

my $start = time;
my ($slow_code, $slow_took, @fast);

my $slow = $ua->post_p($t->url('/v1/tickets') => $h => json => { subject => 'slow' })
    ->then(sub { $slow_code = $_[0]->res->code; $slow_took = time - $start });

my $fast = Mojo::Promise->timer(0.2)->then(sub {
    my $p = Mojo::Promise->resolve;
    for my $i (1 .. 5) {
        $p = $p->then(sub {
            my $t0 = time;
            my $path = $i % 2 ? "/v1/tickets/$id" : '/v1/health';
            return $ua->get_p($t->url($path) => $h)->then(sub {
                push @fast, [$_[0]->res->code, time - $t0, time - $start];
            });
        });
    }
    return $p;
});

Mojo::Promise->all($slow, $fast)->wait;

is $slow_code, 201, 'the slow request completes';
cmp_ok $slow_took, '>=', 2, 'and took the two seconds';
is scalar @fast, 5, 'five fast requests ran meanwhile';
for my $f (@fast) {
    is $f->[0], 200, 'fast request answered';
    cmp_ok $f->[1], '<', 0.5, sprintf('in %.3f s', $f->[1]);
    cmp_ok $f->[2], '<', $slow_took, 'before the slow one finished';
}

$t->done;
