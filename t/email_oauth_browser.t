#!/usr/bin/env perl
# A Gmail mailbox connected from the console, in a real browser (headless
# Chromium), against the fake OAuth provider (t/lib/Helpdesk/OAuth.pm)
# and a Dovecot that takes XOAUTH2 for the tokens it issues: the admin
# creates the mailbox, sees the redirect URI to register, authorises it;
# the provider sends the browser back through the callback to the
# console, which says so, cleans its address and shows the mailbox
# connected once the fetch job exchanged the code.  A consent refused
# shows its reason and the mailbox offers to authorise again; "send
# through" is saved, shown, and a refused choice is named at its field.
# Screenshots in build/screenshots/.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Browser;
use Helpdesk::Dovecot;
use Helpdesk::OAuth;
use File::Path qw(make_path);
use Mojo::JSON qw(decode_json true false);

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

plan skip_all => 'Chromium and chromedriver are not installed (make deps)' unless Helpdesk::Browser::available();

my $shots = "$Helpdesk::Test::TOP/build/screenshots";
make_path($shots);

my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;
my $op = Helpdesk::OAuth->new($t, client_id => 'cid-gmail.example', client_secret => 'gmail-s3cret');
my $imap = Helpdesk::Dovecot->new(dir => "$d/imap", users => { other => 'x' }, oauth2 => $op->url('/introspect'));
$imap->start;
my ($authz, $token, $imap_url) = ($op->url('/authorize'), $op->url('/token'), $imap->url('INBOX'));
$t->start_nginx(http => "helpdesk_base_domain portal.test;\n"
    . "    helpdesk_email_fetch interval=200ms timeout=10s ca_file=" . $imap->ca_file . ";\n"
    . "    helpdesk_email_oauth gmail authorize=$authz token=$token imap=$imap_url smtp=smtp://127.0.0.1:9/;",
                server => 'location /agent/ { helpdesk_agent_console; }');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
my $port = $t->port;
my $console = "http://acme.portal.test:$port/agent";

sub mailboxes { +{ map { $_->{address} => $_ } @{ $ua->get($t->url('/v1/email/mailboxes') => $h)->res->json->{data} } } }

# the admin, invited through the API
my $u = $ua->post($t->url('/v1/users') => $h => json => { email => 'ana@acme.example', name => 'Ana Admin', role => 'admin' })->res->json;
$ua->post($t->url("/v1/users/$u->{id}/invitation") => $h => json => { url => $console });
my $invite = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE kind = 'email' ORDER BY outbox_id DESC LIMIT 1}));

my $b = Helpdesk::Browser->new(resolve => { 'acme.portal.test' => 1 }, lang => 'pt-BR', width => 1366, height => 1000);
$b->get($invite->{link});
$b->wait_for('input[name=password]', 10);
$b->type('input[name=password]', 'senha-da-ana-1');
$b->click('form button[type=submit]');
$b->wait_for('input[name=email]', 10);
$b->type('input[name=email]', 'ana@acme.example')->type('input[name=password]', 'senha-da-ana-1');
$b->click('form button[type=submit]');
$b->wait_for('table.tickets', 10);

# --- the form: the kind decides the fields
$b->get("$console/admin#email");
$b->wait_for('form.mailbox-new', 10, qr/Nova caixa/);
my $shown = q{return [...document.querySelectorAll('form.mailbox-new input')].filter(i => i.offsetParent).map(i => i.name).join(' ')};
is $b->script($shown), 'address name', 'inbound: the address and the name';
$b->select('form.mailbox-new select[name=mailbox_kind]', 'imap');
is $b->script($shown), 'address name url username password', 'IMAP: its folder, user and password';
$b->select('form.mailbox-new select[name=mailbox_kind]', 'gmail');
is $b->script($shown), 'address name client_id client_secret', 'Gmail: the client id and secret';
like $b->text('form.mailbox-new .kind-hint'), qr/Registre um aplicativo no Google/, 'with what to do first';

