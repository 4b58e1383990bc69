#!/usr/bin/env perl
# helpdesk_chat_widget: the website chat's script as a customer's page
# fetches it.  The loader (chat.js) is cached a few minutes and revalidated
# by its ETag; the widget it names is versioned by content and immutable;
# both come gzipped (made at build time) to clients that take it, with
# their own strong tags; together they stay under 15 KB gzipped.  Anything
# else is 404, other methods 405, HEAD works.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use Digest::SHA qw(sha384_base64);

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(server => <<'CONF');
        location /chat/widget/ {
            helpdesk_chat_widget;
        }

        # the same files under any prefix
        location /w/ {
            helpdesk_chat_widget;
            gzip on;
            gzip_types application/javascript;
        }
CONF

my $ua = Mojo::UserAgent->new(request_timeout => 10);
$ua->transactor->name('chat-widget-test');
my $base = 'http://127.0.0.1:' . $t->port;

# Mojo asks for gzip and decodes it unless told otherwise: each request
# here says what it accepts, and bodies are read as they came
sub get {
    my ($path, %h) = @_;
    my $method = delete $h{method} // 'GET';
    my $body = delete $h{body};
    my $tx = $ua->build_tx($method => "$base$path" => { 'Accept-Encoding' => 'identity', %h }
                           => defined $body ? $body : ());
    $tx->res->content->auto_decompress(0);
    return $ua->start($tx)->res;
}

sub gunzipped {
    my ($z) = @_;
    my $out;
    gunzip(\$z => \$out) or die $GunzipError;
    return $out;
}

# the loader
my $r = get('/chat/widget/chat.js');
is $r->code, 200, 'chat.js';
like $r->headers->content_type, qr{^application/javascript; charset=utf-8$}, 'a script';
is $r->headers->cache_control, 'public, max-age=300', 'cached five minutes';
my $etag = $r->headers->etag;
like $etag, qr/^"[0-9a-f]{16}"$/, 'a strong ETag';
is $r->headers->header('X-Content-Type-Options'), 'nosniff', 'nosniff';
is $r->headers->header('Access-Control-Allow-Origin'), '*', 'a public script';
is $r->headers->vary, 'Accept-Encoding', 'Vary: Accept-Encoding';
ok !$r->headers->content_encoding, 'identity when gzip is not accepted';
is $r->headers->content_length, length($r->body), 'with its length';
my $loader = $r->body;
like $loader, qr/currentScript/, 'the loader';
my ($file) = $loader =~ /'(widget\.[0-9a-f]{8}\.js)'/;
ok $file, "it names the widget's versioned file" or diag $loader;
my ($sri) = $loader =~ /'(sha384-[A-Za-z0-9+\/]{64})'/;
ok $sri, 'and its integrity digest';
unlike $loader, qr{^\s+|/\*}m, 'sent without comments or indentation';

# gzip, made at build time
$r = get('/chat/widget/chat.js', 'Accept-Encoding' => 'gzip, deflate, br');
is $r->code, 200, 'chat.js, gzip accepted';
is $r->headers->content_encoding, 'gzip', 'Content-Encoding: gzip';
is $r->headers->vary, 'Accept-Encoding', 'Vary';
is gunzipped($r->body), $loader, 'the same script';
my $gz_etag = $r->headers->etag;
like $gz_etag, qr/^"[0-9a-f]{16}-gz"$/, 'its own strong ETag';
isnt $gz_etag, $etag, 'not the identity copy\'s';
is $r->headers->cache_control, 'public, max-age=300', 'cached the same';
is $r->headers->header('X-Content-Type-Options'), 'nosniff', 'nosniff too';
my $gz_loader = length $r->body;

for my $ae ('gzip;q=0', 'gzip; q=0.000', 'identity', 'br', '*;q=0', 'gzip;q=0, *') {
    my $got = get('/chat/widget/chat.js', 'Accept-Encoding' => $ae)->headers->content_encoding // 'identity';
    is $got, 'identity', "Accept-Encoding: $ae -> identity";
}
for my $ae ('GZIP', 'x-gzip', '*', 'br;q=1, gzip;q=0.5', 'gzip;q=0.1', 'identity;q=0, gzip') {
    my $got = get('/chat/widget/chat.js', 'Accept-Encoding' => $ae)->headers->content_encoding // 'identity';
    is $got, 'gzip', "Accept-Encoding: $ae -> gzip";
}

