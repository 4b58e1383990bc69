#!/usr/bin/env perl
# make bench (also alone: perl t/bench/chat_idle.pl): what an idle chat
# WebSocket costs nginx.  One worker; N chat connections opened (the
# upgrade, then nothing), the worker's RSS before and after; then, as the
# baseline in the same run, N idle keep-alive HTTP connections (one
# request each, then nothing) on the same nginx.  Prints KiB per
# connection for both.  BENCH_IDLE_CONNECTIONS (10000).  BENCH_IDLE_HELLO=1:
# each chat first says hello and reads its welcome (a visitor whose widget
# is open and waiting), so the conversations layer's state is counted too.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

# file descriptors for N sockets on each side: as many as may be had
if (!$ENV{BENCH_IDLE_ULIMIT}) {
    $ENV{BENCH_IDLE_ULIMIT} = 1;
    exec 'sh', '-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"',
         $^X, $0, @ARGV;
}

use Helpdesk::Test;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep);

my $n = $ENV{BENCH_IDLE_CONNECTIONS} // 10000;
my $limit = `sh -c 'ulimit -n'` + 0;
die "ulimit -n is $limit: $n connections need more (raise the hard limit)\n"
    if $limit < $n + 100;

my $t = Helpdesk::Test->new(workers => 1)->start_stack;
$t->write_conf;    # a port, a key file
my $conf = $t->conf(server => 'location /chat/ { helpdesk_chat; }');
$conf =~ s/worker_connections \d+;/worker_connections @{[$n * 2 + 100]};/;
$conf = "worker_rlimit_nofile $limit;\n$conf";
$t->start_nginx(text => $conf);

my $tenant = $t->create_tenant('idle');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins)
            VALUES ('$tenant->{id}', '{https://www.idle.example}')});
my $port = $t->port;

sub rss {
    my ($pid) = $t->worker_pids;
    open my $fh, '<', "/proc/$pid/status" or die "no worker: $!";
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    die 'no VmRSS';
}

my $upgrade = "GET /chat/v1/ws?tenant=idle HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    . "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    . "Sec-WebSocket-Protocol: helpdesk.chat.v1\r\nOrigin: https://www.idle.example\r\n\r\n";
my $plain = "GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

# a client's text frame (masked, as clients must)
sub text_frame {
    my ($text) = @_;
    my $mask = pack('N', int rand 2**32);
    my $len = length $text;
    return chr(0x81) . ($len < 126 ? chr(0x80 | $len) : chr(0x80 | 126) . pack('n', $len))
        . $mask . ($text ^ substr($mask x ($len / 4 + 1), 0, $len));
}

my $hello = $ENV{BENCH_IDLE_HELLO};

# N connections that each send $req and read its answer's head (and, for
# a chat with BENCH_IDLE_HELLO, say hello and read the first frame back),
# in batches; returns the sockets, kept open
sub open_idle {
    my ($req, $expect, $count) = @_;
    $count //= $n;
    my @all;
    while (@all < $count) {
        my @batch;
        for (1 .. ($count - @all < 50 ? $count - @all : 50)) {
            my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "connect: $!";
            syswrite($s, $req);
            push @batch, $s;
        }
        for my $s (@batch) {
            my $head = '';
            my $sel = IO::Select->new($s);
            while ($head !~ /\r\n\r\n/) {
                die "no answer\n" unless $sel->can_read(30);
                sysread($s, my $buf, 4096) or die "closed\n";
                $head .= $buf;
            }
            die "unexpected answer: $head" unless $head =~ $expect;
            next unless $hello && $head =~ /^HTTP\/1\.1 101 /;
            syswrite($s, text_frame('{"type":"hello","cid":"h1","lang":"en"}'));
            my $frame = $head =~ /\r\n\r\n(.+)$/s ? $1 : '';
            while (length $frame < 2) {
                die "no welcome\n" unless $sel->can_read(30);
                sysread($s, my $buf, 4096) or die "closed\n";
                $frame .= $buf;
            }
        }
        push @all, @batch;
    }
    return \@all;
}

# a new worker (a reload), so that neither kind reuses what the other freed
sub fresh_worker {
    my ($old) = $t->worker_pids;
    kill 'HUP', $t->nginx_pid;
    for (1 .. 200) {
        my @w = $t->worker_pids;
        last if @w == 1 && $w[0] != $old;
        sleep 0.1;
    }
    # warm up: the worker's first connections and its PostgreSQL pool
    close $_ for @{ open_idle($upgrade, qr{^HTTP/1\.1 101 }, 50) };
}

sub measure {
    my ($name, $req, $expect) = @_;
    fresh_worker();
    sleep 1;
    my $before = rss();
    my $conns = open_idle($req, $expect);
    sleep 2;
    my $after = rss();
    close $_ for @$conns;
    sleep 2;
    my $closed = rss();
    return { name => $name, before => $before, after => $after, closed => $closed,
             per => ($after - $before) / $n };
}

my $http = measure('idle keep-alive HTTP (baseline)', $plain, qr{^HTTP/1\.1 200 });
my $chat = measure('idle chat WebSockets', $upgrade, qr{^HTTP/1\.1 101 });

printf "\nIdle connections: %d, one nginx worker%s\n", $n,
       $hello ? ', each chat after its hello and welcome' : '';
printf "%-34s %10s %10s %10s %12s\n", 'connections', 'RSS before', 'RSS after',
       'closed', 'KiB / conn';
for my $r ($http, $chat) {
    printf "%-34s %7d KiB %7d KiB %7d KiB %12.2f\n", $r->{name}, $r->{before},
           $r->{after}, $r->{closed}, $r->{per};
}
printf "chat over the baseline: %.2f KiB per connection (target: chat <= 4 KiB)\n",
       $chat->{per} - $http->{per};

$t->cleanup;
