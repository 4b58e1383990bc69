#!/usr/bin/env perl
# The website chat widget in a real browser (headless Chromium), on a plain
# page of a customer's website with the install snippet on it, against the
# module's own chat: nginx serves the page, the widget
# (helpdesk_chat_widget) and the chat (helpdesk_chat, on PostgreSQL and
# Redis); the agents are WebSocket clients of the agents' side, as the
# console is.  The page's own styles and globals untouched, the launcher,
# the pre-chat form, the queue position while the agent is at their limit,
# the agent joining, typing, delivered and read status both ways, a
# transfer, an nginx reload (1001) and an outage resumed without showing
# anything twice, a picture sent (uploaded, previewed from its download
# link), the conversion into a ticket (in the REST API with the
# transcript), the offline form outside the tenant's chat hours creating a
# ticket, the SSE fallback with WebSocket disabled in the page, the
# keyboard, a phone's width.  Nothing is a stand-in.  Screenshots go to
# build/screenshots/.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test;
use Helpdesk::Browser;
use Helpdesk::Chat;
use File::Path qw(make_path);
use Time::HiRes qw(time);
use MIME::Base64 ();
use Encode ();

plan skip_all => 'Chromium and chromedriver are not installed (make deps)' unless Helpdesk::Browser::available();

my $shots = "$Helpdesk::Test::TOP/build/screenshots";
make_path($shots);

my $t = Helpdesk::Test->new->start_stack;
my $dir = $t->dir;

