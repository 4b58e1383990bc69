# Links the helpdesk hands out point at names of ours: reset, invitation
# and verification links in the outbox's email jobs on the tenant's own
# name, the WhatsApp webhook URL on the provider's.  The name is the tenant's first
# verified custom domain, or <slug>.<helpdesk_base_domain>; the scheme and
# the port are helpdesk_link_scheme's.  Nothing of the request decides
# them: not its Host (a port part, a trick after the ':'), not an
# absolute-form request line, not X-Forwarded-*.  Written as the attacks.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Mojo::JSON qw(decode_json encode_json);
use Helpdesk::Test;
use Helpdesk::Portal;

my $t = Helpdesk::Test->new->start_stack;
# served over plain http on a random port, links say https on 8443: the
# scheme and the port come from the configuration only; a second server
# has the consoles on names of their own
my $own = Helpdesk::Test::free_port();
$t->start_nginx(http => "helpdesk_base_domain portal.test;
                         helpdesk_link_scheme https port=8443;
                         server {
                             listen 127.0.0.1:$own;
                             helpdesk_agent_console_host agents.test;
                             location /agent/ { helpdesk_agent_console; }
                             location / { helpdesk_portal; }
                         }",
                server => 'location /agent/ { helpdesk_agent_console; }
                           location / { helpdesk_portal; }');
my $ua = $t->ua;
my $port = $t->port;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
my $canonical = 'https://acme.portal.test:8443';

my $p = Helpdesk::Portal->new($t, 'acme.portal.test');
is $p->signup('ana@example.com', 'segredo-123', 'Ana')->code, 200, 'a customer signs up';
is $p->signup('bo@example.com', 'segredo-456', 'Bo')->code, 200, 'and another';

sub last_email {
    my ($type) = @_;
    my $row = $t->psql(qq{SELECT payload FROM helpdesk.outbox WHERE kind = 'email'
                          AND event_type = '$type' ORDER BY outbox_id DESC LIMIT 1});
    return $row eq '' ? undef : decode_json($row);
}

sub email_count { $t->psql(q{SELECT count(*) FROM helpdesk.outbox WHERE kind = 'email'}) }

like last_email('email.verification')->{link}, qr{^\Q$canonical\E/verify/[0-9a-f]{64}$},
    "the sign-up's verification link is on the tenant's name, with the configured scheme and port";

# a reset request written by hand: any request line, any headers
my $csrf = 'c' x 64;
my $who = 'ana@example.com';
sub reset_request {
    my ($target, @headers) = @_;
    my $body = encode_json({ email => $who });
    my $raw = $t->raw_request(join("\r\n", "POST $target HTTP/1.1", @headers,
        "Cookie: hd_csrf=$csrf", "X-CSRF-Token: $csrf", 'Content-Type: application/json',
        'Content-Length: ' . length($body), 'Connection: close', '', $body));
    my ($status) = $raw =~ m{^HTTP/1\.1 (\d{3})};
    return ($status // 0, $raw);
}

# each poisoned request: either refused with nothing queued, or queued
# with the canonical link
my @attacks = (
    [ 'a Host with a userinfo trick after the port',
      '/_/api/reset', 'Host: acme.portal.test:@evil.example' ],
    [ 'a Host with a port of its own',
      '/_/api/reset', 'Host: acme.portal.test:1' ],
    [ 'an absolute-form request line with a port, another Host',
      'http://acme.portal.test:7777/_/api/reset', 'Host: evil.example' ],
    [ 'an absolute-form request line naming another site',
      'http://evil.example/_/api/reset', 'Host: acme.portal.test' ],
    [ 'X-Forwarded-Host, -Proto and -Port',
      '/_/api/reset', 'Host: acme.portal.test', 'X-Forwarded-Host: evil.example',
      'X-Forwarded-Proto: http', 'X-Forwarded-Port: 80', 'Forwarded: host=evil.example;proto=http' ],
    [ 'a Host in upper case with a trailing dot',
      '/_/api/reset', 'Host: ACME.Portal.Test.' ],
);
for my $a (@attacks) {
    my ($name, $target, @headers) = @$a;
    my $before = email_count();
    my ($status, $raw) = reset_request($target, @headers);
    if ($status == 202) {
        my $job = last_email('email.password_reset');
        is email_count(), $before + 1, "$name: one email job";
        like $job->{link}, qr{^\Q$canonical\E/reset/[0-9a-f]{64}$}, "$name: its link is on the tenant's own name";
        unlike $job->{link} . $job->{text}, qr/evil|:1\/|:7777|:\@/, "$name: nothing of the request in the email";
    } else {
        like $status, qr/^(400|404)$/, "$name: refused ($status)";
        is email_count(), $before, "$name: nothing queued";
    }
}
my ($status) = reset_request('/_/api/reset', 'Host: acme.portal.test:1');
is $status, 202, 'a port in the Host is accepted (and ignored for links)';
($status) = reset_request('/_/api/reset', 'Host: acme.portal.test:@evil.example');
is $status, 400, 'a userinfo trick is refused before anything is done';

# a verified custom domain becomes the tenant's name in links, whichever
# name the request came to
my $pk = $t->auth($t->provider_key);
is $ua->post($t->url("/v1/provider/tenants/$acme->{id}/domains") => $pk
             => json => { hostname => 'help.acme.example', verified => Mojo::JSON::true })->res->code, 201,
    'the tenant gets a verified domain';
is $ua->post($t->url('/v1/domains') => $h => json => { hostname => 'pending.acme.example' })->res->code, 201,
    'and a pending one';
$canonical = 'https://help.acme.example:8443';
$who = 'bo@example.com';      # (ana's attempts are used up)
($status) = reset_request('/_/api/reset', 'Host: acme.portal.test');
is $status, 202, 'a reset asked for on the base name';
like last_email('email.password_reset')->{link}, qr{^\Q$canonical\E/reset/[0-9a-f]{64}$},
    'links to the verified domain (not the pending one, not the name asked)';
is $ua->post($t->url("/v1/provider/tenants/$acme->{id}/domains") => $pk
             => json => { hostname => 'later.acme.example', verified => Mojo::JSON::true })->res->code, 201,
    'a second verified domain';
($status) = reset_request('/_/api/reset', 'Host: later.acme.example');
is $status, 202, 'a reset asked for on the second one';
like last_email('email.password_reset')->{link}, qr{^\Q$canonical\E/reset/},
    'still links to the first verified domain: one name per tenant';

# the reset link works where it points (the portal on that name)
my ($token) = last_email('email.password_reset')->{link} =~ m{/reset/([0-9a-f]{64})$};
my $on_domain = Helpdesk::Portal->new($t, 'help.acme.example');
is $on_domain->api(GET => "/reset/$token")->code, 200, 'the link opens on the tenant’s domain';

# invitations: from the console (poisoned Host), and through the API (a URL
# of the caller's: only its path is kept)
my $u = $ua->post($t->url('/v1/users') => $h => json => { email => 'adm@acme.example', name => 'Adm', role => 'admin' })
           ->res->json;
my $res = $ua->post($t->url("/v1/users/$u->{id}/invitation") => { %$h, Host => 'evil.example' }
                    => json => { url => 'http://evil.example:666/agent/' });
is $res->res->code, 202, 'an invitation through the API, with a foreign URL and Host';
like last_email('email.invitation')->{link}, qr{^\Q$canonical\E/agent/reset/[0-9a-f]{64}$},
    "the link is on the tenant's name, with the console's path";
($token) = last_email('email.invitation')->{link} =~ m{/reset/([0-9a-f]{64})$};
my $adm = Helpdesk::Portal->new($t, 'acme.portal.test:1', prefix => '/agent');
is $adm->api(POST => "/reset/$token", { password => 'senha-do-adm-1' })->code, 200, 'the admin chooses a password';
is $adm->login('adm@acme.example', 'senha-do-adm-1')->code, 200, 'and logs in (on a Host with a port)';
is $adm->api(POST => '/agents', { name => 'Bia', email => 'bia@acme.example' })->code, 201,
    'the admin invites an agent from the console';
like last_email('email.invitation')->{link}, qr{^\Q$canonical\E/agent/reset/[0-9a-f]{64}$},
    "that link too is on the tenant's name and the console's path";

# consoles on names of their own: a console's links are on those, never
# on the tenant's custom domain (which serves its portal)
my $agents = Helpdesk::Portal->new($t, 'acme.agents.test', prefix => '/agent', port => $own);
is $agents->login('adm@acme.example', 'senha-do-adm-1')->code, 200, 'the admin on the consoles\' own name';
is $agents->api(POST => '/agents', { name => 'Caio', email => 'caio@acme.example' },
                Host => 'acme.agents.test:@evil.example')->code, 400, 'a trick in the Host is refused there too';
is $agents->api(POST => '/agents', { name => 'Caio', email => 'caio@acme.example' })->code, 201,
    'an agent invited there';
like last_email('email.invitation')->{link}, qr{^https://acme\.agents\.test:8443/agent/reset/[0-9a-f]{64}$},
    "the link is on the tenant's console name";

# the WhatsApp webhook to register: on the provider's own name (the base
# domain, where the webhook location is served), with the configured
# scheme and port, whatever name the API was reached on
$res = $ua->post($t->url('/v1/whatsapp/connections') => { %$h, Host => 'evil.example:9999',
                                                             'X-Forwarded-Host' => 'evil.example' }
                 => json => { provider => '360dialog', display_phone_number => '+55 11 4000-1234',
                              api_key => 'k', base_url => 'http://127.0.0.1:9' });
is $res->res->code, 201, 'a WhatsApp number connected through a foreign Host';
like $res->res->json->{webhook_url}, qr{^https://portal\.test:8443/whatsapp/[A-Za-z0-9_-]{32}$},
    "its webhook URL is on the provider's name, scheme and port";
my ($hook) = $res->res->json->{webhook_url} =~ m{(/whatsapp/.*)$};
is $ua->post("http://127.0.0.1:$port$hook" => { Host => 'portal.test' } => json => {})->res->code, 200,
    'and the webhook answers there';

# ... and when the admin connects it from a console on names of its own
# (the REST API under the console's path): still the provider's name
{
    my %hd = (Host => 'acme.agents.test', 'X-CSRF-Token' => $agents->cookie('hd_csrf'));
    my $tx = $agents->ua->build_tx(POST => $agents->url('/agent/_/rest/v1/whatsapp/connections') => \%hd
        => json => { provider => '360dialog', display_phone_number => '+55 11 4000-4321',
                     api_key => 'k', base_url => 'http://127.0.0.1:9' });
    my $res2 = $agents->ua->start($tx)->res;
    is $res2->code, 201, 'a number connected from the console on its own name';
    like $res2->json->{webhook_url}, qr{^https://portal\.test:8443/whatsapp/[A-Za-z0-9_-]{32}$},
        "its webhook URL is on the provider's name, not the console's";
}

# a server without a base domain: no name of ours to give, and no URL is
# made up from the request
{
    my $t2 = Helpdesk::Test->new->start_stack;
    $t2->start_nginx(http => 'helpdesk_base_domain "";');
    my $g = $t2->create_tenant('globex');
    my $r = $t2->ua->post($t2->url('/v1/whatsapp/connections') => $t2->auth($g->{key})
                          => json => { provider => '360dialog', display_phone_number => '+55 11 4000-9999',
                                       api_key => 'k', base_url => 'http://127.0.0.1:9' });
    is $r->res->code, 201, 'without a base domain, a number still connects';
    is $r->res->json->{webhook_url}, undef, 'with no webhook URL rather than one from the request';
    $t2->cleanup;
}

# the directive
for my $bad ('helpdesk_link_scheme ftp;', 'helpdesk_link_scheme https port=0;',
             'helpdesk_link_scheme https port=70000;', 'helpdesk_link_scheme http 8080;') {
    my $t3 = Helpdesk::Test->new;
    $t3->write_conf(http => $bad);
    my ($rc, $out) = $t3->nginx_test;
    isnt $rc, 0, "nginx -t refuses \"$bad\"";
    like $out, qr/helpdesk_link_scheme/, 'naming the directive';
}

$t->done;
