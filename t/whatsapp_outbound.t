# WhatsApp outbound: an agent's reply goes back on WhatsApp through the
# outbox; the 24-hour window is enforced up front; templates are sent by
# use; 429/5xx are retried, refusals are not; failures (synchronous, or
# 131047 arriving later as a status) land on the ticket and as an event.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use Mojo::JSON qw(encode_json decode_json);
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::FakeHTTP;

my $fake = Helpdesk::FakeHTTP->new
    ->mount('/graph' => cloud => token => 'tok', phone_number_id => 'PNID1')
    ->mount('/d360' => '360dialog' => key => 'k360')
    ->mount('/events' => 'webhook');
my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_outbox interval=100ms backoff=200ms max_backoff=400ms attempts=3;');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});


my $tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => 'cloud', display_phone_number => '+55 11 4000-1234',
    phone_number_id => 'PNID1', access_token => 'tok', app_secret => 'sec',
    verify_token => 'v', base_url => $fake->url('/graph') });
is $tx->res->code, 201, 'Cloud API number connected';
my $conn = $tx->res->json;
is $fake->wait_for(1)->[0]{path}, '/graph/PNID1', 'its credentials checked';
my ($path) = $conn->{webhook_url} =~ m{(/whatsapp/.*)$};

$tx = $ua->post($t->url('/v1/webhooks') => $h => json => {
    url => $fake->url('/events'), events => ['whatsapp.message_failed'] });
is $tx->res->code, 201, 'webhook for failed messages registered';

