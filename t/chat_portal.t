# The website chat on the tenant's portal: the portal's page loads the
# widget from its own server; its origin may open the tenant's chat
# without the admin naming it; a signed-in customer's session cookie at
# the handshake links the visitor and its conversations to them (the
# pre-chat form then need not ask their name); an anonymous visitor,
# another tenant's session or an expired one is anonymous, never an
# error; an unproven account sees only its own chats, a proven one also
# those that reached us for its address; the portal lists a customer's
# chats beside their tickets and shows a transcript without internal
# notes, and another customer's chat is "not found".
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Mojo::JSON qw(decode_json);
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
use Helpdesk::Test qw(until_true);
use Helpdesk::Portal;
use Helpdesk::Chat;

my $t = Helpdesk::Test->new->start_stack;
# a second server: a portal alone, the widget being on the provider's host
my $alone = Helpdesk::Test::free_port();
$t->start_nginx(http => "helpdesk_base_domain portal.test;
                         server { listen 127.0.0.1:$alone; location / { helpdesk_portal; } }",
                server => 'location / { helpdesk_portal; }
                           location /chat/widget/ { helpdesk_chat_widget; }
                           location /chat/ { helpdesk_chat; }');
my $port = $t->port;
my $ua = $t->ua;

my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled)
            VALUES ('$acme->{id}', '{https://www.acme.example}', false);});

my $ahost = "acme.portal.test:$port";
my $ghost = "globex.portal.test:$port";
my $aorigin = "http://$ahost";

sub portal { Helpdesk::Portal->new($t, $_[0]) }

sub boot_of {
    my ($p) = @_;
    my ($json) = $p->get('/')->body =~ m{<script type="application/json" id="boot">(.*?)</script>}s;
    return decode_json($json);
}

