# Event webhooks: registered through the API, delivered through the
# outbox, signed, retried with backoff, dead-lettered, logged, disabled
# after repeated failures and re-enabled; deliveries survive a reload.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use Mojo::JSON qw(decode_json);
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::FakeHTTP;

my $fake = Helpdesk::FakeHTTP->new->mount('/hooks' => 'webhook');
my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_outbox interval=100ms backoff=200ms max_backoff=1s '
                      . 'attempts=3 disable_after=6 timeout=2s;');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});


# registration
my $tx = $ua->post($t->url('/v1/webhooks') => $h => json => {
    url => $fake->url('/hooks/helpdesk'), events => ['ticket.created', 'ticket.comment_added'],
    description => 'billing system' });
is $tx->res->code, 201, 'webhook registered';
my $hook = $tx->res->json;
like $hook->{secret}, qr/^whsec_[A-Za-z0-9_-]{32}$/, 'secret shown on creation';
ok $hook->{enabled}, 'enabled';
my $list = $ua->get($t->url('/v1/webhooks') => $h)->res->json->{data};
is scalar @$list, 1, 'listed';
ok !exists $list->[0]{secret}, 'secret not shown again';
ok !exists $ua->get($t->url("/v1/webhooks/$hook->{id}") => $h)->res->json->{secret}, 'nor on get';

$tx = $ua->post($t->url('/v1/webhooks') => $h => json => { url => 'ftp://x', events => ['ticket.exploded'] });
is $tx->res->code, 422, 'bad url and event: 422';
is_deeply [sort map { $_->{field} } @{ $tx->res->json->{errors} }], ['events', 'url'], 'both named';
my $reader = $t->create_key($acme->{id}, 'tickets:read', 'tickets:write');
is $ua->get($t->url('/v1/webhooks') => $t->auth($reader->{key}))->res->code, 403, 'admin scope needed';
my $globex = $t->create_tenant('globex');
is $ua->get($t->url("/v1/webhooks/$hook->{id}") => $t->auth($globex->{key}))->res->code, 404,
    'another tenant cannot see it';

# a delivery, signed
$tx = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'Printer on fire' });
is $tx->res->code, 201, 'a ticket';
my $ticket = $tx->res->json;
my $reqs = $fake->wait_for(1);
is scalar @$reqs, 1, 'ticket.created delivered';
my $r = $reqs->[0];
is $r->{method}, 'POST', 'POST';
is $r->{path}, '/hooks/helpdesk', 'to the registered URL';
is $r->{headers}{'x-helpdesk-event'}, 'ticket.created', 'event header';
like $r->{headers}{'content-type'}, qr{^application/json}, 'JSON';
my $ts = $r->{headers}{'x-helpdesk-timestamp'};
ok abs($ts - time) < 60, 'timestamp is now';
is $r->{headers}{'x-helpdesk-signature'}, 'sha256=' . hmac_sha256_hex("$ts.$r->{body}", $hook->{secret}),
    'signature verifies with the secret over timestamp.body';
isnt $r->{headers}{'x-helpdesk-signature'}, 'sha256=' . hmac_sha256_hex("$ts.$r->{body}", 'whsec_wrong'),
    'and not with another secret';
my $payload = decode_json($r->{body});
is $payload->{id}, $r->{headers}{'x-helpdesk-delivery'}, 'stable delivery id in body and header';
is $payload->{type}, 'ticket.created', 'type';
is $payload->{data}{ticket}{number}, $ticket->{number}, 'the ticket';
ok $payload->{created_at}, 'created_at';

# only subscribed events
is $ua->patch($t->url("/v1/tickets/$ticket->{id}") => $h => json => { priority => 'urgent' })->res->code, 200,
    'an update (not subscribed)';
is $ua->post($t->url("/v1/tickets/$ticket->{id}/comments") => $h => json => { body => 'on it' })->res->code, 201,
    'a comment (subscribed)';
$reqs = $fake->wait_for(2);
is scalar @$reqs, 2, 'one more delivery';
is $reqs->[1]{headers}{'x-helpdesk-event'}, 'ticket.comment_added', 'the comment, not the update';
is decode_json($reqs->[1]{body})->{data}{comment}{body}, 'on it', 'with the comment';

$tx = $ua->patch($t->url("/v1/webhooks/$hook->{id}") => $h => json => {
    events => ['ticket.created', 'ticket.updated', 'ticket.comment_added'] });
is $tx->res->code, 200, 'events changed';
is $ua->patch($t->url("/v1/tickets/$ticket->{id}") => $h => json => { status => 'pending' })->res->code, 200,
    'an update';
$reqs = $fake->wait_for(3);
is $reqs->[2]{headers}{'x-helpdesk-event'}, 'ticket.updated', 'now updates arrive';
my $upd = decode_json($reqs->[2]{body})->{data};
is_deeply $upd->{changed}, ['status'], 'with what changed';
is $upd->{previous}{status}, 'open', 'and what it was';

# retries with backoff, then success
$fake->script({ status => 500 }, { status => 503, body => 'busy' });
is $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'retry me' })->res->code, 201, "ticket " . 'retry me';
$reqs = $fake->wait_for(6);
is scalar @$reqs, 6, 'two failures, then the third attempt';
my @ids = map { $_->{headers}{'x-helpdesk-delivery'} } @$reqs[3 .. 5];
is scalar(keys %{{ map { $_ => 1 } @ids }}), 1, 'same delivery id on every attempt';
cmp_ok $reqs->[5]{at} - $reqs->[3]{at}, '>=', 0.4, 'with growing delays between attempts';
my $log = until_true(sub {
    my $d = $ua->get($t->url("/v1/webhooks/$hook->{id}/deliveries") => $h)->res->json->{data};
    @$d >= 6 && $d->[0]{http_status} == 200 ? $d : undef });
