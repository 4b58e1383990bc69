#!/usr/bin/env perl
# make bench (also alone: perl t/bench/chat_relay.pl): the chat's relay,
# visitor -> agent across two workers, while the record is written.
#
# One nginx of two workers; an agent on one worker, 20 visitors on the
# other, each in a conversation the agent accepted.  The visitors send at
# a fixed total rate (BENCH_RELAY_RATES, "1000 5000") for
# BENCH_RELAY_SECONDS (5) each; every message carries its number and the
# time it was sent, and the agent's side measures when it arrives.  Loss
# is what never arrived (after a grace second), duplicates what arrived
# twice.  The baseline, measured in the same run at the same rates: a bare
# Redis PUBLISH -> subscriber round trip on the same Redis.  Prints p50
# and p99 of both, and their ratio.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Helpdesk::Test;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Mojo::JSON qw(decode_json encode_json);
use Time::HiRes qw(time sleep);

my @rates = split ' ', ($ENV{BENCH_RELAY_RATES} // '1000 5000');
my $seconds = $ENV{BENCH_RELAY_SECONDS} // 5;
my $nvis = 20;

my $t = Helpdesk::Test->new(workers => 2)->start_stack;
$t->start_nginx(http => "helpdesk_base_domain portal.test;\n"
                      . "    helpdesk_chat_limits messages=0 address_messages=0 "
                      . "conversations=0 address_conversations=0;",
                server => 'location /chat/ { helpdesk_chat; }
                           location /agent/ {
                               helpdesk_agent_console;
                               location /agent/_/chat/ { helpdesk_chat agent; }
                           }');
my $port = $t->port;
my $d = $t->dir;
my $tenant = $t->create_tenant('relay');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins,
                max_chats_per_agent, bot_enabled, max_message_bytes)
            VALUES ('$tenant->{id}', '{https://www.relay.example}', 20, false, 4096)});

# --- hand-made WebSocket clients ----------------------------------------------------

sub frame {
    my ($text) = @_;
    my $len = length $text;
    # a zero mask: masked as RFC 6455 wants, nothing to xor
    return "\x81" . ($len < 126 ? chr(0x80 | $len) : "\xfe" . pack('n', $len))
         . "\0\0\0\0" . $text;
}

sub connect_ws {
    my ($path, %h) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5) or die $!;
    my $req = "GET $path HTTP/1.1\r\nHost: " . ($h{host} // '127.0.0.1') . "\r\n"
            . "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            . "Sec-WebSocket-Protocol: helpdesk.chat.v1\r\nOrigin: $h{origin}\r\n"
            . ($h{cookie} ? "Cookie: $h{cookie}\r\n" : '') . "\r\n";
    syswrite($s, $req);
    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        sysread($s, my $b, 1) or die 'handshake';
        $head .= $b;
    }
    die "handshake: $head" unless $head =~ m{^HTTP/1\.1 101};
    $s->blocking(0);
    return { s => $s, in => '', out => '' };
}

# complete text messages read so far
sub messages {
    my ($c) = @_;
    while (1) {
        my $n = sysread($c->{s}, my $b, 1 << 16);
        last unless $n;
        $c->{in} .= $b;
    }
    my @m;
    while (length $c->{in} >= 2) {
        my ($b0, $b1) = unpack 'CC', $c->{in};
        my ($len, $off) = ($b1 & 0x7f, 2);
        if ($len == 126) { last if length $c->{in} < 4; $len = unpack 'n', substr($c->{in}, 2, 2); $off = 4 }
        elsif ($len == 127) { last if length $c->{in} < 10; $len = unpack 'Q>', substr($c->{in}, 2, 8); $off = 10 }
        last if length $c->{in} < $off + $len;
        my $payload = substr($c->{in}, $off, $len);
        substr($c->{in}, 0, $off + $len) = '';
        push @m, $payload if ($b0 & 0x0f) == 1;
    }
    return @m;
}

sub send_ws {
    my ($c, $text) = @_;
    $c->{out} .= frame($text);
    my $n = syswrite($c->{s}, $c->{out});
    substr($c->{out}, 0, $n) = '' if $n;
}

