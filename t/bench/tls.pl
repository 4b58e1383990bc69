#!/usr/bin/env perl
# make bench BENCH_ONLY=tls (also alone: perl t/bench/tls.pl, after
# `make` and the client's build): full TLS 1.3 handshakes on one nginx
# worker, in one run, three ways:
#   a  one static certificate (ssl_certificate a file)
#   b  helpdesk_tls_certificates, 1,000 names imported through the
#      provider's API, SNI round-robin over them
#   c  ssl_certificate $ssl_server_name.crt: 1,000 files, read and parsed
#      by nginx at every handshake (the way before the callback)
# The worker is pinned to CPU 0, the client (t/bench/tls_handshake.c) to
# CPU 1.  Rounds a, b, c interleaved (BENCH_TLS_ROUNDS, 3) of
# BENCH_SECONDS (5) each; the median of each.  Prints handshakes/s, the
# worker's CPU per handshake (/proc/<pid>/stat), p50/p99 latency, b/a and
# b/c.  All names share one P-256 key (the parse cost is the same).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Helpdesk::Test;
use POSIX qw(sysconf _SC_CLK_TCK);

my $client = $ENV{BENCH_TLS_CLIENT} // "$Helpdesk::Test::TOP/build/bench/tls_handshake";
die "$client is missing: make bench builds it\n" unless -x $client;

my $names = $ENV{BENCH_TLS_NAMES} // 1000;
my $rounds = $ENV{BENCH_TLS_ROUNDS} // 3;
my $seconds = $ENV{BENCH_SECONDS} // 5;
my $conns = $ENV{BENCH_TLS_CONNECTIONS} // 16;
my $tck = sysconf(_SC_CLK_TCK);

my $t = Helpdesk::Test->new(workers => 1)->start_stack;
my $d = $t->dir;
my $pki = "$d/pki";
mkdir $pki;
mkdir "$pki/files";

sub sh { my $out = `$_[0] 2>&1`; die "$_[0]: $out" if $?; $out }
sub slurp { open my $fh, '<', $_[0] or die "$_[0]: $!"; local $/; <$fh> }

print "making $names certificates ...\n";
sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3 "
   . "-subj '/CN=Helpdesk Bench CA' -keyout $pki/ca.key -out $pki/ca.crt");
sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench "
   . "-keyout $pki/leaf.key -out $pki/leaf.csr");
my @names = map { sprintf 'site%04d.bench.example', $_ } 1 .. $names;
open my $nf, '>', "$d/names.txt" or die;
print $nf "$_\n" for @names;
close $nf;
my $key = slurp("$pki/leaf.key");
my $ca = slurp("$pki/ca.crt");
for my $name (@names) {
    open my $e, '>', "$pki/ext" or die;
    print $e "subjectAltName=DNS:$name\n";
    close $e;
    sh("openssl x509 -req -in $pki/leaf.csr -CA $pki/ca.crt -CAkey $pki/ca.key "
       . "-CAcreateserial -days 2 -extfile $pki/ext -out $pki/files/$name.crt");
    open my $k, '>', "$pki/files/$name.key" or die;
    print $k $key;
    close $k;
}
# the same chain as the callback serves (leaf and CA): the same bytes on the wire
sh("cat $pki/files/$names[0].crt $pki/ca.crt > $pki/static.crt && cp $pki/leaf.key $pki/static.key");
sh("chmod -R a+rX $pki");

