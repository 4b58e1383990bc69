#!/usr/bin/env perl
# Certificates of tenants' own names, served by the module's certificate
# callback (helpdesk_tls_certificates) from the node's shared table
# (helpdesk_tls_store): imported through the provider's API, seen by
# `openssl s_client -servername`; a new generation served by every worker
# without a reload; unknown, revoked, expired and released names never get
# a tenant's certificate; PostgreSQL down, a reload, a restart with
# PostgreSQL down (from the node's files) keep serving; Host != SNI is 421;
# hostile imports refused.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Mojo::JSON qw(encode_json);
use Time::HiRes qw(sleep);

my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;
my $tls = Helpdesk::Test::free_port();
my $strict = Helpdesk::Test::free_port();
# under valgrind (make memcheck): one process, slower; a reload is a restart
my $vg = $ENV{HELPDESK_VALGRIND};
my $slow = $vg ? 5 : 1;
my $reuseport = $vg ? '' : ' reuseport';

# a test CA, the server's own certificate, and certificates for the names
my $pki = "$d/pki";
mkdir $pki;
sub sh { my $out = `$_[0] 2>&1`; die "$_[0]: $out" if $?; $out }
sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3 "
   . "-subj '/CN=Helpdesk Test CA' -keyout $pki/ca.key -out $pki/ca.crt");

my $n = 0;
sub leaf {
    my ($name, $san, %opt) = @_;
    my $f = "$pki/$name." . ++$n;
    sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=$name "
       . "-keyout $f.key -out $f.csr");
    open my $e, '>', "$f.ext" or die $!;
    print $e "subjectAltName=DNS:" . ($san // $name) . "\n";
    close $e;
    sh("openssl x509 -req -in $f.csr -CA $pki/ca.crt -CAkey $pki/ca.key -CAcreateserial "
       . "-days 2 -extfile $f.ext -out $f.crt");
    my $fp = lc sh("openssl x509 -in $f.crt -noout -fingerprint -sha256");
    $fp =~ s/.*=//; $fp =~ s/[:\s]//g;
    return { crt => slurp("$f.crt"), key => slurp("$f.key"),
             chain => slurp("$f.crt") . slurp("$pki/ca.crt"), fp => $fp };
}
sub slurp { open my $fh, '<', $_[0] or die "$_[0]: $!"; local $/; <$fh> }

my $fallback = leaf('fallback.test');
open my $fc, '>', "$pki/fallback.crt" or die; print $fc $fallback->{crt}; close $fc;
open my $fk, '>', "$pki/fallback.key" or die; print $fk $fallback->{key}; close $fk;
my $named = leaf('named.test');
open my $nc, '>', "$pki/named.crt" or die; print $nc $named->{crt}; close $nc;
open my $nk, '>', "$pki/named.key" or die; print $nk $named->{key}; close $nk;
chmod 0755, $pki;
chmod 0644, glob("$pki/*");

my $http = "helpdesk_base_domain portal.test;
    helpdesk_tls_store zone=helpdesk_tls:1m dir=$d/tlsstore sync=300ms cache=100;
    server {
        listen 127.0.0.1:$tls ssl$reuseport;
        ssl_certificate $pki/fallback.crt;
        ssl_certificate_key $pki/fallback.key;
        ssl_session_cache off;
        ssl_session_tickets off;
        helpdesk_tls_certificates;
        location / { helpdesk_portal; }
    }
    server {
        listen 127.0.0.1:$strict ssl;
        ssl_certificate $pki/fallback.crt;
        ssl_certificate_key $pki/fallback.key;
        helpdesk_tls_certificates unknown=reject;
        location / { return 200 ok; }
    }
    server {
        listen 127.0.0.1:$strict ssl;
        server_name named.test;
        ssl_certificate $pki/named.crt;
        ssl_certificate_key $pki/named.key;
        location / { return 200 named; }
    }";

