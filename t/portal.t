#!/usr/bin/env perl
# The customer portal: tenant by Host, pages and assets, sessions, CSRF,
# passwords, tickets, attachments, the form, branding and languages.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Portal;
use Mojo::JSON qw(decode_json);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(sleep);

my $t = Helpdesk::Test->new->start_stack;
my $short = Helpdesk::Test::free_port();
$t->start_nginx(
    http => "helpdesk_base_domain portal.test;
    server {
        listen 127.0.0.1:$short;
        helpdesk_session_idle_timeout 2s;
        helpdesk_session_lifetime 4s;
        location / { helpdesk_portal; }
    }",
    server => 'location / { helpdesk_portal; helpdesk_upload_max_size 256k; }');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});

sub portal { Helpdesk::Portal->new($t, @_) }

my $p = portal('acme.portal.test');

# --- tenant by Host --------------------------------------------------------
my $res = $p->get('/');
is $res->code, 200, 'a tenant subdomain serves its portal';
like $res->headers->content_type, qr{^text/html}, 'as HTML';
my ($boot) = $res->body =~ m{<script type="application/json" id="boot">(.*?)</script>}s;
$boot = decode_json($boot);
is $boot->{tenant}{slug}, 'acme', "with this tenant's data";
is $boot->{user}, undef, 'nobody logged in';
ok $boot->{upload_max} > 0, 'and the upload limit';
unlike $res->body, qr/globex/i, "nothing of another tenant's";
like $res->headers->header('Content-Security-Policy'), qr/default-src 'none'.*script-src 'self'.*frame-ancestors 'none'/,
    'a strict Content-Security-Policy';
unlike $res->headers->header('Content-Security-Policy'), qr/unsafe-inline/, 'without unsafe-inline';
is $res->headers->header('X-Frame-Options'), 'DENY', 'no framing';
is $res->headers->header('Referrer-Policy'), 'same-origin', 'a Referrer-Policy';
is $res->headers->header('X-Content-Type-Options'), 'nosniff', 'nosniff';
ok !$res->headers->header('Strict-Transport-Security'), 'no HSTS over plain HTTP';
is $res->headers->cache_control, 'no-store', 'the page itself is not cached';
like $res->headers->header('Set-Cookie') // '', qr/hd_csrf=[0-9a-f]{64}; Path=\/; .*SameSite=Lax/, 'a CSRF cookie';

$res = portal('nobody.portal.test')->get('/');
is $res->code, 404, 'an unknown subdomain: 404';
like $res->body, qr/no support portal at this address/, 'a plain page that says so';
unlike $res->body, qr/acme|globex/i, 'naming no tenant';
is portal('elsewhere.example')->get('/tickets')->code, 404, 'an unknown host: 404';
is portal('globex.portal.test')->api(GET => '/boot')->json->{tenant}{slug}, 'globex',
    'each tenant by its own name';

# custom domains: pending ones do not serve, verified ones do
$res = $ua->post($t->url('/v1/domains') => $h => json => { hostname => 'Suporte.Acme.COM.br.' });
is $res->res->code, 201, 'a tenant adds a custom domain';
is $res->res->json->{hostname}, 'suporte.acme.com.br', 'normalized';
is $res->res->json->{status}, 'pending_dns', 'pending until its DNS proves it';
like $res->res->json->{dns}{value}, qr/^helpdesk-verify=[0-9a-f]{32}$/, 'with the record that proves it';
is portal('suporte.acme.com.br')->get('/')->code, 404, 'a pending domain serves nothing';
is $ua->post($t->url('/v1/domains') => $h => json => { hostname => 'not a host' })->res->code, 422,
    'a malformed name: 422';
my $pk = $t->auth($t->provider_key);
$res = $ua->post($t->url("/v1/provider/tenants/$acme->{id}/domains") => $pk
                 => json => { hostname => 'suporte.acme.com.br' });
is $res->res->code, 201, 'the provider verifies it';
is $res->res->json->{status}, 'active', 'active at once';
is portal('suporte.acme.com.br')->api(GET => '/boot')->json->{tenant}{slug}, 'acme',
    'and the custom domain serves the portal';
is $ua->post($t->url("/v1/provider/tenants/$globex->{id}/domains") => $pk
             => json => { hostname => 'suporte.acme.com.br' })->res->code, 409,
    'a verified name cannot be given to another tenant';
is $ua->get($t->url('/v1/domains') => $h)->res->json->{data}[0]{hostname}, 'suporte.acme.com.br', 'listed';
$ua->post($t->url('/v1/domains') => $h => json => { hostname => 'help.acme.example' });
is $ua->delete($t->url('/v1/domains/help.acme.example') => $h)->res->code, 204, 'a tenant removes a domain';
is $ua->delete($t->url('/v1/domains/help.acme.example') => $h)->res->code, 404, 'once';
is scalar @{ $ua->get($t->url("/v1/provider/tenants/$acme->{id}/domains") => $pk)->res->json->{data} }, 1,
    "the provider lists a tenant's domains";
