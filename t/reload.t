# nginx reloads and shuts down cleanly with pooled PostgreSQL and Redis
# connections open, and serves throughout.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use Helpdesk::Test;

my $t = Helpdesk::Test->new(workers => 2)->start_stack;
$t->start_nginx;
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = { %{ $t->auth($acme->{key}) }, 'Idempotency-Key' => 'before-reload' };

is $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'one' })->res->code, 201, 'served';

sub workers {
    my $pid = $t->nginx_pid;
    return grep { /\S/ } split /\n/, `pgrep -P $pid`;
}
my @old = workers();
is scalar @old, 2, 'two workers';

for my $round (1 .. 3) {
    kill 'HUP', $t->nginx_pid;
    my $deadline = time + 10;
    my %old = map { $_ => 1 } @old;
    my @now;
    while (time < $deadline) {
        @now = workers();
        last if @now == 2 && !grep { $old{$_} } @now;
        sleep 0.1;
    }
    ok !(grep { $old{$_} } @now), "reload $round: old workers exited";
    @old = @now;
    is $ua->get($t->url('/v1/tickets') => $t->auth($acme->{key}))->res->code, 200,
        "reload $round: new workers serve PostgreSQL requests";
    is $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'one' })->res->headers
        ->header('Idempotent-Replayed'), 'true', "reload $round: and Redis requests";
}

my $pid = $t->nginx_pid;
kill 'QUIT', $pid;
my $deadline = time + 10;
sleep 0.1 while Helpdesk::Test::alive($pid) && time < $deadline;
ok !Helpdesk::Test::alive($pid), 'graceful shutdown completes';

$t->done;
