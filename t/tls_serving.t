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

# Until the domains' functions are merged, stand-ins with their contract:
# a domain serves when it is verified (active), a status moves through
# tls.domain_set.
$t->psql(q{
    CREATE OR REPLACE FUNCTION tls.serving(p_status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$ SELECT p_status IN ('verified', 'active', 'dns_broken') $$;
    CREATE OR REPLACE FUNCTION tls.domain_set(p_tenant uuid, p_host text, p_status text, p_reason text)
    RETURNS helpdesk.portal_domains LANGUAGE sql AS $$
        UPDATE helpdesk.portal_domains SET verified_at = coalesce(verified_at, now())
        WHERE tenant_id = p_tenant AND hostname = p_host RETURNING * $$;
}) unless $t->psql(q{SELECT to_regprocedure('tls.domain_set(uuid,text,text,text)') IS NOT NULL}) eq 't';

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
chmod 0755, $pki;
chmod 0644, glob("$pki/*");

my $http = "helpdesk_base_domain portal.test;
    helpdesk_tls_store zone=helpdesk_tls:1m dir=$d/tlsstore sync=300ms cache=100;
    server {
        listen 127.0.0.1:$tls ssl reuseport;
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
    my $out = `timeout 10 openssl s_client -connect 127.0.0.1:$port -servername $name </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null`;
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
    is until_true(sub { served("$k.example.com") eq $cert{$k}{fp} }, 10), 1,
       "$k.example.com: its own certificate is served";
}
is served('A.Example.COM'), $cert{a}{fp}, 'the SNI name is compared in lower case';
is served('unknown.example.com'), $fallback->{fp}, 'an unknown name: the fallback certificate';
is served('acme.portal.test'), $fallback->{fp}, "the provider's own names: the server's certificate";
is served('a.example.com', $strict), $cert{a}{fp}, 'unknown=reject serves the known names';
is served('unknown.example.com', $strict), '', 'and refuses the handshake of an unknown one';

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
is until_true(sub { served('a.example.com') eq $a2->{fp} }, 10), 1, 'served';
sleep 1.2;      # past the once-a-second check of every worker's cache
my %seen;
$seen{served('a.example.com')}++ for 1 .. 16;
is_deeply [keys %seen], [$a2->{fp}], 'every handshake (both workers) gets generation 2';
my @pids = $t->worker_pids;
is scalar(@pids), 2, 'two workers';

# revoked: never served again
$t->psql(qq{SELECT tls.cert_revoke('$acme->{id}', 'b.example.com')});
is until_true(sub { served('b.example.com') eq $fallback->{fp} }, 10), 1,
   'a revoked certificate is not served';

# expired (as the database says): the callback stops serving it
$t->psql(q{UPDATE helpdesk.tls_certificates SET not_after = now() + interval '3 seconds',
                  seq = nextval('helpdesk.tls_seq') WHERE hostname = 'g.example.com'});
sleep 4.5;
is served('g.example.com'), $fallback->{fp}, 'an expired certificate is not served';
$t->psql(q{UPDATE helpdesk.tls_certificates SET not_after = now() + interval '1 day',
                  seq = nextval('helpdesk.tls_seq') WHERE hostname = 'g.example.com'});
is until_true(sub { served('g.example.com') eq $cert{g}{fp} }, 10), 1, 'served again once valid';

# a released (deleted) domain: a tombstone
my $tx = $t->ua->delete($t->url("/v1/provider/tenants/$globex->{id}/domains/g.example.com") => $pk);
is $tx->res->code, 204, 'g.example.com deleted';
is until_true(sub { served('g.example.com') eq $fallback->{fp} }, 10), 1,
   "a deleted domain's certificate is not served";
ok until_true(sub { !-e "$d/tlsstore/g.example.com.tls" }, 5), 'and its file is removed';

# PostgreSQL down: served; a reload keeps the table
$t->stop_pg;
is served('a.example.com'), $a2->{fp}, 'PostgreSQL down: still served';
kill 'HUP', $t->nginx_pid;
ok until_true(sub { my @p = $t->worker_pids; @p == 2 && !grep { my $x = $_; grep { $_ == $x } @pids } @p }, 15),
   'reloaded: new workers';
is served('a.example.com'), $a2->{fp}, 'after the reload (PostgreSQL still down): served';
is served('b.example.com'), $fallback->{fp}, 'the revoked one still is not';

# a restart with PostgreSQL down: from the node's files
$t->stop_nginx;
$t->start_nginx(http => $http);
is until_true(sub { served('a.example.com') eq $a2->{fp} }, 10), 1,
   'restarted with PostgreSQL down: served from the files';
is served('b.example.com'), $fallback->{fp}, 'no file for the revoked one';
like $t->error_log, qr/certificate\(s\) loaded from/, 'the files were loaded';

$t->start_pg;
is until_true(sub { $t->error_log =~ /sync works again/ }, 15), 1, 'the sync resumes with PostgreSQL';
is served('a.example.com'), $a2->{fp}, 'and serves the same';

$t->done;