is scalar @{ $ua->get($t->url('/v1/domains') => $t->auth($globex->{key}))->res->json->{data} }, 0,
    'another tenant lists none of them';
is_deeply [map { $_->{hostname} } @{ $ua->get($t->url('/v1/provider/tenants/acme/domains') => $pk)->res->json->{data} }],
    ['suporte.acme.com.br'], 'the provider names a tenant by its slug too';
is_deeply $ua->get($t->url('/v1/provider/tenants/globex/domains') => $pk)->res->json->{data}, [],
    'each tenant by its own slug';
is $ua->get($t->url('/v1/provider/tenants/nobody/domains') => $pk)->res->code, 404, 'an unknown slug: 404';
$res = $ua->post($t->url('/v1/provider/tenants/globex/domains') => $pk => json => { hostname => 'help.globex.example' });
is $res->res->code, 201, 'a domain added by slug';
is $res->res->headers->location, "/api/v1/provider/tenants/$globex->{id}/domains/help.globex.example",
    'its Location names the tenant by id';
is $ua->delete($t->url('/v1/provider/tenants/acme/domains/help.globex.example') => $pk)->res->code, 404,
    "another tenant's domain: 404";
is $ua->delete($t->url('/v1/provider/tenants/globex/domains/help.globex.example') => $pk)->res->code, 204,
    'removed by slug';

# --- assets -------------------------------------------------------------------
my ($css) = $p->get('/')->body =~ m{href="(/_/assets/portal/app\.[0-9a-f]{8}\.css)"};
ok $css, 'the page links a versioned stylesheet';
$res = $p->get($css);
is $res->code, 200, 'served';
like $res->headers->cache_control, qr/max-age=31536000, immutable/, 'cached for a year, immutable';
like $res->headers->etag, qr/^"[0-9a-f]{16}"$/, 'with a strong ETag';
is $p->get($css, 'If-None-Match' => $res->headers->etag)->code, 304, 'revalidated: 304';
is $p->get('/_/assets/portal/app.00000000.css')->code, 404, 'an unknown version: 404';
my ($js) = $p->get('/')->body =~ m{src="(/_/assets/portal/app\.[0-9a-f]{8}\.js)"};
like $p->get($js)->headers->content_type, qr{^application/javascript}, 'scripts as JavaScript';

# --- languages ------------------------------------------------------------------
like $p->get('/')->body, qr/<html lang="pt-BR" data-i18n="\/_\/assets\/i18n\/pt-BR\.[0-9a-f]{8}\.json">/,
    'Portuguese (Brazil) by default';
like $p->get('/', 'Accept-Language' => 'es-AR,es;q=0.9,en;q=0.5')->body, qr/<html lang="es"/,
    'Spanish from Accept-Language';
like $p->get('/', 'Accept-Language' => 'de-DE,en-US;q=0.8')->body, qr/<html lang="en"/,
    'the first language we have';
my ($i18n) = $p->get('/', 'Accept-Language' => 'en')->body =~ m{data-i18n="([^"]+)"};
is $p->get($i18n)->json->{'login.title'}, 'Log in', 'the strings of that language';
{
    my $q = portal('acme.portal.test');
    $q->set_cookie(hd_lang => 'en');
    like $q->get('/', 'Accept-Language' => 'pt-BR')->body, qr/<html lang="en"/, 'the switcher (a cookie) wins';
}

# --- sign up, CSRF -----------------------------------------------------------------
$res = $p->api(POST => '/signup', { email => 'ana@example.com', password => 'segredo123', name => 'Ana' },
               'X-CSRF-Token' => '');
is $res->code, 403, 'a change without the CSRF token: 403';
is $res->json->{type}, 'https://nginx-helpdesk.org/problems/csrf-token-invalid', 'says why';
$res = $p->api(POST => '/signup', { email => 'ana@example.com', password => 'segredo123', name => 'Ana' },
               'X-CSRF-Token' => 'f' x 64);
is $res->code, 403, 'a token other than the cookie: 403';
$res = $p->api(POST => '/signup', { email => 'ana@example.com', password => 'segredo123', name => 'Ana' },
               Origin => 'https://evil.example');
is $res->code, 403, 'a cross-site Origin: 403';
for my $o ('https://acme.portal.test', 'http://acme.portal.test:8081', 'http://acme.portal.test.evil.example') {
    $res = $p->api(POST => '/signup', { email => 'ana@example.com', password => 'short', name => 'Ana' },
                   Origin => $o);
    is $res->code, 403, "the same name on another scheme, port or domain ($o): 403";
}
$res = $p->api(POST => '/signup', { email => 'ana@example.com', password => 'short', name => 'Ana' },
               Origin => 'http://acme.portal.test:80');
