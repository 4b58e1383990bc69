#!/usr/bin/env perl
# Tenants' own domains through the API: adding (normalised, refused with
# a reason: long names, bytes that are not UTF-8, wildcards, IP
# addresses, the provider's own zones, a name another tenant proved), the
# records to create, the states the DNS check job moves a domain through
# (simulated here by calling its entry points as the module does, with
# the provider key's hash as proof), their webhooks, "check now" once a
# minute, removal and adding again.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test;
use Helpdesk::FakeHTTP;
use Mojo::JSON qw(decode_json);

my $fake = Helpdesk::FakeHTTP->new->mount('/hooks' => 'webhook');
my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain support.provider.example;
    helpdesk_custom_domains cname_zone=Domains.Provider.Example.;');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});
my $hg = $t->auth($globex->{key});
my $pk = $t->auth($t->provider_key);
(my $acme_hex = $acme->{id}) =~ s/-//g;

# the job's view: what a claim hands out, and a result
my $proof = "sha256(convert_to('" . $t->provider_key . "', 'UTF8'))";
sub claim {
    my $out = $t->psql("SELECT string_agg(concat_ws('|', tenant_id, hostname, status, lease_token), E'\\n')
                        FROM api.domain_check_claim($proof, 50, 60)");
    return { map { my @f = split /\|/; ("$f[0] $f[1]" => { status => $f[2], lease => $f[3] }) }
             grep { length } split /\n/, $out // '' };
}
sub result {
    my ($tenant, $host, $lease, $outcome) = @_;
    return $t->psql("SELECT api.domain_check_result($proof, '$tenant', '$host', '$lease', '$outcome')");
}
sub due_now { $t->psql("UPDATE helpdesk.portal_domains SET next_check_at = now() WHERE hostname = '$_[0]'") }

# a webhook for the domains' changes
my $tx = $ua->post($t->url('/v1/webhooks') => $h => json => {
    url => $fake->url('/hooks/helpdesk'), events => ['domain.status_changed'] });
is $tx->res->code, 201, 'a webhook may subscribe to domain.status_changed';

# --- adding --------------------------------------------------------------------------------
$tx = $ua->post($t->url('/v1/domains') => $h => json => { hostname => "  Help.Acme.EXAMPLE.  " });
is $tx->res->code, 201, 'a tenant adds a domain';
my $d = $tx->res->json;
is $d->{hostname}, 'help.acme.example', 'normalised: lower case, no blanks, no trailing dot';
is $d->{status}, 'pending_dns', 'pending until its DNS proves it';
is $tx->res->headers->location, '/api/v1/domains/help.acme.example', 'its Location';
is_deeply $d->{records}, [
    { type => 'CNAME', name => 'help.acme.example', value => "t-$acme_hex.domains.provider.example" },
    { type => 'TXT', name => '_helpdesk-verify.help.acme.example', value => $d->{dns}{value} } ],
    'the records to create: a CNAME to the tenant\'s target, or the TXT proof';
like $d->{dns}{value}, qr/^helpdesk-verify=[0-9a-f]{32}$/, 'the TXT proof';
ok exists $d->{certificate} && !defined $d->{certificate}, 'no certificate yet';
ok $d->{next_check_at}, 'checked soon';
ok !$d->{serving}, 'not serving';

my %refused = (
    'a 300-character name'    => [join('.', ('a' x 59) x 5) . '.com', qr/253/],
    'a label of 64'           => [('b' x 64) . '.example', qr/63/],
    'a wildcard'              => ['*.acme.example', qr/wildcard/],
    'an IPv4 address'         => ['192.0.2.10', qr/IP address/],
    'an IPv6 address'         => ['[2001:db8::1]', qr/IP address/],
    'one label'               => ['intranet', qr/full name/],
    'spaces inside'           => ['help desk.example', qr/letters, digits and hyphens/],
    'the base zone'           => ['acme.support.provider.example', qr/provider's own/],
    'the CNAME zone'          => ['t-x.domains.provider.example', qr/provider's own/],
    'a U-label with a space'  => ["caf\x{e9} bar.example", qr/./],
    'a Unicode wildcard'      => ["*.caf\x{e9}.example", qr/wildcard/],
    'nothing'                 => ['', qr/host name like/],
);
for my $case (sort keys %refused) {
    my ($name, $why) = @{ $refused{$case} };
    $tx = $ua->post($t->url('/v1/domains') => $h => json => { hostname => $name });
    is $tx->res->code, 422, "$case: 422";
    like $tx->res->json->{errors}[0]{message} // '', $why, "$case: says why";
}
is $ua->post($t->url('/v1/domains') => $h => json => { hostname => 42 })->res->code, 422, 'a number: 422';
$tx = $ua->post($t->url('/v1/domains') => $h => json => { hostname => " B\x{fc}cher.Example. " });
is $tx->res->code, 201, 'an IDN is added';
is $tx->res->json->{hostname}, 'xn--bcher-kva.example', 'as its A-label, lower case, no trailing dot';
is $ua->delete($t->url('/v1/domains/xn--bcher-kva.example') => $h)->res->code, 204, '(removed)';
is $ua->post($t->url('/v1/domains') => $h => json => { hostname => 'x.example', reserved => [], zone => 'evil.example' })
       ->res->json->{records}[0]{value}, "t-$acme_hex.domains.provider.example",
   'the zone is the configuration\'s, whatever the body says';
is $ua->post($t->url('/v1/domains') => $h => json => { hostname => 'y.support.provider.example', reserved => [] })
       ->res->code, 422, 'and so are the reserved zones';
is $ua->delete($t->url('/v1/domains/x.example') => $h)->res->code, 204, '(removed)';
my $bad = "{\"hostname\":\"a\xff.com\"}";
my ($status) = $t->raw_request("POST /api/v1/domains HTTP/1.1\r\nHost: localhost\r\n"
    . "Authorization: Bearer $acme->{key}\r\nContent-Type: application/json\r\n"
    . "Content-Length: " . length($bad) . "\r\nConnection: close\r\n\r\n$bad") =~ m{^HTTP/1\.1 (\d+)};
is $status, 400, 'a name that is not UTF-8: 400';

# another tenant may claim a name nobody proved; once proven it is the owner's
is $ua->post($t->url('/v1/domains') => $hg => json => { hostname => 'help.acme.example' })->res->code, 201,
    'another tenant may claim a name nobody proved yet';

# --- the DNS check job -----------------------------------------------------------------------
my $c = claim();
my $first = $c;
ok $c->{"$acme->{id} help.acme.example"}, 'the job claims the new domain';
ok $c->{"$globex->{id} help.acme.example"}, 'and the other claim';
is_deeply claim(), {}, 'a leased domain is not claimed again';
is result($acme->{id}, 'help.acme.example', '00000000-0000-4000-8000-000000000000', '{"ok": true}'), '',
    'a result without the lease is dropped';
is result($acme->{id}, 'help.acme.example', $c->{"$acme->{id} help.acme.example"}{lease},
          '{"ok": false, "reason": "proof-missing"}'), 'pending_dns', 'no proof yet: pending';
$d = $ua->get($t->url('/v1/domains/help.acme.example') => $h)->res->json;
is $d->{reason}, 'proof-missing', 'the reason is shown';
ok $d->{checked_at}, 'with when it was checked';
due_now('help.acme.example');
$c = claim();
is result($acme->{id}, 'help.acme.example', $c->{"$acme->{id} help.acme.example"}{lease}, '{"ok": true}'),
    'verified', 'proven: verified';
is $ua->get($t->url('/v1/domains/help.acme.example') => $h)->res->json->{status}, 'verified', 'shown';
is $ua->post($t->url('/v1/domains') => $hg => json => { hostname => 'help.acme.example' })->res->code, 409,
    'a name another tenant proved: 409';
is $ua->post($t->url("/v1/provider/tenants/$globex->{id}/domains") => $pk
             => json => { hostname => 'help.acme.example' })->res->code, 409, 'even from the provider';
is result($globex->{id}, 'help.acme.example', $first->{"$globex->{id} help.acme.example"}{lease}, '{"ok": true}'),
    'failed', 'the other claim, proven late: failed';
is $ua->get($t->url('/v1/domains/help.acme.example') => $hg)->res->json->{reason},
    'another helpdesk proved this name first', 'with its reason';

$t->psql("SELECT tls.domain_set('$acme->{id}', 'help.acme.example', 'issuing', NULL)");
$t->psql("SELECT tls.domain_set('$acme->{id}', 'help.acme.example', 'active', NULL)");
$d = $ua->get($t->url('/v1/domains/help.acme.example') => $h)->res->json;
is $d->{status}, 'active', 'issued: active';
ok $d->{serving}, 'and serving';
due_now('help.acme.example');
$c = claim();
is result($acme->{id}, 'help.acme.example', $c->{"$acme->{id} help.acme.example"}{lease},
          '{"ok": false, "reason": "points-elsewhere: 203.0.113.9\u0007"}'), 'dns_broken',
    'records no longer hold: dns_broken';
$d = $ua->get($t->url('/v1/domains/help.acme.example') => $h)->res->json;
is $d->{reason}, 'points-elsewhere: 203.0.113.9', 'the reason, without control characters';
ok $d->{serving}, 'still serving while broken';

my $hooks = $fake->wait_for(6);
my %seen = map { my $p = decode_json($_->{body});
                 ("$p->{data}{hostname} $p->{data}{old_status}>$p->{data}{status}" => $p->{data}) } @$hooks;
is_deeply [sort keys %seen],
    ['help.acme.example active>dns_broken', 'help.acme.example issuing>active',
     'help.acme.example pending_dns>verified', 'help.acme.example verified>issuing',
     'x.example pending_dns>released', 'xn--bcher-kva.example pending_dns>released'],
    'each change reached the webhook (the removal too)';
is $seen{'help.acme.example active>dns_broken'}{reason}, 'points-elsewhere: 203.0.113.9', 'with its reason';
is $hooks->[0]{headers}{'x-helpdesk-event'}, 'domain.status_changed', 'as domain.status_changed';
is scalar(grep { $_->{body} =~ /globex|$globex->{id}/ } @$hooks), 0, 'none of the other tenant\'s';

# --- check now ------------------------------------------------------------------------------
$tx = $ua->post($t->url('/v1/domains/help.acme.example/check') => $h);
is $tx->res->code, 202, 'check now: 202';
is $tx->res->json->{hostname}, 'help.acme.example', 'with the domain';
$tx = $ua->post($t->url('/v1/domains/help.acme.example/check') => $h);
is $tx->res->code, 429, 'again within a minute: 429';
like $tx->res->headers->header('Retry-After') // '', qr/^[1-9][0-9]*$/, 'with Retry-After';
is $tx->res->json->{type} =~ s{.*/}{}r, 'rate-limited', 'a rate-limited problem';
is $ua->post($t->url('/v1/domains/help.acme.example/check') => $hg)->res->code, 202,
    'the other tenant checks its own (failed) claim';
is $ua->get($t->url('/v1/domains/help.acme.example') => $hg)->res->json->{status}, 'pending_dns',
    'which starts over';

# --- isolation, removal, adding again ----------------------------------------------------
is $ua->get($t->url('/v1/domains/nothing.example') => $h)->res->code, 404, 'an unknown name: 404';
is $ua->post($t->url('/v1/domains/nothing.example/check') => $h)->res->code, 404, 'check: 404';
is $ua->delete($t->url('/v1/domains/help.acme.example') => $hg)->res->code, 204,
    'the other tenant removes its own claim only';
is $ua->get($t->url('/v1/domains/help.acme.example') => $h)->res->json->{status}, 'dns_broken',
    'the owner\'s is untouched';
is $ua->delete($t->url('/v1/domains/Help.Acme.Example') => $h)->res->code, 204, 'the owner removes it';
is $ua->get($t->url('/v1/domains/help.acme.example') => $h)->res->json->{status}, 'released',
    'released, kept for history';
is scalar(grep { $_->{hostname} eq 'help.acme.example' }
          @{ $ua->get($t->url('/v1/domains') => $h)->res->json->{data} }), 0, 'and no longer listed';
is $ua->delete($t->url('/v1/domains/help.acme.example') => $h)->res->code, 404, 'removed once';
$tx = $ua->post($t->url('/v1/domains') => $hg => json => { hostname => 'help.acme.example' });
is $tx->res->code, 201, 'another tenant adds the released name';
is $tx->res->json->{status}, 'pending_dns', 'pending again';
$tx = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/domains") => $pk => json => { hostname => 'help.acme.example' });
is $tx->res->code, 201, 'the provider gives it back to the first tenant, verified';
is $tx->res->json->{status}, 'active', 'active at once';
is_deeply [sort keys %{ $tx->res->json }], [sort keys %{ $d }], 'the same JSON as the tenant\'s routes';
is $ua->get($t->url("/v1/provider/tenants/$acme->{id}/domains/help.acme.example") => $pk)->res->json->{status},
    'active', 'the provider reads one domain';

# --- the directive ------------------------------------------------------------------------
$t->stop_nginx;
for my $case (['cname_zone=', qr/invalid "cname_zone"/], ['cname_zone=-x.example', qr/invalid "cname_zone"/],
              ['cname_zone=example', qr/invalid "cname_zone"/], ['edge=127.0.0.1', qr/needs "cname_zone="/],
              ['cname_zone=a.example cname_typo=b', qr/invalid parameter "cname_typo=b"/]) {
    $t->write_conf(http => "helpdesk_custom_domains $case->[0];");
    my ($rc, $out) = $t->nginx_test;
    ok $rc != 0 && $out =~ $case->[1], "helpdesk_custom_domains $case->[0]: refused at nginx -t" or diag $out;
}
$t->write_conf(http => 'helpdesk_custom_domains cname_zone=a.example; helpdesk_custom_domains cname_zone=b.example;');
like +($t->nginx_test)[1], qr/is duplicate/, 'given twice: refused';

$t->done;