# a visitor on a portal's page: its cookie (if any) goes with the handshake
sub visitor {
    my (%o) = @_;
    return Helpdesk::Chat::visitor($t, $o{tenant} // 'acme', $o{origin} // $aorigin,
                                   host => $o{host} // $ahost, $o{cookie} ? (cookie => $o{cookie}) : ());
}

sub persisted {
    my ($conv) = @_;
    return until_true(sub {
        $t->psql(qq{SELECT count(*) FROM helpdesk.chat_conversations
                    WHERE conversation_id = '$conv'}) eq '1' }, 15);
}

# --- the portal's page loads the widget -----------------------------------------

my $boot = boot_of(portal($ahost));
is_deeply $boot->{chat}, { script => '/chat/widget/chat.js', tenant => 'acme' },
    "the portal's page loads the tenant's widget from its own server";
is boot_of(portal($ghost))->{chat}, Mojo::JSON::false,
    'a tenant without a chat set up: no widget on its portal';
is $ua->get("http://127.0.0.1:$port/chat/widget/chat.js" => { Host => $ahost })->res->code, 200,
    '... and the script is there';
like portal($ahost)->get('/')->headers->header('Content-Security-Policy'),
    qr/script-src 'self'; .*connect-src 'self';/, "... the page's policy left as it was";
{
    my $p = Helpdesk::Portal->new($t, "acme.portal.test:$alone", port => $alone);
    my $b = boot_of($p);
    is_deeply $b->{chat}, { script => "http://portal.test:$port/chat/widget/chat.js", tenant => 'acme' },
        "a portal on a server without the widget loads it from the provider's host";
    my $csp = $p->get('/')->headers->header('Content-Security-Policy');
    like $csp, qr{script-src 'self' http://portal\.test:$port;}, '... its policy allows the script';
    like $csp, qr{connect-src 'self' http://portal\.test:$port ws://portal\.test:$port;},
        '... the WebSocket and the fallback';
    like $csp, qr{img-src 'self' http://portal\.test:$port data:;}, '... and the pictures';
    like $csp, qr{^default-src 'none';.*frame-ancestors 'none'; base-uri 'none'$}, '... and nothing else changed';
}

# --- the portal's origin ----------------------------------------------------------

{
    my $v = visitor();
    my $w = $v->hello;
    is $w->{type}, 'welcome', "the portal's own origin opens the chat, not named by the admin";
    is $w->{customer}, undef, '... an anonymous visitor without a session';
    $v->close;
}
for my $o ("http://globex.portal.test:$port", 'https://acme.portal.test', 'http://evil.example') {
    my $res = $ua->get("http://127.0.0.1:$port/chat/v1/ws?tenant=acme" => {
        Host => $ahost, Origin => $o, Upgrade => 'websocket', Connection => 'Upgrade',
        'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version' => 13,
        'Sec-WebSocket-Protocol' => 'helpdesk.chat.v1' })->res;
    is $res->code, 403, "another origin ($o): 403";
}
$t->psql(qq{INSERT INTO helpdesk.portal_domains (tenant_id, hostname, status, verified_at)
            VALUES ('$acme->{id}', 'help.acme.example', 'active', now()),
                   ('$acme->{id}', 'pending.acme.example', 'pending_dns', NULL)});
{
    my $v = visitor(origin => "http://help.acme.example:$port");
    is $v->hello->{type}, 'welcome', "a verified custom domain of the portal is an allowed origin";
    $v->close;
    my $res = $ua->get("http://127.0.0.1:$port/chat/v1/ws?tenant=acme" => {
        Host => $ahost, Origin => "http://pending.acme.example:$port", Upgrade => 'websocket',
        Connection => 'Upgrade', 'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version' => 13, 'Sec-WebSocket-Protocol' => 'helpdesk.chat.v1' })->res;
    is $res->code, 403, '... a domain not yet verified is not';
}

# --- customers ----------------------------------------------------------------------

my $rita = portal($ahost);
is $rita->signup('rita@example.com', 'segredo-da-rita', 'Rita Lima')->code, 200, 'Rita signs up';
my $rita_id = $t->psql(q{SELECT user_id FROM helpdesk.users WHERE email = 'rita@example.com'});
$t->psql(qq{UPDATE helpdesk.users SET email_verified_at = now() WHERE user_id = '$rita_id'});

my $bob = portal($ahost);
is $bob->signup('bob@example.com', 'segredo-do-bob', 'Bob')->code, 200, 'Bob signs up (his address unproven)';
my $bob_id = $t->psql(q{SELECT user_id FROM helpdesk.users WHERE email = 'bob@example.com'});

my $gina = portal($ghost);
is $gina->signup('gina@example.com', 'segredo-da-gina', 'Gina')->code, 200, "a customer of another tenant";

# --- a signed-in customer is linked ------------------------------------------------

my $rv = visitor(cookie => 'hd_session=' . $rita->cookie('hd_session'));
my $w = $rv->hello;
is $w->{type}, 'welcome', "a signed-in customer's hello";
is_deeply $w->{customer}, { name => 'Rita Lima', email => 'rita@example.com' },
    '... is welcomed with what the pre-chat form need not ask';
my $rtoken = $w->{visitor};
is $t->psql(qq{SELECT customer_id FROM helpdesk.chat_visitors
               WHERE token_hash = sha256('$rtoken'::bytea)}), $rita_id,
    "the visitor is linked to the customer's record";
my $cid = $rv->send(start => text => 'Where is my order?');
my $ack = $rv->take_ack($cid);
is $ack->{type}, 'ack', 'a conversation starts without the form (the name is known)';
my $rconv = $ack->{conversation};
ok persisted($rconv), '... and is recorded';
is $t->psql(qq{SELECT customer_id || ' ' || (prechat->>'name') || ' ' || (prechat->>'email')
               FROM helpdesk.chat_conversations WHERE conversation_id = '$rconv'}),
    "$rita_id Rita Lima rita\@example.com", "... linked to the customer, with their name and email";
$rv->close;

my $h = $t->auth($acme->{key});
my $list = $ua->get($t->url("/v1/chat/conversations?customer=$rita_id") => $h)->res->json;
is_deeply [map { $_->{id} } @{ $list->{data} }], [$rconv],
    "the console's customer view has the chat";
is $list->{data}[0]{customer}{id}, $rita_id, '... as the customer\'s';

# the same browser again: the previous conversation
{
    my $v = visitor(cookie => 'hd_session=' . $rita->cookie('hd_session'));
    my $again = $v->hello(visitor => $rtoken);
    is $again->{conversation}{id}, $rconv, 'the same customer returns: the previous conversation';
    $v->close;
}

# the fallback (server-sent events) links the same way
sub sse_welcome {
    my ($cookie) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10) or die $!;
    my $token = join '', map { sprintf '%02x', int rand 256 } 1 .. 32;
    syswrite $s, "GET /chat/v1/sse?tenant=acme&visitor=$token HTTP/1.1\r\nHost: $ahost\r\nOrigin: $aorigin\r\n"
                 . ($cookie ? "Cookie: $cookie\r\n" : '') . "Accept: text/event-stream\r\n\r\n";
    my ($out, $sel, $end) = ('', IO::Select->new($s), time + 10);
    while (time < $end && $out !~ /"type":"welcome".*\n\n/s) {
        next unless $sel->can_read(0.2);
        sysread($s, my $b, 65536) or last;
        $out .= $b;
    }
    close $s;
    my ($data) = $out =~ /^data: (\{"type":"welcome".*)$/m;
    return $data ? decode_json($data) : { raw => $out };
}
{
    my $ev = sse_welcome('hd_session=' . $rita->cookie('hd_session'));
    is_deeply $ev->{customer}, { name => 'Rita Lima', email => 'rita@example.com' },
        "the event stream's visitor with the customer's session is linked too";
    is $t->psql(qq{SELECT customer_id FROM helpdesk.chat_visitors
                   WHERE token_hash = sha256('$ev->{visitor}'::bytea)}), $rita_id, '... in the record';
    my $anon = sse_welcome(undef);
    ok $anon->{visitor} && !defined $anon->{customer}, '... and without it, anonymous';
}

# --- anonymous, another tenant's session, an expired one ------------------------------

my %anon;
for my $case (['anonymous', undef],
              ["another tenant's session", 'hd_session=' . $gina->cookie('hd_session')],
              ['an expired session', 'hd_session=' . ('ab' x 32)],
              ['a malformed cookie', 'hd_session=%FF%00; hd_session=x']) {
    my ($name, $cookie) = @$case;
    my $v = visitor(cookie => $cookie);
    my $w = $v->hello;
    is $w->{type}, 'welcome', "$name: welcomed, no error";
    is $w->{customer}, undef, '... as an anonymous visitor';
    is $t->psql(qq{SELECT coalesce(customer_id::text, 'none') FROM helpdesk.chat_visitors
                   WHERE token_hash = sha256('$w->{visitor}'::bytea)}), 'none', '... linked to nobody';
    $anon{$name} = $v;
}
# Gina's session on her own portal's chat is hers, but the chat is acme's
{
    my $v = visitor(tenant => 'acme', host => $ghost, origin => $aorigin,
                    cookie => 'hd_session=' . $gina->cookie('hd_session'));
    is $v->hello->{customer}, undef, "another tenant's customer on this tenant's chat: anonymous";
    $v->close;
}

# anonymous chats that gave Rita's and Bob's addresses
my $a1 = $anon{anonymous};
$cid = $a1->send(start => prechat => { name => 'R.', email => 'rita@example.com' }, text => 'hi from Rita');
my $rita_anon = $a1->take_ack($cid)->{conversation};
my $a2 = $anon{"another tenant's session"};
$cid = $a2->send(start => prechat => { name => 'B.', email => 'bob@example.com' }, text => 'hi from Bob?');
my $bob_anon = $a2->take_ack($cid)->{conversation};
ok persisted($rita_anon) && persisted($bob_anon), 'two anonymous chats, with their addresses';
$_->close for values %anon;

# --- an unproven account: linked only to itself ---------------------------------------

my $bv = visitor(cookie => 'hd_session=' . $bob->cookie('hd_session'));
$w = $bv->hello;
is $w->{customer}{name}, 'Bob', "an unproven customer's hello is linked too";
$cid = $bv->send(start => text => 'My own chat');
my $bconv = $bv->take_ack($cid)->{conversation};
ok persisted($bconv), '... and their conversation recorded';
is $t->psql(qq{SELECT customer_id FROM helpdesk.chat_conversations WHERE conversation_id = '$bconv'}),
    $bob_id, '... linked to them';
$bv->close;

my $bl = $bob->api(GET => '/chats');
is $bl->code, 200, 'Bob lists his chats';
is_deeply [map { $_->{id} } @{ $bl->json->{data} }], [$bconv],
    '... only his own: not the anonymous chat that gave his unproven address';

my $rl = $rita->api(GET => '/chats');
is $rl->code, 200, 'Rita lists her chats';
is_deeply [sort map { $_->{id} } @{ $rl->json->{data} }], [sort $rconv, $rita_anon],
    '... hers, and (her address proven) the anonymous one that gave it';

# --- a transcript: public messages only ------------------------------------------------

$t->psql(qq{INSERT INTO helpdesk.chat_messages (tenant_id, conversation_id, message_id, kind,
                author_type, author_name, body, created_at)
            VALUES ('$acme->{id}', '$rconv', '9999999999999-0', 'message', 'agent', 'Ana',
                    'It ships tomorrow', now()),
                   ('$acme->{id}', '$rconv', '9999999999999-1', 'note', 'agent', 'Ana',
                    'SECRET: customer is on the watch list', now()),
                   ('$acme->{id}', '$rconv', '9999999999999-2', 'event', 'system', NULL,
                    '', now())});
$t->psql(qq{UPDATE helpdesk.chat_messages SET data = '{"event": "transferred", "note": "SECRET too"}'
            WHERE conversation_id = '$rconv' AND message_id = '9999999999999-2'});
ok until_true(sub { $t->psql(qq{SELECT count(*) FROM helpdesk.chat_messages
                                WHERE conversation_id = '$rconv' AND author_type = 'visitor'}) >= 1 }, 15),
    "the visitor's message is recorded";

my $tr = $rita->api(GET => "/chats/$rconv");
is $tr->code, 200, 'Rita opens her chat';
my @msgs = @{ $tr->json->{messages} };
is_deeply [map { "$_->{author}: $_->{body}" } @msgs],
    ['you: Where is my order?', 'agent: It ships tomorrow'], '... its public messages, in order';
is $msgs[1]{name}, 'Ana', "... with the agent's name";
unlike $tr->body, qr/SECRET/, '... never an internal note nor an event that carries one';
like $tr->json->{status}, qr/^(bot|queued|active|ended)$/, '... and its status';
is $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'portal.chat.read'
               AND object_id = '$rconv'}), 1, 'the read is audited';
is $t->psql(q{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'portal.chat.list'}), 2,
    '... and so are the lists';

# --- another customer's chat ------------------------------------------------------------

is $bob->api(GET => "/chats/$rconv")->code, 404, "another customer's chat id: 404";
is $bob->api(GET => "/chats/$rita_anon")->code, 404, '... an anonymous chat with another address: 404';
is $bob->api(GET => '/chats/00000000-0000-4000-8000-000000000000')->code, 404, 'an unknown id: 404';
is $bob->api(GET => '/chats/not-a-uuid')->code, 404, 'not an id: 404';
is $gina->api(GET => "/chats/$rconv")->code, 404, "another tenant's customer: 404";
is portal($ahost)->api(GET => '/chats')->code, 401, 'nobody signed in: 401';

# a browser token linked to Rita, then Bob signs in on it: a new token
{
    my $v = visitor(cookie => 'hd_session=' . $bob->cookie('hd_session'));
    my $w = $v->hello(visitor => $rtoken);
    isnt $w->{visitor}, $rtoken, "a browser token linked to another customer is not reused";
    is $w->{conversation}, undef, "... nor their conversation shown";
    $v->close;
}

# the same browser once Rita signed out: her token is not another person's
{
    my $v = visitor();
    my $w = $v->hello(visitor => $rtoken);
    isnt $w->{visitor}, $rtoken, "a customer's browser token without their session is not reused";
    is $w->{conversation}, undef, "... nor their conversation shown";
    $v->close;
}

$t->done;