# a bad client id: named at its field, nothing made
$b->type('form.mailbox-new input[name=address]', 'help@acme.test');
$b->type('form.mailbox-new input[name=client_id]', 'bad id&x');
$b->type('form.mailbox-new input[name=client_secret]', 'gmail-s3cret');
$b->click('form.mailbox-new button[type=submit]');
like $b->wait_for('form.mailbox-new .field-error', 10, qr/\S/) // '', qr/\S/, 'a bad client id is refused at its field';
is $b->script(q{return document.querySelector('form.mailbox-new [name=client_id]').getAttribute('aria-invalid')}), 'true',
    'the field marked invalid';
is $b->script($shown), 'address name client_id client_secret', 'the Gmail fields still the ones shown';
ok !%{ mailboxes() }, 'no mailbox made';

# --- created: the redirect URI to register, the way to the consent
$b->script(q{document.querySelector('form.mailbox-new [name=client_id]').value = ''});
$b->type('form.mailbox-new input[name=client_id]', 'cid-gmail.example');
$b->type('form.mailbox-new input[name=name]', 'Ajuda');
$b->click('form.mailbox-new button[type=submit]');
my $start = $b->wait_for('.oauth-start', 10, qr/help/) // '';
like $start, qr/Autorize help\@acme\.test/, 'the mailbox made: authorise it';
is $b->script(q{return document.querySelector('.oauth-start input.redirect-uri').value}),
    "$console/_/rest/v1/email/oauth/callback", "the console's redirect URI to register";
like $start, qr/Autorizar com Google/, 'a button to authorise with Google';
like $start, qr/Este link vale até \d\d:\d\d/, 'saying how long it works';
my $href = $b->script(q{return document.querySelector('.oauth-start a.authorize').href});
like $href, qr{^\Q$authz\E\?.*login_hint=help%40acme\.test}, "to the provider's consent page";
my $help = mailboxes()->{'help@acme.test'};
is $help->{kind}, 'gmail', 'a Gmail mailbox';
like $b->text("form.mailbox[aria-label='help\@acme.test'] h3"), qr/Gmail.*não verificada/s, 'listed with its kind and health';
is $b->script(q{return [...document.querySelectorAll('form.sender select[name=smtp_mailbox_id] option')].map(o => o.textContent).join('|')}),
    'O servidor de saída abaixo|help@acme.test (Gmail)', '"send through" lists the new mailbox at once';
$b->screenshot("$shots/email-oauth-created.png");

# --- authorised: back in the console, the connection comes
$b->click('.oauth-start a.authorize');
my $result = $b->wait_for('.oauth-result', 15, qr/help/) // '';
like $result, qr/help\@acme\.test (autorizada\. Aguardando a primeira conexão|está conectada)/,
    'back in the console: authorised, waiting for the connection';
