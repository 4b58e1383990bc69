# WhatsApp inbound: connections through the API, the webhook handshake and
# signature, every message type, batches, the legacy v1 shape, duplicate
# deliveries, hidden numbers, and status receipts that only move forward.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use Mojo::JSON qw(encode_json decode_json);
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::FakeHTTP;
use Mojo::Promise;

my $fake = Helpdesk::FakeHTTP->new
    ->mount('/graph/v21.0' => cloud => token => 'EAAG-token', phone_number_id => '106540352242922')
    ->mount('/d360' => '360dialog' => key => 'd360-key');
my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_outbox interval=100ms backoff=200ms attempts=3;');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});


# connections
my $tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => 'cloud', display_phone_number => '+55 11 4000-1234',
    phone_number_id => '106540352242922', access_token => 'EAAG-token',
    app_secret => 'app-secret-123', verify_token => 'verify-me',
    base_url => $fake->url('/graph/v21.0') });
is $tx->res->code, 201, 'Cloud API number connected';
my $cloud = $tx->res->json;
like $cloud->{webhook_url}, qr{^http://localhost:@{[$t->port]}/whatsapp/[A-Za-z0-9_-]{32}$},
    "webhook URL to give Meta, on the provider's name";
is $cloud->{click_to_chat_url}, 'https://wa.me/551140001234', 'wa.me link';
unlike $tx->res->body, qr/EAAG-token|app-secret-123|verify-me/, 'secrets are never returned';

$tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => '360dialog', display_phone_number => '+55 11 4000-9999',
    api_key => 'd360-key', base_url => $fake->url('/d360') });
is $tx->res->code, 201, '360dialog number connected';
my $d360 = $tx->res->json;
unlike $tx->res->body, qr/d360-key/, 'API key never returned';

$tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => 'cloud', display_phone_number => 'call me', api_key => 'x' });
is $tx->res->code, 422, 'incomplete Cloud connection refused';
my %err = map { $_->{field} => 1 } @{ $tx->res->json->{errors} };
ok $err{$_}, "names $_" for qw(phone_number_id access_token app_secret verify_token api_key display_phone_number);
is $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => 'cloud', display_phone_number => '+1 555', phone_number_id => '106540352242922',
    access_token => 'a', app_secret => 'b', verify_token => 'c' })->res->code, 409, 'same number twice: 409';

# registration and health, through the outbox
my $reqs = $fake->wait_for(2);
my ($reg) = grep { $_->{path} eq '/d360/v1/configs/webhook' } @$reqs;
ok $reg, '360dialog webhook registered';
is $reg->{headers}{'d360-api-key'}, 'd360-key', 'with the API key';
is decode_json($reg->{body})->{url}, $d360->{webhook_url}, 'pointing at our URL';
my ($chk) = grep { $_->{path} eq '/graph/v21.0/106540352242922' } @$reqs;
ok $chk, 'Cloud credentials checked';
is $chk->{headers}{authorization}, 'Bearer EAAG-token', 'with the token';
my $health = until_true(sub {
    my $c = $ua->get($t->url("/v1/whatsapp/connections/$d360->{id}") => $h)->res->json;
    $c->{health}{state} eq 'ok' ? $c : undef });
ok $health, 'health turns ok';

# the key revoked at 360dialog: the fake refuses it as 360dialog does
is $ua->patch($t->url("/v1/whatsapp/connections/$d360->{id}") => $h => json => { api_key => 'revoked' })
    ->res->code, 200, 'the key changed';
$health = until_true(sub {
    my $c = $ua->get($t->url("/v1/whatsapp/connections/$d360->{id}") => $h)->res->json;
    $c->{health}{state} eq 'auth_failed' ? $c : undef });
