# PostgreSQL or Redis going away: requests that need it get 503 with
# Retry-After and a problem naming the dependency; when it comes back,
# service resumes without touching nginx.
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
my $h = $t->auth($acme->{key});
my $pid = $t->nginx_pid;

sub until_code {
    my ($code, $do) = @_;
    my $deadline = time + 20;
    my $res;
    while (time < $deadline) {
        $res = $do->();
        return $res if $res->code == $code;
        sleep 0.2;
    }
    return $res;
}

is $ua->get($t->url('/v1/tickets') => $h)->res->code, 200, 'working';

# PostgreSQL restarts
$t->stop_pg('fast');
for (1 .. 3) {
    my $res = $ua->get($t->url('/v1/tickets') => $h)->res;
    is $res->code, 503, 'PostgreSQL down: 503';
    like $res->headers->content_type, qr{problem\+json}, 'problem document';
    is $res->json->{dependency}, 'postgresql', 'names PostgreSQL';
    like $res->headers->header('Retry-After') // '', qr/^\d+$/, 'Retry-After';
}
my $res = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'during outage' })->res;
is $res->code, 503, 'writes too';
is $ua->get($t->url('/v1/health'))->res->code, 503, 'health says so';

$t->start_pg;
$res = until_code(200, sub { $ua->get($t->url('/v1/tickets') => $h)->res });
is $res->code, 200, 'PostgreSQL back: service resumes by itself';
is $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'after' })->res->code, 201,
    'writes resume';
is scalar @{ $ua->get($t->url('/v1/tickets') => $h)->res->json->{data} }, 1,
    'nothing was half-written during the outage';

# killed hard, with idle pooled connections
$t->stop_pg('immediate');
is $ua->get($t->url('/v1/tickets') => $h)->res->code, 503, 'crashed PostgreSQL: 503';
$t->start_pg;
is until_code(200, sub { $ua->get($t->url('/v1/tickets') => $h)->res })->code, 200, 'and back again';

# Redis restarts: only what needs Redis fails
my $ih = { %$h, 'Idempotency-Key' => 'redis-test' };
$t->stop_redis;
$res = $ua->post($t->url('/v1/tickets') => $ih => json => { subject => 'idem' })->res;
is $res->code, 503, 'Redis down: idempotent POST is 503';
is $res->json->{dependency}, 'redis', 'names Redis';
like $res->headers->header('Retry-After') // '', qr/^\d+$/, 'Retry-After';
is $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'plain' })->res->code, 201,
    'requests that do not need Redis go on';
$res = $ua->get($t->url('/v1/health'))->res;
is $res->code, 503, 'health';
is $res->json->{dependency}, 'redis', 'health names Redis';

$t->start_redis;
$res = until_code(201, sub { $ua->post($t->url('/v1/tickets') => $ih => json => { subject => 'idem' })->res });
is $res->code, 201, 'Redis back: service resumes by itself';
is $ua->post($t->url('/v1/tickets') => $ih => json => { subject => 'idem' })->res->headers
    ->header('Idempotent-Replayed'), 'true', 'and idempotency works again';

is $t->nginx_pid, $pid, 'nginx was never restarted';

$t->done;