like $b->url, qr{^\Q$console\E/admin#email$}, 'the query string cleaned';
like $b->script(q{return document.querySelector('[role=tab][aria-selected=true]').textContent}), qr/E-mail/i,
    'on the E-mail tab';
$b->screenshot("$shots/email-oauth-waiting.png");
like $b->wait_for('.oauth-result.ok', 40, qr/conectada/) // '', qr/help\@acme\.test está conectada/,
    'then connected, once the fetch job exchanged the code';
is $op->stats->{counts}{authorization_code}, 1, 'one code exchanged';
is mailboxes()->{'help@acme.test'}{health}{state}, 'ok', 'the API agrees';
like $b->text("form.mailbox[aria-label='help\@acme.test']"), qr/Autorizada com Google/, 'the mailbox says it is authorised';
ok !$b->script(q{return document.querySelector("form.mailbox[aria-label='help@acme.test'] button.authorize")}),
    'without a button to authorise again';
$b->screenshot("$shots/email-oauth-connected.png");
$b->get("$console/admin#email");
$b->wait_for('form.mailbox-new', 10);
ok !$b->script(q{return document.querySelector('.oauth-result')}), 'a reload does not show the result again';

# --- a consent refused: its reason, and "authorise again"
$op->control(deny => true);
$b->select('form.mailbox-new select[name=mailbox_kind]', 'gmail');
$b->type('form.mailbox-new input[name=address]', 'vendas@acme.test');
$b->type('form.mailbox-new input[name=client_id]', 'cid-gmail.example');
$b->type('form.mailbox-new input[name=client_secret]', 'gmail-s3cret');
$b->click('form.mailbox-new button[type=submit]');
$b->wait_for('.oauth-start', 10, qr/vendas/);
$b->click('.oauth-start a.authorize');
like $b->wait_for('.oauth-result.error', 15, qr/vendas/) // '',
    qr/vendas\@acme\.test não foi autorizada: o acesso não foi permitido na página de autorização do provedor$/,
    'a consent refused: said, with the reason in the console\'s language (its code, access_denied)';
like $b->url, qr{/admin#email$}, 'the query string cleaned';
my $vendas = "form.mailbox[aria-label='vendas\@acme.test']";
like $b->text("$vendas h3"), qr/autenticação falhou/, 'the mailbox shows it';
is $b->text("$vendas .health-reason"), 'o acesso não foi permitido na página de autorização do provedor',
    'its health\'s reason in Portuguese too';
like $b->script("return document.querySelector(\"$vendas .health-reason\").title"),
    qr/the consent was not given: access_denied: The user declined/, 'the English reason kept, as its title';
ok $b->script("return document.querySelector(\"$vendas button.authorize\")"), 'and offers to authorise again';
$b->screenshot("$shots/email-oauth-refused.png");

$op->control(deny => false);
$b->click("$vendas button.authorize");
like $b->wait_for('.oauth-result.ok', 40, qr/conectada/) // '', qr/vendas\@acme\.test está conectada/,
    'authorised again: connected';
is $op->stats->{counts}{authorization_code}, 2, 'its code exchanged';

# --- sending through a mailbox
my $through = 'form.sender select[name=smtp_mailbox_id]';
$b->wait_for('form.sender', 10);
is $b->script("return [...document.querySelectorAll('$through option')].map(o => o.textContent).join('|')"),
    'O servidor de saída abaixo|help@acme.test (Gmail)|vendas@acme.test (Gmail)', "the relay or the tenant's OAuth mailboxes";
$help = mailboxes()->{'help@acme.test'};
$b->select($through, $help->{id});
$b->click('form.sender button[type=submit]');
like $b->wait_for('form.sender .alert.ok', 10, qr/\S/) // '', qr/Salvo/, 'saved';
my $set = $ua->get($t->url('/v1/email/settings') => $h)->res->json;
is $set->{smtp_mailbox}{id}, $help->{id}, 'the mail goes through the mailbox';
ok $set->{smtp_mailbox}{active}, 'which is active';
$b->get("$console/admin#email");
$b->wait_for('form.sender', 10);
is $b->script("return document.querySelector('$through').value"), $help->{id}, 'shown after a reload';
ok !$b->script(q{return document.querySelector('.through-inactive')}), 'not said to be inactive';
$b->screenshot("$shots/email-oauth-send-through.png");

# a choice the server refuses (a mailbox deleted meanwhile): at the field
my $gone = mailboxes()->{'vendas@acme.test'}{id};
$b->select($through, $gone);
is $ua->delete($t->url("/v1/email/mailboxes/$gone") => $h)->res->code, 204, 'the chosen mailbox deleted meanwhile';
$b->click('form.sender button[type=submit]');
like $b->wait_for('form.sender .field-error', 10, qr/\S/) // '', qr/\S/, 'the refusal shown at the field';
is $b->script("return document.querySelector('$through').getAttribute('aria-invalid')"), 'true', 'the field marked invalid';
is $ua->get($t->url('/v1/email/settings') => $h)->res->json->{smtp_mailbox}{id}, $help->{id}, 'the choice unchanged';
$b->screenshot("$shots/email-oauth-send-error.png");

# back to the relay: cleared
$b->select($through, '');
$b->click('form.sender button[type=submit]');
like $b->wait_for('form.sender .alert.ok', 10, qr/\S/) // '', qr/Salvo/, 'the relay chosen again';
ok !defined $ua->get($t->url('/v1/email/settings') => $h)->res->json->{smtp_mailbox}, 'the choice cleared';

$b->quit;
$imap->stop;
$op->stop;
$t->done;
