#!/usr/bin/env perl
# The website chat widget in a real browser (headless Chromium), on a plain
# page of a customer's website with the install snippet on it: the page's
# own styles and globals untouched, the launcher, the panel, the pre-chat
# and offline forms, a conversation (queue position, the agent, typing,
# read status, attachments, conversion), reconnecting and resuming without
# showing anything twice, the SSE fallback where WebSocket is blocked, the
# keyboard, a phone's width.  Screenshots go to build/screenshots/.
#
# nginx serves the page and the widget (helpdesk_chat_widget); /chat/v1/ is
# proxied to a stand-in for the chat's server side written here (it speaks
# docs/chat-protocol.md from the visitor's side only), so that the widget is
# tested on its own.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Browser;
use File::Path qw(make_path);
use Mojo::JSON qw(decode_json encode_json);
use Mojo::UserAgent;
use Time::HiRes qw(sleep);
use POSIX ();
use MIME::Base64 ();

plan skip_all => 'Chromium and chromedriver are not installed (make deps)' unless Helpdesk::Browser::available();

my $shots = "$Helpdesk::Test::TOP/build/screenshots";
make_path($shots);

my $t = Helpdesk::Test->new->start_stack;
my $dir = $t->dir;

# ---- the stand-in chat server, in a child process ----

my $fake_port = Helpdesk::Test::free_port();
my $fake_pid = fork // die "fork: $!";
if ($fake_pid == 0) {
    fake_chat($fake_port);
    POSIX::_exit(0);
}
END { local $?; kill 'TERM', $fake_pid if $fake_pid; waitpid $fake_pid, 0 if $fake_pid }

