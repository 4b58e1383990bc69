# A connection's health is checked periodically: a key revoked at the
# provider turns it red even when nothing is being sent, and it turns
# green again when the provider answers.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test qw(until_true);
use Helpdesk::FakeHTTP;

my $fake = Helpdesk::FakeHTTP->new->mount('/d360' => '360dialog' => key => 'k1');
my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_outbox interval=100ms backoff=100ms attempts=2 health=1s;');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});

my $tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => '360dialog', display_phone_number => '+55 11 4000-1234', api_key => 'k1',
    base_url => $fake->url('/d360') });
is $tx->res->code, 201, 'a 360dialog number connected';
my $conn = $tx->res->json;

sub health { $ua->get($t->url("/v1/whatsapp/connections/$conn->{id}") => $h)->res->json->{health} }

ok until_true(sub { health()->{state} eq 'ok' }), 'green after registration';

# the provider starts refusing the key; nobody sends anything
$fake->mount('/d360' => '360dialog' => key => 'k1-rotated');
my $red = until_true(sub { my $x = health(); $x->{state} eq 'auth_failed' ? $x : undef }, 15);
ok $red, 'a key revoked at the provider turns the connection red by itself';
like $red->{last_error}, qr/^HTTP 401: .*Invalid api key/, 'with the error';
my @pings = grep { $_->{method} eq 'GET' && $_->{path} eq '/d360/v1/configs/webhook' } @{ $fake->refused };
ok scalar @pings, 'checked by reading the webhook configuration';
is $pings[0]{headers}{'d360-api-key'}, 'k1', 'with the key';

$fake->mount('/d360' => '360dialog' => key => 'k1');
ok until_true(sub { health()->{state} eq 'ok' }, 15), 'green again when the provider accepts it';

is_deeply [grep { ($_->{headers}{'d360-api-key'} // '') ne 'k1' || $_->{path} ne '/d360/v1/configs/webhook' }
           @{ $fake->refused }], [], 'nothing else refused';
$fake->stop;
$t->done;
