#!/usr/bin/env perl
# Tenant isolation, route by route.  The routes are read from the module's
# own tables (src/api/*.c, the portal's and the console's in src/app/), and
# every one of them is called by tenant globex with tenant acme's ids:
# tickets, attachments, webhooks, WhatsApp connections, knowledge-base
# categories and articles, users and invitations, canned replies, saved
# views, customers, agents, domains.  An id-addressed route answers 404
# (acme's things do not exist for globex); a route that is not
# id-addressed answers for globex's own data and shows none of acme's; a
# provider route refuses a tenant's key.  Afterwards every row of acme's,
# in every table, is as it was.  A route added to a table without a case
# here fails the test.  Last, the console's live stream: an event of
# acme's never reaches globex's stream.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Portal;
use Mojo::IOLoop;
use Mojo::JSON qw(true false);
use Time::HiRes qw(time);

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain portal.test; helpdesk_outbox off;',
                server => 'location / { helpdesk_portal; } location /agent/ { helpdesk_agent_console; }');
my $ua = $t->ua;
my $port = $t->port;

# --- the routes, from the module's tables --------------------------------------------
sub slurp { local (@ARGV, $/) = @_; <> }

my %routes;     # "api GET /v1/tickets/*" => 1
for my $file (glob("$FindBin::Bin/../src/api/*.c")) {
    my $c = slurp($file);
    my %ops;
    while ($c =~ /ngx_http_helpdesk_api_op_t\s+(\w+)\[\]\s*=\s*\{(.*?)\n\};/sg) {
        my ($name, $body) = ($1, $2);
        $ops{$name} = [$body =~ /\{\s*NGX_HTTP_(\w+),\s*\d+,/g];
    }
    while ($c =~ /\{\s*"(\/v1\/[^"]*)",\s*(\w+)\s*\}/g) {
        my ($pattern, $name) = ($1, $2);
        die "$file: no operations $name" unless $ops{$name};
        $routes{"api $_ $pattern"} = 1 for @{ $ops{$name} };
    }
}
for my $app (['portal', 'ngx_http_helpdesk_portal.c', 'ngx_http_helpdesk_portal_ops'],
             ['console', 'ngx_http_helpdesk_console.c', 'ngx_http_helpdesk_console_ops']) {
    my $c = slurp("$FindBin::Bin/../src/app/$app->[1]");
    my ($body) = $c =~ /$app->[2]\[\]\s*=\s*\{(.*?)\n\};/s or die "$app->[1]: no table";
    $routes{"$app->[0] $1 $2"} = 1 while $body =~ /\{\s*NGX_HTTP_(\w+),\s*\d+,\s*"([^"]+)"/g;
}
cmp_ok scalar(keys %routes), '>', 90, 'the route tables were read (' . scalar(keys %routes) . ' routes)';

# --- two tenants, acme's with one of everything ----------------------------------------
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $ha = $t->auth($acme->{key});
my $hb = $t->auth($globex->{key});

sub ok_json {
    my ($tx, $what) = @_;
    my $code = $tx->res->code // 0;
    die "$what: $code " . $tx->res->body unless $code >= 200 && $code < 300;
    return $tx->res->json;
}

# agents and admins, each with a password, logged in to their console
sub console_admin {
    my ($slug, $h, $email, $role) = @_;
    my $u = ok_json($ua->post($t->url('/v1/users') => $h => json => { email => $email, name => $email, role => $role }), 'user');
    ok_json($ua->post($t->url("/v1/users/$u->{id}/invitation") => $h
                      => json => { url => "http://$slug.portal.test:$port/agent/" }), 'invitation');
    my $link = $t->psql(qq{SELECT payload->>'link' FROM helpdesk.outbox WHERE kind = 'email'
                           AND payload->>'link' LIKE 'http://$slug.%' ORDER BY outbox_id DESC LIMIT 1});
    my ($token) = $link =~ m{/agent/reset/([0-9a-f]{64})$} or die "no invitation link: $link";
    my $c = Helpdesk::Portal->new($t, "$slug.portal.test", prefix => '/agent');
    $c->api(POST => "/reset/$token", { password => "password-of-$email" })->code == 200 or die 'password';
    $c->login($email, "password-of-$email")->code == 200 or die 'login';
    return ($c, $u, $token);
}

my ($a_admin, $a_admin_user) = console_admin('acme', $ha, 'ana@acme.example', 'admin');
my ($a_agent, $a_agent_user) = console_admin('acme', $ha, 'abel@acme.example', 'agent');
my ($b_admin, $b_admin_user) = console_admin('globex', $hb, 'gil@globex.example', 'admin');

# acme has more tickets than globex, so that acme's numbers are not globex's
ok_json($ua->post($t->url('/v1/tickets') => $ha => json => { subject => "acme $_", requester_email => "r$_\@acme.example" }), 'ticket')
    for 1 .. 3;
