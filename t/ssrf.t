# Outbound requests go where a tenant says (a webhook's URL, a WhatsApp
# connection's base URL, the media URL its provider answers with), so
# they must never reach the hosting provider's own network: loopback,
# private and link-local ranges (cloud metadata), in any spelling, by a
# name that resolves there, or by a redirect.  What comes back is shown
# as a status and a short, clean excerpt.  Header values cannot carry a
# second header.  Names are resolved without blocking the worker.
#
# "inside" is a listener on loopback (the provider's network): it must
# never get a request.  "outside" listens on 127.0.0.2, which this
# configuration's helpdesk_outbound_allow lets through, as a public
# receiver would be: the positive control that shows the requests do go
# out when allowed.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use Encode qw(encode_utf8);
use MIME::Base64 qw(encode_base64);
use Mojo::JSON qw(encode_json);
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::FakeHTTP;
use Helpdesk::FakeDNS;

my $inside = Helpdesk::FakeHTTP->new(v6 => 1);
my $outside = Helpdesk::FakeHTTP->new(host => '127.0.0.2')
    ->mount('/hooks' => 'webhook')
    ->mount('/graph' => cloud => token => 'tok', phone_number_id => 'PN1')
    ->mount('/cdn' => media => token => 'tok')
    ->mount('/d360' => '360dialog' => key => 'k360');
my ($ip, $op) = ($inside->port, $outside->port);

my $dns = Helpdesk::FakeDNS->new(names => {
    'loop.ssrf-test.net'  => ['127.0.0.1'],
    'meta.ssrf-test.net'  => ['169.254.169.254'],
    'hooks.ssrf-test.net' => ['127.0.0.2'],
    'mixed.ssrf-test.net' => ['127.0.0.1', '127.0.0.2'],
}, silent => ['slow.ssrf-test.net']);

# one worker: what it serves while a name is being resolved is served
# by the same event loop
my $t = Helpdesk::Test->new(workers => 1)->start_stack;
$t->start_nginx(
    outbound => "helpdesk_outbound_allow 127.0.0.2/32;\n"
              . "    helpdesk_whatsapp_media_hosts 127.0.0.2;",
    http => "resolver 127.0.0.1:@{[$dns->port]} ipv6=off;\n"
          . "    resolver_timeout 2s;\n"
          . "    helpdesk_outbox interval=100ms backoff=200ms attempts=1 timeout=5s health=1h;");
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});

