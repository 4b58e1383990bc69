#!/usr/bin/env perl
# The portal over TLS: each tenant's name gets its own certificate (SNI)
# and its own portal; a request whose Host is not the name the connection
# was opened for is refused with 421; HSTS and Secure cookies.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test;

my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;
my $tls = Helpdesk::Test::free_port();

# a certificate per name, as the certificate store will keep them
mkdir "$d/certs";
for my $name (qw(acme.portal.test globex.portal.test)) {
    my $out = `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \\
               -subj /CN=$name -addext subjectAltName=DNS:$name \\
               -keyout $d/certs/$name.key -out $d/certs/$name.crt 2>&1`;
    die "openssl: $out" if $?;
    chmod 0644, "$d/certs/$name.key", "$d/certs/$name.crt";
}
chmod 0755, "$d/certs";

$t->start_nginx(http => "helpdesk_base_domain portal.test;
    server {
        listen 127.0.0.1:$tls ssl;
        ssl_certificate $d/certs/\$ssl_server_name.crt;
        ssl_certificate_key $d/certs/\$ssl_server_name.key;
        location / { helpdesk_portal; }
    }");
$t->create_tenant('acme');
$t->create_tenant('globex');

sub curl {
    my ($name, $path, @args) = @_;
    my $out = `curl -s -i --max-time 10 --resolve $name:$tls:127.0.0.1 --cacert $d/certs/$name.crt @args https://$name:$tls$path 2>&1`;
    return ($? >> 8, $out);
}

for my $name (qw(acme.portal.test globex.portal.test)) {
    my ($rc, $out) = curl($name, '/_/api/boot');
    is $rc, 0, "$name: the TLS handshake verifies against its own certificate";
    like $out, qr{^HTTP/1\.1 200}, "$name: 200";
    my ($slug) = $name =~ /^(\w+)/;
    like $out, qr{"slug": "$slug"}, "$name: its own portal";
}

my ($rc, $out);
($rc) = `curl -s -o /dev/null --max-time 10 --resolve acme.portal.test:$tls:127.0.0.1 --cacert $d/certs/globex.portal.test.crt https://acme.portal.test:$tls/ 2>&1; echo \$?` =~ /(\d+)\s*$/;
isnt $rc, 0, "acme's name is not served with globex's certificate";

($rc, $out) = curl('acme.portal.test', '/_/api/boot', '-H', "'Host: globex.portal.test'");
like $out, qr{^HTTP/1\.1 421}, 'a Host other than the SNI name: 421';
like $out, qr{misdirected-request}, 'as a problem document';
unlike $out, qr{"slug"}, "and no tenant's data";

($rc, $out) = curl('acme.portal.test', '/');
like $out, qr{^Strict-Transport-Security: max-age=31536000}mi, 'HSTS over TLS';
like $out, qr{^Set-Cookie: hd_csrf=[0-9a-f]{64}; Path=/; Max-Age=\d+; SameSite=Lax; Secure}mi, 'cookies are Secure';

($rc) = `curl -s -o /dev/null --max-time 10 --resolve unknown.portal.test:$tls:127.0.0.1 -k https://unknown.portal.test:$tls/ 2>&1; echo \$?` =~ /(\d+)\s*$/;
isnt $rc, 0, 'a name with no certificate gets no handshake';

$t->done;