my $a_cust = Helpdesk::Portal->new($t, 'acme.portal.test');
$a_cust->signup('carla@acme.example', 'carla-password-1', 'Carla')->code == 200 or die 'signup';
my $up = $a_cust->upload('acme-secret.pdf', 'application/pdf', '%PDF-1.4 acme')->json;
my $a_pticket = $a_cust->api(POST => '/tickets', { subject => 'acme private', description => 'acme only',
                                                   category => 'technical', priority => 'normal',
                                                   attachments => [$up->{id}] });
$a_pticket->code == 201 or die 'portal ticket: ' . $a_pticket->body;
$a_pticket = $a_pticket->json;
my ($a_ticket) = grep { $_->{number} eq $a_pticket->{number} } @{ ok_json($ua->get($t->url('/v1/tickets') => $ha), 'list')->{data} };
ok $a_ticket, "acme's portal ticket $a_pticket->{number}";
my $a_att = $t->psql(qq{SELECT attachment_id FROM helpdesk.attachments WHERE ticket_id = '$a_ticket->{id}'});
like $a_att, qr/^[0-9a-f-]{36}$/, 'with an attachment';
my $a_cust_id = $t->psql(q{SELECT user_id FROM helpdesk.users WHERE email = 'carla@acme.example'});

my $a_group = ok_json($ua->post($t->url('/v1/groups') => $ha => json => { name => 'Acme billing' }), 'group');
my $a_mailbox = ok_json($ua->post($t->url('/v1/email/mailboxes') => $ha => json => { address => 'support@acme.example' }), 'mailbox');
# a Gmail mailbox of acme's waiting for its consent: its state is acme's
my $a_gmail = ok_json($ua->post($t->url('/v1/email/mailboxes') => $ha => json => {
    kind => 'gmail', address => 'acme.desk@gmail.com', client_id => 'acme-client.apps',
    client_secret => 'acme-client-secret' }), 'gmail mailbox');