sub problem_fields {
    my ($tx) = @_;
    return undef unless $tx->res->code == 422
        && ($tx->res->headers->content_type // '') =~ m{^application/problem\+json}
        && ($tx->res->json->{type} // '') =~ m{/validation-error$};
    return { map { $_->{field} => $_->{message} } @{ $tx->res->json->{errors} } };
}

sub hook {
    my ($url) = @_;
    return $ua->post($t->url('/v1/webhooks') => $h => json => { url => $url, events => ['whatsapp.message_failed'] });
}

# pings an endpoint and waits for the attempt in its delivery log
sub ping_logged {
    my ($id) = @_;
    is $ua->post($t->url("/v1/webhooks/$id/ping") => $h)->res->code, 202, 'ping queued';
    return until_true(sub {
        my $d = $ua->get($t->url("/v1/webhooks/$id/deliveries") => $h)->res->json->{data};
        @$d ? $d->[0] : undef }, 15);
}


# 1. Saving: a URL that cannot be a public http(s) endpoint is 422, and
#    says why
my @refused = (
    ['ftp://hooks.example.com/x',                 qr/http:\/\/ or https:\/\//],
    ['file:///etc/passwd',                        qr/http:\/\/ or https:\/\//],
    ['gopher://hooks.example.com:70/x',           qr/http:\/\/ or https:\/\//],
    ['http://user:pass@hooks.example.com/x',      qr/credentials/],
    ['http://hooks.example.com:0/x',              qr/port between 1 and 65535/],
    ['http://hooks.example.com:70000/x',          qr/port between 1 and 65535/],
    ["http://127.0.0.1:$ip/hooks",                qr/loopback address/],
    ["http://[::1]:$ip/hooks",                    qr/loopback address/],
    ["http://0x7f000001:$ip/hooks",               qr/loopback address/],
    ["http://2130706433:$ip/hooks",               qr/loopback address/],
    ["http://0177.0.0.1:$ip/hooks",               qr/loopback address/],
    ["http://127.1:$ip/hooks",                    qr/loopback address/],
    ["http://[::ffff:127.0.0.1]:$ip/hooks",       qr/loopback address/],
    ["http://[::127.0.0.1]:$ip/hooks",            qr/loopback address/],
    ['http://169.254.169.254/latest/meta-data/',  qr/link-local address/],
    ['http://[fe80::1]/x',                        qr/link-local address/],
    ['http://[64:ff9b::a9fe:a9fe]/x',             qr/link-local address/],
    ['http://[2002:a9fe:a9fe::1]/x',              qr/link-local address/],
    ['http://10.1.2.3/x',                         qr/private address/],
    ['http://172.16.0.1/x',                       qr/private address/],
    ['http://192.168.1.1/x',                      qr/private address/],
    ['http://[fd00::1]/x',                        qr/private address/],
    ['http://100.64.0.1/x',                       qr/shared \(CGNAT\) address/],
    ['http://0.0.0.0/x',                          qr/unspecified address/],
    ['http://[::]/x',                             qr/unspecified address/],
    ['http://224.0.0.1/x',                        qr/multicast address/],
    ['http://[ff02::1]/x',                        qr/multicast address/],
    ['http://255.255.255.255/x',                  qr/broadcast address/],
    ['http://192.0.2.1/x',                        qr/documentation address/],
    ['http://[2001:db8::1]/x',                    qr/documentation address/],
    ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x', qr/reserved address/],
    ['http://198.18.0.1/x',                       qr/benchmarking address/],
    ['http://localhost/x',                        qr/not a public host name/],
    ['http://LOCALHOST./x',                       qr/not a public host name/],
    ['http://api.localhost/x',                    qr/not a public host name/],
    ['http://metadata.google.internal/x',         qr/not a public host name/],
    ['http://printer.local/x',                    qr/not a public host name/],
    ['http://intranet/x',                         qr/not a public host name/],
    ["http://hooks.example.com/x\r\nX-Evil: 1",   qr/control characters/],
    ['http://hooks.example.com/a b',              qr/spaces/],
);
for my $case (@refused) {
    my ($url, $why) = @$case;
    my $err = problem_fields(hook($url));
    (my $shown = $url) =~ s/([\x00-\x1f])/sprintf '\\x%02x', ord $1/ge;
    ok $err && $err->{url}, "webhook $shown: 422 naming url";
    like $err && $err->{url}, $why, "webhook $shown: says why";
}
# a NUL is not even JSON to the API's parser
my $nul = hook("http://hooks.example.com/\x{0}");
is $nul->res->code, 400, 'webhook URL with a NUL: 400';
like $nul->res->json->{type}, qr{/malformed-json$}, 'malformed JSON';
is $t->psql(q{SELECT count(*) FROM helpdesk.webhook_endpoints}), 0, 'none of them was saved';

my $ok = hook('https://hooks.example.com/helpdesk');
is $ok->res->code, 201, 'a public URL is saved';
my $first = $ok->res->json;
my $err = problem_fields($ua->patch($t->url("/v1/webhooks/$first->{id}") => $h => json => {
    url => "http://[::ffff:7f00:1]:$ip/hooks" }));
like $err && $err->{url}, qr/loopback address/, 'changing it to loopback is 422 as well';
is $t->psql(qq{SELECT url FROM helpdesk.webhook_endpoints WHERE endpoint_id = '$first->{id}'}),
    'https://hooks.example.com/helpdesk', 'and leaves it as it was';
is hook("http://127.0.0.2:$op/hooks")->res->code, 201, 'an address helpdesk_outbound_allow names is saved';


# 2. Sending: addresses checked when the request is made, whatever is
#    stored (rows saved before the check, names that resolve inside)
my @inside = (
    "http://127.0.0.1:$ip/hooks", "http://[::1]:$ip/hooks", "http://0x7f000001:$ip/hooks",
    "http://2130706433:$ip/hooks", "http://[::ffff:127.0.0.1]:$ip/hooks", "http://0177.0.0.1:$ip/hooks",
    "http://127.1:$ip/hooks", 'http://169.254.169.254/latest/meta-data/', 'http://10.1.2.3/x',
);
for my $url (@inside) {
    my $e = hook('https://hooks.example.com/stored')->res->json;
    $t->psql(qq{UPDATE helpdesk.webhook_endpoints SET url = '$url' WHERE endpoint_id = '$e->{id}'});
    my $d = ping_logged($e->{id});
    is $d && $d->{error}, 'refused: address not allowed', "stored $url: refused when sent";
    ok $d && !defined $d->{http_status} && !defined $d->{response}, "stored $url: nothing else shown";
}
for my $name ("loop.ssrf-test.net:$ip", "loop.ssrf-test.net.:$ip", 'meta.ssrf-test.net') {
    my $tx = hook("http://$name/hooks");
    is $tx->res->code, 201, "$name: a public-looking name is saved";
    my $d = ping_logged($tx->res->json->{id});
    is $d && $d->{error}, 'refused: address not allowed', "$name resolves inside: refused when sent";
}
is scalar @{ $inside->requests }, 0, 'the listener inside got no request';
is scalar @{ $inside->refused }, 0, 'not even a refused one';
ok scalar(grep { $_ eq 'loop.ssrf-test.net' } @{ $dns->queries }), "names go to nginx's resolver";


# 3. The positive control: allowed, the same deliveries arrive
for my $url ("http://127.0.0.2:$op/hooks/literal", "http://hooks.ssrf-test.net:$op/hooks/name",
             "http://mixed.ssrf-test.net:$op/hooks/mixed", "http://hooks.ssrf-test.net.:$op/hooks/dot") {
    my $e = hook($url)->res->json;
    my $d = ping_logged($e->{id});
    is $d && $d->{http_status}, 200, "$url: delivered";
}
is_deeply [sort map { $_->{path} } @{ $outside->requests }],
    ['/hooks/dot', '/hooks/literal', '/hooks/mixed', '/hooks/name'], 'the allowed receiver got all four';
is scalar @{ $inside->requests }, 0, 'a name with an inside and an allowed address goes to the allowed one only';


# 4. Redirects are not followed
my $redir = hook("http://127.0.0.2:$op/hooks/moved")->res->json;
$outside->script({ status => 302, headers => { Location => "http://127.0.0.1:$ip/hooks" }, body => '' });
my $d = ping_logged($redir->{id});
is $d && $d->{http_status}, 302, 'a redirect is logged as what it is';
is $d && $d->{status}, 'dead', 'and is not a delivery';
is scalar @{ $inside->requests }, 0, 'the redirect to loopback was not followed';


# 5. What is shown of a reply: the status and a short, clean excerpt
my $noisy = hook("http://127.0.0.2:$op/hooks/noisy")->res->json;
my $body = "\e[31mERROR\r\nX-Injected: 1\0 " . encode_utf8('é' x 300) . 'SECRET-TAIL' . ("\xff" x 10);
$outside->script({ status => 500, type => 'text/plain', body_b64 => encode_base64($body, '') });
$d = ping_logged($noisy->{id});
is $d && $d->{http_status}, 500, 'the status is shown';
my $resp = $d && $d->{response} // '';
ok length(encode_utf8($resp)) <= 200, 'the excerpt is at most 200 bytes (' . length(encode_utf8($resp)) . ')';
unlike $resp, qr/[\x00-\x1f\x7f]/, 'without control characters';
like $resp, qr/^\?\[31mERROR\? X-Injected: 1\? éé/, 'the start of the reply, escape sequences neutralised';
unlike $resp, qr/SECRET-TAIL/, 'not the rest of it';


# 6. Names are resolved without blocking: a DNS server that never answers
my $slow = hook("http://slow.ssrf-test.net:$op/hooks/slow")->res->json;
is $ua->post($t->url("/v1/webhooks/$slow->{id}/ping") => $h)->res->code, 202, 'a delivery to a name nobody answers for';
ok until_true(sub { grep { $_ eq 'slow.ssrf-test.net' } @{ $dns->queries } }, 10), 'the resolver asked';
my ($served, $worst) = (0, 0);
for (1 .. 20) {
    my $start = time;
    my $code = $ua->get($t->url('/v1/tickets') => $h)->res->code;
    my $took = time - $start;
    $worst = $took if $took > $worst;
    $served++ if $code == 200;
}
is $served, 20, 'the one worker serves the API meanwhile';
cmp_ok $worst, '<', 1, "each request promptly (slowest ${worst}s)";
is $ua->get($t->url("/v1/webhooks/$slow->{id}/deliveries") => $h)->res->json->{data}[0], undef,
    'while the name is still being resolved';
$d = until_true(sub {
    $ua->get($t->url("/v1/webhooks/$slow->{id}/deliveries") => $h)->res->json->{data}[0] }, 15);
like $d && $d->{error}, qr/cannot resolve slow\.ssrf-test\.net: .*timed out/i, 'then the delivery fails on the timeout';
ok !grep({ $_->{path} eq '/hooks/slow' } @{ $outside->requests }), 'and nothing was sent';


# 7. WhatsApp: base_url and credentials checked on save; header injection
my %cloud = (provider => 'cloud', display_phone_number => '+55 11 4000-1234', phone_number_id => 'PN1',
             access_token => 'tok', app_secret => 'sec', verify_token => 'v');
my @bad = (
    [base_url => "http://127.0.0.1:$ip/graph", qr/loopback address/],
    [base_url => 'http://169.254.169.254/graph', qr/link-local address/],
    [base_url => 'http://metadata.google.internal/graph', qr/not a public host name/],
    [base_url => 'gopher://graph.example.com/', qr/http:\/\/ or https:\/\//],
    [base_url => "https://graph.example.com/v21.0\r\nX-Evil: 1", qr/control characters/],
    [access_token => "tok\r\nX-Evil: 1", qr/control characters/],
    [access_token => "tok\nX-Evil: 1", qr/control characters/],
    [access_token => "tok\x01", qr/control characters/],
    [access_token => "tok\t", qr/control characters/],
    [verify_token => "v\x7f", qr/control characters/],
    [phone_number_id => 'PN1/../../me', qr/letters, digits/],
    [phone_number_id => "PN1\r\n", qr/control characters|letters, digits/],
);
for my $case (@bad) {
    my ($field, $value, $why) = @$case;
    my $err = problem_fields($ua->post($t->url('/v1/whatsapp/connections') => $h => json => { %cloud, $field => $value }));
    (my $shown = $value) =~ s/([\x00-\x1f\x7f])/sprintf '\\x%02x', ord $1/ge;
    like $err && $err->{$field}, $why, "connection with $field $shown: 422 naming $field";
}
my $err360 = problem_fields($ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => '360dialog', display_phone_number => '+55 11 4000-9999', api_key => "k\r\nX-Evil: 1",
    base_url => "http://127.0.0.2:$op/d360" }));
like $err360 && $err360->{api_key}, qr/control characters/, '360dialog api_key with CRLF: 422';
is $t->psql(q{SELECT count(*) FROM helpdesk.whatsapp_connections}), 0, 'none saved';

my $tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => { %cloud, base_url => "http://127.0.0.2:$op/graph" });
is $tx->res->code, 201, 'a connection on an allowed base';
my $conn = $tx->res->json;
sub health { $ua->get($t->url("/v1/whatsapp/connections/$conn->{id}") => $h)->res->json->{health} }
ok until_true(sub { health()->{state} eq 'ok' }), 'checked with its provider';
$err = problem_fields($ua->patch($t->url("/v1/whatsapp/connections/$conn->{id}") => $h => json => {
    access_token => "tok\r\nX-Evil: 1" }));
like $err && $err->{access_token}, qr/control characters/, 'an update with CRLF in the token: 422';
$err = problem_fields($ua->patch($t->url("/v1/whatsapp/connections/$conn->{id}") => $h => json => {
    base_url => 'http://loop.ssrf-test.net/graph' }));
ok !$err, 'a base on a public-looking name is saved';
my $red = until_true(sub { my $x = health(); $x->{state} ne 'pending' && $x->{state} ne 'ok' ? $x : undef });
is $red && $red->{last_error}, 'refused: address not allowed', 'its check is refused: it resolves inside';

# a token stored with a line break (before this check existed, and before
# secrets were encrypted: migration 022 marked it "plain:") cannot add a
# header
$t->psql(qq{UPDATE helpdesk.whatsapp_connections SET access_token = E'plain:tok\\r\\nX-Evil: 1'
            WHERE connection_id = '$conn->{id}'});
is $ua->patch($t->url("/v1/whatsapp/connections/$conn->{id}") => $h => json => {
    base_url => "http://127.0.0.2:$op/graph" })->res->code, 200, 'the base set back: checked again';
$red = until_true(sub { my $x = health(); $x->{state} ne 'pending' && $x->{state} ne 'ok' ? $x : undef });
is $red && $red->{last_error}, 'refused: a header value contains control characters',
    'the stored token with CRLF is refused, not split into headers';
ok !grep({ exists $_->{headers}{'x-evil'} } @{ $outside->requests }, @{ $outside->refused }),
    'no request carried an injected header';
$t->psql(qq{UPDATE helpdesk.whatsapp_connections SET access_token = 'plain:tok' WHERE connection_id = '$conn->{id}'});
is $ua->patch($t->url("/v1/whatsapp/connections/$conn->{id}") => $h => json => {
    access_token => 'tok' })->res->code, 200, 'a clean token';
ok until_true(sub { health()->{state} eq 'ok' }), 'green again';


# 8. Media URLs from the provider: only on the provider's media hosts
sub post_media {
    my ($mid) = @_;
    my ($path) = $conn->{webhook_url} =~ m{(/whatsapp/.*)$};
    my $doc = encode_json({ object => 'whatsapp_business_account', entry => [{ id => 'W', changes => [{
        field => 'messages', value => { messaging_product => 'whatsapp',
        contacts => [{ profile => { name => 'Maria' }, wa_id => '5511988887777' }],
        messages => [{ from => '5511988887777', timestamp => '' . int(time), id => "wamid.$mid", type => 'image',
                       image => { id => $mid, mime_type => 'image/png', sha256 => 'x' } }] } }] }] });
    return $ua->post("http://127.0.0.1:@{[$t->port]}$path" => { 'Content-Type' => 'application/json',
        'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($doc, 'sec') } => $doc)->res->code;
}
sub media_outcome {
    my ($mid) = @_;
    return until_true(sub {
        my $r = $t->psql(qq{SELECT status || '|' || coalesce(last_error, '') FROM helpdesk.outbox
                            WHERE event_type = 'whatsapp.media' AND payload->>'media_id' = '$mid'
                              AND payload ? 'url' AND status IN ('delivered', 'dead')});
        length $r ? $r : undef }, 15)
        // diag $t->psql(q{SELECT event_type, status, last_error FROM helpdesk.outbox
                           WHERE kind = 'whatsapp' ORDER BY outbox_id});
}
for my $case (["MFOREIGN", "http://127.0.0.1:$ip/cdn/f1"], ['MNAME', "http://loop.ssrf-test.net:$ip/cdn/f1"],
              ['MMETA', 'http://169.254.169.254/latest/meta-data/iam']) {
    my ($mid, $url) = @$case;
    $outside->script({ status => 200, body => encode_json({ url => $url, mime_type => 'image/png', id => $mid }) });
    is post_media($mid), 200, "$mid: a media message";
    is media_outcome($mid), "dead|refused: the media URL is not on the provider's hosts",
        "$mid: the provider's media URL $url is refused";
}
is scalar @{ $inside->requests }, 0, 'the listener inside got no media request';
$outside->script({ status => 200, body => encode_json({ url => $outside->url('/cdn/f2'), mime_type => 'image/png' }) },
                 { status => 200, type => 'image/png', body_b64 => encode_base64("\x89PNG ok", '') });
is post_media('MGOOD'), 200, 'a media message whose URL is on the media hosts';
is media_outcome('MGOOD'), 'delivered|', 'downloaded';
is $t->psql(q{SELECT encode(data, 'hex') FROM helpdesk.attachments}), unpack('H*', "\x89PNG ok"), 'and kept';


# 9. A connection check's error: the status and a short excerpt
# the provider's answer to the check queued with the connection
$outside->script({ status => 500, type => 'text/plain',
                   body_b64 => encode_base64("internal\r\n\e]0;pwned\a" . ('x' x 2000) . 'SECRET-TAIL', '') });
$tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => '360dialog', display_phone_number => '+55 11 4000-9999', api_key => 'k360',
    base_url => "http://127.0.0.2:$op/d360" });
is $tx->res->code, 201, 'a 360dialog connection';
my $d360 = $tx->res->json;
my $hx = until_true(sub {
    my $x = $ua->get($t->url("/v1/whatsapp/connections/$d360->{id}") => $h)->res->json->{health};
    $x->{state} ne 'pending' ? $x : undef });
like $hx && $hx->{last_error}, qr/^HTTP 500: internal\?/, 'the health error: status and the start of the reply';
unlike $hx && $hx->{last_error}, qr/SECRET-TAIL|[\x00-\x1f\x7f]/, 'bounded and clean';
ok length(encode_utf8($hx && $hx->{last_error} // '')) <= 210, 'short';

# 10. Hostile input: oversized, malformed, another tenant's
my $long = problem_fields(hook('https://hooks.example.com/' . ('a' x 2000)));
like $long && $long->{url}, qr/2000/, 'a URL over 2000 characters: 422';
my $raw = $ua->post($t->url('/v1/webhooks') => { %$h, 'Content-Type' => 'application/json' }
                    => qq({"url": "http://hooks.example.com/\xff\xfe", "events": ["whatsapp.message_failed"]}));
is $raw->res->code, 400, 'a URL that is not UTF-8: 400';
like $raw->res->json->{type}, qr{/malformed-json$}, 'malformed JSON';
$err = problem_fields($ua->post($t->url('/v1/webhooks') => $h => json => {
    url => 'http://hooks.example.com/ünïcode', events => ['whatsapp.message_failed'] }));
like $err && $err->{url}, qr/outside ASCII/, 'a URL with raw non-ASCII: 422 (percent-encode it)';
$err = problem_fields($ua->post($t->url('/v1/webhooks') => $h => json => {
    url => ['http://hooks.example.com/'], events => ['whatsapp.message_failed'] }));
ok $err && $err->{url}, 'a URL that is not a string: 422';
my $globex = $t->create_tenant('globex');
is $ua->patch($t->url("/v1/webhooks/$first->{id}") => $t->auth($globex->{key}) => json => {
    url => 'https://globex.example.com/hooks' })->res->code, 404, "another tenant's endpoint: 404";
is $ua->patch($t->url("/v1/whatsapp/connections/$conn->{id}") => $t->auth($globex->{key}) => json => {
    access_token => 'x' })->res->code, 404, "another tenant's connection: 404";
is $t->psql(qq{SELECT url FROM helpdesk.webhook_endpoints WHERE endpoint_id = '$first->{id}'}),
    'https://hooks.example.com/helpdesk', 'unchanged';
# a bad URL is 422 before any lookup: the same for an id that exists elsewhere and one that does not
my $theirs = problem_fields($ua->patch($t->url("/v1/webhooks/$first->{id}") => $t->auth($globex->{key})
                                       => json => { url => "http://127.0.0.1:$ip/hooks" }));
my $nobody = problem_fields($ua->patch($t->url('/v1/webhooks/00000000-0000-4000-8000-000000000000')
                                       => $t->auth($globex->{key}) => json => { url => "http://127.0.0.1:$ip/hooks" }));
is_deeply $theirs, $nobody, "a refused URL says nothing about another tenant's ids";

ok $t->outbox_settled(20, 60), 'the outbox is idle';

# what was kept before (up to 1 KB of a reply) is cut to what is shown now
$t->psql(qq{UPDATE helpdesk.whatsapp_connections
            SET health_error = 'HTTP 200: ' || E'\\x1b[0m\\r\\n' || repeat('metadata ', 100)
            WHERE connection_id = '$d360->{id}';
            INSERT INTO helpdesk.webhook_attempts (tenant_id, outbox_id, endpoint_id, delivery_id,
                event_type, attempt, http_status, duration_ms, response)
            SELECT tenant_id, outbox_id, target_id, delivery_id, event_type, 9, 200, 1,
                   E'AccessKeyId\\r\\n' || repeat('x', 1000)
            FROM helpdesk.outbox WHERE kind = 'webhook' LIMIT 1;});
open my $mig, '<', 'sql/migrations/019_outbound_excerpts.sql' or die $!;
$t->psql(do { local $/; <$mig> });
is $t->psql(qq{SELECT octet_length(health_error) <= 210 AND health_error !~ '[[:cntrl:]]'
               FROM helpdesk.whatsapp_connections WHERE connection_id = '$d360->{id}'}), 't',
    'migration 019: a kept health error is cut and cleaned';
is $t->psql(q{SELECT response FROM helpdesk.webhook_attempts WHERE attempt = 9}), 'AccessKeyId ' . ('x' x 188),
    'migration 019: a kept reply is cut to 200 bytes, control characters as spaces';

# the directives are checked when the configuration is loaded
for my $case (['helpdesk_outbound_allow example.com;', qr/invalid address or range "example\.com"/],
              ['helpdesk_outbound_allow 10.0.0.0/33;', qr/invalid address or range "10\.0\.0\.0\/33"/],
              ['helpdesk_whatsapp_media_hosts *fbcdn.net;', qr/invalid host "\*fbcdn\.net"/]) {
    my ($line, $why) = @$case;
    $t->write_conf(outbound => $line);
    my ($rc, $out) = $t->nginx_test;
    isnt $rc, 0, "nginx -t refuses $line";
    like $out, $why, 'and says why';
}
$t->write_conf(outbound => 'helpdesk_outbound_allow 10.0.0.0/8 fd00::/8 127.0.0.1;');
my ($rc, $out) = $t->nginx_test;
is $rc, 0, 'several ranges of both families are taken' or diag $out;

$t->done;
