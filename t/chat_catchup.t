# Catching up: a visitor that resumes far behind (about 1.2 MB of missed
# events, four times the output cap) receives every missed event exactly
# once, in order, paced by what it reads, over WebSocket and over the
# event stream; a client that resumes and then does not read is still
# closed by the output cap (1008).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Mojo::JSON qw(decode_json encode_json);
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::Chat;

my $t = Helpdesk::Test->new->start_stack;
# a second server whose tiny send buffer fills at once: the non-reader's
my $slow_port = Helpdesk::Test::free_port();
$t->start_nginx(http => "server {
                             listen 127.0.0.1:$slow_port sndbuf=4096;
                             location /chat/ { helpdesk_chat ping=60s; }
                         }",
                server => 'location /chat/ { helpdesk_chat ping=60s; }');
my $port = $t->port;
my $d = $t->dir;
my $R = "redis-cli -s $d/run/redis.sock";

my $acme = $t->create_tenant('acme');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled)
            VALUES ('$acme->{id}', '{https://www.acme.example}', false)});
my $ORIGIN = 'https://www.acme.example';

sub visitor { Helpdesk::Chat::visitor($t, acme => $ORIGIN) }

my $v = visitor();
my $w = $v->hello;
my $token = $w->{visitor};
my $cid = $v->send(start => prechat => { name => 'Rita' }, text => 'first');
my $ack = $v->take_ack($cid);
my $conv = $ack->{conversation};
my $first = $ack->{ref};
ok $conv && $first, 'a conversation with a first message';
$v->close;

# 300 messages of 4 KB stored in the conversation's stream meanwhile
my $key = "hd:chat:{$conv}:s";
my @ids;
open my $rc, '|-', "$R > $d/xadd.out" or die $!;
for my $i (1 .. 300) {
    my $j = encode_json({ type => 'message', from => 'agent',
                          text => sprintf('%03d ', $i) . ('x' x 4000) });
    $j =~ s/(["\\])/\\$1/g;
    print $rc qq{XADD "$key" * u v j "$j"\n};
}
close $rc;
open my $fh, '<', "$d/xadd.out" or die $!;
@ids = grep { /^\d+-\d+$/ } map { s/\s+$//r } <$fh>;
is scalar(@ids), 300, '300 messages of 4 KB stored';

# --- over WebSocket -------------------------------------------------------------

{
    my $v2 = visitor();
    my $w2 = $v2->hello(visitor => $token, last => $first);
    is $w2->{conversation}{id}, $conv, 'the visitor resumes its conversation';
    my @got;
    until_true(sub {
        push @got, grep { $_->{type} eq 'message' } $v2->drain(0.2);
        @got >= 300 || $v2->closed;
    }, 60);
    push @got, grep { $_->{type} eq 'message' } $v2->drain(1);
    ok !$v2->closed, 'the resuming visitor is not closed'
        or diag explain $v2->closed;
    is scalar(@got), 300, 'it receives all 300 missed messages';
    is_deeply [map { $_->{id} } @got], \@ids, '... each once, in order';
    ok !grep({ $_->{text} !~ /^\d{3} x{4000}$/ } @got), '... whole';

    # what is published after the catch-up comes live
    my $c2 = $v2->send(message => text => 'after');
    my $a2 = $v2->take_ack($c2);
    my $m = $v2->take('message', id => $a2->{ref});
    ok $m, 'a message after the catch-up arrives live';
    my @more = grep { $_->{type} eq 'message' } $v2->drain(0.5);
    is scalar(@more), 0, '... once';
    push @ids, $a2->{ref};
    $v2->close;
}

# --- over the event stream --------------------------------------------------------

{
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5) or die $!;
    syswrite($s, "GET /chat/v1/sse?tenant=acme&visitor=$token HTTP/1.1\r\n"
                 . "Host: 127.0.0.1:$port\r\nOrigin: $ORIGIN\r\nLast-Event-ID: $first\r\n\r\n");
    my ($buf, $sel, $end) = ('', IO::Select->new($s), time + 60);
    my @sse;
    while (time < $end) {
        next unless $sel->can_read(0.5);
        my $n = sysread($s, my $b, 65536);
        last unless $n;
        $buf .= $b;
        while ($buf =~ s/\A(.*?)\n\n//s) {
            my $ev = $1;
            my ($data) = join("\n", $ev =~ /^data: ?(.*)$/mg);
            next unless length $data;
            push @sse, [$ev, $data];
        }
        last if grep({ $_->[1] =~ /"type":"message"/ } @sse) >= scalar(@ids);
    }
    my @msgs = map { decode_json($_->[1]) } grep { $_->[1] =~ /"type":"message"/ } @sse;
    ok !grep({ $_->[0] =~ /^event: close/m } @sse), 'the event stream is not closed';
    is scalar(@msgs), scalar(@ids), 'the event stream receives every missed message';
    is_deeply [map { $_->{id} } @msgs], \@ids, '... each once, in order';
    close $s;
}

# --- a client that resumes and does not read ------------------------------------

sub workers_rss {
    my $kb = 0;
    for my $pid ($t->worker_pids) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) { $kb += $1 if /^VmRSS:\s+(\d+)/ }
    }
    return $kb;
}

sub frame {
    my ($op, $payload) = @_;
    my $len = length $payload;
    my $h = chr(0x80 | $op);
    if ($len < 126) { $h .= chr(0x80 | $len) }
    else { $h .= chr(0x80 | 126) . pack('n', $len) }
    my $mask = pack('N', int rand 2**32);
    return $h . $mask . ($payload ^ substr($mask x (1 + int($len / 4)), 0, $len));
}

{
    my $before = workers_rss();
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$slow_port", Timeout => 5) or die $!;
    syswrite($s, "GET /chat/v1/ws?tenant=acme HTTP/1.1\r\nHost: 127.0.0.1:$slow_port\r\n"
                 . "Origin: $ORIGIN\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: helpdesk.chat.v1\r\n\r\n");
    syswrite($s, frame(1, encode_json({ type => 'hello', cid => 'h1', visitor => $token,
                                        last => $first })));
    sleep 2;
    $s->blocking(0);
    my ($sent, $sel) = (0, IO::Select->new($s));
    while ($sent < 8000) {
        last unless $sel->can_write(3);
        my $n = syswrite($s, frame(9, 'p' x 125));
        last unless defined $n && $n > 0;
        $sent++;
    }
    my $during = workers_rss();
    $s->blocking(1);
    my ($all, $end) = ('', time + 30);
    while (time < $end) {
        last unless $sel->can_read(5);
        my $n = sysread($s, my $b, 65536);
        last unless $n;
        $all .= $b;
    }
    my ($code, $why) = $all =~ /\x88[\x00-\x7d](..)([^\x81\x88\x8a]*)\z/s;
    is defined $code ? unpack('n', $code) : undef, 1008,
        "a client that resumes and does not read: 1008 (after $sent pings)";
    like $why // '', qr/too slow a reader/, '... too slow a reader';
    ok $all =~ /"type":"message"/, '... after some of the catch-up';
    cmp_ok $during - $before, '<', 8 * 1024,
        "nginx's memory stays bounded (" . ($during - $before) . ' KiB more)';
    close $s;
}

$t->done;