is $res->code, 422, 'this site with its default port written out is this site (the password is then checked)';
$res = $p->signup('ana@example.com', 'short', 'Ana');
is $res->code, 422, 'a short password: 422';
is $res->json->{errors}[0]{field}, 'password', 'naming the field';
$res = $p->signup('not-an-email', 'segredo123', '');
is $res->code, 422, 'a bad email and no name: 422';
is_deeply [sort map { $_->{field} } @{ $res->json->{errors} }], ['email', 'name'], 'listing both';

my $csrf_before = $p->cookie('hd_csrf');
$res = $p->signup('Ana@Example.com', 'segredo123', 'Ana Souza');
is $res->code, 200, 'signed up';
is $res->json->{user}{email}, 'ana@example.com', 'logged in at once';
ok $res->json->{form}, 'with the ticket form';
my ($cookie) = grep { /^hd_session=/ } @{ $res->headers->every_header('Set-Cookie') };
like $cookie, qr/^hd_session=[0-9a-f]{64}; Path=\/; Max-Age=\d+; SameSite=Lax; HttpOnly$/,
    'the session cookie is opaque, HttpOnly, SameSite=Lax (no Secure over HTTP)';
isnt $p->cookie('hd_csrf'), $csrf_before, 'and a new CSRF token';
is $t->psql(q{SELECT count(*) FROM helpdesk.users WHERE email = 'ana@example.com'
              AND password_hash LIKE '$scrypt$ln=15,r=8,p=1$%'}), 1, 'the password is stored as an scrypt hash';
is portal('acme.portal.test')->signup('ana@example.com', 'outra-senha', 'X')->code, 409,
    'the same email again: 409';

# a customer the API knows (no password) is not taken over by a sign-up
$ua->post($t->url('/v1/tickets') => $h => json => { subject => 'by API', description => 'x',
          requester_email => 'bruno@example.com' });
$res = portal('acme.portal.test')->signup('bruno@example.com', 'segredo123', 'Bruno');
is $res->code, 409, "signing up with a known customer's email does not hand over their tickets";

# --- tickets ------------------------------------------------------------------
$res = $p->api(POST => '/tickets', { subject => '', category => 'nonsense' });
is $res->code, 422, 'an incomplete ticket: 422';
is_deeply [sort map { $_->{field} } @{ $res->json->{errors} }], [qw(category description priority subject)],
    'every missing or wrong field, by name';

$res = $p->upload('nota fiscal <1>.pdf', 'application/pdf', "%PDF-1.4 fake");
is $res->code, 201, 'a file uploaded';
my $up = $res->json;
is $up->{filename}, 'nota fiscal <1>.pdf', 'its name kept (as text)';
is $p->upload('big.bin', 'application/octet-stream', 'x' x (300 * 1024))->code, 413, 'over the limit: 413';
like $p->upload('big.bin', 'application/octet-stream', 'x' x (300 * 1024))->json->{detail},
    qr/larger than this operation accepts \(256 KB at most\)/, 'with a readable message';
is $p->upload('empty.txt', 'text/plain', '')->code, 422, 'an empty file: 422';

# a call refused before its body is read leaves nothing behind on a
# keep-alive connection: the next request on it is read as sent
{
    my $csrf = $p->cookie('hd_csrf');
    my $body = '{"subject":"x","description":"' . ('y' x 3000) . '"}';
    my $out = $t->raw_request("POST /_/api/tickets HTTP/1.1\r\nHost: acme.portal.test\r\n"
        . "Content-Type: application/json\r\nX-CSRF-Token: " . ('0' x 64) . "\r\nCookie: hd_csrf=$csrf\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n", $body,
        "GET /_/api/boot HTTP/1.1\r\nHost: acme.portal.test\r\nConnection: close\r\n\r\n");
    my @status = $out =~ m{^HTTP/1\.1 (\d+)}mg;
    is_deeply \@status, [403, 200], 'a refused call, then the next request on the same connection';
}

# the apps route like the API: 404, or 405 naming what the path takes
$res = $p->api(DELETE => '/login');
is $res->code, 405, 'a method the path does not take: 405';
is $res->headers->header('Allow'), 'POST', 'with Allow';
is $p->api(GET => '/nothing-here')->code, 404, 'no such call: 404';

