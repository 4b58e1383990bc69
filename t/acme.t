#!/usr/bin/env perl
# Automatic TLS against Pebble (Helpdesk::Pebble): a tenant's domain added
# through the API and proven (CNAME in the mock DNS, the domain marked
# verified), the module's ACME client orders, answers HTTP-01 on its plain
# HTTP port, finalizes and stores the certificate; the catch-all TLS server
# serves it (openssl s_client sees Pebble's issuer, curl with Pebble's root
# gets the portal); Pebble restarted (its accounts gone) with half of its
# nonces refused still issues; a released name is revoked and never served
# again.  Port 80: the challenge answers only a waiting token, any Host;
# other paths redirect only names that serve.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test;
use Helpdesk::Pebble;
use Time::HiRes qw(sleep time);

my $t = Helpdesk::Test->new;
my $p80 = Helpdesk::Test::free_port();
my $ca = Helpdesk::Pebble->new(http_port => $p80, validity => 3600,
                               env => { PEBBLE_WFE_NONCEREJECT => 0 });
$t->start_stack;
my $d = $t->dir;
my $tls = Helpdesk::Test::free_port();

# polls every half second (each look runs psql or openssl)
sub wait_for {
    my ($cond, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        my $v = $cond->();
        return $v if $v;
        sleep 0.5;
    }
    return $cond->();
}


my ($pki, $ca_file) = $ca->node_pki($d);

my $directory = $ca->directory_url;

# nginx -t: ACME wants the secret key file (keys are stored sealed)
$t->write_conf(secret_key_file => '',
               http => "helpdesk_acme directory=$directory contact=ops\@provider.test;");
my ($rc, $out) = $t->nginx_test;
isnt $rc, 0, 'nginx -t: helpdesk_acme without helpdesk_secret_key_file is refused';
like $out, qr/"helpdesk_secret_key_file"/, 'with the reason';

$t->write_conf(http => "helpdesk_acme directory=ftp://x contact=ops\@provider.test;");
($rc, $out) = $t->nginx_test;
isnt $rc, 0, 'nginx -t: a directory that is no http(s) URL is refused';

$t->write_conf(http => "helpdesk_acme directory=$directory contact=nobody;");
($rc, $out) = $t->nginx_test;
isnt $rc, 0, 'nginx -t: a contact that is no address is refused';

$t->write_conf(http => "helpdesk_acme directory=$directory contact=a\@b.test orders=5;");
($rc, $out) = $t->nginx_test;
isnt $rc, 0, 'nginx -t: orders= wants <count>/<time>';

my $http = $ca->nginx_http(dir => $d, pki => $pki, ca_file => $ca_file, p80 => $p80, tls => $tls);

$t->start_nginx(http => $http);

my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $pk = $t->auth($t->provider_key);

sub add_domain {
    my ($tenant, $host) = @_;
    my $tx = $t->ua->post($t->url('/v1/domains') => $t->auth($tenant->{key})
                          => json => { hostname => $host });
    is $tx->res->code, 201, "$host added through the API" or diag $tx->res->body;
    $ca->set_cname($host, 't-x.custom.provider.test');
    # the DNS check job's verdict
    $t->psql("SELECT tls.domain_set('$tenant->{id}', '$host', 'verified', NULL)");
}

sub status { $t->psql("SELECT status FROM helpdesk.portal_domains WHERE hostname = '$_[0]'") }

sub issuer_of {
    my ($host) = @_;
    my $o = `echo | timeout 10 openssl s_client -connect 127.0.0.1:$tls -servername $host 2>/dev/null | openssl x509 -noout -issuer -subject -serial 2>&1`;
    return $o;
}

# --- port 80 before anything: hostile tokens, unknown names
sub p80 {
    my ($path, %h) = @_;
    my $host = $h{host} // 'nowhere.test';
    my $m = $h{method} // 'GET';
    my $o = `curl -s -o /dev/null -X $m -w '%{http_code} %{redirect_url}' -H 'Host: $host' 'http://127.0.0.1:$p80$path' 2>&1`;
    return $o;
}

