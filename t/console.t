#!/usr/bin/env perl
# The agent console's calls: who may log in, the unified queue with its
# filters, the consolidated history, changes, replies on the channel of
# origin (WhatsApp inside and outside the window, through a fake provider),
# the stale-view warning, presence, canned replies, saved views, agents,
# the audit log and its CSV, the live stream, and the permissions.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Portal;
use Helpdesk::FakeHTTP;
use Mojo::JSON qw(decode_json encode_json);
use Mojo::Util qw(encode);
use Time::HiRes qw(sleep time);

my $fake = Helpdesk::FakeHTTP->new->mount('/graph' => cloud => token => 'tok', phone_number_id => 'PNID1');
my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain portal.test;
                          helpdesk_outbox interval=100ms backoff=200ms max_backoff=400ms attempts=3;',
                server => 'location / { helpdesk_portal; } location /agent/ { helpdesk_agent_console; }');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});
my $port = $t->port;

sub console { Helpdesk::Portal->new($t, $_[0] // 'acme.portal.test', prefix => '/agent') }

# an agent's way in: created through the API, invited, chooses a password
sub agent {
    my ($email, $name, $role) = @_;
    my $u = $ua->post($t->url('/v1/users') => $h => json => { email => $email, name => $name, role => $role })->res->json;
    my $res = $ua->post($t->url("/v1/users/$u->{id}/invitation") => $h
                        => json => { url => "http://acme.portal.test:$port/agent/" });
    is $res->res->code, 202, "$name invited through the API";
    like $res->res->headers->content_type, qr{^application/json}, 'answered in JSON';
    my $inv = $res->res->json;
    is $inv->{status}, 'queued', 'the invitation queued';
    is $inv->{user}, $u->{id}, 'for this user';
    is $inv->{email}, $email, 'at this address';
    is $inv->{language}, 'pt-BR', 'in the default language';
    my $days = $t->psql("SELECT round(extract(epoch FROM '$inv->{expires_at}'::timestamptz - now()) / 86400)");
    is $days, 7, 'its link lasts a week';
    my $job = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE kind = 'email'
                                     ORDER BY outbox_id DESC LIMIT 1}));
    my ($token) = $job->{link} =~ m{^http://acme\.portal\.test:\d+/agent/reset/([0-9a-f]{64})$};
    ok $token, 'the invitation links to the console';
    my $c = console();
    is $c->api(POST => "/reset/$token", { password => "senha-de-$role-1" })->code, 200, 'a password chosen';
    is $c->login($email, "senha-de-$role-1")->code, 200, "$name logs in";
    return ($c, $u);
}

my ($admin, $admin_user) = agent('ana@acme.example', 'Ana Admin', 'admin');
my ($bruno, $bruno_user) = agent('bruno@acme.example', 'Bruno Agente', 'agent');
is $t->psql(q{SELECT payload->>'subject' FROM helpdesk.outbox WHERE event_type = 'email.invitation' LIMIT 1}),
    'Convite para o atendimento da Tenant acme', 'an invitation email';

# --- who may log in -----------------------------------------------------------------
my $cust = Helpdesk::Portal->new($t, 'acme.portal.test');
$cust->signup('cli@example.com', 'senha-do-cliente', 'Cliente Portal');
is console()->login('cli@example.com', 'senha-do-cliente')->code, 401, 'a customer cannot log in to the console';
is console()->login('ana@acme.example', 'errada-123')->code, 401, 'nor a wrong password';
{
    my $c = console();
    $c->get('/agent/');
    $c->set_cookie(hd_agent => $cust->cookie('hd_session'));
    is $c->api(GET => '/queue')->code, 401, "a customer's session means nothing to the console";
    my $p = Helpdesk::Portal->new($t, 'acme.portal.test');
    $p->get('/');
    $p->set_cookie(hd_session => $admin->cookie('hd_agent'));
    is $p->api(GET => '/tickets')->code, 401, "nor an agent's to the portal";
}
my $res = $admin->get('/agent/');
is $res->code, 200, 'the console page';
like $res->body, qr{src="/agent/_/assets/console/app\.[0-9a-f]{8}\.js"}, 'its script, under the console';
like $res->body, qr{<html lang="pt-BR" data-i18n="/agent/_/assets/i18n/pt-BR\.}, 'in the language';
like $res->headers->header('Content-Security-Policy'), qr/frame-ancestors 'none'/, 'with the same strict policy';
ok grep({ /^hd_agent=[0-9a-f]{64}; Path=\/agent\/; .*HttpOnly/ } @{ $admin->login('ana@acme.example', 'senha-de-admin-1')->headers->every_header('Set-Cookie') }),
    "the console's session cookie is its own, scoped to the console";

# --- tickets from three channels --------------------------------------------------------
$ua->post($t->url('/v1/tickets') => $h => json => { subject => 'Servidor fora do ar', description => 'Erro 502 desde as 9h',
          requester_email => 'ops@cliente.example', requester_name => 'Olga Ops', priority => 'urgent', category => 'technical' });
$cust->api(POST => '/tickets', { subject => 'Segunda via do boleto', category => 'billing', priority => 'normal',
                                 description => 'Preciso da segunda via.' });
my $ctx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => 'cloud', display_phone_number => '+55 11 4000-1234', phone_number_id => 'PNID1',
    access_token => 'tok', app_secret => 'sec', verify_token => 'v', base_url => $fake->url('/graph') });