sub wait_for {
    my ($c, $re, $secs) = @_;
    my $until = time + ($secs // 10);
    while (time < $until) {
        for (messages($c)) { return $_ if $_ =~ $re }
        sleep 0.005;
    }
    die "timed out waiting for $re";
}

# --- the agent, on one worker, and visitors on the other ----------------------------

my $cookie;
{
    require Helpdesk::Portal;
    my $ua = $t->ua;
    my $h = $t->auth($tenant->{key});
    my $u = $ua->post($t->url('/v1/users') => $h => json => { email => 'ana@relay.example',
                                                            name => 'Ana', role => 'agent' })->res->json;
    $ua->post($t->url("/v1/users/$u->{id}/invitation") => $h
              => json => { url => "http://relay.portal.test:$port/agent/" });
    my $job = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE kind = 'email'
                                     ORDER BY outbox_id DESC LIMIT 1}));
    my ($token) = $job->{link} =~ m{/agent/reset/([0-9a-f]{64})$};
    my $c = Helpdesk::Portal->new($t, 'relay.portal.test', prefix => '/agent');
    $c->api(POST => "/reset/$token", { password => 'senha-de-agente-1' });
    $c->login('ana@relay.example', 'senha-de-agente-1');
    $cookie = 'hd_agent=' . $c->cookie('hd_agent');
}

my $agent = connect_ws('/agent/_/chat/v1/ws', host => "relay.portal.test:$port",
                       origin => "http://relay.portal.test:$port", cookie => $cookie);
send_ws($agent, encode_json({ type => 'hello', cid => 'a0' }));
wait_for($agent, qr/"welcome"/);
my $agent_pid = (grep { $_->[3] =~ m{/agent/_/chat/v1/ws} } @{ $t->access_log })[-1][0];

my @vis;
my $tries = 0;
while (@vis < $nvis && $tries++ < 200) {
    my $n = scalar(grep { $_->[3] =~ m{/chat/v1/ws\?tenant=relay} } @{ $t->access_log });
    my $v = connect_ws('/chat/v1/ws?tenant=relay', origin => 'https://www.relay.example');
    my $pid;
    for (1 .. 100) {
        my @l = grep { $_->[3] =~ m{/chat/v1/ws\?tenant=relay} } @{ $t->access_log };
        if (@l > $n) { $pid = $l[-1][0]; last }
        sleep 0.01;
    }
    if (!$pid || $pid == $agent_pid) {
        close $v->{s};
        next;
    }
    send_ws($v, encode_json({ type => 'hello', cid => 'h' }));
    wait_for($v, qr/"welcome"/);
    send_ws($v, encode_json({ type => 'start', cid => 's', prechat => { name => 'V' } }));
    my $ack = decode_json(wait_for($v, qr/"ack"/));
    $v->{conv} = $ack->{conversation};
    wait_for($agent, qr/"offer".*\Q$v->{conv}\E|\Q$v->{conv}\E.*"offer"/);
    send_ws($agent, encode_json({ type => 'accept', cid => "acc$v->{conv}", conversation => $v->{conv} }));
    wait_for($agent, qr/"ack".*acc\Q$v->{conv}\E|acc\Q$v->{conv}\E.*"ack"/);
    push @vis, $v;
}
die 'could not place the visitors on the other worker' unless @vis == $nvis;