my ($a_state) = ($a_gmail->{authorize_url} // '') =~ /[?&]state=([^&]+)/;
ok $a_state, "acme's consent has a state";
# the mail acme sends: its sender's name and signature, a wording of its own
ok_json($ua->put($t->url('/v1/email/settings') => $ha => json => {
    from_name => 'acme private sender', signature => 'acme private signature' }), 'email settings');
# a link acme was sent to confirm its mailbox's address as a sender
$t->psql(qq{INSERT INTO helpdesk.email_sender_links (tenant_id, token_hash, address, expires_at)
            VALUES ('$acme->{id}', sha256(convert_to('acme-sender-link', 'UTF8')), 'support\@acme.example',
                    now() + interval '2 days')});
ok_json($ua->put($t->url('/v1/email/templates/password_reset/pt-BR') => $ha => json => {
    subject => 'acme private subject', text => 'acme private {{link}}', html => '<p>acme private {{link}}</p>' }),
    'email template');
ok_json($ua->put($t->url("/v1/groups/$a_group->{id}/members/$a_agent_user->{id}") => $ha), 'group member');
my $a_hook = ok_json($ua->post($t->url('/v1/webhooks') => $ha => json => {
    url => 'https://hooks.acme.example/h', events => ['ticket.created'] }), 'webhook');
my $a_wa = ok_json($ua->post($t->url('/v1/whatsapp/connections') => $ha => json => {
    provider => '360dialog', display_phone_number => '+55 11 4000-9999', api_key => 'acme-d360-key',
    base_url => 'http://127.0.0.1:9/d360' }), 'whatsapp');
my $a_cat = ok_json($ua->post($t->url('/v1/kb/categories') => $ha => json => { slug => 'acme-cat', name => 'Acme' }), 'category');
my $a_art = ok_json($ua->post($t->url('/v1/kb/articles') => $ha => json => {
    slug => 'acme-article', title => 'Acme article', category => 'acme-cat', language => 'en', body => 'acme' }), 'article');
ok_json($ua->post($t->url('/v1/domains') => $ha => json => { hostname => 'help.acme.example' }), 'domain');
my $a_canned = $a_admin->api(POST => '/canned', { title => 'acme canned', body => 'acme' })->json;
my $a_view = $a_admin->api(POST => '/views', { name => 'acme view', filters => { status => 'open' } })->json;
ok $a_canned->{id} && $a_view->{id}, "acme's canned reply and saved view";

# globex: a customer of its own on its portal
my $b_cust = Helpdesk::Portal->new($t, 'globex.portal.test');
$b_cust->signup('gina@globex.example', 'gina-password-1', 'Gina')->code == 200 or die 'signup';
my $b_cust_id = $t->psql(q{SELECT user_id FROM helpdesk.users WHERE email = 'gina@globex.example'});

# acme's chat: a visitor and a conversation (as the conversations layer records them)
my $a_chat = 'a0000000-0000-4000-8000-00000000c001';
$t->psql(qq{INSERT INTO helpdesk.chat_visitors (tenant_id, visitor_id, token_hash, customer_id)
            VALUES ('$acme->{id}', 'a0000000-0000-4000-8000-0000000000d1', sha256('acme visitor'),
                    '$a_cust_id');
            INSERT INTO helpdesk.chat_conversations (tenant_id, conversation_id, visitor_id, status)
            VALUES ('$acme->{id}', '$a_chat', 'a0000000-0000-4000-8000-0000000000d1', 'active')});

# --- acme's rows, before ----------------------------------------------------------------
my $tables = [split /\n/, $t->psql(q{SELECT tablename FROM pg_tables WHERE schemaname = 'helpdesk' ORDER BY 1})];
sub snapshot {
    my %s;
    for my $tb (@$tables) {
        $s{$tb} = $t->psql(qq{SELECT count(*) || ' ' || md5(coalesce(string_agg(to_jsonb(x)::text, ',' ORDER BY to_jsonb(x)::text), ''))
                              FROM helpdesk.$tb x WHERE tenant_id = '$acme->{id}'});
    }
    return \%s;
}
my $before = snapshot();

# --- the cases ------------------------------------------------------------------------
# each: [path (acme's ids in it), body, expected]; expected is 404 (an
# id-addressed route: acme's thing is not globex's), 401 (a provider route
# with a tenant's key), or 'own' (globex's own data: anything but an
# error of ours, and none of acme's ids in the answer)
my $T = $a_ticket->{id};
my $N = $a_ticket->{number};
my %case = (
    'api GET /v1/health'                       => ['/v1/health', undef, 'own'],
    'api GET /v1/tickets'                      => ['/v1/tickets', undef, 'own'],
    'api POST /v1/tickets'                     => ['/v1/tickets', { subject => 'globex', requester_email => 'x@globex.example' }, 'own'],
    'api GET /v1/tickets/*'                    => ["/v1/tickets/$T", undef, 404],
    'api PATCH /v1/tickets/*'                  => ["/v1/tickets/$T", { status => 'closed' }, 404],
    'api POST /v1/tickets/*/comments'          => ["/v1/tickets/$T/comments", { body => 'from globex' }, 404],
    'api GET /v1/tickets/*/events'             => ["/v1/tickets/$T/events", undef, 404],
    'api GET /v1/tickets/*/attachments/*'      => ["/v1/tickets/$T/attachments/$a_att", undef, 404],
    'api POST /v1/uploads'                     => ['/v1/uploads?filename=globex.json', { from => 'globex' }, 'own'],
    'api POST /v1/tickets/*/whatsapp-template' => ["/v1/tickets/$T/whatsapp-template", { use => 'status_update', parameters => ['x'] }, 404],
    'api GET /v1/users'                        => ['/v1/users', undef, 'own'],
    'api POST /v1/users'                       => ['/v1/users', { email => 'new@globex.example', name => 'New', role => 'agent' }, 'own'],
    'api POST /v1/users/*/invitation'          => ["/v1/users/$a_agent_user->{id}/invitation", { url => "http://globex.portal.test:$port/agent/" }, 404],
    'api GET /v1/business-hours/*'             => ['/v1/business-hours/whatsapp', undef, 'own'],
    'api PUT /v1/business-hours/*'             => ['/v1/business-hours/whatsapp', { timezone => 'UTC', always_open => true }, 'own'],
    'api GET /v1/groups'                       => ['/v1/groups', undef, 'own'],
    'api POST /v1/groups'                      => ['/v1/groups', { name => 'Globex billing' }, 'own'],
    'api GET /v1/groups/*'                     => ["/v1/groups/$a_group->{id}", undef, 404],
    'api PATCH /v1/groups/*'                   => ["/v1/groups/$a_group->{id}", { name => 'mine now' }, 404],
    'api DELETE /v1/groups/*'                  => ["/v1/groups/$a_group->{id}", undef, 404],
    'api GET /v1/groups/*/members'             => ["/v1/groups/$a_group->{id}/members", undef, 404],
    'api PUT /v1/groups/*/members/*'           => ["/v1/groups/$a_group->{id}/members/$a_agent_user->{id}", undef, 404],
    'api DELETE /v1/groups/*/members/*'        => ["/v1/groups/$a_group->{id}/members/$a_agent_user->{id}", undef, 404],
    'api GET /v1/email/mailboxes'              => ['/v1/email/mailboxes', undef, 'own'],
    'api POST /v1/email/mailboxes'             => ['/v1/email/mailboxes', { address => 'help@globex.example' }, 'own'],
    'api GET /v1/email/mailboxes/*'            => ["/v1/email/mailboxes/$a_mailbox->{id}", undef, 404],
    'api PATCH /v1/email/mailboxes/*'          => ["/v1/email/mailboxes/$a_mailbox->{id}", { rotate_token => \1 }, 404],
    'api DELETE /v1/email/mailboxes/*'         => ["/v1/email/mailboxes/$a_mailbox->{id}", undef, 404],
    'api POST /v1/email/mailboxes/*/authorize' => ["/v1/email/mailboxes/$a_gmail->{id}/authorize", {}, 404],
    # acme's consent, finished by globex: no such consent for globex
    'api GET /v1/email/oauth/callback'         => ["/v1/email/oauth/callback?code=globex-code&state=$a_state", undef, 400],
    'api GET /v1/email/threading'              => ['/v1/email/threading', undef, 'own'],
    'api PUT /v1/email/threading'              => ['/v1/email/threading', { closed_reply => 'follow_up' }, 'own'],
    'api GET /v1/email/settings'               => ['/v1/email/settings', undef, 'own'],
    'api PUT /v1/email/settings'               => ['/v1/email/settings', { signature => 'Globex' }, 'own'],
    # acme's link, brought to globex: no such link; acme's address: not globex's to confirm
    # (globex has no e-mail settings yet: its sender is no address at all)
    'api POST /v1/email/settings/verify'       => ['/v1/email/settings/verify', { token => 'acme-sender-link' }, 404],
    'api POST /v1/email/settings/verification' => ['/v1/email/settings/verification', { address => 'support@acme.example', console_url => 'https://globex.portal.test/agent' }, 422],
    'api GET /v1/email/templates/*/*'          => ['/v1/email/templates/password_reset/pt-BR', undef, 'own'],
    'api PUT /v1/email/templates/*/*'          => ['/v1/email/templates/password_reset/pt-BR',
                                                   { subject => 'Globex', text => 'Globex {{link}}', html => '<p>Globex {{link}}</p>' }, 'own'],
    'api DELETE /v1/email/templates/*/*'       => ['/v1/email/templates/password_reset/pt-BR', undef, 'own'],
    'api POST /v1/email/templates/*/*/preview' => ['/v1/email/templates/password_reset/pt-BR/preview', undef, 'own'],
    'api GET /v1/webhooks'                     => ['/v1/webhooks', undef, 'own'],
    'api POST /v1/webhooks'                    => ['/v1/webhooks', { url => 'https://hooks.globex.example/h', events => ['ticket.created'] }, 'own'],
    'api GET /v1/webhooks/*'                   => ["/v1/webhooks/$a_hook->{id}", undef, 404],
    'api PATCH /v1/webhooks/*'                 => ["/v1/webhooks/$a_hook->{id}", { url => 'https://evil.example/h' }, 404],
    'api DELETE /v1/webhooks/*'                => ["/v1/webhooks/$a_hook->{id}", undef, 404],
    'api POST /v1/webhooks/*/ping'             => ["/v1/webhooks/$a_hook->{id}/ping", undef, 404],
    'api GET /v1/webhooks/*/deliveries'        => ["/v1/webhooks/$a_hook->{id}/deliveries", undef, 404],
    'api GET /v1/whatsapp/connections'         => ['/v1/whatsapp/connections', undef, 'own'],
    'api POST /v1/whatsapp/connections'        => ['/v1/whatsapp/connections', { provider => '360dialog', display_phone_number => '+55 11 4000-8888',
                                                                                 api_key => 'globex-key', base_url => 'http://127.0.0.1:9/d360' }, 'own'],
    'api GET /v1/whatsapp/connections/*'       => ["/v1/whatsapp/connections/$a_wa->{id}", undef, 404],
    'api PATCH /v1/whatsapp/connections/*'     => ["/v1/whatsapp/connections/$a_wa->{id}", { enabled => false }, 404],
    'api DELETE /v1/whatsapp/connections/*'    => ["/v1/whatsapp/connections/$a_wa->{id}", undef, 404],
    'api GET /v1/whatsapp/connections/*/qr.png' => ["/v1/whatsapp/connections/$a_wa->{id}/qr.png", undef, 404],
    'api GET /v1/whatsapp/connections/*/qr.svg' => ["/v1/whatsapp/connections/$a_wa->{id}/qr.svg", undef, 404],
    'api GET /v1/whatsapp/templates'           => ['/v1/whatsapp/templates', undef, 'own'],
    'api PUT /v1/whatsapp/templates'           => ['/v1/whatsapp/templates', { status_update => { name => 'globex_status', language => 'en' } }, 'own'],
    'api GET /v1/portal'                       => ['/v1/portal', undef, 'own'],
    'api PATCH /v1/portal'                     => ['/v1/portal', { name => 'Globex help' }, 'own'],
    'api GET /v1/portal/form'                  => ['/v1/portal/form', undef, 'own'],
    'api PUT /v1/portal/form'                  => ['/v1/portal/form', { fields => [] }, 'own'],
    'api PUT /v1/portal/assets/*'              => ['/v1/portal/assets/logo', 'PNG', 'own'],
    'api DELETE /v1/portal/assets/*'           => ['/v1/portal/assets/logo', undef, 'own'],
    'api GET /v1/domains'                      => ['/v1/domains', undef, 'own'],
    'api POST /v1/domains'                     => ['/v1/domains', { hostname => 'help.globex.example' }, 'own'],
    'api DELETE /v1/domains/*'                 => ['/v1/domains/help.acme.example', undef, 404],
    'api GET /v1/domains/*'                    => ['/v1/domains/help.acme.example', undef, 404],
    'api POST /v1/domains/*/check'             => ['/v1/domains/help.acme.example/check', undef, 404],
    'api GET /v1/kb/categories'                => ['/v1/kb/categories', undef, 'own'],
    'api POST /v1/kb/categories'               => ['/v1/kb/categories', { slug => 'globex-cat', name => 'Globex' }, 'own'],
    'api PATCH /v1/kb/categories/*'            => ["/v1/kb/categories/$a_cat->{id}", { name => 'mine now' }, 404],
    'api DELETE /v1/kb/categories/*'           => ["/v1/kb/categories/$a_cat->{id}", undef, 404],
    'api GET /v1/kb/articles'                  => ['/v1/kb/articles', undef, 'own'],
    'api POST /v1/kb/articles'                 => ['/v1/kb/articles', { slug => 'globex-article', title => 'G', category => 'globex-cat',
                                                                        language => 'en', body => 'g' }, 'own'],
    'api GET /v1/kb/articles/*'                => ["/v1/kb/articles/$a_art->{id}", undef, 404],
    'api PATCH /v1/kb/articles/*'              => ["/v1/kb/articles/$a_art->{id}", { title => 'mine now' }, 404],
    'api DELETE /v1/kb/articles/*'             => ["/v1/kb/articles/$a_art->{id}", undef, 404],
    'api GET /v1/console'                      => ['/v1/console', undef, 'own'],
    'api PATCH /v1/console'                    => ['/v1/console', { require_totp => false }, 'own'],
    'api GET /v1/chat/settings'                => ['/v1/chat/settings', undef, 'own'],
    'api PUT /v1/chat/settings'                => ['/v1/chat/settings', { title => 'globex' }, 'own'],
    'api GET /v1/chat/conversations'           => ['/v1/chat/conversations', undef, 'own'],
    'api GET /v1/chat/conversations/*'         => ["/v1/chat/conversations/$a_chat", undef, 404],
    'api POST /v1/chat/conversations/*/ticket' => ["/v1/chat/conversations/$a_chat/ticket", undef, 404],
    'api GET /v1/provider/secrets'             => ['/v1/provider/secrets', undef, 401],
    'api GET /v1/provider/tenants'             => ['/v1/provider/tenants', undef, 401],
    'api POST /v1/provider/tenants'            => ['/v1/provider/tenants', { slug => 'evil', name => 'Evil' }, 401],
    'api GET /v1/provider/tenants/*'           => ["/v1/provider/tenants/$acme->{id}", undef, 401],
    'api PATCH /v1/provider/tenants/*'         => ["/v1/provider/tenants/$acme->{id}", { status => 'disabled' }, 401],
    'api GET /v1/provider/tenants/*/api-keys'  => ["/v1/provider/tenants/$acme->{id}/api-keys", undef, 401],
    'api POST /v1/provider/tenants/*/api-keys' => ["/v1/provider/tenants/$acme->{id}/api-keys", { name => 'evil', scopes => ['admin'] }, 401],
    'api DELETE /v1/provider/tenants/*/api-keys/*' => ["/v1/provider/tenants/$acme->{id}/api-keys/$acme->{key_id}", undef, 401],
    'api POST /v1/provider/tenants/*/admins' => ["/v1/provider/tenants/$acme->{id}/admins", { email => 'evil@globex.example', url => 'https://x.example/agent' }, 401],
    'api GET /v1/provider/tenants/*/domains'   => ["/v1/provider/tenants/$acme->{id}/domains", undef, 401],
    'api POST /v1/provider/tenants/*/domains'  => ["/v1/provider/tenants/$acme->{id}/domains", { hostname => 'evil.example' }, 401],
    'api DELETE /v1/provider/tenants/*/domains/*' => ["/v1/provider/tenants/$acme->{id}/domains/help.acme.example", undef, 401],
    'api GET /v1/provider/tenants/*/domains/*' => ["/v1/provider/tenants/$acme->{id}/domains/help.acme.example", undef, 401],
    'api PUT /v1/provider/tenants/*/domains/*/certificate' => ["/v1/provider/tenants/$acme->{id}/domains/help.acme.example/certificate",
                                                               { certificate => 'x', private_key => 'y' }, 401],
    'api GET /v1/provider/tls'                 => ['/v1/provider/tls', undef, 401],
);

# the apps: globex's customer on globex's portal, globex's admin on its
# console, with acme's numbers, ids, slugs and tokens
my $a_reset = '0' x 64;
# a live link of acme's customer to confirm her address
my ($a_verify) = $t->psql(qq{SELECT payload->>'link' FROM helpdesk.outbox WHERE event_type = 'email.verification'
                             AND tenant_id = '$acme->{id}' ORDER BY outbox_id DESC LIMIT 1}) =~ m{/verify/([0-9a-f]{64})$};
$a_verify //= '0' x 64;
my %app = (
    'portal GET /boot'                   => ['/boot', undef, 'own'],
    'portal POST /signup'                => ['/signup', { email => 'new@globex.example', password => 'new-password-1', name => 'New' }, 'own'],
    'portal POST /login'                 => ['/login', { email => 'carla@acme.example', password => 'carla-password-1' }, 401],
    'portal POST /logout'                => ['/logout', undef, 'own'],
    'portal POST /password'              => ['/password', { current => 'wrong-password-1', password => 'another-pass-2' }, 'own'],
    'portal POST /reset'                 => ['/reset', { email => 'carla@acme.example' }, 'own'],
    'portal GET /reset/*'                => ["/reset/$a_reset", undef, 404],
    'portal POST /verify'                => ['/verify', {}, 'own'],
    'portal POST /verify/*'              => ["/verify/$a_verify", {}, 404],
    'portal POST /reset/*'               => ["/reset/$a_reset", { password => 'stolen-password-1' }, 404],
    'portal GET /form'                   => ['/form', undef, 'own'],
    'portal GET /tickets'                => ['/tickets', undef, 'own'],
    'portal POST /tickets'               => ['/tickets', { subject => 'globex', description => 'g', category => 'technical',
                                                           priority => 'normal' }, 'own'],
    'portal GET /tickets/*'              => ["/tickets/$N", undef, 404],
    'portal POST /tickets/*/comments'    => ["/tickets/$N/comments", { body => 'from globex' }, 404],
    'portal POST /tickets/*/resolve'     => ["/tickets/$N/resolve", {}, 404],
    'portal GET /chats'                  => ['/chats', undef, 'own'],
    'portal GET /chats/*'                => ["/chats/$a_chat", undef, 404],
    'portal PATCH /profile'              => ['/profile', { name => 'Gina G' }, 'own'],
    'portal GET /export'                 => ['/export', undef, 'own'],
    'portal GET /tickets/*/attachments/*' => ["/tickets/$N/attachments/$a_att", undef, 404],
    'portal POST /uploads'               => ['/uploads', 'UPLOAD', 'own'],
    'portal GET /kb'                     => ['/kb', undef, 'own'],
    'portal GET /kb/search'              => ['/kb/search?q=acme', undef, 'own'],
    'portal GET /kb/articles/*'          => ['/kb/articles/acme-article', undef, 404],
    'portal POST /kb/articles/*/vote'    => ['/kb/articles/acme-article/vote', { helpful => true }, 404],

    'console GET /boot'                  => ['/boot', undef, 'own'],
    'console POST /login'                => ['/login', { email => 'ana@acme.example', password => 'password-of-ana@acme.example' }, 401],
    'console POST /logout'               => ['/logout', undef, 'own'],
    'console POST /password'             => ['/password', { current => 'wrong-password-1', password => 'another-pass-2' }, 'own'],
    'console POST /reset'                => ['/reset', { email => 'ana@acme.example' }, 'own'],
    'console GET /reset/*'               => ["/reset/$a_reset", undef, 404],
    'console POST /reset/*'              => ["/reset/$a_reset", { password => 'stolen-password-1' }, 404],
    'console POST /totp/setup'           => ['/totp/setup', undef, 'own'],
    'console POST /totp/enable'          => ['/totp/enable', { code => '000000' }, 'own'],
    'console POST /totp/disable'         => ['/totp/disable', { code => '000000' }, 'own'],
    'console GET /stream'                => [undef, undef, 'stream'],
    'console GET /queue'                 => ['/queue', undef, 'own'],
    'console GET /tickets/*'             => ["/tickets/$N", undef, 404],
    'console PATCH /tickets/*'           => ["/tickets/$N", { status => 'closed' }, 404],
    'console POST /bulk'                 => ['/bulk', { tickets => [$N, $T], status => 'closed' }, 'own'],
    'console POST /tickets/*/replies'    => ["/tickets/$N/replies", { body => 'from globex' }, 404],
    'console POST /tickets/*/template'   => ["/tickets/$N/template", { use => 'status_update', parameters => ['x'] }, 404],
    'console POST /tickets/*/presence'   => ["/tickets/$N/presence", { typing => false }, 404],
    'console GET /tickets/*/attachments/*' => ["/tickets/$N/attachments/$a_att", undef, 404],
    'console POST /uploads'              => ['/uploads', 'UPLOAD', 'own'],
    'console GET /canned'                => ['/canned', undef, 'own'],
    'console POST /canned'               => ['/canned', { title => 'globex', body => 'g' }, 'own'],
    'console PATCH /canned/*'            => ["/canned/$a_canned->{id}", { title => 'mine now' }, 404],
    'console DELETE /canned/*'           => ["/canned/$a_canned->{id}", undef, 404],
    'console GET /views'                 => ['/views', undef, 'own'],
    'console POST /views'                => ['/views', { name => 'globex view', filters => {} }, 'own'],
    'console DELETE /views/*'            => ["/views/$a_view->{id}", undef, 404],
    'console GET /customers'             => ['/customers?q=carla', undef, 'own'],
    'console GET /customers/*'           => ["/customers/$a_cust_id", undef, 404],
    'console PATCH /customers/*'         => ["/customers/$a_cust_id", { name => 'mine now' }, 404],
    'console POST /customers/*/merge'    => ["/customers/$a_cust_id/merge", { into => $b_cust_id }, 404],
    'console GET /agents'                => ['/agents', undef, 'own'],
    'console POST /agents'               => ['/agents', { email => 'new-agent@globex.example', name => 'New', role => 'agent' }, 'own'],
    'console PATCH /agents/*'            => ["/agents/$a_agent_user->{id}", { status => 'disabled' }, 404],
    'console GET /audit'                 => ['/audit', undef, 'own'],
    'console GET /audit.csv'             => ['/audit.csv', undef, 'own'],
    # the session's own user only: an id in the body names nobody
    'console GET /profile'               => ['/profile', undef, 'own'],
    'console PATCH /profile'             => ['/profile', { signature => 'globex signature', id => $a_admin_user->{id} }, 'own'],
);
%case = (%case, %app);

is_deeply [sort grep { !$case{$_} } keys %routes], [], 'every route of the tables has a case here';
is_deeply [sort grep { !$routes{$_} } keys %case], [], 'and every case is a route of the tables';

# acme's identifiers, none of which globex may see
my @secret = ($acme->{id}, $T, $a_att, $a_hook->{id}, $a_wa->{id}, $a_cat->{id}, $a_art->{id},
              $a_canned->{id}, $a_view->{id}, $a_cust_id, $a_agent_user->{id}, $a_admin_user->{id},
              'acme private', 'acme-secret.pdf', 'carla@acme.example', 'hooks.acme.example', 'help.acme.example',
              'acme-client-secret', 'acme-client.apps', 'acme.desk@gmail.com');

# (what the request itself carried may come back, in "instance" or a
# "there is no ... <id>": globex sent it)
sub leaks {
    my ($body, $sent) = @_;
    return grep { index($body, $_) >= 0 && index($sent, $_) < 0 } @secret;
}

# a fresh session for the calls that end one
sub fresh {
    my ($surface) = @_;
    if ($surface eq 'portal') {
        my $p = Helpdesk::Portal->new($t, 'globex.portal.test');
        $p->login('gina@globex.example', 'gina-password-1')->code == 200 or die 'login';
        return $p;
    }
    my $c = Helpdesk::Portal->new($t, 'globex.portal.test', prefix => '/agent');
    $c->login('gil@globex.example', 'password-of-gil@globex.example')->code == 200 or die 'login';
    return $c;
}

my $b_portal = fresh('portal');
my $b_console = fresh('console');

for my $key (sort keys %case) {
    my ($surface, $method, $pattern) = split / /, $key, 3;
    my ($path, $body, $want) = @{ $case{$key} };
    next if $want eq 'stream';
    my $res;
    if ($surface eq 'api') {
        my %h = %$hb;
        my @b = !defined $body ? () : ref $body ? (json => $body) : ($body);
        $h{'Content-Type'} = 'image/png' if defined $body && !ref $body;
        $res = $ua->build_tx($method => $t->url($path) => \%h => @b);
        $res = $ua->start($res)->res;
    } else {
        my $who = $key =~ m{ POST /(logout|login|password|reset|signup)$} ? fresh($surface)
                : $surface eq 'portal' ? $b_portal : $b_console;
        $res = defined $body && $body eq 'UPLOAD'
             ? $who->upload('globex.txt', 'text/plain', 'globex')
             : $who->api($method => $path, $body);
    }
    my $code = $res->code // 0;
    my @leak = leaks($res->body // '', join ' ', $path, ref $body ? Mojo::JSON::encode_json($body) : $body // '');
    if ($want eq 'own') {
        # whatever globex may do with its own: no error of ours
        ok $code > 0 && $code < 500, "$key: globex's own ($code)" or diag $res->body;
    } else {
        is $code, $want, "$key with acme's ids: $want" or diag $res->body;
        like $res->headers->content_type // '', qr{^application/problem\+json}, '... a problem document'
            if $surface eq 'api';
    }
    is_deeply \@leak, [], "$key: nothing of acme's in the answer";
}

# --- acme, after ----------------------------------------------------------------------
my $after = snapshot();
is_deeply [grep { $before->{$_} ne $after->{$_} } @$tables], [], "every table: acme's rows are as they were";
is $ua->get($t->url("/v1/tickets/$T") => $ha)->res->json->{status}, $a_ticket->{status}, "acme's ticket, to acme: unchanged";

# --- the refusals were recorded, each in its own tenant ------------------------------
ok until_true(sub { $t->psql(qq{SELECT coalesce(sum(count), 0) FROM helpdesk.auth_refusals
                                WHERE tenant_id = '$globex->{id}' AND key_prefix = '@{[substr $globex->{key}, 0, 12]}'}) >= 11 }),
    "globex's key on the provider's eleven routes: eleven refusals recorded, in globex's name, with the key's prefix";
is $t->psql(qq{SELECT count(*) - count(DISTINCT minute) FROM helpdesk.auth_refusals
               WHERE tenant_id = '$globex->{id}' AND key_prefix <> ''}), 0,
    'one row a minute for one address and one key, counting the rest';
is $t->psql(qq{SELECT count(*) FROM helpdesk.auth_refusals WHERE tenant_id = '$acme->{id}'}), 0,
    "none of globex's refusals in acme's name";
is $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log WHERE tenant_id = '$acme->{id}'
               AND actor_id IN ('$globex->{key_id}', '$b_admin_user->{id}')}), 0,
    "and no row of acme's audit log names globex's key or admin";

