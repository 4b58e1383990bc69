#!/usr/bin/env perl
# The configurations the repository ships pass nginx -t with the module
# built here: conf/nginx-production.conf with its paths moved into the
# test's directory (certificates and key files made here), and
# conf/nginx-dev.conf as `make run` renders it, with and without the
# automatic TLS part (Pebble installed or not).  The production file's
# catch-all keeps a static fallback and takes tenants' certificates from
# the store; port 80 answers HTTP-01 behind limit_req.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test;
use File::Path qw(make_path);

my $t = Helpdesk::Test->new;
my $d = $t->dir;
my $top = $Helpdesk::Test::TOP;
my $module = $ENV{HELPDESK_MODULE} // "$top/build/ngx_http_helpdesk_module.so";
my $nginx = $ENV{HELPDESK_NGINX} // 'nginx';

sub sh { my $out = `$_[0] 2>&1`; die "$_[0]: $out" if $?; $out }
sub slurp { open my $fh, '<', $_[0] or die "$_[0]: $!"; local $/; <$fh> }
sub spew { open my $fh, '>', $_[0] or die "$_[0]: $!"; print $fh $_[1]; close $fh }
sub cert {
    my ($crt, $key) = @_;
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
       . "-subj /CN=test -keyout $key -out $crt");
}
sub nginx_t {
    my ($conf) = @_;
    my $out = `$nginx -t -p $d -c $conf 2>&1`;
    return ($? >> 8, $out);
}

# --- production ----------------------------------------------------------------------------
my $p = "$d/prod";
make_path("$p/ssl", "$p/etc", "$p/log", "$p/lib");
cert("$p/ssl/fullchain.pem", "$p/ssl/privkey.pem");
cert("$p/ssl/agents-wildcard.pem", "$p/ssl/agents-wildcard.key");
cert("$p/ssl/portals-wildcard.pem", "$p/ssl/portals-wildcard.key");
spew("$p/etc/provider.key", 'hdp_' . ('p' x 32) . "\n");
spew("$p/etc/secret.keys", "k1 " . sh('openssl rand -base64 32'));
chmod 0600, "$p/etc/provider.key", "$p/etc/secret.keys";

my $prod = slurp("$top/conf/nginx-production.conf");
like $prod, qr{server\s*\{\s*listen\s+443\s+ssl\s+http2\s+default_server;\s*
              ssl_certificate\s+/etc/ssl/provider/portals-wildcard\.pem;\s*
              ssl_certificate_key\s+\S+;\s*helpdesk_tls_certificates;}x,
     'the catch-all keeps the provider\'s wildcard as its fallback and takes the store\'s certificates';
unlike $prod, qr/\$ssl_server_name\.crt;/, 'no certificate files by name any more';
like $prod, qr{listen 80 default_server;.*?location / \{\s*limit_req zone=port80[^;]*;\s*helpdesk_acme_challenge;}s,
     'port 80: HTTP-01 behind limit_req';
like $prod, qr{^\s*helpdesk_acme directory=https://acme-v02\.api\.letsencrypt\.org/directory}m,
     'Let\'s Encrypt production';
like $prod, qr{^\s*#\s*helpdesk_acme directory=https://acme-staging-v02}m, 'staging beside it, commented';

(my $conf = $prod) =~ s{/usr/lib/nginx/modules/ngx_http_helpdesk_module\.so}{$module};
$conf =~ s{/etc/ssl/provider/}{$p/ssl/}g;
$conf =~ s{/etc/nginx/helpdesk/}{$p/etc/}g;
$conf =~ s{/var/log/nginx/}{$p/log/}g;
$conf =~ s{/run/nginx\.pid}{$p/nginx.pid};
$conf =~ s{/var/lib/nginx/helpdesk-tls}{$p/lib/tls};
$conf =~ s{^user www-data;}{}m if $> != 0;
unlike join('', grep { !/^\s*#/ } split /^/, $conf), qr{ /(etc/ssl|etc/nginx|var/log|var/lib|run/nginx)}, 'every path moved into the test\'s directory';
spew("$p/nginx.conf", $conf);
my ($rc, $out) = nginx_t("$p/nginx.conf");
is $rc, 0, 'nginx -t: conf/nginx-production.conf' or diag $out;

# the same with the old catch-all (certificate files by name) and the
# store's callback: refused, as docs/operations.md's rollout says
(my $mixed = $conf) =~ s{ssl_certificate\s+\Q$p\E/ssl/portals-wildcard\.pem;}{ssl_certificate /etc/ssl/helpdesk/\$ssl_server_name.crt;};
spew("$p/mixed.conf", $mixed);
($rc, $out) = nginx_t("$p/mixed.conf");
isnt $rc, 0, 'nginx -t: helpdesk_tls_certificates with a certificate by variable is refused';
like $out, qr/helpdesk_tls_certificates/, 'naming the directive' or diag $out;

# --- the dev configuration, as make run renders it -----------------------------------------
my $v = "$d/var";
make_path("$v/tls", "$v/pebble", "$v/log", "$v/run", "$v/tmp", "$v/mail-sink");
cert("$v/tls/fallback.crt", "$v/tls/fallback.key");
cert("$v/pebble/ca.pem", "$v/pebble/ca.key");
cert("$v/mail-sink/cert.pem", "$v/mail-sink/key.pem");
spew("$v/provider.key", 'hdp_' . ('d' x 32) . "\n");
spew("$v/secret.keys", "k1 " . sh('openssl rand -base64 32'));
chmod 0600, "$v/provider.key", "$v/secret.keys";
my $dev = slurp("$top/conf/nginx-dev.conf");
for my $variant (['TLS', 'with Pebble'], ['NOTLS', 'without Pebble']) {
    my ($keep, $what) = @$variant;
    my $drop = $keep eq 'TLS' ? 'NOTLS' : 'TLS';
    (my $c = $dev) =~ s{^\s*# \@$drop\{\n.*?^\s*# \@$drop\}\n}{}msg;
    $c =~ s/\@VAR\@/$v/g;
    $c =~ s/\@MODULE\@/$module/g;
    $c =~ s/\@USER\@/$> == 0 ? 'user nobody nogroup;' : ''/e;
    unlike $c, qr/\@$drop\{/, "dev conf $what: the other part left out";
    my $n = () = $c =~ /^\s*helpdesk_custom_domains /mg;
    is $n, 1, "dev conf $what: one helpdesk_custom_domains";
    like $c, qr/helpdesk_acme_challenge/, "dev conf $what: port 8080 answers HTTP-01" if $keep eq 'TLS';
    unlike $c, qr/helpdesk_acme\b/, "dev conf $what: no ACME" if $keep eq 'NOTLS';
    spew("$v/nginx-$keep.conf", $c);
    ($rc, $out) = nginx_t("$v/nginx-$keep.conf");
    is $rc, 0, "nginx -t: conf/nginx-dev.conf $what" or diag $out;
}

done_testing;
