#!/usr/bin/env perl
# What a browser could be made to run, and what the logs keep: knowledge-
# base HTML only from the server's renderer, stored files served by what
# their bytes are, the console as a security context of its own (cookie
# path, policy, its own host name), formulas in CSV exports, and secrets
# in access-log paths.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Portal;
use Helpdesk::FakeHTTP;
use Mojo::JSON qw(decode_json false);

my $fake = Helpdesk::FakeHTTP->new->mount('/d360' => '360dialog' => key => 'd360-key');
my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;
my $port = Helpdesk::Test::free_port();
my $own = Helpdesk::Test::free_port();
$t->{port} = $port;
$t->start_nginx(
    http => qq{helpdesk_base_domain portal.test;
    log_format redacted '\$status "\$helpdesk_log_uri"';
    server {
        listen 127.0.0.1:$own;
        access_log $d/log/redacted.log redacted;
        helpdesk_agent_console_host agents.test;
        location /agent/ { helpdesk_agent_console; }
        location / { helpdesk_portal; }
    }},
    server => qq{access_log $d/log/redacted.log redacted;
        access_log $d/log/access.log helpdesk_test;
        location / { helpdesk_portal; }
        location /agent/ { helpdesk_agent_console; }});
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});

sub portal { Helpdesk::Portal->new($t, $_[0] // 'acme.portal.test') }
sub console { Helpdesk::Portal->new($t, $_[0] // 'acme.portal.test', prefix => '/agent', @_[1 .. $#_]) }

# the redacted access log's lines, once one matching $re is there
sub logged {
    my ($re) = @_;
    my $lines = until_true(sub {
        open my $fh, '<', "$d/log/redacted.log" or return;
        my @l = <$fh>;
        return (grep { $_ =~ $re } @l) ? \@l : undef;
    });
    return $lines ? join('', @$lines) : '';
}

# --- the knowledge base's HTML is the server's ------------------------------------
my $res = $ua->post($t->url('/v1/kb/articles') => $h => json => {
    slug => 'xss', title => 'Hi', body_html => '<script>alert(document.cookie)</script>' })->res;
is $res->code, 422, 'an article with HTML of its own: 422';
like $res->headers->content_type, qr{^application/problem\+json}, 'a problem document';
is $res->json->{type}, 'https://nginx-helpdesk.org/problems/validation-error', 'a validation error';
is_deeply [map { $_->{field} } @{ $res->json->{errors} }], ['body_html'], 'naming the field';
like $res->json->{errors}[0]{message}, qr/rendered by the server from the Markdown/, 'saying why';
is $t->psql(q{SELECT count(*) FROM helpdesk.kb_articles WHERE slug = 'xss'}), 0, 'nothing stored';

$res = $ua->post($t->url('/v1/kb/articles') => $h => json => {
    slug => 'both', title => 'Hi', body => 'text', body_html => '<b>x</b>', summary_html => '<i>' })->res;
is $res->code, 422, 'Markdown together with HTML: 422 all the same';
is_deeply [sort map { $_->{field} } @{ $res->json->{errors} }], ['body_html', 'summary_html'],
    'every HTML field named';

$res = $ua->post($t->url('/v1/kb/articles') => $h => json => {
    slug => 'roteador', title => 'Roteador', body => "Desligue **já**.\n\n<script>alert(1)</script>" })->res;
is $res->code, 201, 'an article in Markdown';
my $art = $res->json;
$res = $ua->patch($t->url("/v1/kb/articles/$art->{id}") => $h => json => { html => '<script>x</script>' })->res;
is $res->code, 422, 'an update with HTML: 422';
is $res->json->{errors}[0]{field}, 'html', 'naming the field';
$res = $ua->patch($t->url("/v1/kb/articles/$art->{id}") => $h => json => { BODY_HTML => 'x' })->res;
is $res->code, 422, 'whatever the case of its name';

my $p = portal();
$res = $p->api(GET => '/kb/articles/roteador');
is $res->code, 200, 'the article on the portal';
is $res->json->{html}, "<p>Desligue <strong>já</strong>.</p>\n<!-- raw HTML omitted -->\n",
    'its HTML is the renderer\'s, raw HTML dropped';
ok !exists $res->json->{markdown}, 'and only that';

# HTML stored before the renderer's mark: rendered again from the Markdown
$t->psql(q{UPDATE helpdesk.kb_articles SET body_md = 'Velho *texto*',
           body_html = '<img src=x onerror=alert(1)>', html_rendered = false WHERE slug = 'roteador'});
$res = $p->api(GET => '/kb/articles/roteador');
is $res->json->{html}, "<p>Velho <em>texto</em></p>\n", 'HTML the renderer did not write is never served';
unlike $res->body, qr/onerror/, 'not even in passing';
ok !exists $res->json->{markdown}, 'the page gets HTML only';
$ua->patch($t->url("/v1/kb/articles/$art->{id}") => $h => json => { body => 'Novo' });
is $t->psql(q{SELECT html_rendered || ' ' || body_html FROM helpdesk.kb_articles WHERE slug = 'roteador'}),
    "true <p>Novo</p>\n", 'saving the Markdown stores the rendered HTML, marked as such';
$ua->patch($t->url("/v1/kb/articles/$art->{id}") => $h => json => { title => 'Roteador 2' });
is $t->psql(q{SELECT html_rendered FROM helpdesk.kb_articles WHERE slug = 'roteador'}), 't',
    'a change of title keeps it';

# --- an agent of acme, for the console's half ------------------------------------
sub agent {
    my ($email, $name, $role, %opt) = @_;
    my $u = $ua->post($t->url('/v1/users') => $h => json => { email => $email, name => $name, role => $role })->res->json;
    my $host = $opt{host} // 'acme.portal.test';
    my $at = $opt{port} // $port;
    my $res = $ua->post($t->url("/v1/users/$u->{id}/invitation") => $h
                        => json => { url => "http://$host:$at/agent/" })->res;
    is $res->code, 202, "$name invited";
    my $job = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE kind = 'email'
                                     ORDER BY outbox_id DESC LIMIT 1}));
    my ($token) = $job->{link} =~ m{/agent/reset/([0-9a-f]{64})$};
    my $c = console($host, port => $at);
    is $c->api(POST => "/reset/$token", { password => "senha-de-$role-1" })->code, 200, 'a password chosen';
    $res = $c->login($email, "senha-de-$role-1");
    is $res->code, 200, "$name logs in";
    return ($c, $u, $res, $token);
}
my ($admin, $admin_user, $login) = agent('ana@acme.example', 'Ana Admin', 'admin');

# --- the console's own security context ------------------------------------------
my ($agent_cookie) = grep { /^hd_agent=/ } @{ $login->headers->every_header('Set-Cookie') };
like $agent_cookie, qr{; Path=/agent/;}, "the console's session cookie is scoped to the console's path";
like $agent_cookie, qr{; HttpOnly}, 'and HttpOnly';
$res = $p->signup('cli@example.com', 'senha-do-cliente', 'Cliente');
is $res->code, 200, 'a customer signs up on the portal';
my ($portal_cookie) = grep { /^hd_session=/ } @{ $res->headers->every_header('Set-Cookie') };
like $portal_cookie, qr{; Path=/;}, "the portal's at the portal's";
my ($csrf_cookie) = grep { /^hd_csrf=/ } @{ $login->headers->every_header('Set-Cookie') };
like $csrf_cookie, qr{; Path=/;}, 'the CSRF cookie (not a credential) stays the site\'s';

my $console_csp = $admin->get('/agent/')->headers->content_security_policy;
my $portal_csp = $p->get('/')->headers->content_security_policy;
isnt $console_csp, $portal_csp, 'the console answers with a policy of its own';
like $console_csp, qr/^default-src 'none'; script-src 'self';/, 'strict';
like $console_csp, qr/frame-ancestors 'none'/, 'never framed';
like $console_csp, qr/form-action 'none'/, 'no form posts';
like $portal_csp, qr/form-action 'self'/, "the portal's allows its own";
is scalar @{ $admin->get('/agent/')->headers->every_header('Content-Security-Policy') }, 1,
    'one policy on a console page';
is $admin->api(GET => '/queue')->headers->content_security_policy, $console_csp, 'and on its calls';
is $p->api(GET => '/tickets')->headers->content_security_policy, $portal_csp,
    'the portal keeps its own on its calls';

# the console's REST API is under the console's path, where its cookie goes
{
    my $tx = $admin->ua->build_tx(GET => $admin->url('/agent/_/rest/v1/portal') => { Host => 'acme.portal.test' });
    $res = $admin->ua->start($tx)->res;
    is $res->code, 200, "the settings pages' REST API under the console, with the agent's session";
    $tx = $admin->ua->build_tx(PATCH => $admin->url('/agent/_/rest/v1/console') => { Host => 'acme.portal.test' }
                               => json => { require_totp => false });
    is $admin->ua->start($tx)->res->code, 403, 'a change without the CSRF token: 403';
    $tx = $admin->ua->build_tx(GET => $admin->url('/api/v1/portal') => { Host => 'acme.portal.test' });
    is $admin->ua->start($tx)->res->code, 401, 'the browser sends no console session outside the console';
    $tx = $admin->ua->build_tx(GET => $admin->url('/agent/_/rest/v1/nothing') => { Host => 'acme.portal.test' });
    $res = $admin->ua->start($tx)->res;
    is $res->code, 404, 'an unknown REST path under the console: 404';
    like $res->headers->content_type, qr{^application/problem\+json}, 'as a problem document';
}

# the console on its own host name
{
    my ($own_admin, undef, $own_login) = agent('olga@acme.example', 'Olga Own', 'admin',
                                               host => 'acme.agents.test', port => $own);
    $res = $own_admin->get('/agent/');
    is $res->code, 200, 'the console answers on <slug>.<console host>';
    like $res->body, qr{src="/agent/_/assets/console/app\.[0-9a-f]{8}\.js"}, 'its page';
    is $own_admin->api(GET => '/queue')->code, 200, "an agent works there, the tenant taken from the name";
    my $tx = $own_admin->ua->build_tx(GET => $own_admin->url('/agent/_/rest/v1/portal')
                                      => { Host => 'acme.agents.test' });
    is $own_admin->ua->start($tx)->res->code, 200, 'its REST API too';

    my $elsewhere = console('acme.portal.test', port => $own);
    $res = $elsewhere->get('/agent/tickets?view=mine');
    is $res->code, 308, "the console asked for on the portal's name: sent to its own";
    is $res->headers->location, 'http://acme.agents.test/agent/tickets?view=mine', 'to the same path there';
    $res = $elsewhere->api(GET => '/queue');
    is $res->code, 308, 'its calls as well';
    $res = console('help.acme.example', port => $own)->get('/agent/');
    is $res->code, 404, 'another name (a custom domain): not found';
    is portal('acme.portal.test')->ua->get("http://127.0.0.1:$own/"
        => { Host => 'acme.portal.test' })->res->code, 200, 'the portal beside it is untouched';
    is console('globex.agents.test', port => $own)->login('olga@acme.example', 'senha-de-admin-1')->code, 401,
        "another tenant's console name knows no acme agent";
}

# --- stored files: what their bytes are, never what they were called -------------
my $html = "<!doctype html><html><body><script>fetch('/_/api/account')</script></body></html>";
my $svg = qq{<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>};
my $png = pack('H*', '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478'
                   . 'da63f8cfc0f01f0005000201a1b0c4cc0000000049454e44ae426082');
my %up;
for ([html => 'x.png', 'image/png', $html], [svg => 'logo.svg', 'image/svg+xml', $svg],
     [png => 'shot.png', 'image/png', $png], [txt => 'a.txt', 'text/html', "=1+1 <b>plain</b>"]) {
    my ($k, $name, $type, $data) = @$_;
    $res = $p->upload($name, $type, $data);
    is $res->code, 201, "$k uploaded as $name ($type)";
    $up{$k} = $res->json->{id};
}
$res = $p->api(POST => '/tickets', { subject => 'Arquivos', category => 'technical', priority => 'low',
                                     description => 'veja', attachments => [@up{qw(html svg png txt)}] });
is $res->code, 201, 'a ticket with the four files';
my $tk = $res->json;
my %att = map { $_->{filename} => $_->{id} }
          @{ $p->api(GET => "/tickets/$tk->{number}")->json->{events}[0]{attachments} };
my $tid = $t->psql(q{SELECT ticket_id FROM helpdesk.tickets WHERE subject = 'Arquivos'});

my %paths = (
    portal  => sub { $p->get("/_/api/tickets/$tk->{number}/attachments/$_[0]") },
    console => sub { $admin->get("/agent/_/api/tickets/$tk->{number}/attachments/$_[0]") },
    api     => sub { $ua->get($t->url("/v1/tickets/$tid/attachments/$_[0]") => $h)->res },
);
for my $where (sort keys %paths) {
    for my $f (['x.png', 'HTML named x.png, said to be image/png'], ['logo.svg', 'an SVG with a script'],
               ['a.txt', 'text said to be text/html']) {
        $res = $paths{$where}->($att{$f->[0]});
        is $res->code, 200, "$where: $f->[1] downloads";
        like $res->headers->content_disposition, qr/^attachment; filename="\Q$f->[0]\E"/, "$where: $f->[1]: as an attachment";
        is $res->headers->content_type, 'application/octet-stream', "$where: $f->[1]: as opaque bytes";
        is $res->headers->header('X-Content-Type-Options'), 'nosniff', "$where: $f->[1]: nosniff";
        my @csp = @{ $res->headers->every_header('Content-Security-Policy') };
        is_deeply \@csp, ["sandbox; default-src 'none'"], "$where: $f->[1]: one policy, a sandbox with no sources";
    }
    $res = $paths{$where}->($att{'shot.png'});
    is $res->code, 200, "$where: a real PNG downloads";
    is $res->body, $png, "$where: byte for byte";
    is $res->headers->content_type, 'image/png', "$where: as image/png";
    like $res->headers->content_disposition, qr/^inline; filename="shot\.png"/, "$where: to be shown inline";
    is $res->headers->header('X-Content-Type-Options'), 'nosniff', "$where: nosniff";
    is $res->headers->content_security_policy, "sandbox; default-src 'none'", "$where: sandboxed still";
}
# WhatsApp media are attachments too: one stored as the provider declared it
$t->psql(qq{INSERT INTO helpdesk.attachments (tenant_id, ticket_id, filename, content_type, size, sha256, data, source)
            SELECT tenant_id, ticket_id, 'audio.ogg', 'text/html', 18, 'x', convert_to('<script>1</script>', 'UTF8'), 'whatsapp'
            FROM helpdesk.tickets WHERE ticket_id = '$tid'});
my $media = $t->psql(q{SELECT attachment_id FROM helpdesk.attachments WHERE filename = 'audio.ogg'});
$res = $ua->get($t->url("/v1/tickets/$tid/attachments/$media") => $h)->res;
is $res->headers->content_type, 'application/octet-stream', 'a stored type is never repeated for what it is not';
like $res->headers->content_disposition, qr/^attachment;/, 'a download';
is $ua->get($t->url("/v1/tickets/$tid/attachments/$media") => $t->auth($globex->{key}))->res->code, 404,
    "another tenant's key finds nothing";

# --- CSV: formulas defused ------------------------------------------------------------
my @cells = ('=cmd|\'/c calc\'!A1', ' =cmd', "\t=cmd", '@x', '+1', '-1', "\r=cmd", "\x01=x", 'plain "q"', 'a=b');
for my $c (@cells) {
    my $hex = unpack 'H*', $c;
    $t->psql(qq{INSERT INTO helpdesk.audit_log (tenant_id, actor_type, action, object_type, object_id)
                VALUES ('$acme->{id}', 'system', 'csv.test', 'ticket',
                        convert_from(decode('$hex', 'hex'), 'UTF8'))});
}
$res = $admin->get('/agent/_/api/audit.csv?limit=50');
is $res->code, 200, 'the audit log as CSV';
my $csv = $res->body;
for my $c (@cells[0 .. 7]) {
    (my $want = "'$c") =~ s/"/""/g;
    (my $shown = $c) =~ s/([\t\r\x01])/sprintf('\\x%02x', ord $1)/ge;
    ok index($csv, qq{,"$want",}) >= 0, "$shown: prefixed with a quote";
}
ok index($csv, q{,"plain ""q""",}) >= 0, 'quotes doubled inside a quoted field';
ok index($csv, q{,"a=b",}) >= 0, 'a cell that is no formula is left alone';
unlike $csv, qr/,"[\s\x00-\x1f]*[=+\-\@]/, 'no field starts a formula, whatever comes before it';

# --- access logs keep no secrets -------------------------------------------------
my $tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => '360dialog', display_phone_number => '+55 11 4000-9999',
    api_key => 'd360-key', base_url => $fake->url('/d360') });