# revalidation
$r = get('/chat/widget/chat.js', 'If-None-Match' => $etag);
is $r->code, 304, 'If-None-Match with its ETag: 304';
is $r->body, '', 'no body';
is $r->headers->etag, $etag, 'the ETag again';
is $r->headers->cache_control, 'public, max-age=300', 'and the caching';
is $r->headers->vary, 'Accept-Encoding', 'and Vary';
is get('/chat/widget/chat.js', 'If-None-Match' => qq{"0000000000000000", $etag})->code, 304,
   'its ETag in a list: 304';
is get('/chat/widget/chat.js', 'If-None-Match' => '*')->code, 304, 'If-None-Match: * is 304';
is get('/chat/widget/chat.js', 'If-None-Match' => '"0000000000000000"')->code, 200,
   'another ETag: 200';
is get('/chat/widget/chat.js', 'If-None-Match' => $gz_etag)->code, 200,
   "the gzip copy's ETag for the identity copy: 200";
is get('/chat/widget/chat.js', 'If-None-Match' => $gz_etag, 'Accept-Encoding' => 'gzip')->code, 304,
   "the gzip copy's ETag for the gzip copy: 304";
is get('/chat/widget/chat.js', 'If-None-Match' => $etag, 'Accept-Encoding' => 'gzip')->code, 200,
   "the identity copy's ETag for the gzip copy: 200";
is get('/chat/widget/chat.js?v=2')->code, 200, 'a query string changes nothing';

