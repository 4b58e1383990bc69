# The chat against hostile clients and odd protocols: what must never take
# a worker down or let one request disturb another.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::H2;

my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;
my $h2_port = Helpdesk::Test::free_port();
# the provider's hosts are served over HTTP/2 in production (listen ...
# http2): here in cleartext, prior knowledge
$t->start_nginx(http => "helpdesk_chat_limits messages=1000/10s address_messages=1000/10s;
                         server {
                             listen 127.0.0.1:$h2_port http2;
                             location /chat/ { helpdesk_chat ping=1s; }
                             location = /plain { return 200 'ok'; }
                         }",
                server => 'location /chat/ { helpdesk_chat; }');
my $port = $t->port;

my $acme = $t->create_tenant('acme');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, max_message_bytes)
            VALUES ('$acme->{id}', '{https://www.acme.example}', 16384)});
my $ORIGIN = 'https://www.acme.example';
my $ua = $t->ua;

sub worker_pids {
    my $master = $t->nginx_pid;
    my @pids = grep { length } split /\s+/, `pgrep -P $master 2>/dev/null`;
    return join ',', sort @pids;
}

# one client message by POST (HTTP/1.1), as the widget sends it
sub post {
    my ($token, $m) = @_;
    return $ua->post("http://127.0.0.1:$port/chat/v1/send?tenant=acme"
                     => { Origin => $ORIGIN, (defined $token ? ('X-Chat-Stream' => $token) : ()) }
                     => json => $m)->res->json // {};
}

my $sse = '/chat/v1/sse?tenant=acme';
my $before = worker_pids();
my $curl2 = `curl --version` =~ /HTTP2/;
my $mark;

# a visitor, with a conversation and one stored message
my $tok = post(undef, { type => 'hello', cid => 'h1' })->{stream} // '';
like $tok, qr/^[0-9a-f]{64}$/, 'a visitor (its stream token from the welcome)';
my $first = post($tok, { type => 'start', cid => 's1', prechat => { name => 'Eva' }, text => 'first' });
is $first->{type}, 'ack', '... with a conversation';

# --- the event stream over HTTP/2 works ----------------------------------------------