# --- a session of one tenant is nothing on another's Host ------------------------------
{
    my $p = Helpdesk::Portal->new($t, 'acme.portal.test');
    $p->get('/');
    $p->set_cookie(hd_session => $b_portal->cookie('hd_session'));
    is $p->api(GET => '/tickets')->code, 401, "globex's customer session on acme's portal: 401";
    my $c = Helpdesk::Portal->new($t, 'acme.portal.test', prefix => '/agent');
    $c->get('/agent/');
    $c->set_cookie(hd_agent => $b_console->cookie('hd_agent'));
    is $c->api(GET => '/queue')->code, 401, "globex's admin session on acme's console: 401";
    ok until_true(sub { $t->psql(qq{SELECT coalesce(sum(count), 0) FROM helpdesk.auth_refusals
                                    WHERE tenant_id = '$acme->{id}'}) == 2 }),
        "both refusals recorded in the name of the Host's tenant, acme (one row, counted twice)";
}

# --- an agent's signature: only the session's own user, only on its tenant's Host -------
{
    $a_admin->api(PATCH => '/profile', { signature => 'Ana, acme' })->code == 200 or die 'signature';
    my $c = Helpdesk::Portal->new($t, 'acme.portal.test', prefix => '/agent');
    $c->get('/agent/');
    $c->set_cookie(hd_agent => $b_console->cookie('hd_agent'));
    is $c->api(GET => '/profile')->code, 401, "globex's admin session on acme's console: no profile (401)";
    my $chg = $c->api(PATCH => '/profile', { signature => 'globex was here' });
    ok $chg->code == 401 || $chg->code == 403, '... nor a change to one (' . $chg->code . ')' or diag $chg->body;
    my $none = Helpdesk::Portal->new($t, 'acme.portal.test', prefix => '/agent');
    $none->get('/agent/');
    is $none->api(GET => '/profile')->code, 401, 'no session: 401';
    my $anon = $none->api(PATCH => '/profile', { signature => 'anonymous' });
    ok $anon->code == 401 || $anon->code == 403, 'no session, a change: refused (' . $anon->code . ')'
        or diag $anon->body;
    my $res = $a_agent->api(PATCH => '/profile', { signature => 'Abel, acme', id => $a_admin_user->{id},
                                                  user_id => $a_admin_user->{id} });
    is $res->code, 200, 'an agent naming another agent: changes their own only' or diag $res->body;
    is $res->json->{id}, $a_agent_user->{id}, '... the answer is their own profile';
    is $t->psql(qq{SELECT signature FROM helpdesk.users WHERE user_id = '$a_admin_user->{id}'}), 'Ana, acme',
        "the admin's signature is untouched";
    is $t->psql(qq{SELECT signature FROM helpdesk.users WHERE user_id = '$a_agent_user->{id}'}), 'Abel, acme',
        "the agent's is theirs";
    is $t->psql(qq{SELECT count(*) FROM helpdesk.users WHERE signature LIKE '%globex%' OR signature = 'anonymous'}), 1,
        "the only signature globex wrote is its own admin's";
    is $t->psql(qq{SELECT user_id FROM helpdesk.users WHERE signature LIKE '%globex%'}), $b_admin_user->{id},
        '... on globex';
}

