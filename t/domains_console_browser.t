#!/usr/bin/env perl
# Settings → Domains in the agent console, in a real browser (headless
# Chromium): the admin adds a name and sees the records to create exactly
# as the API gives them (the CNAME to the tenant's target, the TXT proof);
# "check now" once, then the wait the server asks for; the check job's
# results (given here through its SQL entry points, as the module calls
# them) reach an open page by themselves, and the certificate shows once
# there is one; removal asks first; an agent has no such page; a hostile
# name or reason is text, never markup; the page in English and Spanish.
# Screenshots in the test's directory (two of them also in
# /tmp/domains-shots/).
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Browser;
use Helpdesk::Chat;
use File::Copy qw(copy);
use File::Path qw(make_path);
use Time::HiRes qw(sleep);

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

plan skip_all => 'Chromium and chromedriver are not installed (make deps)' unless Helpdesk::Browser::available();

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain portal.test;
    helpdesk_custom_domains cname_zone=domains.provider.example;',
                server => 'location / { helpdesk_portal; } location /agent/ { helpdesk_agent_console; }');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $port = $t->port;
(my $acme_hex = $acme->{id}) =~ s/-//g;
my $target = "t-$acme_hex.domains.provider.example";
my $console = "http://acme.portal.test:$port/agent";

my $shots = $t->dir . '/shots';
make_path($shots, '/tmp/domains-shots');

Helpdesk::Chat::invite($t, $acme, 'ana@acme.example', 'Ana Admin', role => 'admin', password => 'senha-da-ana-1');
Helpdesk::Chat::invite($t, $acme, 'bruno@acme.example', 'Bruno Agente', role => 'agent', password => 'senha-do-bruno-1');

