#!/usr/bin/env perl
# The console's chat panel in a real browser (headless Chromium).
#
# First against the protocol as docs/chat-protocol.md writes it, with the
# page's WebSocket played by the test (every frame the panel sends is
# checked, every frame it gets is the test's): the availability switch,
# a waiting chat and an offer (sound, title, countdown), accepting it, the
# transcript with typing and read status both ways, two chats side by
# side, canned replies, notes, transfer, conversion into a ticket, the
# end, a reconnect that resumes without showing anything twice, the chats
# in the unified queue, tablet width, three languages.  Then, when the
# module serves the chat, the same conversation end to end against the
# real server: a visitor on a WebSocket of their own, the agent in the
# console.  Screenshots in build/screenshots/.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Browser;
use Helpdesk::Portal;
use Helpdesk::Chat;
use File::Path qw(make_path);
use MIME::Base64 qw(decode_base64);
use Mojo::JSON qw(decode_json encode_json);
use Time::HiRes qw(sleep time);

plan skip_all => 'Chromium and chromedriver are not installed (make deps)' unless Helpdesk::Browser::available();

my $shots = "$Helpdesk::Test::TOP/build/screenshots";
make_path($shots);

# every ch.* string the panel uses, in the three languages
{
    # the panel is written in parts (chat.parts), joined into one script
    my $dir = "$Helpdesk::Test::TOP/src/www/console";
    my @parts = grep { /\S/ && !/^\s*#/ } split /\n/, do { local (@ARGV, $/) = "$dir/chat.parts"; <> };
    my $src = join '', map { local (@ARGV, $/) = "$dir/$_"; <> } @parts;
    my %used = map { $_ => 1 } $src =~ /t\('(ch\.[a-z0-9_.]+[a-z0-9_])'/g;
    $used{"ch.$_"} = 1 for qw(conn.connecting conn.reconnecting conn.closed conn.unavailable state.sent state.delivered
                              state.read status.active status.queued status.ended status.transferred status.converted
                              from.visitor from.bot from.agent from.system ev.ended.visitor ev.ended.agent
                              ev.ended.system);
    for my $lang (qw(pt-BR es en)) {
        my $s = decode_json(do { local (@ARGV, $/) = "$Helpdesk::Test::TOP/src/www/i18n/$lang.json"; <> });
        my @missing = grep { !exists $s->{$_} } sort keys %used;
        is "@missing", '', "every string of the chat panel in $lang";
    }
}

my $t = Helpdesk::Test->new->start_stack;
# the module's chat: the transport and the conversations layer, both there
my $chat_conf = (-e "$Helpdesk::Test::TOP/src/chat/ngx_http_helpdesk_chat_http.c"
                 && -e "$Helpdesk::Test::TOP/src/chat/ngx_http_helpdesk_chat_agent.c") ? 1 : 0;
$t->start_nginx(http => 'helpdesk_base_domain portal.test;',
                server => 'location / { helpdesk_portal; } location /agent/ { helpdesk_agent_console; }'
                        . ($chat_conf ? ' location /chat/ { helpdesk_chat; } location /agent/_/chat/ { helpdesk_chat agent; }' : ''));
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
my $port = $t->port;
my $console = "http://acme.portal.test:$port/agent";

# agents: invited through the API, a password each
sub agent {
    my ($email, $name, $role) = @_;
    return Helpdesk::Chat::invite($t, $acme, $email, $name, role => $role, password => "senha-de-$role-1");
}
my $ana = agent('ana@acme.example', 'Ana Admin', 'admin');
my $bruno = agent('bruno@acme.example', 'Bruno Agente', 'agent');
my $tk = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'Fatura errada (chat)', description => 'Do chat.',
                   requester_email => 'rita@example.com', requester_name => 'Rita Souza' })->res->json;

# what the page does before its own scripts: errors are collected, and
# (for the first part) the WebSocket is the test's
my $probe = <<'JS';
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
window.addEventListener('unhandledrejection', function (e) { window.__errors.push('rejection: ' + String(e.reason)); });
(function () { var ce = console.error; console.error = function () {
  window.__errors.push([].map.call(arguments, String).join(' ')); return ce.apply(console, arguments); }; })();
/* what the server says, kept for a test that fails to show */
window.__recv = [];
(function () {
  var WS = window.WebSocket;
  if (!WS) return;
  window.WebSocket = function (url, proto) {
    var ws = new WS(url, proto);
    ws.addEventListener('message', function (e) { window.__recv.push(String(e.data).slice(0, 600)); });
    return ws;
  };
  window.WebSocket.prototype = WS.prototype;
})();
JS
my $fake_ws = <<'JS';
window.__sent = []; window.__sockets = [];
window.WebSocket = function (url, proto) {
  var self = this;
  this.url = url; this.protocolAsked = proto; this.readyState = 0;
  window.__sockets.push(this);
  setTimeout(function () { self.readyState = 1; if (self.onopen) self.onopen({}); }, 20);
};
window.WebSocket.prototype.send = function (d) { window.__sent.push(JSON.parse(d)); };
window.WebSocket.prototype.close = function (code) {
  this.readyState = 3; if (this.onclose) this.onclose({ code: code || 1006, reason: '' }); };
window.__push = function (o) {
  var s = window.__sockets[window.__sockets.length - 1];
  s.onmessage({ data: JSON.stringify(o) });
};
JS

