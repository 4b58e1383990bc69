# The chat's WebSocket server (helpdesk_chat): the handshake (tenant, the
# page's Origin, the upgrade's headers, agents by their console session),
# RFC 6455 framing with everything a client may break -- each broken frame
# gets its close code and a readable reason --, fragmentation, UTF-8 across
# fragments, the tenant's maximum message size, pings both ways, a slow
# reader, clients that vanish, and 1001 on reload.
#
# Replies are asked for with text that is not JSON: whatever else the
# conversations layer does, it answers that with exactly one "error" of
# code "bad_message".
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(sha1_base64);
use Encode qw(encode_utf8 decode_utf8);
use Mojo::IOLoop;
use Mojo::JSON qw(decode_json);
use Mojo::UserAgent;
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::Chat;

my $t = Helpdesk::Test->new->start_stack;
# a second server whose tiny send buffer fills at once: the slow reader's
my $slow_port = Helpdesk::Test::free_port();
Helpdesk::Chat::start_nginx($t, http => "server {
                                         listen 127.0.0.1:$slow_port sndbuf=4096;
                                         location /chat/ { helpdesk_chat; }
                                     }",
                            server => 'location /chat-ping/ { helpdesk_chat ping=1s; }');
my $port = $t->port;

my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $quiet = $t->create_tenant('quiet');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, max_message_bytes)
            VALUES ('$acme->{id}', '{https://www.acme.example,http://localhost:8000}', 1024),
                   ('$globex->{id}', '{https://www.globex.example}', 16384);
            INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, enabled)
            VALUES ('$quiet->{id}', '{https://www.quiet.example}', false);});

my $ORIGIN = 'https://www.acme.example';
my $WS = "/chat/v1/ws?tenant=acme";

# --- a hand-made client -----------------------------------------------------

