# The website chat's record through the REST API, as a client uses it:
# the settings (read, written, every invalid field named), the
# conversations and their transcripts, a conversion into a ticket; the
# scopes, another tenant's ids, and bodies no client should send.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test;

my $t = Helpdesk::Test->new->start_stack;
# the widget served on the provider's name (helpdesk_base_domain)
$t->start_nginx(server => 'location /chat/widget/ { helpdesk_chat_widget; }');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $reader = $t->create_key($acme->{id}, 'tickets:read');
my $h = $t->auth($acme->{key});
my $hr = $t->auth($reader->{key});
my $hg = $t->auth($globex->{key});

sub url { $t->url(@_) }
# the first line psql answers (a RETURNING's value, not its tag)
sub one { (split /\n/, $t->psql(@_))[0] }

# --- settings ---------------------------------------------------------------------

my $tx = $ua->get(url('/v1/chat/settings') => $h);
is $tx->res->code, 200, 'settings: read';
my $s = $tx->res->json;
is $s->{tenant}, 'acme', '... with the tenant the snippet names';
is $s->{colour}, '#1f6feb', '... the defaults';
is_deeply $s->{allowed_origins}, [], '... no origin until one is set';
is_deeply $s->{business_hours}, { always_open => JSON::PP::true() }, '... no schedule: always open'
    if eval { require JSON::PP; 1 };
ok $s->{open_now}, '... open now';
is $s->{max_message_bytes}, 16384, '... the message limit';
is $s->{script_url}, 'http://localhost:' . $t->port . '/chat/widget/chat.js',
    "... the script the snippet names, where the provider's name serves it";