sub inbound {
    my ($id, $text, $wa) = @_;
    $wa //= '5511988887777';
    my $body = encode_json({ object => 'whatsapp_business_account', entry => [{ id => 'W', changes => [{
        field => 'messages', value => { messaging_product => 'whatsapp',
            metadata => { phone_number_id => 'PNID1' },
            contacts => [{ profile => { name => 'Maria' }, wa_id => $wa }],
            messages => [{ from => $wa, id => $id, timestamp => '' . int(time), type => 'text',
                           text => { body => $text } }] } }] }] });
    return $ua->post("http://127.0.0.1:@{[$t->port]}$path" => {
        'Content-Type' => 'application/json',
        'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($body, 'sec') } => $body)->res;
}

sub status {
    my (%s) = @_;
    my $body = encode_json({ object => 'whatsapp_business_account', entry => [{ id => 'W', changes => [{
        field => 'messages', value => { messaging_product => 'whatsapp', statuses => [{ timestamp => '' . int(time), %s }] } }] }] });
    return $ua->post("http://127.0.0.1:@{[$t->port]}$path" => {
        'Content-Type' => 'application/json',
        'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($body, 'sec') } => $body)->res;
}

sub sends { [grep { $_->{path} eq '/graph/PNID1/messages' } @{ $fake->requests }] }

# the delivery state of the reply with this body, as the REST API shows it
sub delivery_of {
    my ($ticket, $body) = @_;
    my ($e) = grep { ($_->{body} // '') eq $body }
              @{ $ua->get($t->url("/v1/tickets/$ticket/events") => $h)->res->json->{data} };
    return $e ? $e->{delivery} : undef;
}
sub texts { [map { my $m = decode_json($_->{body}); $m->{text}{body} // "template $m->{template}{name}" }
             @{ sends() }[$_[0] .. $#{ sends() }]] }

# A reply the provider will see, sent after something that must not reach
# it: once the provider has it and the outbox is idle, whatever was queued
# before it has had its chance to be sent.
my $marks = 0;
sub marker {
    my ($ticket) = @_;
    my $n = ++$marks;
    $fake->script({ status => 200, body => qq{{"messages":[{"id":"wamid.MARK$n"}]}} });
    is $ua->post($t->url("/v1/tickets/$ticket/comments") => $h => json => { body => "marcador $n" })->res->code,
        201, "marker $n queued";
    ok until_true(sub { grep { ($_->{body} // '') =~ /"marcador $n"/ } @{ sends() } }), "marker $n reached the provider";
    ok $t->outbox_settled, 'the outbox is idle';
    return "marcador $n";
}

is inbound('wamid.IN1', 'Minha internet caiu')->code, 200, 'customer wrote';
my $tk = $ua->get($t->url('/v1/tickets?channel=whatsapp') => $h)->res->json->{data}[0];
ok $tk, 'WhatsApp ticket';

# a reply inside the window
$fake->script({ status => 200, body => encode_json({ messaging_product => 'whatsapp',
    contacts => [{ input => '5511988887777', wa_id => '5511988887777' }],
    messages => [{ id => 'wamid.OUT1', message_status => 'accepted' }] }) });
$tx = $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'Já estamos verificando, Maria.' });
is $tx->res->code, 201, 'reply accepted';
is $tx->res->json->{delivery}{status}, 'queued', 'the reply, as answered: queued';
is $tx->res->json->{delivery}{channel}, 'whatsapp', 'on WhatsApp';
is $tx->res->json->{delivery}{error}, undef, 'no error';
my $s = until_true(sub { my $r = sends(); @$r >= 1 ? $r : undef });
ok $s, 'sent to the provider';
my $sent = decode_json($s->[0]{body});
is $s->[0]{headers}{authorization}, 'Bearer tok', 'with the access token';
is $sent->{messaging_product}, 'whatsapp', 'Cloud API body';
is $sent->{to}, '5511988887777', 'to the wa_id the customer wrote from';
is $sent->{type}, 'text', 'as text';
is $sent->{text}{body}, 'Já estamos verificando, Maria.', 'the reply';
ok until_true(sub { $t->psql(q{SELECT status FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.OUT1'}) eq 'sent' }),
    'the returned wamid is kept, status sent';
my $d = delivery_of($tk->{id}, 'Já estamos verificando, Maria.');
is $d->{status}, 'sent', 'the API shows it sent';
like $d->{at}, qr/^\d{4}-\d\d-\d\dT/, 'since when';
is status(id => 'wamid.OUT1', status => 'delivered', recipient_id => '5511988887777',
          timestamp => '1767225600')->json->{statuses}, 1,
    'delivered status accepted';
$d = delivery_of($tk->{id}, 'Já estamos verificando, Maria.');
is $d->{status}, 'delivered', 'the API shows it delivered';
like $d->{at}, qr/^2026-01-01T00:00:00/, "at the provider's time";
is status(id => 'wamid.OUT1', status => 'read', recipient_id => '5511988887777')->json->{statuses}, 1,
    'read status accepted';
is $t->psql(q{SELECT status FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.OUT1'}), 'read', 'delivered, then read';
is delivery_of($tk->{id}, 'Já estamos verificando, Maria.')->{status}, 'read', 'the API shows it read';
is status(id => 'wamid.OUT1', status => 'sent', recipient_id => '5511988887777')->json->{statuses}, 1,
    'a late sent status accepted';
is delivery_of($tk->{id}, 'Já estamos verificando, Maria.')->{status}, 'read', 'and the state does not go back';
is $t->psql(q{SELECT event_id IS NOT NULL FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.OUT1'}), 't',
    'linked to the ticket event';

# internal notes stay inside
my $before = scalar @{ sends() };
is $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'cliente VIP', visibility => 'internal' })
    ->res->code, 201, 'an internal note written';
my $mark = marker($tk->{id});
is_deeply texts($before), [$mark], 'an internal note is not sent';
is delivery_of($tk->{id}, 'cliente VIP'), undef, 'and has no delivery';

# retried on 429 and 5xx, once only on success
$fake->script({ status => 429, body => '{"error":{"code":130429,"message":"Rate limit hit"}}' },
              { status => 502, body => 'bad gateway' },
              { status => 200, body => '{"messages":[{"id":"wamid.OUT2"}]}' });
is $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'segunda resposta' })->res->code,
    201, 'second reply queued';
ok until_true(sub { $t->psql(q{SELECT count(*) FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.OUT2'}) == 1 }),
    'delivered after a 429 and a 502';
ok $t->outbox_settled, 'the outbox is idle';
is scalar(grep { decode_json($_->{body})->{text}{body} eq 'segunda resposta' } @{ sends() }), 3,
    'three attempts, no fourth';

# dead letter after the last attempt, with the reason on the ticket
$fake->script(({ status => 503, body => 'down' }) x 3);
is $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'terceira' })->res->code,
    201, 'third reply queued';
my $ev = until_true(sub {
    my $e = $ua->get($t->url("/v1/tickets/$tk->{id}/events") => $h)->res->json->{data};
    my ($f) = grep { $_->{type} eq 'delivery_failed' } @$e; $f });
ok $ev, 'dead-lettered: the ticket says so';
$d = delivery_of($tk->{id}, 'terceira');
is $d->{status}, 'failed', 'the API shows the reply failed';
like $d->{error}{message}, qr/gave up after 3 attempts/, 'and why';
is $ev->{visibility}, 'internal', 'as an internal entry';
like $ev->{body}, qr/^Not delivered\b/, 'readable';
my $events = until_true(sub { my $r = [grep { $_->{path} eq '/events' } @{ $fake->requests }]; @$r ? $r : undef });
ok $events, 'whatsapp.message_failed webhook event sent';
is $events->[0]{headers}{'x-helpdesk-event'}, 'whatsapp.message_failed', 'named so';

# 131047 answered synchronously: no retry, the way out is named
$fake->script({ status => 400, body => '{"error":{"message":"(#131047) Re-engagement message","code":131047}}' });
$before = scalar @{ sends() };
is $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'quarta' })->res->code,
    201, 'fourth reply queued';
ok until_true(sub { $t->psql(q{SELECT count(*) FROM helpdesk.whatsapp_messages WHERE error_code = 131047}) == 1 }),
    '131047 recorded on the message';
ok until_true(sub { $t->psql(q{SELECT status FROM helpdesk.outbox WHERE kind = 'whatsapp'
                               AND payload->'message'->'text'->>'body' = 'quarta'}) eq 'dead' }),
    'its job is finished';
ok $t->outbox_settled, 'the outbox is idle';
is_deeply texts($before), ['quarta'], 'and not retried';
like $t->psql(q{SELECT body FROM helpdesk.ticket_events WHERE type = 'delivery_failed' ORDER BY event_id DESC LIMIT 1}),
    qr/template/, 'the ticket says to send a template';

# 131047 arriving later as a failed status
$fake->script({ status => 200, body => '{"messages":[{"id":"wamid.OUT9"}]}' });
is $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'quinta' })->res->code,
    201, 'fifth reply queued';
ok until_true(sub { $t->psql(q{SELECT count(*) FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.OUT9'}) == 1 }),
    'and sent';
is status(id => 'wamid.OUT9', status => 'failed', errors => [{ code => 131047, title => 'Re-engagement message' }])
    ->json->{statuses}, 1, 'the failed status accepted';
is $t->psql(q{SELECT status || ' ' || error_code FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.OUT9'}),
    'failed 131047', 'a late 131047 fails the message';
is_deeply delivery_of($tk->{id}, 'quinta')->{error}, { code => 131047, message => 'Re-engagement message' },
    'the API shows the failure with its code and reason';
is delivery_of($tk->{id}, 'quarta')->{error}{code}, 131047, 'a synchronous refusal too';
is $t->psql(q{SELECT count(*) FROM helpdesk.ticket_events WHERE type = 'delivery_failed'}), 3,
    'and lands on the ticket like the others';

# outside the window: refused up front, with the templates to use
is $ua->put($t->url('/v1/whatsapp/templates') => $h => json => {
    status_update => { name => 'atualizacao_chamado', language => 'pt_BR' },
    resolved => { name => 'chamado_resolvido' } })->res->code, 200, 'templates mapped';
is $ua->put($t->url('/v1/whatsapp/templates') => $h => json => { bogus => { name => 'x' }, resolved => {} })->res->code,
    422, 'unknown use and a template without a name: 422';
$t->psql(q{UPDATE helpdesk.whatsapp_contacts SET last_inbound_at = now() - interval '25 hours'});
my $count = $t->psql('SELECT count(*) FROM helpdesk.ticket_events');
$before = scalar @{ sends() };
$tx = $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'fora da janela' });
is $tx->res->code, 409, 'free text outside the window: 409';
like $tx->res->json->{type}, qr/whatsapp-window-closed$/, 'typed';
is_deeply [map { $_->{use} . '=' . $_->{name} } @{ $tx->res->json->{templates} }],
    ['resolved=chamado_resolvido', 'status_update=atualizacao_chamado'], 'names the templates to use';
is $t->psql('SELECT count(*) FROM helpdesk.ticket_events'), $count, 'nothing was written';

# a template by its use
$fake->script({ status => 200, body => '{"messages":[{"id":"wamid.TPL1"}]}' });
$tx = $ua->post($t->url("/v1/tickets/$tk->{id}/whatsapp-template") => $h => json => {
    use => 'status_update', parameters => ['Maria', 'aguardando peça'] });
is $tx->res->code, 201, 'template accepted outside the window';
is $tx->res->json->{delivery}{status}, 'queued', 'a template has its delivery too';
my $tpl = until_true(sub { my $r = sends(); @$r > $before ? decode_json($r->[-1]{body}) : undef });
is $tpl->{type}, 'template', 'sent as a template';
is $tpl->{template}{name}, 'atualizacao_chamado', 'the mapped template';
is $tpl->{template}{language}{code}, 'pt_BR', 'its language';
is_deeply [map { $_->{text} } @{ $tpl->{template}{components}[0]{parameters} }], ['Maria', 'aguardando peça'],
    'with its parameters';
is $ua->post($t->url("/v1/tickets/$tk->{id}/whatsapp-template") => $h => json => { use => 'reply_reminder' })
    ->res->code, 422, 'an unmapped use is 422';

# a new message from the customer opens the window again
is inbound('wamid.IN2', 'Oi de novo')->code, 200, 'the customer wrote again';
$fake->script({ status => 200, body => '{"messages":[{"id":"wamid.OUT10"}]}' });
is $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'de volta' })->res->code,
    201, 'inside the window again';

ok until_true(sub { $t->psql(q{SELECT count(*) FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.OUT10'}) == 1 }),
    'and sent';

# a reply in flight during a reload is sent once, and recorded
$fake->script({ status => 200, delay => 1.5, body => '{"messages":[{"id":"wamid.RELOAD"}]}' });
$before = scalar @{ sends() };
is $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'durante o reload' })->res->code,
    201, 'a reply queued';
ok until_true(sub { @{ sends() } > $before }), 'and in flight';
kill 'HUP', $t->nginx_pid;
ok until_true(sub { $t->psql(q{SELECT count(*) FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.RELOAD'}) == 1 }, 15),
    'a reply in flight across a reload is recorded';
ok $t->outbox_settled, 'the outbox is idle';
is scalar(grep { ($_->{text}{body} // '') eq 'durante o reload' } map { decode_json($_->{body}) }
          grep { $_->{path} eq '/graph/PNID1/messages' } @{ $fake->requests }), 1, 'and sent exactly once';

# API tickets do not go to WhatsApp
$tx = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'from the API' });
is $tx->res->code, 201, 'an API ticket';
my $api = $tx->res->json;
$before = scalar @{ sends() };
$tx = $ua->post($t->url("/v1/tickets/$api->{id}/comments") => $h => json => { body => 'ok' });
is $tx->res->code, 201, 'a reply on an API ticket';
is $tx->res->json->{delivery}, undef, 'sent out nowhere: no delivery';
$mark = marker($tk->{id});
is_deeply texts($before), [$mark], 'nothing is sent to WhatsApp';

# Meta's rate limits arrive inside an HTTP 400 (130429: the number's
# throughput, 131056: too many messages to one customer): retried, not
# given up
for my $code (130429, 131056) {
    $fake->script({ status => 400, body => encode_json({ error => { message => "($code) Rate limit hit",
                        type => 'OAuthException', code => $code, error_data => { messaging_product => 'whatsapp',
                        details => 'Rate limit hit' }, fbtrace_id => 'AbC' } }) },
                  { status => 200, body => qq{{"messages":[{"id":"wamid.RL$code"}]}} });
    $before = scalar @{ sends() };
    is $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => "limite $code" })->res->code,
        201, "reply queued ($code next)";
    ok until_true(sub { $t->psql(qq{SELECT status FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.RL$code'}) eq 'sent' }),
        "$code in a 400 is retried, and the retry is sent";
    ok $t->outbox_settled, 'the outbox is idle';
    is_deeply texts($before), ["limite $code", "limite $code"], 'two attempts';
    is $t->psql(qq{SELECT count(*) FROM helpdesk.ticket_events WHERE type = 'delivery_failed' AND body LIKE '%$code%'}),
        0, 'no failure on the ticket';
}

# 360dialog: the same reply, to its /messages with the D360-API-KEY header
{
    $tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
        provider => '360dialog', display_phone_number => '+55 11 4000-9999', api_key => 'k360',
        base_url => $fake->url('/d360') });
    is $tx->res->code, 201, '360dialog number connected';
    my $d360 = $tx->res->json;
    ok until_true(sub { grep { $_->{path} eq '/d360/v1/configs/webhook' } @{ $fake->requests } }),
        'its webhook registered';
    my ($dpath) = $d360->{webhook_url} =~ m{(/whatsapp/.*)$};
    my $res = $ua->post("http://127.0.0.1:@{[$t->port]}$dpath" => json => {
        contacts => [{ profile => { name => 'Carla' }, wa_id => '5531966665555' }],
        messages => [{ from => '5531966665555', id => 'wamid.D360IN', timestamp => '' . int(time),
                       type => 'text', text => { body => 'Oi pelo 360dialog' } }] })->res;
    is $res->code, 200, 'a customer wrote to the 360dialog number';
    my $dt = $ua->get($t->url('/v1/tickets?q=360dialog') => $h)->res->json->{data}[0];
    is $dt->{subject}, 'Oi pelo 360dialog', 'her ticket';
    $fake->script({ status => 200, body => encode_json({ messaging_product => 'whatsapp',
        contacts => [{ input => '5531966665555', wa_id => '5531966665555' }],
        messages => [{ id => 'wamid.D360OUT' }] }) });
    is $ua->post($t->url("/v1/tickets/$dt->{id}/comments") => $h => json => { body => 'Resposta pelo 360dialog' })
        ->res->code, 201, 'an agent answered';
    my $sent = until_true(sub { (grep { $_->{path} eq '/d360/messages' } @{ $fake->requests })[0] });
    ok $sent, 'sent to 360dialog'
        or diag explain [map { "$_->{method} $_->{path}" } @{ $fake->requests }[-3 .. -1]];
    is $sent->{method}, 'POST', 'by POST';
    is $sent->{headers}{'d360-api-key'}, 'k360', 'with the key';
    ok !exists $sent->{headers}{authorization}, 'and no Bearer token';
    like $sent->{headers}{'content-type'}, qr{^application/json}, 'as JSON';
    my $m = decode_json($sent->{body});
    is_deeply [@$m{qw(messaging_product to type)}, $m->{text}{body}],
        ['whatsapp', '5531966665555', 'text', 'Resposta pelo 360dialog'], 'the Cloud API message body';
    ok until_true(sub { $t->psql(q{SELECT status FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.D360OUT'}) eq 'sent' }),
        'recorded as sent';
}

is_deeply [map { "$_->{method} $_->{path}: $_->{refused}" } @{ $fake->refused }], [],
    'the providers refused nothing';
$fake->stop;
$t->done;
