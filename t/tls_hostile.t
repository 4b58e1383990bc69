#!/usr/bin/env perl
# The certificate callback and the shared table against hostile names and
# rows: two names of the same crc32 both served, a name taken over by
# another tenant (its generation numbered from 1 again) served with the new
# tenant's certificate at once, a row of garbage DER, SNI names of 253+1 and
# 255 octets, upper case, a trailing dot, octets outside ASCII, a thousand
# unknown names (neither cache nor zone grows), reloads while handshakes
# run.  One worker, so that its cache is the one every handshake meets.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Time::HiRes qw(sleep);
use POSIX ();

my $t = Helpdesk::Test->new(workers => 1)->start_stack;
my $d = $t->dir;
my $tls = Helpdesk::Test::free_port();
my $strict = Helpdesk::Test::free_port();

my $pki = "$d/pki";
mkdir $pki;
sub sh { my $out = `$_[0] 2>&1`; die "$_[0]: $out" if $?; $out }
sub slurp { open my $fh, '<', $_[0] or die "$_[0]: $!"; local $/; <$fh> }
sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3 "
   . "-subj '/CN=Hostile Test CA' -keyout $pki/ca.key -out $pki/ca.crt");
my $n = 0;
sub leaf {
    my ($name) = @_;
    my $f = "$pki/" . ++$n;
    sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=x "
       . "-keyout $f.key -out $f.csr");
    open my $e, '>', "$f.ext" or die $!;
    print $e "subjectAltName=DNS:$name\n";
    close $e;
    sh("openssl x509 -req -in $f.csr -CA $pki/ca.crt -CAkey $pki/ca.key -CAcreateserial "
       . "-days 2 -extfile $f.ext -out $f.crt");
    my $fp = lc sh("openssl x509 -in $f.crt -noout -fingerprint -sha256");
    $fp =~ s/.*=//; $fp =~ s/[:\s]//g;
    return { crt => slurp("$f.crt"), key => slurp("$f.key"),
             chain => slurp("$f.crt") . slurp("$pki/ca.crt"), fp => $fp };
}
my $fallback = leaf('fallback.test');
sh("cp $pki/1.crt $pki/fallback.crt && cp $pki/1.key $pki/fallback.key");
chmod 0755, $pki;
chmod 0644, glob("$pki/*");

my $http = "helpdesk_base_domain portal.test;
    helpdesk_tls_store zone=helpdesk_tls:1m dir=$d/tlsstore sync=200ms cache=50;
    server {
        listen 127.0.0.1:$tls ssl;
        ssl_certificate $pki/fallback.crt;
        ssl_certificate_key $pki/fallback.key;
        ssl_session_cache off;
        ssl_session_tickets off;
        helpdesk_tls_certificates;
        location / { return 200 ok; }
    }
    server {
        listen 127.0.0.1:$strict ssl;
        ssl_certificate $pki/fallback.crt;
        ssl_certificate_key $pki/fallback.key;
        ssl_session_cache off;
        ssl_session_tickets off;
        helpdesk_tls_certificates unknown=reject;
        location / { return 200 ok; }
    }";
$t->start_nginx(http => $http);

my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $pk = $t->auth($t->provider_key);

sub add_domain {
    my ($tenant, $host) = @_;
    my $tx = $t->ua->post($t->url("/v1/provider/tenants/$tenant->{id}/domains") => $pk
                          => json => { hostname => $host, verified => \1 });
    is $tx->res->code, 201, "$host added" or diag $tx->res->body;
}
sub put_cert {
    my ($tenant, $host, $c) = @_;
    my $res = $t->ua->put($t->url("/v1/provider/tenants/$tenant->{id}/domains/$host/certificate")
                          => $pk => json => { certificate => $c->{chain}, private_key => $c->{key} })->res;
    is $res->code, 200, "$host: certificate imported" or diag $res->body;
}
# the fingerprint of the certificate served for $name ('' when refused);
# $name is given to the shell as printf(1) reads it (\NNN octal)
sub served {
    my ($name, $port) = @_;
    $port //= $tls;
    my $out = `timeout 10 openssl s_client -connect 127.0.0.1:$port -servername "\$(printf '$name')" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null`;
    my ($fp) = $out =~ /=([0-9A-Fa-f:]+)/;
    return '' unless $fp;
    $fp =~ s/://g;
    return lc $fp;
}
# the node has read everything the database has
sub synced {
    my $st;
    return until_true(sub { $st = $t->ua->get($t->url('/v1/provider/tls') => $pk)->res->json;
                            $st->{node}{synced_seq} && $st->{node}{synced_seq} == $st->{database}{newest_seq} }, 10)
        ? $st : undef;
}