ok $log, 'delivery log readable through the API';
is_deeply [map { $_->{http_status} } @$log[0 .. 2]], [200, 503, 500], 'attempts newest first';
is_deeply [map { $_->{attempt} } @$log[0 .. 2]], [3, 2, 1], 'numbered';
is $log->[1]{response}, 'busy', 'with what the receiver said';
is $log->[0]{status}, 'delivered', 'the delivery is done';

# dead letter after the last attempt
$fake->script(({ status => 500 }) x 3);
is $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'never arrives' })->res->code, 201, "ticket " . 'never arrives';
$fake->wait_for(9);
my $dead = until_true(sub {
    $t->psql(q{SELECT status || ' ' || attempts || ' ' || last_error FROM helpdesk.outbox
               WHERE payload->'data'->'ticket'->>'subject' = 'never arrives'}) =~ /^dead/ ? 1 : 0 });
ok $dead, 'dead-lettered after three attempts';
like $t->psql(q{SELECT last_error FROM helpdesk.outbox WHERE status = 'dead'}), qr/500/, 'with the reason';
ok $t->outbox_settled, 'the outbox is idle';
is scalar @{ $fake->requests }, 9, 'and not tried again';

# a receiver that hangs: the attempt times out, the next one succeeds
$fake->script({ status => 200, delay => 3 });
is $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'slow receiver' })->res->code, 201, "ticket " . 'slow receiver';
$reqs = $fake->wait_for(11, 15);
is scalar @$reqs, 11, 'timed out attempt retried';
$log = until_true(sub {
    my $d = $ua->get($t->url("/v1/webhooks/$hook->{id}/deliveries?limit=2") => $h)->res->json->{data};
    $d->[0]{http_status} && $d->[0]{http_status} == 200 ? $d : undef });
like $log->[1]{error} // '', qr/time/i, 'the first attempt timed out';

# consecutive failures disable the endpoint; re-enabling resumes
$fake->script(({ status => 500 }) x 6);
is($ua->post($t->url('/v1/tickets') => $h => json => { subject => "fail $_" })->res->code, 201, "ticket fail $_") for 1 .. 2;
my $disabled = until_true(sub {
    my $w = $ua->get($t->url("/v1/webhooks/$hook->{id}") => $h)->res->json;
    $w->{enabled} ? undef : $w }, 15);
ok $disabled, 'disabled after repeated failures';
like $disabled->{disabled_reason}, qr/6 consecutive failed deliveries/, 'says why';
my $count = scalar @{ $fake->requests };
# a second endpoint sees the same event: once it has it and the outbox is
# idle, the disabled one has had its chance
$fake->mount('/marker' => 'webhook');
$tx = $ua->post($t->url('/v1/webhooks') => $h => json => { url => $fake->url('/marker'), events => ['ticket.created'] });
is $tx->res->code, 201, 'a second endpoint';
my $marker = $tx->res->json;
is $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'while disabled' })->res->code, 201,
    'a ticket while disabled';
ok until_true(sub { grep { $_->{path} eq '/marker' } @{ $fake->requests } }), 'the second endpoint has it';
ok $t->outbox_settled, 'the outbox is idle';
is_deeply [map { $_->{path} } @{ $fake->requests }[$count .. $#{ $fake->requests }]], ['/marker'],
    'nothing is sent to a disabled endpoint';
is $ua->delete($t->url("/v1/webhooks/$marker->{id}") => $h)->res->code, 204, 'the second endpoint removed';
$count = scalar @{ $fake->requests };
is $ua->post($t->url("/v1/webhooks/$hook->{id}/ping") => $h)->res->code, 409, 'ping refused while disabled';

$tx = $ua->patch($t->url("/v1/webhooks/$hook->{id}") => $h => json => { enabled => Mojo::JSON::true });
ok $tx->res->json->{enabled}, 're-enabled';
is $tx->res->json->{consecutive_failures}, 0, 'failures reset';
is $ua->post($t->url("/v1/webhooks/$hook->{id}/ping") => $h)->res->code, 202, 'ping queued';
$reqs = $fake->wait_for($count + 1);
is $reqs->[-1]{headers}{'x-helpdesk-event'}, 'webhook.ping', 'ping delivered';

# a delivery in flight survives a reload: the old worker finishes it
$fake->script({ status => 200, delay => 1.5 });
$count = scalar @{ $fake->requests };
is $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'across a reload' })->res->code, 201, "ticket " . 'across a reload';
$fake->wait_for($count + 1);
kill 'HUP', $t->nginx_pid;
my $done = until_true(sub {
    $t->psql(q{SELECT status FROM helpdesk.outbox
               WHERE payload->'data'->'ticket'->>'subject' = 'across a reload'}) eq 'delivered' }, 15);
ok $done, 'delivered across the reload';
ok $t->outbox_settled, 'the outbox is idle';
is scalar(grep { ($_->{body} // '') =~ /across a reload/ } @{ $fake->requests }), 1, 'exactly once';

# delete
is $ua->delete($t->url("/v1/webhooks/$hook->{id}") => $h)->res->code, 204, 'deleted';
is $ua->get($t->url("/v1/webhooks/$hook->{id}") => $h)->res->code, 404, 'gone';
like $t->psql(q{SELECT string_agg(DISTINCT action, ',') FROM helpdesk.audit_log WHERE object_type = 'webhook'}),
    qr/webhook\.create.*webhook\.delete.*webhook\.update/, 'webhook changes audited';

is_deeply [map { "$_->{method} $_->{path}: $_->{refused}" } @{ $fake->refused }], [], 'the receiver refused nothing';
$fake->stop;
$t->done;