sub fake_chat {
    my ($port) = @_;
    require Mojolicious::Lite;
    require Mojo::Server::Daemon;
    require Mojo::IOLoop;
    my $app = Mojolicious::Lite->new;
    $app->log->level('fatal');
    my (%conv, @log, %sse, $seq, $flaky, $down);
    my %settings = (
        acme => { title => 'Acme Suporte', colour => '#ffd33d', position => 'bottom-right',
                  greeting => 'Olá! Em que podemos ajudar?', icon => 'headset', open => \1,
                  max_message => 16384,
                  prechat => [{ name => 'name', required => \1 }, { name => 'email', required => \0 },
                              { name => 'order', label => 'Número do pedido', required => \0 }] },
        closed => { title => 'Loja Fechada', colour => '#8a1538', position => 'bottom-left',
                    greeting => '', icon => 'bubble', open => \0, max_message => 16384,
                    prechat => [{ name => 'name', required => \1 }, { name => 'email', required => \1 },
                                { name => 'topic', label => 'Assunto', required => \0 }] },
    );
    $settings{nows} = $settings{flaky} = $settings{acme};
    $settings{quiet} = { %{ $settings{closed} }, offline_form => \0 };
    my $now = sub { my @g = gmtime; sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0] };
    my $id = sub { sprintf '%d-%d', 1764480000000 + ++$seq, 0 };
    # a visitor's connections: a WebSocket, or an SSE stream
    my %peers;
    my $deliver = sub {
        my ($v, $m) = @_;
        for my $p (values %{ $peers{$v} // {} }) { $p->(encode_json($m)) }
    };
    my $store = sub {
        my ($v, $m) = @_;
        $m->{id} = $id->();
        $m->{at} = $now->();
        push @{ $conv{$v}{events} }, $m;
        $deliver->($v, $m);
        return $m;
    };
    my $later = sub { my ($s, $cb) = @_; Mojo::IOLoop->timer($s => $cb) };
    my $agent_says = sub {
        my ($v, $text, $delay) = @_;
        $later->($delay // 0.3, sub {
            $deliver->($v, { type => 'typing', id => '~t', from => 'agent', on => \1 });
            $later->(0.8, sub { $store->($v, { type => 'message', from => { kind => 'agent', name => 'Ana Atendente' },
                                               text => $text }) });
        });
    };
    # one client message; returns its direct answer (ack or error), sends the rest
    my $receive = sub {
        my ($v, $tenant, $m) = @_;
        push @log, { visitor => $v, %$m };
        my $c = $conv{$v};
        my $type = $m->{type} // '';
        if ($type eq 'start') {
            $conv{$v} = $c = { status => 'bot', events => $c ? $c->{events} : [] , id => "conv-$v" };
            my $msg = $store->($v, { type => 'message', cid => $m->{cid}, conversation => $c->{id},
                                     from => { kind => 'visitor', name => $m->{prechat}{name} }, text => $m->{text} });
            $later->(0.2, sub { $deliver->($v, { type => 'queue', id => '~q', position => 3, estimate_seconds => 120 }) });
            $later->(1.5, sub {
                $c->{status} = 'active';
                $store->($v, { type => 'joined', agent => { name => 'Ana Atendente' } });
                $deliver->($v, { type => 'status', id => '~s', delivered => $msg->{id}, read => $msg->{id} });
                $agent_says->($v, 'Olá! Vou verificar o pedido <b>1234</b> <img src=x onerror="document.title=1">.');
            });
            return { type => 'ack', id => '~a', cid => $m->{cid}, ref => $msg->{id}, conversation => $c->{id} };
        }
        return { type => 'error', id => '~e', cid => $m->{cid}, code => 'not_found', detail => 'no chat' }
            unless $c || $type eq 'typing' || $type eq 'read';
        if ($type eq 'message') {
            my $msg = $store->($v, { type => 'message', cid => $m->{cid}, conversation => $c->{id},
                                     from => { kind => 'visitor' }, text => $m->{text},
                                     attachments => [map { { upload_id => $_, filename => 'foto.png',
                                                             content_type => 'image/png', size => 1,
                                                             url => "/chat/v1/file/$_?tenant=acme&exp=1&sig=x" } }
                                                     @{ $m->{attachments} // [] }] });
            $later->(0.3, sub { $deliver->($v, { type => 'status', id => '~s', delivered => $msg->{id} }) });
            if (($m->{text} // '') =~ /converter/) {
                $later->(0.5, sub { $c->{status} = 'converted';
                                    $store->($v, { type => 'converted', ticket => { number => 'TKT-000042' } }) });
            } elsif (($m->{text} // '') =~ /pausa/) {
                # the server goes away for a while: the next handshake is refused
                $later->(0.2, sub { $down = 1; for my $p (values %{ $peers{$v} // {} }) { $p->(undef) } });
            } elsif (($m->{text} // '') =~ /reinicie/) {
                # the server restarts: the agent answers meanwhile
                $later->(0.2, sub { for my $p (values %{ $peers{$v} // {} }) { $p->(undef) } });
                $later->(0.4, sub { $store->($v, { type => 'message', from => { kind => 'agent', name => 'Ana Atendente' },
                                                   text => 'Voltei depois do reinício.' }) });
            } elsif (($m->{text} // '') =~ /depois/) {
                $agent_says->($v, 'Pronto, resolvido.', 1.5);
            } else {
                $later->(0.6, sub { $deliver->($v, { type => 'status', id => '~s', read => $msg->{id} }) });
            }
            return { type => 'ack', id => '~a', cid => $m->{cid}, ref => $msg->{id} };
        }
        if ($type eq 'end') {
            $c->{status} = 'ended';
            $later->(0.1, sub { $store->($v, { type => 'ended', by => 'visitor' }) });
            return { type => 'ack', id => '~a', cid => $m->{cid} };
        }
        if ($type eq 'transcript' || $type eq 'handover') {
            return { type => 'ack', id => '~a', cid => $m->{cid} };
        }
        return undef;       # typing, read: no answer
    };
    my $welcome = sub {
        my ($tenant, $hello) = @_;
        my $v = $hello->{visitor} && $hello->{visitor} =~ /^[0-9a-f]{64}$/ ? $hello->{visitor}
              : join '', map { sprintf '%02x', int rand 256 } 1 .. 32;
        my $c = $conv{$v};
        push @log, { visitor => $v, %$hello };
        my $w = { type => 'welcome', id => '~w', visitor => $v, stream => "s$v",
                  settings => $settings{$tenant} // $settings{acme},
                  conversation => $c ? { id => $c->{id}, status => $c->{status},
                                         agent => $c->{status} eq 'bot' ? undef : { name => 'Ana Atendente' } } : undef };
        my @after = grep { !defined $hello->{last} || $_->{id} gt $hello->{last} } @{ $c ? $c->{events} : [] };
        return ($v, $w, @after);
    };
    my $cors = sub {
        my ($c) = @_;
        $c->res->headers->header('Access-Control-Allow-Origin' => '*');
        $c->res->headers->header('Access-Control-Allow-Headers' => 'Content-Type, X-Chat-Stream, X-Filename');
        $c->res->headers->header('Access-Control-Allow-Methods' => 'POST');
    };
    $app->routes->websocket('/chat/v1/ws' => sub {
        my ($c) = @_;
        my $tenant = $c->param('tenant') // '';
        my ($v, $key);
        return $c->render(status => 404, text => 'no') if $tenant eq 'nows';
        return $c->render(status => 503, text => 'down') if $down && $down--;
        return $c->render(status => 403, text => 'forbidden') if $tenant eq 'nobody';
        $c->res->headers->sec_websocket_protocol('helpdesk.chat.v1')
            if ($c->req->headers->sec_websocket_protocol // '') =~ /\bhelpdesk\.chat\.v1\b/;
        $c->inactivity_timeout(300);
        $c->on(message => sub {
            my ($c, $text) = @_;
            my $m = eval { Mojo::JSON::from_json($text) } or return;
            if (($m->{type} // '') eq 'hello' && $tenant eq 'flaky' && !$flaky++) {
                # the record is not there yet: try again in a second
                push @log, { type => 'hello-refused' };
                return $c->send({ text => encode_json({ type => 'error', id => '~e', cid => $m->{cid},
                                                        code => 'unavailable', retry_after => 1 }) });
            }
            if (($m->{type} // '') eq 'hello') {
                my ($w, @after);
                ($v, $w, @after) = $welcome->($tenant, $m);
                $key = "$c";
                $peers{$v}{$key} = sub { defined $_[0] ? $c->send({ text => $_[0] }) : $c->finish(1001, 'restarting') };
                $c->send({ text => encode_json($_) }) for $w, @after;
                return;
            }
            my $a = $receive->($v, $tenant, $m);
            $c->send({ text => encode_json($a) }) if $a;
        });
        $c->on(finish => sub { delete $peers{$v}{$key} if $v && $key });
    });
    $app->routes->options('/chat/v1/*any' => sub { my $c = shift; $cors->($c); $c->rendered(204) });
    $app->routes->post('/chat/v1/send' => sub {
        my ($c) = @_;
        $cors->($c);
        my $m = eval { decode_json($c->req->body) } or return $c->render(status => 400, text => 'bad');
        my $tenant = $c->param('tenant') // '';
        return $c->render(status => 403, json => { status => 403 }) if $tenant eq 'nobody';
        if (($m->{type} // '') eq 'hello') {
            my ($v, $w) = $welcome->($tenant, $m);
            return $c->render(json => $w);
        }
        my ($v) = ($c->req->headers->header('X-Chat-Stream') // '') =~ /^s([0-9a-f]{64})$/
            or return $c->render(status => 404, json => { type => 'x' });
        my $a = $receive->($v, $tenant, { %$m, via => 'post' });
        $c->render(json => $a // { type => 'ack', id => '~a', cid => $m->{cid} });
    });
    $app->routes->get('/chat/v1/sse' => sub {
        my ($c) = @_;
        $cors->($c);
        my ($v) = ($c->param('stream') // '') =~ /^s([0-9a-f]{64})$/ or return $c->render(status => 404, text => '');
        push @log, { visitor => $v, type => 'sse', after => $c->param('after') };
        $c->inactivity_timeout(300);
        $c->res->headers->content_type('text/event-stream');
        $c->write(":\n\n");
        my $key = "$c";
        my $send = sub { defined $_[0] ? $c->write("data: $_[0]\n\n") : $c->finish };
        $peers{$v}{$key} = $send;
        my $after = $c->param('after');
        $send->(encode_json($_)) for grep { !defined $after || $_->{id} gt $after } @{ $conv{$v} ? $conv{$v}{events} : [] };
        $c->on(finish => sub { delete $peers{$v}{$key} });
    });
    $app->routes->post('/chat/v1/offline' => sub {
        my ($c) = @_;
        $cors->($c);
        my $m = eval { decode_json($c->req->body) } // {};
        push @log, { type => 'offline', %$m, content_type => $c->req->headers->content_type };
        return $c->render(status => 422, json => { status => 422, errors => [{ field => 'email', message => 'must be an email address' },
                                                               { field => 'fields.topic', message => 'is required' }] })
            if ($m->{email} // '') =~ /invalido/;
        $c->render(status => 201, json => { ticket => { number => 'TKT-000042' } });
    });
    # the file itself as the body, its name percent-encoded in X-Filename
    my %files;
    $app->routes->post('/chat/v1/upload' => sub {
        my ($c) = @_;
        $cors->($c);
        my $name = Mojo::Util::decode('UTF-8', Mojo::Util::url_unescape($c->req->headers->header('X-Filename') // ''));
        my $body = $c->req->body;
        push @log, { type => 'upload', stream => $c->req->headers->header('X-Chat-Stream'),
                     filename => $name, size => length $body,
                     content_type => $c->req->headers->content_type };
        my $id = 'up' . scalar(@log);
        $files{$id} = $body;
        $c->render(status => 201, json => { upload_id => $id, filename => $name,
                                            content_type => 'image/png', size => length $body,
                                            url => "/chat/v1/file/$id?tenant=acme&exp=1&sig=x" });
    });
    $app->routes->get('/chat/v1/file/:id' => sub {
        my ($c) = @_;
        push @log, { type => 'file', id => $c->param('id') };
        $c->res->headers->content_type('image/png');
        $c->render(data => $files{ $c->param('id') } // '');
    });
    $app->routes->get('/fake/log' => sub { $_[0]->render(json => \@log) });
    my $daemon = Mojo::Server::Daemon->new(app => $app, listen => ["http://127.0.0.1:$port"], silent => 1);
    $daemon->start;
    Mojo::IOLoop->start;
}

until_true(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$fake_port") }, 10) or die 'the fake did not start';

sub fake_log {
    my $res = Mojo::UserAgent->new->get("http://127.0.0.1:$fake_port/fake/log")->result;
    return @{ $res->json };
}

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
for my $tenant (qw(acme closed nows quiet flaky)) {
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

$t->start_nginx(server => <<CONF);
        location /chat/widget/ {
            helpdesk_chat_widget;
        }

        location /chat/v1/ {
            proxy_pass http://127.0.0.1:$fake_port;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$http_connection;
            proxy_buffering off;
            proxy_read_timeout 300s;
        }

        location /site/ {
            root $dir;
            default_type text/html;
            charset utf-8;
        }
CONF

my $shop = "http://www.shop.test:$port/site";
my $b = Helpdesk::Browser->new(resolve => { 'www.shop.test' => 1, 'chat.provider.test' => 1 },
                               lang => 'pt-BR', width => 1280, height => 800);

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
    sleep 0.4;      # (the panel slides in)
    my $png = MIME::Base64::decode_base64($b->_call(GET => $b->_s . '/screenshot'));
    open my $fh, '>:raw', "$shots/$name" or die $!;
    print $fh $png;
    close $fh;
}

# ---- the page without, then with the snippet ----

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
if ($ENV{DEBUG_FAKE}) { diag explain [fake_log()]; diag `tail -5 $dir/log/error.log; tail -5 $dir/log/access.log`; exit 1; }
is_deeply $b->script($globals_js), $globals_before, 'no new globals on window';
is_deeply $b->script($styles_js), $before, "the page's own elements look and sit exactly as before";
ok defined wait_widget('button.l'), 'the launcher';
is_deeply $b->script('return [Array.prototype, Object.prototype, String.prototype, Function.prototype, Element.prototype, Node.prototype, EventTarget.prototype, JSON, Math].map(function (p) { return Object.getOwnPropertyNames(p).sort().join(","); });'),
    $builtins_before, 'no built-in changed';
is $b->script('return document.querySelectorAll("[data-helpdesk-chat]").length'), 1, 'one host element';
{   # the snippet twice on a page: one widget
    $b->script(qq{var s = document.createElement("script"); s.src = "$provider/chat/widget/chat.js";
                  s.setAttribute("data-tenant", "acme"); document.body.appendChild(s);});
    sleep 1;
    is $b->script('return document.querySelectorAll("[data-helpdesk-chat]").length'), 1, 'the snippet twice: still one';
}
is $b->script('return document.querySelector("[data-helpdesk-chat]").shadowRoot'), undef, 'its shadow root is closed';
is $b->script('return getComputedStyle(document.querySelector("[data-helpdesk-chat]")).borderTopStyle'), 'none',
    "the page's div rule does not reach the host (all: initial)";
is $b->script('return document.querySelector("[data-helpdesk-chat]").innerHTML'), '', 'nothing in the light DOM';
$b->script('addToCart("x")');
is $b->script('return shopCart.length'), 1, "the page's own script still works";

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
like wait_widget('.st', qr/fila/) // '', qr/Você é o 3º da fila · espera de cerca de 2 min/, 'the queue position and estimate';
shot("chat-queue.png");
if ($ENV{DEBUG_FAKE}) { diag explain [fake_log()]; diag explain in_widget('return root.querySelector(".p").innerText'); diag `tail -20 $dir/log/error.log`; exit 1; }
my ($start) = grep { $_->{type} eq 'start' } fake_log();
is_deeply [$start->{prechat}{name}, $start->{prechat}{email}, $start->{prechat}{fields}{order}, $start->{text}],
    ['Rita', 'rita@example.com', '1234', 'Minha fatura veio errada'], 'start carries the pre-chat answers';
like $start->{cid}, qr/^[A-Za-z0-9_-]{1,64}$/, 'with a client id';
my ($hello) = grep { $_->{type} eq 'hello' } fake_log();
is $hello->{lang}, 'pt-BR', 'hello: the language';
is $hello->{page}{title}, 'Loja Acme — Hospedagem', 'hello: the page title';
like $hello->{page}{url}, qr{/site/acme\.html$}, 'hello: the page URL';

# the agent joins, types, answers; the visitor's message is read
like wait_widget('.lg', qr/entrou/) // '', qr/Ana Atendente entrou na conversa/, 'the agent joins';
is wtext('.hd p'), 'Ana Atendente', "the agent's name in the header";
like wait_widget('.ty', qr/digitando/, 5) // '', qr/Ana Atendente está digitando/, 'typing indicator';
like wait_widget('.lg', qr/Vou verificar/) // '', qr/Vou verificar/, "the agent's answer";
is wait_widget('.ty', qr/^$/), '', 'the typing indicator goes';
like wait_widget('.m.me .s', qr/Lida/) // '', qr/Lida/, 'the message is marked read';
like in_widget('return root.querySelectorAll(".lg .m")[1].innerText'), qr/<b>1234<\/b> <img src=x onerror="document\.title=1">/,
    'what the agent wrote is shown as text';
is in_widget('return root.querySelectorAll(".lg img, .lg b").length'), 0, 'never as HTML';
is $b->title, 'Loja Acme — Hospedagem', 'nothing ran';
is in_widget('return root.querySelector(".lg").getAttribute("role") + "/" + root.querySelector(".lg").getAttribute("aria-live")'),
    'log/polite', 'messages in a polite live log';

# the visitor types (throttled) and sends with Enter
wtype('#hc-text', 'Obrigada');
press('Shift+Enter');
keys_typed('Aguardo');
press('Enter');
like wait_widget('.lg', qr/Aguardo/) // '', qr/Obrigada\nAguardo/, 'Enter sends; Shift+Enter was a new line';
is in_widget('return root.querySelector("#hc-text").value'), '', 'the box is emptied';
my @typing = grep { $_->{type} eq 'typing' } fake_log();
ok @typing >= 1 && @typing <= 3, 'typing sent, throttled (' . scalar(@typing) . ' frames for 15 keys)';
ok until_true(sub { grep { $_->{type} eq 'read' } fake_log() }, 5), "read sent for the agent's message";
like wait_widget('.lg .m.me:last-child .s', qr/Lida/) // '', qr/Lida/, 'sent, then read';

# an attachment: previewed, uploaded, sent with the message
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
{
    my $r = root();
    my $e = $b->_call(POST => $b->_s . '/shadow/' . (values %$r)[0] . '/element', { using => 'css selector', value => 'input[type=file]' });
    $b->_call(POST => $b->_s . '/element/' . (values %$e)[0] . '/value', { text => $png });
}
ok until_true(sub { in_widget('return root.querySelectorAll(".ch img").length') }, 5), 'the image is previewed';
ok until_true(sub { grep { $_->{type} eq 'upload' } fake_log() }, 5), 'and uploaded';
my ($up) = grep { $_->{type} eq 'upload' } fake_log();
like $up->{stream}, qr/^s[0-9a-f]{64}$/, 'with the stream token';
is $up->{filename}, 'foto.png', '... the file as the body, its name in X-Filename';
is $up->{content_type}, 'image/png', '... its type as Content-Type';
ok $up->{size} > 100, '... all of it';
ok until_true(sub { grep { $_->{type} eq 'file' } fake_log() }, 5), 'the preview comes from its download link';
ok until_true(sub { (wtext('.ch') // '') !~ /…/ }, 5), 'upload done';
wtype('#hc-text', 'segue a foto');
press('Enter');
ok until_true(sub { in_widget('return root.querySelectorAll(".lg .m.me img").length') }, 5), 'the image shown in the message';
my ($withfile) = grep { $_->{type} eq 'message' && ($_->{text} // '') eq 'segue a foto' } fake_log();
is scalar @{ $withfile->{attachments} // [] }, 1, 'the message names the upload';
shot("chat-conversation.png");

# closed panel: unread count on the launcher
wtype('#hc-text', 'Pode me avisar depois?');
press('Enter');
press('Escape');
like wait_widget('.l .n', qr/^1$/, 8) // '', qr/^1$/, 'an answer while closed: 1 unread';
like in_widget('return root.querySelector(".l").getAttribute("aria-label")'), qr/\(1 mensagem não lida\)/, 'said in the label';
shot("chat-unread.png");
wclick('button.l');
ok until_true(sub { in_widget('return root.querySelector(".l .n").hidden') }, 5), 'opened: the count goes';

# the server restarts (1001): the widget reconnects and resumes; nothing twice
my $count = scalar @{ messages() };
wtype('#hc-text', 'reinicie, por favor');
press('Enter');
like wait_widget('.lg', qr/Voltei depois do reinício/, 10) // '', qr/Voltei/, 'reconnected: what was said meanwhile arrives';
my @hellos = grep { $_->{type} eq 'hello' } fake_log();
ok @hellos >= 2 && $hellos[-1]{last}, 'the second hello resumes from the last id';
is $hellos[-1]{visitor}, $hellos[-2]{visitor}, 'as the same visitor';
sleep 0.5;
my @m = @{ messages() };
is scalar(@m), $count + 2, 'each message once';
my %dup;
is scalar(grep { $dup{$_}++ } @m), 0, 'no duplicates';

# the server away for a few seconds: what is typed meanwhile waits and goes once
wtype('#hc-text', 'pausa');
press('Enter');
like wait_widget('.st', qr/Reconectando/, 10) // '', qr/Reconectando/, 'reconnecting, said';
wtype('#hc-text', 'escrito sem conexão');
press('Enter');
like in_widget('return root.querySelector(".lg .m.me:last-child .s").innerText'), qr/Enviando/, 'shown at once, as sending';
like wait_widget('.lg .m.me:last-child .s', qr/Enviada|Entregue|Lida/, 20) // '', qr/Enviada|Entregue|Lida/,
    'sent once the server is back';
is scalar(grep { $_->{type} eq 'message' && $_->{text} eq 'escrito sem conexão' } fake_log()), 1, 'exactly once';
is wtext('.st'), '', 'the status line clears';
@m = @{ messages() };
%dup = ();
is scalar(grep { $dup{$_}++ } @m), 0, 'still nothing twice';

# back on the page later: the conversation is shown again
$b->get("$shop/acme.html");
ok until_true(sub { in_widget('return root.querySelectorAll(".lg .m").length') == scalar(@m) }, 10),
    'a new page view shows the conversation again, each message once';
ok !in_widget('return root.querySelector(".p").hidden'), 'the panel stays open across pages';
is_deeply messages(), \@m, 'in order';

# email me the transcript, end, converted
wclick('.tl button');
is focused(), 'hc-f-email', 'transcript: asks for the address';
wtype('#hc-f-email', 'rita@example.com');
press('Enter');
ok until_true(sub { grep { $_->{type} eq 'transcript' && $_->{email} eq 'rita@example.com' } fake_log() }, 5), 'transcript asked';
like wait_widget('.lg', qr/rita\@example.com/) // '', qr/Enviaremos a conversa para rita\@example\.com/, 'and confirmed';
wtype('#hc-text', 'pode converter em chamado');
press('Enter');
like wait_widget('.lg', qr/TKT-000042/) // '', qr/Esta conversa virou o chamado TKT-000042\./, 'converted: the ticket number';
ok in_widget('return root.querySelector("form.c").hidden'), 'the composer goes';
like wtext('.b'), qr/Nova conversa/, 'a new chat can start';

# ---- other languages; less motion ----
$b->get("$shop/acme-es.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 10), 'data-lang="es"';
like wait_widget('.hd h2'), qr/Acme Suporte/, '(the tenant\'s title as it is)';
like wtext('.tl'), qr/Recibir la conversación por correo\s*Terminar conversación/, 'in Spanish';
$b->get("$shop/acme-fr.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 10), 'data-lang="fr"';
like wait_widget('.tl'), qr/Email me the transcript\s*End chat/, 'a language it does not have: English';
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
    $r->[1] == 0 ? $r : undef;
}, 5) // [];
is_deeply [@$p[0 .. 3]], [0, 0, $p->[4], $p->[5]], 'under 480 px the panel fills the screen (but its scroll bar)';
ok $b->script('return document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways scrolling';
shot("chat-phone.png");
wclick('.x');
ok until_true(sub { in_widget('return root.querySelector(".p").hidden') }, 5), 'closed with its close button';
shot("chat-phone-closed.png");
$b->resize(1280, 800);

# ---- the server busy at the hello: the widget tries again ----
$b->get("$shop/flaky.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 10), 'a hello refused (unavailable): welcomed at the next';
is scalar(grep { $_->{type} eq 'hello-refused' } fake_log()), 1, '(it was refused once)';

# ---- a tenant without a chat: nothing shows ----
$b->get("$shop/plain.html");
$b->script(qq{var s = document.createElement("script"); s.src = "$provider/chat/widget/chat.js";
              s.setAttribute("data-tenant", "nobody"); document.body.appendChild(s);});
sleep 2;
is in_widget('return root.querySelectorAll("button, section").length'), 0,
    'no welcome (a refused handshake): no launcher';

# ---- outside hours: the offline form ----
$b->get("$shop/closed.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 10), 'a closed tenant: the launcher';
$l = in_widget('var r = root.querySelector("button.l").getBoundingClientRect(); return [r.left, getComputedStyle(root.querySelector("button.l")).color];');
ok abs($l->[0] - 20) < 2, 'bottom-left, as set';
is $l->[1], 'rgb(255, 255, 255)', 'white text on a dark colour';
wclick('button.l');
like wait_widget('.b', qr/Deixe sua mensagem/) // '', qr/No momento não há ninguém disponível/, 'the offline form';
is focused(), 'hc-f-name', 'focus on its first field';
shot("chat-offline.png");
wtype('#hc-f-name', 'Bruno');
wtype('#hc-f-email', 'bruno@invalido.example');
wtype('#hc-f-message', 'Quero saber dos planos.');
wclick('form.f .pb');
like wait_widget('#hc-f-email-e', qr/válido/) // '', qr/Informe um e-mail válido/, "the server's field error, under the field";
like wtext('#hc-f-topic-e'), qr/Preencha este campo/, "a tenant's own field too";
wtype('#hc-f-email', 'bruno@example.com');
wclick('form.f .pb');
like wait_widget('.ok', qr/TKT/) // '', qr/Recebemos sua mensagem\. Seu chamado é o TKT-000042\./, 'confirmed with the ticket number';
my ($off) = grep { $_->{type} eq 'offline' && $_->{email} eq 'bruno@example.com' } fake_log();
is_deeply [$off->{name}, $off->{message}, $off->{content_type}], ['Bruno', 'Quero saber dos planos.', 'application/json'],
    'POST /chat/v1/offline with the form';
shot("chat-offline-sent.png");

# closed, and no offline form either
$b->get("$shop/quiet.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 10), 'closed without an offline form';
wclick('button.l');
like wait_widget('.b', qr/mais tarde/) // '', qr/Tente novamente mais tarde/, 'says to come back later';
is in_widget('return root.querySelectorAll("form:not([hidden])").length'), 0, 'and offers no form';

# ---- WebSocket blocked: server-sent events and POST ----
$b->get("$shop/nows.html");
ok until_true(sub { in_widget('return !!root.querySelector("button.l")') }, 20), 'no WebSocket: the widget still comes';
ok until_true(sub { grep { $_->{type} eq 'sse' } fake_log() }, 10), 'on an event stream';
wclick('button.l');
ok wait_widget('form.f'), 'the pre-chat form';
wtype('#hc-f-name', 'Rita');
wtype('#hc-f-message', 'Pelo fallback');
wclick('form.f .pb');
like wait_widget('.lg', qr/Vou verificar/, 10) // '', qr/Vou verificar/, 'a conversation over SSE + POST';
my ($viapost) = grep { $_->{type} eq 'start' && ($_->{via} // '') eq 'post' } fake_log();
ok $viapost, 'the start went by POST';
my @shown = @{ messages() };
my %d2;
is scalar(grep { $d2{$_}++ } @shown), 0, 'each message once';

$b->quit;
$t->done;
