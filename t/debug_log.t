# With "error_log ... debug", a request can be followed through the event
# loop's adapters: the PostgreSQL query from run to answer, the Redis
# command from run to reply, the request's end.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test qw(until_true);

my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;
$t->start_nginx(http => "error_log $d/log/debug.log debug;");
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = { %{ $t->auth($acme->{key}) }, 'Idempotency-Key' => 'trace-1' };

my $res = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'traced' })->res;
is $res->code, 201, 'a ticket created under an Idempotency-Key';

my $log = '';
ok until_true(sub { open my $fh, '<', "$d/log/debug.log" or return; local $/; $log = <$fh>;
                    $log =~ /helpdesk: finalize/ }, 5), 'the request\'s end is traced';

# the lines of the connection that carried the request
my ($conn) = $log =~ /\*(\d+) http request line: "POST \/api\/v1\/tickets/;
ok $conn, 'the request is found in the log';
my @mine = grep { /\*$conn / } split /\n/, $log;
my $mine = join "\n", @mine;

like $mine, qr/helpdesk redis: run cmd:\S+ argc:\d+ "SET"/, 'the idempotency claim is sent to Redis';
like $mine, qr/helpdesk redis: done cmd:\S+ status:0/, 'and its reply comes back';
like $mine, qr/helpdesk postgres: run q:\S+ params:5 "SELECT body, location FROM/, 'the statement is run';
like $mine, qr/helpdesk postgres: done q:\S+ status:0 res:/, 'and answered';
like $mine, qr/helpdesk: finalize \d+ \(async\)/, 'the request ends from the completion';
like $mine, qr/helpdesk postgres: sent q:\S+ on conn:\S+ fd:\d+/, 'the connection that carried it is named';

# the main error log at debug: every event and timer of the workers (the
# jobs' ticks, the chat's timers, Redis's reconnects, the outbound
# requests' timer, the mail's sending and fetching ticks) is logged from
# the start, and none may crash a worker
$t->stop_nginx;
$t->start_nginx(log_level => 'debug',
                http => 'helpdesk_email_fetch interval=200ms; '
                        . 'helpdesk_smtp url=smtp://127.0.0.1:9 from=noreply@provider.example;',
                server => 'location /chat/ { helpdesk_chat; } location /agent/ { helpdesk_agent_console; }');
$res = $ua->post($t->url('/v1/tickets') => $t->auth($acme->{key}) => json => { subject => 'at debug' })->res;
is $res->code, 201, 'with the main error log at debug, a ticket is created';
sleep 1.5;
open my $main, '<', "$d/log/error.log" or die $!;
my $all = do { local $/; <$main> };
like $all, qr/event timer add: -?\d+: \d+:\d+/, "the workers' timers are in the debug log";
unlike $all, qr/exited on signal/, "no worker died (a signal)";

$t->done;