ok $health, 'a refused key turns the connection red';
like $health->{health}{last_error}, qr/^HTTP 401: .*Invalid api key/, 'with the error';
ok((grep { ($_->{headers}{'d360-api-key'} // '') eq 'revoked' } @{ $fake->refused }),
   'the revoked key was the one refused');
is $ua->patch($t->url("/v1/whatsapp/connections/$d360->{id}") => $h => json => { api_key => 'd360-key' })
    ->res->code, 200, 'the right key again';

my $list = $ua->get($t->url('/v1/whatsapp/connections') => $h)->res->json->{data};
is scalar @$list, 2, 'both listed';

# the Cloud API handshake
my $hook = $cloud->{webhook_url};
my ($path) = $hook =~ m{(/whatsapp/.*)$};
$tx = $ua->get("http://127.0.0.1:@{[$t->port]}$path?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444");
is $tx->res->code, 200, 'handshake accepted';
is $tx->res->body, '1158201444', 'challenge echoed verbatim';
is $ua->get("http://127.0.0.1:@{[$t->port]}$path?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")
    ->res->code, 403, 'wrong verify token: 403';
is $ua->get("http://127.0.0.1:@{[$t->port]}/whatsapp/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA?hub.mode=subscribe")
    ->res->code, 404, 'unknown webhook: 404';

sub cloud_post {
    my ($body, %o) = @_;
    my $sig = $o{signature} // 'sha256=' . hmac_sha256_hex($body, 'app-secret-123');
    my %hd = ('Content-Type' => 'application/json');
    $hd{'X-Hub-Signature-256'} = $sig if length $sig;
    return $ua->post("http://127.0.0.1:@{[$t->port]}$path" => \%hd => $body)->res;
}

sub envelope {
    my (%v) = @_;
    return encode_json({ object => 'whatsapp_business_account', entry => [{ id => 'WABA1', changes => [{
        field => 'messages', value => { messaging_product => 'whatsapp',
            metadata => { display_phone_number => '551140001234', phone_number_id => '106540352242922' },
            %v } }] }] });
}

my $ts = time - 60;
my $first = envelope(
    contacts => [{ profile => { name => 'Maria Silva' }, wa_id => '5511988887777' }],
    messages => [{ from => '5511988887777', id => 'wamid.A1', timestamp => "$ts", type => 'text',
                   text => { body => 'Meu servidor caiu!' } }]);

is cloud_post($first, signature => 'sha256=' . ('0' x 64))->code, 401, 'wrong signature: 401';
is cloud_post($first, signature => '')->code, 401, 'missing signature: 401';
is cloud_post($first, signature => 'sha256=' . hmac_sha256_hex($first . ' ', 'app-secret-123'))->code, 401,
    'signature of another body: 401';
is $t->psql('SELECT count(*) FROM helpdesk.whatsapp_messages'), 0, 'nothing stored from refused deliveries';

my $res = cloud_post($first);
is $res->code, 200, 'signed delivery accepted';
is $res->json->{message}, 1, 'one message stored';

my $tickets = $ua->get($t->url('/v1/tickets?channel=whatsapp') => $h)->res->json->{data};
is scalar @$tickets, 1, 'a WhatsApp ticket was opened';
my $tk = $tickets->[0];
is $tk->{subject}, 'Meu servidor caiu!', 'subject from the first text';
is $tk->{requester}{name}, 'Maria Silva', 'requester is the contact';
is $tk->{channel}, 'whatsapp', 'channel whatsapp';

# a byte-identical retry changes nothing
$res = cloud_post($first);
is $res->code, 200, 'retry acknowledged';
is $res->json->{duplicate}, 1, 'as a duplicate';
is $t->psql('SELECT count(*) FROM helpdesk.tickets'), 1, 'no second ticket';
is $t->psql('SELECT count(*) FROM helpdesk.ticket_events'), 1, 'no second event';

# every message type, in one batched delivery from two contacts
my @m = (
    { type => 'image', image => { id => 'MEDIA1', mime_type => 'image/jpeg', sha256 => 'x', caption => 'foto do erro' } },
    { type => 'document', document => { id => 'MEDIA2', mime_type => 'application/pdf', filename => 'log.pdf' } },
    { type => 'audio', audio => { id => 'MEDIA3', mime_type => 'audio/ogg; codecs=opus', voice => \1 } },
    { type => 'video', video => { id => 'MEDIA4', mime_type => 'video/mp4' } },
    { type => 'sticker', sticker => { id => 'MEDIA5', mime_type => 'image/webp', animated => \0 } },
    { type => 'location', location => { latitude => -23.55, longitude => -46.63, name => 'Escritório', address => 'Av. Paulista' } },
    { type => 'contacts', contacts => [{ name => { formatted_name => 'João Técnico' }, phones => [{ phone => '+55 11 97777-0000' }] }] },
    { type => 'interactive', interactive => { type => 'button_reply', button_reply => { id => 'csat_5', title => 'Excelente' } } },
    { type => 'interactive', interactive => { type => 'list_reply', list_reply => { id => 'opt2', title => 'Financeiro' } } },
    { type => 'button', button => { payload => 'REOPEN', text => 'Reabrir chamado' } },
    { type => 'unsupported', errors => [{ code => 131051, title => 'Message type unknown' }] },
    { type => 'reaction', reaction => { message_id => 'wamid.A1', emoji => "\x{1F44D}" } },
);
my $i = 0;
my @msgs = map { { from => '5511988887777', id => 'wamid.B' . $i++, timestamp => "$ts", %$_ } } @m;
push @msgs, { from => '5521977776666', id => 'wamid.C1', timestamp => "$ts", type => 'text', text => { body => 'Olá, sou o Pedro' } };
my $batch = envelope(
    contacts => [{ profile => { name => 'Maria Silva' }, wa_id => '5511988887777' },
                 { profile => { name => 'Pedro' }, wa_id => '5521977776666' }],
    messages => \@msgs);
$res = cloud_post($batch);
is $res->code, 200, 'batch accepted';
is $res->json->{message}, 12, 'twelve messages became history';
is $res->json->{reaction}, 1, 'one reaction';

$tickets = $ua->get($t->url('/v1/tickets?channel=whatsapp') => $h)->res->json->{data};
is scalar @$tickets, 2, 'the second contact got a ticket of their own';
my $events = $ua->get($t->url("/v1/tickets/$tk->{id}/events") => $h)->res->json->{data};
is scalar @$events, 12, "Maria's messages appended to her open ticket";
my %by = map { ($_->{data}{whatsapp}{type} // '') . ($_->{body} // '') => $_ } @$events;
ok $by{'imagefoto do erro'}, 'image with caption';
is $by{'imagefoto do erro'}{data}{whatsapp}{media}{media_id}, 'MEDIA1', 'media id kept for download';
ok $by{'documentlog.pdf'}, 'document with its file name';
ok((grep { $_->{data}{whatsapp}{type} eq 'audio' && $_->{data}{whatsapp}{media}{voice} } @$events), 'voice note');
ok((grep { $_->{data}{whatsapp}{type} eq 'video' } @$events), 'video');
ok((grep { $_->{data}{whatsapp}{type} eq 'sticker' } @$events), 'sticker');
ok((grep { ($_->{body} // '') =~ /Escritório Av\. Paulista \(-23\.55, -46\.63\)/ } @$events), 'location');
ok((grep { ($_->{body} // '') =~ /João Técnico \+55 11 97777-0000/ } @$events), 'shared contact');
ok $by{'interactiveExcelente'}, 'button reply';
ok $by{'interactiveFinanceiro'}, 'list reply';
ok $by{'buttonReabrir chamado'}, 'template quick-reply button';
ok $by{'unsupported[unsupported message]'}, 'unsupported kept as a placeholder';
ok !(grep { ($_->{data}{whatsapp}{type} // '') eq 'reaction' } @$events), 'a reaction is not a new message';
like $t->psql(q{SELECT reactions::text FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.A1'}),
    qr/\x{1F44D}|\\ud83d|👍/, 'it annotates the message it reacts to';
is $events->[0]{actor}{name}, 'Maria Silva', 'the customer is the actor';
is $events->[1]{channel}, 'whatsapp', 'on the WhatsApp channel';

# a ticket waiting on the customer reopens when they answer
is $ua->patch($t->url("/v1/tickets/$tk->{id}") => $h => json => { status => 'pending' })->res->code, 200,
    'ticket set pending';
is cloud_post(envelope(contacts => [{ profile => { name => 'Maria Silva' }, wa_id => '5511988887777' }],
    messages => [{ from => '5511988887777', id => 'wamid.D1', timestamp => "" . time, type => 'text',
                   text => { body => 'Segue o print' } }]))->json->{message}, 1, 'the answer stored';
is $ua->get($t->url("/v1/tickets/$tk->{id}") => $h)->res->json->{status}, 'open', 'pending -> open on reply';

# a resolved ticket is not reused
is $ua->patch($t->url("/v1/tickets/$tk->{id}") => $h => json => { status => 'resolved' })->res->code, 200,
    'ticket resolved';
is cloud_post(envelope(contacts => [{ profile => { name => 'Maria Silva' }, wa_id => '5511988887777' }],
    messages => [{ from => '5511988887777', id => 'wamid.E1', timestamp => "" . time, type => 'text',
                   text => { body => 'Outro problema agora' } }]))->json->{message}, 1, 'the new message stored';
is scalar @{ $ua->get($t->url('/v1/tickets?channel=whatsapp&requester_email=x%40y.z') => $h)->res->json->{data} }, 0,
    'filters still apply';
$tickets = $ua->get($t->url('/v1/tickets?channel=whatsapp') => $h)->res->json->{data};
is $tickets->[0]{subject}, 'Outro problema agora', 'after resolution, a new ticket';

# a hidden number: only the business-scoped user id
$res = cloud_post(envelope(
    contacts => [{ profile => { name => 'Ana', username => 'ana.s' }, user_id => 'BR.1349000000000001' }],
    messages => [{ from_user_id => 'BR.1349000000000001', id => 'wamid.F1', timestamp => "" . time,
                   type => 'text', text => { body => 'Sem número' } }]));
is $res->json->{message}, 1, 'a contact without a phone number is accepted';
is $t->psql(q{SELECT user_id_bsuid || ' ' || coalesce(wa_id, '-') || ' ' || username FROM helpdesk.whatsapp_contacts WHERE name = 'Ana'}),
    'BR.1349000000000001 - ana.s', 'keyed by its user id';

# the 360dialog v1 shape, authenticated by the URL
my ($d360path) = $d360->{webhook_url} =~ m{(/whatsapp/.*)$};
$res = $ua->post("http://127.0.0.1:@{[$t->port]}$d360path" => json => {
    contacts => [{ profile => { name => 'Carla' }, wa_id => '5531966665555' }],
    messages => [{ from => '5531966665555', id => 'gBGGFlB5YjhvAgkTFPVeSWkXzTU', timestamp => "" . time,
                   type => 'text', text => { body => 'Via 360dialog v1' } }] })->res;
is $res->code, 200, 'v1 delivery accepted without a signature';
is $res->json->{message}, 1, 'and stored';
ok $ua->get($t->url('/v1/tickets?q=360dialog') => $h)->res->json->{data}[0], 'as a ticket';
(my $wrong = $d360path) =~ s/.$/ $& eq 'A' ? 'B' : 'A' /e;
is $ua->post("http://127.0.0.1:@{[$t->port]}$wrong" => json => {})->res->code, 404, 'a wrong token is 404';

# statuses only move forward
$t->psql(qq{INSERT INTO helpdesk.whatsapp_messages (tenant_id, connection_id, wamid, direction, type, status)
            VALUES ('$acme->{id}', '$cloud->{id}', 'wamid.OUT1', 'out', 'text', 'queued')});
for my $st ('sent', 'read', 'delivered') {
    $res = cloud_post(envelope(statuses => [{ id => 'wamid.OUT1', status => $st, timestamp => "" . time,
                                              recipient_id => '5511988887777' }]));
    is $res->json->{statuses}, 1, "status $st accepted";
}
is $t->psql(q{SELECT status FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.OUT1'}), 'read',
    'sent, read, delivered: stays read';
is cloud_post(envelope(statuses => [{ id => 'wamid.OUT1', status => 'read', timestamp => "" . time }]))->code, 200,
    'a repeated status acknowledged';
is $t->psql(q{SELECT count(*) FROM helpdesk.whatsapp_statuses WHERE wamid = 'wamid.OUT1'}), 3,
    'a repeated status is deduplicated';
$t->psql(qq{INSERT INTO helpdesk.whatsapp_messages (tenant_id, connection_id, wamid, direction, type, status)
            VALUES ('$acme->{id}', '$cloud->{id}', 'wamid.OUT2', 'out', 'text', 'sent')});
is cloud_post(envelope(statuses => [{ id => 'wamid.OUT2', status => 'failed', timestamp => "" . time,
    errors => [{ code => 131047, title => 'Re-engagement message' }] }]))->json->{statuses}, 1, 'a failed status accepted';
is $t->psql(q{SELECT status || ' ' || error_code || ' ' || error_title FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.OUT2'}),
    'failed 131047 Re-engagement message', 'a failure is recorded with its code and title';

# first messages of a new contact arriving together, on many connections
# to both workers: one contact, one ticket, every message once
{
    my @p;
    for my $n (1 .. 24) {
        my $b = envelope(contacts => [{ profile => { name => 'Rush' }, wa_id => '5511955554444' }],
            messages => [{ from => '5511955554444', id => "wamid.R$n", timestamp => "" . time,
                           type => 'text', text => { body => "rush $n" } }]);
        push @p, $ua->post_p("http://127.0.0.1:@{[$t->port]}$path" => {
            'Content-Type' => 'application/json',
            'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($b, 'app-secret-123') } => $b);
    }
    my @codes;
    Mojo::Promise->all(@p)->then(sub { @codes = map { $_->[0]->res->code } @_ })->wait;
    is_deeply [sort @codes], [(200) x 24], 'twenty-four concurrent first messages accepted';
    $t->spread_ok(qr{^POST /whatsapp/\[redacted\] }, 'first messages of one contact');
    is $t->psql(q{SELECT count(*) FROM helpdesk.whatsapp_contacts WHERE wa_id = '5511955554444'}), 1, 'one contact';
    is $t->psql(q{SELECT count(DISTINCT ticket_id) FROM helpdesk.whatsapp_messages WHERE wamid LIKE 'wamid.R%'}), 1,
        'one ticket';
    is $t->psql(q{SELECT count(*) || ' ' || count(DISTINCT wamid) FROM helpdesk.whatsapp_messages WHERE wamid LIKE 'wamid.R%'}),
        '24 24', 'every message stored exactly once';
    is $t->psql(q{SELECT count(*) FROM helpdesk.ticket_events e JOIN helpdesk.whatsapp_messages m
                  ON m.tenant_id = e.tenant_id AND m.event_id = e.event_id WHERE m.wamid LIKE 'wamid.R%'}), 24,
        'each with one ticket event';
}

# first messages of many new contacts at once, on both workers: a contact
# and a ticket each, numbered without a gap or a repeat
{
    my $numbers = $t->psql(q{SELECT count(*) FROM helpdesk.tickets});
    my (@p, %code);
    for my $n (1 .. 30) {
        my $from = 5511944440000 + $n;
        my $b = envelope(contacts => [{ profile => { name => "Contato $n" }, wa_id => "$from" }],
            messages => [{ from => "$from", id => "wamid.N$n", timestamp => "" . time,
                           type => 'text', text => { body => "primeira mensagem $n" } }]);
        push @p, $ua->post_p("http://127.0.0.1:@{[$t->port]}$path" => {
            'Content-Type' => 'application/json',
            'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($b, 'app-secret-123') } => $b)
            ->then(sub { $code{$n} = $_[0]->res->code });
    }
    Mojo::Promise->all(@p)->wait;
    is_deeply [grep { $code{$_} != 200 } 1 .. 30], [], 'thirty first messages of thirty contacts accepted';
    $t->spread_ok(qr{^POST /whatsapp/\[redacted\] }, 'first messages of many contacts');
    is $t->psql(q{SELECT count(*) || ' ' || count(DISTINCT wa_id) FROM helpdesk.whatsapp_contacts
                  WHERE wa_id LIKE '55119444400%'}), '30 30', 'one contact each';
    is $t->psql(q{SELECT count(*) || ' ' || count(DISTINCT wamid) || ' ' || count(DISTINCT ticket_id)
                  FROM helpdesk.whatsapp_messages WHERE wamid LIKE 'wamid.N%'}), '30 30 30',
        'every message stored once, each on its own ticket';
    is $t->psql(q{SELECT count(*) || ' ' || count(DISTINCT number) || ' ' || (max(number) - min(number) + 1)
                  FROM helpdesk.tickets WHERE subject LIKE 'primeira mensagem %'}), '30 30 30',
        'ticket numbers unique and without a gap';
    is $t->psql(q{SELECT count(*) FROM helpdesk.tickets}), $numbers + 30, 'and no other ticket';
}

# deliveries that share a transaction: one that fails does not take the
# others with it (a trigger makes one fail, as a broken row would)
{
    $t->psql(q{CREATE FUNCTION helpdesk.test_boom() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN IF NEW.wamid = 'wamid.BOOM' THEN RAISE EXCEPTION 'boom'; END IF;
               RETURN NEW; END $$;
               CREATE TRIGGER test_boom BEFORE INSERT ON helpdesk.whatsapp_messages
               FOR EACH ROW EXECUTE FUNCTION helpdesk.test_boom()});
    my (@p, %code);
    for my $n (1 .. 12) {
        my $id = $n == 5 ? 'wamid.BOOM' : "wamid.M$n";
        my $from = 5511966660000 + $n;
        my $b = envelope(contacts => [{ profile => { name => "Many $n" }, wa_id => "$from" }],
            messages => [{ from => "$from", id => $id, timestamp => "" . time,
                           type => 'text', text => { body => "many $n" } }]);
        push @p, $ua->post_p("http://127.0.0.1:@{[$t->port]}$path" => {
            'Content-Type' => 'application/json',
            'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($b, 'app-secret-123') } => $b)
            ->then(sub { $code{$id} = $_[0]->res->code });
    }
    Mojo::Promise->all(@p)->wait;
    is $code{'wamid.BOOM'}, 500, 'the failing delivery is refused, so that its provider retries';
    is_deeply [grep { $code{$_} != 200 } grep { $_ ne 'wamid.BOOM' } sort keys %code], [],
        'the eleven others are acknowledged';
    is $t->psql(q{SELECT count(*) FROM helpdesk.whatsapp_messages m JOIN helpdesk.ticket_events e
                  ON e.tenant_id = m.tenant_id AND e.event_id = m.event_id
                  WHERE m.wamid LIKE 'wamid.M%'}), 11, 'and stored, each with its ticket event';
    $t->psql(q{DROP TRIGGER test_boom ON helpdesk.whatsapp_messages; DROP FUNCTION helpdesk.test_boom()});
    my $b = envelope(contacts => [{ wa_id => '5511966660005' }],
        messages => [{ from => '5511966660005', id => 'wamid.BOOM', timestamp => "" . time,
                       type => 'text', text => { body => 'many 5' } }]);
    is cloud_post($b)->json->{message}, 1, 'its retry is stored';
}

# bad input
$res = cloud_post(envelope(contacts => [{ wa_id => '5511911112222' }],
    messages => [{ from => '5511911112222', id => 'wamid.T1', timestamp => 'yesterday', type => 'text',
                   text => { body => 'sem hora' } }, { id => 'wamid.T2' }, 'not an object'],
    statuses => [{ id => 'wamid.X', status => 'delivered', timestamp => [] }, {}]));
is $res->code, 200, 'odd fields are tolerated, not refused for a week of retries';
is $res->json->{message}, 1, 'what can be stored is stored';
$res = cloud_post('{"entry": [');
is $res->code, 400, 'malformed JSON: 400';
$res = cloud_post(encode_json({ object => 'whatsapp_business_account', entry => 'nonsense' }));
is $res->code, 200, 'an envelope without entries is acknowledged';
is $ua->put("http://127.0.0.1:@{[$t->port]}$path")->res->code, 405, 'PUT: 405';

# another tenant sees none of it
my $globex = $t->create_tenant('globex');
is scalar @{ $ua->get($t->url('/v1/tickets') => $t->auth($globex->{key}))->res->json->{data} }, 0,
    'another tenant sees no WhatsApp ticket';
is $ua->get($t->url("/v1/whatsapp/connections/$cloud->{id}") => $t->auth($globex->{key}))->res->code, 404,
    'nor the connection';

# delete: the webhook stops routing
is $ua->delete($t->url("/v1/whatsapp/connections/$d360->{id}") => $h)->res->code, 204, 'deleted';
ok until_true(sub { $ua->post("http://127.0.0.1:@{[$t->port]}$d360path" => json => {})->res->code == 404 }, 8),
    'its webhook is gone within seconds';

is_deeply [map { "$_->{method} $_->{path}: $_->{refused}" } @{ $fake->refused }],
    [map { "$_->{method} $_->{path}: $_->{refused}" } grep { ($_->{headers}{'d360-api-key'} // '') eq 'revoked' } @{ $fake->refused }],
    'the providers refused nothing but the revoked key';
# the token is the connection's credential (all of it, for 360dialog), and
# nginx names the request line in what it logs of a request (a body past
# client_body_buffer_size is one warning each, before the handler runs)
my ($cloudpath) = $cloud->{webhook_url} =~ m{(/whatsapp/.*)$};
is $ua->post("http://127.0.0.1:@{[$t->port]}$cloudpath" => { 'X-Hub-Signature-256' => 'sha256=' . '0' x 64 }
             => encode_json({ object => 'whatsapp_business_account', pad => 'x' x 40000 }))->res->code, 401,
    'a large delivery with a wrong signature: 401';
like $t->error_log, qr{buffered to a temporary file}, 'the error log has lines of the webhook requests';
unlike $t->error_log, qr{/whatsapp/[A-Za-z0-9_-]{16}}, 'without a token';
like $t->error_log, qr{request: "POST /whatsapp/\[redacted\] HTTP/1\.1"}, 'their request line redacted';

$fake->stop;
$t->done;
