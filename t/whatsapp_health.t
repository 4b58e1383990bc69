# A connection's health is checked periodically: a key revoked at the
# provider turns it red even when nothing is being sent, and it turns
# green again when the provider answers.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test qw(until_true);
use Helpdesk::FakeHTTP;

my $fake = Helpdesk::FakeHTTP->new;
my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_outbox interval=100ms backoff=100ms attempts=2 health=1s;');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});

my $conn = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => '360dialog', display_phone_number => '+55 11 4000-1234', api_key => 'k1',
    base_url => $fake->url('/d360') })->res->json;

sub health { $ua->get($t->url("/v1/whatsapp/connections/$conn->{id}") => $h)->res->json->{health} }

ok until_true(sub { health()->{state} eq 'ok' }), 'green after registration';

# the provider starts refusing the key; nobody sends anything
$fake->script(({ status => 401, body => '{"meta":{"developer_message":"Invalid api key"}}' }) x 50);
my $red = until_true(sub { my $x = health(); $x->{state} eq 'auth_failed' ? $x : undef }, 15);
ok $red, 'a key revoked at the provider turns the connection red by itself';
like $red->{last_error}, qr/401/, 'with the error';
my @pings = grep { $_->{method} eq 'GET' && $_->{path} eq '/d360/v1/configs/webhook' } @{ $fake->requests };
ok scalar @pings, 'checked by reading the webhook configuration';
is $pings[0]{headers}{'d360-api-key'}, 'k1', 'with the key';

$fake->script();
ok until_true(sub { health()->{state} eq 'ok' }, 15), 'green again when the provider accepts it';

$fake->stop;
$t->done;