# the check job's side, through its entry points (the provider key's hash as proof)
my $proof = "sha256(convert_to('" . $t->provider_key . "', 'UTF8'))";
sub job_result {
    my ($host, $outcome) = @_;
    $t->psql("UPDATE helpdesk.portal_domains SET next_check_at = now() WHERE hostname = '$host'");
    my $lease = $t->psql("SELECT lease_token FROM api.domain_check_claim($proof, 50, 60)
                          WHERE hostname = '$host'");
    $lease =~ s/\s+//g;
    return $t->psql("SELECT api.domain_check_result($proof, '$acme->{id}', '$host', '$lease', \$o\$$outcome\$o\$)");
}

my $b = Helpdesk::Browser->new(resolve => { 'acme.portal.test' => 1 }, lang => 'pt-BR', width => 1366, height => 900);

sub login {
    my ($email, $password) = @_;
    $b->get("$console/");
    $b->wait_for('input[name=email]', 10);
    $b->type('input[name=email]', $email)->type('input[name=password]', $password);
    $b->click('form button[type=submit]');
    $b->wait_for('nav', 10, qr/Fila/);
}
my $visit = 0;
sub open_domains { $b->get("$console/admin?visit=" . ++$visit . "#domains") }
sub row { qq{table.domains tr[data-host="$_[0]"]} }
sub pwned { $b->script('return [window.__pwned || null, document.querySelectorAll("main img, dialog img").length]') }

# --- the admin ----------------------------------------------------------------------------
login('ana@acme.example', 'senha-da-ana-1');
like $b->text('header nav') // '', qr/Configurações/, "the admin has the settings";
open_domains();
is $b->wait_for('nav.tabs a[aria-selected="true"]', 10), 'Domínios', 'Configurações → Domínios';
like $b->wait_for('.domain-list', 10, qr/Nenhum/) // '', qr/Nenhum domínio próprio ainda/, 'no domain yet, said so';

# adding a name: the records to create, as the API gives them
$b->type('input[name=hostname]', '  Ajuda.Acme.Example. ');
$b->click('form.domain-add button[type=submit]');
like $b->wait_for('.domain-records', 10, qr/CNAME/) // '', qr/Registros DNS para ajuda\.acme\.example/,
    'added: the records to create, for the normalised name';
my $api = $ua->get($t->url('/v1/domains/ajuda.acme.example') => $t->auth($acme->{key}))->res->json;
my $shown = $b->script(q{return [...document.querySelectorAll('.domain-records .dns-record')].map(function (r) {
    return [r.querySelector('.record-type').innerText, r.querySelector('input.record-name').value,
            r.querySelector('input.record-value').value]; })});
is_deeply $shown, [map { [$_->{type}, $_->{name}, $_->{value}] } @{ $api->{records} }],
    'every record exactly as the API returns it';
is $shown->[0][2], $target, "the CNAME's target is the tenant's";
like $shown->[1][2] // '', qr/^helpdesk-verify=[0-9a-f]{32}$/, 'and the TXT proof for an apex';
my $box = $b->text('.domain-records') // '';
like $box, qr/crie um registro do tipo CNAME/, 'plain instructions for the CNAME';
like $box, qr/ALIAS ou ANAME/, 'and for a main domain';
is $b->script(q{return document.querySelectorAll('.domain-records button.copy').length}), 4, 'a copy button for each name and value';
is $b->script(q{return document.activeElement === document.getElementById('domain-records-title') ? 1 : 0}), 1,
   'the records take the focus';
$b->click('.domain-records .dns-record.cname .row:has(input.record-value) button.copy');
is_deeply $b->script(q{var i = document.querySelector('.domain-records .dns-record.cname input.record-value');
                return [i.selectionStart, i.selectionEnd, i.value];}),
   [0, length $target, $target], 'copy selects the target, whole';
like $b->wait_for(row('ajuda.acme.example'), 10, qr/Aguardando DNS/) // '', qr/Ainda não verificado/,
    'the list: waiting for DNS, not checked yet';
is $b->script(q{return document.querySelector('input[name=hostname]').value}), '', 'the field is empty again';
$b->script('window.scrollTo(0, 0)');
$b->screenshot("$shots/domains-added.png");
copy("$shots/domains-added.png", '/tmp/domains-shots/domains-added.png');

# check now; again within the minute: the wait the server asks for
$b->click(row('ajuda.acme.example') . ' button.check');
like $b->wait_for(row('ajuda.acme.example') . ' .note', 10, qr/pedida/) // '', qr/Verificação pedida/, 'check now: asked';
$b->click(row('ajuda.acme.example') . ' button.check');
my $wait = $b->wait_for(row('ajuda.acme.example') . ' .note.wait', 10, qr/Tente/) // '';
like $wait, qr/^Este domínio acabou de ser verificado\. Tente de novo em ([1-9]|[1-5][0-9]|60) s\.$/,
    'again at once: try again in N s';
my ($n) = $wait =~ /em (\d+) s/;
ok $n >= 55, "N from Retry-After ($n)";

# a refused name: why, next to the field, in words; a hostile one stays text
$b->type('input[name=hostname]', '*.acme.example');
$b->click('form.domain-add button[type=submit]');
like $b->wait_for('form.domain-add .field-error', 10) // '', qr/Curingas \(\*\) não são aceitos/, 'a wildcard: why, in Portuguese';
is $b->script(q{return document.querySelector('input[name=hostname]').getAttribute('aria-invalid')}), 'true',
   'the field is marked';
my $evil = '<img src=x onerror="window.__pwned=1">.example';
$b->type('input[name=hostname]', $evil);
$b->click('form.domain-add button[type=submit]');
like $b->wait_for('form.domain-add .field-error', 10, qr/hífens/) // '', qr/Só letras sem acento, números e hífens/,
    'a hostile name: refused with the reason';
sleep 0.3;
is_deeply pwned(), [undef, 0], 'and nothing of it ran or became an element';

# the job's results reach the open page by themselves (every 30 s)
is job_result('ajuda.acme.example', '{"ok": false, "reason": "points-elsewhere: <img src=x onerror=\"window.__pwned=2\">"}'),
   'pending_dns', '(the job: it points elsewhere)';
my $reason = $b->wait_for(row('ajuda.acme.example') . ' .reason', 40) // '';
is $reason, 'O nome aponta para outro lugar: <img src=x onerror="window.__pwned=2">',
    'the open page shows the reason in words within 30 s, the hostile part as text';
is_deeply pwned(), [undef, 0], 'nothing of it ran';
$b->screenshot("$shots/domains-hostile.png");
copy("$shots/domains-hostile.png", '/tmp/domains-shots/domains-hostile.png');
like $b->text(row('ajuda.acme.example') . ' .checks') // '', qr/Última verificação: \S/, 'with when it was checked';

is job_result('ajuda.acme.example', '{"ok": true}'), 'verified', '(the job: proven)';
like $b->wait_for(row('ajuda.acme.example') . ' .state', 40, qr/Verificado/) // '', qr/^Verificado$/,
    'verified, on the open page';

# issued: active, with its certificate's summary
$t->psql("SELECT tls.domain_set('$acme->{id}', 'ajuda.acme.example', 'issuing', NULL)");
is $t->psql(q{SELECT tls.cert_store('} . $acme->{id} . q{', 'ajuda.acme.example', ARRAY['\x3082'::bytea],
           'sealed', '2026-11-30T12:00:00Z', '2027-02-28T12:00:00Z', 'acme')}), 1, '(its certificate stored)';
open_domains();
like $b->wait_for(row('ajuda.acme.example') . ' .state', 10, qr/Ativo/) // '', qr/^Ativo\s+Certificado instalado\.$/,
    'active (after a reload), the reason in words';
like $b->text(row('ajuda.acme.example') . ' .cert') // '', qr/Válido até .*2027.*Renovação a partir de .*2027.*Emitido automaticamente.*Emissão nº 1/s,
    'the certificate: until when, renewed from when, issued automatically';

# a second name, broken, for the picture
$ua->post($t->url('/v1/domains') => $t->auth($acme->{key}) => json => { hostname => 'suporte.acme.example' });
job_result('suporte.acme.example', '{"ok": false, "reason": "proof-missing"}');
open_domains();
like $b->wait_for(row('suporte.acme.example'), 10, qr/Aguardando DNS/) // '', qr/ainda não aparecem no DNS/,
    'proof-missing in words';
ok $b->script('return document.querySelector(arguments[0]).hidden', qq{tr[data-records="ajuda.acme.example"]}),
   "a domain's records are shown on demand";
$b->script('window.scrollTo(0, 0)');
$b->screenshot("$shots/domains-list.png");
copy("$shots/domains-list.png", '/tmp/domains-shots/domains-list.png');
$b->click(row('ajuda.acme.example') . ' button.records-toggle');
is_deeply $b->script('return [...document.querySelectorAll(arguments[0])].map(function (i) { return i.value; })',
              qq{tr[data-records="ajuda.acme.example"] input.record-value}),
   [map { $_->{value} } @{ $api->{records} }], 'the same records again, under the row';
$b->screenshot("$shots/domains-records.png");

# removal asks first; cancelling keeps the name
$b->click(row('suporte.acme.example') . ' button.remove');
like $b->wait_for('dialog.domain-remove[open]', 10) // '', qr/deixa de responder em suporte\.acme\.example/,
    'removal asks, naming the domain';
$b->screenshot("$shots/domains-remove.png");
$b->click('dialog.domain-remove button.cancel');
ok until_true(sub { !$b->script(q{return document.querySelector('dialog.domain-remove') ? 1 : 0}) }, 5), 'cancel closes it';
ok $b->find(row('suporte.acme.example')), 'and the name stays';
$b->click(row('suporte.acme.example') . ' button.remove');
$b->wait_for('dialog.domain-remove[open]', 10);
$b->click('dialog.domain-remove button.confirm');
ok until_true(sub { !$b->script('return document.querySelector(arguments[0]) ? 1 : 0', row('suporte.acme.example')) }, 10),
    'confirmed: gone from the list';
is $ua->get($t->url('/v1/domains/suporte.acme.example') => $t->auth($acme->{key}))->res->json->{status}, 'released',
    'released on the server';
ok $b->find(row('ajuda.acme.example')), 'the other name stays';

# the page in the other languages
for my $l (['en', 'Domains', qr/Your domains/, qr/Active/], ['es', 'Dominios', qr/Sus dominios/, qr/Activo/]) {
    $b->script('document.cookie = "hd_lang=' . $l->[0] . '; Path=/"');
    open_domains();
    is $b->wait_for('nav.tabs a[aria-selected="true"]', 10), $l->[1], "$l->[0]: the tab";
    like $b->wait_for('main', 10, $l->[2]) // '', $l->[2], "$l->[0]: the page";
    like $b->wait_for(row('ajuda.acme.example') . ' .state', 10, $l->[3]) // '', $l->[3], "$l->[0]: the state";
}
$b->script('document.cookie = "hd_lang=pt-BR; Path=/"');

# --- an agent: no such page -----------------------------------------------------------------
$b->get("$console/");
$b->wait_for('.me button.link', 10);
$b->click('.me button.link');
login('bruno@acme.example', 'senha-do-bruno-1');
my $nav = $b->text('header nav') // '';
like $nav, qr/Fila/, 'the agent is in';
unlike $nav, qr/Configurações|Domínios/, 'and has no admin pages, no Domains';
open_domains();
like $b->wait_for('main h1', 10) // '', qr/não encontrada|não existe|Página/i, 'the page itself is not there for an agent';
is $b->script(q{return document.querySelectorAll('.domain-list, form.domain-add').length}), 0, 'nothing of it drawn';
$b->script(q{window.__st = null; HD.rest('GET', '/v1/domains').then(function () { window.__st = 200; },
             function (e) { window.__st = e.status; });});
ok until_true(sub { $b->script('return window.__st') }, 5), '(asked the API)';
is $b->script('return window.__st'), 403, 'and the API refuses the agent';

$b->quit;
$t->done;
