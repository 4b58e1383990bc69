#!/usr/bin/env perl
# The chat's record in the agent console, in a real browser (headless
# Chromium): the admin's chat settings page (the snippet ready to copy,
# the form saved through the API, an invalid origin shown on its field), a
# customer's chats beside their tickets, one chat read-only with its
# transcript, and a ticket from the chat's offline form in the queue with
# the chat's icon.  Screenshots in build/screenshots/.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Browser;
use File::Path qw(make_path);
use Mojo::JSON qw(decode_json);
use Encode ();

plan skip_all => 'Chromium and chromedriver are not installed (make deps)' unless Helpdesk::Browser::available();

my $shots = "$Helpdesk::Test::TOP/build/screenshots";
make_path($shots);

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain portal.test;',
                server => 'location / { helpdesk_portal; } location /agent/ { helpdesk_agent_console; }
                           location /chat/widget/ { helpdesk_chat_widget; } location /chat/ { helpdesk_chat; }');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
my $port = $t->port;
# SQL with text of this file's (UTF-8) in it
sub sql { $t->psql(Encode::encode_utf8($_[0])) }
sub one { (split /\n/, sql($_[0]))[0] }

# the first admin, invited through the API
my $u = $ua->post($t->url('/v1/users') => $h => json => { email => 'ana@acme.example', name => 'Ana Admin', role => 'admin' })->res->json;
$ua->post($t->url("/v1/users/$u->{id}/invitation") => $h => json => { url => "http://acme.portal.test:$port/agent" });
my $invite = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE kind = 'email' ORDER BY outbox_id DESC LIMIT 1}));

my $b = Helpdesk::Browser->new(resolve => { 'acme.portal.test' => 1 }, lang => 'pt-BR', width => 1366, height => 1000);
my $console = "http://acme.portal.test:$port/agent";

$b->get($invite->{link});
$b->wait_for('input[name=password]', 10);
$b->type('input[name=password]', 'senha-da-ana-1');
$b->click('form button[type=submit]');
$b->wait_for('input[name=email]', 10);
$b->type('input[name=email]', 'ana@acme.example')->type('input[name=password]', 'senha-da-ana-1');
$b->click('form button[type=submit]');
$b->wait_for('table.tickets, p.empty', 10);

# --- the chat settings page ------------------------------------------------------

$b->get("$console/admin#chat");
my $snippet = $b->wait_for('textarea.snippet', 10) // '';
is $b->script(q{return document.querySelector('textarea.snippet').value}),
    qq{<script async src="http://portal.test:$port/chat/widget/chat.js" data-tenant="acme"></script>},
    "settings page: the install snippet, on the provider's name that serves the widget (not the console's), with the tenant";
ok $b->script(q{return !!document.querySelector('.chat-install button')}), '... with a button to copy it';
like $b->text('.chat-hours'), qr/Aberto agora/, '... the chat open now (no schedule)';
is $b->script(q{return document.querySelector('input[name=colour]').value}), '#1f6feb', '... the colour as saved';

$b->script(q{
    var f = document.querySelector('form.chat-settings');
    f.elements.title.value = 'Fale com a Acme';
    f.elements.greeting.value = 'Olá! Em que podemos ajudar?';
    f.elements.allowed_origins.value = 'https://www.acme.example/\nhttps://*.acme.example';
    f.elements.max_chats_per_agent.value = '4';
    f.elements.auto_ticket_minutes.value = '45';
    f.elements.position.value = 'bottom-left';
});
$b->click('.chat-settings .prechat button.secondary');
$b->script(q{
    var rows = document.querySelectorAll('.chat-settings .prechat tbody tr'), last = rows[rows.length - 1];
    last.querySelectorAll('input')[0].value = 'pedido';
    last.querySelectorAll('input')[1].value = 'Número do pedido';
    last.querySelectorAll('input')[2].checked = true;
});
$b->click('form.chat-settings > button[type=submit]');
my $err = $b->wait_for('form.chat-settings .field-error', 10) // '';
like $err, qr/Linha 2: .*wildcard/, 'settings page: an invalid origin shown under the list, by its line';
is $ua->get($t->url('/v1/chat/settings') => $h)->res->json->{title}, '', '... nothing saved';
$b->screenshot("$shots/console-chat-settings-error.png");

$b->script(q{document.querySelector('form.chat-settings').elements.allowed_origins.value = 'HTTPS://WWW.Acme.Example/';});
$b->click('form.chat-settings > button[type=submit]');
like $b->wait_for('form.chat-settings .alert.ok', 10) // '', qr/.+/, 'settings page: saved';
my $s = $ua->get($t->url('/v1/chat/settings') => $h)->res->json;
is $s->{title}, 'Fale com a Acme', '... the title through the API';
is_deeply $s->{allowed_origins}, ['https://www.acme.example'], '... the origin normalised';
is $b->script(q{return document.querySelector('textarea[name=allowed_origins]').value}), 'https://www.acme.example',
    '... and shown as saved';
