#!/usr/bin/env perl
# The agent console in a real browser (headless Chromium): the queue shows
# tickets from the API, the portal and WhatsApp side by side with their
# channel icons; a ticket shows its consolidated history; a reply to a
# WhatsApp ticket inside the window reaches the (fake) provider, outside it
# the console offers the templates; a new ticket appears in an open queue
# without reloading; the keyboard works.  Screenshots in build/screenshots/.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Browser;
use Helpdesk::Portal;
use Helpdesk::FakeHTTP;
use Digest::SHA qw(hmac_sha256_hex);
use File::Path qw(make_path);
use Mojo::JSON qw(decode_json encode_json);
use Time::HiRes qw(sleep time);

plan skip_all => 'Chromium and chromedriver are not installed (make deps)' unless Helpdesk::Browser::available();

my $shots = "$Helpdesk::Test::TOP/build/screenshots";
make_path($shots);

my $fake = Helpdesk::FakeHTTP->new->mount('/graph' => cloud => token => 'tok', phone_number_id => 'PNID1');
my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain portal.test;
                          helpdesk_outbox interval=100ms backoff=200ms max_backoff=400ms attempts=3;',
                server => 'location / { helpdesk_portal; } location /agent/ { helpdesk_agent_console; }');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
my $port = $t->port;

# the first admin, invited through the API
my $u = $ua->post($t->url('/v1/users') => $h => json => { email => 'ana@acme.example', name => 'Ana Admin', role => 'admin' })->res->json;
$ua->post($t->url("/v1/users/$u->{id}/invitation") => $h => json => { url => "http://acme.portal.test:$port/agent" });
my $invite = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE kind = 'email' ORDER BY outbox_id DESC LIMIT 1}));

# tickets from three channels
$ua->post($t->url('/v1/tickets') => $h => json => { subject => 'Servidor fora do ar', description => 'Erro 502 desde as 9h.',
          requester_email => 'ops@cliente.example', requester_name => 'Olga Ops', priority => 'urgent' });
my $cust = Helpdesk::Portal->new($t, 'acme.portal.test');
$cust->signup('cli@example.com', 'senha-do-cliente', 'Carla Cliente');
$cust->api(POST => '/tickets', { subject => 'Segunda via do boleto', category => 'billing', priority => 'normal',
                                 description => 'Preciso da segunda via de novembro.' });
my $ctx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => 'cloud', display_phone_number => '+55 11 4000-1234', phone_number_id => 'PNID1',
    access_token => 'tok', app_secret => 'sec', verify_token => 'v', base_url => $fake->url('/graph') });
is $ctx->res->code, 201, 'a Cloud API number connected';
my $conn = $ctx->res->json;
is $fake->wait_for(1)->[0]{path}, '/graph/PNID1', 'its credentials checked';
my ($wapath) = $conn->{webhook_url} =~ m{(/whatsapp/.*)$};
my $body = encode_json({ object => 'whatsapp_business_account', entry => [{ id => 'W', changes => [{
    field => 'messages', value => { messaging_product => 'whatsapp', metadata => { phone_number_id => 'PNID1' },
        contacts => [{ profile => { name => 'Maria WhatsApp' }, wa_id => '5511988887777' }],
        messages => [{ from => '5511988887777', id => 'wamid.B1', timestamp => '' . int(time), type => 'text',
                       text => { body => 'Minha internet caiu de novo' } }] } }] }] });