# two names of the same crc32 (the key of both trees), the second one
# sorting before the first
my ($first, $second) = ('oijkgjm9.example.com', 'o3a59da7.example.com');
my %c = ($first => leaf($first), $second => leaf($second));
for my $h ($first, $second) {
    add_domain($acme, $h);
    put_cert($acme, $h, $c{$h});
    ok synced(), "the node has read $h";
}
is served($first), $c{$first}{fp}, "$first: its certificate";
is served($second), $c{$second}{fp}, "$second (the same crc32): its own certificate too";
is served($second), $c{$second}{fp}, 'again (from the cache)';
is served($first), $c{$first}{fp}, "and $first still";
is served($second, $strict), $c{$second}{fp}, 'unknown=reject knows it too';
my $st = synced();
is $st->{node}{entries}, 2, 'two entries in the zone, not more';

# a name released by one tenant and taken by another: the new tenant's
# certificate (generation 1 again) at once, never the cached old one
my $moved = 'moved.example.com';
my $old = leaf($moved);
my $new = leaf($moved);
add_domain($acme, $moved);
put_cert($acme, $moved, $old);
ok synced(), 'synced';
is served($moved), $old->{fp}, "$moved: acme's certificate (now in the worker's cache)";
is $t->ua->delete($t->url("/v1/provider/tenants/$acme->{id}/domains/$moved") => $pk)->res->code,
   204, 'acme releases it';
ok synced(), 'the tombstone read';
add_domain($globex, $moved);
put_cert($globex, $moved, $new);
$st = synced();
is $t->psql(qq{SELECT generation FROM helpdesk.tls_certificates
               WHERE hostname = '$moved' AND tenant_id = '$globex->{id}'}), 1,
   "globex's certificate is generation 1 too";
sleep 1.2;      # past the cache's once-a-second look at the zone
is served($moved), $new->{fp}, "globex's certificate is served, not acme's from the cache";

# the former owner's row changes again (acme takes the name back up, or
# its row goes): its tombstone comes past globex's certificate, and must
# not remove globex's file, which a restart with PostgreSQL down serves
ok -e "$d/tlsstore/$moved.tls", "globex's file written";
$t->psql(qq{SELECT tls.domain_set('$acme->{id}', '$moved', 'pending_dns', NULL)});
ok synced(), "acme's tombstone read after globex's certificate";
ok -e "$d/tlsstore/$moved.tls", "globex's file is not removed by acme's tombstone";
like slurp("$d/tlsstore/$moved.tls"), qr/^helpdesk-tls 1 \d+ 1 \d+ \Q$globex->{id}\E\n/,
     'and still names globex';
$t->stop_nginx;
$t->stop_pg;
$t->start_nginx(http => $http);
is until_true(sub { served($moved) eq $new->{fp} }, 10), 1,
   "restarted with PostgreSQL down: globex's certificate served from its file";
$t->start_pg;
$t->psql(qq{SELECT tls.domain_set('$acme->{id}', '$moved', 'released', 'removed')});
ok synced(), 'synced again';

