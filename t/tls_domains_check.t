#!/usr/bin/env perl
# The DNS check job of tenants' own domains (src/jobs/ngx_helpdesk_domain_check.c)
# against pebble-challtestsrv's DNS: domains added through the API move by
# what the job finds (the CNAME or TXT proof, the addresses, CAA up the
# tree, SERVFAIL), with the reasons the API shows; an active name whose
# CNAME goes away is dns_broken and still served; "check now" is checked
# within seconds; a silent resolver costs a dns-error, never the worker.
# SQL is used only to arrange a state (an issued name, a check due now).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test;
use Helpdesk::FakeHTTP;
use IO::Socket::INET;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use Mojo::JSON qw(decode_json);

plan skip_all => 'pebble-challtestsrv not installed' unless -x '/usr/bin/pebble-challtestsrv';

sub udp_port {
    my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0) or die $!;
    return $s->sockport;
}

# pebble-challtestsrv: DNS on a UDP port, records set over HTTP
my ($dns, $mgmt) = (udp_port(), Helpdesk::Test::free_port());
my $cts = fork // die;
if ($cts == 0) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    exec '/usr/bin/pebble-challtestsrv', '-dns01', "127.0.0.1:$dns", '-http01', '', '-https01', '',
        '-tlsalpn01', '', '-management', "127.0.0.1:$mgmt", '-defaultIPv4', '127.0.0.1',
        '-defaultIPv6', '';
    exit 1;
}
END { kill 'TERM', $cts if $cts; waitpid $cts, 0 if $cts }

my $http = HTTP::Tiny->new(timeout => 5);
sub cts {
    my ($path, $json) = @_;
    for (1 .. 50) {
        my $r = $http->post("http://127.0.0.1:$mgmt/$path", { content => $json });
        return 1 if $r->{success};
        sleep 0.1;
    }
    die "challtestsrv /$path failed";
}

# a resolver that reads nothing and answers nothing
my $silent = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0) or die $!;

my $fake = Helpdesk::FakeHTTP->new->mount('/hooks' => 'webhook');
my $t = Helpdesk::Test->new->start_stack;
my $zone = 'domains.provider.example';
my $directive = "helpdesk_custom_domains cname_zone=$zone edge=127.0.0.1,::1 "
              . "resolver_timeout=1s interval=1s";
