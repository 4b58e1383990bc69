#!/usr/bin/env perl
# The portal in a real browser (headless Chromium): what a customer sees
# and does, from the first visit to a reply from the support team, on a
# desktop and on a phone.  Screenshots are kept in build/screenshots/.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Browser;
use File::Path qw(make_path);
use Time::HiRes qw(sleep);

plan skip_all => 'Chromium and chromedriver are not installed (make deps)' unless Helpdesk::Browser::available();

my $shots = "$Helpdesk::Test::TOP/build/screenshots";
make_path($shots);

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain portal.test;', server => 'location / { helpdesk_portal; }');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
$ua->patch($t->url('/v1/portal') => $h => json => { branding => {
    primary_color => '#0b5394', welcome_title => { 'pt-BR' => 'Central de ajuda da Acme', es => 'Centro de ayuda de Acme' } } });
$ua->post($t->url('/v1/kb/categories') => $h => json => { slug => 'internet', name => 'Internet' });
$ua->post($t->url('/v1/kb/articles') => $h => json => { slug => 'reiniciar-roteador', category => 'internet',
    title => 'Como reiniciar o roteador', language => 'pt-BR',
    body => "Se a internet caiu, **desligue** o roteador por 30 segundos e ligue de novo." });

my $port = $t->port;
my $base = "http://acme.portal.test:$port";
my $b = Helpdesk::Browser->new(resolve => { 'acme.portal.test' => 1, 'nobody.portal.test' => 1 },
                               lang => 'pt-BR', width => 1280, height => 900);

# a first visit
$b->get("$base/");
is $b->wait_for('main h1', 10, qr/Central/), 'Central de ajuda da Acme', "the tenant's welcome, in Portuguese";
is $b->script('return getComputedStyle(document.querySelector(".hero .button")).backgroundColor'),
    'rgb(11, 83, 148)', "buttons in the tenant's colour";
like $b->text('.popular'), qr/Como reiniciar o roteador/, 'popular articles on the home page';
$b->screenshot("$shots/portal-home.png");

# sign up
$b->get("$base/signup");
$b->wait_for('form', 10);
$b->type('input[name=name]', 'Ana Souza')->type('input[name=email]', 'ana@example.com')
  ->type('input[name=password]', 'curta');
$b->click('form button[type=submit]');
like $b->wait_for('.alert', 10, qr/\S/), qr/Confira os campos/, 'a short password: a readable message';
like $b->text('.field-error'), qr/8 caracteres/, 'under the field';
$b->type('input[name=password]', 'segredo123');
$b->click('form button[type=submit]');
is $b->wait_for('main h1', 10, qr/Abrir um chamado/), 'Abrir um chamado', 'signed up, straight to a new ticket';

# a ticket, with a suggestion on the way
$b->type('input[name=subject]', 'Minha internet caiu');
like $b->wait_for('.suggest', 10, qr/roteador/) // '', qr/Como reiniciar o roteador/, 'an article is suggested while typing';
$b->screenshot("$shots/portal-new-ticket.png");
$b->click('form button[type=submit]');
is $b->wait_for('.alert', 10, qr/\S/), 'Confira os campos indicados abaixo.', 'sending it incomplete shows what is missing';
ok $b->script('return document.querySelectorAll("[aria-invalid=true]").length') >= 3, 'marking each field';
$b->select('select[name=category]', 'technical')->select('select[name=priority]', 'high');
$b->type('textarea[name=description]', "Desde ontem à noite.\nJá tentei <b>duas</b> vezes.");
my $file = $t->dir . '/foto do modem.jpg';
open my $fh, '>:raw', $file or die $!;
print $fh "\xff\xd8\xff\xe0 pretend jpeg";
close $fh;
$b->upload('input[type=file]', $file);
like $b->wait_for('.files', 10, qr/KB|B\)/) // '', qr/foto do modem\.jpg/, 'a file uploaded as it is chosen';
$b->click('form button[type=submit]');
my $head = $b->wait_for('main h1', 10, qr/TKT-/) // '';
like $head, qr/^TKT-000001 Minha internet caiu$/, 'the ticket is opened and shown';
like $b->text('main'), qr/O chamado TKT-000001 foi aberto/, 'with a confirmation';
my $body = $b->text('.event .body');
like $body, qr/<b>duas<\/b>/, 'what the customer typed is shown as text';
is $b->script('return document.querySelectorAll(".event .body b").length'), 0, 'never as HTML';
like $b->text('.event .files'), qr/foto do modem\.jpg/, 'the attachment in the history';
$b->screenshot("$shots/portal-ticket.png");