sub browser {
    my (%opt) = @_;
    my $b = Helpdesk::Browser->new(resolve => { 'acme.portal.test' => 1 }, lang => $opt{lang} // 'pt-BR',
                                   width => $opt{width} // 1280, height => 900);
    $b->_call(POST => $b->_s . '/goog/cdp/execute', { cmd => 'Page.addScriptToEvaluateOnNewDocument',
              params => { source => $probe . ($opt{fake} ? $fake_ws : '') } });
    $b->get("$console/");
    $b->wait_for('input[name=email]', 10);
    $b->type('input[name=email]', $opt{email})->type('input[name=password]', $opt{password});
    $b->click('form button[type=submit]');
    $b->wait_for('.queue-list', 10, qr/TKT-/);
    return $b;
}

sub sent {
    my ($b, $type) = @_;
    return [grep { $_->{type} eq $type } @{ $b->script('return window.__sent') // [] }];
}

# keys pressed in the focused element, as a person would
sub press {
    my ($b, @k) = @_;
    $b->_call(POST => $b->_s . '/actions', { actions => [{ type => 'key', id => 'kb', actions => [
        map { { type => $_->[0], value => $_->[1] } } @k] }] });
}

# the window as it is (the panel is as tall as the window)
sub shot {
    my ($b, $name) = @_;
    open my $fh, '>:raw', "$shots/$name.png" or die "$shots/$name.png: $!";
    print $fh decode_base64($b->_call(GET => $b->_s . '/screenshot'));
    close $fh;
}

sub push_frame { my ($b, $o) = @_; $b->script('window.__push(arguments[0])', $o) }

sub errors { my ($b) = @_; join "\n", @{ $b->script('return window.__errors') // [] } }

# ---------------------------------------------------------------------------
# The panel against the protocol, the server played by the test
# ---------------------------------------------------------------------------

my $b = browser(fake => 1, email => 'ana@acme.example', password => 'senha-de-admin-1');
ok until_true(sub { @{ sent($b, 'hello') } }), 'the panel says hello';
my $sock = $b->script('var s = window.__sockets[0]; return [s.url, s.protocolAsked]');
is $sock->[0], "ws://acme.portal.test:$port/agent/_/chat/v1/ws", "on the console's own chat endpoint";
is $sock->[1], 'helpdesk.chat.v1', 'with the subprotocol';
like sent($b, 'hello')->[0]{cid}, qr/^[A-Za-z0-9_-]{1,64}$/, 'with a client id';
ok $b->script('return document.getElementById("chat").hidden'), 'no panel before the server answered';

push_frame($b, { type => 'welcome', id => '~1', agent => { id => $ana->{id}, name => 'Ana Admin', status => 'away', limit => 3 },
                 settings => { transfer_allowed => \1 }, queue => [], chats => [] });
like $b->wait_for('.top .chat-status', 5, qr/Ausente/) // '', qr/Ausente\s+0\/3 chats/, 'the header: away, no chat of a limit of 3';
ok !$b->script('return document.getElementById("chat").hidden'), 'the panel beside the queue';
like $b->text('#chat'), qr/Ninguém aguardando.*Nenhum chat aberto/s, 'empty, and it says so';
is $b->script('return document.querySelector(".chat-switch").getAttribute("aria-checked")'), 'false', 'the switch is off';

$b->click('.chat-switch');
my $p = until_true(sub { sent($b, 'presence')->[0] });
is $p->{status}, 'available', 'the switch asks to be available';
push_frame($b, { type => 'ack', id => '~2', cid => $p->{cid} });
like $b->wait_for('.chat-switch', 5, qr/Disponível/) // '', qr/Disponível/, 'and shows it once the server agrees';
is $b->script('return document.querySelector(".chat-switch").getAttribute("aria-checked")'), 'true', 'a switch, on';
$b->script('window.__beeps = 0');

# a chat waits; an offer comes
my $c1 = '11111111-1111-4111-8111-111111111111';
my $c2 = '22222222-2222-4222-8222-222222222222';
my $rita = { name => 'Rita Souza', email => 'rita@example.com', language => 'pt-BR',
             page => { url => 'https://www.example.com/precos?plano=pro', title => 'Preços — Example',
                       referrer => 'https://www.google.com/' },
             user_agent => 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
             tickets => [{ number => $tk->{number}, subject => 'Fatura errada (chat)', status => 'open' }],
             previous_chats => [{ conversation => '33333333-3333-4333-8333-333333333333', started_at => '2026-11-02T14:00:00Z',
                                  status => 'ended' }] };
push_frame($b, { type => 'queue', id => '~3', queue => [{ conversation => $c1, visitor => $rita, waiting_seconds => 42,
                                                          text => 'Minha fatura veio errada' }] });
like $b->wait_for('.chat-waiting', 5, qr/Rita/) // '', qr/Rita Souza\s+0:4\d/, 'the waiting chat, with its wait time';
my $w1 = $b->text('.chat-wait .chat-since');
sleep 2.1;
isnt $b->text('.chat-wait .chat-since'), $w1, 'which ticks';
like $b->title, qr/^\(1\) Novo chat — Rita Souza · /, 'the title says a chat waits';
like $b->text('table.tickets tbody.chat-rows') // '', qr/Rita Souza está aguardando/, 'the waiting chat is in the unified queue';
ok $b->script('return !!document.querySelector("tbody.chat-rows .channel svg.icon.ch-chat")'), "with the chat's icon (💭)";

push_frame($b, { type => 'offer', id => '~4', conversation => $c1, visitor => $rita, expires_in => 30 });
like $b->wait_for('.chat-offer', 5, qr/Rita/) // '', qr/Novo chat: Rita Souza.*0:[23]\d.*Aceitar.*Recusar/s,
    'the offer, prominent, with its countdown, Accept and Decline';
like $b->wait_for('#chat-live', 5, qr/Novo chat de/) // '', qr/Novo chat de Rita Souza/, 'announced to screen readers';
ok $b->script('return HD.chat.state.beeps') >= 1, 'with a beep (a click had unlocked audio)';
shot($b, "console-chat-offer");

# accepted: the conversation so far, the visitor's details
$b->click('.chat-offer .chat-accept');
my $acc = until_true(sub { sent($b, 'accept')->[0] });
is $acc->{conversation}, $c1, 'Accept sends accept for that conversation';
push_frame($b, { type => 'ack', id => '~5', cid => $acc->{cid} });
push_frame($b, { type => 'queue', id => '~6', queue => [] });
my @hist = (
    { type => 'message', id => '1764480000000-0', conversation => $c1, from => { kind => 'visitor', name => 'Rita Souza' },
      text => 'Minha fatura veio errada', at => '2026-11-30T12:00:00Z' },
    { type => 'message', id => '1764480000001-0', conversation => $c1, from => { kind => 'bot', name => 'Assistente' },
      text => 'Estes artigos podem ajudar:', articles => [{ title => 'Segunda via', url => 'https://help.example.com/2via' },
                                                          { title => 'Ruim', url => 'javascript:alert(1)' }],
      at => '2026-11-30T12:00:01Z' },
    { type => 'joined', id => '1764480000500-0', conversation => $c1, agent => { id => $ana->{id}, name => 'Ana Admin' },
      at => '2026-11-30T12:00:30Z' });
push_frame($b, $_) for @hist;
my $col = $b->wait_for('.chat-col', 5, qr/Ana Admin entrou/) // '';
like $col, qr/Rita Souza.*Minha fatura veio errada.*Assistente\s*Robô.*Estes artigos.*Ana Admin entrou/s,
    'the chat opens with the conversation so far, the bot marked';
is $b->script('return [...document.querySelectorAll(".chat-log > li")].map(e => e.className.replace("chat-msg ", "")).join(" ")'),
    'from-visitor from-bot chat-event', 'visitor, bot and system events styled apart';
is $b->script('return document.querySelectorAll(".chat-articles a[href^=javascript]").length'), 0, 'a link that is not http is text';
like $b->text('.chat-visitor'), qr/rita\@example\.com.*Preços — Example.*precos\?plano=pro.*google\.com.*pt-BR.*Chrome 120 no Windows/s,
    "the visitor's details: email, page, referrer, language, browser";
like $b->text('.chat-visitor'), qr/Chats anteriores.*Chamados.*\Q$tk->{number}\E/s, 'previous chats and tickets';
is $b->script('return document.querySelectorAll(".chat-offer").length'), 0, 'the offer is gone';
unlike $b->title, qr/Novo chat/, 'and so is the title notice';
like $b->text('.chat-status'), qr/1\/3 chats/, 'the load counts it';
like $b->text('tbody.chat-rows') // '', qr/Chat com Rita Souza/, 'the open chat in the unified queue';
my $read = until_true(sub { sent($b, 'read')->[-1] });
is $read->{upto}, '1764480000000-0', "the visitor's message read (it is on screen)";

# typing both ways, a reply, its status
push_frame($b, { type => 'typing', id => '~7', conversation => $c1, from => 'visitor', on => \1 });
like $b->wait_for('.chat-typing', 5, qr/\S/) // '', qr/Rita Souza está digitando/, "the visitor's typing shows";
$b->type('.chat-col textarea[name=text]', 'Olá Rita!');
press($b, [keyDown => "\x{E008}"], [keyDown => "\x{E007}"], [keyUp => "\x{E007}"], [keyUp => "\x{E008}"],
      map { ([keyDown => $_], [keyUp => $_]) } split //, 'Vou verificar.');
my $typing = until_true(sub { sent($b, 'typing')->[0] });
is_deeply [$typing->{conversation}, $typing->{on} ? 1 : 0], [$c1, 1], "the agent's typing is sent";
is scalar(grep { $_->{on} } @{ sent($b, 'typing') }), 1, 'once, not per key';
$b->script(q{var e = document.querySelector('.chat-col textarea[name=text]');
             e.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));});
my $m = until_true(sub { sent($b, 'message')->[0] });
is_deeply [$m->{conversation}, $m->{text}], [$c1, "Olá Rita!\nVou verificar."], 'Enter sends (Shift+Enter kept the new line)';
like $b->text('.chat-log > li:last-child'), qr/enviando/, 'shown as sending';
is $b->script('return document.querySelector(".chat-col textarea[name=text]").value'), '', 'the composer is empty again';
ok until_true(sub { grep { !$_->{on} } @{ sent($b, 'typing') } }), 'and the typing stopped';
push_frame($b, { type => 'ack', id => '~8', cid => $m->{cid}, ref => '1764480000600-0' });
like $b->wait_for('.chat-log > li:last-child .chat-state', 5, qr/enviada/) // '', qr/enviada/, 'sent, once stored';
push_frame($b, { type => 'message', id => '1764480000600-0', conversation => $c1, cid => $m->{cid},
                 from => { kind => 'agent', id => $ana->{id}, name => 'Ana Admin' }, text => "Olá Rita!\nVou verificar." });
is $b->script('return document.querySelectorAll(".chat-log li.own").length'), 1, 'its echo is not shown twice';
push_frame($b, { type => 'status', id => '~9', conversation => $c1, delivered => '1764480000600-0' });
like $b->wait_for('.chat-log li.own .chat-state', 5, qr/entregue/) // '', qr/entregue/, 'delivered';
push_frame($b, { type => 'status', id => '~10', conversation => $c1, read => '1764480000600-0' });
like $b->wait_for('.chat-log li.own .chat-state', 5, qr/lida/) // '', qr/lida/, 'read by the visitor';
push_frame($b, { type => 'message', id => '1764480000700-0', conversation => $c1, from => { kind => 'visitor', name => 'Rita Souza' },
                 text => 'Obrigada!', at => '2026-11-30T12:01:00Z' });
like $b->wait_for('.chat-log', 5, qr/Obrigada/) // '', qr/Obrigada!/, 'her answer';
is $b->text('.chat-typing'), '', 'which ends her typing indicator';
like $b->text('#chat .chat-log') // '', qr/Obrigada/, 'in a live log (aria-live)';
ok until_true(sub { (sent($b, 'read')->[-1]{upto} // '') eq '1764480000700-0' }), 'and it is read';

# canned replies and an internal note
$b->script(q{return HD.api('POST', '/canned', { title: 'Saudação', body: 'Olá {{customer.name}}, aqui é {{agent.name}}.' })});
$b->script('location.reload()');
$b->wait_for('.queue-list', 10, qr/TKT-/);
ok until_true(sub { @{ sent($b, 'hello') } }), 'after a reload the panel says hello again';
push_frame($b, { type => 'welcome', id => '~1', agent => { id => $ana->{id}, name => 'Ana Admin', status => 'available', limit => 3 },
                 queue => [], chats => [{ conversation => $c1, visitor => $rita, status => 'active' }] });
push_frame($b, $_) for @hist;
$b->wait_for('.chat-col', 5, qr/Ana Admin entrou/);
$b->select('.chat-col select[name=canned]', $b->script(q{return [...document.querySelectorAll('.chat-col select[name=canned] option')]
    .filter(o => o.textContent === 'Saudação')[0].value}));
is $b->script('return document.querySelector(".chat-col textarea[name=text]").value'), 'Olá Rita Souza, aqui é Ana Admin.',
    'a canned reply fills the composer, with its placeholders';
$b->click('.chat-col input[name=note]');
$b->click('.chat-col .chat-compose button[type=submit]');
my $note = until_true(sub { sent($b, 'note')->[0] });
is_deeply [$note->{conversation}, $note->{text}], [$c1, 'Olá Rita Souza, aqui é Ana Admin.'], 'the note toggle sends a note';
push_frame($b, { type => 'ack', id => '~11', cid => $note->{cid}, ref => '1764480000800-0' });
ok until_true(sub { $b->script('return document.querySelectorAll(".chat-log li.note").length') == 1 }), 'shown as a note';

# a reconnect: hello with the last id, nothing shown twice
$b->script('window.__sent = []; window.__sockets[window.__sockets.length - 1].close(1001)');
like $b->wait_for('.chat-conn', 5, qr/Reconectando/) // '', qr/Reconectando/, 'the header says it reconnects';
my $again = until_true(sub { sent($b, 'hello')->[0] }, 10);
is $again->{last}{$c1}, '1764480000800-0', 'and resumes from the last id it has';
push_frame($b, { type => 'welcome', id => '~1', agent => { id => $ana->{id}, name => 'Ana Admin', status => 'available', limit => 3 },
                 queue => [], chats => [{ conversation => $c1, visitor => $rita, status => 'active' }] });
my $before = $b->script('return document.querySelectorAll(".chat-log > li").length');
push_frame($b, $hist[0]);
push_frame($b, { type => 'message', id => '1764480000900-0', conversation => $c1, from => { kind => 'visitor' },
                 text => 'Ainda está aí?', at => '2026-11-30T12:02:00Z' });
like $b->wait_for('.chat-log', 5, qr/Ainda está/) // '', qr/Ainda está aí/, 'what was missed arrives';
is $b->script('return document.querySelectorAll(".chat-log > li").length'), $before + 1, 'and nothing twice';

# a second chat: from the waiting list, side by side
my $carlos = { name => 'Carlos Lima', page => { url => 'https://www.example.com/contato', title => 'Contato' },
               user_agent => 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', language => 'es' };
push_frame($b, { type => 'queue', id => '~12', queue => [{ conversation => $c2, visitor => $carlos, waiting_seconds => 5 }] });
$b->wait_for('.chat-waiting', 5, qr/Carlos/);
$b->click('.chat-wait .chat-accept');
$acc = until_true(sub { sent($b, 'accept')->[0] });
is $acc->{conversation}, $c2, 'Accept from the waiting list';
push_frame($b, { type => 'ack', id => '~13', cid => $acc->{cid} });
push_frame($b, { type => 'queue', id => '~14', queue => [] });
push_frame($b, { type => 'message', id => '1764480001000-0', conversation => $c2, from => { kind => 'visitor', name => 'Carlos Lima' },
                 text => '¿Tienen soporte en español?', at => '2026-11-30T12:03:00Z' });
push_frame($b, { type => 'joined', id => '1764480001001-0', conversation => $c2, agent => { id => $ana->{id}, name => 'Ana Admin' } });
ok until_true(sub { $b->script('return document.querySelectorAll(".chat-col:not([hidden])").length') == 2 }), 'two chats open';
my $rects = $b->script('return [...document.querySelectorAll(".chat-col")].map(e => { var r = e.getBoundingClientRect(); return [r.left, r.top, r.width]; })');
ok $rects->[1][0] > $rects->[0][0] + 300 && abs($rects->[1][1] - $rects->[0][1]) < 2, 'side by side at 1280 px';
ok $b->script('return document.querySelector("main").getBoundingClientRect().width') >= 480, 'the queue keeps its room';
like $b->text('.chat-status'), qr/2\/3 chats/, 'the load';
like $b->text('.chat-col:nth-child(2) .chat-visitor'), qr/Idioma\s+es.*Firefox 121 no Linux/s, "the second visitor's details";
like $b->text('tbody.chat-rows'), qr/Chat com Rita Souza.*Chat com Carlos Lima/s, 'both in the unified queue';
shot($b, "console-chat-two");

# transfer: to an available agent, with a note
push_frame($b, { type => 'presence', id => '~15', agent => $bruno->{id}, name => 'Bruno Agente', status => 'available' });
$b->click('.chat-col:nth-child(1) .chat-transfer-btn');
$b->wait_for('.chat-transfer:not([hidden])', 5);
like $b->text('.chat-transfer select'), qr/Bruno Agente/, 'the available agents to transfer to';
push_frame($b, { type => 'groups', id => '~16', groups => [{ id => 'e0000000-0000-4000-8000-000000000001', name => 'Financeiro' },
                                                            { id => 'e0000000-0000-4000-8000-000000000002', name => 'Nível 2' }] });
ok until_true(sub { $b->script(q{return [...document.querySelectorAll('.chat-col:nth-child(1) .chat-transfer optgroup:last-child option')]
    .map(o => o.value).join(',')}) eq 'g:Financeiro,g:Nível 2' }, 5),
    "the tenant's groups, as the server tells them, beside the agents";
$b->select('.chat-col:nth-child(1) .chat-transfer select[name=to]', 'g:Financeiro');
shot($b, "console-chat-transfer-group");
$b->select('.chat-col:nth-child(1) .chat-transfer select[name=to]', "a:$bruno->{id}");
$b->type('.chat-col:nth-child(1) .chat-transfer textarea[name=note]', 'Cliente quer a segunda via');
shot($b, "console-chat-transfer");
$b->click('.chat-col:nth-child(1) .chat-transfer button[type=submit]');
my $tr = until_true(sub { sent($b, 'transfer')->[0] });
is_deeply [$tr->{conversation}, $tr->{to}{agent}, $tr->{note}], [$c1, $bruno->{id}, 'Cliente quer a segunda via'],
    'transfer: the chat, the agent, the note';
push_frame($b, { type => 'ack', id => '~16', cid => $tr->{cid}, ref => '1764480001100-0' });
push_frame($b, { type => 'transferred', id => '1764480001100-0', conversation => $c1, to => { id => $bruno->{id}, name => 'Bruno Agente' } });
like $b->wait_for('.chat-col:nth-child(1)', 5, qr/Transferido para Bruno/) // '', qr/Transferido para Bruno Agente/, 'transferred';
ok $b->script('return document.querySelector(".chat-col:nth-child(1) .chat-compose").hidden'), 'no composer for a chat gone to another agent';
like $b->text('.chat-status'), qr/1\/3 chats/, 'the load drops';

# conversion into a ticket
$b->click('.chat-col:nth-child(2) .chat-convert');
my $cv = until_true(sub { sent($b, 'convert')->[0] });
is $cv->{conversation}, $c2, 'Create ticket sends convert';
push_frame($b, { type => 'converted', id => '1764480001200-0', conversation => $c2, ticket => { number => $tk->{number} } });
like $b->wait_for('.chat-col:nth-child(2) .chat-ticket', 5, qr/TKT/) // '', qr/Chamado \Q$tk->{number}\E/, 'the ticket number shows';
like $b->text('.chat-col:nth-child(2) .chat-badge'), qr/Virou chamado/, 'the chat became a ticket';
ok $b->script('return document.querySelector(".chat-col:nth-child(2) .chat-compose").hidden'), 'and is over';
shot($b, "console-chat-converted");

# the end, by the agent
my $c3 = '55555555-5555-4555-8555-555555555555';
push_frame($b, { type => 'queue', id => '~18', queue => [{ conversation => $c3, visitor => { name => 'Paula' }, waiting_seconds => 3 }] });
$b->wait_for('.chat-waiting', 5, qr/Paula/);
push_frame($b, { type => 'offer', id => '~20', conversation => $c3, visitor => { name => 'Paula' }, expires_in => 20 });
$b->wait_for('.chat-offer', 5, qr/Paula/);
$b->click('.chat-offer button.secondary');
my $dec = until_true(sub { sent($b, 'decline')->[0] });
is $dec && $dec->{conversation}, $c3, 'Decline sends decline for the offered chat';
ok until_true(sub { !$b->script('return document.querySelector(".chat-offer")') }), 'and the offer goes away';
$b->click('.chat-wait .chat-accept');
$acc = until_true(sub { sent($b, 'accept')->[-1]{conversation} eq $c3 ? sent($b, 'accept')->[-1] : undef });
push_frame($b, { type => 'ack', id => '~19', cid => $acc->{cid} });
push_frame($b, { type => 'message', id => '1764480001250-0', conversation => $c3, from => { kind => 'visitor', name => 'Paula' },
                 text => 'Oi', attachments => ['66666666-6666-4666-8666-666666666666'] });
like $b->wait_for('.chat-col[data-conversation="' . $c3 . '"]', 5, qr/Oi/) // '', qr/Oi.*Anexo/s, "a visitor's attachment is shown as one";
$b->script('window.confirm = function () { return true; }');
$b->click('.chat-col[data-conversation="' . $c3 . '"] .chat-end');
my $end = until_true(sub { sent($b, 'end')->[0] });
is $end->{conversation}, $c3, 'End sends end';
push_frame($b, { type => 'ended', id => '1764480001300-0', conversation => $c3, by => 'agent' });
like $b->wait_for('.chat-col[data-conversation="' . $c3 . '"]', 5, qr/O atendente encerrou/) // '', qr/Encerrado/, 'the chat is over';
like $b->text('.chat-status'), qr/0\/3 chats/, 'the load is zero';
is $b->script('return document.querySelectorAll("tbody.chat-rows tr").length'), 0, 'and the queue lists no chat';
$b->click('.chat-col[data-conversation="' . $c3 . '"] .chat-close');
ok until_true(sub { !$b->script('return document.querySelector(".chat-col[data-conversation=\"' . $c3 . '\"]")') }),
    'Close takes an ended chat away';

# the ticket link goes to the console's ticket view
$b->click('.chat-col:nth-child(2) .chat-ticket a');
like $b->wait_for('main h1', 10, qr/TKT/) // '', qr/Fatura errada/, 'the ticket number opens the ticket';
ok !$b->script('return document.getElementById("chat").hidden'), 'and the chats stay beside it';

# tablet width: tabs, the panel above the page
$b->get("$console/");
$b->wait_for('.queue-list', 10, qr/TKT-/);
until_true(sub { @{ sent($b, 'hello') } });
push_frame($b, { type => 'welcome', id => '~1', agent => { id => $ana->{id}, name => 'Ana Admin', status => 'available', limit => 3 },
                 queue => [{ conversation => '44444444-4444-4444-8444-444444444444', visitor => { name => 'Paula' }, waiting_seconds => 75 }],
                 chats => [{ conversation => $c1, visitor => $rita, status => 'active' },
                           { conversation => $c2, visitor => $carlos, status => 'active' }] });
push_frame($b, $_) for @hist;
$b->resize(820, 1000);
ok until_true(sub { $b->script('return document.querySelector(".chat-tabs") && !document.querySelector(".chat-tabs").hidden') }),
    'at tablet width the chats are tabs';
is $b->script('return document.querySelectorAll(".chat-col:not([hidden])").length'), 1, 'one shown at a time';
$b->click('.chat-tab:nth-child(2)');
ok until_true(sub { $b->script('return document.querySelector(".chat-col:not([hidden]) .chat-name").textContent') eq 'Carlos Lima' }),
    'a tab shows its chat';
shot($b, "console-chat-tablet");
$b->resize(1280, 900);

is errors($b), '', 'no errors on the page';
$b->quit;

# English and Spanish
for my $l (['en', qr/Away/, qr/Nobody is waiting/], ['es', qr/Ausente/, qr/Nadie está esperando/]) {
    my $e = browser(fake => 1, lang => $l->[0], email => 'ana@acme.example', password => 'senha-de-admin-1');
    $e->select('select.lang', $l->[0]);
    $e->wait_for('.queue-list', 10, qr/TKT-/);
    until_true(sub { @{ sent($e, 'hello') } });
    push_frame($e, { type => 'welcome', id => '~1', agent => { id => $ana->{id}, name => 'Ana Admin', status => 'away', limit => 2 },
                     queue => [], chats => [] });
    like $e->wait_for('.chat-status', 5, qr/\S/) // '', $l->[1], "the switch in $l->[0]";
    like $e->text('#chat'), $l->[2], "the panel in $l->[0]";
    $e->quit;
}

# ---------------------------------------------------------------------------
# End to end, against the module's chat
# ---------------------------------------------------------------------------

SKIP: {
    skip 'the module does not serve the chat yet', 1 unless $chat_conf;
    e2e();
}

$t->done;

# ---------------------------------------------------------------------------
# A chat client of the protocol (a visitor, or a second agent) on
# Mojo::UserAgent's WebSocket; frames are read while the test waits for one
# ---------------------------------------------------------------------------

package ChatClient;
use Mojo::UserAgent;
use Mojo::IOLoop;
use Time::HiRes qw(time);

sub new {
    my ($class, $url, %h) = @_;
    my $self = bless { frames => [], seen => 0, n => 0 }, $class;
    $self->{ua} = Mojo::UserAgent->new(inactivity_timeout => 120);
    $self->{ua}->cookie_jar($h{jar}) if $h{jar};
    delete $h{jar};
    $self->{ua}->websocket($url => \%h => ['helpdesk.chat.v1'] => sub {
        my ($ua, $tx) = @_;
        $self->{tx} = $tx;
        return $self->{error} = $tx->res->code // 'no answer' unless $tx->is_websocket;
        $tx->on(json => sub { push @{ $self->{frames} }, $_[1] });
        $tx->on(finish => sub { $self->{closed} = $_[1] });
    });
    $self->spin(sub { $self->{tx} }, 10);
    return $self;
}

sub ok { $_[0]{tx} && !$_[0]{error} && !$_[0]{closed} }

sub spin {
    my ($self, $cond, $timeout) = @_;
    my $end = time + ($timeout // 10);
    while (time < $end) {
        my $r = $cond->();
        return $r if $r;
        my $id = Mojo::IOLoop->timer(0.05 => sub {});
        Mojo::IOLoop->one_tick;
        Mojo::IOLoop->remove($id);
    }
    return $cond->();
}

sub send {
    my ($self, $o) = @_;
    $o->{cid} //= 'c' . ++$self->{n};
    my $sent = 0;
    $self->{tx}->send({ json => $o } => sub { $sent = 1 });
    $self->spin(sub { $sent }, 5);
    return $o->{cid};
}

# the next frame (after the last one taken) that matches
sub frame {
    my ($self, $match, $timeout) = @_;
    return $self->spin(sub {
        for my $i ($self->{seen} .. $#{ $self->{frames} }) {
            my $f = $self->{frames}[$i];
            next unless $match->($f);
            $self->{seen} = $i + 1;
            return $f;
        }
        return undef;
    }, $timeout);
}

sub all { @{ $_[0]{frames} } }

package main;

sub e2e {
    $t->psql(q{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled, max_chats_per_agent)
               SELECT tenant_id, '{http://www.example.com}', false, 2 FROM helpdesk.tenants WHERE slug = 'acme'
               ON CONFLICT (tenant_id) DO UPDATE SET allowed_origins = EXCLUDED.allowed_origins, bot_enabled = false,
               max_chats_per_agent = 2});
    my $visitor = sub {
        my (%o) = @_;
        my $v = ChatClient->new("ws://127.0.0.1:$port/chat/v1/ws?tenant=acme", Origin => 'http://www.example.com',
                                'User-Agent' => $o{ua}, 'Accept-Language' => $o{lang});
        ok $v->ok, "$o{name} opens a chat" or diag "answer: " . ($v->{error} // '');
        $v->send({ type => 'hello', lang => $o{lang}, page => { url => $o{url}, title => $o{title},
                                                                referrer => 'https://www.google.com/' } });
        my $w = $v->frame(sub { $_[0]{type} eq 'welcome' });
        ok $w, 'and is welcome';
        $v->{token} = $w && $w->{visitor};
        $v->send({ type => 'start', prechat => { name => $o{name}, email => $o{email} }, text => $o{text} });
        my $ack = $v->frame(sub { $_[0]{type} eq 'ack' });
        ok $ack && $ack->{conversation}, 'the first message stored, a conversation started' or diag explain [$v->all];
        # with the bot on, "talk to a person" puts the chat in the queue
        if ($v->frame(sub { ($_[0]{from}{kind} // '') eq 'bot' || $_[0]{type} eq 'queue' }, 3)
                && !grep { $_->{type} eq 'queue' } $v->all) {
            $v->send({ type => 'handover' });
        }
        $v->frame(sub { $_[0]{type} eq 'queue' }, 5) or diag explain [$v->all];
        return ($v, $ack ? $ack->{conversation} : '');
    };

    # the agent's console, on the real chat
    my $b = browser(email => 'ana@acme.example', password => 'senha-de-admin-1');
    like $b->wait_for('.chat-status', 15, qr/\d\/\d chats/) // '', qr/(Ausente|Disponível)\s+0\/\d chats/, "the console's chat connects";
    if ($b->script('return document.querySelector(".chat-switch").getAttribute("aria-checked")') eq 'false') {
        $b->click('.chat-switch');
    }
    like $b->wait_for('.chat-switch', 10, qr/Disponível/) // '', qr/Disponível/, 'the agent is available';

    # a second agent, on a WebSocket of his own
    my $bc = Helpdesk::Portal->new($t, 'acme.portal.test', prefix => '/agent');
    $bc->login('bruno@acme.example', 'senha-de-agent-1');
    my $bruno_ws = ChatClient->new("ws://127.0.0.1:$port/agent/_/chat/v1/ws", Host => "acme.portal.test:$port",
                                   Origin => "http://acme.portal.test:$port", Cookie => 'hd_agent=' . $bc->cookie('hd_agent'));
    ok $bruno_ws->ok, 'a second agent connects' or diag "answer: " . ($bruno_ws->{error} // '');
    $bruno_ws->send({ type => 'hello', last => {} });
    ok $bruno_ws->frame(sub { $_[0]{type} eq 'welcome' }), 'and is welcome';
    my $away = $bruno_ws->send({ type => 'presence', status => 'away' });
    ok $bruno_ws->frame(sub { $_[0]{type} eq 'ack' && $_[0]{cid} eq $away }), 'away, for now';

    # Rita asks; the console shows her waiting, offers her to Ana
    my ($rita, $c1) = $visitor->(name => 'Rita Souza', email => 'rita@example.com', lang => 'pt-BR',
        url => 'https://www.example.com/precos', title => 'Preços', text => 'Minha fatura veio errada',
        ua => 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36');
    like $b->wait_for('#chat .chat-incoming', 15, qr/Rita/) // '', qr/Rita Souza/, 'the console sees her chat'
        or diag explain $b->script('return window.__recv');
    like $b->wait_for('.chat-offer', 15, qr/Aceitar/) // '', qr/Novo chat: Rita Souza/, 'offered to Ana';
    like $b->title, qr/^\(1\) Novo chat — Rita Souza/, 'the title says so';
    shot($b, 'console-chat-e2e-offer');
    $b->click('.chat-offer .chat-accept');
    like $b->wait_for('.chat-col', 15, qr/Minha fatura/) // '', qr/Minha fatura veio errada/, 'accepted: her message';
    ok $rita->frame(sub { $_[0]{type} eq 'joined' }, 10), 'Rita is told Ana joined';
    like $b->wait_for('.chat-visitor', 20, qr/Navegador/) // '', qr/Preços.*Chrome 120 no Windows/s,
        "her page and browser, from the chat's record";

    # typing and messages, both ways; read status both ways
    $b->type('.chat-col textarea[name=text]', 'Olá Rita, vou verificar');
    ok $rita->frame(sub { $_[0]{type} eq 'typing' && $_[0]{on} }, 10), "Rita sees Ana typing";
    press($b, [keyDown => "\x{E007}"], [keyUp => "\x{E007}"]);
    my $m = $rita->frame(sub { $_[0]{type} eq 'message' && ($_[0]{from}{kind} // '') eq 'agent' }, 10);
    is $m && $m->{text}, 'Olá Rita, vou verificar', "Rita gets Ana's message";
    like $b->wait_for('.chat-col .own .chat-state', 10, qr/enviada|entregue/) // '', qr/enviada|entregue/, 'sent';
    $rita->send({ type => 'read', upto => $m->{id} }) if $m;
    like $b->wait_for('.chat-col .own .chat-state', 10, qr/lida/) // '', qr/lida/, 'and read, in the console';
    $rita->send({ type => 'typing', on => \1 });
    like $b->wait_for('.chat-typing', 10, qr/\S/) // '', qr/Rita Souza está digitando/, "Ana sees Rita typing";
    $rita->send({ type => 'message', text => 'Obrigada! É a fatura de novembro.' });
    like $b->wait_for('.chat-col .chat-log', 10, qr/novembro/) // '', qr/fatura de novembro/, "Rita's answer"
        or diag explain [$b->script('return window.__recv'), $rita->all];
    ok $rita->frame(sub { $_[0]{type} eq 'status' && $_[0]{read} }, 10), 'which Ana read (the visitor is told)';

    # files, both ways: Ana attaches one in the console, Rita sends a picture
    {
        require Compress::Zlib;
        my $raw = join '', map { "\0" . ("\x6c\xa6\xe0" x 48) } 0 .. 31;
        my $chunk = sub { my ($t, $d) = @_; pack('N', length $d) . $t . $d . pack('N', Compress::Zlib::crc32($t . $d)) };
        my $png = "\x89PNG\r\n\x1a\n" . $chunk->('IHDR', pack('NNCCCCC', 48, 32, 8, 2, 0, 0, 0))
                  . $chunk->('IDAT', Compress::Zlib::compress($raw)) . $chunk->('IEND', '');
        my $pdf = "$Helpdesk::Test::TOP/build/screenshots/fatura-novembro.pdf";
        open my $fh, '>:raw', $pdf or die $!;
        print $fh "%PDF-1.4\n% a test invoice\n";
        close $fh;
        ok $b->script('return !!document.querySelector(".chat-col .chat-attach input[type=file]")'),
           'the chat panel has an attach button';
        my $e = $b->_call(POST => $b->_s . '/element', { using => 'css selector',
                                                         value => '.chat-col .chat-attach input[type=file]' });
        $b->_call(POST => $b->_s . '/element/' . (values %$e)[0] . '/value', { text => $pdf });
        like $b->wait_for('.chat-col .chat-uploads', 10, qr/KB|B\)/) // '', qr/fatura-novembro\.pdf \(\d+ B\)/,
             'the file is uploaded as soon as it is chosen';
        $b->type('.chat-col textarea[name=text]', 'Segue a fatura corrigida');
        press($b, [keyDown => "\x{E007}"], [keyUp => "\x{E007}"]);
        my $fm = $rita->frame(sub { $_[0]{type} eq 'message' && @{ $_[0]{attachments} // [] } }, 10);
        is $fm && $fm->{attachments}[0]{filename}, 'fatura-novembro.pdf', 'Rita gets the message with the file';
        my $res = $fm ? $ua->get("http://127.0.0.1:$port$fm->{attachments}[0]{url}")->res : undef;
        is $res && $res->code, 200, '... and downloads it by her signed link';
        like $res && $res->headers->header('Content-Disposition') // '', qr/^attachment/, '... as a download';

        my $up = $ua->post("http://127.0.0.1:$port/chat/v1/upload?tenant=acme" => {
            Origin => 'http://www.example.com', 'X-Chat-Stream' => $rita->{token}, 'Content-Type' => 'image/png',
            'X-Filename' => 'print.png' } => $png)->res;
        is $up->code, 201, 'Rita uploads a picture' or diag $up->body;
        $rita->send({ type => 'message', text => 'Olha o print', attachments => [$up->json->{upload_id}] });
        like $b->wait_for('.chat-col .chat-log', 10, qr/print\.png/) // '', qr/Olha o print.*print\.png/s,
             'the console shows her file';
        ok until_true(sub { $b->script(q{var i = document.querySelector('.chat-col .chat-log img.chat-thumb');
                                         return i && i.complete && i.naturalWidth === 48}) }, 10),
           '... an image as a thumbnail, loaded with the agent\'s session';
        shot($b, 'console-chat-e2e-files');
    }

    # a second chat, side by side
    my ($carlos, $c2) = $visitor->(name => 'Carlos Lima', email => 'carlos@example.com', lang => 'es',
        url => 'https://www.example.com/contato', title => 'Contato', text => '¿Tienen soporte en español?',
        ua => 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0');
    like $b->wait_for('.chat-offer', 15, qr/Carlos/) // '', qr/Carlos Lima/, 'the second chat is offered';
    $b->click('.chat-offer .chat-accept');
    ok until_true(sub { $b->script('return document.querySelectorAll(".chat-col:not([hidden])").length') == 2 }, 15),
        'two chats side by side';
    like $b->text('.chat-status'), qr/2\/\d chats/, 'two chats for the agent';
    like $b->wait_for('table.tickets tbody.chat-rows', 10, qr/Carlos/) // '', qr/Chat com Rita Souza.*Chat com Carlos Lima/s,
        'both in the unified queue';
    $b->wait_for('.chat-col:nth-child(2) .chat-visitor', 20, qr/Navegador/);
    shot($b, 'console-chat-e2e-two');

    # transfer Rita to Bruno, with a note
    $bruno_ws->send({ type => 'presence', status => 'available' });
    $b->click('.chat-col:nth-child(1) .chat-transfer-btn');
    ok until_true(sub { $b->script(q{return [...document.querySelectorAll('.chat-col:nth-child(1) .chat-transfer option')]
        .some(o => /Bruno/.test(o.textContent))}) }, 15),
        'Bruno is among the agents to transfer to'
        or diag explain [$b->script('return [HD.chat.state.agents, window.__recv.slice(-8)]')];
    $b->select('.chat-col:nth-child(1) .chat-transfer select[name=to]', "a:$bruno->{id}");
    $b->type('.chat-col:nth-child(1) .chat-transfer textarea[name=note]', 'Fatura de novembro');
    $b->click('.chat-col:nth-child(1) .chat-transfer button[type=submit]');
    my $offer = $bruno_ws->frame(sub { $_[0]{type} eq 'offer' }, 15);
    is $offer && $offer->{conversation}, $c1, 'Bruno is offered the chat';
    $bruno_ws->send({ type => 'accept', conversation => $c1 });
    my $note = $bruno_ws->frame(sub { $_[0]{type} eq 'note' }, 10);
    is $note && $note->{text}, 'Fatura de novembro', "with Ana's note";
    like $b->wait_for('.chat-col:nth-child(1) .chat-badge', 15, qr/Transferido/) // '', qr/Transferido/,
        'the chat is no longer Ana\'s';

    # convert Carlos's chat into a ticket
    $b->click('.chat-col:nth-child(2) .chat-convert');
    my $num = $b->wait_for('.chat-col:nth-child(2) .chat-ticket', 20, qr/TKT-/) // '';
    like $num, qr/Chamado TKT-\d{6}/, 'the ticket number shows';
    my ($number) = $num =~ /(TKT-\d{6})/;
    ok $carlos->frame(sub { $_[0]{type} eq 'converted' }, 10), 'Carlos is told';
    shot($b, 'console-chat-e2e-converted');
    $b->get("$console/");
    my $q = $b->wait_for('table.tickets', 15, qr/\Q$number\E/) // '';
    like $q, qr/\Q$number\E/, 'the ticket is in the queue';
    is $b->script(q{var r = [...document.querySelectorAll('table.tickets tbody:not(.chat-rows) tr')]
        .find(r => r.innerText.indexOf(arguments[0]) >= 0); return r ? r.querySelector('.channel').innerText.trim() + (r.querySelector('.channel svg.ch-chat') ? ' (icon)' : '') : ''},
        $number), 'Chat (icon)', 'on the chat channel, with its icon (💭)';

    # a group made while the console is open is offered for transfers at
    # once; a chat transferred to it goes to its member
    my $fin = $ua->post($t->url('/v1/groups') => $h => json => { name => 'Financeiro',
                        description => 'Faturas e reembolsos' })->res->json;
    is $ua->put($t->url("/v1/groups/$fin->{id}/members/$bruno->{id}") => $h)->res->code, 200,
        'a group, Financeiro, with Bruno in it';
    my ($lia, $c5) = $visitor->(name => 'Lia Castro', email => 'lia@example.com', lang => 'pt-BR',
        url => 'https://www.example.com/', title => 'Início', text => 'Preciso de um reembolso', ua => 'Mozilla/5.0');
    like $b->wait_for('.chat-offer', 15, qr/Lia/) // '', qr/Lia Castro/, 'a chat offered';
    $b->click('.chat-offer .chat-accept');
    my $col5 = qq{.chat-col[data-conversation="$c5"]};
    like $b->wait_for($col5, 15, qr/reembolso/) // '', qr/reembolso/, 'and taken';
    $b->click("$col5 .chat-transfer-btn");
    ok until_true(sub { $b->script(q{return [...document.querySelectorAll(arguments[0] + ' .chat-transfer option')]
        .some(o => o.value === 'g:Financeiro')}, $col5) }, 15),
        'the new group is among the transfer targets, without a reload'
        or diag explain [$b->script('return window.__recv.slice(-8)')];
    $b->select("$col5 .chat-transfer select[name=to]", 'g:Financeiro');
    $b->type("$col5 .chat-transfer textarea[name=note]", 'Reembolso do pedido 42');
    shot($b, 'console-chat-e2e-transfer-group');
    $b->click("$col5 .chat-transfer button[type=submit]");
    my $goffer = $bruno_ws->frame(sub { $_[0]{type} eq 'offer' && $_[0]{conversation} eq $c5 }, 15);
    ok $goffer, 'Bruno, its member, is offered the chat';
    ok $lia->frame(sub { $_[0]{type} eq 'transferred' && ($_[0]{to}{group} // '') eq 'Financeiro' }, 10),
        'Lia is told it went to Financeiro';
    like $b->wait_for("$col5 .chat-badge", 15, qr/Transferido/) // '', qr/Transferido/, 'the chat is no longer Ana\'s';

    # the end of a chat, by the agent
    my ($paula, $c3) = $visitor->(name => 'Paula Reis', email => 'paula@example.com', lang => 'pt-BR',
        url => 'https://www.example.com/', title => 'Início', text => 'Oi!', ua => 'Mozilla/5.0');
    like $b->wait_for('.chat-offer', 15, qr/Paula/) // '', qr/Paula Reis/, 'a third chat is offered';
    $b->click('.chat-offer .chat-accept');
    my $col = qq{.chat-col[data-conversation="$c3"]};
    like $b->wait_for($col, 15, qr/Oi!/) // '', qr/Oi!/, 'and taken';
    $b->script('window.confirm = function () { return true; }');
    $b->click("$col .chat-end");
    ok $paula->frame(sub { $_[0]{type} eq 'ended' }, 10), 'Paula is told the chat ended';
    like $b->wait_for("$col .chat-badge", 10, qr/Encerrado/) // '', qr/Encerrado/, 'the chat is over in the console';
    ok $b->script(qq{return document.querySelector('$col .chat-compose').hidden}), 'with no composer';

    # a helpdesk that allows no transfers: the agent's welcome says so, and
    # the console offers none
    $t->psql(q{UPDATE helpdesk.chat_widgets SET transfer_allowed = false
               WHERE tenant_id = (SELECT tenant_id FROM helpdesk.tenants WHERE slug = 'acme')});
    $b->get("$console/");
    $b->wait_for('.chat-status', 15, qr/chats/);
    my ($quim, $c4) = $visitor->(name => 'Quim Alves', email => 'quim@example.com', lang => 'pt-BR',
        url => 'https://www.example.com/', title => 'Início', text => 'Posso falar com outra pessoa?', ua => 'Mozilla/5.0');
    like $b->wait_for('.chat-offer', 15, qr/Quim/) // '', qr/Quim Alves/, 'a chat offered after the change';
    $b->click('.chat-offer .chat-accept');
    my $col4 = qq{.chat-col[data-conversation="$c4"]};
    like $b->wait_for($col4, 15, qr/outra pessoa/) // '', qr/outra pessoa/, 'and taken';
    ok $b->script(qq{return document.querySelector('$col4 .chat-transfer-btn').hidden}),
        'no transfer button where the helpdesk allows no transfers';
    ok !$b->script(qq{return document.querySelector('$col4 .chat-convert').hidden}), '(converting still offered)';

    # the admin's groups page
    $b->get("$console/admin#groups");
    like $b->wait_for('main form.group', 15, qr/Financeiro/) // '', qr/Financeiro/, 'the groups page lists the groups';
    like $b->text('main'), qr/Financeiro.*Bruno Agente/s, '... with their members';
    $b->type('main form.group:last-of-type input[name=name]', 'Nível 2');
    $b->type('main form.group:last-of-type input[name=description]', 'Casos difíceis');
    $b->click('main form.group:last-of-type button[type=submit]');
    like $b->wait_for('main form.group[aria-label="Nível 2"] h2', 15, qr/Nível 2/) // '', qr/Nível 2/, 'an admin makes a group';
    my $n2 = (grep { $_->{name} eq 'Nível 2' } @{ $ua->get($t->url('/v1/groups') => $h)->res->json->{data} })[0];
    ok $n2, '... which the API has';
    my $card = qq{main form.group[aria-label="Nível 2"]};
    $b->select("$card select[name=user]", $ana->{id});
    $b->click("$card .row:last-child button");
    like $b->wait_for("$card ul.members", 15, qr/Ana Admin/) // '', qr/Ana Admin/, 'and adds a member';
    is_deeply [map { $_->{id} } @{ $ua->get($t->url("/v1/groups/$n2->{id}") => $h)->res->json->{members} }], [$ana->{id}],
        '... who is in the group';
    shot($b, 'console-admin-groups');
    $b->script('window.confirm = function () { return true; }');
    $b->click("$card .row button.secondary");
    ok until_true(sub { !$b->script(qq{return document.querySelector('$card')}) }, 15), 'and deletes one';
    is errors($b), '', 'no errors on the page';
    $b->quit;
}