is $tx->res->code, 201, 'a 360dialog number';
my ($hook, $wa_token) = $tx->res->json->{webhook_url} =~ m{(/whatsapp/)([A-Za-z0-9_-]+)$};
ok $wa_token, 'its webhook URL holds its token';
$res = $ua->post("http://127.0.0.1:$port$hook$wa_token" => json => {
    contacts => [{ profile => { name => 'Carla' }, wa_id => '5531966665555' }],
    messages => [{ from => '5531966665555', id => 'wamid.log1', timestamp => "" . time,
                   type => 'text', text => { body => 'oi' } }] })->res;
is $res->code, 200, 'a delivery';
$res = $ua->get("http://127.0.0.1:$port$hook$wa_token?hub.mode=subscribe&hub.verify_token=sekrit-verify&hub.challenge=42")->res;
my $log = logged(qr{hub\.mode});
like $log, qr{^200 "/whatsapp/\[redacted\]"$}m, 'the delivery is logged with its token redacted';
like $log, qr{"/whatsapp/\[redacted\]\?hub\.mode=subscribe&hub\.verify_token=\[redacted\]&hub\.challenge=42"},
    'and a handshake with its verify token redacted';
unlike $log, qr/\Q$wa_token\E/, 'the token appears nowhere';
unlike $log, qr/sekrit-verify/, 'nor the verify token';