is $ctx->res->code, 201, 'a Cloud API number connected';
my $conn = $ctx->res->json;
is $fake->wait_for(1)->[0]{path}, '/graph/PNID1', 'its credentials checked';

# Something the provider will see, sent after something that must not
# reach it: once the provider has it and the outbox is idle, whatever was
# queued before it has had its chance.  A reply inside the 24-hour window,
# a template outside it.
my $marks = 0;
sub marker {
    my ($ticket, $template) = @_;
    my $n = ++$marks;
    my $tx = $template
        ? $ua->post($t->url("/v1/tickets/$ticket/whatsapp-template") => $h => json => { use => 'status_update', parameters => ["marcador $n"] })
        : $ua->post($t->url("/v1/tickets/$ticket/comments") => $h => json => { body => "marcador $n" });
    is $tx->res->code, 201, "marker $n queued";
    ok until_true(sub { grep { ($_->{body} // '') =~ /"marcador $n"/ } @{ $fake->requests } }), "marker $n reached the provider";
    ok $t->outbox_settled, 'the outbox is idle';
    return "marcador $n";
}
sub sent_since { [map { $_->{body} =~ /"(marcador \d+)"/ ? $1 : $_->{body} } @{ $fake->requests }[$_[0] .. $#{ $fake->requests }]] }
my ($wapath) = $conn->{webhook_url} =~ m{(/whatsapp/.*)$};
use Digest::SHA qw(hmac_sha256_hex);
sub whatsapp {
    my ($id, $text, $ts) = @_;
    my $body = encode_json({ object => 'whatsapp_business_account', entry => [{ id => 'W', changes => [{
        field => 'messages', value => { messaging_product => 'whatsapp', metadata => { phone_number_id => 'PNID1' },
            contacts => [{ profile => { name => 'Maria WhatsApp' }, wa_id => '5511988887777' }],
            messages => [{ from => '5511988887777', id => $id, timestamp => '' . ($ts // int(time)), type => 'text',
                           text => { body => $text } }] } }] }] });
    return $ua->post("http://127.0.0.1:$port$wapath" => { 'Content-Type' => 'application/json',
        'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($body, 'sec') } => $body)->res;
}
is whatsapp('wamid.A1', 'Minha internet caiu')->code, 200, 'a customer writes on WhatsApp';

$res = $bruno->api(GET => '/queue');
is $res->code, 200, 'the queue';
is $res->json->{total}, 3, 'every channel in it';
is_deeply [sort map { $_->{channel} } @{ $res->json->{data} }], [qw(api portal whatsapp)], 'API, portal and WhatsApp side by side';
my %by = map { $_->{channel} => $_ } @{ $res->json->{data} };
is $by{whatsapp}{requester}{name}, 'Maria WhatsApp', 'with the requester';
is $by{api}{priority}, 'urgent', 'the priority';
is $res->json->{data}[0]{channel}, 'whatsapp', 'the latest activity first';
is $bruno->api(GET => '/queue?sort=priority')->json->{data}[0]{channel}, 'api', 'or by priority';
is $bruno->api(GET => '/queue?channel=portal')->json->{total}, 1, 'filtered by channel';
is $bruno->api(GET => '/queue?priority=urgent,high')->json->{total}, 1, 'by priority';
is $bruno->api(GET => '/queue?category=billing')->json->{total}, 1, 'by category';
is $bruno->api(GET => '/queue?assignee=unassigned')->json->{total}, 3, 'unassigned';
is $bruno->api(GET => '/queue?q=boleto')->json->{data}[0]{channel}, 'portal', 'full-text search';
is $bruno->api(GET => "/queue?q=$by{api}{number}")->json->{total}, 1, 'or by number';

# --- one ticket ---------------------------------------------------------------------
my $wa = $bruno->api(GET => "/tickets/$by{whatsapp}{number}")->json;
is $wa->{events}[0]{type}, 'created', 'the consolidated history';
is $wa->{events}[0]{channel}, 'whatsapp', 'each entry with its channel';
is $wa->{events}[0]{actor}{role}, 'customer', 'and its actor';
is $wa->{reply}{channel}, 'whatsapp', 'a reply goes back on WhatsApp';
ok $wa->{reply}{whatsapp}{window_open}, 'the window is open';
is $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'console.ticket.read' AND object_id = '$wa->{id}'}), 1,
    'opening a ticket is an audited read';

$res = $bruno->api(PATCH => "/tickets/$by{api}{number}", { assignee => 'mine', status => 'pending' });
is $res->code, 422, 'a bad assignee: refused';
$res = $bruno->api(PATCH => "/tickets/$by{api}{number}", { assignee => $bruno_user->{id}, priority => 'high' });
is $res->code, 200, 'assigned and re-prioritised';
is $res->json->{assignee}{name}, 'Bruno Agente', 'to Bruno';
ok((grep { $_->{type} eq 'priority_changed' } @{ $res->json->{events} }), 'the change in the history');
is $bruno->api(GET => '/queue?assignee=mine')->json->{total}, 1, '"mine"';
is $bruno->api(PATCH => "/tickets/$by{api}{number}", { status => 'whatever' })->code, 422, 'an unknown status: 422';
like $t->psql(q{BEGIN; SELECT tickets.read_only_audit(); SELECT current_setting('synchronous_commit'); COMMIT;}),
    qr/off\s*$/, 'a read needs no disk flush for its audit row';
like $t->psql(q{BEGIN; SELECT txid_current(); SELECT tickets.read_only_audit(); SELECT current_setting('synchronous_commit'); COMMIT;}),
    qr/on\s*$/, 'but a change answered with a read keeps its flush';
is scalar @{ $bruno->api(GET => "/tickets/$by{portal}{number}")->json->{requester_tickets} }, 0,
    "the requester's other tickets (none yet)";

# a reply on WhatsApp reaches the provider, and shows its delivery state
$fake->script({ status => 200, body => encode_json({ messaging_product => 'whatsapp',
    contacts => [{ input => '5511988887777', wa_id => '5511988887777' }],
    messages => [{ id => 'wamid.OUT1', message_status => 'accepted' }] }) });
$res = $bruno->api(POST => "/tickets/$by{whatsapp}{number}/replies",
                   { body => 'Olá Maria, já estamos verificando.', seen_event_id => $wa->{last_event_id} });
is $res->code, 201, 'a reply from the console';
is $res->json->{delivery}{status}, 'queued', 'queued for WhatsApp';
my $sent = until_true(sub { (grep { $_->{path} eq '/graph/PNID1/messages' } @{ $fake->requests })[0] });
ok $sent, 'it reaches the provider';
is decode_json($sent->{body})->{text}{body}, 'Olá Maria, já estamos verificando.', 'with its text';
is decode_json($sent->{body})->{to}, '5511988887777', 'to the customer';
ok until_true(sub { my $e = $bruno->api(GET => "/tickets/$by{whatsapp}{number}")->json->{events}[-1];
                    ($e->{delivery}{status} // '') eq 'sent' }), 'then "sent"';

# an internal note stays inside
my $before = scalar @{ $fake->requests };
$res = $bruno->api(POST => "/tickets/$by{whatsapp}{number}/replies", { body => 'cliente VIP', visibility => 'internal' });
is $res->json->{visibility}, 'internal', 'an internal note';
my $mark = marker($by{whatsapp}{number});
is_deeply sent_since($before), [$mark], 'not sent to WhatsApp';

# a reply written against an old view is held back
my $seen = $bruno->api(GET => "/tickets/$by{whatsapp}{number}")->json->{last_event_id};
whatsapp('wamid.A2', 'Ainda sem internet!');
$res = $bruno->api(POST => "/tickets/$by{whatsapp}{number}/replies", { body => 'Resolvido?', seen_event_id => $seen });
is $res->code, 409, 'a reply written before the customer wrote again: 409';
is $res->json->{type}, 'https://nginx-helpdesk.org/problems/stale-view', 'stale view';
is $res->json->{events}[0]{body}, 'Ainda sem internet!', 'with what is new';
$res = $bruno->api(POST => "/tickets/$by{whatsapp}{number}/replies", { body => 'Vamos reiniciar.', seen_event_id => $seen, force => Mojo::JSON::true });
is $res->code, 201, 'sent anyway when the agent says so';

# outside the 24-hour window: refused up front, templates offered
$t->psql(q{UPDATE helpdesk.whatsapp_contacts SET last_inbound_at = now() - interval '2 days'});
is $ua->put($t->url('/v1/whatsapp/templates') => $h => json => { status_update => { name => 'atualizacao_chamado', language => 'pt_BR' } })
    ->res->code, 200, 'a template mapped';
$wa = $bruno->api(GET => "/tickets/$by{whatsapp}{number}")->json;
ok !$wa->{reply}{whatsapp}{window_open}, 'the console knows the window is closed';
is $wa->{reply}{available}, Mojo::JSON::false, 'free text is not available';
is $wa->{reply}{whatsapp}{templates}[0]{name}, 'atualizacao_chamado', 'the templates are offered';
$res = $bruno->api(POST => "/tickets/$by{whatsapp}{number}/replies", { body => 'Oi?' });
is $res->code, 409, 'free text outside the window: 409';
is $res->json->{type}, 'https://nginx-helpdesk.org/problems/whatsapp-window-closed', 'saying why';
$res = $bruno->api(POST => "/tickets/$by{whatsapp}{number}/template", { use => 'status_update', parameters => ['TKT'] });
is $res->code, 201, 'a template sent instead';
ok until_true(sub { grep { $_->{path} eq '/graph/PNID1/messages' && ($_->{body} // '') =~ /atualizacao_chamado/ } @{ $fake->requests } }),
    'the template reaches the provider';

# the tenant's fallback: when WhatsApp cannot be used, the portal
is $bruno->api(POST => "/tickets/$by{whatsapp}{number}/replies", { body => 'x', via => 'portal' })->code, 422,
    'no fallback unless the tenant has one';
is $ua->patch($t->url('/v1/console') => $h => json => { fallback => 'portal' })->res->code, 200, 'the tenant sets one';
is $bruno->api(GET => "/tickets/$by{whatsapp}{number}")->json->{reply}{fallback}, undef,
    'not offered for a customer who cannot log in to the portal';
$t->psql(q{UPDATE helpdesk.users SET email = 'maria@example.com', password_hash = 'x'
           WHERE name = 'Maria WhatsApp'});
is $bruno->api(GET => "/tickets/$by{whatsapp}{number}")->json->{reply}{fallback}, 'portal', 'offered when they can';
$before = scalar @{ $fake->requests };
$res = $bruno->api(POST => "/tickets/$by{whatsapp}{number}/replies", { body => 'Respondemos pelo portal.', via => 'portal' });
is $res->code, 201, 'a reply through the fallback';
is $res->json->{channel}, 'portal', 'on the portal';
$mark = marker($by{whatsapp}{number}, 'template');
is_deeply sent_since($before), [$mark], 'not sent to WhatsApp';

# --- presence ---------------------------------------------------------------------------
is_deeply $bruno->api(POST => "/tickets/$by{api}{number}/presence", {})->json->{viewers}, [], 'alone on a ticket';
$res = $admin->api(POST => "/tickets/$by{api}{number}/presence", { typing => Mojo::JSON::true });
is $res->json->{viewers}[0]{name}, 'Bruno Agente', 'the second agent sees the first';
$res = $bruno->api(POST => "/tickets/$by{api}{number}/presence", {});
is_deeply $res->json->{viewers}, [{ id => $admin_user->{id}, name => 'Ana Admin', typing => Mojo::JSON::true }],
    'and the first sees the second, typing';
$admin->api(POST => "/tickets/$by{api}{number}/presence", { leaving => Mojo::JSON::true });
is_deeply $bruno->api(POST => "/tickets/$by{api}{number}/presence", {})->json->{viewers}, [], 'until they leave';

# --- canned replies, views --------------------------------------------------------------
is $bruno->api(POST => '/canned', { title => 'x', body => 'y' })->code, 403, 'agents do not write canned replies';
$res = $admin->api(POST => '/canned', { title => 'Saudação', body => 'Olá {{customer.name}}, sobre o {{ticket.number}}:' });
is $res->code, 201, 'admins do';
is $bruno->api(GET => '/canned')->json->{data}[0]{body}, 'Olá {{customer.name}}, sobre o {{ticket.number}}:',
    'every agent uses them, placeholders and all';
my $cid = $res->json->{id};
is $admin->api(PATCH => "/canned/$cid", { title => '' })->code, 422, 'a canned reply needs a title';
is $admin->api(DELETE => "/canned/$cid")->code, 204, 'and can go';
$res = $bruno->api(POST => '/views', { name => 'Urgentes no WhatsApp', filters => { channel => 'whatsapp', priority => 'urgent' } });
is $res->code, 201, 'a saved view';
is $bruno->api(GET => '/views')->json->{data}[0]{name}, 'Urgentes no WhatsApp', "in the agent's list";
is scalar @{ $admin->api(GET => '/views')->json->{data} }, 0, 'not in anyone else\'s';

# --- agents and the audit log (admins) -------------------------------------------------
is $bruno->api(GET => '/audit')->code, 403, 'agents do not read the audit log';
is $bruno->api(POST => '/agents', { name => 'X', email => 'x@acme.example' })->code, 403, 'nor invite';
$res = $admin->api(POST => '/agents', { name => 'Carla Nova', email => 'carla@acme.example', role => 'agent' });
is $res->code, 201, 'an admin invites an agent';
like $t->psql(q{SELECT payload->>'link' FROM helpdesk.outbox WHERE event_type = 'email.invitation' ORDER BY outbox_id DESC LIMIT 1}),
    qr{^http://acme\.portal\.test(:\d+)?/agent/reset/[0-9a-f]{64}$}, 'with a link to this console';
is $admin->api(PATCH => "/agents/$admin_user->{id}", { status => 'disabled' })->code, 409, 'not deactivating oneself';
is $admin->api(PATCH => "/agents/$bruno_user->{id}", { status => 'disabled' })->code, 200, 'deactivates another';
is $bruno->api(GET => '/queue')->code, 401, 'whose session stops working at once';
is $admin->api(GET => "/tickets/$by{api}{number}")->json->{assignee}, undef, 'and whose tickets go back to the queue';
$admin->api(PATCH => "/agents/$bruno_user->{id}", { status => 'active' });

$res = $admin->api(GET => "/audit?agent=$bruno_user->{id}&ticket=$by{whatsapp}{number}");
ok scalar @{ $res->json->{data} } >= 2, "the audit log, filtered by agent and ticket";
ok !(grep { ($_->{actor} // '') ne 'Bruno Agente' } @{ $res->json->{data} }), 'only that agent';
is $admin->api(GET => '/audit?from=yesterday')->code, 422, 'a bad date: 422';
$res = $admin->get("/agent/_/api/audit.csv?agent=$bruno_user->{id}");
is $res->code, 200, 'exported';
like $res->headers->content_type, qr{^text/csv}, 'as CSV';
like $res->headers->content_disposition, qr/attachment; filename="audit-log\.csv"/, 'to download';
my @lines = split /\r\n/, $res->body;
is $lines[0], 'time,actor,actor_type,action,object_type,object_id,ticket,ip,detail', 'with a header';
like $lines[1], qr/^"[^"]+","Bruno Agente","user",/, 'and a row per entry';

# --- the REST API, called by the console's settings pages (under the console) -----
{
    my $api = sub {
        my ($who, $method, $path, $body, %hd) = @_;
        my %h = (Host => 'acme.portal.test', %hd);
        $h{'X-CSRF-Token'} //= $who->cookie('hd_csrf') if $method ne 'GET';
        delete $h{'X-CSRF-Token'} if defined $h{'X-CSRF-Token'} && $h{'X-CSRF-Token'} eq '';
        my $tx = $who->ua->build_tx($method => "http://127.0.0.1:$port/agent/_/rest$path" => \%h
                                    => (defined $body ? (json => $body) : ()));
        return $who->ua->start($tx)->res;
    };
    is $api->($admin, GET => '/v1/portal')->code, 200, "an admin's console session works on the REST API";
    $res = $api->($admin, PATCH => '/v1/portal', { branding => { primary_color => '#8a1538' } });
    is $res->code, 200, 'a setting changed from the console, through the same endpoint a script uses';
    is $res->json->{branding}{primary_color}, '#8a1538', 'changed';
    is $t->psql(q{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'portal.update' AND actor_type = 'user'}), 1,
        'audited as the admin';
    is $api->($admin, PATCH => '/v1/portal', { allow_signup => Mojo::JSON::true }, 'X-CSRF-Token' => '')->code, 403,
        'without the CSRF token: 403';
    is $api->($admin, PATCH => '/v1/portal', { allow_signup => Mojo::JSON::true }, Origin => 'https://evil.example')->code, 403,
        'from another site: 403';
    is $api->($bruno, GET => '/v1/portal')->code, 403, 'an agent may not read the settings';
    is $api->($bruno, GET => '/v1/tickets')->code, 200, 'but may use the tickets API';
    is $api->($cust, GET => '/v1/tickets')->code, 401, "a customer's session is no key";

    # a ticket an agent opens for a customer who called
    my $wa_requester = $bruno->api(GET => "/tickets/$by{whatsapp}{number}")->json->{requester}{id};
    $res = $api->($bruno, POST => '/v1/tickets', { subject => 'Ligou: sem sinal', description => 'Ligou às 10h.',
                                                   requester_phone => '(11) 98888-7777', priority => 'high' });
    is $res->code, 201, 'an agent opens a ticket for a customer who called';
    is $res->json->{channel}, 'phone', 'on the phone channel';
    is $res->json->{requester}{id}, $wa_requester, 'for the customer with that number (found without the country code)';
    my $num = $res->json->{number};
    my $call = $bruno->api(GET => "/tickets/$num")->json;
    is_deeply [@{ $call->{events}[0] }{qw(type channel)}, $call->{events}[0]{actor}{name}], ['created', 'console', 'Bruno Agente'],
        'opened by the agent, from the console';
    ok((grep { $_->{number} eq $by{whatsapp}{number} } @{ $call->{requester_tickets} }), "beside the customer's WhatsApp ticket");
    is $call->{reply}{channel}, 'phone', 'replies are recorded on the ticket';
    $res = $api->($bruno, POST => '/v1/tickets', { subject => 'Visita', description => 'Veio à loja.',
                                                   requester_name => 'Zé Novo', requester_phone => '+1 555 010 0200' });
    is $res->json->{requester}{name}, 'Zé Novo', 'a caller not yet known becomes a customer';
    is $bruno->api(GET => '/queue?channel=phone')->json->{total}, 2, 'the queue filters the phone channel';
    $res = $api->($bruno, POST => '/v1/tickets', { description => 'sem assunto', requester_phone => '11988887777' });
    is $res->code, 422, 'a ticket without a subject: 422';
    is $res->json->{errors}[0]{field}, 'subject', 'naming the field';
    my $g = Helpdesk::Portal->new($t, 'globex.portal.test');
    $g->set_cookie(hd_agent => $admin->cookie('hd_agent'));
    my $tx = $g->ua->build_tx(GET => "http://127.0.0.1:$port/api/v1/portal" => { Host => 'globex.portal.test' });
    is $g->ua->start($tx)->res->code, 401, "acme's admin is nobody on globex's name";
}

# --- a second factor (TOTP) ------------------------------------------------------
use Digest::SHA qw(hmac_sha1);
sub totp {
    my ($b32, $when) = @_;
    my %m;
    @m{ 'A' .. 'Z', '2' .. '7' } = 0 .. 31;
    my $bits = join '', map { sprintf '%05b', $m{$_} } split //, $b32;
    my $key = pack 'B*', substr($bits, 0, int(length($bits) / 8) * 8);
    my $h = hmac_sha1(pack('NN', 0, int(($when // time) / 30)), $key);
    my $o = ord(substr($h, -1)) & 0xf;
    return sprintf '%06d', (unpack('N', substr($h, $o, 4)) & 0x7fffffff) % 1000000;
}
{
    $res = $bruno->api(POST => '/totp/setup', {});
    is $res->code, 200, 'an agent sets up a second factor';
    my $secret = $res->json->{secret};
    like $secret, qr/^[A-Z2-7]{32}$/, 'a base32 secret';
    like $res->json->{uri}, qr{^otpauth://totp/Tenant%20acme:bruno\@acme\.example\?secret=$secret&issuer=Tenant%20acme}, 'for the app';
    like $res->json->{qr}, qr{^data:image/svg\+xml;base64,}, 'and as a QR code';
    is $bruno->api(POST => '/totp/enable', { code => '000000' })->code, 422, 'a wrong code does not turn it on';
    is $bruno->api(POST => '/totp/enable', { code => totp($secret) })->code, 204, 'the right one does';
    is $bruno->api(GET => '/boot')->json->{user}{totp}, Mojo::JSON::true, 'on';

    my $c = console();
    $res = $c->login('bruno@acme.example', 'senha-de-agent-1');
    is $res->code, 401, 'the password alone is not enough now';
    is $res->json->{type}, 'https://nginx-helpdesk.org/problems/invalid-credentials',
        'answered as a wrong password is (the form always has the code field)';
    is $c->api(POST => '/login', { email => 'bruno@acme.example', password => 'senha-de-agent-1', code => '123456' })->code,
        401, 'a wrong code: refused';
    is $c->api(POST => '/login', { email => 'bruno@acme.example', password => 'senha-de-agent-1',
                                   code => totp($secret) })->code, 401, 'the code that turned it on is used up';
    # the next half-minute's code (one step of drift is allowed)
    is $c->api(POST => '/login', { email => 'bruno@acme.example', password => 'senha-de-agent-1',
                                   code => totp($secret, time + 30) })->code, 200, 'password and a fresh code: in';
    is $c->api(GET => '/queue')->code, 200, 'working';
    is $c->api(POST => '/login', { email => 'bruno@acme.example', password => 'wrong-pass', code => totp($secret) })->code,
        401, 'a code does not replace the password';

    # the tenant makes it mandatory
    is $ua->patch($t->url('/v1/console') => $h => json => { require_totp => Mojo::JSON::true })->res->code, 200,
        'a tenant requires a second factor';
    is $ua->get($t->url('/v1/console') => $h)->res->json->{require_totp}, Mojo::JSON::true, 'and says so';
    $res = $admin->api(GET => '/queue');
    is $res->code, 403, 'an agent without one can do nothing else';
    is $res->json->{type}, 'https://nginx-helpdesk.org/problems/totp-enrollment-required', 'but set it up';
    is $admin->api(GET => '/boot')->json->{user}{totp_required}, Mojo::JSON::true, 'which the console knows';
    is $c->api(GET => '/queue')->code, 200, 'agents with one carry on';
    is $c->api(POST => '/totp/disable', { code => totp($secret) })->code, 409, 'and cannot turn it off';
    # a code of a later half-minute, without waiting for it: the steps taken are forgotten
    $t->psql(q{UPDATE helpdesk.users SET totp_last_step = NULL});
    my $s2 = $admin->api(POST => '/totp/setup', {})->json->{secret};
    is $admin->api(POST => '/totp/enable', { code => totp($s2) })->code, 204, 'the admin sets theirs up';
    is $admin->api(GET => '/queue')->code, 200, 'and is back at work';
    $ua->patch($t->url('/v1/console') => $h => json => { require_totp => Mojo::JSON::false });
    $t->psql(q{UPDATE helpdesk.users SET totp_last_step = NULL});
    is $c->api(POST => '/totp/disable', { code => totp($secret) })->code, 204, 'optional again: turned off with a code';
    $admin->api(POST => '/totp/disable', { code => totp($s2) });
}

# --- the live stream ---------------------------------------------------------------
{
    my $got = '';
    my $c = $admin->ua;
    my $tx = $c->build_tx(GET => $admin->url('/agent/_/api/stream') => { Host => 'acme.portal.test' });
    $tx->res->content->unsubscribe('read')->on(read => sub { $got .= $_[1] });
    $c->start($tx => sub {});
    Mojo::IOLoop->timer(0.3 => sub {
        $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'Ao vivo', description => 'z', requester_email => 'v@example.com' });
    });
    # until the announcement arrives (10 s at most)
    my $deadline = time + 10;
    Mojo::IOLoop->recurring(0.1 => sub {
        Mojo::IOLoop->stop if $got =~ /event: ticket/ || time > $deadline;
    });
    Mojo::IOLoop->start;
    like $got, qr/^retry: 3000\nevent: hello\ndata: \{\}\n\n/, 'the stream opens';
    like $got, qr/event: ticket\ndata: \{"id":"[0-9a-f-]{36}","event_id":\d+\}\n\n/, 'a new ticket is announced within seconds';
    my $g = console('globex.portal.test');
    is $g->api(GET => '/stream')->code, 401, 'no stream without a session';
}

# --- several tickets at once (the queue's bulk actions) ---------------------------------
{
    my $gt = $ua->post($t->url('/v1/tickets') => $t->auth($globex->{key}) => json => {
        subject => 'Globex', description => 'g', requester_email => 'g@example.com' })->res->json;
    my @two = sort ($by{portal}{number}, $by{whatsapp}{number});
    $res = $admin->api(POST => '/bulk', { tickets => [@two, 'TKT-999999', $gt->{id}],
                                          priority => 'high', assignee => $admin_user->{id} });
    is $res->code, 200, 'several tickets changed at once';
    is_deeply [sort @{ $res->json->{updated} }], \@two, 'the two of this tenant';
    is_deeply [sort map { $_->{ticket} } @{ $res->json->{failed} }], [sort ('TKT-999999', $gt->{id})],
        "an unknown one and another tenant's are listed as not changed";
    like $res->json->{failed}[0]{reason}, qr/no ticket/, 'with the reason';
    for my $n (@two) {
        my $tk = $admin->api(GET => "/tickets/$n")->json;
        is $tk->{priority}, 'high', "$n re-prioritised";
        is $tk->{assignee}{name}, 'Ana Admin', "$n assigned";
        ok((grep { $_->{type} eq 'priority_changed' } @{ $tk->{events} }), "$n: the change in its history");
    }
    is $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'ticket.update'
                   AND object_id IN ('$by{portal}{id}', '$by{whatsapp}{id}')
                   AND detail->'changed' ? 'priority'}), 2, 'each change audited';
    my $g = $ua->get($t->url("/v1/tickets/$gt->{id}") => $t->auth($globex->{key}))->res->json;
    is_deeply [$g->{priority}, $g->{assignee}], ['normal', undef], "the other tenant's ticket is untouched";

    $res = $admin->api(POST => '/bulk', { tickets => \@two });
    is $res->code, 422, 'nothing to change: 422';
    is $res->json->{errors}[0]{field}, 'changes', 'and says so';
    $res = $admin->api(POST => '/bulk', { tickets => [], status => 'open' });
    is $res->code, 422, 'no tickets: 422';
    is $res->json->{errors}[0]{field}, 'tickets', 'naming the field';
    is $admin->api(POST => '/bulk', { tickets => 'TKT-000001', status => 'open' })->code, 422, 'not a list: 422';
    is $admin->api(POST => '/bulk', { tickets => [map { sprintf 'TKT-%06d', $_ } 1 .. 101], status => 'open' })->code,
        422, 'more than 100: 422';
    is $admin->api(POST => '/bulk', { tickets => \@two, status => 'whatever' })->code, 422, 'an unknown status: 422';
    $res = $admin->api(POST => '/bulk', { tickets => \@two, assignee => 'nobody@example.com', priority => 'low' });
    is $res->code, 422, 'an unknown assignee: 422';
    is $admin->api(GET => "/tickets/$two[0]")->json->{priority}, 'high', 'and nothing changed';
    is $admin->api(POST => '/bulk', { tickets => \@two, status => 'closed' }, 'X-CSRF-Token' => '')->code, 403,
        'without the CSRF token: 403';

    $res = $admin->api(POST => '/bulk', { tickets => \@two, status => 'closed' });
    is scalar @{ $res->json->{updated} }, 2, 'closed together';
    $res = $admin->api(POST => '/bulk', { tickets => \@two, status => 'open' });
    is scalar @{ $res->json->{updated} }, 0, 'a closed ticket does not reopen';
    like $res->json->{failed}[0]{reason}, qr/closed ticket cannot become open/, 'and the reason says so';
}

# --- the customer directory ------------------------------------------------------------
{
    $res = $admin->api(GET => '/customers');
    is $res->code, 200, 'the customer directory';
    my %c = map { ($_->{name} // '') => $_ } @{ $res->json->{data} };
    ok $c{'Maria WhatsApp'} && $c{'Olga Ops'} && $c{'Cliente Portal'}, 'customers of every channel';
    is_deeply $c{'Maria WhatsApp'}{whatsapp}, ['+5511988887777'], 'with their WhatsApp number';
    ok !(grep { ($_->{email} // '') =~ /\@acme\.example$|^g\@example\.com$/ } @{ $res->json->{data} }),
        "neither agents nor another tenant's customers";
    is $admin->api(GET => '/customers?q=98888')->json->{data}[0]{name}, 'Maria WhatsApp', 'found by part of a number';
    is $admin->api(GET => '/customers?q=olga')->json->{total}, 1, 'or by name';
    is $admin->api(GET => '/customers?q=' . ('x' x 201))->code, 422, 'a search of 201 characters: 422';

    my $id = $c{'Maria WhatsApp'}{id};
    $res = $admin->api(GET => "/customers/$id");
    is $res->code, 200, 'a customer';
    my %chan = map { $_->{channel} => 1 } @{ $res->json->{ticket_list} };
    ok $chan{whatsapp} && $chan{phone}, 'with every ticket of theirs: WhatsApp and the call';
    is $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'console.customer.read' AND object_id = '$id'}), 1,
        'opening a customer is an audited read';

    $res = $admin->api(PATCH => "/customers/$id", { name => 'Maria Souza', email => 'Maria.Souza@Example.com', phone => '+55 11 98888-7777' });
    is $res->code, 200, 'details corrected';
    is_deeply [@{ $res->json }{qw(name email phone)}], ['Maria Souza', 'maria.souza@example.com', '+55 11 98888-7777'], 'as typed (email in lower case)';
    is $admin->api(GET => "/tickets/$by{whatsapp}{number}")->json->{requester}{name}, 'Maria Souza', 'on her tickets too';
    is $t->psql(qq{SELECT detail->>'changed' FROM helpdesk.audit_log WHERE action = 'customer.update' AND object_id = '$id'}),
        '["name", "email", "phone"]', 'the change is audited';
    is $admin->api(PATCH => "/customers/$id", { email => 'not-an-email' })->code, 422, 'a bad email: 422';
    is $admin->api(PATCH => "/customers/$id", { phone => 'call me' })->code, 422, 'a bad phone: 422';
    $res = $admin->api(PATCH => "/customers/$id", { email => 'cli@example.com' });
    is $res->code, 409, "another person's email: 409";
    is $res->json->{errors}[0]{field}, 'email', 'naming the field';
    is $admin->api(PATCH => "/customers/$c{'Cliente Portal'}{id}", { email => '' })->code, 422,
        'a customer who logs in keeps an email';
    is $admin->api(GET => "/customers/$admin_user->{id}")->code, 404, 'an agent is not a customer';
    my $other = $t->psql(q{SELECT user_id FROM helpdesk.users WHERE email = 'g@example.com'});
    is $admin->api(GET => "/customers/$other")->code, 404, "another tenant's customer: 404";
    is $admin->api(PATCH => "/customers/$other", { name => 'x' })->code, 404, 'and cannot be changed';
    is $admin->api(GET => '/customers/not-an-id')->code, 404, 'a malformed id: 404';

    # the same person twice: merged into the one who stays
    my $dup = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'Outro pedido', description => 'x',
        requester_email => 'maria.s@example.net', requester_name => 'M. Souza' })->res->json;
    my $dup_id = $dup->{requester}{id};
    is $admin->api(POST => "/customers/$id/merge", { into => $id })->code, 422, 'not into oneself';
    $res = $admin->api(POST => "/customers/$id/merge", {});
    is $res->code, 422, 'into someone' or diag $res->body;
    is $admin->api(POST => "/customers/$id/merge", { into => $other })->code, 404, "not into another tenant's customer";
    $res = $admin->api(POST => "/customers/$dup_id/merge", { into => $id });
    is $res->code, 200, 'a duplicate merged into the customer who stays';
    ok((grep { $_->{number} eq $dup->{number} } @{ $res->json->{ticket_list} }), 'their ticket moves over');
    is_deeply [@{ $res->json }{qw(name email)}], ['Maria Souza', 'maria.souza@example.com'], 'the one who stays keeps their details';
    $res = $admin->api(GET => "/customers/$dup_id");
    is $res->code, 404, 'the duplicate is gone';
    is $res->json->{merged_into}, $id, 'pointing to the one who stays';
    ok !(grep { $_->{id} eq $dup_id } @{ $admin->api(GET => '/customers?q=souza')->json->{data} }), 'and out of the directory';
    my $again = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'De novo', description => 'y',
        requester_email => 'maria.s@example.net' })->res->json;
    is $again->{requester}{id}, $id, "a new ticket from the duplicate's email goes to the one who stays";
    is $t->psql(qq{SELECT detail->>'merged' FROM helpdesk.audit_log WHERE action = 'customer.merge' AND object_id = '$id'}),
        $dup_id, 'the merge is audited';

    # WhatsApp and the portal: one person
    my $portal_id = $c{'Cliente Portal'}{id};
    $res = $admin->api(POST => "/customers/$id/merge", { into => $portal_id });
    is $res->code, 200, 'the WhatsApp customer merged into the portal account';
    is_deeply $res->json->{whatsapp}, ['+5511988887777'], 'with her WhatsApp number';
    is whatsapp('wamid.MERGE1', 'Sou eu de novo')->code, 200, 'she writes on WhatsApp again';
    is $admin->api(GET => "/tickets/$by{whatsapp}{number}")->json->{requester}{id}, $portal_id,
        "her WhatsApp ticket is the portal customer's now";
    my $new_number = $t->psql(q{SELECT tickets.ticket_number(t.number) FROM helpdesk.whatsapp_messages w
                                JOIN helpdesk.tickets t USING (tenant_id, ticket_id) WHERE w.wamid = 'wamid.MERGE1'});
    my $new = $admin->api(GET => "/tickets/$new_number")->json;
    is_deeply [$new->{requester}{id}, $new->{events}[0]{body}], [$portal_id, 'Sou eu de novo'],
        'and her new message (the old ticket is closed) opens one for the same customer';
    my %mine = map { $_->{number} => 1 } @{ $cust->api(GET => '/tickets')->json->{data} };
    ok !$mine{$by{whatsapp}{number}} && !$mine{$new_number},
        'which her portal account does not show before she confirms her address';
    my ($vtoken) = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE event_type = 'email.verification'
                                          AND payload->>'to' = 'cli@example.com' ORDER BY outbox_id DESC LIMIT 1}))
                   ->{link} =~ m{/verify/([0-9a-f]{64})$};
    is $cust->api(POST => "/verify/$vtoken")->code, 200, 'she confirms it with the link sent at sign-up';
    %mine = map { $_->{number} => 1 } @{ $cust->api(GET => '/tickets')->json->{data} };
    ok $mine{$by{whatsapp}{number}} && $mine{$new_number}, 'both of which she follows on the portal then';
}

# --- another tenant -----------------------------------------------------------------
{
    my $g = console('globex.portal.test');
    $g->get('/agent/');
    $g->set_cookie(hd_agent => $admin->cookie('hd_agent'));
    is $g->api(GET => '/queue')->code, 401, "acme's agent is nobody on globex's console";
}
is $admin->api(GET => '/tickets/TKT-999999')->code, 404, 'an unknown ticket: 404';
is $admin->api(DELETE => '/queue')->code, 405, 'a wrong method: 405';
is $admin->api(POST => "/tickets/$by{api}{number}/replies", { body => '' })->code, 422, 'an empty reply: 422';
is $admin->api(POST => "/tickets/$by{api}{number}/replies", { body => 'x' }, 'X-CSRF-Token' => '')->code, 403,
    'a reply without the CSRF token: 403';

is_deeply [map { "$_->{method} $_->{path}: $_->{refused}" } @{ $fake->refused }], [], 'the provider refused nothing';
$fake->stop;
$t->done;