SKIP: {
    skip 'curl without HTTP/2', 9 unless $curl2;

    my $out = `curl -s -N -m 3 --http2-prior-knowledge -D - -H 'Origin: $ORIGIN' 'http://127.0.0.1:$h2_port$sse&stream=$tok' 2>&1`;
    my ($head, $body) = split /\r\n\r\n/, $out, 2;
    $body //= '';
    like $head, qr{^HTTP/2 200}, 'the event stream over HTTP/2: 200' or diag $out;
    like $head, qr{\r\ncontent-type: text/event-stream\r\n}i, '... text/event-stream';
    like $head, qr{\r\ncache-control: no-store\r\n}i, '... never cached';
    like $head, qr{\r\naccess-control-allow-origin: \Q$ORIGIN\E\r\n}i, "... allowed to the tenant's page";
    like $body, qr/^retry: 3000\n\n/, '... the client reconnects after 3 s';
    like $body, qr/\n\ndata: \{"type":"welcome"/, '... the welcome';
    like $body, qr/\n\nid: \Q$first->{ref}\E\ndata: \{[^\n]*"text":"first"/, '... a stored event with its id';
    like $body, qr/\n\n: ping\n\n/, '... pings as comments';

    my $second = post($tok, { type => 'message', cid => 'm2', text => 'second' });
    $out = `curl -s -N -m 2 --http2-prior-knowledge -H 'Origin: $ORIGIN' -H 'Last-Event-ID: $first->{ref}' 'http://127.0.0.1:$h2_port$sse&stream=$tok' 2>&1`;
    ok $out =~ /\nid: \Q$second->{ref}\E\n/ && $out !~ /"text":"first"/,
       'Last-Event-ID resumes after it, over HTTP/2 too' or diag $out;
}

{
    my $h2 = Helpdesk::H2->new($h2_port);
    my $id = $h2->get("$sse&stream=$tok", origin => 'https://evil.example');
    $h2->pump(sub { $h2->stream($id)->{ended} }, 10);
    is $h2->stream($id)->{status}, 403, 'over HTTP/2 another page is refused as over HTTP/1.1';
    $h2->close;
}

# --- hostile clients over HTTP/2 ------------------------------------------------------

{
    # a window of 50 bytes: the stream stops in the middle of the welcome,
    # and the client resets it there
    my $h2 = Helpdesk::H2->new($h2_port, window => 50, hold => 1);
    my $id = $h2->get("$sse&stream=$tok", origin => $ORIGIN);
    ok $h2->pump(sub { length $h2->stream($id)->{data} >= 50 }, 10), 'a stream cut in the middle of an event';
    like $h2->stream($id)->{data}, qr/^retry: 3000\n\ndata: \{"type":"welc/, '... the welcome begun';
    $h2->reset($id);
    my $plain = $h2->get('/plain');
    ok $h2->pump(sub { $h2->stream($plain)->{ended} }, 10), 'reset there: the connection goes on';
    is $h2->stream($plain)->{data}, 'ok', '... and answers its next stream';
    $h2->close;
}

{
    # a client that stops reading: no window at all, while 300 KB of
    # messages are sent to its visitor
    my $h2 = Helpdesk::H2->new($h2_port, window => 0, hold => 1);
    my $id = $h2->get("$sse&stream=$tok", origin => $ORIGIN);
    ok $h2->pump(sub { $h2->stream($id)->{status} }, 10), 'a stream whose client does not read';
    my $big = 'x' x 15000;
    my $acked = 0;
    for my $i (1 .. 20) {
        $acked++ if (post($tok, { type => 'message', cid => "big$i", text => "$i $big" })->{type} // '') eq 'ack';
    }
    is $acked, 20, '... 300 KB of messages for it are stored all the same';
    $h2->window($id, 4 << 20);
    ok $h2->pump(sub { $h2->stream($id)->{ended} }, 20), '... and once it reads, its stream has ended';
    my $st = $h2->stream($id);
    like $st->{data}, qr/\n\nevent: close\ndata: \{"code":1008,"reason":"too slow a reader"\}\n\n\z/,
         '... with the close of a too slow reader, last';
    ok !defined $st->{reset}, '... ending cleanly (no reset)';
    my $got = () = $st->{data} =~ /"cid":"big\d+"/g;
    cmp_ok $got, '<', 20, "... what was past the cap was not kept for it ($got of 20)";
    $h2->close;
}

{
    # many streams on one connection, some reset, then the connection dropped
    # (each resuming after the last message: no backlog)
    $mark = post($tok, { type => 'message', cid => 'mark', text => 'mark' })->{ref};
    my $h2 = Helpdesk::H2->new($h2_port);
    my @ids = map { $h2->get("$sse&stream=$tok&after=$mark", origin => $ORIGIN) } 1 .. 40;
    ok $h2->pump(sub { !grep { $h2->stream($_)->{data} !~ /"type":"welcome"/ } @ids }, 30),
       '40 event streams on one HTTP/2 connection, each greeted';
    $h2->reset($_) for grep { $_ % 4 == 1 } @ids;
    my @kept = grep { $_ % 4 != 1 } @ids;
    $h2->stream($_)->{data} = '' for @kept;
    ok $h2->pump(sub { !grep { $h2->stream($_)->{data} !~ /: ping\n\n/ } @kept }, 10),
       '... half of them reset, the others go on';
    my $live = post($tok, { type => 'message', cid => 'many', text => 'to all of them' });
    ok $h2->pump(sub { !grep { $h2->stream($_)->{data} !~ /\nid: \Q$live->{ref}\E\n/ } @kept }, 10),
       '... and each gets a new message';
    $h2->close;
}

sleep 0.5;
SKIP: {
    skip 'curl without HTTP/2', 1 unless $curl2;
    my $plain = `curl -s -m 5 --http2-prior-knowledge 'http://127.0.0.1:$h2_port/plain'`;
    is($plain, 'ok', 'HTTP/2 still answers after');
}
is(worker_pids(), $before, 'no worker died');

# --- reload ------------------------------------------------------------------------------

SKIP: {
    skip 'one process under valgrind: nothing to reload', 4 if $ENV{HELPDESK_VALGRIND};
    my $h2 = Helpdesk::H2->new($h2_port);
    my $id = $h2->get("$sse&stream=$tok&after=$mark", origin => $ORIGIN);
    $h2->pump(sub { $h2->stream($id)->{data} =~ /"type":"welcome"/ }, 10);
    my $t0 = time;
    kill 'HUP', $t->nginx_pid;
    ok $h2->pump(sub { $h2->stream($id)->{ended} }, 10), 'reload: a stream over HTTP/2 ends';
    like $h2->stream($id)->{data}, qr/\n\nevent: close\ndata: \{"code":1001,"reason":"server going away"\}\n\n\z/,
         '... with 1001, so that EventSource reconnects';
    cmp_ok time - $t0, '<', 5, '... within seconds';
    my %old = map { $_ => 1 } split /,/, $before;
    ok until_true(sub { !grep { $old{$_} } split /,/, worker_pids() }, 10), '... and the old workers exit';
    $h2->close;
}

my $log = $t->error_log // '';
unlike($log, qr/\[(alert|emerg)\]|exited on signal/, 'no alert or crash in the error log');

$t->done;