# --- the live stream: acme's events never reach globex's --------------------------------
{
    my $got = '';
    my $c = $b_console->ua;
    my $tx = $c->build_tx(GET => $b_console->url('/agent/_/api/stream') => { Host => 'globex.portal.test' });
    $tx->res->content->unsubscribe('read')->on(read => sub { $got .= $_[1] });
    $c->start($tx => sub {});
    my ($a_new, $b_new);
    Mojo::IOLoop->timer(0.3 => sub {
        # acme's ticket first, globex's after it: once globex's is on the
        # stream, acme's had its chance
        $a_new = $ua->post($t->url('/v1/tickets') => $ha => json => { subject => 'acme live', requester_email => 'l@acme.example' })->res->json;
        Mojo::IOLoop->timer(1.2 => sub {
            $b_new = $ua->post($t->url('/v1/tickets') => $hb => json => { subject => 'globex live', requester_email => 'l@globex.example' })->res->json;
        });
    });
    my $deadline = time + 15;
    Mojo::IOLoop->recurring(0.1 => sub {
        Mojo::IOLoop->stop if ($b_new && index($got, $b_new->{id}) >= 0) || time > $deadline;
    });
    Mojo::IOLoop->start;
    like $got, qr/event: ticket\ndata: \{"id":"\Q$b_new->{id}\E"/, "globex's stream announces globex's new ticket";
    unlike $got, qr/\Q$a_new->{id}\E/, "and never acme's, created before it";
    is scalar(() = $got =~ /event: ticket/g), 1, 'one announcement only';
}

$t->done;