# the widget, at its versioned URL
$r = get("/chat/widget/$file");
is $r->code, 200, 'the widget';
like $r->headers->content_type, qr{^application/javascript}, 'a script';
is $r->headers->cache_control, 'public, max-age=31536000, immutable', 'immutable, a year';
like $r->headers->etag, qr/^"[0-9a-f]{16}"$/, 'a strong ETag';
is $r->headers->header('X-Content-Type-Options'), 'nosniff', 'nosniff';
is $r->headers->header('Access-Control-Allow-Origin'), '*', 'CORS for the integrity check';
my $widget = $r->body;
is 'sha384-' . sha384_base64($widget), $sri, 'it matches the integrity the loader names';
like $widget, qr/attachShadow\(\{ mode: 'closed' \}\)/, 'a closed shadow root';
unlike $widget, qr/\binnerHTML\b|\beval\(|new Function/, 'no innerHTML, eval or new Function';
is get("/chat/widget/$file", 'If-None-Match' => $r->headers->etag)->code, 304, 'revalidates too';

$r = get("/chat/widget/$file", 'Accept-Encoding' => 'gzip');
is $r->headers->content_encoding, 'gzip', 'gzipped';
is $r->headers->cache_control, 'public, max-age=31536000, immutable', 'immutable';
is gunzipped($r->body), $widget, 'the same widget';
my $gz_widget = length $r->body;
my $total = $gz_loader + $gz_widget;
ok $total <= 15 * 1024, "loader + widget gzipped: $total bytes <= 15 KB";
diag "gzipped: loader $gz_loader B, widget $gz_widget B, together $total B";

# HEAD
$r = get('/chat/widget/chat.js', method => 'HEAD');
is $r->code, 200, 'HEAD chat.js';
is $r->body, '', 'no body';
is $r->headers->content_length, length($loader), 'the length of the body GET sends';
is $r->headers->etag, $etag, 'its ETag';
$r = get("/chat/widget/$file", method => 'HEAD', 'Accept-Encoding' => 'gzip');
is $r->headers->content_length, $gz_widget, 'HEAD with gzip: the gzip length';
is $r->headers->content_encoding, 'gzip', 'and encoding';

# another prefix; nginx's own gzip on there does not compress twice
$r = get("/w/$file", 'Accept-Encoding' => 'gzip');
is $r->code, 200, 'under another prefix';
is gunzipped($r->body), $widget, 'gzipped once, with gzip on in the location';
$r = get('/w/chat.js');
is $r->body, $loader, 'the same loader (it names the widget relative to itself)';

# nothing else
for my $path ('/chat/widget/', '/chat/widget/widget.js', '/chat/widget/widget.00000000.js',
              '/chat/widget/CHAT.JS', '/chat/widget/chat.jsx', '/chat/widget/chat.js/',
              "/chat/widget/$file/x", '/chat/widget/chat/chat.js',
              '/chat/widget/app.js', '/chat/widget/portal/app.js', '/chat/widget/ngx_helpdesk_www.h',
              '/chat/widget/chat.1dfb020e.js', '/chat/widget/' . ('a' x 3000)) {
    $r = get($path);
    is $r->code, 404, "404 for " . substr($path, 0, 60);
    like $r->headers->content_type // '', qr{^application/problem\+json}, '  a problem document';
}
ok !get('/chat/widget/nope')->headers->cache_control, 'a 404 is not cached for a year';
# (nginx resolves dot segments first: this one is outside the location)
unlike get('/chat/widget/%2e%2e/chat.js')->body, qr/currentScript/, 'no way out by dot segments';

# other methods
for my $m (qw(POST PUT DELETE PATCH OPTIONS)) {
    $r = get('/chat/widget/chat.js', method => $m, body => 'x' x 100);
    is $r->code, 405, "$m: 405";
    is $r->headers->header('Allow'), 'GET, HEAD', '  Allow: GET, HEAD';
}
is get('/chat/widget/nope', method => 'POST')->code, 404, 'POST to nothing: 404';

# hostile requests
my $raw = $t->raw_request("GET /chat/widget/chat.js HTTP/1.1\r\nHost: localhost:\@evil\r\n\r\n");
like $raw, qr{^HTTP/1\.1 400}, 'a Host with a bad port: 400';
$raw = $t->raw_request("POST /chat/widget/chat.js HTTP/1.1\r\nHost: localhost\r\n"
                       . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                       "5\r\nhello\r\n", "zz\r\n", "0\r\n\r\n");
like $raw, qr{^HTTP/1\.1 (405|400)}, 'a malformed chunked POST: refused';
$raw = $t->raw_request("GET /chat/widget/chat.js HTTP/1.1\r\nHost: localhost\r\n"
                       . "Accept-Encoding: " . ('gzip;q=0,' x 500) . "gzip;q=\r\n"
                       . "If-None-Match: " . ('"x",' x 500) . "\r\nConnection: close\r\n\r\n");
like $raw, qr{^HTTP/1\.1 200}, 'long Accept-Encoding and If-None-Match lists: served';
$raw = $t->raw_request("GET /chat/widget/chat.js HTTP/1.0\r\n\r\n");
like $raw, qr{^HTTP/1\.1 200.*currentScript}s, 'HTTP/1.0 without Host: served';
# a client that goes away mid-request, then the next one is served
$raw = $t->raw_request("GET /chat/widget/chat.js HTTP/1.1\r\nHost: loc");
is get('/chat/widget/chat.js')->code, 200, 'after a client left mid-request';

# the directive's place
my $t2 = Helpdesk::Test->new;
for my $case (['location = /chat.js { helpdesk_chat_widget; }', qr/must be in a prefix location ending with "\/"/],
              ['location /chat { helpdesk_chat_widget; }', qr/must be in a prefix location/],
              ['location ~ ^/c/ { helpdesk_chat_widget; }', qr/must be in a prefix location/],
              ['location /c/ { helpdesk_chat_widget; helpdesk_chat_widget; }', qr/"helpdesk_chat_widget" directive is duplicate/],
              ['location /c/ { helpdesk_chat_widget on; }', qr/invalid number of arguments in "helpdesk_chat_widget"/],
              ['helpdesk_chat_widget;', qr/"helpdesk_chat_widget" directive is not allowed here/]) {
    $t2->write_conf(server => $case->[0]);
    my ($rc, $out) = $t2->nginx_test;
    isnt $rc, 0, "nginx -t refuses: $case->[0]";
    like $out, $case->[1], '  and says why' or diag $out;
}

$t->done;