my $r = portal();
$r->api(POST => '/reset', { email => 'cli@example.com' });
my $job = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE event_type = 'email.password_reset'
                                 ORDER BY outbox_id DESC LIMIT 1}));
my ($reset) = $job->{link} =~ m{/reset/([0-9a-f]{64})$};
ok $reset, 'a reset link';
is $r->get("/reset/$reset")->code, 200, 'its page';
is $r->api(GET => "/reset/$reset")->code, 200, 'its check';
is $r->get("/reset//./$reset%2f")->code, 200, 'its page, asked for in a roundabout way';
$log = logged(qr{/_/api/reset/});
like $log, qr{^200 "/reset/\[redacted\]"$}m, 'the reset page is logged without its token';
like $log, qr{^200 "/_/api/reset/\[redacted\]"$}m, 'and its call';
unlike $log, qr/\Q$reset\E/, 'the token appears nowhere';
like $log, qr{^200 "/_/api/kb/articles/roteador"$}m, 'other paths are logged as they are';
like $log, qr{"/agent/_/api/tickets/TKT-\d+/attachments/[0-9a-f-]{36}"}, 'ids (UUIDs) included';

# --- hostile input ------------------------------------------------------------------
$res = $ua->post($t->url('/v1/kb/articles') => { %$h, 'Content-Type' => 'application/json' }
                 => qq({"slug":"bad","title":"\xff\xfe","body_html":"x"}))->res;