# An upgrade request; returns (socket, response head, key).
sub handshake {
    my (%o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . ($o{port} // $port),
                                  Timeout => 5) or die $!;
    my $key = $o{key} // encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
    my %h = ('Host' => $o{host} // "127.0.0.1:$port",
             'Upgrade' => 'websocket', 'Connection' => 'Upgrade',
             'Sec-WebSocket-Key' => $key, 'Sec-WebSocket-Version' => 13,
             'Sec-WebSocket-Protocol' => 'helpdesk.chat.v1',
             'Origin' => $ORIGIN, %{ $o{headers} // {} });
    my $req = ($o{method} // 'GET') . ' ' . ($o{path} // $WS) . " HTTP/1.1\r\n"
        . join('', map { defined $h{$_} ? "$_: $h{$_}\r\n" : '' } sort keys %h) . "\r\n";
    syswrite($s, $req . ($o{early} // ''));
    my $head = '';
    my $sel = IO::Select->new($s);
    while ($head !~ /\r\n\r\n/) {
        last unless $sel->can_read(10);
        last unless sysread($s, my $b, 1);
        $head .= $b;
    }
    return ($s, $head, $key);
}

sub status_of { $_[0] =~ m{^HTTP/1\.1 (\d{3})} ? $1 : 0 }

# the rest of an HTTP answer (a problem document) after its head
sub body_of {
    my ($s, $head) = @_;
    my ($len) = $head =~ /Content-Length: (\d+)/i;
    my $body = read_exact($s, $len // 0, 5) // '';
    return $body;
}

sub ws {
    my (%o) = @_;
    my ($s, $head) = handshake(%o);
    die "no upgrade: $head" . body_of($s, $head) unless status_of($head) == 101;
    return $s;
}

# A client frame: masked unless mask => 0; len => a length to declare
# instead of the payload's own.
sub frame {
    my ($op, $payload, %o) = @_;
    $payload //= '';
    my $fin = $o{fin} // 1;
    my $mask = $o{mask} // 1;
    my $b0 = ($fin ? 0x80 : 0) | (($o{rsv} // 0) << 4) | $op;
    my $len = $o{len} // length $payload;
    my $m = $mask ? 0x80 : 0;
    my $h = chr($b0);
    if ($len < 126) { $h .= chr($m | $len) }
    elsif ($len < 65536) { $h .= chr($m | 126) . pack('n', $len) }
    else { $h .= chr($m | 127) . pack('Q>', $len) }
    if ($mask) {
        my $k = pack('N', int rand 2**32);
        $h .= $k;
        my $n = length $payload;
        $payload = $payload ^ substr($k x (int($n / 4) + 1), 0, $n) if $n;
    }
    return $h . $payload;
}
sub text  { frame(1, encode_utf8($_[0]), @_[1 .. $#_]) }
sub close_frame {
    my ($code, $reason) = @_;
    frame(8, defined $code ? pack('n', $code) . ($reason // '') : '');
}

sub read_exact {
    my ($s, $n, $to) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    while (length $buf < $n) {
        return undef unless $sel->can_read($to // 5);
        my $r = sysread($s, my $b, $n - length $buf);
        return undef unless $r;
        $buf .= $b;
    }
    return $buf;
}

sub read_frame {
    my ($s, $to) = @_;
    my $h = read_exact($s, 2, $to) // return undef;
    my ($b0, $b1) = unpack 'CC', $h;
    my $len = $b1 & 0x7f;
    if ($len == 126) { $len = unpack 'n', read_exact($s, 2, $to) }
    elsif ($len == 127) { $len = unpack 'Q>', read_exact($s, 8, $to) }
    my $p = $len ? read_exact($s, $len, $to) : '';
    return undef unless defined $p;
    return { fin => $b0 >> 7, rsv => ($b0 >> 4) & 7, op => $b0 & 0xf,
             masked => $b1 >> 7, payload => $p };
}

# Frames until the server's close: (code, reason, [frames before it]);
# code undef for a close without one, () for no close at all.
sub until_close {
    my ($s, $to) = @_;
    my @before;
    while (my $f = read_frame($s, $to)) {
        if ($f->{op} == 8) {
            return (undef, '', \@before) if length $f->{payload} == 0;
            return (unpack('n', $f->{payload}), substr($f->{payload}, 2), \@before);
        }
        push @before, $f;
    }
    return;
}

# The server ends the TCP connection (within $to seconds).
sub eof_within {
    my ($s, $to) = @_;
    my $sel = IO::Select->new($s);
    my $until = time + $to;
    while (time < $until) {
        next unless $sel->can_read(0.2);
        my $r = sysread($s, my $b, 4096);
        return 1 if !$r;
    }
    return 0;
}

# Sends frames, expects a close with $code and a reason a person can read;
# answers it as a client should (the first one does not: the server then
# waits a moment for the answer, and closes anyway).
my $answered = 0;
sub closes_with {
    my ($code, $name, @frames) = @_;
    my $s = ws();
    syswrite($s, $_) for @frames;
    my ($got, $reason) = until_close($s);
    is $got, $code, "$name: closed with $code";
    ok defined $reason && length $reason && eval { my $copy = $reason; decode_utf8($copy, 1); 1 },
        "$name: with a readable reason" . (defined $reason ? " ($reason)" : '');
    syswrite($s, close_frame($got)) if $answered++ && defined $got;
    ok eof_within($s, 8), "$name: and the connection ends";
    close $s;
}

sub replies_to {
    my ($s, $n, $to) = @_;
    my @r;
    while (@r < $n) {
        my $f = read_frame($s, $to // 5) or last;
        push @r, $f;
    }
    return @r;
}

sub is_bad_message {
    my ($f, $name) = @_;
    my $doc = eval { decode_json($f->{payload}) } if $f && $f->{op} == 1;
    ok $doc && $doc->{type} eq 'error' && $doc->{code} eq 'bad_message'
       && defined $doc->{id}, "$name: an error frame, bad_message"
        or diag explain $f;
}

# --- a real client ----------------------------------------------------------

{
    my $client = Mojo::UserAgent->new(inactivity_timeout => 10);
    my ($proto, @got, $code);
    $client->websocket("ws://127.0.0.1:$port$WS" => { Origin => $ORIGIN }
                       => ['helpdesk.chat.v1'] => sub {
        my ($c, $tx) = @_;
        unless ($tx->is_websocket) { Mojo::IOLoop->stop; return }
        $proto = $tx->protocol;
        $tx->on(message => sub { push @got, $_[1]; $_[0]->finish(1000) });
        $tx->on(finish => sub { $code = $_[1]; Mojo::IOLoop->stop });
        $tx->send('hello, this is no JSON');
    });
    my $timer = Mojo::IOLoop->timer(10 => sub { Mojo::IOLoop->stop });
    Mojo::IOLoop->start;
    Mojo::IOLoop->remove($timer);
    is $proto, 'helpdesk.chat.v1', 'a browser-like client: the subprotocol echoed';
    is scalar @got, 1, 'one reply';
    my $doc = eval { decode_json(encode_utf8($got[0] // '')) };
    is $doc && $doc->{code}, 'bad_message', 'the reply: an error of code bad_message';
    is $code, 1000, 'the close handshake: 1000 echoed';
}

# --- the handshake ----------------------------------------------------------

{
    my ($s, $head, $key) = handshake();
    is status_of($head), 101, '101 Switching Protocols';
    my $accept = sha1_base64($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';
    like $head, qr/\r\nSec-WebSocket-Accept: \Q$accept\E\r\n/, 'the accept key of RFC 6455';
    like $head, qr/\r\nSec-WebSocket-Protocol: helpdesk\.chat\.v1\r\n/, 'the subprotocol';
    like $head, qr/\r\nUpgrade: websocket\r\n/i, 'Upgrade: websocket';
    syswrite($s, close_frame(1000, 'bye'));
    my ($code, $reason) = until_close($s);
    is $code, 1000, 'a close is echoed with its code';
    ok eof_within($s, 5), 'then the server closes the connection';
}

sub refused {
    my ($status, $name, %o) = @_;
    my ($s, $head) = handshake(%o);
    is status_of($head), $status, "$name: $status";
    my $body = body_of($s, $head);
    like $head, qr{Content-Type: application/problem\+json}i, "$name: a problem document";
    my $doc = eval { decode_json($body) } || {};
    ok $doc->{type} && $doc->{detail}, "$name: with a type and a detail";
    close $s;
    return ($head, $doc);
}

refused(403, 'another page', headers => { Origin => 'https://evil.example' });
refused(403, 'no Origin', headers => { Origin => undef });
refused(403, "another tenant's page", headers => { Origin => 'https://www.globex.example' });
refused(403, 'an origin differing only in case', headers => { Origin => 'https://WWW.acme.example' });
refused(403, 'an origin with a path', headers => { Origin => 'https://www.acme.example/' });
ok status_of((handshake(headers => { Origin => 'http://localhost:8000' }))[1]) == 101,
    "the tenant's second origin";
ok status_of((handshake(path => '/chat/v1/ws?tenant=globex',
                        headers => { Origin => 'https://www.globex.example' }))[1]) == 101,
    "the other tenant, from its own page";
refused(404, 'an unknown tenant', path => '/chat/v1/ws?tenant=nobody');
refused(404, 'a tenant that is no slug', path => '/chat/v1/ws?tenant=..%2F');
refused(400, 'no tenant', path => '/chat/v1/ws');
refused(403, 'a widget turned off', path => '/chat/v1/ws?tenant=quiet',
        headers => { Origin => 'https://www.quiet.example' });
refused(400, 'no Upgrade', headers => { Upgrade => undef });
refused(400, 'Upgrade: h2c', headers => { Upgrade => 'h2c' });
refused(400, 'no Connection: Upgrade', headers => { Connection => 'keep-alive' });
refused(400, 'no key', headers => { 'Sec-WebSocket-Key' => undef });
refused(400, 'a key that is not 16 bytes', key => encode_base64('short', ''));
refused(400, 'no subprotocol', headers => { 'Sec-WebSocket-Protocol' => undef });
refused(400, 'another subprotocol', headers => { 'Sec-WebSocket-Protocol' => 'chat, superchat' });
ok status_of((handshake(headers => { Connection => 'keep-alive, Upgrade',
                                     'Sec-WebSocket-Protocol' => 'x, helpdesk.chat.v1' }))[1]) == 101,
    'tokens found in lists';
my ($h426) = refused(426, 'version 8', headers => { 'Sec-WebSocket-Version' => 8 });
like $h426, qr/\r\nSec-WebSocket-Version: 13\r\n/, '426 says which version';
refused(400, 'no version', headers => { 'Sec-WebSocket-Version' => undef });
refused(405, 'a POST', method => 'POST', headers => { 'Content-Length' => 0 });
refused(404, 'another path', path => '/chat/v1/nothing?tenant=acme');

# --- framing: what a client may not do --------------------------------------

closes_with(1002, 'an unmasked frame', text('hello', mask => 0));
closes_with(1002, 'a reserved bit', text('hello', rsv => 4));
closes_with(1002, 'opcode 3', frame(3, 'x'));
closes_with(1002, 'opcode 0xB', frame(0xb, 'x'));
closes_with(1002, 'a ping of 126 bytes', frame(9, 'p' x 126));
closes_with(1002, 'a fragmented ping', frame(9, 'p', fin => 0));
closes_with(1002, 'a continuation with no message', frame(0, 'x'));
closes_with(1002, 'a new message inside a fragmented one',
            text('ab', fin => 0), text('cd'));
closes_with(1002, 'a 64-bit length with its top bit set',
            substr(frame(1, '', len => 70000), 0, 2) . pack('N', 0x80000000) . pack('N', 1) . 'kkkk');
closes_with(1003, 'a binary message', frame(2, "\x00\x01"));
closes_with(1007, 'text that is not UTF-8', frame(1, "abc\xff"));
closes_with(1007, 'a surrogate', frame(1, "\xed\xa0\x80"));
closes_with(1007, 'an overlong form', frame(1, "\xc0\xaf"));
closes_with(1007, 'a character cut at the end of the message',
            frame(1, "ab\xe2\x82", fin => 0), frame(0, 'c'));
closes_with(1007, 'invalid UTF-8 in the last fragment',
            frame(1, "ab", fin => 0), frame(0, "\xf8"));
closes_with(1009, 'a frame declaring more than the tenant takes',
            substr(frame(1, '', len => 2000), 0, 8));
closes_with(1009, 'fragments adding up to more',
            text('x' x 400, fin => 0), frame(0, 'y' x 400, fin => 0), frame(0, 'z' x 400));
closes_with(1002, 'a close code that may not be sent (1005)', close_frame(1005));
closes_with(1002, 'a close code out of range (999)', close_frame(999));
closes_with(1002, 'a reserved close code (1004)', close_frame(1004));
closes_with(1002, 'a close payload of one byte', frame(8, "\x03"));
closes_with(1007, 'a close reason that is not UTF-8', close_frame(1000, "\xff\xfe"));

{
    my $s = ws();
    syswrite($s, close_frame(4001, 'app'));
    my ($code) = until_close($s);
    is $code, 4001, 'an application close code is echoed';
    $s = ws();
    syswrite($s, close_frame());
    my ($none, $reason, $before) = until_close($s);
    ok !defined $none && $before, 'a close without a code gets a close without a code (never 1005)';
    ok eof_within($s, 5), 'and the connection ends';
}

# --- what a client may do ---------------------------------------------------

{
    my $s = ws();
    syswrite($s, text('ab', fin => 0) . frame(9, 'hi') . frame(0, 'c', fin => 0)
                 . frame(10, 'unasked') . frame(0, 'd'));
    my @r = replies_to($s, 2);
    is $r[0]{op}, 10, 'a ping between fragments: answered with a pong';
    is $r[0]{payload}, 'hi', 'carrying its payload';
    is_bad_message($r[1], 'the fragmented message');
    ok !read_frame($s, 1), 'one reply, for one message (an unasked pong is fine)';

    # byte by byte, across TCP writes
    my $bytes = text('no json here');
    for my $b (split //, $bytes) { syswrite($s, $b); sleep 0.01 }
    is_bad_message((replies_to($s, 1))[0], 'a message written byte by byte');

    # a character split across fragments
    syswrite($s, frame(1, "\xc3", fin => 0));
    sleep 0.05;
    syswrite($s, frame(0, "\xa9", fin => 0));
    syswrite($s, frame(0, ''));
    is_bad_message((replies_to($s, 1))[0], 'UTF-8 split across fragments');

    # as large as the tenant allows, fragmented
    syswrite($s, text('x' x 500, fin => 0) . frame(0, 'y' x 524));
    is_bad_message((replies_to($s, 1))[0], 'a message of exactly the maximum');

    # sent along with the upgrade request, before the 101
    my ($e, $head) = handshake(early => text('early bird'));
    is status_of($head), 101, 'frames sent with the upgrade request';
    is_bad_message((replies_to($e, 1))[0], 'are read after it');
    close $e;

    syswrite($s, close_frame(1000));
    my ($code) = until_close($s);
    is $code, 1000, 'closed normally after all that';
}

# --- pings from the server --------------------------------------------------

{
    my $s = ws(path => '/chat-ping/v1/ws?tenant=acme');
    my $f = read_frame($s, 3);
    is $f && $f->{op}, 9, 'the server pings';
    syswrite($s, frame(10, $f->{payload}));
    $f = read_frame($s, 3);
    is $f && $f->{op}, 9, 'and again, to a client that answers';
    my ($code, $reason) = until_close($s, 5);
    is $code, 1008, 'a ping left unanswered: 1008';
    like $reason, qr/ping/, 'the reason says so';
}

# --- clients that vanish ----------------------------------------------------

{
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die;
    syswrite($s, "GET $WS HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n");
    close $s;
    $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die;
    my ($full) = "GET $WS HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        . "Sec-WebSocket-Protocol: helpdesk.chat.v1\r\nOrigin: $ORIGIN\r\n\r\n";
    syswrite($s, $full);
    close $s;    # gone while the tenant is looked up
    for my $cut (1, 5, 12) {
        my $w = ws();
        syswrite($w, substr(text('x' x 100), 0, $cut));
        close $w;
    }
    my $w = ws();
    syswrite($w, text('y' x 50, fin => 0));
    close $w;    # mid-message
    sleep 0.3;
    my $ok = ws();
    syswrite($ok, text('still there?'));
    is_bad_message((replies_to($ok, 1))[0], 'clients that vanished mid-handshake and mid-frame: the next is served');
    close $ok;
}

# --- a slow reader ------------------------------------------------------------

sub workers_rss {
    my $kb = 0;
    for my $pid ($t->worker_pids) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) { $kb += $1 if /^VmRSS:\s+(\d+)/ }
    }
    return $kb;
}

{
    my $before = workers_rss();
    my $s = ws(port => $slow_port);
    $s->blocking(0);
    my $ping = frame(9, 'p' x 125);
    my $sent = 0;
    my $sel = IO::Select->new($s);
    # pings whose pongs it never reads: 1 MB worth, or until the server
    # stops taking them
    while ($sent < 8000) {
        last unless $sel->can_write(3);
        my $n = syswrite($s, $ping);
        last unless defined $n && $n == length $ping;
        $sent++;
    }
    my $during = workers_rss();
    $s->blocking(1);
    my ($code, $reason, $before_close) = until_close($s, 10);
    is $code, 1008, "a client that does not read: 1008 (after $sent pings)";
    like $reason, qr/slow/, 'too slow a reader';
    cmp_ok scalar(@$before_close), '<', $sent, 'what waited past the cap was dropped';
    cmp_ok $during - $before, '<', 8 * 1024, "nginx's memory stays bounded (" . ($during - $before) . ' KiB more)';
    close $s;
}

# --- agents -------------------------------------------------------------------

{
    my $ana = Helpdesk::Chat::invite($t, $acme, 'ana@acme.example', 'Ana');
    my ($u, $c) = ($ana->{user}, $ana->{console});
    is $c->login('ana@acme.example', 'senha-de-agente-1')->code, 200, 'an agent logs in to the console';
    my $session = $c->cookie('hd_agent');

    my %agent = (path => '/agent/_/chat/v1/ws', host => "acme.portal.test:$port");
    my $console = "http://acme.portal.test:$port";
    refused(401, 'an agent without a session', %agent, headers => { Origin => $console });
    refused(401, 'a session that does not exist', %agent,
            headers => { Origin => $console, Cookie => 'hd_agent=' . ('0' x 64) });
    refused(403, "an agent's session from another page", %agent,
            headers => { Origin => 'https://www.acme.example', Cookie => "hd_agent=$session" });
    refused(403, "an agent's session without an Origin", %agent,
            headers => { Origin => undef, Cookie => "hd_agent=$session" });
    refused(404, "an agent's session on a name that is no helpdesk", %agent,
            host => "nobody.portal.test:$port",
            headers => { Origin => "http://nobody.portal.test:$port", Cookie => "hd_agent=$session" });
    refused(403, "an agent's session on another tenant's console", %agent,
            host => "globex.portal.test:$port",
            headers => { Origin => "http://globex.portal.test:$port", Cookie => "hd_agent=$session" });

    my ($s, $head) = handshake(%agent, headers => { Origin => $console, Cookie => "hd_agent=$session" });
    is status_of($head), 101, 'an agent with a console session: 101';
    syswrite($s, text('agents speak JSON too'));
    is_bad_message((replies_to($s, 1))[0], "the agent's socket");
    close $s;

    $t->psql(qq{UPDATE helpdesk.users SET status = 'disabled' WHERE user_id = '$u->{id}'});
    refused(403, 'a disabled agent', %agent, headers => { Origin => $console, Cookie => "hd_agent=$session" });
}

# --- reload: 1001 to every client ------------------------------------------------

SKIP: {
    skip 'one process under valgrind: nothing to reload', 7 if $ENV{HELPDESK_VALGRIND};
    my @open = map { ws() } 1 .. 3;
    # one of them in the middle of a message
    syswrite($open[2], text('half', fin => 0));
    sleep 0.2;
    kill 'HUP', $t->nginx_pid;
    for my $i (0 .. 1) {
        my ($code, $reason) = until_close($open[$i], 10);
        is $code, 1001, "reload: client $i told 1001";
        like $reason, qr/going away/, 'server going away';
    }
    syswrite($open[2], frame(0, ' done'));
    my ($code, $reason, $before) = until_close($open[2], 10);
    is $code, 1001, 'reload: the client that was mid-message gets 1001 once it ends';
    is_bad_message($before->[0], 'its message answered first');
    ok until_true(sub { my ($x, $h) = handshake(); status_of($h) == 101 }, 10),
        'the new workers take chats';
}

$t->done;