sub pct {
    my ($p, @v) = @_;
    return 0 unless @v;
    @v = sort { $a <=> $b } @v;
    return $v[int($p * $#v)];
}

# the relay at one rate: (p50 ms, p99 ms, sent, lost, doubled)
sub relay {
    my ($rate, $tag) = @_;
    my (%sent, %got, @lat);
    my $seq = 0;
    my $start = time;
    my $sel = IO::Select->new($agent->{s}, map { $_->{s} } @vis);
    while (1) {
        my $now = time;
        last if $now - $start > $seconds + 1;
        if ($now - $start <= $seconds) {
            my $due = int(($now - $start) * $rate);
            while ($seq < $due) {
                my $v = $vis[$seq % @vis];
                my $text = sprintf 'b:%s:%d:%.6f', $tag, $seq, time;
                send_ws($v, '{"type":"message","cid":"m' . $tag . $seq . '","text":"' . $text . '"}');
                $sent{$seq}++;
                $seq++;
            }
        }
        $sel->can_read(0.001);
        for my $m (messages($agent)) {
            next unless index($m, '"type":"message"') >= 0
                        && $m =~ /"text":"b:\Q$tag\E:(\d+):([\d.]+)"/;
            push @lat, (time - $2) * 1000;
            $got{$1}++;
        }
        messages($_) for @vis;          # acks and echoes: read, not kept
        for my $v (@vis) {
            if (length $v->{out}) {
                my $n = syswrite($v->{s}, $v->{out});
                substr($v->{out}, 0, $n) = '' if $n;
            }
        }
    }
    my $lost = grep { !$got{$_} } keys %sent;
    my $dup = grep { $got{$_} > 1 } keys %got;
    return (pct(0.5, @lat), pct(0.99, @lat), scalar(keys %sent), $lost, $dup);
}

# the baseline: PUBLISH on one connection, a subscriber on another
sub redis_baseline {
    my ($rate) = @_;
    my $sock = "$d/run/redis.sock";
    my $sub = IO::Socket::UNIX->new(Peer => $sock) or die $!;
    my $pub = IO::Socket::UNIX->new(Peer => $sock) or die $!;
    print $sub "*2\r\n\$9\r\nSUBSCRIBE\r\n\$5\r\nbench\r\n";
    my $buf = '';
    while ($buf !~ /subscribe/) { sysread($sub, my $b, 4096); $buf .= $b }
    $sub->blocking(0);
    $pub->blocking(0);
    my (@lat, %got);
    my ($seq, $start, $pin) = (0, time, '');
    $buf = '';
    my $sel = IO::Select->new($sub);
    while (time - $start <= $seconds + 1) {
        my $now = time;
        if ($now - $start <= $seconds) {
            my $due = int(($now - $start) * $rate);
            while ($seq < $due) {
                my $m = sprintf 'b:%d:%.6f', $seq++, time;
                syswrite($pub, "*3\r\n\$7\r\nPUBLISH\r\n\$5\r\nbench\r\n\$" . length($m) . "\r\n$m\r\n");
            }
        }
        sysread($pub, my $discard, 1 << 16);
        $sel->can_read(0.001);
        while (sysread($sub, my $b, 1 << 16)) { $buf .= $b }
        while ($buf =~ s/b:(\d+):([\d.]+)//) {
            push @lat, (time - $2) * 1000;
            $got{$1}++;
        }
    }
    close $sub;
    close $pub;
    return (pct(0.5, @lat), pct(0.99, @lat), $seq, $seq - scalar(keys %got));
}

printf "\nChat relay, visitor -> agent across two workers (%d conversations, %d s each):\n",
    $nvis, $seconds;
for my $rate (@rates) {
    my ($b50, $b99, $bn, $blost) = redis_baseline($rate);
    my ($p50, $p99, $n, $lost, $dup) = relay($rate, $rate);
    printf "  %5d msg/s  relay p50 %6.2f ms  p99 %6.2f ms  sent %d lost %d doubled %d\n",
        $rate, $p50, $p99, $n, $lost, $dup;
    printf "  %5d msg/s  Redis PUBLISH->subscriber p50 %6.2f ms  p99 %6.2f ms  (lost %d)\n",
        $rate, $b50, $b99, $blost;
    printf "               ratio p50 %.1fx  p99 %.1fx\n",
        $b50 ? $p50 / $b50 : 0, $b99 ? $p99 / $b99 : 0;
}
my $stream = `redis-cli -s $d/run/redis.sock XLEN hd:chat:persist`;
chomp $stream;
sleep 2;
my $rows = $t->psql('SELECT count(*) FROM helpdesk.chat_messages');
printf "  recorded in PostgreSQL 2 s after: %d messages; persistence stream left: %s\n",
    $rows, $stream;
chomp(my $cpus = `nproc`);
printf "(2 nginx workers, %s CPUs shared with the load generator, Redis and PostgreSQL)\n", $cpus;

$t->cleanup;
