# Business hours per tenant and channel: outside them a WhatsApp customer
# gets one automatic reply per conversation window, not one per message.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use Mojo::JSON qw(encode_json decode_json);
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::FakeHTTP;

my $fake = Helpdesk::FakeHTTP->new->mount('/graph' => cloud => token => 'tok', phone_number_id => 'PN1');
my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_outbox interval=100ms backoff=200ms attempts=3;');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});


my $tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => 'cloud', display_phone_number => '+55 11 4000-1234', phone_number_id => 'PN1',
    access_token => 'tok', app_secret => 'sec', verify_token => 'v', base_url => $fake->url('/graph') });
is $tx->res->code, 201, 'a Cloud API number connected';
my $conn = $tx->res->json;
is $fake->wait_for(1)->[0]{path}, '/graph/PN1', 'its credentials checked';
my ($path) = $conn->{webhook_url} =~ m{(/whatsapp/.*)$};

sub inbound {
    my ($id, $text, $wa) = @_;
    my $body = encode_json({ object => 'whatsapp_business_account', entry => [{ id => 'W', changes => [{
        field => 'messages', value => { messaging_product => 'whatsapp',
            contacts => [{ profile => { name => 'Cliente' }, wa_id => $wa }],
            messages => [{ from => $wa, id => $id, timestamp => '' . int(time), type => 'text', text => { body => $text } }] } }] }] });
    return $ua->post("http://127.0.0.1:@{[$t->port]}$path" => { 'Content-Type' => 'application/json',
        'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($body, 'sec') } => $body)->res;
}
sub sends { [grep { ($_->{text}{body} // '') !~ /^marcador / }
             map { decode_json($_->{body}) } grep { $_->{path} eq '/graph/PN1/messages' } @{ $fake->requests }] }

# An agent's reply the provider will see, on the first customer's ticket,
# after something that must not reach it: once the provider has it and the
# outbox is idle, an automatic reply queued before it has had its chance.
my $marks = 0;
sub marker {
    my $n = ++$marks;
    my $ticket = $t->psql(q{SELECT ticket_id FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.1'});
    is $ua->post($t->url("/v1/tickets/$ticket/comments") => $h => json => { body => "marcador $n" })->res->code,
        201, "marker $n queued";
    ok until_true(sub { grep { $_->{path} eq '/graph/PN1/messages' && $_->{body} =~ /"marcador $n"/ } @{ $fake->requests } }),
        "marker $n reached the provider";
    ok $t->outbox_settled, 'the outbox is idle';
}

# no schedule: always open, no automatic reply
$tx = $ua->get($t->url('/v1/business-hours/whatsapp') => $h);
is $tx->res->code, 200, 'read';
ok $tx->res->json->{always_open} && $tx->res->json->{open_now}, 'always open by default';
is inbound('wamid.1', 'oi', '5511900000001')->code, 200, 'a customer writes';
marker();
is scalar @{ sends() }, 0, 'no automatic reply when always open';

# bad schedules
$tx = $ua->put($t->url('/v1/business-hours/whatsapp') => $h => json => {
    timezone => 'Mars/Olympus', days => { mon => [['18:00', '08:00']], funday => [] },
    holidays => ['25/12'], auto_reply => { enabled => 'yes' }, colour => 'blue' });
is $tx->res->code, 422, 'a bad schedule is 422';
my %err = map { $_->{field} => $_->{message} } @{ $tx->res->json->{errors} };
ok $err{$_}, "names $_" for ('timezone', 'days.mon', 'days.funday', 'holidays', 'auto_reply', 'colour');
is $ua->get($t->url('/v1/business-hours/fax') => $h)->res->code, 422, 'unknown channel';

# closed all week (no spans), today is a holiday too
my $today = `date -u +%Y-%m-%d`; chomp $today;
$tx = $ua->put($t->url('/v1/business-hours/whatsapp') => $h => json => {
    timezone => 'America/Sao_Paulo',
    days => { map { $_ => [] } qw(mon tue wed thu fri sat sun) },
    holidays => [$today] });
is $tx->res->code, 200, 'schedule saved';
ok !$tx->res->json->{open_now}, 'closed now';
like $tx->res->json->{auto_reply}{text}, qr/^Olá! Nosso horário de atendimento é de segunda a sexta, das 08h às 18h\./,
    'the default reply is the Portuguese one';

is inbound('wamid.2', 'preciso de ajuda', '5511900000002')->code, 200, 'a customer writes after hours';
my $s = until_true(sub { my $r = sends(); @$r ? $r : undef });
ok $s, 'an automatic reply is sent outside business hours';
is $s->[0]{to}, '5511900000002', 'to the customer';
like $s->[0]{text}{body}, qr/^Olá! Nosso horário de atendimento é de segunda a sexta, das 08h às 18h\..*Seu chamado foi registrado/s,
    'with the configured text';

is inbound('wamid.3', 'alguém aí?', '5511900000002')->code, 200, 'writes again';
is inbound('wamid.4', 'urgente', '5511900000002')->code, 200, 'and again';
marker();
is scalar @{ sends() }, 1, 'once per conversation window, not once per message';
my $tk = $ua->get($t->url('/v1/tickets?channel=whatsapp&q=ajuda') => $h)->res->json->{data}[0];
my @auto = grep { $_->{data}{auto_reply} } @{ $ua->get($t->url("/v1/tickets/$tk->{id}/events") => $h)->res->json->{data} };
is scalar @auto, 1, 'the automatic reply is in the ticket history';
is $auto[0]{actor}{name}, 'Automatic reply', 'as such';

# a new window, a new reply
$t->psql(q{UPDATE helpdesk.whatsapp_contacts SET auto_reply_at = now() - interval '25 hours'});
is inbound('wamid.5', 'bom dia', '5511900000002')->code, 200, 'writes a day later';
ok until_true(sub { @{ sends() } == 2 }), 'a new conversation window gets its own reply';

# custom text; open hours; disabled
is $ua->put($t->url('/v1/business-hours/whatsapp') => $h => json => {
    timezone => 'UTC', days => { map { $_ => [['00:00', '24:00']] } qw(mon tue wed thu fri sat sun) } })->res->code, 200,
    'open all day saved';
ok $ua->get($t->url('/v1/business-hours/whatsapp') => $h)->res->json->{open_now}, 'open all day';
is inbound('wamid.6', 'olá', '5511900000003')->code, 200, 'a customer writes in hours';
marker();
is scalar @{ sends() }, 2, 'no automatic reply inside business hours';

is $ua->put($t->url('/v1/business-hours/whatsapp') => $h => json => {
    timezone => 'UTC', days => {}, auto_reply => { enabled => Mojo::JSON::false } })->res->code, 200,
    'automatic reply turned off';
is inbound('wamid.7', 'olá de novo', '5511900000004')->code, 200, 'a customer writes';
marker();
is scalar @{ sends() }, 2, 'none when the automatic reply is off';

is $ua->put($t->url('/v1/business-hours/whatsapp') => $h => json => {
    timezone => 'UTC', days => {}, auto_reply => { text => 'Fechado. Respondemos amanhã.' } })->res->code, 200,
    'a text of its own';
is inbound('wamid.8', 'e agora?', '5511900000005')->code, 200, 'a customer writes';
$s = until_true(sub { my $r = sends(); @$r == 3 ? $r : undef });
is $s->[2]{text}{body}, 'Fechado. Respondemos amanhã.', 'the configured text';

is $ua->get($t->url('/v1/business-hours/whatsapp') => $t->auth($t->create_key($acme->{id}, 'tickets:read')->{key}))
    ->res->code, 403, 'admin scope needed';

is_deeply [map { "$_->{method} $_->{path}: $_->{refused}" } @{ $fake->refused }], [], 'the provider refused nothing';
$fake->stop;
$t->done;