# the support team answers (through the API, as the console will)
my ($tid) = $t->psql(q{SELECT ticket_id FROM helpdesk.tickets WHERE number = 1 AND channel = 'portal'});
$ua->post($t->url("/v1/tickets/$tid/comments") => $h => json => { body => 'Olá Ana! Desligue o roteador por 30 segundos.' });
$ua->post($t->url("/v1/tickets/$tid/comments") => $h => json => { body => 'interno: checar a OLT', visibility => 'internal' });
$b->get("$base/tickets/TKT-000001");
like $b->wait_for('.history', 10, qr/Desligue/) // '', qr/Desligue o roteador/, "the team's reply appears";
unlike $b->text('main'), qr/checar a OLT/, 'internal notes do not';
$b->type('textarea[name=body]', 'Funcionou, obrigada!');
$b->click('form.reply button[type=submit]');
like $b->wait_for('.history', 10, qr/Funcionou/) // '', qr/Funcionou, obrigada!/, 'the customer replies';

# the list, the knowledge base
$b->get("$base/tickets");
like $b->wait_for('.tickets', 10) // '', qr/TKT-000001.*Minha internet caiu.*Aberto/s, 'the list of tickets';
$b->screenshot("$shots/portal-tickets.png");
$b->get("$base/kb/reiniciar-roteador");
$b->wait_for('article', 10);
is $b->script('return document.querySelector(".article-body strong").textContent'), 'desligue', 'the article, rendered';
$b->click('.vote button');
like $b->wait_for('.vote', 10, qr/Obrigado/) // '', qr/Obrigado/, 'a vote, thanked';
$b->screenshot("$shots/portal-article.png");

# on a phone
$b->resize(390, 844);
$b->get("$base/tickets/TKT-000001");
$b->wait_for('.history', 10);
ok $b->script('return document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways scrolling on a phone';
$b->screenshot("$shots/portal-ticket-phone.png");
$b->resize(1280, 900);

# the customer says it is solved
$b->get("$base/tickets/TKT-000001");
$b->wait_for('form.solved', 10);
$b->click('form.solved button[type=submit]');
like $b->wait_for('main', 10, qr/está resolvido/) // '', qr/Este chamado está resolvido/, 'the customer closes the ticket';
like $b->text('.history') // '', qr/Resolvido/, 'and the history says so';
is $ua->get($t->url("/v1/tickets/$tid") => $h)->res->json->{status}, 'resolved', 'for the team too';
$b->screenshot("$shots/portal-ticket-resolved.png");

# their details and a copy of their data, from the account page
$b->get("$base/account");
$b->wait_for('input[name=phone]', 10);
$b->type('input[name=phone]', '+55 11 90000-2222');
$b->click('main form button[type=submit]');
like $b->wait_for('main .alert.ok', 10) // '', qr/Salvo/, 'the customer saves their details';
is $t->psql(q{SELECT phone FROM helpdesk.users WHERE email = 'ana@example.com'}), '+55 11 90000-2222', 'kept';
$b->script(q{window.__doc = null; var made = URL.createObjectURL.bind(URL);
             URL.createObjectURL = function (b) { b.text().then(function (t) { window.__doc = t; }); return made(b); };});
$b->click('button.export');
like until_true(sub { $b->script('return window.__doc') }) // '', qr/"number": "TKT-000001".*Desligue o roteador/s,
    'and downloads a copy of their data, history included'
    or diag $b->text('main');
$b->screenshot("$shots/portal-account.png");

# another language, chosen with the switcher
$b->get("$base/");
$b->wait_for('main h1', 10);
$b->select('.top select', 'es');
is $b->wait_for('main h1', 10, qr/Centro/), 'Centro de ayuda de Acme', 'Spanish, from the switcher';
like $b->text('.top nav'), qr/Mis tickets/, 'every string';
is $b->script(q{return document.querySelector('.skip').textContent}), 'Saltar al contenido', 'the skip link too';

# log out, a wrong password, an unknown portal
$b->get("$base/account");
$b->wait_for('main h1', 10);
$b->click('button.logout');
$b->wait_for('main h1', 10, qr/Centro/);
$b->get("$base/login");
$b->wait_for('form', 10);
$b->type('input[name=email]', 'ana@example.com')->type('input[name=password]', 'errada-123');
$b->click('form button[type=submit]');
like $b->wait_for('.alert', 10, qr/\S/) // '', qr/correo o la contraseña/, 'a wrong password: a message in the language';
$b->screenshot("$shots/portal-login-error.png");
$b->get("http://nobody.portal.test:$port/");
like $b->wait_for('h1', 10) // '', qr/no support portal/, 'an unknown name: the neutral page';
$b->screenshot("$shots/portal-unknown.png");

# first-load weight of the page (HTML, CSS, script, strings), for the record
my $weight = $b->script(q{return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
                          .reduce(function (s, e) { return s + (e.transferSize || 0); }, 0);});
$b->get("$base/");
$b->wait_for('main h1', 10);
$weight = $b->script(q{return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
                          .reduce(function (s, e) { return s + (e.encodedBodySize || 0); }, 0);});
ok $weight > 0 && $weight < 100_000, "the first load is small ($weight bytes of HTML, CSS, JS and strings)";
diag "portal first load: $weight bytes";

$b->quit;
$t->done;
