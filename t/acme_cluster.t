#!/usr/bin/env perl
# Two nginx instances (two workers each) on one PostgreSQL and one Redis,
# both running the DNS check and ACME jobs against one Pebble: node 1 on
# 127.0.0.1, node 2 on 127.0.0.2, the same ports.  Each name's A record
# sends Pebble's HTTP-01 validation to one node or the other, whichever
# node ordered it (the answer is stateless: any node computes it from the
# account).  Exactly one newOrder per name reaches the CA across both
# nodes, one account is made, an order is worked by one node only, and
# both nodes serve every certificate from their own sync (their own
# node-local files).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Pebble;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

plan skip_all => '127.0.0.2 is not usable here'
    unless IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.2', LocalPort => 0, Proto => 'tcp');

my $t = Helpdesk::Test->new;
my $p80 = Helpdesk::Test::free_port();
my $ca = Helpdesk::Pebble->new(http_port => $p80, validity => 3600,
                               env => { PEBBLE_WFE_NONCEREJECT => 0 });
$t->start_stack;
my $d = $t->dir;
my $tls = Helpdesk::Test::free_port();
my $zone = 'custom.provider.test';


my ($pki, $ca_file) = $ca->node_pki($d);
my $directory = $ca->directory_url;
my $dns = $ca->dns_port;

$t->start_nginx(http => $ca->nginx_http(dir => $d, pki => $pki, ca_file => $ca_file, p80 => $p80, tls => $tls,
                                     zone => $zone, edge => '127.0.0.1,127.0.0.2', store => 'tlsstore1'));

# node 2: the same configuration on 127.0.0.2 (the API on another port),
# its own pid, logs and node-local certificate files
my $port1 = $t->port;
my $port2 = Helpdesk::Test::free_port();
my $nginx = $ENV{HELPDESK_NGINX} // 'nginx';
{
    open my $in, '<', "$d/nginx.conf" or die $!;
    my $conf = do { local $/; <$in> };
    $conf =~ s/127\.0\.0\.1:$port1\b/127.0.0.1:$port2/g;
    $conf =~ s/port=$port1\b/port=$port2/g;
    $conf =~ s/listen 127\.0\.0\.1:$p80;/listen 127.0.0.2:$p80;/ or die 'p80';
    $conf =~ s/listen 127\.0\.0\.1:$tls ssl/listen 127.0.0.2:$tls ssl/ or die 'tls';
    $conf =~ s{$d/tlsstore1}{$d/tlsstore2} or die 'store';
    $conf =~ s{$d/run/nginx\.pid}{$d/run/nginx2.pid};
    $conf =~ s{$d/log/error\.log}{$d/log/error2.log};
    $conf =~ s{$d/log/access\.log}{$d/log/access2.log};
    open my $out, '>', "$d/nginx2.conf" or die $!;
    print $out $conf;
    close $out;
    system("$nginx -p $d -c $d/nginx2.conf") == 0 or die 'second node';
    until_true(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port2") }, 10) or die 'node 2 not listening';
}
sub node2_pid { open my $fh, '<', "$d/run/nginx2.pid" or return; my $p = <$fh>; chomp $p; $p }
sub slurp { open my $fh, '<', $_[0] or return ''; local $/; <$fh> }

my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});

