# The chat's limits per address (helpdesk_chat_limits) count what one
# client can use: an IPv4 address, or an IPv6 /64 -- a host given a /64
# can start each conversation from another address of it, and a visitor
# drops its token to be a new one, so the address is what is left to
# count.  The client's address comes through nginx's realip module here,
# as it would behind a load balancer.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test qw(until_true);
use Helpdesk::Chat;

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_chat_limits address_conversations=2/10m;',
                server => 'set_real_ip_from 127.0.0.1;
                           real_ip_header X-Forwarded-For;
                           location /chat/ { helpdesk_chat; }');

my $acme = $t->create_tenant('acme');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled)
            VALUES ('$acme->{id}', '{https://www.acme.example}', false)});

# a new visitor (no token) from an address starts a conversation
sub start_from {
    my ($addr) = @_;
    my $v = Helpdesk::Chat->new($t, path => '/chat/v1/ws?tenant=acme',
                                origin => 'https://www.acme.example',
                                headers => { 'X-Forwarded-For' => $addr });
    my $w = $v->hello;
    die "no welcome: " . ($w->{code} // '') unless $w->{type} eq 'welcome';
    my $r = $v->say(start => prechat => { name => 'V' }, text => "hello from $addr");
    $v->close;
    return $r->{type} eq 'ack' ? 'ack' : $r->{code} // 'none';
}

is start_from('2001:db8:1:2::1'), 'ack', 'a first conversation from an IPv6 address';
is start_from('2001:db8:1:2::2'), 'ack', '... a second from another address of its /64';
is start_from('2001:db8:1:2:ffff:1:2:3'), 'rate_limited',
    'a third from yet another address of the same /64 is over the limit';
is start_from('2001:db8:1:3::1'), 'ack', '... the next /64 is another client';

is start_from('198.51.100.1'), 'ack', 'IPv4 addresses are counted one by one';
is start_from('198.51.100.2'), 'ack', '... each its own';
is start_from('198.51.100.1'), 'ack', '... the first address its second';
is start_from('198.51.100.1'), 'rate_limited', '... and over at its third';
is start_from('::ffff:198.51.100.2'), 'ack',
    'an IPv4 address mapped into IPv6 is that address, not a /64 of all of them';
is start_from('::ffff:198.51.100.3'), 'ack', '... another one too';
is start_from('::ffff:198.51.100.4'), 'ack', '... and a third';

# "email me the transcript": a few a conversation, whatever the addresses
{
    my $v = Helpdesk::Chat->new($t, path => '/chat/v1/ws?tenant=acme',
                                origin => 'https://www.acme.example',
                                headers => { 'X-Forwarded-For' => '192.0.2.77' });
    $v->hello;
    my $ack = $v->say(start => prechat => { name => 'V' }, text => 'click https://phish.example');
    my $conv = $ack->{conversation};
    ok until_true(sub { $t->psql(qq{SELECT count(*) FROM helpdesk.chat_conversations
                                    WHERE conversation_id = '$conv'}) eq '1' }, 15),
       'the conversation is in the record';
    my @r = map { $v->say(transcript => email => "victim$_\@example.com") } 1 .. 4;
    is_deeply [map { $_->{type} } @r[0 .. 2]], [qw(ack ack ack)], 'three transcripts are emailed';
    is $r[3]{code}, 'rate_limited', '... a fourth is rate_limited';
    is $t->psql(qq{SELECT count(*) FROM helpdesk.outbox WHERE event_type = 'email.chat_transcript'
                   AND target_id = '$conv'}), '3', '... and not queued';
    $v->close;
}

$t->done;
