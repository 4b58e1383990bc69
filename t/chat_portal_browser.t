# The website chat on the tenant's portal, in Chromium: the portal's page
# carries the chat's launcher (loaded from the portal's own server, under
# the portal's content policy), and a signed-in customer's page of
# requests lists their chats beside their tickets; a chat opens read-only.
# Screenshots are kept in build/screenshots/.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use File::Path qw(make_path);
use Helpdesk::Test qw(until_true);
use Helpdesk::Browser;

plan skip_all => 'Chromium and chromedriver are not installed (make deps)' unless Helpdesk::Browser::available();

my $shots = "$Helpdesk::Test::TOP/build/screenshots";
make_path($shots);

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain portal.test;',
                server => 'location / { helpdesk_portal; }
                           location /chat/widget/ { helpdesk_chat_widget; }
                           location /chat/ { helpdesk_chat; }');
my $acme = $t->create_tenant('acme');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled, title)
            VALUES ('$acme->{id}', '{}', false, 'Acme chat')});

my $port = $t->port;
my $base = "http://acme.portal.test:$port";
my $b = Helpdesk::Browser->new(resolve => { 'acme.portal.test' => 1 },
                               lang => 'en', width => 1280, height => 800);

# sign up, as a customer does
$b->get("$base/signup");
$b->wait_for('form', 10);
$b->type('input[name=name]', 'Rita Lima')->type('input[name=email]', 'rita@example.com')
  ->type('input[name=password]', 'segredo-da-rita');
$b->click('form button[type=submit]');
my $rita = until_true(sub { $t->psql(q{SELECT user_id FROM helpdesk.users WHERE email = 'rita@example.com'}) }, 10);
ok $rita, 'Rita signs up';
$b->wait_for('main h1', 10, qr/request|ticket/i);

$b->get("$base/");
ok until_true(sub { $b->script('var e = document.elementFromPoint(innerWidth - 48, innerHeight - 48);'
                               . 'return !!e && e.hasAttribute("data-helpdesk-chat");') }, 10),
    "the portal's page has the chat's launcher in the corner";
$b->screenshot("$shots/chat-portal-launcher.png");

# two chats of hers, one turned into a ticket, with an internal note
$t->psql(qq{
    INSERT INTO helpdesk.users (tenant_id, user_id, email, name, role)
    VALUES ('$acme->{id}', 'a0000000-0000-4000-8000-0000000000a1', 'ana\@acme.example', 'Ana', 'agent');
    INSERT INTO helpdesk.chat_visitors (tenant_id, visitor_id, token_hash, customer_id, name, email)
    VALUES ('$acme->{id}', 'a0000000-0000-4000-8000-0000000000d1', sha256('v1'), '$rita', 'Rita Lima',
            'rita\@example.com');
    INSERT INTO helpdesk.chat_conversations (tenant_id, conversation_id, visitor_id, customer_id, status,
                                             agent_id, started_at, ended_at, prechat)
    VALUES ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', 'a0000000-0000-4000-8000-0000000000d1',
            '$rita', 'ended', 'a0000000-0000-4000-8000-0000000000a1', now() - interval '2 days',
            now() - interval '2 days' + interval '9 minutes', '{}'),
           ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c002', 'a0000000-0000-4000-8000-0000000000d1',
            '$rita', 'queued', NULL, now() - interval '1 hour', NULL, '{}');
    INSERT INTO helpdesk.chat_messages (tenant_id, conversation_id, message_id, kind, author_type,
                                        author_name, body, created_at)
    VALUES ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1-0', 'message', 'visitor', 'Rita Lima',
            'My order #1234 has not arrived.', now() - interval '2 days'),
           ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '2-0', 'note', 'agent', 'Ana',
            'INTERNAL: check the carrier', now() - interval '2 days'),
           ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '3-0', 'message', 'agent', 'Ana',
            'It left the warehouse today; you will have it tomorrow.', now() - interval '2 days');
});

$b->get("$base/tickets");
like $b->wait_for('.chat-list', 10, qr/Ana/) // '', qr/Chat with Ana/, 'her chats beside her tickets';
like $b->text('.chats'), qr/Waiting/, '... each with its status';
$b->screenshot("$shots/chat-portal-list.png");

$b->get("$base/chats/a0000000-0000-4000-8000-00000000c001");
like $b->wait_for('.history', 10, qr/tomorrow/) // '', qr/My order #1234.*tomorrow/s, 'a chat opens with its transcript';
unlike $b->text('main'), qr/INTERNAL/, '... without the internal note';
$b->screenshot("$shots/chat-portal-transcript.png");

$t->done;
