#!/usr/bin/env perl
# The provider's own names are not custom domains, whoever asks: the
# portals' base domain, the CNAME targets' zone and the agents' consoles'
# zone (helpdesk_agent_console_host), in any spelling (case, trailing
# dot, an IDN that maps to the same name), through the tenant's routes
# and the provider's; a name another tenant proved is not taken over;
# a tenant's 50 domains at most, even when it adds them all at once.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test;
use Mojo::Promise;

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain support.provider.example;
    helpdesk_agent_console_host agents.provider.example;
    helpdesk_custom_domains cname_zone=domains.provider.example;');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});
my $pk = $t->auth($t->provider_key);

for my $name ('acme.agents.provider.example', 'GLOBEX.Agents.Provider.Example.', 'agents.provider.example',
              'x.globex.support.provider.example', 't-0.domains.provider.example',
              "globex.\x{ff41}gents.provider.example") {
    my $tx = $ua->post($t->url('/v1/domains') => $h => json => { hostname => $name });
    is $tx->res->code, 422, "a tenant adds $name: 422";
    is $tx->res->json->{errors}[0]{code} // '', 'reserved', "$name: the provider's own";
    $tx = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/domains") => $pk => json => { hostname => $name });
    is $tx->res->code, 422, "the provider adds $name for a tenant: 422 too";
}

# a name another tenant proved: neither claimed nor given by the provider
my $tx = $ua->post($t->url("/v1/provider/tenants/$globex->{id}/domains") => $pk => json => { hostname => 'help.globex.example' });
is $tx->res->code, 201, 'the provider gives globex a name (active)';
for my $name ('help.globex.example', 'HELP.GLOBEX.EXAMPLE.', " help.globex.example\t") {
    $tx = $ua->post($t->url('/v1/domains') => $h => json => { hostname => $name });
    is $tx->res->code, 409, "acme claims \"$name\": 409";
    $tx = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/domains") => $pk => json => { hostname => $name });
    is $tx->res->code, 409, "the provider gives it to acme: 409";
}
is $t->psql("SELECT string_agg(t.slug || ' ' || d.status, ',') FROM helpdesk.portal_domains d
             JOIN helpdesk.tenants t USING (tenant_id) WHERE d.hostname = 'help.globex.example'"),
   'globex active', 'globex alone has it';

# the cap holds against adds sent all at once (each counted the others'
# rows before any was committed)
my $hx = $t->auth($globex->{key});
my @adds = map { $ua->post_p($t->url('/v1/domains') => $hx => json => { hostname => "n$_.globex.example" }) } 1 .. 120;
my %codes;
Mojo::Promise->all_settled(@adds)->then(sub {
    $codes{ $_->{value}[0] ? $_->{value}[0]->res->code // 0 : 0 }++ for @_;
})->wait;
is $codes{201}, 49, '120 names sent at once: 49 added to the one it had' or diag explain \%codes;
is $t->psql("SELECT count(*) FROM helpdesk.portal_domains WHERE tenant_id = '$globex->{id}' AND status <> 'released'"),
   50, 'the tenant has 50 domains, not more';

$t->cleanup;
done_testing();