# SNI names at and past the limits
my $l63 = 'a' x 63;
my $n253 = join('.', $l63, $l63, $l63, 'b' x 61);     # 253 octets
is length($n253), 253, 'a name of 253 octets';
add_domain($acme, $n253);
my $long = leaf($n253);
put_cert($acme, $n253, $long);
ok synced(), 'synced';
is served($n253), $long->{fp}, 'a name of 253 octets: served';
is served("$n253."), $long->{fp}, 'with a trailing dot (254 octets): served';
is served("$n253.", $strict), $long->{fp}, 'and by unknown=reject';
is served(uc($first) . '.'), $c{$first}{fp}, 'upper case and a trailing dot: served';
is served("a$n253"), $fallback->{fp}, '254 octets, no dot: the fallback';
is served("ab$n253"), $fallback->{fp}, '255 octets: the fallback';
is served("ab$n253", $strict), '', 'refused by unknown=reject';
is served('\303\251t\303\251.example.com'), $fallback->{fp}, 'octets outside ASCII: the fallback';
is served('\377\376.example.com', $strict), '', 'refused by unknown=reject';

# a row of garbage DER (and a chain of a wrong key): the fallback, no crash
my $gk = $t->psql(qq{SELECT key_sealed FROM helpdesk.tls_certificates
                     WHERE hostname = '$first' ORDER BY generation DESC LIMIT 1});
$t->psql(qq{SELECT tls.cert_store('$acme->{id}', '$first', ARRAY['\\x3082ffff0000deadbeef'::bytea],
            '$gk', now(), now() + interval '1 day', 'provider')});
ok synced(), 'the garbage row read';
sleep 1.2;
is served($first), $fallback->{fp}, 'garbage DER: the fallback certificate';
is served($first), $fallback->{fp}, 'again';
like $t->error_log, qr/certificate of "\Q$first\E" (is too large or has no chain|does not parse)/,
     'the garbage is logged';
my $k2 = $t->psql(qq{SELECT key_sealed FROM helpdesk.tls_certificates
                     WHERE hostname = '$second' ORDER BY generation DESC LIMIT 1});
$t->psql(qq{SELECT tls.cert_store('$acme->{id}', '$first',
            (SELECT chain_der FROM helpdesk.tls_certificates WHERE hostname = '$first'
             ORDER BY generation LIMIT 1), '$gk', now(), now() + interval '1 day', 'provider')});
ok synced(), 'a good row again';
sleep 1.2;
is served($first), $c{$first}{fp}, 'served again';

# a thousand unknown names: neither the worker's cache nor the zone grows
sub rss { my ($pid) = $t->worker_pids; my $s = slurp("/proc/$pid/status"); $s =~ /VmRSS:\s+(\d+)/; $1 }
served("warm$_.example.org") for 1 .. 50;
my $rss0 = rss();
system("seq 1 1000 | xargs -P 2 -I{} sh -c 'timeout 10 openssl s_client -connect 127.0.0.1:$tls "
       . "-servername u{}.unknown.example.org </dev/null >/dev/null 2>&1'");
my $rss1 = rss();
SKIP: {
    # AddressSanitizer keeps freed memory in its quarantine: no figure
    skip 'sanitizers change the figures', 1 if ($ENV{HELPDESK_NGINX} // '') =~ /asan/;
    cmp_ok $rss1 - $rss0, '<', 4096, "1000 unknown names: the worker's RSS grew by less than 4 MB ($rss0 -> $rss1 kB)";
}
$st = synced();
is $st->{node}{entries}, 4, 'the zone still has its four names';
is served($first), $c{$first}{fp}, 'and serves them';

# reloads while handshakes run
my $pid = fork // die;
if (!$pid) {
    my $end = time + 6;
    while (time < $end) {
        system("timeout 5 openssl s_client -connect 127.0.0.1:$tls -servername $second </dev/null >/dev/null 2>&1");
    }
    POSIX::_exit(0);     # not exit: the stack belongs to the parent
}
for my $i (1 .. 3) {
    my @old = $t->worker_pids;
    kill 'HUP', $t->nginx_pid;
    ok until_true(sub { my @p = $t->worker_pids; @p == 1 && !grep { my $x = $_; grep { $_ == $x } @old } @p }, 15),
       "reload $i while handshakes run";
    sleep 0.5;
}
waitpid $pid, 0;
is until_true(sub { served($second) eq $c{$second}{fp} }, 10), 1, "served after the reloads"
    or diag join "\n", (split /\n/, $t->error_log)[-30 .. -1];

$t->done;
