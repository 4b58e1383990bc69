#!/usr/bin/env perl
# The whole way of a tenant's domain with nothing arranged in SQL: the DNS
# check job (against pebble-challtestsrv's DNS) proves the CNAME the tenant
# set, the ACME client orders from Pebble, HTTP-01 is answered on the plain
# HTTP port, the certificate is stored and served.  The webhook sees every
# transition; port 80 redirects the name only once it is active, never the
# challenge path.  A failing gate (CAA naming another CA, an address that
# is not ours) sends no order to the CA and says why through the API; once
# the gate passes the name is issued.  Pebble restarted while it holds an
# order in validation: the order is made again (the same account key) and
# completes.  Pebble publishes no CAA identities: the check's CAA gate keeps
# its default (letsencrypt.org), and the identities a directory does publish
# are stored with the account and used by the gate (t/sql part at the end).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Pebble;
use Helpdesk::FakeHTTP;
use Mojo::JSON qw(decode_json);
use Time::HiRes qw(sleep time);

my $t = Helpdesk::Test->new;
my $p80 = Helpdesk::Test::free_port();
my $ca = Helpdesk::Pebble->new(http_port => $p80, validity => 3600,
                               env => { PEBBLE_WFE_NONCEREJECT => 0 });
my $fake = Helpdesk::FakeHTTP->new->mount('/hooks' => 'webhook');
$t->start_stack;
my $d = $t->dir;
my $tls = Helpdesk::Test::free_port();
my $dns = $ca->dns_port;
my $zone = 'custom.provider.test';


my ($pki, $ca_file) = $ca->node_pki($d);
my $directory = $ca->directory_url;

$t->start_nginx(http => $ca->nginx_http(dir => $d, pki => $pki, ca_file => $ca_file, p80 => $p80, tls => $tls,
                                     zone => $zone));

my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
(my $hex = $acme->{id}) =~ s/-//g;
my $target = "t-$hex.$zone";

is $ua->post($t->url('/v1/webhooks') => $h => json => {
    url => $fake->url('/hooks/helpdesk'), events => ['domain.status_changed'] })->res->code, 201,
    'a webhook for domain.status_changed';