# nginx -t refuses the callback on a server with variable certificates
$t->write_conf(http => "helpdesk_tls_store zone=z:1m dir=$d/tlsstore;
    server {
        listen 127.0.0.1:$tls ssl;
        ssl_certificate $pki/\$ssl_server_name.crt;
        ssl_certificate_key $pki/\$ssl_server_name.key;
        helpdesk_tls_certificates;
    }");
my ($rc, $out) = $t->nginx_test;
isnt $rc, 0, 'nginx -t: variable certificates and the callback are refused';
like $out, qr/cannot be used with variables/, 'with the reason';

$t->write_conf(http => "server {
        listen 127.0.0.1:$tls ssl;
        ssl_certificate $pki/fallback.crt;
        ssl_certificate_key $pki/fallback.key;
        helpdesk_tls_certificates;
    }");
($rc, $out) = $t->nginx_test;
isnt $rc, 0, 'nginx -t: the callback needs helpdesk_tls_store';

$t->start_nginx(http => $http);

my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $pk = $t->auth($t->provider_key);

for ([$acme, 'a.example.com'], [$acme, 'b.example.com'], [$globex, 'g.example.com']) {
    my $tx = $t->ua->post($t->url("/v1/provider/tenants/$_->[0]{id}/domains") => $pk
                          => json => { hostname => $_->[1], verified => \1 });
    is $tx->res->code, 201, "domain $_->[1] added" or diag $tx->res->body;
}

sub put_cert {
    my ($tenant, $host, $body) = @_;
    return $t->ua->put($t->url("/v1/provider/tenants/$tenant->{id}/domains/$host/certificate")
                       => $pk => json => $body)->res;
}

# the certificate a handshake for $name gets on $port ('' when it fails)
sub served {
    my ($name, $port) = @_;
    $port //= $tls;
    my $out = `timeout @{[10 * $slow]} openssl s_client -connect 127.0.0.1:$port -servername $name </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null`;
    my ($fp) = $out =~ /=([0-9A-Fa-f:]+)/;
    return '' unless $fp;
    $fp =~ s/://g;
    return lc $fp;
}

my %cert = (a => leaf('a.example.com'), b => leaf('b.example.com'), g => leaf('g.example.com'));

for (['a', $acme], ['b', $acme], ['g', $globex]) {
    my ($k, $tenant) = @$_;
    my $res = put_cert($tenant, "$k.example.com",
                       { certificate => $cert{$k}{chain}, private_key => $cert{$k}{key} });
    is $res->code, 200, "$k.example.com: certificate imported" or diag $res->body;
    is $res->json->{generation}, 1, 'generation 1';
    is $res->json->{fingerprint}, $cert{$k}{fp}, 'the summary has its SHA-256 fingerprint';
    like $res->json->{issuer}, qr/CN=Helpdesk Test CA/, 'and its issuer';
    like $res->json->{serial}, qr/^[0-9A-F]+$/, 'and serial';
}

my $sealed = $t->psql(q{SELECT string_agg(key_sealed, ' ') FROM helpdesk.tls_certificates});
unlike $sealed, qr/PRIVATE KEY/, 'the keys are stored sealed only';
like $sealed, qr/^v1:/, 'under the secret ring';

for my $k (qw(a b g)) {
    is until_true(sub { served("$k.example.com") eq $cert{$k}{fp} }, 10 * $slow), 1,
       "$k.example.com: its own certificate is served";
}
is served('A.Example.COM'), $cert{a}{fp}, 'the SNI name is compared in lower case';

# the operator's view: GET /v1/provider/tls
my $tlsurl = $t->url('/v1/provider/tls');
is $t->ua->get($tlsurl)->res->code, 401, 'GET /v1/provider/tls without the provider key: 401';
is $t->ua->get($tlsurl => $t->auth($acme->{key}))->res->code, 401, "with a tenant's key: 401";
is $t->ua->post($t->url("/v1/provider/tenants/$acme->{id}/domains") => $pk
                => json => { hostname => 'n.example.com', verified => \1 })->res->code, 201,
   'n.example.com added, no certificate';
my $st;
ok until_true(sub { $st = $t->ua->get($tlsurl => $pk)->res->json;
                    $st->{node}{synced_seq} && $st->{node}{synced_seq} == $st->{database}{newest_seq} }, 10 * $slow),
   "the node's sync has read the database's newest seq" or diag explain $st;
ok $st->{node}{configured}, 'the node has a zone';
is $st->{node}{entries}, 3, 'with three names';
is $st->{node}{zone_size}, 1024 * 1024, 'its size';
ok $st->{node}{zone_used} > 0 && $st->{node}{zone_used} < $st->{node}{zone_size}, "and what it uses ($st->{node}{zone_used})";
like $st->{node}{synced_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'when it synced';
is $st->{node}{error}, undef, 'no error';
is $st->{database}{serving_names}, 4, 'four names serve';
is $st->{missing_count}, 1, 'one without a certificate';
is_deeply [map { "$_->{hostname} $_->{status}" } @{ $st->{missing} }], ['n.example.com active'], 'named';
is $st->{expiring_count}, 3, 'the two-day certificates expire within 14 days';
is_deeply [sort map { $_->{hostname} } @{ $st->{expiring} }], [qw(a.example.com b.example.com g.example.com)],
   'each named';
is served('unknown.example.com'), $fallback->{fp}, 'an unknown name: the fallback certificate';
is served('acme.portal.test'), $fallback->{fp}, "the provider's own names: the server's certificate";
is served('a.example.com', $strict), $cert{a}{fp}, 'unknown=reject serves the known names';
is served('unknown.example.com', $strict), '', 'and refuses the handshake of an unknown one';
# the alert a refused handshake ends with ('' when there was none)
sub alert {
    my ($name, $port) = @_;
    my $out = `timeout @{[10 * $slow]} openssl s_client -connect 127.0.0.1:$port -servername $name </dev/null 2>&1`;
    my ($n) = $out =~ /alert number (\d+)/;
    return $n // '';
}
is alert('unknown.example.com', $strict), 112, 'with the alert unrecognized_name';
is alert('a.example.com', $strict), '', 'a known name: no alert';
is served('named.test', $strict), $named->{fp}, "a named server on the same address keeps its own certificate";
is served('acme.portal.test', $strict), $fallback->{fp}, "the provider's own names: the server's certificate";
like $t->error_log, qr/no certificate for the name "unknown\.example\.com": handshake refused \(unrecognized_name\)/,
     'the refusal is logged';

ok -e "$d/tlsstore/a.example.com.tls", "the node's file is written";
unlike slurp("$d/tlsstore/a.example.com.tls"), qr/PRIVATE KEY/, 'with its key sealed';

# Host != SNI
$out = `curl -s -i -k --max-time 10 --resolve a.example.com:$tls:127.0.0.1 -H 'Host: b.example.com' https://a.example.com:$tls/_/api/boot 2>&1`;
like $out, qr{^HTTP/1\.1 421}, 'a Host other than the SNI name: 421';
$out = `curl -s -i --max-time 10 --cacert $pki/ca.crt --resolve a.example.com:$tls:127.0.0.1 https://a.example.com:$tls/_/api/boot 2>&1`;
like $out, qr{^HTTP/1\.1 200}, "the tenant's portal, verified against the test CA";
like $out, qr{"slug": "acme"}, "acme's";

# hostile imports
my $res = put_cert($acme, 'a.example.com', { certificate => $cert{a}{chain}, private_key => $cert{b}{key} });
is $res->code, 422, 'a key of another certificate: 422';
like $res->body, qr/not the certificate's/, 'with the reason';
$res = put_cert($acme, 'a.example.com', { certificate => $cert{b}{chain}, private_key => $cert{b}{key} });
is $res->code, 422, "another name's certificate: 422";
like $res->body, qr/not for this name/, 'with the reason';
$res = put_cert($acme, 'a.example.com', { certificate => "-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n", private_key => $cert{a}{key} });
is $res->code, 422, 'garbage PEM: 422';
$res = put_cert($acme, 'a.example.com', { certificate => $cert{a}{crt} . ($cert{b}{crt} x 10), private_key => $cert{a}{key} });
is $res->code, 422, '11 certificates: 422';
like $res->body, qr/more than 10/, 'with the reason';
$res = put_cert($acme, 'a.example.com', { certificate => $cert{a}{chain}, private_key => 'x' x (2 * 1024 * 1024) });
is $res->code, 413, 'a 2 MB body: 413';
$res = put_cert($globex, 'a.example.com', { certificate => $cert{a}{chain}, private_key => $cert{a}{key} });
is $res->code, 404, "acme's name through globex's id: 404";
my $nowhere = leaf('nowhere.example.com');
$res = put_cert($acme, 'nowhere.example.com', { certificate => $nowhere->{chain}, private_key => $nowhere->{key} });
is $res->code, 404, 'a name the tenant does not have: 404';
$res = put_cert($acme, 'a.example.com', { certificate => $cert{a}{chain} });
is $res->code, 422, 'no key: 422';
$res = $t->ua->put($t->url("/v1/provider/tenants/$acme->{id}/domains/a.example.com/certificate")
                   => json => { certificate => $cert{a}{chain}, private_key => $cert{a}{key} })->res;
is $res->code, 401, 'without the provider key: 401';
is $t->psql(q{SELECT max(generation) FROM helpdesk.tls_certificates WHERE hostname = 'a.example.com'}), 1,
   'none of them stored a certificate';

# a new generation: every worker serves it, no reload
my $a2 = leaf('a.example.com');
$res = put_cert($acme, 'a.example.com', { certificate => $a2->{chain}, private_key => $a2->{key} });
is $res->json->{generation}, 2, 'a new certificate: generation 2';
is until_true(sub { served('a.example.com') eq $a2->{fp} }, 10 * $slow), 1, 'served';
sleep 1.2;      # past the once-a-second check of every worker's cache
my %seen;
$seen{served('a.example.com')}++ for 1 .. 16;
is_deeply [keys %seen], [$a2->{fp}], 'every handshake (both workers) gets generation 2';
SKIP: {
    skip 'one process under valgrind', 1 if $vg;
    is scalar(my @w = $t->worker_pids), 2, 'two workers';
}

# nginx stopped; under valgrind, its log (written again at each start)
# checked now
sub stop_nginx {
    $t->stop_nginx;
    return unless $vg;
    my $v = slurp("$d/log/valgrind.log");
    my ($errors) = $v =~ /ERROR SUMMARY: (\d+) errors/;
    is $errors, 0, 'valgrind: no memory errors in the nginx that stopped' or diag $v;
}

# a reload: new workers (under valgrind, one process, that cannot reload
# as workers do: a restart, which runs the same full sync at start)
sub reload {
    my ($name) = @_;
    if ($vg) {
        stop_nginx();
        $t->start_nginx(http => $http);
        return pass("$name (restarted under valgrind)");
    }
    my @old = $t->worker_pids;
    kill 'HUP', $t->nginx_pid;
    ok until_true(sub { my @p = $t->worker_pids; @p == 2 && !grep { my $x = $_; grep { $_ == $x } @old } @p }, 15),
       $name;
}

# revoked: never served again
$t->psql(qq{SELECT tls.cert_revoke('$acme->{id}', 'b.example.com')});
is until_true(sub { served('b.example.com') eq $fallback->{fp} }, 10 * $slow), 1,
   'a revoked certificate is not served';

# expired (as the database says): the callback stops serving it
$t->psql(q{UPDATE helpdesk.tls_certificates SET not_after = now() + interval '3 seconds',
                  seq = nextval('helpdesk.tls_seq') WHERE hostname = 'g.example.com'});
sleep 4.5;
is served('g.example.com'), $fallback->{fp}, 'an expired certificate is not served';
$t->psql(q{UPDATE helpdesk.tls_certificates SET not_after = now() + interval '1 day',
                  seq = nextval('helpdesk.tls_seq') WHERE hostname = 'g.example.com'});
is until_true(sub { served('g.example.com') eq $cert{g}{fp} }, 10 * $slow), 1, 'served again once valid';

# a released (deleted) domain: a tombstone
my $tx = $t->ua->delete($t->url("/v1/provider/tenants/$globex->{id}/domains/g.example.com") => $pk);
is $tx->res->code, 204, 'g.example.com deleted';
is until_true(sub { served('g.example.com') eq $fallback->{fp} }, 10 * $slow), 1,
   "a deleted domain's certificate is not served";
ok until_true(sub { !-e "$d/tlsstore/g.example.com.tls" }, 5 * $slow), 'and its file is removed';

# PostgreSQL down: served; a reload keeps the table
$t->stop_pg;
is served('a.example.com'), $a2->{fp}, 'PostgreSQL down: still served';
reload('reloaded: new workers');
is until_true(sub { served('a.example.com') eq $a2->{fp} }, 10 * $slow), 1,
   'after the reload (PostgreSQL still down): served';
is served('b.example.com'), $fallback->{fp}, 'the revoked one still is not';

# a restart with PostgreSQL down: from the node's files
sub logged { my @m = $t->error_log =~ /$_[0]/g; scalar @m }
my ($failed, $again) = (logged(qr/cannot read the certificates/), logged(qr/sync works again/));
stop_nginx();
$t->start_nginx(http => $http);
is until_true(sub { served('a.example.com') eq $a2->{fp} }, 10 * $slow), 1,
   'restarted with PostgreSQL down: served from the files';
is served('b.example.com'), $fallback->{fp}, 'no file for the revoked one';
like $t->error_log, qr/certificate\(s\) loaded from/, 'the files were loaded';

ok until_true(sub { logged(qr/cannot read the certificates/) > $failed }, 10 * $slow),
   "the restarted node's sync fails while PostgreSQL is down";
$t->start_pg;
is until_true(sub { logged(qr/sync works again/) > $again }, 15 * $slow), 1, 'the sync resumes with PostgreSQL';
# the API's own connections may still be coming back: ask until it answers
until_true(sub { $st = $t->ua->get($tlsurl => $pk)->res->json; $st && $st->{node} }, 10 * $slow);
like $st->{node}{failed_at}, qr/^\d{4}-/, "the status shows the sync's last failure";
like $st->{node}{error}, qr/\S/, 'and why' or diag explain $st->{node};
ok until_true(sub { $st = $t->ua->get($tlsurl => $pk)->res->json;
                    ($st->{node}{synced_at} // '') ge $st->{node}{failed_at} }, 10 * $slow), 'and a success after it';
is served('a.example.com'), $a2->{fp}, 'and serves the same';

# key rotation: the keys in PostgreSQL are re-sealed under the new key by
# the module's rotation; the node's files are written again under it by
# the full sync of the reload that brings the key in
sub keyfile { open my $f, '<', "$d/secret.keys" or die; local $/; <$f> }
sub sealed_file { my ($l) = (slurp($_[0]) =~ /\n(v1:[^:]+):/); $l // '' }
my ($t1) = split /\n/, keyfile();
like $t1, qr/^t1 /, 'the stack seals under t1';
is sealed_file("$d/tlsstore/a.example.com.tls"), 'v1:t1', "the node's file is sealed under t1";
$t->secret_keys($t->new_secret_key('t2'), $t1);
reload('reloaded with t2 first in the key file');
$out = `$FindBin::Bin/../src/tools/rotate-secrets.sh @{[$t->url('')]} $d/provider.key t2 30 2>&1`;
is $?, 0, 'the rotation tool sees every secret under t2' or diag $out;
is $t->psql(q{SELECT string_agg(DISTINCT split_part(key_sealed, ':', 2), ',') FROM helpdesk.tls_certificates}),
   't2', "the certificates' keys are sealed under t2";
is until_true(sub { sealed_file("$d/tlsstore/a.example.com.tls") eq 'v1:t2' }, 10 * $slow), 1,
   "the node's file is sealed under t2 after the reload's full sync";
my ($t2) = grep { /^t2 / } split /\n/, keyfile();
$t->secret_keys($t2);
stop_nginx();
$t->start_nginx(http => $http);
is until_true(sub { served('a.example.com') eq $a2->{fp} }, 10 * $slow), 1,
   't1 gone, restarted with PostgreSQL up: the name still gets its own certificate';
unlike $t->error_log, qr/does not decrypt|does not open/, 'every key and file opens with t2 alone';
($failed, $again) = (logged(qr/cannot read the certificates/), logged(qr/sync works again/));
stop_nginx();
$t->stop_pg;
$t->start_nginx(http => $http);
is until_true(sub { served('a.example.com') eq $a2->{fp} }, 10 * $slow), 1,
   't1 gone, restarted with PostgreSQL down: served from the files sealed under t2';
ok until_true(sub { logged(qr/cannot read the certificates/) > $failed }, 10 * $slow),
   "the node's sync fails while PostgreSQL is down";
$t->start_pg;
is until_true(sub { logged(qr/sync works again/) > $again }, 15 * $slow), 1, 'the sync resumes';

# a full sync drops the names the database no longer has at all (no row,
# not even a tombstone): their entries and their files
stop_nginx();
$t->psql(q{DELETE FROM helpdesk.tls_certificates WHERE hostname = 'a.example.com'});
ok -e "$d/tlsstore/a.example.com.tls", "a.example.com's file is still on disk, its rows gone";
$t->start_nginx(http => $http);
is until_true(sub { served('a.example.com') eq $fallback->{fp} }, 10 * $slow), 1,
   'restarted with PostgreSQL up: a name with no row left is not served';
ok until_true(sub { !-e "$d/tlsstore/a.example.com.tls" }, 5 * $slow), 'and its file is removed';
like $t->error_log, qr/"a\.example\.com" is no longer in the database/, 'which is logged';

$t->done;