# bodies are bounded before anything is read: an upload needs a signed-in
# page and its token, an account step takes a few kilobytes
my $anon = portal('acme.portal.test');
$res = $anon->upload('x.pdf', 'application/pdf', '%PDF-1.4 ' . ('x' x 1000));
is $res->code, 401, 'an upload without a session: 401';
is $res->json->{type}, 'https://nginx-helpdesk.org/problems/login-required', 'log in first';
is $p->upload('x.pdf', 'application/pdf', '%PDF', 'X-CSRF-Token' => 'f' x 64)->code, 403,
    'an upload with a wrong token: 403';
{
    my $csrf = $anon->cookie('hd_csrf');
    my $raw = "POST /_/api/login HTTP/1.1\r\nHost: acme.portal.test\r\n"
        . "Content-Type: application/json\r\nX-CSRF-Token: $csrf\r\nCookie: hd_csrf=$csrf\r\n"
        . "Origin: http://acme.portal.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    my $out = $t->raw_request($raw, map { sprintf("%x\r\n%s\r\n", 2000, 'x' x 2000) } 1 .. 6);
    like $out, qr{^HTTP/1\.1 413 }, 'a chunked login past a few kilobytes: 413';
    like $out, qr{"type": "[^"]*/payload-too-large"}, 'as a problem document';
    $out = $t->raw_request($raw, map({ sprintf("%x\r\n%s\r\n", length, $_) }
                                     '{"email":"nobody@example.com",', '"password":"wrong-one"}'),
                           "0\r\n\r\n");
    like $out, qr{^HTTP/1\.1 401 }, 'a chunked login is read and answered like any other';
}
# past client_body_buffer_size an upload goes to a temporary file, and
# still arrives whole
my $bigfile = join '', map { chr(($_ * 7) % 256) } 1 .. 200 * 1024;
$res = $p->upload('medidas.bin', 'application/octet-stream', $bigfile);
is $res->code, 201, 'a 200 KB upload, spooled to a file';
is $res->json->{size}, length $bigfile, 'every byte of it';
$res = $p->upload('fatura.pdf.exe', 'application/pdf', 'MZ...');
is $res->code, 415, 'a program, whatever its stated type: 415';
like $res->json->{detail}, qr/cannot be attached/, 'saying what may be attached instead';
is $p->upload('script', 'application/x-sh', '#!/bin/sh')->code, 415, 'a script by its type: 415';
is $p->upload('foto.JPG', 'image/jpeg', "\xff\xd8\xff")->code, 201, 'an image: fine';
$res = $p->api(POST => '/tickets', 'subject=x', 'Content-Type' => 'application/x-www-form-urlencoded');
is $res->code, 415, 'a call whose body is not JSON: 415';

$res = $p->api(POST => '/tickets', { subject => 'Internet caiu', category => 'technical', priority => 'high',
                                     description => "Desde ontem.\n<script>alert(1)</script>",
                                     equipment => 'router', contact_phone => '+55 11 98888-7777',
                                     attachments => [$up->{id}] });
is $res->code, 201, 'a ticket opened';
my $tk = $res->json;
like $tk->{number}, qr/^TKT-\d{6}$/, 'with its number';
is $tk->{channel}, 'portal', 'on the portal channel';
is_deeply $tk->{fields}, { equipment => 'router', contact_phone => '+55 11 98888-7777' }, 'the custom fields';
is $p->api(POST => '/tickets', { subject => 'again', category => 'technical', priority => 'low',
                                 description => 'x', attachments => [$up->{id}] })->code, 422,
    'an upload is used once';

$res = $p->api(GET => "/tickets/$tk->{number}");
is $res->code, 200, 'read back';
is $res->json->{events}[0]{type}, 'created', 'its history';
is $res->json->{events}[0]{author}, 'you', 'written by "you"';
is $res->json->{events}[0]{body}, "Desde ontem.\n<script>alert(1)</script>", 'the text as it was typed (escaped on the page)';
my $att = $res->json->{events}[0]{attachments}[0];
is $att->{filename}, 'nota fiscal <1>.pdf', 'with the attachment';

$res = $p->get("/_/api/tickets/$tk->{number}/attachments/$att->{id}");
is $res->code, 200, 'the attachment downloads';
is $res->body, '%PDF-1.4 fake', 'byte for byte';
is $res->headers->content_type, 'application/pdf', 'with its stored type';
like $res->headers->content_disposition, qr/^attachment; filename="nota fiscal <1>.pdf"; filename\*=UTF-8''nota%20fiscal%20%3C1%3E\.pdf$/,
    'as a download';
is $res->headers->header('X-Content-Type-Options'), 'nosniff', 'nosniff';