sub get { $ua->get($t->url("/v1/domains/$_[0]") => $h)->res->json // {} }
sub status { get($_[0])->{status} // '' }
sub subject_at {
    my ($addr, $host) = @_;
    return scalar `echo | timeout 10 openssl s_client -connect $addr:$tls -servername $host 2>/dev/null | openssl x509 -noout -issuer -subject -serial 2>&1`;
}

# six names, proven by TXT; their addresses: three lead to node 1, three to node 2
my %addr;
my @names = map { "help.shop$_.test" } 1 .. 6;
for my $i (0 .. $#names) {
    my $host = $names[$i];
    $addr{$host} = $i % 2 ? '127.0.0.2' : '127.0.0.1';
    $ca->add_a($host, $addr{$host});
}
for my $host (@names) {
    # added half on each node's API
    my $url = $addr{$host} eq '127.0.0.1' ? $t->url('/v1/domains') : "http://127.0.0.1:$port2/api/v1/domains";
    my $tx = $ua->post($url => $h => json => { hostname => $host });
    is $tx->res->code, 201, "$host added" or diag $tx->res->body;
    my $txt = $tx->res->json->{dns};
    $ca->set_txt($txt->{name}, $txt->{value});
}
for my $host (@names) {
    # the records set after the first check: checked again now
    is $ua->post($t->url("/v1/domains/$host/check") => $h)->res->code, 202, "$host: check now";
}

ok until_true(sub { !grep { status($_) ne 'active' } @names }, 60), 'all six issued'
    or diag explain { map { ($_ => status($_)) } @names };

is $ca->count(qr{POST /order-plz}), 6, 'exactly one newOrder per name at the CA, across both nodes';
is $ca->count(qr{POST /sign-me-up}), 1, 'one newAccount';
is $t->psql("SELECT count(*) FROM helpdesk_meta.acme_accounts"), 1, 'one account row';
is $t->psql("SELECT count(*) FROM helpdesk.tls_certificates WHERE source = 'acme'"), 6, 'six certificates stored';

# who ordered, who answered the challenge
my ($log1, $log2) = ($t->error_log, slurp("$d/log/error2.log"));
my ($acc1, $acc2) = (slurp("$d/log/access.log"), slurp("$d/log/access2.log"));
my ($cross, $own, $both) = (0, 0, 0);
for my $host (@names) {
    my $o1 = () = $log1 =~ /helpdesk acme: issue order for \Q$host\E at step/g;
    my $o2 = () = $log2 =~ /helpdesk acme: issue order for \Q$host\E at step/g;
    $both++ if $o1 && $o2;
    my $orderer = $o1 ? 1 : 2;
    my $validator = $addr{$host} eq '127.0.0.1' ? 1 : 2;
    ok $log1 =~ /order \S+ for \Q$host\E/ || $log2 =~ /order \S+ for \Q$host\E/, "$host: ordered by node $orderer";
    $orderer == $validator ? $own++ : $cross++;
}
ok scalar(() = $acc1 =~ m{ 200 "GET /\.well-known/acme-challenge/}g) >= 3, 'node 1 answered the challenges of its three names';
ok scalar(() = $acc2 =~ m{ 200 "GET /\.well-known/acme-challenge/}g) >= 3, 'node 2 answered the challenges of its three names';
cmp_ok $cross, '>=', 1, "$cross of 6 validated on the node that did not order them (stateless HTTP-01), $own on the one that did";
is $both, 0, 'no order was worked by both nodes';

# both nodes serve every certificate, each from its own sync
for my $host (@names) {
    ok until_true(sub { subject_at('127.0.0.1', $host) =~ /Pebble Intermediate/ }, 10), "node 1 serves $host";
    ok until_true(sub { subject_at('127.0.0.2', $host) =~ /Pebble Intermediate/ }, 10), "node 2 serves $host";
    my ($s1) = subject_at('127.0.0.1', $host) =~ /serial=(\S+)/;
    my ($s2) = subject_at('127.0.0.2', $host) =~ /serial=(\S+)/;
    is $s1, $s2, "$host: the same certificate on both";
}
for my $n (1, 2) {
    my @files = glob("$d/tlsstore$n/*.tls");
    is scalar(@files), 6, "node $n wrote its own six node-local files";
}
like subject_at('127.0.0.2', 'unknown.test'), qr/fallback\.test/, 'an unknown name: the fallback on node 2';

# node 2 stopped, its log checked like node 1's
{
    my $pid = node2_pid();
    kill 'QUIT', $pid if $pid;
    until_true(sub { !Helpdesk::Test::alive($pid) }, 10);
    my @bad = grep { /\[(alert|emerg)\]|exited on signal|exited with code [1-9]/ }
              split /\n/, slurp("$d/log/error2.log");
    ok !@bad, 'no alerts on node 2' or diag join "\n", @bad;
}

$t->done;