is $res->code, 400, 'an article that is not UTF-8: 400, before any field is looked at';
$res = $ua->post($t->url('/v1/kb/articles') => $h => json => [{ body_html => '<script>' }])->res;
is $res->code, 422, 'an article that is no object: 422';
$res = $ua->post($t->url('/v1/kb/articles') => $h => json => {
    slug => 'long', title => 'x', body => ('a' x 200001) })->res;
is $res->code, 413, 'an article past the body limit: 413';
like $res->headers->content_type, qr{^application/problem\+json}, 'a problem document';
is $t->psql(q{SELECT count(*) FROM helpdesk.kb_articles WHERE slug = 'long'}), 0, 'not stored';
is $ua->patch($t->url("/v1/kb/articles/$art->{id}") => $t->auth($globex->{key}) => json => { body => 'x' })->res->code,
    404, "another tenant's article: 404";
$ua->get("http://127.0.0.1:$port/whatsapp/" . join('', map { sprintf '%%%02X', ord } split //, $wa_token));
$ua->get("http://127.0.0.1:$port/_/api/tickets/" . ('A' x 48) . "/x?session=abc&" . ('b' x 45));
$log = logged(qr{/_/api/tickets/\[redacted\]});
like $log, qr{"/_/api/tickets/\[redacted\]/x\?session=\[redacted\]&\[redacted\]"}, 'a long token-like segment or argument anywhere';
like $log, qr{ "/whatsapp/\[redacted\]"$}m, 'a token sent percent-encoded is redacted as well';
unlike $log, qr/\Q$wa_token\E|AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|%..%..%..%/, 'none of it appears';

# --- the directive is checked when the configuration is loaded ----------------------
for my $bad ('Agents.Test', '.agents.test', 'agents.test.', 'agents.test:8080', 'https://agents.test') {
    $t->write_conf(http => "helpdesk_base_domain portal.test; helpdesk_agent_console_host $bad;");
    my ($rc, $out) = $t->nginx_test;
    isnt $rc, 0, "helpdesk_agent_console_host $bad: nginx -t fails";
    like $out, qr/invalid value "\Q$bad\E" in "helpdesk_agent_console_host" directive/, 'naming the value';
}
$t->write_conf(http => 'helpdesk_agent_console_host a.test; helpdesk_agent_console_host b.test;');
like(($t->nginx_test)[1], qr/"helpdesk_agent_console_host" directive is duplicate/, 'given twice: refused');
$t->write_conf(http => 'helpdesk_agent_console_host agents.test; log_format x \'$helpdesk_log_uri\';');
is(($t->nginx_test)[0], 0, 'a good name, and the variable in a log format: accepted');

$t->done;