$t->start_nginx(http => "$directive resolver=127.0.0.1:$dns;");
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
    is $tx->res->code, 201, "$host added";
    return $tx->res->json;
}
# how many checks the job wrote of a domain
sub checks { $t->psql("SELECT checks FROM helpdesk.portal_domains WHERE hostname = '$_[0]'
                       AND tenant_id = '$acme->{id}'") || 0 }
sub get { $ua->get($t->url("/v1/domains/$_[0]") => $h)->res->json }
# the domain once the job wrote one more check of it than "before"
sub checked {
    my ($host, $before, $timeout) = @_;
    Helpdesk::Test::until_true(sub { checks($host) > $before }, $timeout // 10);
    return get($host);
}
# the domain once a check of it satisfies "want": a check that ran before
# its records were set is made due again (arranging, not faking: the job
# still does the check)
sub settled {
    my ($host, $want, $timeout) = @_;
    my $d;
    Helpdesk::Test::until_true(sub {
        $d = get($host);
        return 1 if $d->{checked_at} && $want->($d);
        $t->psql("UPDATE helpdesk.portal_domains SET next_check_at = now()
                  WHERE hostname = '$host' AND tenant_id = '$acme->{id}' AND checked_at IS NOT NULL
                    AND lease_token IS NULL AND next_check_at > now()") if $d->{checked_at};
        sleep 0.2;
        return 0;
    }, $timeout // 15);
    return $d;
}
sub txt_proof { my ($host, $value) = @_; cts('set-txt', qq({"host":"_helpdesk-verify.$host.","value":"$value"})) }

# --- the records first, then the domains (checked at once) -----------------------------------
cts('set-cname', qq({"host":"cname.acme.test.","target":"$target."}));
cts('add-a', qq({"host":"elsewhere.acme.test.","addresses":["127.0.0.2"]}));
cts('add-caa', qq({"host":"forbid.test.","policies":[{"tag":"issue","value":"otherca.example"},)
             . qq({"tag":"issuewild","value":"letsencrypt.org"}]}));
cts('add-caa', qq({"host":"allow.test.","policies":[{"tag":"issue","value":"letsencrypt.org; validationmethods=http-01"}]}));
cts('add-caa', qq({"host":"help.nobody.test.","policies":[{"tag":"issue","value":";"},{"tag":"iodef","value":"mailto:caa\@nobody.test"}]}));
cts('set-servfail', qq({"host":"servfail.acme.test."}));
cts('set-servfail', qq({"host":"sf.test."}));

my $start = 0;
my %d;
$d{$_} = add($_) for qw(cname.acme.test txt.acme.test none.acme.test elsewhere.acme.test
                        help.forbid.test help.allow.test help.nobody.test servfail.acme.test
                        help.sf.test);
# the TXT proofs, from the tokens the API shows
txt_proof($_, $d{$_}{dns}{value} // $d{$_}{records}[1]{value})
    for qw(txt.acme.test elsewhere.acme.test help.forbid.test help.allow.test help.nobody.test help.sf.test);
my $verified = sub { $_[0]{status} eq 'verified' };
sub reason { my $want = shift; sub { ($_[0]{reason} // '') eq $want } }

my $d = checked('cname.acme.test', $start);
is $d->{status}, 'verified', 'a CNAME to the tenant\'s target: verified';
ok !defined $d->{reason}, 'with no reason';

$d = checked('none.acme.test', $start);
is $d->{status}, 'pending_dns', 'no proof: still pending';
is $d->{reason}, 'proof-missing', 'proof-missing';
my $gap = $t->psql("SELECT extract(epoch FROM next_check_at - checked_at)::int FROM helpdesk.portal_domains
                    WHERE hostname = 'none.acme.test'");
ok $gap >= 50 && $gap <= 70, "checked again in a minute ($gap s)";

$d = settled('txt.acme.test', $verified);
is $d->{status}, 'verified', 'the TXT proof alone (the name reaching us): verified';

$d = settled('elsewhere.acme.test', reason('points-elsewhere: 127.0.0.2'));
is $d->{reason}, 'points-elsewhere: 127.0.0.2', 'proven, but another address: the reason names it';
is $d->{status}, 'pending_dns', 'and the domain waits';

$d = settled('help.forbid.test', reason('caa-forbids: forbid.test allows otherca.example'));
is $d->{reason}, 'caa-forbids: forbid.test allows otherca.example',
    'CAA on the parent names another CA (issuewild does not count): forbids';
is $d->{status}, 'pending_dns', 'and the domain waits';

$d = settled('help.allow.test', $verified);
is $d->{status}, 'verified', 'CAA on the parent allows our CA (with parameters): verified';

$d = settled('help.nobody.test', reason('caa-forbids: help.nobody.test allows no CA'));
is $d->{reason}, 'caa-forbids: help.nobody.test allows no CA', 'CAA on the name itself allowing nobody (";") forbids';

$d = checked('servfail.acme.test', $start);
is $d->{reason}, 'dns-error: SERVFAIL A servfail.acme.test', 'SERVFAIL: dns-error';
is $d->{status}, 'pending_dns', 'and no change of state';

$d = settled('help.sf.test', reason('dns-error: SERVFAIL CAA sf.test'));
is $d->{reason}, 'dns-error: SERVFAIL CAA sf.test', 'SERVFAIL on a parent\'s CAA: dns-error naming it';

# --- the webhook ---------------------------------------------------------------------------
my $hooks = $fake->wait_for(4);
my %seen = map { my $p = decode_json($_->{body}); ("$p->{data}{hostname} $p->{data}{old_status}>$p->{data}{status}" => 1) }
           @$hooks;
ok $seen{'cname.acme.test pending_dns>verified'}, 'domain.status_changed sent for the verified name'
    or diag explain [keys %seen];

# --- check now ------------------------------------------------------------------------------
txt_proof('none.acme.test', $d{'none.acme.test'}{dns}{value});
my $now = checks('none.acme.test');
my $t0 = time;
is $ua->post($t->url('/v1/domains/none.acme.test/check') => $h)->res->code, 202, 'check now: 202';
$d = checked('none.acme.test', $now, 5);
is $d->{status}, 'verified', 'checked within seconds: verified' or diag explain $d;
ok time - $t0 < 5, sprintf('in %.1f s', time - $t0);

# --- an active name whose CNAME goes away ---------------------------------------------------
$t->psql("SELECT tls.domain_set('$acme->{id}', 'cname.acme.test', 'issuing', NULL)");
$t->psql("SELECT tls.domain_set('$acme->{id}', 'cname.acme.test', 'active', NULL)");
is get('cname.acme.test')->{status}, 'active', '(issued: active)';
cts('clear-cname', '{"host":"cname.acme.test."}');
$now = checks('cname.acme.test');
$t->psql("UPDATE helpdesk.portal_domains SET next_check_at = now() WHERE hostname = 'cname.acme.test'");
$d = checked('cname.acme.test', $now);
is $d->{status}, 'dns_broken', 'its CNAME gone: dns_broken';
is $d->{reason}, 'proof-missing', 'proof-missing';
ok $d->{serving}, 'and still served';

# --- a silent resolver ---------------------------------------------------------------------
$t->stop_nginx;
$t->start_nginx(http => "$directive resolver=127.0.0.1:" . $silent->sockport . ';');
$now = checks('elsewhere.acme.test');
$t->psql("UPDATE helpdesk.portal_domains SET next_check_at = now() WHERE hostname = 'elsewhere.acme.test'");
my ($slowest, $n) = (0, 0);
my $until = time + 4;
while (time < $until) {
    my $t0 = time;
    my $code = $ua->get($t->url('/v1/domains') => $h)->res->code;
    $slowest = time - $t0 if time - $t0 > $slowest;
    $n++ if $code == 200;
    sleep 0.1;
}
ok $n > 10, "the worker answers meanwhile ($n answers, the slowest in " . sprintf('%.3f', $slowest) . ' s)';
ok $slowest < ($ENV{HELPDESK_VALGRIND} ? 1.5 : 0.5), 'none waited on DNS (the client waits 2 x 1 s)';
$d = checked('elsewhere.acme.test', $now, 8);
like $d->{reason} // '', qr/^dns-error: .* A elsewhere\.acme\.test$/, "no answer: dns-error ($d->{reason})";
is $d->{status}, 'pending_dns', 'no change of state';

# --- the directive ------------------------------------------------------------------------
$t->stop_nginx;
for my $case (["cname_zone=a.example edge=", qr/"edge=" names no address/],
              ["cname_zone=a.example edge=10.0.0.300", qr/"edge=10.0.0.300" has an invalid address/],
              ["cname_zone=a.example edge=127.0.0.1 resolver=dns.example", qr/has an invalid address/],
              ["cname_zone=a.example edge=127.0.0.1 caa=", qr/names no CA/],
              ["cname_zone=a.example edge=127.0.0.1 resolver=127.0.0.1 interval=0", qr/has an invalid time/],
              ["cname_zone=a.example resolver=127.0.0.1", qr/need it/],
              ["cname_zone=a.example edge=127.0.0.1", qr/needs "resolver=" or a "resolver"/]) {
    $t->write_conf(http => "helpdesk_custom_domains $case->[0];");
    my ($rc, $out) = $t->nginx_test;
    ok $rc != 0 && $out =~ $case->[1], "helpdesk_custom_domains $case->[0]: refused" or diag $out;
}
$t->write_conf(http => "resolver 127.0.0.1:$dns; helpdesk_custom_domains cname_zone=a.example edge=127.0.0.1 caa=pebble.test;");
my ($rc, $out) = $t->nginx_test;
is $rc, 0, 'the http block\'s resolver serves as default' or diag $out;

$t->done;