# Waiting runs the agents' WebSocket clients too (they answer the server's
# pings and collect what it sends): every wait goes through Mojo's loop.
sub until_true { my ($cond, $secs) = @_; return Helpdesk::Chat::pump($cond, $secs // 10) }
sub pause { Helpdesk::Chat::pump(sub { 0 }, $_[0]) }
# a query with text in it, and its answer, as characters
sub sql { Encode::decode_utf8($t->psql(Encode::encode_utf8($_[0]))) }

# ---- a customer's website ----

my $site = "$dir/site";
make_path($site);
my $page_css = <<'CSS';
  * { font-family: Georgia, serif; color: #333; letter-spacing: .02em; }
  body { margin: 0; background: #fbfaf7; }
  header { background: #234; padding: 24px 40px; }
  header h1 { color: #fff; margin: 0; font-size: 28px; }
  main { padding: 24px 40px; max-width: 900px; }
  div { border: 1px dashed #c9b; padding: 2px; }
  button { background: hotpink !important; border-radius: 0; font-size: 20px; padding: 10px 18px; }
  section, form, input, textarea, h2, p { box-shadow: 0 0 0 3px lime; }
  [hidden] { display: block !important; }
  .price { font-size: 32px; font-weight: bold; color: #0a6; }
CSS
my $page = sub {
    my ($snippet) = @_;
    return <<HTML;
<!doctype html>
<html lang="pt-BR">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Loja Acme — Hospedagem</title>
<style>
$page_css
</style>
<script>var shopCart = []; function addToCart(x) { shopCart.push(x); }</script>
</head>
<body>
<header><h1>Loja Acme</h1></header>
<main>
  <h2>Plano Profissional</h2>
  <p>Hospedagem com SSL, e-mail e backup diário.</p>
  <div class="price">R\$ 49,90/mês</div>
  <p><button class="buy" onclick="addToCart('pro')">Comprar</button> <a href="#faq">Dúvidas</a></p>
  <form><label>Cupom <input name="coupon"></label></form>
  <h2 id="faq">Dúvidas frequentes</h2>
  <p>Posso mudar de plano depois? Sim, a qualquer momento, pagando a diferença.</p>
  <p>O domínio está incluído? Sim, um domínio .com.br por um ano.</p>
  <p>Há limite de tráfego? Não: o tráfego é ilimitado em todos os planos.</p>
</main>
$snippet
</body>
</html>
HTML
};
my $port = $t->{port} = Helpdesk::Test::free_port();
my $provider = "http://chat.provider.test:$port";
for my $tenant (qw(acme closed quiet nobody)) {
    open my $fh, '>:utf8', "$site/$tenant.html" or die $!;
    print $fh $page->(qq{<script async src="$provider/chat/widget/chat.js" data-tenant="$tenant"></script>});
    close $fh;
}
for my $lang (qw(es fr)) {
    open my $fh, '>:utf8', "$site/acme-$lang.html" or die $!;
    print $fh $page->(qq{<script async src="$provider/chat/widget/chat.js" data-tenant="acme" data-lang="$lang"></script>});
    close $fh;
}
open my $fh, '>:utf8', "$site/plain.html" or die $!;
print $fh $page->('');
close $fh;
chmod 0755, $site;
chmod 0644, glob("$site/*");

# besides the chat's own locations: the widget's script and the shop's pages
my $conf = <<CONF;
        location /chat/widget/ {
            helpdesk_chat_widget;
        }

        location /site/ {
            root $dir;
            default_type text/html;
            charset utf-8;
        }
CONF
Helpdesk::Chat::start_nginx($t, server => $conf);
my $ua = $t->ua;
my $shop_origin = "http://www.shop.test:$port";
my $shop = "$shop_origin/site";

# ---- the tenants: their widgets through the REST API ----

my %tenant;
for my $slug (qw(acme closed quiet)) {
    $tenant{$slug} = $t->create_tenant($slug);
}
sub api {
    my ($slug, $method, $path, $body) = @_;
    my $tx = $ua->build_tx($method => $t->url($path) => $t->auth($tenant{$slug}{key})
                           => ($body ? (json => $body) : ()));
    $tx = $ua->start($tx);
    return $tx->res;
}
my $res = api(acme => PUT => '/v1/chat/settings', {
    title => 'Acme Suporte', colour => '#ffd33d', position => 'bottom-right',
    greeting => 'Olá! Em que podemos ajudar?', icon => 'headset',
    allowed_origins => [$shop_origin],
    prechat_fields => [{ name => 'name', required => \1 }, { name => 'email', required => \0 },
                       { name => 'order', label => 'Número do pedido', required => \0 }],
    max_chats_per_agent => 1, accept_timeout_seconds => 120, reply_timeout_seconds => 3600,
    transfer_allowed => \1, bot_enabled => \0, waiting_message => 'Já vamos atender.' });
is $res->code, 200, "acme's widget set up through the API" or diag $res->body;
$res = api(closed => PUT => '/v1/chat/settings', {
    title => 'Loja Fechada', colour => '#8a1538', position => 'bottom-left', icon => 'bubble',
    allowed_origins => [$shop_origin], bot_enabled => \0, offline_form => \1,
    prechat_fields => [{ name => 'name', required => \1 }, { name => 'email', required => \1 },
                       { name => 'topic', label => 'Assunto', required => \1 }] });
is $res->code, 200, "closed's widget" or diag $res->body;
$res = api(quiet => PUT => '/v1/chat/settings', {
    title => 'Loja Quieta', colour => '#8a1538', allowed_origins => [$shop_origin],
    bot_enabled => \0, offline_form => \0 });
is $res->code, 200, "quiet's widget, without an offline form" or diag $res->body;
for my $slug (qw(closed quiet)) {
    # the tenant's chat hours: closed all week
    $res = api($slug => PUT => '/v1/business-hours/chat', {
        timezone => 'America/Sao_Paulo', days => { map { $_ => [] } qw(mon tue wed thu fri sat sun) } });
    is $res->code, 200, "$slug: the chat's business hours, closed all week" or diag $res->body;
}

# an agent of acme's, logged in to the console, on the chat
sub agent {
    my ($email, $name) = @_;
    my $a = Helpdesk::Chat::agent($t, $tenant{acme}, $email, $name);
    return ($a->{chat}->(), $a->{id});
}
# a visitor of acme's on a WebSocket of their own
sub visitor { Helpdesk::Chat::visitor($t, acme => $shop_origin) }
# an agent's client again, after nginx closed it (1001)
sub reconnect {
    my ($a, %last) = @_;
    until_true(sub { $a->closed }, 15);
    $a->connect;
    return $a->hello(last => \%last);
}

my $b = Helpdesk::Browser->new(resolve => { 'www.shop.test' => 1, 'chat.provider.test' => 1 },
                               lang => 'pt-BR', width => 1280, height => 800);
# what the page's WebSockets receive, kept for the test (the widget finds
# window.WebSocket when it connects)
my $probe = <<'JS';
window.__recv = [];
(function () {
  var WS = window.WebSocket;
  if (!WS) return;
  window.WebSocket = function (url, proto) {
    var ws = new WS(url, proto);
    ws.addEventListener('message', function (e) { window.__recv.push(String(e.data)); });
    return ws;
  };
  window.WebSocket.prototype = WS.prototype;
})();
JS
$b->_call(POST => $b->_s . '/goog/cdp/execute', { cmd => 'Page.addScriptToEvaluateOnNewDocument',
          params => { source => $probe } });
sub received {
    my ($type) = @_;
    return [grep { $_->{type} eq $type } map { Mojo::JSON::from_json($_) } @{ $b->script('return window.__recv || []') // [] }];
}

my $KEYS = { Tab => "\x{E004}", Enter => "\x{E007}", Escape => "\x{E00C}", Shift => "\x{E008}" };
sub press {
    my (@keys) = @_;
    my @a;
    for (@keys) {
        my $k = $_;
        my @mods = $k =~ s/^Shift\+// ? ($KEYS->{Shift}) : ();
        my $v = $KEYS->{$k} // $k;
        push @a, { type => 'keyDown', value => $_ } for @mods, $v;
        push @a, { type => 'keyUp', value => $_ } for reverse @mods, $v;
    }
    $b->_call(POST => $b->_s . '/actions', { actions => [{ type => 'key', id => 'kb', actions => \@a }] });
    $b->_call(DELETE => $b->_s . '/actions');
}

# the widget's shadow root, and scripts run inside it
sub root {
    my $host = eval { $b->find('[data-helpdesk-chat]') } or return undef;
    return $b->_call(GET => $b->_s . "/element/$host/shadow");
}
# (undef while the widget is not there yet, as a poll wants)
sub in_widget {
    my ($js, @args) = @_;
    my $r = eval { root() } or return undef;
    my $v = eval { $b->script("var root = arguments[0]; $js", $r, @args) };
    diag "in_widget: $@" if $@ && $ENV{HELPDESK_BROWSER_DEBUG};
    return $v;
}
sub wtext { in_widget('var e = root.querySelector(arguments[1]); return e ? e.innerText : null;', $_[0]) }
sub wait_widget {
    my ($css, $pattern, $timeout) = @_;
    my $r = until_true(sub {
        my $x = eval { wtext($css) };
        defined $x && (!defined $pattern || $x =~ $pattern) ? [$x] : undef;
    }, $timeout // 10);
    return $r ? $r->[0] : undef;
}
sub wclick {
    my ($css) = @_;
    my $r = root();
    my $e = $b->_call(POST => $b->_s . '/shadow/' . (values %$r)[0] . '/element', { using => 'css selector', value => $css });
    $b->_call(POST => $b->_s . '/element/' . (values %$e)[0] . '/click', {});
}
# (chromedriver will not send keys to an element in a closed shadow root:
# it is focused from a script, and the keys typed as a person would)
sub wtype {
    my ($css, $text) = @_;
    in_widget('var e = root.querySelector(arguments[1]); e.focus(); e.value = "";', $css);
    keys_typed($text);
}
sub keys_typed {
    my ($text) = @_;
    $b->_call(POST => $b->_s . '/actions', { actions => [{ type => 'key', id => 'kb', actions =>
        [map { ({ type => 'keyDown', value => $_ }, { type => 'keyUp', value => $_ }) } split //, $text] }] });
}
sub focused {
    in_widget('var a = root.activeElement; if (!a) return null;'
              . 'return a.id || a.getAttribute("aria-label") || a.name || a.className || a.tagName;');
}
sub messages { in_widget('return Array.prototype.map.call(root.querySelectorAll(".lg .m .t"), function (e) { return e.innerText; });') }

my $styles_js = <<'JS';
var out = {};
['body', 'header h1', 'main h2', 'main p', '.price', 'button.buy', 'a', 'input', 'form'].forEach(function (s) {
  var e = document.querySelector(s), c = getComputedStyle(e), r = e.getBoundingClientRect();
  out[s] = [c.color, c.backgroundColor, c.fontFamily, c.fontSize, c.margin, c.padding, c.border,
            c.boxShadow, c.display, c.letterSpacing, r.x, r.y, r.width, r.height].join('|');
});
out.scroll = [document.documentElement.scrollWidth, document.documentElement.scrollHeight].join('x');
out.html = getComputedStyle(document.documentElement).overflow + getComputedStyle(document.body).overflow;
return out;
JS
my $globals_js = 'return Object.getOwnPropertyNames(window).sort();';

# what the window shows (Helpdesk::Browser's screenshot grows the window to the page)
sub shot {
    my ($name) = @_;
    pause(0.4);     # (the panel slides in)
    my $png = MIME::Base64::decode_base64($b->_call(GET => $b->_s . '/screenshot'));
    open my $fh, '>:raw', "$shots/$name" or die $!;
    print $fh $png;
    close $fh;
}

# ---- the page without, then with the snippet ----

# Ana is on the chat, busy with another visitor up to her limit (one chat)
my ($ana, $ana_id) = agent('ana@acme.example', 'Ana Atendente');
is $ana->hello->{type}, 'welcome', 'the agent Ana is on the chat';
my $marta = visitor();
$marta->hello;
my $mconv = $marta->say(start => prechat => { name => 'Marta' }, text => 'Oi')->{conversation};
ok $ana->take('offer', conversation => $mconv, timeout => 10), 'Ana is offered a first visitor';
is $ana->say(accept => conversation => $mconv)->{type}, 'ack', '... and takes it: she is at her limit';

$b->get("$shop/plain.html");
$b->wait_for('main h2', 10);
my $before = $b->script($styles_js);
my $globals_before = $b->script($globals_js);
my $builtins_before = $b->script('return [Array.prototype, Object.prototype, String.prototype, Function.prototype, Element.prototype, Node.prototype, EventTarget.prototype, JSON, Math].map(function (p) { return Object.getOwnPropertyNames(p).sort().join(","); });');

$b->get("$shop/acme.html");
# (seen from the page: what is at the launcher's place is the host element)
ok until_true(sub { $b->script('var e = document.elementFromPoint(innerWidth - 48, innerHeight - 48);'
                               . 'return !!e && e.hasAttribute("data-helpdesk-chat");') }, 10),
    'the widget is on the page, its launcher in the corner';
is_deeply $b->script($globals_js), $globals_before, 'no new globals on window';
is_deeply $b->script($styles_js), $before, "the page's own elements look and sit exactly as before";
ok defined wait_widget('button.l'), 'the launcher';
is_deeply $b->script('return [Array.prototype, Object.prototype, String.prototype, Function.prototype, Element.prototype, Node.prototype, EventTarget.prototype, JSON, Math].map(function (p) { return Object.getOwnPropertyNames(p).sort().join(","); });'),
    $builtins_before, 'no built-in changed';
is $b->script('return document.querySelectorAll("[data-helpdesk-chat]").length'), 1, 'one host element';
{   # the snippet twice on a page: one widget
    $b->script(qq{var s = document.createElement("script"); s.src = "$provider/chat/widget/chat.js";
                  s.setAttribute("data-tenant", "acme"); document.body.appendChild(s);});
    pause(1);
    is $b->script('return document.querySelectorAll("[data-helpdesk-chat]").length'), 1, 'the snippet twice: still one';
}
is $b->script('return document.querySelector("[data-helpdesk-chat]").shadowRoot'), undef, 'its shadow root is closed';
is $b->script('return getComputedStyle(document.querySelector("[data-helpdesk-chat]")).borderTopStyle'), 'none',
    "the page's div rule does not reach the host (all: initial)";
is $b->script('return document.querySelector("[data-helpdesk-chat]").innerHTML'), '', 'nothing in the light DOM';
$b->script('addToCart("x")');
is $b->script('return shopCart.length'), 1, "the page's own script still works";

my ($welcome) = @{ received('welcome') };
is_deeply [map { $_->{name} } @{ $welcome->{settings}{prechat} // [] }], [qw(name email order)],
    "the welcome names the tenant's pre-chat fields";
ok $welcome->{settings}{offline_form}, '... and whether it has an offline form';
ok $welcome->{settings}{open}, '... open: an agent is available';

# the launcher, in the tenant's colour, the text colour chosen for contrast
my $l = in_widget(<<'JS');
var l = root.querySelector('button.l'), c = getComputedStyle(l), r = l.getBoundingClientRect();
return { bg: c.backgroundColor, fg: c.color, right: innerWidth - r.right, bottom: innerHeight - r.bottom,
         w: r.width, label: l.getAttribute('aria-label'), expanded: l.getAttribute('aria-expanded'),
         font: getComputedStyle(root.querySelector('.w')).fontFamily };
JS
is $l->{bg}, 'rgb(255, 211, 61)', "the launcher in the tenant's colour (not the page's hotpink !important)";
is $l->{fg}, 'rgb(17, 17, 17)', 'dark text on a light colour (contrast >= 4.5:1)';
ok abs($l->{right} - 20) < 2 && abs($l->{bottom} - 20) < 2, 'bottom-right, as set';
is $l->{label}, 'Abrir o chat', 'labelled, in Portuguese (navigator.language)';
is $l->{expanded}, 'false', 'closed';
unlike $l->{font}, qr/Georgia/, "the page's fonts do not reach in";
shot("chat-launcher.png");

# open it: the greeting and the pre-chat form, focus inside
wclick('button.l');
like wait_widget('.p', qr/Em que podemos ajudar/), qr/Acme Suporte/, 'the panel opens with the title';
like wtext('.g'), qr/Olá! Em que podemos ajudar\?/, 'the greeting';
is in_widget('return root.querySelector("button.l").getAttribute("aria-expanded")'), 'true', 'aria-expanded';
is focused(), 'hc-f-name', 'focus moves into the panel, on the first field';
my $unlabelled = in_widget(<<'JS');
return Array.prototype.filter.call(root.querySelectorAll('input:not([type=file]), textarea, button'), function (e) {
  if (e.offsetParent === null) return false;
  return !(e.getAttribute('aria-label') || (e.id && root.querySelector('label[for="' + e.id + '"]')) || e.innerText.trim());
}).map(function (e) { return e.outerHTML; });
JS
is_deeply $unlabelled, [], 'every control has a label';
like wtext('form.f'), qr/Nome\s+E-mail \(opcional\)\s+Número do pedido \(opcional\)\s+Mensagem/, "the tenant's pre-chat fields";
is in_widget('return getComputedStyle(root.querySelector(".hd")).color'), 'rgb(17, 17, 17)', 'the header text reads on the colour';
shot("chat-prechat.png");

# keyboard: Tab through the form, Esc closes and gives focus back
press('Tab');
is focused(), 'hc-f-email', 'Tab: the next field';
press('Shift+Tab');
is focused(), 'hc-f-name', 'Shift+Tab: back';
press('Escape');
ok in_widget('return root.querySelector(".p").hidden'), 'Esc closes the panel';
is focused(), 'Abrir o chat', 'focus back on the launcher';
is in_widget('return getComputedStyle(root.activeElement).boxShadow'), 'rgb(255, 255, 255) 0px 0px 0px 3px, rgb(31, 35, 40) 0px 0px 0px 6px',
    'a visible focus ring on the launcher';
press('Enter');
ok !in_widget('return root.querySelector(".p").hidden'), 'Enter on the launcher opens it again';
is focused(), 'hc-f-name', 'focus in the form';

# send it incomplete, then complete
wclick('form.f .pb');
is in_widget('return root.querySelector("#hc-f-name").getAttribute("aria-invalid")'), 'true', 'a missing name is marked';
like wtext('#hc-f-name-e'), qr/Preencha este campo/, 'and explained';
is focused(), 'hc-f-name', 'focus on it';
wtype('#hc-f-name', 'Rita');
wtype('#hc-f-email', 'rita@example.com');
wtype('#hc-f-order', '1234');
wtype('#hc-f-message', 'Minha fatura veio errada');
wclick('form.f .pb');
like wait_widget('.lg', qr/Minha fatura veio errada/) // '', qr/Minha fatura/, 'the first message is shown';
like wait_widget('.st', qr/fila/) // '', qr/Você é o 1º da fila · espera de cerca de 1 min — Já vamos atender\./,
    'a second visitor while the agent is at her limit: the queue position, an estimate, the waiting message';
like wait_widget('.lg .m.me .s', qr/Enviada/) // '', qr/Enviada/, 'the first message stored: sent';
shot("chat-queue.png");
my $conv = $t->psql(q{SELECT conversation_id FROM helpdesk.chat_conversations c
                      JOIN helpdesk.chat_visitors v USING (tenant_id, visitor_id)
                      WHERE c.prechat->>'name' = 'Rita'}) || undef;
my ($rita_first) = grep { ($_->{text} // '') eq 'Minha fatura veio errada' } @{ received('message') };
$conv //= $rita_first->{conversation};
ok $conv, 'the conversation is in the record';
is_deeply [$t->psql(qq{SELECT prechat->>'email', prechat->'fields'->>'order' FROM helpdesk.chat_conversations WHERE conversation_id = '$conv'}) =~ /^(.*)\|(.*)$/], ['rita@example.com', '1234'],
    'start carries the pre-chat answers' if until_true(sub {
        $t->psql(qq{SELECT count(*) FROM helpdesk.chat_conversations WHERE conversation_id = '$conv'}) }, 5);
like sql(qq{SELECT page_title || ' ' || language FROM helpdesk.chat_conversations WHERE conversation_id = '$conv'}),
    qr/^Loja Acme — Hospedagem pt-BR$/, 'hello: the page title and the language';

# Ana ends her first chat: Rita is offered to her, and she takes it
is $ana->say(end => conversation => $mconv)->{type}, 'ack', 'Ana ends her first chat';
ok $ana->take('offer', conversation => $conv, timeout => 10), '... and is offered the waiting one';
is $ana->say(accept => conversation => $conv)->{type}, 'ack', '... which she takes';
my $m = $ana->take('message', conversation => $conv, text => 'Minha fatura veio errada');
ok $m, 'the agent has the conversation so far';

# the agent joins, types, answers; the visitor's message is read
like wait_widget('.lg', qr/entrou/) // '', qr/Ana Atendente entrou na conversa/, 'the agent joins';
is wtext('.hd p'), 'Ana Atendente', "the agent's name in the header";
is wtext('.st'), '', 'no queue position any more';
$ana->send(typing => conversation => $conv, on => \1);
like wait_widget('.ty', qr/digitando/, 5) // '', qr/Ana Atendente está digitando/, 'typing indicator';
my $html = 'Olá! Vou verificar o pedido <b>1234</b> <img src=x onerror="document.title=1">.';
my $a1 = $ana->say(message => conversation => $conv, text => $html);
like wait_widget('.lg', qr/Vou verificar/) // '', qr/Vou verificar/, "the agent's answer";
is wait_widget('.ty', qr/^$/), '', 'the typing indicator goes';
like in_widget('return root.querySelectorAll(".lg .m")[1].innerText'), qr/<b>1234<\/b> <img src=x onerror="document\.title=1">/,
    'what the agent wrote is shown as text';
is in_widget('return root.querySelectorAll(".lg img, .lg b").length'), 0, 'never as HTML';
is $b->title, 'Loja Acme — Hospedagem', 'nothing ran';
is in_widget('return root.querySelector(".lg").getAttribute("role") + "/" + root.querySelector(".lg").getAttribute("aria-live")'),
    'log/polite', 'messages in a polite live log';
my $st = $ana->take('status', from => 'visitor', read => $a1->{ref}, timeout => 5);
ok $st, "the visitor's widget says it read the agent's answer";
ok $ana->take('status', from => 'visitor', delivered => $a1->{ref}, timeout => 1) || ($st && ($st->{delivered} // '') eq $a1->{ref}),
    '... and that it was delivered';
$ana->send(delivered => conversation => $conv, upto => $m->{id});
like wait_widget('.lg .m.me .s', qr/Entregue/, 5) // '', qr/Entregue/, "the agent's console received it: delivered";
$ana->send(read => conversation => $conv, upto => $m->{id});
like wait_widget('.lg .m.me .s', qr/Lida/, 5) // '', qr/Lida/, 'the agent saw it: read';

# the visitor types (throttled) and sends with Enter
$ana->drain(0.1);
wtype('#hc-text', 'Obrigada');
press('Shift+Enter');
keys_typed('Aguardo');
press('Enter');
like wait_widget('.lg', qr/Aguardo/) // '', qr/Obrigada\nAguardo/, 'Enter sends; Shift+Enter was a new line';
is in_widget('return root.querySelector("#hc-text").value'), '', 'the box is emptied';
my $got = $ana->take('message', conversation => $conv, text => "Obrigada\nAguardo");
ok $got, 'the agent receives it';
my @typing = grep { $_->{type} eq 'typing' && ($_->{from} // '') eq 'visitor' } @{ $ana->{seen} };
ok @typing >= 1 && @typing <= 4, 'the agent sees the visitor typing, throttled (' . scalar(@typing) . ' frames for 15 keys)';
like wait_widget('.lg .m.me:last-child .s', qr/Enviada/) // '', qr/Enviada/, 'sent';
$ana->send(read => conversation => $conv, upto => $got->{id});
like wait_widget('.lg .m.me:last-child .s', qr/Lida/) // '', qr/Lida/, 'then read';

# an attachment: uploaded, previewed from its download link, sent with the message
my $png = "$dir/foto.png";
open my $pf, '>:raw', $png or die $!;
{   # a 96x64 picture: a blue sky over a green field
    require Compress::Zlib;
    my $raw = join '', map { "\0" . ($_ < 40 ? "\x6c\xa6\xe0" : "\x3f\x9b\x4b") x 96 } 0 .. 63;
    my $chunk = sub { my ($t, $d) = @_; pack('N', length $d) . $t . $d . pack('N', Compress::Zlib::crc32($t . $d)) };
    print $pf "\x89PNG\r\n\x1a\n", $chunk->('IHDR', pack('NNCCCCC', 96, 64, 8, 2, 0, 0, 0)),
              $chunk->('IDAT', Compress::Zlib::compress($raw)), $chunk->('IEND', '');
}
close $pf;
chmod 0644, $png;
my $log_at = scalar @{ $t->access_log };
{
    my $r = root();
    my $e = $b->_call(POST => $b->_s . '/shadow/' . (values %$r)[0] . '/element', { using => 'css selector', value => 'input[type=file]' });
    $b->_call(POST => $b->_s . '/element/' . (values %$e)[0] . '/value', { text => $png });
}
ok until_true(sub { in_widget('var i = root.querySelector(".ch img"); return !!i && i.complete && i.naturalWidth === 96;') }, 10),
    'the image is uploaded and previewed from its download link';
my @req = map { "$_->[2] $_->[3]" } @{ $t->access_log }[$log_at .. $#{ $t->access_log }];
ok((grep { m{^201 POST /chat/v1/upload\?tenant=acme } } @req), '... uploaded to the chat') or diag explain \@req;
ok((grep { m{^200 GET /chat/v1/file/} } @req), '... and fetched back from it');
ok until_true(sub { (wtext('.ch') // '') !~ /…/ }, 5), 'upload done';
wtype('#hc-text', 'segue a foto');
press('Enter');
ok until_true(sub { in_widget('var i = root.querySelector(".lg .m.me img"); return !!i && i.complete && i.naturalWidth === 96;') }, 10),
    'the image shown in the message';
my $withfile = $ana->take('message', conversation => $conv, text => 'segue a foto', timeout => 5);
is_deeply [map { [$_->{filename}, $_->{content_type}] } @{ $withfile->{attachments} // [] }], [['foto.png', 'image/png']],
    'the agent receives the message with the file';
shot("chat-conversation.png");

# closed panel: unread count on the launcher
press('Escape');
my $closed = $ana->say(message => conversation => $conv, text => 'Estou verificando com o financeiro.')->{ref};
like wait_widget('.l .n', qr/^1$/, 8) // '', qr/^1$/, 'an answer while closed: 1 unread';
like in_widget('return root.querySelector(".l").getAttribute("aria-label")'), qr/\(1 mensagem não lida\)/, 'said in the label';
my $dl = $ana->take('status', from => 'visitor', delivered => $closed, timeout => 5);
ok $dl, 'the widget tells the agent the answer was delivered';
isnt $dl && $dl->{read}, $closed, '... and not read, the panel being closed';
shot("chat-unread.png");
wclick('button.l');
ok until_true(sub { in_widget('return root.querySelector(".l .n").hidden') }, 5), 'opened: the count goes';
ok $ana->take('status', from => 'visitor', read => $closed, timeout => 5), '... and the agent is told it is read';

# ---- nginx reloaded (1001): the widget reconnects and resumes; nothing twice ----
my $count = scalar @{ messages() };
my $last = $ana->{seen}[-1]{id};
($last) = reverse grep { /^\d+-\d+$/ } map { $_->{id} // '' } @{ $ana->{seen} };
my $hellos = scalar @{ received('welcome') };
kill 'HUP', $t->nginx_pid;
reconnect($ana, $conv => $last);
ok $ana->say(message => conversation => $conv, text => 'Voltei depois do reinício.')->{type} eq 'ack',
   'the agent, reconnected, answers meanwhile';
like wait_widget('.lg', qr/Voltei depois do reinício/, 15) // '', qr/Voltei/, 'reconnected: what was said meanwhile arrives';
ok until_true(sub { @{ received('welcome') } > $hellos }, 5), 'welcomed again after the 1001';
pause(1);
my @m = @{ messages() };
is scalar(@m), $count + 1, 'each message once';
my %dup;
is scalar(grep { $dup{$_}++ } @m), 0, 'no duplicates';
is wtext('.st'), '', 'no status line';

# ---- nginx stopped for a while: what is typed meanwhile waits and goes once ----
$t->stop_nginx;
like wait_widget('.st', qr/Reconectando/, 15) // '', qr/Reconectando/, 'reconnecting, said';
wtype('#hc-text', 'escrito sem conexão');
press('Enter');
like in_widget('return root.querySelector(".lg .m.me:last-child .s").innerText'), qr/Enviando/, 'shown at once, as sending';
shot("chat-reconnecting.png");
Helpdesk::Chat::start_nginx($t, server => $conf);
($last) = reverse grep { /^\d+-\d+$/ } map { $_->{id} // '' } @{ $ana->{seen} };
reconnect($ana, $conv => $last);
like wait_widget('.lg .m.me:last-child .s', qr/Enviada|Entregue|Lida/, 40) // '', qr/Enviada|Entregue|Lida/,
    'sent once the server is back';
ok $ana->take('message', conversation => $conv, text => 'escrito sem conexão', timeout => 5), 'the agent receives it';
ok !$ana->take('message', conversation => $conv, text => 'escrito sem conexão', timeout => 1), '... once';
is sql(qq{SELECT count(*) FROM helpdesk.chat_messages WHERE conversation_id = '$conv'
               AND body = 'escrito sem conexão'}), 1, '... and it is stored once'
    if until_true(sub { sql(qq{SELECT count(*) FROM helpdesk.chat_messages WHERE conversation_id = '$conv'
                                     AND body = 'escrito sem conexão'}) }, 5);
ok until_true(sub { (wtext('.st') // 'x') eq '' }, 10), 'the status line clears';
@m = @{ messages() };
%dup = ();
is scalar(grep { $dup{$_}++ } @m), 0, 'still nothing twice';

# ---- back on the page later: the conversation is shown again ----
$b->get("$shop/acme.html");
ok until_true(sub { (in_widget('return root.querySelectorAll(".lg .m").length') // 0) == scalar(@m) }, 15),
    'a new page view (a returning visitor) shows the conversation again, each message once'
    or diag explain [messages(), \@m];
ok !in_widget('return root.querySelector(".p").hidden'), 'the panel stays open across pages';
is_deeply messages(), \@m, 'in order';
is wtext('.hd p'), 'Ana Atendente', "the agent's name again";
like wait_widget('.lg .m.me:last-child .s', qr/Lida|Entregue|Enviada/) // '', qr/Lida|Entregue|Enviada/,
    "the status of the visitor's messages is shown again";

# email me the transcript
wclick('.tl button');
is focused(), 'hc-f-email', 'transcript: asks for the address';
wtype('#hc-f-email', 'rita@example.com');
press('Enter');
like wait_widget('.lg', qr/rita\@example.com/) // '', qr/Enviaremos a conversa para rita\@example\.com/, 'confirmed';
ok until_true(sub { $t->psql(q{SELECT count(*) FROM helpdesk.outbox WHERE kind = 'email'
                               AND payload->>'to' = 'rita@example.com'}) > 0 }, 5),
    'an email with the transcript is queued for rita@example.com';

# ---- a transfer to another agent ----
my ($bruno, $bruno_id) = agent('bruno@acme.example', 'Bruno Agente');
$bruno->hello;
is $ana->say(transfer => conversation => $conv, to => { agent => $bruno_id }, note => 'fatura 1234, ver nota')->{type},
   'ack', 'Ana transfers the chat to Bruno';
like wait_widget('.lg', qr/transferida/, 10) // '', qr/Conversa transferida para Bruno Agente\./, 'the visitor is told to whom';
ok $bruno->take('offer', conversation => $conv, timeout => 10), 'Bruno is offered it';
is $bruno->say(accept => conversation => $conv)->{type}, 'ack', '... and takes it';
ok $bruno->take('note', conversation => $conv, timeout => 5), '... with the note';
like wait_widget('.lg', qr/Bruno Agente entrou/, 10) // '', qr/Bruno Agente entrou na conversa/, 'the visitor sees him join';
is wtext('.hd p'), 'Bruno Agente', "his name in the header";
ok !grep({ ($_->{type} // '') eq 'note' } @{ received('note') }), 'the visitor never gets the note';
$bruno->say(message => conversation => $conv, text => 'Oi Rita, sou o Bruno.');
like wait_widget('.lg', qr/sou o Bruno/) // '', qr/sou o Bruno/, "Bruno's message";
shot("chat-transferred.png");

# ---- conversion into a ticket ----
my $cv = $bruno->say(convert => conversation => $conv);
is $cv->{type}, 'ack', 'Bruno converts the chat into a ticket';
my $converted = $bruno->take('converted', conversation => $conv, timeout => 5);
my $number = $converted->{ticket}{number} // '';
like $number, qr/^TKT-\d{6}$/, '... its number';
like wait_widget('.lg', qr/TKT-/) // '', qr/Esta conversa virou o chamado \Q$number\E\./, 'the visitor sees the ticket number';
ok until_true(sub { in_widget('return root.querySelector("form.c").hidden') }, 5), 'the composer goes';
like wtext('.b'), qr/Nova conversa/, 'a new chat can start';
shot("chat-converted.png");
my $tk = api(acme => GET => "/v1/tickets/$number")->json;
is $tk->{channel}, 'chat', 'the ticket in the REST API, on the channel chat';
is $tk->{requester}{email}, 'rita@example.com', "... the pre-chat's customer its requester";
my $ev = api(acme => GET => "/v1/tickets/$number/events")->json;
my @bodies = map { $_->{body} // '' } @{ ref $ev eq 'HASH' ? $ev->{data} : $ev };
ok((grep { $_ eq 'Minha fatura veio errada' } @bodies), 'the transcript is its events: the first message')
    or diag explain \@bodies;
ok((grep { $_ eq $html } @bodies), "... the agent's answer as it was written");
ok((grep { $_ eq "Obrigada\nAguardo" } @bodies), "... the visitor's lines");
ok((grep { $_ eq 'escrito sem conexão' } @bodies), '... what was written during the outage, once')
    and is scalar(grep { $_ eq 'escrito sem conexão' } @bodies), 1, '(once)';

# ---- other languages; less motion ----
$b->get("$shop/acme-es.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 10), 'data-lang="es"';
like wait_widget('.hd h2'), qr/Acme Suporte/, '(the tenant\'s title as it is)';
like wait_widget('.b', qr/Nueva conversación/) // '', qr/Nueva conversación/, 'in Spanish';
$b->get("$shop/acme-fr.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 10), 'data-lang="fr"';
like wait_widget('.b', qr/New chat/) // '', qr/New chat/, 'a language it does not have: English';
is in_widget('return getComputedStyle(root.querySelector(".p")).animationName'), 'in', 'the panel slides in';
$b->_call(POST => $b->_s . '/goog/cdp/execute', { cmd => 'Emulation.setEmulatedMedia',
    params => { features => [{ name => 'prefers-reduced-motion', value => 'reduce' }] } });
$b->get("$shop/acme.html");
ok until_true(sub { in_widget('return !root.querySelector(".p").hidden') }, 10), 'prefers-reduced-motion';
is in_widget('return getComputedStyle(root.querySelector(".p")).animationName'), 'none', 'no animation then';
$b->_call(POST => $b->_s . '/goog/cdp/execute', { cmd => 'Emulation.setEmulatedMedia', params => { features => [] } });

# ---- a phone ----
$b->resize(375, 740);
$b->get("$shop/acme.html");
ok until_true(sub { in_widget('return !root.querySelector(".p").hidden') }, 10), 'open on the phone too';
my $p = until_true(sub {   # (once it has slid in)
    my $r = in_widget('var r = root.querySelector(".p").getBoundingClientRect(); return [r.x, r.y, r.width, r.height, document.documentElement.clientWidth, document.documentElement.clientHeight];');
    $r && $r->[1] == 0 ? $r : undef;
}, 5) // [];
is_deeply [@$p[0 .. 3]], [0, 0, $p->[4], $p->[5]], 'under 480 px the panel fills the screen (but its scroll bar)';
ok $b->script('return document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways scrolling';
shot("chat-phone.png");
wclick('.x');
ok until_true(sub { in_widget('return root.querySelector(".p").hidden') }, 5), 'closed with its close button';
shot("chat-phone-closed.png");
$b->resize(1280, 800);

# ---- a tenant without a chat: nothing shows ----
$b->get("$shop/nobody.html");
pause(2);
is in_widget('return root.querySelectorAll("button, section").length'), 0,
    'no welcome (the handshake refused: no such tenant): no launcher';

# ---- outside the chat's hours: the offline form, a ticket ----
$b->get("$shop/closed.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 10), 'a closed tenant: the launcher';
$l = in_widget('var r = root.querySelector("button.l").getBoundingClientRect(); return [r.left, getComputedStyle(root.querySelector("button.l")).color];');
ok abs($l->[0] - 20) < 2, 'bottom-left, as set';
is $l->[1], 'rgb(255, 255, 255)', 'white text on a dark colour';
ok !(received('welcome')->[-1]{settings}{open}), 'the welcome says closed (the business hours)';
wclick('button.l');
like wait_widget('.b', qr/Deixe sua mensagem/) // '', qr/No momento não há ninguém disponível/, 'the offline form';
is focused(), 'hc-f-name', 'focus on its first field';
is in_widget('var b = root.querySelector(".b"), i = root.querySelector("form.f p, form.f .in, form.f").getBoundingClientRect();'
             . ' return b.scrollTop === 0 && i.top >= b.getBoundingClientRect().top ? "top" : "scrolled " + b.scrollTop;'),
   'top', '... the form read from its top: its introduction in view';
like wtext('form.f'), qr/Assunto/, "with the tenant's own field";
shot("chat-offline.png");
wtype('#hc-f-name', 'Bruno');
wtype('#hc-f-email', 'bruno@invalido');
wtype('#hc-f-message', 'Quero saber dos planos.');
wclick('form.f .pb');
like wait_widget('#hc-f-topic-e', qr/\S/) // '', qr/Preencha este campo/, "the tenant's own required field, checked in the page";
wtype('#hc-f-topic', 'Planos');
# (past the widget's own check of the address: the server's)
in_widget('root.querySelector("#hc-f-email").setAttribute("type", "text");');
wclick('form.f .pb');
like wait_widget('#hc-f-email-e', qr/\S/) // '', qr/Informe um e-mail válido/, "the server's field error (422), under the field";
wtype('#hc-f-email', 'bruno@example.com');
wclick('form.f .pb');
my $ok = wait_widget('.ok', qr/TKT/, 10) // '';
like $ok, qr/Recebemos sua mensagem\. Seu chamado é o TKT-\d{6}\./, 'confirmed with the ticket number';
my ($off_number) = $ok =~ /(TKT-\d{6})/;
is wtext('.st'), '', "no error left from the refused attempt";
shot("chat-offline-sent.png");
$tk = $off_number ? api(closed => GET => "/v1/tickets/$off_number")->json : {};
is $tk->{channel}, 'chat', 'the ticket in the REST API, on the channel chat';
is $tk->{requester}{email}, 'bruno@example.com', '... from the address given';
$ev = $off_number ? api(closed => GET => "/v1/tickets/$off_number/events")->json : [];
ok((grep { ($_->{body} // '') =~ /Quero saber dos planos/ } @{ ref $ev eq 'HASH' ? $ev->{data} : $ev }),
   '... with the message') or diag explain $ev;

# closed, and no offline form either
$b->get("$shop/quiet.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 10), 'closed without an offline form';
wclick('button.l');
like wait_widget('.b', qr/mais tarde/) // '', qr/Tente novamente mais tarde/, 'says to come back later';
is in_widget('return root.querySelectorAll("form:not([hidden])").length'), 0, 'and offers no form';

# ---- WebSocket disabled in the page: server-sent events and POST ----
$b->script('localStorage.clear(); sessionStorage.clear();');
$b->get("$shop/plain.html");
$b->script('localStorage.clear(); sessionStorage.clear();');
my $nows = $b->_call(POST => $b->_s . '/goog/cdp/execute', { cmd => 'Page.addScriptToEvaluateOnNewDocument',
                     params => { source => 'window.WebSocket = undefined;' } });
my $log_from = scalar @{ $t->access_log };
$b->get("$shop/acme.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 20), 'no WebSocket: the widget still comes';
wclick('button.l');
ok wait_widget('form.f'), 'the pre-chat form (a new visitor)';
wtype('#hc-f-name', 'Sofia');
wtype('#hc-f-message', 'Pelo fallback');
wclick('form.f .pb');
like wait_widget('.lg', qr/Pelo fallback/, 10) // '', qr/Pelo fallback/, 'the first message';
my $offer = $ana->take('offer', timeout => 10) // $bruno->take('offer', timeout => 5);
ok $offer, 'an agent is offered the chat';
my $who = (grep { $_->{tx} } $ana)[0];
my $agent = $offer && $offer->{conversation} && grep({ ($_->{conversation} // '') eq $offer->{conversation} } @{ $ana->{seen} }) ? $ana : $bruno;
my $sconv = $offer->{conversation};
is $agent->say(accept => conversation => $sconv)->{type}, 'ack', '... and takes it';
like wait_widget('.lg', qr/entrou/, 10) // '', qr/entrou na conversa/, 'the agent joins (over server-sent events)';
$agent->say(message => conversation => $sconv, text => 'Vou verificar, Sofia.');
like wait_widget('.lg', qr/Vou verificar, Sofia/, 10) // '', qr/Vou verificar, Sofia/, "the agent's answer";
wtype('#hc-text', 'Pelo POST');
press('Enter');
ok $agent->take('message', conversation => $sconv, text => 'Pelo POST', timeout => 10), 'a message by POST reaches the agent';
like wait_widget('.lg .m.me:last-child .s', qr/Enviada|Entregue|Lida/, 10) // '', qr/Enviada|Entregue|Lida/, '... acknowledged';
my @requests = map { $_->[3] } @{ $t->access_log }[$log_from .. $#{ $t->access_log }];
ok((grep { m{^GET /chat/v1/sse\?tenant=acme&stream=} } @requests), 'on an event stream');
ok((grep { m{^POST /chat/v1/send\?tenant=acme} } @requests), '... and POSTs');
ok(!(grep { m{/chat/v1/ws} } @requests), '... and never a WebSocket') or diag explain \@requests;

# an nginx reload under the fallback: the stream resumes, nothing twice
$count = scalar @{ messages() };
($last) = reverse grep { /^\d+-\d+$/ } map { $_->{id} // '' } @{ $agent->{seen} };
kill 'HUP', $t->nginx_pid;
reconnect($_, $_ == $agent ? ($sconv => $last) : ()) for $ana, $bruno;
$agent->say(message => conversation => $sconv, text => 'Depois do reinício, pelo fallback.');
like wait_widget('.lg', qr/Depois do reinício, pelo fallback/, 20) // '', qr/pelo fallback/,
    'after a reload the stream resumes with what was said meanwhile';
pause(1);
@m = @{ messages() };
is scalar(@m), $count + 1, 'each message once';
%dup = ();
is scalar(grep { $dup{$_}++ } @m), 0, 'no duplicates';
shot("chat-sse.png");
$b->_call(POST => $b->_s . '/goog/cdp/execute', { cmd => 'Page.removeScriptToEvaluateOnNewDocument',
          params => { identifier => $nows->{identifier} } }) if ref $nows eq 'HASH' && $nows->{identifier};

# ---- the bot: its answer, then "talk to a person" ----
$t->psql(qq{UPDATE helpdesk.chat_widgets SET bot_enabled = true WHERE tenant_id = '$tenant{acme}{id}'});
$b->script('localStorage.clear(); sessionStorage.clear();');
$b->get("$shop/acme.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 20), 'with the bot on: the launcher';
wclick('button.l');
ok wait_widget('form.f'), '... a new visitor';
wtype('#hc-f-name', 'Caio');
wtype('#hc-f-message', 'Preciso de ajuda com zzqx');
wclick('form.f .pb');
my $blank = 'return Array.prototype.filter.call(root.querySelectorAll(".lg .m"), function (e) {'
          . ' var t = e.querySelector(".t"); return !t || !t.innerText.trim(); }).length';
like wait_widget('.lg', qr/uma pessoa da equipe/, 10) // '', qr/Se preferir, uma pessoa da equipe continua a conversa\./,
     "the bot answers in the visitor's language (no article matched)";
is in_widget($blank), 0, '... no empty bubble';
wclick('button.act');
like wait_widget('.lg', qr/pediu para falar/, 10) // '', qr/Você pediu para falar com uma pessoa\./,
     '"talk to a person": said as a line of its own';
ok until_true(sub { in_widget('return root.querySelector("button.act").disabled') }, 5), '... and the button is spent';
is in_widget($blank), 0, '... still no empty bubble';
shot("chat-bot.png");

$_->close for $marta, $ana, $bruno;
$b->quit;
$t->done;