my %port = map { $_ => Helpdesk::Test::free_port() } qw(a b c);
my $common = "ssl_protocols TLSv1.3; ssl_session_cache off; ssl_session_tickets off;";
$t->write_conf;
my $conf = $t->conf(http => "
    helpdesk_tls_store zone=helpdesk_tls:32m dir=$d/tlsstore sync=1s cache=" . ($names + 10) . ";
    server {
        listen 127.0.0.1:$port{a} ssl;
        ssl_certificate $pki/static.crt;
        ssl_certificate_key $pki/static.key;
        $common
        location / { return 204; }
    }
    server {
        listen 127.0.0.1:$port{b} ssl;
        ssl_certificate $pki/static.crt;
        ssl_certificate_key $pki/static.key;
        $common
        helpdesk_tls_certificates;
        location / { return 204; }
    }
    server {
        listen 127.0.0.1:$port{c} ssl;
        ssl_certificate $pki/files/\$ssl_server_name.crt;
        ssl_certificate_key $pki/files/\$ssl_server_name.key;
        $common
        location / { return 204; }
    }");
$conf =~ s/worker_processes \d+;/worker_processes 1;\nworker_cpu_affinity 01;/;
$conf =~ s/worker_connections \d+;/worker_connections 4096;/;
$conf =~ s/error_log (\S+) info;/error_log $1 warn;/;
$t->start_nginx(text => $conf);

my $tenant = $t->create_tenant('bench');
my $pk = $t->auth($t->provider_key);
print "importing $names certificates ...\n";
for my $name (@names) {
    my $res = $t->ua->post($t->url("/v1/provider/tenants/$tenant->{id}/domains") => $pk
                           => json => { hostname => $name, verified => \1 })->res;
    die "domain $name: " . $res->body unless $res->code == 201;
    $res = $t->ua->put($t->url("/v1/provider/tenants/$tenant->{id}/domains/$name/certificate")
                       => $pk => json => { certificate => slurp("$pki/files/$name.crt") . $ca,
                                           private_key => $key })->res;
    die "certificate $name: " . $res->body unless $res->code == 200;
}
# every name in the zone (worker 0 syncs every second)
Helpdesk::Test::until_true(sub {
    my $last = $names[-1];
    `timeout 5 openssl s_client -connect 127.0.0.1:$port{b} -servername $last </dev/null 2>/dev/null`
        =~ /CN\s*=\s*Helpdesk Bench CA/ && `ls $d/tlsstore | wc -l` >= $names;
}, 60) or die "the certificates were not synced\n";

my ($worker) = $t->worker_pids;

sub cpu {
    open my $fh, '<', "/proc/$worker/stat" or die $!;
    my @f = split ' ', (<$fh> =~ s/^.*\) //r);
    return ($f[11] + $f[12]) / $tck;        # utime + stime, seconds
}

sub run {
    my ($mode, $secs) = @_;
    my $c0 = cpu();
    my $out = `taskset -c 1 $client 127.0.0.1 $port{$mode} $d/names.txt $secs $conns`;
    my $c1 = cpu();
    my %r = $out =~ /(\w+)=([\d.]+)/g;
    die "client: $out" unless $r{handshakes};
    return { hs => $r{handshakes} / $r{seconds}, cpu_ms => 1000 * ($c1 - $c0) / $r{handshakes},
             p50 => $r{p50_us}, p99 => $r{p99_us}, failed => $r{failed} };
}

# a cold first pass of b: every name parsed once by the worker
my $cold = run('b', 2);
printf "b cold pass (first parse of each name): %.0f handshakes/s, %.3f ms CPU each\n",
       $cold->{hs}, $cold->{cpu_ms};

my %all;
for my $r (1 .. $rounds) {
    for my $mode (qw(a b c)) {
        my $x = run($mode, $seconds);
        push @{$all{$mode}}, $x;
        printf "round %d %s: %.0f handshakes/s, %.3f ms CPU/handshake, p50 %d us, p99 %d us%s\n",
               $r, $mode, $x->{hs}, $x->{cpu_ms}, $x->{p50}, $x->{p99},
               $x->{failed} ? ", $x->{failed} failed" : '';
    }
}

sub median { my @s = sort { $a <=> $b } @_; $s[$#s / 2] }
my %m;
for my $mode (qw(a b c)) {
    $m{$mode} = { map { my $k = $_; $k => median(map { $_->{$k} } @{$all{$mode}}) } qw(hs cpu_ms p50 p99) };
}

my %what = (a => 'one static certificate', b => "callback, $names names",
            c => "\$ssl_server_name files, $names names");
print "\nTLS 1.3 full handshakes, 1 worker (CPU 0), client on CPU 1, $conns connections, median of $rounds x $seconds s:\n";
printf "  %s %-34s %8.0f handshakes/s  %.3f ms CPU/handshake  p50 %d us  p99 %d us\n",
       $_, $what{$_}, @{$m{$_}}{qw(hs cpu_ms p50 p99)} for qw(a b c);
printf "  b/a handshakes/s: %.2f (target >= 0.9)   b/c: %.2f\n",
       $m{b}{hs} / $m{a}{hs}, $m{b}{hs} / $m{c}{hs};
printf "  b/a CPU per handshake: %.2f   c/b: %.2f\n",
       $m{b}{cpu_ms} / $m{a}{cpu_ms}, $m{c}{cpu_ms} / $m{b}{cpu_ms};

$t->stop_nginx;