is $ua->get("$s->{script_url}" =~ s{^http://localhost}{http://127.0.0.1}r)->res->code, 200, '... and it is there';

$tx = $ua->put(url('/v1/chat/settings') => $h => json => {
    colour => '#8A1538', position => 'bottom-left', title => 'Fale conosco',
    greeting => "Olá!\nComo podemos ajudar?", icon => 'headset',
    allowed_origins => ['https://www.acme.example/', 'HTTPS://Shop.Acme.Example:443',
                        'http://localhost:8080', 'https://www.acme.example'],
    prechat_fields => [{ name => 'name', required => \1 }, { name => 'email', required => \1 },
                       { name => 'order', label => 'Order number', required => \0 }],
    max_message_bytes => 4096, max_chats_per_agent => 5, accept_timeout_seconds => 45,
    reply_timeout_seconds => 600, on_reply_timeout => 'ticket', waiting_message => 'Você é o {position}º',
    transfer_allowed => \0, auto_ticket_minutes => 30, bot_enabled => \0, bot_kb_suggestions => \0,
    offline_form => \1, enabled => \1,
    # what a GET answered may be sent back as it is
    open_now => \0, business_hours => {}, tenant => 'other', updated_at => 'x', script_url => 'https://evil.example/x.js',
});
is $tx->res->code, 200, 'settings: written';
$s = $tx->res->json;
is_deeply $s->{allowed_origins}, ['https://www.acme.example', 'https://shop.acme.example', 'http://localhost:8080'],
    '... origins normalised (case, default port, trailing slash) and each once';
is $s->{colour}, '#8a1538', '... the colour in lower case';
is $s->{greeting}, "Olá!\nComo podemos ajudar?", '... a greeting on two lines';
is $s->{auto_ticket_minutes}, 30, '... chats become tickets after 30 minutes';
is $s->{tenant}, 'acme', '... the read-only fields ignored';
is_deeply $s->{prechat_fields}[2], { name => 'order', label => 'Order number', required => JSON::PP::false() },
    '... a field of the tenant\'s own';

$tx = $ua->put(url('/v1/chat/settings') => $h => json => { auto_ticket_minutes => undef, title => 'Chat' });
is $tx->res->code, 200, 'settings: a part of them';
is $tx->res->json->{auto_ticket_minutes}, undef, '... null: never a ticket by time';
is $tx->res->json->{colour}, '#8a1538', '... the rest kept';

is $t->psql(q{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'chat.settings.update'}), 2,
    'settings: each change audited';
like $t->psql(q{SELECT detail FROM helpdesk.audit_log WHERE action = 'chat.settings.update' ORDER BY audit_id LIMIT 1}),
    qr/"colour": \{"to": "#8a1538", "from": "#1f6feb"\}/, '... with what changed, from what to what';
is $t->psql(q{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'chat.settings.read'}), 1,
    '... and the read too';

# every invalid field at once, each named
$tx = $ua->put(url('/v1/chat/settings') => $h => json => {
    colour => 'red', position => 'top', icon => 'skull', title => 'x' x 81,
    allowed_origins => ['https://*.acme.example', 'ftp://files.acme.example', 'https://u:p@acme.example',
                        'https://acme.example/path', 'https://acme.example:99999', 'javascript:alert(1)',
                        'https://exämple.com', 42],
    prechat_fields => [{ name => 'Order No' }, { name => 'x', required => 'yes' }, { name => 'vip' }],
    max_message_bytes => 10, max_chats_per_agent => 1.5, accept_timeout_seconds => '30',
    on_reply_timeout => 'explode', enabled => 'yes', favourite => 1,
});
is $tx->res->code, 422, 'settings: invalid fields are 422';
like $tx->res->headers->content_type, qr{^application/problem\+json}, '... a problem document';
my %err = map { $_->{field} => $_->{message} } @{ $tx->res->json->{errors} };
for my $f (qw(colour position icon title max_message_bytes max_chats_per_agent accept_timeout_seconds
              on_reply_timeout enabled favourite allowed_origins.0 allowed_origins.1 allowed_origins.2
              allowed_origins.3 allowed_origins.4 allowed_origins.5 allowed_origins.6 allowed_origins.7
              prechat_fields.0.name prechat_fields.1.label prechat_fields.1.required prechat_fields.2.label)) {
    ok $err{$f}, "... $f named" or diag explain \%err;
}
like $err{'allowed_origins.0'}, qr/wildcard/, '... a wildcard, as such';
like $err{'allowed_origins.2'}, qr/user/, '... credentials, as such';
like $err{'allowed_origins.3'}, qr/path/, '... a path, as such';
like $err{favourite}, qr/unknown/, '... an unknown field, as such';
is $ua->get(url('/v1/chat/settings') => $h)->res->json->{colour}, '#8a1538', '... nothing saved';

$tx = $ua->put(url('/v1/chat/settings') => $h => json => { allowed_origins => [map { "https://s$_.example" } 1 .. 51] });
is $tx->res->code, 422, 'settings: 51 origins are too many';

# scopes: a key that reads tickets is not an admin's
for my $m (qw(get put)) {
    $tx = $ua->$m(url('/v1/chat/settings') => $hr => ($m eq 'put' ? (json => { title => 'x' }) : ()));
    is $tx->res->code, 403, "settings: $m with a tickets:read key is 403";
    is $tx->res->json->{type} =~ s{.*/}{}r, 'insufficient-scope', '... insufficient-scope';
}
is $ua->get(url('/v1/chat/settings'))->res->code, 401, 'settings: no key is 401';
is $ua->get(url('/v1/chat/settings') => $hg)->res->json->{colour}, '#1f6feb', 'settings: each tenant its own';

# bodies no client should send
$tx = $ua->put(url('/v1/chat/settings') => { %$h, 'Content-Type' => 'application/json' } => '{"title": "a",');
is $tx->res->code, 400, 'settings: malformed JSON is 400';
$tx = $ua->put(url('/v1/chat/settings') => { %$h, 'Content-Type' => 'application/json' } => "{\"title\": \"\xff\xfe\"}");
is $tx->res->code, 400, 'settings: a body that is not UTF-8 is 400';
$tx = $ua->put(url('/v1/chat/settings') => { %$h, 'Content-Type' => 'application/json' } => '{"title": "a\u0000b"}');
is $tx->res->code, 400, 'settings: a NUL in a string is 400';
$tx = $ua->put(url('/v1/chat/settings') => $h => json => { greeting => 'x' x 70000 });
is $tx->res->code, 413, 'settings: a body over the location\'s limit is 413';
$tx = $ua->put(url('/v1/chat/settings') => $h => json => ['title']);
is $tx->res->code, 422, 'settings: an array is 422';
$tx = $ua->put(url('/v1/chat/settings') => { %$h, 'Content-Type' => 'text/plain' } => 'title=x');
is $tx->res->code, 415, 'settings: not JSON is 415';
my $raw = $t->raw_request("PUT /api/v1/chat/settings HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "Authorization: Bearer $acme->{key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    "7\r\n{\"title\r\n", "9\r\n\": \"Oi\"}\r\n0\r\n\r\n");
like $raw, qr{^HTTP/1.1 200}, 'settings: a chunked body';
like $raw, qr{"title": "Oi"}, '... read whole';
$raw = $t->raw_request("PUT /api/v1/chat/settings HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "Authorization: Bearer $acme->{key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    "zz\r\n{}\r\n0\r\n\r\n");
like $raw, qr{^HTTP/1.1 400}, 'settings: a malformed chunk is 400';
# a client that leaves mid-body: the next request is served
my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port) or die $!;
print $sock "PUT /api/v1/chat/settings HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer $acme->{key}\r\n"
    . "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"title\": ";
close $sock;
is $ua->get(url('/v1/chat/settings') => $h)->res->json->{title}, 'Oi', 'settings: a client gone mid-body changed nothing';

# the business hours are the tenant's schedule for "chat", shown read-only
$tx = $ua->put(url('/v1/business-hours/chat') => $h => json => {
    timezone => 'America/Sao_Paulo', days => { map { $_ => [] } qw(mon tue wed thu fri sat sun) } });
is $tx->res->code, 200, 'hours: the chat closed all week';
$s = $ua->get(url('/v1/chat/settings') => $h)->res->json;
is $s->{business_hours}{timezone}, 'America/Sao_Paulo', 'settings: the chat\'s schedule shown';
ok !$s->{open_now}, '... closed now';
ok !exists $s->{business_hours}{auto_reply}, '... without the automatic reply of other channels';

# --- conversations ------------------------------------------------------------------

my $cust = one(qq{
    INSERT INTO helpdesk.users (tenant_id, email, name, role)
    VALUES ('$acme->{id}', 'rita\@example.com', 'Rita', 'customer') RETURNING user_id});
my $agent = one(qq{
    INSERT INTO helpdesk.users (tenant_id, email, name, role)
    VALUES ('$acme->{id}', 'ana\@acme.example', 'Ana', 'agent') RETURNING user_id});
$t->psql(qq{
    INSERT INTO helpdesk.chat_visitors (tenant_id, visitor_id, token_hash, customer_id, name, email) VALUES
        ('$acme->{id}', 'a0000000-0000-4000-8000-0000000000d1', sha256('v1'), '$cust', 'Rita', 'rita\@example.com'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-0000000000d2', sha256('v2'), NULL, NULL, NULL),
        ('$globex->{id}', 'b0000000-0000-4000-8000-0000000000d1', sha256('v3'), NULL, NULL, NULL);
    INSERT INTO helpdesk.chat_conversations (tenant_id, conversation_id, visitor_id, customer_id, status,
                                             agent_id, started_at, page_url, prechat) VALUES
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', 'a0000000-0000-4000-8000-0000000000d1', '$cust',
         'ended', '$agent', '2026-11-01T10:00:00Z', 'https://www.acme.example/pricing', '{"name": "Rita", "order": "1234"}'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c002', 'a0000000-0000-4000-8000-0000000000d1', NULL,
         'active', '$agent', '2026-11-02T10:00:00Z', NULL, '{}'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c003', 'a0000000-0000-4000-8000-0000000000d2', NULL,
         'queued', NULL, '2026-11-03T10:00:00Z', NULL, '{}'),
        ('$globex->{id}', 'b0000000-0000-4000-8000-00000000c001', 'b0000000-0000-4000-8000-0000000000d1', NULL,
         'active', NULL, '2026-11-03T11:00:00Z', NULL, '{}');
    INSERT INTO helpdesk.chat_messages (tenant_id, conversation_id, message_id, kind, author_type, author_id,
                                        author_name, body, created_at) VALUES
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1761991200000-0', 'message', 'visitor', NULL,
         'Rita', 'My invoice is wrong', '2026-11-01T10:00:00Z'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1761991200000-1', 'message', 'bot', NULL,
         NULL, 'These articles may help', '2026-11-01T10:00:00Z'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1761991209000-0', 'event', 'system', NULL,
         NULL, '', '2026-11-01T10:00:09Z'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1761991230000-0', 'message', 'agent', '$agent',
         'Ana', 'Let me check', '2026-11-01T10:00:30Z'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '1761991231000-0', 'note', 'agent', '$agent',
         'Ana', 'billing bug again', '2026-11-01T10:00:31Z'),
        ('$acme->{id}', 'a0000000-0000-4000-8000-00000000c001', '17619912300000-0', 'message', 'visitor', NULL,
         'Rita', 'Thanks', '2026-11-01T10:05:00Z'),
        ('$globex->{id}', 'b0000000-0000-4000-8000-00000000c001', '1762168800000-0', 'message', 'visitor', NULL,
         NULL, 'globex secret', '2026-11-03T11:00:00Z');
});

$tx = $ua->get(url('/v1/chat/conversations') => $hr);
is $tx->res->code, 200, 'conversations: listed with tickets:read';
my $list = $tx->res->json->{data};
is_deeply [map { $_->{id} =~ s/.*c00//r } @$list], [3, 2, 1], '... newest first, this tenant\'s only';
is $list->[2]{message_count}, 4, '... with their number of messages (notes and events aside)';
is $list->[2]{agent}{name}, 'Ana', '... their agent';
is $list->[2]{customer}{email}, 'rita@example.com', '... their customer';
is $list->[1]{customer}{email}, 'rita@example.com', '... also known by the visitor';
is $list->[2]{page}{url}, 'https://www.acme.example/pricing', '... the page it began on';

my %filter = ('status=active,queued' => [3, 2], 'status=ended' => [1],
              "customer=$cust" => [2, 1], 'customer=rita%40example.com' => [2, 1],
              'visitor=a0000000-0000-4000-8000-0000000000d2' => [3],
              'since=2026-11-02' => [3, 2], 'since=2026-11-02T10:00:01Z' => [3],
              'customer=nobody%40example.com' => []);
for my $q (sort keys %filter) {
    $tx = $ua->get(url("/v1/chat/conversations?$q") => $h);
    is_deeply [map { $_->{id} =~ s/.*c00//r } @{ $tx->res->json->{data} }], $filter{$q}, "conversations: $q";
}

# pages: a cursor, like the tickets'
my @seen;
my $next = '';
for (1 .. 4) {
    $tx = $ua->get(url('/v1/chat/conversations?limit=2' . ($next ? "&cursor=$next" : '')) => $h);
    push @seen, map { $_->{id} =~ s/.*c00//r } @{ $tx->res->json->{data} };
    $next = $tx->res->json->{next_cursor} or last;
}
is_deeply \@seen, [3, 2, 1], 'conversations: two pages of two, each once';

for my $q ('status=open', 'visitor=42', 'customer=nobody', 'since=yesterday', 'limit=0', 'limit=101',
           'cursor=bm9wZQ', 'colour=red', 'status=active&status=ended') {
    $tx = $ua->get(url("/v1/chat/conversations?$q") => $h);
    is $tx->res->code, 422, "conversations: $q is 422";
    my ($name) = $q =~ /^(\w+)/;
    is $tx->res->json->{errors}[0]{field}, $name, "... naming $name";
}
$tx = $ua->get(url('/v1/chat/conversations?customer=%FF%FE') => $h);
is $tx->res->code, 422, 'conversations: a parameter that is not UTF-8 is 422';

like $t->psql(q{SELECT detail FROM helpdesk.audit_log WHERE action = 'chat.list' ORDER BY audit_id LIMIT 1}),
    qr/"count": 3/, 'conversations: a list is audited, with what it showed';

# one conversation, with its transcript
$tx = $ua->get(url('/v1/chat/conversations/a0000000-0000-4000-8000-00000000c001') => $hr);
is $tx->res->code, 200, 'conversation: read';
my $c = $tx->res->json;
is_deeply [map { $_->{body} } @{ $c->{messages} }],
    ['My invoice is wrong', 'These articles may help', '', 'Let me check', 'billing bug again', 'Thanks'],
    '... its messages in the order of their stream ids';
is_deeply [map { $_->{author}{type} } @{ $c->{messages} }], [qw(visitor bot system agent agent visitor)],
    '... who said each';
is $c->{messages}[4]{kind}, 'note', '... internal notes marked as such';
is $c->{prechat}{order}, '1234', '... what the pre-chat form asked';
is $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'chat.read'
               AND object_id = 'a0000000-0000-4000-8000-00000000c001' AND actor_id = '$reader->{id}'}), 1,
    '... the read audited, as the key that read it';

for my $id ('b0000000-0000-4000-8000-00000000c001', 'a0000000-0000-4000-8000-00000000ffff', 'not-an-id', 'TKT-000001') {
    $tx = $ua->get(url("/v1/chat/conversations/$id") => $h);
    is $tx->res->code, 404, "conversation: $id is 404";
}
unlike $ua->get(url('/v1/chat/conversations/b0000000-0000-4000-8000-00000000c001') => $h)->res->body,
    qr/globex secret/, '... nothing of another tenant\'s shown';
is $ua->get(url('/v1/chat/conversations/b0000000-0000-4000-8000-00000000c001') => $hg)->res->code, 200,
    '... which its own tenant reads';

# --- conversion --------------------------------------------------------------------

$tx = $ua->post(url('/v1/chat/conversations/b0000000-0000-4000-8000-00000000c001/ticket') => $h);
is $tx->res->code, 404, 'convert: another tenant\'s conversation is 404';
$tx = $ua->post(url('/v1/chat/conversations/a0000000-0000-4000-8000-00000000c002/ticket') => $hr);
is $tx->res->code, 403, 'convert: a tickets:read key is 403';
$tx = $ua->post(url('/v1/chat/conversations/a0000000-0000-4000-8000-00000000c002/ticket') => $h
                => json => { subject => 'x' });
is $tx->res->code, 422, 'convert: a body with fields is 422';

my $ticket = one(qq{
    INSERT INTO helpdesk.tickets (tenant_id, number, channel, subject, requester_id)
    VALUES ('$acme->{id}', 900, 'chat', 'from a chat', '$cust') RETURNING ticket_id});
$t->psql(qq{UPDATE helpdesk.chat_conversations SET status = 'converted', ticket_id = '$ticket'
            WHERE conversation_id = 'a0000000-0000-4000-8000-00000000c001'});
$tx = $ua->post(url('/v1/chat/conversations/a0000000-0000-4000-8000-00000000c001/ticket') => $h);
is $tx->res->code, 409, 'convert: a conversation already a ticket is 409';
is $tx->res->json->{ticket}{number}, 'TKT-000900', '... naming the ticket';
is $ua->get(url('/v1/chat/conversations?status=converted') => $h)->res->json->{data}[0]{ticket}{number},
    'TKT-000900', 'conversations: a converted one names its ticket';

SKIP: {
    skip 'the conversations layer\'s chat.convert() is not in this tree', 5
        unless $t->psql(q{SELECT to_regproc('chat.convert') IS NOT NULL}) eq 't';
    $tx = $ua->post(url('/v1/chat/conversations/a0000000-0000-4000-8000-00000000c002/ticket') => $h);
    is $tx->res->code, 201, 'convert: 201';
    my $tk = $tx->res->json;
    is $tk->{channel}, 'chat', '... a ticket on the channel chat';
    like $tx->res->headers->location, qr{^/api/v1/tickets/\Q$tk->{id}\E$}, '... where it is';
    is $ua->get(url('/v1/chat/conversations/a0000000-0000-4000-8000-00000000c002') => $h)->res->json->{ticket}{number},
        $tk->{number}, '... and the conversation names it';
    is $ua->post(url('/v1/chat/conversations/a0000000-0000-4000-8000-00000000c002/ticket') => $h)->res->code, 409,
        '... once';
}

# the methods each route takes
$tx = $ua->delete(url('/v1/chat/settings') => $h);
is $tx->res->code, 405, 'settings: DELETE is 405';
like $tx->res->headers->header('Allow'), qr/GET.*PUT|PUT.*GET/, '... with Allow';
is $ua->post(url('/v1/chat/conversations') => $h => json => {})->res->code, 405, 'conversations: POST is 405';

$t->done;