like p80('/.well-known/acme-challenge/short'), qr/^404/, 'a token under 16 characters: 404';
like p80('/.well-known/acme-challenge/' . ('a' x 129)), qr/^404/, 'a token over 128 characters: 404';
like p80('/.well-known/acme-challenge/aaaaaaaaaaaaaaaa%2E%2E'), qr/^404/, 'an escaped token: 404';
like p80('/.well-known/acme-challenge/aaaaaaaaaaaaaaaa.bbb'), qr/^404/, 'a dot in the token: 404';
like p80('/.well-known/acme-challenge/aaaaaaaaaaaaaaaaaaaa?x=1'), qr/^404/, 'arguments: 404';
like p80('/.well-known/acme-challenge/aaaaaaaaaaaaaaaaaaaa'), qr/^404/, 'a token nobody waits on: 404';
like p80('/.well-known/acme-challenge/aaaaaaaaaaaaaaaaaaaa', method => 'POST'), qr/^405/, 'POST: 405';
like p80('/', host => 'nowhere.test'), qr/^404/, 'an unknown name is not redirected';
like p80('/x?y=1', host => 'acme.portal.test'), qr{^301 https://acme\.portal\.test/x\?y=1$},
     'a base name is redirected to https, path and query kept';

# --- the happy path
add_domain($acme, 'help.acme-shop.test');
like p80('/', host => 'help.acme-shop.test'), qr/^404/, 'not redirected before it is active';

ok wait_for(sub { status('help.acme-shop.test') eq 'active' }, 60),
   'issued: the domain is active' or diag(status('help.acme-shop.test'), "\n",
       $t->psql("SELECT step || ' ' || coalesce(last_problem::text, '') FROM helpdesk.acme_orders"),
       "\n", join('', grep { /acme/ } `cat $d/log/error.log`));
is $t->psql("SELECT count(*) FROM helpdesk.tls_certificates WHERE hostname = 'help.acme-shop.test' AND source = 'acme'"),
   1, 'one certificate stored, from ACME';
is $t->psql("SELECT step FROM helpdesk.acme_orders WHERE hostname = 'help.acme-shop.test'"),
   'done', 'the order is done';
is $ca->count(qr{POST /order-plz}), 1, 'exactly one newOrder at the CA';

ok wait_for(sub { issuer_of('help.acme-shop.test') =~ /Pebble Intermediate/ }, 10),
   'openssl s_client sees a certificate issued by Pebble' or diag issuer_of('help.acme-shop.test');
like issuer_of('help.acme-shop.test'), qr/subject=CN = help\.acme-shop\.test/, 'for the name';
like issuer_of('other.test'), qr/fallback\.test/, 'another name gets the fallback';

my $root = $ca->root_file;
my $page = `curl -s -S --max-time 10 --cacert $root --resolve help.acme-shop.test:$tls:127.0.0.1 -o /dev/null -w '%{http_code}' https://help.acme-shop.test:$tls/ 2>&1`;
is $page, '200', 'curl with Pebble\'s root gets the portal over the new certificate';

like p80('/tickets', host => 'help.acme-shop.test'), qr{^301 https://help\.acme-shop\.test/tickets$},
     'now active: port 80 redirects it';

# hostile port 80: HEAD, a long target, odd Hosts, clients that leave
# before the answer (run under make asan too)
my $head = `curl -s -I -H 'Host: help.acme-shop.test' http://127.0.0.1:$p80/x 2>&1`;
like $head, qr{^HTTP/1.1 301.*^Location: https://help\.acme-shop\.test/x\r?$}ms, 'HEAD: 301 with its Location';
my $long = '/' . ('a' x 6000);
like p80($long, host => 'help.acme-shop.test'), qr{^301 https://help\.acme-shop\.test/a{6000}$},
     'a 6000-byte target is redirected whole';
like p80('/', host => 'x' x 300), qr/^(400|404)/, 'a 300-character Host: not redirected';
like p80('/', host => 'help.acme-shop.test:99999'), qr/^(400|404|301)/, 'a Host with a port answers';
like p80('/', host => "help.acme-shop.test\x{1}"), qr/^(400|404)/, 'a Host with a control character: refused';
for my $i (1 .. 20) {
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p80") or next;
    my $path = $i % 2 ? '/.well-known/acme-challenge/aaaaaaaaaaaaaaaaaaaa' : '/gone';
    print $c "GET $path HTTP/1.1\r\nHost: help.acme-shop.test\r\n\r\n";
    close $c;
}
sleep 1;
like p80('/y', host => 'help.acme-shop.test'), qr{^301 }, 'after twenty clients left mid-request, port 80 answers';

my $key = $t->psql("SELECT key_sealed FROM helpdesk.tls_certificates WHERE hostname = 'help.acme-shop.test'");
like $key, qr/^v1:/, 'the certificate key is stored sealed';
like $t->psql("SELECT key_sealed FROM helpdesk_meta.acme_accounts"), qr/^v1:/,
     'the account key is stored sealed';
like $t->psql("SELECT thumbprint FROM helpdesk_meta.acme_accounts"), qr/^[A-Za-z0-9_-]{43}$/,
     'with its thumbprint';

# --- Pebble restarted (accounts, orders and root gone), half of its
# nonces refused: the account is made again with the same key, and the
# order still goes through
$ca->restart(env => { PEBBLE_WFE_NONCEREJECT => 50 });
add_domain($globex, 'support.globex-corp.test');
ok wait_for(sub { status('support.globex-corp.test') eq 'active' }, 90),
   'after a restart, with 50% of nonces refused: issued' or diag(status('support.globex-corp.test'), "\n",
       $t->psql("SELECT hostname || ' ' || step || ' ' || attempts || ' due ' || (due_at - now()) || ' '"
                . " || coalesce(last_problem::text, '') FROM helpdesk.acme_orders"), "\n",
       $t->psql("SELECT hostname || ' ' || to_char(at, 'MI:SS.MS') || ' ' || outcome || ' '"
                . " || coalesce(problem_type, '') FROM helpdesk.acme_attempts ORDER BY at"), "\n",
       join('', grep { /acme/ } `cat $d/log/error.log`));
ok scalar(grep { /badNonce from .* retried/ } `cat $d/log/error.log`),
   'badNonce answers were retried';
$root = $ca->root_file;
ok wait_for(sub { issuer_of('support.globex-corp.test') =~ /Pebble Intermediate/ }, 10),
   'and served';

# --- another tenant's token: while an order waits, its answer is the
# token's and no other's (stateless, any Host)
# (the order is held by a lease of no node and due in an hour: the job
# neither works it nor, the name having no domain row, fails it first)
$t->psql("INSERT INTO helpdesk.acme_orders (tenant_id, hostname, kind, step, token, account_id,
                                            lease_token, lease_until, due_at)
          SELECT '$globex->{id}', 'wait.globex-corp.test', 'issue', 'validating',
                 'tokentokentoken_globex', account_id, gen_random_uuid(),
                 now() + interval '1 hour', now() + interval '1 hour'
          FROM helpdesk_meta.acme_accounts");
my $thumb = $t->psql("SELECT thumbprint FROM helpdesk_meta.acme_accounts");
my $body = `curl -s -H 'Host: help.acme-shop.test' http://127.0.0.1:$p80/.well-known/acme-challenge/tokentokentoken_globex`;
is $body, "tokentokentoken_globex.$thumb", 'a waiting token is answered on any Host, with its own key authorization';
$t->psql("UPDATE helpdesk.acme_orders SET step = 'done' WHERE hostname = 'wait.globex-corp.test'");
like p80('/.well-known/acme-challenge/tokentokentoken_globex'), qr/^404/, 'once done: 404';

# --- released: revoked at the CA, never served again
my ($serial) = issuer_of('support.globex-corp.test') =~ /serial=([0-9A-F]+)/;
my $tx = $t->ua->delete($t->url('/v1/domains/support.globex-corp.test') => $t->auth($globex->{key}));
ok $tx->res->code =~ /^20[04]$/, 'the domain deleted through the API' or diag $tx->res->code, $tx->res->body;
ok wait_for(sub { $t->psql("SELECT count(*) FROM helpdesk.tls_certificates WHERE hostname = 'support.globex-corp.test' AND revoked_at IS NOT NULL") > 0 }, 30),
   'its certificate is revoked' or diag $t->psql("SELECT kind || ' ' || step || ' ' || coalesce(last_problem::text,'') FROM helpdesk.acme_orders WHERE hostname = 'support.globex-corp.test'");
my $st = $serial ? $ca->cert_status($serial) : undef;
is $st && $st->{Status}, 'Revoked', 'Pebble says revoked';
ok wait_for(sub { issuer_of('support.globex-corp.test') =~ /fallback\.test/ }, 10),
   'and it is never served again';

$t->done;