sub add {
    my ($host) = @_;
    my $tx = $ua->post($t->url('/v1/domains') => $h => json => { hostname => $host });
    is $tx->res->code, 201, "$host added through the API" or diag $tx->res->body;
    return $tx->res->json;
}
sub get { $ua->get($t->url("/v1/domains/$_[0]") => $h)->res->json // {} }
sub status { get($_[0])->{status} // '' }
sub orders_plz { $ca->count(qr{POST /order-plz}) }
sub order_row {
    $t->psql("SELECT kind || ' ' || step || ' ' || coalesce(last_problem::text, '')
              FROM helpdesk.acme_orders WHERE hostname = '$_[0]'");
}

sub s_client {
    my ($host, $cafile) = @_;
    my $verify = $cafile ? "-CAfile $cafile -verify_return_error" : '';
    return scalar `echo | timeout 10 openssl s_client -connect 127.0.0.1:$tls -servername $host $verify 2>&1`;
}
sub subject_of {
    my ($host) = @_;
    return scalar `echo | timeout 10 openssl s_client -connect 127.0.0.1:$tls -servername $host 2>/dev/null | openssl x509 -noout -issuer -subject -serial 2>&1`;
}
sub p80 {
    my ($path, $host) = @_;
    return scalar `curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: $host' 'http://127.0.0.1:$p80$path' 2>&1`;
}
sub hooks_of {
    my ($host) = @_;
    # deliveries run in parallel: put them in the order of their status_at
    my @d = sort { $a->{status_at} cmp $b->{status_at} }
            grep { ($_->{hostname} // '') eq $host }
            map { decode_json($_->{body})->{data} } @{ $fake->requests };
    return join ' ', map { "$_->{old_status}>$_->{status}" } @d;
}

# --- 1. the whole flow: CNAME set, checked, verified, issuing, active ------------------------
my $host = 'help.acme-shop.test';
$ca->set_cname($host, $target);
my $t0 = time;
my $added = add($host);
is $added->{status}, 'pending_dns', 'added: pending_dns';
like p80('/', $host), qr/^404/, 'port 80: not redirected before it is active';

ok until_true(sub { status($host) eq 'active' }, 60), 'the check job and the ACME client alone make it active'
    or diag explain(get($host)), order_row($host);
my $took = time - $t0;
ok 1, sprintf('added to active in %.1f s', $took);
is orders_plz(), 1, 'one newOrder at the CA';
ok until_true(sub { subject_of($host) =~ /Pebble Intermediate/ }, 10),
   'openssl s_client -servername sees a certificate issued by Pebble' or diag subject_of($host);
like subject_of($host), qr/subject=CN = \Q$host\E/, 'for the name';
my $root = $ca->root_file;
like s_client($host, $root), qr/Verify return code: 0 \(ok\)/, 'the chain verifies up to Pebble\'s root';
my $page = `curl -s -S --max-time 10 --cacert $root --resolve $host:$tls:127.0.0.1 -o /dev/null -w '%{http_code}' https://$host:$tls/ 2>&1`;
is $page, '200', 'curl --cacert <Pebble root> --resolve gets the portal on the name';

ok until_true(sub { hooks_of($host) =~ /issuing>active/ }, 15), 'the webhook got the last transition';
is hooks_of($host), 'pending_dns>verified verified>issuing issuing>active',
   'the webhook saw pending_dns > verified > issuing > active, in order';

like p80('/tickets?x=1', $host), qr{^301 https://\Q$host\E/tickets\?x=1$}, 'port 80: now redirected to https';
like p80('/.well-known/acme-challenge/aaaaaaaaaaaaaaaaaaaa', $host), qr/^404 $/,
     'the challenge path on the active name is not redirected (404 for a token nobody waits on)';
like p80('/.well-known/acme-challenge/x', $host), qr/^404 $/, 'nor any other path under it';

# --- 2. failing gates: no order sent, the reason through the API -------------------------------
my $before = orders_plz();
my $caa = 'help.caa-shop.test';
my $away = 'help.away-shop.test';
$ca->set_cname($caa, $target);
$ca->add_caa('caa-shop.test', issue => 'otherca.example');
my $a = add($away);
$ca->set_txt($a->{dns}{name}, $a->{dns}{value});
$ca->add_a($away, '127.0.0.2');
add($caa);
ok until_true(sub { (get($caa)->{reason} // '') =~ /^caa-forbids/ }, 15), 'CAA naming another CA: the check fails';
is get($caa)->{reason}, 'caa-forbids: caa-shop.test allows otherca.example', 'the API says why';
is status($caa), 'pending_dns', 'and the name waits';
ok until_true(sub { (get($away)->{reason} // '') =~ /^points-elsewhere/ }, 15), 'an address not ours: the check fails';
is get($away)->{reason}, 'points-elsewhere: 127.0.0.2', 'the API names the address';
sleep 2;    # several ticks of the ACME job
is orders_plz(), $before, 'no newOrder reached the CA for either';
is $t->psql("SELECT count(*) FROM helpdesk.acme_orders WHERE hostname IN ('$caa', '$away')"), 0,
   'no order exists for them';
ok !$ca->count(qr/\Q$caa\E|\Q$away\E/), 'Pebble never heard of the names';

# the CAA record names our CA now: check now, issued
$ca->clear_caa('caa-shop.test');
$ca->add_caa('caa-shop.test', issue => 'letsencrypt.org');
is $ua->post($t->url("/v1/domains/$caa/check") => $h)->res->code, 202, 'check now';
ok until_true(sub { status($caa) eq 'active' }, 30), 'the CAA record allowing our CA (the default caa=): issued'
    or diag explain(get($caa)), order_row($caa);

# --- 4. Pebble restarted while it holds an order in validation --------------------------------
$ca->restart(env => { PEBBLE_VA_NOSLEEP => undef, PEBBLE_VA_SLEEPTIME => 20 });
my $log0 = length $ca->log;
my $slow;
for my $i (1 .. 3) {
    my $name = "help$i.slow-shop.test";
    $ca->set_cname($name, $target);
    add($name);
    my $seen = until_true(sub { order_row($name) =~ /^issue validating/ }, 30);
    next unless $seen && status($name) eq 'issuing';
    # Pebble sleeps 0..19 s before it validates: restarted now, its order is lost
    my $validated = $ca->log =~ /\Q$name\E.*valid/i;
    $ca->restart(env => { PEBBLE_VA_NOSLEEP => 1, PEBBLE_VA_SLEEPTIME => undef });
    if (status($name) eq 'issuing') { $slow = $name; last }
    diag "$name was issued before the restart, again";
}
ok $slow, 'an order restarted at the CA in validation' or BAIL_OUT('Pebble never held an order');
ok until_true(sub { status($slow) eq 'active' }, 60), 'after the restart: issued'
    or diag explain(get($slow)), order_row($slow), join('', grep { /acme/ } split /^/, $t->error_log);
my $after = substr $ca->log, $log0;
ok scalar(() = $after =~ m{POST /sign-me-up}g) >= 1, 'the account was made again at the new CA';
$root = $ca->root_file;
ok until_true(sub { s_client($slow, $root) =~ /Verify return code: 0 \(ok\)/ }, 10),
   'the certificate served chains to the restarted Pebble\'s root (the order was made again there)';
is $t->psql("SELECT count(*) FROM helpdesk_meta.acme_accounts"), 1, 'still one account row (the same key)';

# --- 7. the directory's CAA identities ---------------------------------------------------------
is $t->psql("SELECT caa_identities::text FROM helpdesk_meta.acme_accounts"), '{}',
   'Pebble publishes no caaIdentities: none stored';
is $t->psql("SELECT array_length(api.acme_caa_identities(NULL), 1) IS NULL", may_fail => 1) =~ /module proof|denied|HD/ ? 1 : 0, 1,
   'the identities want the module\'s proof';
# a directory that publishes some (stored as the ACME job stores them):
# the gate takes them instead of the default (letsencrypt.org)
$t->psql("UPDATE helpdesk_meta.acme_accounts SET caa_identities = '{pebble.test}'");
my ($ours, $le) = ('help.ours-shop.test', 'help.le-shop.test');
$ca->add_caa('ours-shop.test', issue => 'pebble.test');
$ca->add_caa('le-shop.test', issue => 'letsencrypt.org');
$ca->set_cname($_, $target) for $ours, $le;
add($_) for $ours, $le;
ok until_true(sub { (get($le)->{reason} // '') =~ /^caa-forbids/ }, 15),
   'CAA naming letsencrypt.org while the directory publishes pebble.test: forbidden'
    or diag explain get($le);
is get($le)->{reason}, 'caa-forbids: le-shop.test allows letsencrypt.org', 'with the reason';
ok until_true(sub { status($ours) =~ /^(verified|issuing|active)$/ }, 15),
   'CAA naming the directory\'s identity: passes' or diag explain get($ours);
ok until_true(sub { status($ours) eq 'active' }, 30), 'and is issued';

$t->done;