$ua->post("http://127.0.0.1:$port$wapath" => { 'Content-Type' => 'application/json',
          'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($body, 'sec') } => $body);
$ua->put($t->url('/v1/whatsapp/templates') => $h => json => { status_update => { name => 'atualizacao_chamado', language => 'pt_BR' } });

my $b = Helpdesk::Browser->new(resolve => { 'acme.portal.test' => 1 }, lang => 'pt-BR', width => 1366, height => 900);
my $console = "http://acme.portal.test:$port/agent";

# the invitation: a password, then log in
$b->get($invite->{link});
is $b->wait_for('main h1', 10, qr/senha/), 'Escolha sua senha', 'the invitation link asks for a password';
$b->type('input[name=password]', 'senha-da-ana-1');
$b->click('form button[type=submit]');
$b->wait_for('input[name=email]', 10);

# "forgot your password?": a one-time link by email, the same answer for
# an address without an account
$b->click('a[href$="/agent/forgot"]');
is $b->wait_for('main h1', 10, qr/Redefinir/), 'Redefinir a senha', 'the login page leads to "forgot your password?"';
my $mails_before = $t->psql(q{SELECT count(*) FROM helpdesk.outbox WHERE kind = 'email'});
$b->type('input[name=email]', 'ana@acme.example');
$b->click('form button[type=submit]');
like $b->wait_for('.alert', 10, qr/link/) // '', qr/Se houver uma conta com este e-mail, o link está a caminho/,
     '... says the link is on its way';
my $forgot = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE kind = 'email' ORDER BY outbox_id DESC LIMIT 1}));
is $t->psql(q{SELECT count(*) FROM helpdesk.outbox WHERE kind = 'email'}), $mails_before + 1, '... one email queued';
like $forgot->{link}, qr{^http://acme\.portal\.test:$port/agent/reset/[0-9a-f]{64}$}, "... with a link to the console's reset page";
is $forgot->{to}, 'ana@acme.example', '... to her address';
$b->screenshot("$shots/console-forgot.png");
$b->type('input[name=email]', 'nobody@acme.example');
$b->click('form button[type=submit]');
like $b->wait_for('.alert', 10, qr/link/) // '', qr/o link está a caminho/, '... the same answer for an unknown address';
is $t->psql(q{SELECT count(*) FROM helpdesk.outbox WHERE kind = 'email'}), $mails_before + 1, '... and nothing queued for it';
$b->click('p.links a');
$b->wait_for('input[name=password]', 10);

$b->type('input[name=email]', 'ana@acme.example')->type('input[name=password]', 'senha-da-ana-1');
$b->click('form button[type=submit]');

# the unified queue
my $q = $b->wait_for('table.tickets', 10, qr/WhatsApp/) // '';
like $q, qr/Servidor fora do ar/, 'the API ticket is in the queue';
like $q, qr/Segunda via do boleto/, 'the portal ticket too';
like $q, qr/Minha internet caiu de novo/, 'and the WhatsApp one';
is $b->script(q{return [...document.querySelectorAll('table.tickets tbody .channel')].map(e => e.className + ':' + (e.querySelector('svg') ? 'icon' : '')).sort().join(' ')}),
    'channel ch-api:icon channel ch-portal:icon channel ch-whatsapp:icon', 'each with its channel icon';
like $b->text('table.tickets'), qr/Olga Ops/, 'with the requester';
$b->screenshot("$shots/console-queue.png");

# live: a new ticket appears without reloading
$ua->post($t->url('/v1/tickets') => $h => json => { subject => 'Chamado que chega ao vivo', description => 'z',
          requester_email => 'live@example.com', priority => 'high' });
like $b->wait_for('table.tickets', 10, qr/ao vivo/) // '', qr/Chamado que chega ao vivo/, 'a new ticket appears in the open queue by itself';
ok until_true(sub { ($b->script('return document.getElementById("live").textContent') // '') =~ /novo ou mudou/ }),
    'and is announced to screen readers';
$b->screenshot("$shots/console-queue-live.png");

# the keyboard: "/" searches, j/k move, Enter opens
$b->script('document.activeElement.blur()');
$b->_call(POST => $b->_s . '/actions', { actions => [{ type => 'key', id => 'kb', actions => [
    { type => 'keyDown', value => '/' }, { type => 'keyUp', value => '/' }] }] });
is $b->script('return document.activeElement.getAttribute("type")'), 'search', '"/" goes to the search';
$b->type('input[type=search]', 'internet');
like $b->wait_for('table.tickets', 10, qr/^(?!.*Servidor).*internet/s) // '', qr/Minha internet caiu/, 'searching narrows the queue';
$b->script(q{var s = document.querySelector('input[type=search]'); s.value = '';
              s.dispatchEvent(new Event('input', { bubbles: true }));});
like $b->wait_for('table.tickets', 10, qr/Servidor/) // '', qr/Servidor/, 'an empty search shows the whole queue again';

# several tickets at once: "x" picks the marked row, a click picks another
$b->script('document.activeElement.blur()');
$b->_call(POST => $b->_s . '/actions', { actions => [{ type => 'key', id => 'kb', actions => [
    { type => 'keyDown', value => 'x' }, { type => 'keyUp', value => 'x' }] }] });
my $first = $b->script(q{return document.querySelector('table.tickets tbody tr.picked td.num').innerText});
like $first // '', qr/^TKT-\d{6}$/, '"x" picks the marked ticket';
my $row = $b->script(q{return [...document.querySelectorAll('table.tickets tbody tr')]
    .findIndex(r => /Servidor fora do ar/.test(r.innerText)) + 1});
$b->click("table.tickets tbody tr:nth-child($row) td.pick input");
like $b->wait_for('.bulk-form', 10, qr/2 selecionados/) // '', qr/2 selecionados/, 'the bulk bar counts the picked tickets';
$b->select('.bulk-form select[name=priority]', 'low');
$b->screenshot("$shots/console-queue-bulk.png");
$b->click('.bulk-form button[type=submit]');
like $b->wait_for('.bulk', 10, qr/alterados/) // '', qr/2 chamados alterados/, 'both changed, and the console says so';
my %prio = map { $_->{subject} => $_->{priority} } @{ $ua->get($t->url('/v1/tickets') => $h)->res->json->{data} };
is $prio{'Servidor fora do ar'}, 'low', 'the API sees the new priority';
is scalar(grep { $_ eq 'low' } values %prio), 2, 'on the two tickets only';
is $b->script(q{return document.querySelectorAll('table.tickets tbody tr.picked').length}), 0, 'and the selection is cleared';

# in a background tab, the title counts what happened
$b->script(q{Object.defineProperty(document, 'hidden', { configurable: true, get: function () { return true; } });});
$ua->post($t->url('/v1/tickets') => $h => json => { subject => 'Enquanto a aba estava atrás', description => 'z',
          requester_email => 'bg@example.com' });
like until_true(sub { $b->title =~ /^\(\d+\) / ? $b->title : undef }) // $b->title, qr/^\(\d+\) Fila/,
    'the title counts the tickets with news while the tab is in the background';
$b->script(q{Object.defineProperty(document, 'hidden', { configurable: true, get: function () { return false; } });
             document.dispatchEvent(new Event('visibilitychange'));});
like $b->title, qr/^Fila · /, 'and forgets it once the agent looks';

# a live redraw keeps the keyboard's place
$b->script('document.activeElement.blur()');
$b->_call(POST => $b->_s . '/actions', { actions => [{ type => 'key', id => 'kb', actions => [
    { type => 'keyDown', value => 'j' }, { type => 'keyUp', value => 'j' }] }] });
my $focused = q{var a = document.activeElement, tr = a && a.closest && a.closest('tbody tr');
                return tr ? tr.querySelector('td.num').innerText : null};
my $before = $b->script($focused);
like $before // '', qr/^TKT-/, '"j" puts the focus on a ticket';
$ua->post($t->url('/v1/tickets') => $h => json => { subject => 'Outro ao vivo', description => 'z', requester_email => 'live2@example.com' });
like $b->wait_for('table.tickets', 10, qr/Outro ao vivo/) // '', qr/Outro ao vivo/, 'a new ticket arrives';
is $b->script($focused), $before, 'and the focus stays on the same ticket';

# "?" lists the shortcuts
$b->script('document.activeElement.blur()');
$b->_call(POST => $b->_s . '/actions', { actions => [{ type => 'key', id => 'kb', actions => [
    { type => 'keyDown', value => '?' }, { type => 'keyUp', value => '?' }] }] });
like $b->wait_for('dialog[open]', 10) // '', qr/Atalhos do teclado.*Novo chamado/s, '"?" shows the keyboard shortcuts';
$b->screenshot("$shots/console-shortcuts.png");
$b->click('dialog[open] button[type=submit]');
ok until_true(sub { !$b->script('return document.querySelector("dialog")') }), 'and the dialog closes';

# a ticket for a customer who called: "n" opens the form
$b->script('document.activeElement.blur()');
$b->_call(POST => $b->_s . '/actions', { actions => [{ type => 'key', id => 'kb', actions => [
    { type => 'keyDown', value => 'n' }, { type => 'keyUp', value => 'n' }] }] });
like $b->wait_for('main', 10, qr/Novo chamado/) // '', qr/Novo chamado/, '"n" opens the new-ticket form';
$b->click('main form button[type=submit]');
is $b->wait_for('main .alert.error', 10, qr/\S/), 'Confira os campos indicados abaixo.', 'an empty form says what is missing';
$b->type('input[name=requester_name]', 'Rita Ligação');
$b->type('input[name=requester_phone]', '(11) 95555-4444');
$b->type('input[name=subject]', 'Cliente ligou: boleto não chegou');
$b->type('textarea[name=description]', 'Pediu a segunda via por telefone.');
$b->screenshot("$shots/console-new-ticket.png");
$b->click('main form button[type=submit]');
like $b->wait_for('main', 10, qr/boleto não chegou.*Pediu a segunda via/s) // '', qr/Cliente ligou/, 'the new ticket opens';
like $b->text('.head') // '', qr/Telefone/, 'on the phone channel';
$b->screenshot("$shots/console-ticket-phone.png");
my ($phone) = grep { $_->{subject} =~ /Cliente ligou/ } @{ $ua->get($t->url('/v1/tickets') => $h)->res->json->{data} };
is $phone->{requester}{name}, 'Rita Ligação', 'for the caller, as a customer';

# the caller's profile, from the ticket: her email, learnt later
$b->click('.requester a');
like $b->wait_for('main', 10, qr/Chamados deste cliente/) // '', qr/Cliente ligou: boleto/, "the customer's profile lists her tickets";
$b->type('main form input[name=email]', 'rita@example.com');
$b->click('main form button[type=submit]');
ok until_true(sub { ($ua->get($t->url("/v1/tickets/$phone->{id}") => $h)->res->json->{requester}{email} // '') eq 'rita@example.com' }),
    'her email, corrected from the console';
$b->screenshot("$shots/console-customer.png");
$b->get("$console/customers");
$b->wait_for('input[type=search]', 10);
$b->script(q{var s = document.querySelector('input[type=search]'); s.value = '95555';
             s.dispatchEvent(new Event('input', { bubbles: true }));});
like $b->wait_for('.count', 10, qr/^1 cliente$/) // '', qr/^1 cliente$/, 'the directory finds one customer by her number';
like $b->text('.queue-list') // '', qr/Rita Ligação.*rita\@example\.com/s, 'her';
$b->screenshot("$shots/console-customers.png");

# the same caller wrote in by email too: merged from her profile
my $dup = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'Boleto por e-mail', description => 'Enviei por e-mail.',
    requester_email => 'rita.l@example.net', requester_name => 'R. Ligação' })->res->json;
$b->click('.queue-list td.subj a');
$b->wait_for('section.merge', 10);
$b->type('input[name=merge-q]', 'rita.l@');
like $b->wait_for('.merge-results', 10, qr/R\. Ligação/) // '', qr/R\. Ligação/, 'the duplicate is found from her profile';
$b->script('window.confirm = function () { return true; }');
$b->click('.merge-results button');
like $b->wait_for('main', 10, qr/Boleto por e-mail/) // '', qr/Cliente ligou.*Boleto por e-mail|Boleto por e-mail.*Cliente ligou/s,
    'after the merge her profile lists both tickets';
is $ua->get($t->url("/v1/tickets/$dup->{id}") => $h)->res->json->{requester}{name}, 'Rita Ligação', 'the email ticket is hers';
$b->screenshot("$shots/console-customer-merged.png");
$b->get("$console/");
$b->wait_for('table.tickets', 10, qr/Servidor/);
$b->click('table.tickets td.who a');
like $b->wait_for('main', 10, qr/Chamados deste cliente/) // '', qr/Chamados deste cliente/, "a requester in the queue opens the customer's profile";
$b->get("$console/");
$b->wait_for('table.tickets', 10, qr/Cliente ligou/);

# the WhatsApp ticket: history, and a reply inside the window
$b->get("$console/");
$b->wait_for('table.tickets', 10);
$b->script(q{[...document.querySelectorAll('table.tickets tbody tr')].find(r => /WhatsApp/.test(r.innerText)).querySelector('td.subj a').click()});
my $head = $b->wait_for('main h1', 10, qr/TKT/) // '';
like $head, qr/Minha internet caiu de novo/, 'the WhatsApp ticket opens';
like $b->text('.history'), qr/WhatsApp\W+Maria WhatsApp \(cliente\)\s+abriu o chamado/, 'its history: the channel, who, what';
like $b->text('.channel-note'), qr/vai para o WhatsApp do cliente/, 'the reply box says where the reply goes';
$fake->script({ status => 200, body => encode_json({ messaging_product => 'whatsapp',
    contacts => [{ input => '5511988887777', wa_id => '5511988887777' }],
    messages => [{ id => 'wamid.OUT1', message_status => 'accepted' }] }) });
$b->type('textarea[name=body]', 'Olá Maria! Vamos reiniciar o seu acesso agora.');
$b->click('form.reply-form button[type=submit]');
like $b->wait_for('.history', 10, qr/Vamos reiniciar/) // '', qr/WhatsApp\W+Ana Admin \(administrador\)\s+respondeu/, 'the reply is in the history, on WhatsApp';
my $sent = until_true(sub { (grep { $_->{path} eq '/graph/PNID1/messages' } @{ $fake->requests })[0] });
is decode_json($sent->{body} // '{}')->{text}{body}, 'Olá Maria! Vamos reiniciar o seu acesso agora.', 'and reaches the provider';
like $b->wait_for('.history', 10, qr/Enviada/) // '', qr/Enviada/, 'its delivery state shows (sent)';
$b->screenshot("$shots/console-ticket-whatsapp.png");

# an internal note looks different
$b->click('input[name=visibility][value=internal]');
$b->type('textarea[name=body]', 'Cliente VIP: prioridade.');
$b->click('form.reply-form button[type=submit]');
$b->wait_for('.history', 10, qr/Cliente VIP/);
is $b->script('return document.querySelectorAll(".event.internal").length'), 1, 'an internal note is marked as such';

# outside the window: the console says so before the agent types, and offers templates
$t->psql(q{UPDATE helpdesk.whatsapp_contacts SET last_inbound_at = now() - interval '2 days'});
$b->script('location.reload()');
like $b->wait_for('.channel-note', 10, qr/fechada/) // '', qr/janela de 24 horas do WhatsApp está fechada/, 'outside the window the console says so';
like $b->text('.channel-note select'), qr/atualizacao_chamado/, 'and offers the templates';
$b->screenshot("$shots/console-window-closed.png");
$b->click('.channel-note form button[type=submit]');
ok until_true(sub { grep { ($_->{body} // '') =~ /atualizacao_chamado/ } @{ $fake->requests } }), 'the template reaches the provider';

# properties from the keyboard-reachable selects
$b->select('select[name=status]', 'pending');
like $b->wait_for('.history', 10, qr/Pendente/) // '', qr/mudou Situação de Aberto para Pendente/, 'a status change is in the history';
$b->screenshot("$shots/console-ticket.png");

# settings from the console, through the REST API: the portal's colours
$b->get("$console/admin#portal");
$b->wait_for('input[name=primary_color]', 10);
$b->script(q{document.querySelector('input[name=primary_color]').value = '#8a1538';
             document.querySelector('input[name="welcome_title.pt-BR"]').value = 'Central de ajuda da Acme';
             document.querySelector('input[name="welcome_title.es"]').value = 'Centro de ayuda de Acme';});
$b->click('form.card button[type=submit]');
like $b->wait_for('.alert.ok', 10) // '', qr/Salvo/, 'the portal settings saved from the console';
my $branding = $ua->get($t->url('/v1/portal') => $h)->res->json->{branding};
is $branding->{primary_color}, '#8a1538', 'the same settings the API shows';
is_deeply $branding->{welcome_title}, { 'pt-BR' => 'Central de ajuda da Acme', es => 'Centro de ayuda de Acme' },
    'the welcome title, one per language';
$b->screenshot("$shots/console-settings-portal.png");
$b->get("$console/admin#webhooks");
$b->wait_for('input[name=url]', 10);
$b->type('input[name=url]', 'https://hooks.example/helpdesk');
$b->click('form.inline button[type=submit]');
like $b->wait_for('.secret', 10, qr/whsec_/) // '', qr/whsec_/, 'a webhook created, its secret shown once';

# the e-mail page: the sender, then the DKIM record; a template previewed
$b->get("$console/admin#email");
$b->wait_for('input[name=from_address]', 10);
$b->type('input[name=from_address]', 'suporte@acme.example');
$b->type('textarea[name=signature]', 'Equipe Acme');
$b->click('form.sender button[type=submit]');
like $b->wait_for('form.sender .alert.ok', 10) // '', qr/Salvo/, 'the sender saved from the console';
is $ua->get($t->url('/v1/email/settings') => $h)->res->json->{from_address}, 'suporte@acme.example',
    'the same settings the API shows';
ok until_true(sub { $ua->get($t->url('/v1/email/settings') => $h)->res->json->{dkim}{status} eq 'ready' }, 20),
    'a DKIM key made';
$b->get("$console/admin#email");
like $b->wait_for('code.wrap', 10, qr/DKIM1/) // '', qr/^v=DKIM1; k=rsa; p=/, 'the console shows the record to publish';
$b->select('select[name=kind]', 'invitation');
$b->wait_for('input[name=subject]', 10, qr//);
like $b->script(q{return document.querySelector('input[name=subject]').value}), qr/Convite/, "the invitation's wording";
$b->script(q{var s = document.querySelector('input[name=subject]'); s.value = 'Bem-vindo, {{customer.name}}';});
$b->click('form.template .row button.secondary');
like $b->wait_for('.mail-preview strong', 10, qr/Bem-vindo/) // '', qr/Bem-vindo, Joana Exemplo/, 'previewed with sample values';
like $b->script(q{return document.querySelector('.mail-preview iframe').getAttribute('srcdoc')}) // '',
    qr/Equipe Acme/, 'the HTML in a frame, with the signature';
is $b->script(q{return document.querySelector('.mail-preview iframe').getAttribute('sandbox')}), '',
    'a sandboxed frame: nothing in it runs';
$b->screenshot("$shots/console-settings-email.png");

# a second factor, set up from the console
$b->get("$console/account");
$b->wait_for('section.card button', 10);
$b->click('section.card button');
$b->wait_for('.totp-setup img', 10);
ok $b->script(q{return document.querySelector('.totp-setup img').naturalWidth > 0}), 'the QR code shows';
my $secret = $b->text('.totp-setup code');
like $secret, qr/^[A-Z2-7]{32}$/, 'with the key to type';
$b->screenshot("$shots/console-totp.png");

# the audit log
$b->get("$console/admin#audit");
like $b->wait_for('table.list', 10, qr/console/) // '', qr/console\.ticket\.read/, 'opening tickets is in the audit log';
$b->screenshot("$shots/console-audit.png");

# the language switcher: English for this browser, kept across pages
$b->select('select.lang', 'en');
like $b->wait_for('nav', 10, qr/Settings|Queue/) // '', qr/Queue/, 'the switcher turns the console to English';
$b->get("$console/");
like $b->wait_for('.queue-list', 10, qr/TKT-/) // '', qr/TKT-/, 'the queue after the switch';
like $b->text('nav') // '', qr/Queue/, 'and the choice is kept';
$b->select('select.lang', 'pt-BR');
like $b->wait_for('nav', 10, qr/Fila/) // '', qr/Fila/, 'and back to Portuguese';
$b->get("$console/admin#audit");
$b->wait_for('table.list', 10, qr/console/);

# contrast of the text colours used (WCAG 2.1 AA: 4.5:1) and labels, on
# every kind of page
my $contrast = q{
  function lum(c) { var m = c.match(/\d+(\.\d+)?/g).map(Number).slice(0, 3).map(function (v) { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]; }
  function bg(e) { while (e) { var c = getComputedStyle(e).backgroundColor;
    if (c && !/rgba\(0, 0, 0, 0\)|transparent/.test(c)) return c; e = e.parentElement; } return 'rgb(255, 255, 255)'; }
  var bad = [];
  document.querySelectorAll('body *').forEach(function (e) {
    if (!e.childNodes.length || ![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) return;
    var a = lum(getComputedStyle(e).color), b = lum(bg(e));
    var r = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (r < 4.5) bad.push(e.tagName + ' ' + r.toFixed(2) + ' ' + e.textContent.trim().slice(0, 20));
  });
  return bad.join('; ');
};
my $labels = q{return [...document.querySelectorAll('input, select, textarea')].filter(function (e) {
  return !(e.labels && e.labels.length) && !e.getAttribute('aria-label'); }).map(e => e.name).join(',')};
my ($wa_number) = map { $_->{number} } grep { $_->{channel} eq 'whatsapp' }
    @{ $ua->get($t->url('/v1/tickets') => $h)->res->json->{data} };
for my $page (['admin#audit', 'table.list', 'the audit log'], ['', 'table.tickets', 'the queue'],
              ["tickets/$wa_number", '.history', 'a ticket'], ['new', 'form', 'the new-ticket form'],
              ['customers', 'table.tickets', 'the customer directory'], ['admin#agents', 'table.list', 'the agents']) {
    my ($path, $ready, $name) = @$page;
    $b->get("$console/$path");
    $b->wait_for($ready, 10);
    is $b->script($contrast), '', "every text on $name meets 4.5:1 contrast";
    is $b->script($labels), '', "every control on $name has a label";
    like $b->script(q{return document.querySelector('.skip').textContent}), qr/^Pular para o conteúdo$/,
        "the skip link on $name speaks the page's language";
}

$b->quit;
is_deeply [map { "$_->{method} $_->{path}: $_->{refused}" } @{ $fake->refused }], [], 'the provider refused nothing';
$fake->stop;
$t->done;