# the support team answers: a public reply shows, an internal note does not
my ($tid) = $t->psql(qq{SELECT ticket_id FROM helpdesk.tickets WHERE channel = 'portal' AND subject = 'Internet caiu'});
$ua->post($t->url("/v1/tickets/$tid/comments") => $h => json => { body => 'nota interna: cliente VIP', visibility => 'internal' });
$ua->post($t->url("/v1/tickets/$tid/comments") => $h => json => { body => 'Olá Ana, reinicie o roteador.' });
$ua->patch($t->url("/v1/tickets/$tid") => $h => json => { status => 'pending' });
$res = $p->api(GET => "/tickets/$tk->{number}");
my @ev = @{ $res->json->{events} };
ok !(grep { ($_->{body} // '') =~ /nota interna/ } @ev), 'internal notes never appear';
ok((grep { ($_->{body} // '') =~ /reinicie o roteador/ && $_->{author} eq 'agent' } @ev), 'the public reply does, from the support team');
ok((grep { $_->{type} eq 'status_changed' && $_->{change}{to} eq 'pending' } @ev), 'and the status change');
is $res->json->{status}, 'pending', 'the status is followed';
is $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'portal.ticket.read' AND object_id = '$tid'}), 2,
    'every view of the ticket is in the audit log';

$res = $p->api(POST => "/tickets/$tk->{number}/comments", { body => 'Reiniciei e voltou, obrigada!' });
is $res->code, 201, 'the customer comments';
is $p->api(GET => "/tickets/$tk->{number}")->json->{status}, 'open', 'a ticket waiting on the customer is open again';
is $p->api(POST => "/tickets/$tk->{number}/comments", { body => '  ' })->code, 422, 'an empty comment: 422';

is scalar @{ $p->api(GET => '/tickets')->json->{data} }, 1, 'the customer sees their tickets';
is scalar @{ $p->api(GET => '/tickets?status=closed')->json->{data} }, 0, 'filtered by status';
is scalar @{ $p->api(GET => '/tickets?status=all')->json->{data} }, 1, 'or all of them';
is $p->api(GET => '/tickets?status=whatever')->code, 422, 'an unknown filter: 422';

# another customer of the same tenant sees none of it
my $q = portal('acme.portal.test');
is $q->signup('carla@example.com', 'outra-senha-1', 'Carla')->code, 200, 'a second customer';
is scalar @{ $q->api(GET => '/tickets')->json->{data} }, 0, 'sees no ticket of the first';
is $q->api(GET => "/tickets/$tk->{number}")->code, 404, "another customer's ticket: 404";
is $q->api(POST => "/tickets/$tk->{number}/comments", { body => 'oi' })->code, 404, 'cannot comment on it';
is $q->get("/_/api/tickets/$tk->{number}/attachments/$att->{id}")->code, 404, 'nor download its files';
my $by_api = $t->psql(q{SELECT tickets.ticket_number(number) FROM helpdesk.tickets WHERE subject = 'by API'});
is $p->api(GET => "/tickets/$by_api")->code, 404, "the tenant's other tickets are not the customer's";

# the customer says the problem is solved; writing again reopens it
is $q->api(POST => "/tickets/$tk->{number}/resolve", {})->code, 404, 'another customer cannot resolve it';
$res = $p->api(POST => "/tickets/$tk->{number}/resolve", {}, 'X-CSRF-Token' => '');
is $res->code, 403, 'not without the CSRF token';
$res = $p->api(POST => "/tickets/$tk->{number}/resolve", {});
is $res->code, 200, 'the customer marks the ticket solved';
is $res->json->{status}, 'resolved', 'it is resolved';
ok((grep { $_->{type} eq 'status_changed' && $_->{change}{to} eq 'resolved' && $_->{author} eq 'you' } @{ $res->json->{events} }),
    'by them, in the history');
is $ua->get($t->url("/v1/tickets/$tid") => $h)->res->json->{status}, 'resolved', 'the team sees it resolved';
is $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'ticket.update' AND object_id = '$tid'
               AND actor_type = 'user'}), 1, 'audited as the customer';
is $p->api(POST => "/tickets/$tk->{number}/resolve", {})->code, 409, 'twice: 409';
$p->api(POST => "/tickets/$tk->{number}/comments", { body => 'Voltou a cair.' });
is $p->api(GET => "/tickets/$tk->{number}")->json->{status}, 'open', 'writing again opens it again';

# their details, and a copy of their data
$res = $p->api(PATCH => '/profile', { name => 'Ana Maria', phone => '+55 11 90000-1111' });
is $res->code, 200, 'the customer corrects their details';
is_deeply [@{ $res->json }{qw(name phone)}], ['Ana Maria', '+55 11 90000-1111'], 'name and phone';
is $p->api(GET => '/boot')->json->{user}{name}, 'Ana Maria', 'kept';
is $p->api(PATCH => '/profile', { name => '' })->code, 422, 'a name cannot be empty';
is $p->api(PATCH => '/profile', { phone => 'me liga' })->code, 422, 'a phone is digits';
is $p->api(PATCH => '/profile', { name => 'X' }, 'X-CSRF-Token' => '')->code, 403, 'not without the CSRF token';
$res = $p->api(GET => '/export');
is $res->code, 200, 'a copy of their data';
is $res->json->{you}{email}, 'ana@example.com', 'their details';
is scalar @{ $res->json->{tickets} }, 1, 'their tickets';
ok((grep { ($_->{body} // '') =~ /reinicie o roteador/ } @{ $res->json->{tickets}[0]{history} }), 'with the public history');
unlike $res->body, qr/nota interna/, 'never an internal note';
is $t->psql(q{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'portal.export'}), 1, 'the export is audited';
is scalar @{ $q->api(GET => '/export')->json->{tickets} }, 0, "another customer's copy has none of it";

# a session of one tenant is nobody on another tenant's portal
{
    my $g = portal('globex.portal.test');
    $g->get('/');
    $g->set_cookie(hd_session => $p->cookie('hd_session'));
    is $g->api(GET => '/boot')->json->{user}, undef, "acme's session means nothing on globex";
    is $g->api(GET => '/tickets')->code, 401, 'and lists nothing there';
}

# --- log out, log in, sessions -------------------------------------------------
my $old = $p->cookie('hd_session');
is $p->api(POST => '/logout')->code, 204, 'logged out';
is $p->api(GET => '/tickets')->code, 401, 'the session is gone';
{
    my $r = portal('acme.portal.test');
    $r->get('/');
    $r->set_cookie(hd_session => $old);
    is $r->api(GET => '/tickets')->code, 401, 'even with the old cookie (deleted on the server)';
}

my $wrong = $p->login('ana@example.com', 'not-the-password');
my $unknown = $p->login('nobody@example.com', 'not-the-password');
is $wrong->code, 401, 'a wrong password: 401';
is $unknown->code, 401, 'an unknown account: 401';
is $wrong->json->{detail}, $unknown->json->{detail}, 'the same answer for both';

# a session planted before login is not the one used after it
$p->set_cookie(hd_session => 'a' x 64);
$res = $p->login('ANA@example.com', 'segredo123');
is $res->code, 200, 'logged in (the email in any case)';
is $res->json->{email}, 'ana@example.com', 'as Ana';
isnt $p->cookie('hd_session'), 'a' x 64, 'with a new session token';
is $p->api(GET => '/tickets')->code, 200, 'which works';
ok $t->psql(q{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'portal.login'}) >= 1, 'logins are audited';
ok $t->psql(q{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'portal.login_failed'}) >= 2, 'and failures';

# idle and absolute expiry (a server with 2 s idle, 4 s lifetime)
{
    my $s = portal('acme.portal.test', port => $short);
    is $s->login('carla@example.com', 'outra-senha-1')->code, 200, 'a session on the short-lived server';
    sleep 1;
    is $s->api(GET => '/tickets')->code, 200, 'used within the idle time';
    sleep 1.5;
    is $s->api(GET => '/tickets')->code, 200, 'each use renews it';
    sleep 2.5;
    is $s->api(GET => '/tickets')->code, 401, 'idle too long: expired';
    is $s->login('carla@example.com', 'outra-senha-1')->code, 200, 'again';
    for (1 .. 6) { sleep 0.9; $s->api(GET => "/tickets") }
    is $s->api(GET => '/tickets')->code, 401, 'past its absolute lifetime: expired, however active';
}

# failed logins are limited per account
{
    my $r = portal('acme.portal.test');
    my @codes = map { $r->login('carla@example.com', "wrong-$_")->code } 1 .. 11;
    is $codes[-1], 429, 'the eleventh attempt in 15 minutes: 429';
    is $r->login('carla@example.com', 'outra-senha-1')->code, 429, 'even with the right password';
    ok $r->login('carla@example.com', 'x')->headers->header('Retry-After') > 0, 'with Retry-After';
    is $r->login('ana@example.com', 'segredo123')->code, 200, 'other accounts are not affected';
    my @ok = grep { $_ == 200 } map { $r->login('ana@example.com', 'segredo123')->code } 1 .. 12;
    is scalar @ok, 12, 'only failures count: twelve good logins in a row are fine';
}

# --- passwords ---------------------------------------------------------------
$res = $p->api(POST => '/password', { current => 'wrong-one!', password => 'nova-senha-123' });
is $res->code, 422, 'changing the password needs the current one';
is $res->json->{errors}[0]{field}, 'current', 'naming it';
my $other_device = portal('acme.portal.test');
is $other_device->login('ana@example.com', 'segredo123')->code, 200, 'the same account on another device';
is $p->api(POST => '/password', { current => 'segredo123', password => 'nova-senha-123' })->code, 204,
    'password changed';
is $other_device->api(GET => '/tickets')->code, 401, 'a new password ends the other sessions';
is $p->api(GET => '/tickets')->code, 200, 'but not the one that changed it';
is portal('acme.portal.test')->login('ana@example.com', 'nova-senha-123')->code, 200,
    'the new one works';

# forgotten password: a one-time link by email (through the outbox)
{
    my $r = portal('acme.portal.test');
    is $r->api(POST => '/reset', { email => 'nobody@example.com' })->code, 202, 'an unknown email: 202';
    is $r->api(POST => '/reset', { email => 'ana@example.com', language => 'pt-BR' })->code, 202,
        'a known one: the same 202';
    my $job = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE kind = 'email'
                                     AND event_type = 'email.password_reset' ORDER BY outbox_id DESC LIMIT 1}));
    is $job->{to}, 'ana@example.com', 'one email job, to the account';
    like $job->{subject}, qr/Redefinir sua senha/, 'in the language asked for';
    # the tenant's own name: its verified domain, whatever Host was asked
    my ($token) = $job->{link} =~ m{^http://suporte\.acme\.com\.br(?::\d+)?/reset/([0-9a-f]{64})$};
    ok $token, "the link points to this portal's own name";
    is $t->psql(q{SELECT count(*) FROM helpdesk.outbox WHERE kind = 'email'
                  AND event_type = 'email.password_reset'}), 1, 'and nothing for the unknown email';
    is $r->api(GET => "/reset/$token")->code, 200, 'the link is valid';
    is $r->api(POST => "/reset/$token", { password => 'short' })->code, 422, 'a short new password: 422';
    is $r->api(POST => "/reset/$token", { password => 'redefinida-123' })->code, 200, 'password reset';
    is $r->api(POST => "/reset/$token", { password => 'outra-vez-123' })->code, 404, 'the link works once';
    is $p->api(GET => '/tickets')->code, 401, 'a reset ends every session of the account';
    is $r->login('ana@example.com', 'redefinida-123')->code, 200, 'the new password works';
    $p->login('ana@example.com', 'redefinida-123');

    $r->api(POST => '/reset', { email => 'ana@example.com' });
    $job = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE kind = 'email' ORDER BY outbox_id DESC LIMIT 1}));
    ($token) = $job->{link} =~ m{/reset/([0-9a-f]{64})$};
    $t->psql(q{UPDATE helpdesk.password_resets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL});
    $res = $r->api(GET => "/reset/$token");
    is $res->code, 404, 'an expired link: 404';
    like $res->json->{detail}, qr/not valid any more/, 'saying so';
    is $t->psql(q{SELECT count(*) FROM helpdesk.outbox WHERE kind = 'email' AND status <> 'pending'}), 0,
        'email jobs wait for the email channel';
}

# --- the form, branding, rules ------------------------------------------------------
$res = $ua->put($t->url('/v1/portal/form') => $h => json => { fields => [
    { name => 'subject', type => 'text', label => { 'pt-BR' => 'Resumo', en => 'Summary' }, required => JSON::PP::true },
    { name => 'description', type => 'textarea', label => 'Descreva', required => JSON::PP::true },
    { name => 'unit', type => 'select', label => 'Unidade', required => JSON::PP::true,
      options => [{ value => 'sp', label => 'São Paulo' }, { value => 'rj', label => 'Rio' }] } ] });
is $res->res->code, 200, 'a tenant changes the form';
my $f = portal('acme.portal.test');
$f->login('ana@example.com', 'redefinida-123');
$boot = $f->api(GET => '/boot')->json;
is_deeply [map { $_->{name} } @{ $boot->{form} }], [qw(subject description unit)], 'the portal shows the new form';
is $boot->{form}[0]{label}{'pt-BR'}, 'Resumo', 'with its labels';
is_deeply [map { $_->{name} } @{ $f->api(GET => '/form')->json->{fields} }], [qw(subject description unit)],
    'the form on its own';
is $f->api(POST => '/tickets', { subject => 'x', description => 'y' })->json->{errors}[0]{field}, 'unit',
    'its required fields';
is $f->api(POST => '/tickets', { subject => 'x', description => 'y', unit => 'rj' })->json->{fields}{unit}, 'rj',
    'and its options';
$res = $ua->put($t->url('/v1/portal/form') => $h => json => { fields => [
    { name => 'Bad Name', type => 'colour', label => [] },
    { name => 'priority', type => 'select', label => 'P', options => [{ value => 'whenever', label => 'x' }] } ] });
is $res->res->code, 422, 'a broken form: 422';
is_deeply [sort map { $_->{field} } @{ $res->res->json->{errors} }],
    ['fields', 'fields[0].label', 'fields[0].name', 'fields[0].type', 'fields[1].options'], 'every problem named';

$res = $ua->patch($t->url('/v1/portal') => $h => json => { branding => {
    primary_color => '#8a1538', secondary_color => '#0b5394',
    welcome_title => { 'pt-BR' => 'Central de ajuda da Acme', en => 'Acme help centre' },
    welcome_text => 'Estamos aqui.' }, allow_signup => JSON::PP::false });
is $res->res->code, 200, 'branding set';
$boot = $p->api(GET => '/boot')->json;
is $boot->{portal}{branding}{primary_color}, '#8a1538', 'the colours reach every page';
is $boot->{portal}{branding}{welcome_title}{en}, 'Acme help centre', 'and the welcome text';

# the welcome, per language: the page carries the visitor's, else the tenant's default, else any
sub page_boot {
    my ($q, @headers) = @_;
    my ($json) = $q->get('/', @headers)->body =~ m{<script type="application/json" id="boot">(.*?)</script>}s;
    return decode_json($json)->{portal}{branding};
}
my $w = page_boot($p, 'Accept-Language' => 'en-GB,en;q=0.9');
is $w->{welcome_title}, 'Acme help centre', 'the English welcome to an English reader';
is $w->{welcome_text}, 'Estamos aqui.', 'a plain string is every language';
is page_boot($p, 'Accept-Language' => 'pt-BR')->{welcome_title}, 'Central de ajuda da Acme', 'the Portuguese one in Portuguese';
is page_boot($p, 'Accept-Language' => 'es')->{welcome_title}, 'Central de ajuda da Acme',
    "no Spanish: the tenant's default language (pt-BR)";
$res = $ua->patch($t->url('/v1/portal') => $h => json => { default_language => 'en', branding => {
    welcome_title => { 'pt-BR' => 'Central de ajuda da Acme', es => 'Centro de ayuda de Acme', en => 'Acme help centre' },
    welcome_text => { es => 'Estamos aquí.' } } });
is $res->res->code, 200, 'texts set in three languages';
is_deeply $res->res->json->{branding}{welcome_title},
    { 'pt-BR' => 'Central de ajuda da Acme', es => 'Centro de ayuda de Acme', en => 'Acme help centre' },
    'the API keeps every language';
is page_boot($p, 'Accept-Language' => 'es-AR,es;q=0.9')->{welcome_title}, 'Centro de ayuda de Acme', 'Spanish in Spanish';
is page_boot($p, 'Accept-Language' => 'fr')->{welcome_title}, 'Acme help centre', "an unknown language: the default's (en)";
is page_boot($p, 'Accept-Language' => 'pt-BR')->{welcome_text}, 'Estamos aquí.', 'and failing both, any there is';
{
    my $q = portal('acme.portal.test');
    $q->set_cookie(hd_lang => 'es');
    is page_boot($q, 'Accept-Language' => 'en')->{welcome_title}, 'Centro de ayuda de Acme', 'the language switcher too';
}
is $ua->patch($t->url('/v1/portal') => $h => json => { branding => { welcome_title => { fr => 'Bienvenue' } } })->res->code,
    422, 'a language we do not have: 422';
is $ua->patch($t->url('/v1/portal') => $h => json => { branding => { welcome_title => { en => 5 } } })->res->code,
    422, 'a text that is not text: 422';
$ua->patch($t->url('/v1/portal') => $h => json => { default_language => 'pt-BR', branding => { welcome_text => undef } });
is page_boot($p)->{welcome_text}, undef, 'no text: null';
is $ua->patch($t->url('/v1/portal') => $h => json => { branding => { primary_color => 'red; x: y' } })->res->code, 422,
    'a colour that is not a colour: 422';
is portal('acme.portal.test')->signup('dora@example.com', 'segredo123', 'Dora')->code, 403,
    'sign-up closed by the tenant: 403';

my $png = "\x89PNG\r\n\x1a\n" . 'not really a png but bytes';
is $ua->put($t->url('/v1/portal/assets/logo') => $h => json => { content_type => 'image/png',
    data => encode_base64($png, '') })->res->code, 200, 'a logo uploaded';
$res = $p->get('/_/logo');
is $res->code, 200, 'served on the portal';
is $res->headers->content_type, 'image/png', 'with its type';
is $res->body, $png, 'byte for byte';
ok $p->api(GET => '/boot')->json->{portal}{logo}, 'and announced to the page';
is $ua->put($t->url('/v1/portal/assets/logo') => $h => json => { content_type => 'image/svg+xml',
    data => encode_base64('<svg onload="alert(1)"/>', '') })->res->code, 422, 'SVG (scripts) refused';
is portal('globex.portal.test')->get('/_/logo')->code, 404, 'other tenants have no logo';
is $ua->delete($t->url('/v1/portal/assets/logo') => $h)->res->code, 204, 'the logo removed';
is $p->get('/_/logo')->code, 404, 'and gone from the portal';
is $ua->put($t->url('/v1/portal/assets/banner') => $h => json => { content_type => 'image/png',
    data => encode_base64($png, '') })->res->code, 422, 'only a logo and a favicon';

$ua->patch($t->url('/v1/portal') => $h => json => { require_login => JSON::PP::true });
is portal('acme.portal.test')->api(GET => '/kb')->code, 401,
    'a portal that requires login shows nothing to visitors';

# --- bad requests ---------------------------------------------------------------
is $p->api(GET => '/nothing-here')->code, 404, 'an unknown call: 404 (problem+json)';
is $p->api(DELETE => '/tickets')->code, 405, 'a wrong method: 405';
$res = $p->api(POST => '/tickets', '{"subject": ', 'Content-Type' => 'application/json');
is $res->code, 400, 'malformed JSON: 400';
is $ua->post("http://127.0.0.1:@{[$t->port]}/some/page" => { Host => 'acme.portal.test' })->res->code, 405,
    'pages take GET only';

$t->done;