is $s->{max_chats_per_agent}, 4, '... the queue\'s rules';
is $s->{auto_ticket_minutes}, 45, '... the minutes to a ticket';
is $s->{position}, 'bottom-left', '... the corner';
is_deeply $s->{prechat_fields}[-1], { name => 'pedido', label => 'Número do pedido', required => Mojo::JSON::true },
    '... a pre-chat field of the tenant\'s own';
$b->script(q{window.scrollTo(0, 0)});
$b->screenshot("$shots/console-chat-settings.png");

# --- a customer's chats, and one read-only ----------------------------------------

my $cust = one(qq{INSERT INTO helpdesk.users (tenant_id, email, name, role)
                  VALUES ('$acme->{id}', 'rita\@example.com', 'Rita Cliente', 'customer') RETURNING user_id});
my $agent = $u->{id};
sql(qq{
    INSERT INTO helpdesk.chat_visitors (tenant_id, visitor_id, token_hash, customer_id)
    VALUES ('$acme->{id}', 'a0000000-0000-4000-8000-0000000000d1', sha256('v1'), '$cust');
    INSERT INTO helpdesk.chat_conversations (tenant_id, conversation_id, visitor_id, customer_id, status,
                                             agent_id, started_at, ended_at, ended_by, page_url, prechat)
    VALUES ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', 'a0000000-0000-4000-8000-0000000000d1', '$cust',
            'ended', '$agent', now() - interval '2 days', now() - interval '2 days' + interval '6 minutes', 'visitor',
            'https://www.acme.example/planos', '{"name": "Rita", "pedido": "88812"}');
    INSERT INTO helpdesk.chat_messages (tenant_id, conversation_id, message_id, kind, author_type, author_id,
                                        author_name, body, data, created_at) VALUES
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1764480000000-0', 'message', 'visitor', NULL,
         'Rita', 'Minha fatura veio errada', '{}', now() - interval '2 days'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1764480000001-0', 'message', 'bot', NULL,
         NULL, 'Estes artigos podem ajudar: Segunda via da fatura', '{}', now() - interval '2 days'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1764480030000-0', 'event', 'system', NULL,
         NULL, '', '{"type": "joined", "agent": {"name": "Ana Admin"}}', now() - interval '2 days' + interval '30 seconds'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1764480040000-0', 'message', 'agent', '$agent',
         'Ana Admin', 'Olá, Rita! Vou verificar a sua fatura.', '{}', now() - interval '2 days' + interval '40 seconds'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1764480050000-0', 'note', 'agent', '$agent',
         'Ana Admin', 'Cobrança em dobro: abrir chamado no financeiro', '{}', now() - interval '2 days' + interval '50 seconds'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1764480360000-0', 'message', 'visitor', NULL,
         'Rita', 'Obrigada!', '{}', now() - interval '2 days' + interval '6 minutes');
});
# a ticket from the offline form, as the transport would make it
sql(q{SELECT api.chat_offline('acme', 'https://www.acme.example', '198.51.100.7',
           '{"name": "Rita", "email": "rita@example.com", "message": "Preciso da segunda via\nda fatura de novembro",
             "fields": {"pedido": "88812"}}')});

$b->get("$console/customers/$cust");
my $chats = $b->wait_for('table.chats', 10) // '';
like $chats, qr/Encerrado/, 'customer: the chat listed beside the tickets, with its status';
like $chats, qr/Ana Admin/, '... its agent';
like $chats, qr/\b4\b/, '... its number of messages';
like $b->text('table.tickets:not(.chats)'), qr/Preciso da segunda via/, '... and the offline form\'s ticket among the tickets';
$b->screenshot("$shots/console-customer-chats.png");

$b->click('table.chats a[href$="/chats/a0000000-0000-4000-8000-00000000c001"]');
my $tr = $b->wait_for('ol.transcript', 10) // '';
like $b->text('main h1'), qr/Chat com Rita Cliente/, 'transcript: whose chat';
like $tr, qr/Minha fatura veio errada.*Estes artigos.*Entrou no chat.*Vou verificar.*Cobrança em dobro.*Obrigada!/s,
    '... its messages in order, the event and the note among them';
is $b->script(q{return document.querySelectorAll('ol.transcript li.internal').length}), 1, '... the note marked internal';
ok !$b->script(q{return !!document.querySelector('main textarea, main form')}), '... read-only: nothing to send';
like $b->text('dl.chat-facts'), qr{https://www.acme.example/planos}, '... the page it began on';
$b->screenshot("$shots/console-chat-transcript.png");

# --- the queue: a chat ticket with the chat's icon -------------------------------

$b->get("$console/");
$b->wait_for('table.tickets', 10, qr/Preciso da segunda via/);
is $b->script(q{return [...document.querySelectorAll('table.tickets tbody .channel')].map(e => e.className + ':' + (e.querySelector('svg') ? 'icon' : '')).join(' ')}),
    'channel ch-chat:icon', 'queue: the offline form\'s ticket on the chat channel, with its icon';
like $b->text('table.tickets tbody .channel'), qr/Chat/, '... named Chat';
$b->screenshot("$shots/console-queue-chat.png");

$b->quit;
$t->done;
