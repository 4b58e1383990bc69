#!/usr/bin/env perl
# make bench (also alone: perl t/bench/chat_relay.pl): the chat's relay,
# visitor -> agent across two workers, while the record is written.
#
# One nginx of two workers; an agent on one worker, 20 visitors on the
# other, each in a conversation the agent accepted.  The load generator is
# t/bench/chat_relay_gen.c (built by make bench): the visitors send at a
# fixed total rate (BENCH_RELAY_RATES, "1000 5000 20000") for
# BENCH_RELAY_SECONDS (5) each; every message carries its number and the
# time it was sent, and the agent's side measures when it arrives.  A
# visitor keeps at most BENCH_RELAY_WINDOW (32) messages unacknowledged:
# when the acks lag, the sender waits instead of dropping, and the rate it
# reached is printed.  Loss is what never arrived (after two seconds'
# grace), duplicates what arrived twice, reordering a visitor's message
# arriving after a later one of the same visitor.  The baseline, measured
# by the same program in the same run at the same rates: a bare Redis
# PUBLISH -> subscriber on the same Redis.  Prints p50 and p99 of both, and
# their ratio.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Helpdesk::Test;
use Helpdesk::Chat;

my @rates = split ' ', ($ENV{BENCH_RELAY_RATES} // '1000 5000 20000');
my $seconds = $ENV{BENCH_RELAY_SECONDS} // 5;
my $nvis = 20;
my $window = $ENV{BENCH_RELAY_WINDOW} // 32;

my $t = Helpdesk::Test->new(workers => 2)->start_stack;
Helpdesk::Chat::start_nginx($t, http => 'helpdesk_chat_limits messages=0 address_messages=0 '
                                      . 'conversations=0 address_conversations=0;');
my $port = $t->port;
my $d = $t->dir;
my $tenant = $t->create_tenant('relay');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins,
                max_chats_per_agent, bot_enabled, max_message_bytes)
            VALUES ('$tenant->{id}', '{https://www.relay.example}', 20, false, 4096)});

# --- the agent, on one worker, and visitors on the other ----------------------------

my $cookie = Helpdesk::Chat::agent($t, $tenant, 'ana@relay.example', 'Ana')->{cookie};

# the load generator, in C: the WebSockets (the agent's on one worker,
# the visitors' on the other, the conversations started and accepted
# through the protocol), the pacing, the measurement, and the baseline
my $gen = "$Helpdesk::Test::TOP/build/bench/chat_relay_gen";
-x $gen or die "$gen is missing: make bench builds it\n";
my ($redis_pid) = `redis-cli -s $d/run/redis.sock INFO server` =~ /process_id:(\d+)/;
my $pg_pid = do { open my $f, '<', "$d/pg/postmaster.pid" or die $!; 0 + <$f> };
my @cmd = ($gen, -p => $port, -t => 'relay', -l => "$d/log/access.log",
           -r => "$d/run/redis.sock", -a => "relay.portal.test:$port",
           -A => "http://relay.portal.test:$port", -c => $cookie,
           -o => 'https://www.relay.example', -n => $nvis, -w => $window,
           -s => $seconds, -R => $redis_pid, -G => $pg_pid, @rates);
# Redis's own account of its stalls over the run: events over 2 ms (the
# AOF's fsync and write among them) and commands slower than 2 ms
my $rcli = "redis-cli -s $d/run/redis.sock";
`$rcli CONFIG SET latency-monitor-threshold 2; $rcli CONFIG SET slowlog-log-slower-than 2000; $rcli SLOWLOG RESET`;
open my $out, '-|', @cmd or die "$gen: $!";
my %r;
while (<$out>) {
    if (/^cpu (relay|redis) (\d+) (.*)$/) {
        $r{"cpu-$1"}{$2} = { map { split /=/ } split ' ', $3 };
        next;
    }
    my ($what, $rate, $f) = /^(relay|redis) (\d+) (.*)$/ or next;
    $r{$what}{$rate} = { map { split /=/ } split ' ', $f };
}
close $out or die "chat_relay_gen failed\n";

printf "\nChat relay, visitor -> agent across two workers (%d conversations, "
     . "%d s each, at most %d unacknowledged per visitor):\n", $nvis, $seconds, $window;
for my $rate (@rates) {
    my ($x, $b) = ($r{relay}{$rate}, $r{redis}{$rate});
    next unless $x && $b;
    printf "  %5d msg/s  relay  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.2f ms  max %7.2f ms"
         . "  sent %d (%.0f/s) lost %d doubled %d reordered %d  refused %d  window full %d times\n"
         . "               (the visitor's ack: p50 %.2f ms  p99 %.2f ms)\n",
        $rate, @$x{qw(p50 p99 p999 max sent achieved lost dup reorder errors stalls ack50 ack99)};
    printf "  %5d msg/s  Redis PUBLISH->subscriber  p50 %6.2f ms  p99 %6.2f ms  "
         . "p99.9 %6.2f ms  max %7.2f ms  sent %d (%.0f/s) lost %d\n",
        $rate, @$b{qw(p50 p99 p999 max sent achieved lost)};
    printf "               ratio p50 %.1fx  p99 %.1fx\n",
        $b->{p50} > 0 ? $x->{p50} / $b->{p50} : 0, $b->{p99} > 0 ? $x->{p99} / $b->{p99} : 0;
    for my $w (qw(relay redis)) {
        my $c = $r{"cpu-$w"}{$rate} or next;
        my $n = $r{$w}{$rate}{sent} || 1;
        printf "               CPU during the %s run (%.1f s): visitors' worker %.0f ms, "
             . "agent's %.0f ms, Redis %.0f ms, PostgreSQL %.0f ms, generator %.0f ms "
             . "= %.0f us a message\n", $w eq 'relay' ? 'relay' : 'PUBLISH',
            $c->{wall} / 1000, @$c{qw(visitors agent redis pg gen)},
            1000 * ($c->{visitors} + $c->{agent} + $c->{redis} + $c->{pg}) / $n;
        printf "                 waiting for a CPU while runnable: visitors' worker %.0f ms, "
             . "agent's %.0f ms, Redis %.0f ms\n", @$c{qw(wvisitors wagent wredis)};
    }
}
my ($delayed) = `$rcli INFO persistence` =~ /aof_delayed_fsync:(\d+)/;
print "  Redis latency events over 2 ms (event, last, latest ms, worst ms):\n";
my @ev = split /\n/, `$rcli LATENCY LATEST`;
printf "    %-24s %s %4s %4s\n", splice(@ev, 0, 4) while @ev >= 4;
chomp(my $slow = `$rcli SLOWLOG LEN`);
printf "  Redis: writes delayed by a pending AOF fsync: %s; commands over 2 ms: %s\n",
    $delayed // '?', $slow;
# the slowest: [id, when, microseconds, command...]
my @sl = split /\n/, `$rcli SLOWLOG GET 10`;
for (my $i = 0; $i + 3 < @sl; ) {
    my ($us, $cmd) = ($sl[$i + 2], $sl[$i + 3]);
    printf "    %7.2f ms  %s\n", $us / 1000, $cmd if $us =~ /^\d+$/;
    $i++;
    $i++ while $i < @sl && !($sl[$i] =~ /^\d+$/ && $i + 1 < @sl && $sl[$i + 1] =~ /^\d{9,}$/);
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
