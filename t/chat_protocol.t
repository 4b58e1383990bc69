# The chat's conversations (docs/chat-protocol.md) over real WebSockets: a
# visitor and an agent talking, acks only once a message is stored, resume
# after a reconnect with exactly the missed events, a re-sent message
# stored once, the queue with positions while the agents are at their
# limit, an offer that times out and goes to the next agent, transfer,
# end, conversion into a ticket (visible through the REST API), the record
# in PostgreSQL within a bounded time, another tenant's ids, malformed
# messages, rate limits, and 100 visitors at once.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Mojo::JSON qw(decode_json);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::Chat;

my $t = Helpdesk::Test->new->start_stack;
Helpdesk::Chat::start_nginx($t);
my $port = $t->port;
my $ua = $t->ua;
my $d = $t->dir;
my $R = "redis-cli -s $d/run/redis.sock";

my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins,
                max_chats_per_agent, accept_timeout_seconds, bot_enabled,
                waiting_message)
            VALUES ('$acme->{id}', '{https://www.acme.example}', 1, 10, false,
                    'Please wait'),
                   ('$globex->{id}', '{https://www.globex.example}', 3, 30, false, '');});

sub visitor {
    my (%o) = @_;
    return Helpdesk::Chat::visitor($t, $o{tenant} // 'acme', $o{origin} // 'https://www.acme.example');
}

# an agent of a tenant, logged in to the console, on the chat
sub agent {
    my ($tenant, $email, $name) = @_;
    my $a = Helpdesk::Chat::agent($t, $tenant, $email, $name);
    return ($a->{chat}->(), $a->{id});
}

sub xlen { my ($conv) = @_; my $n = `$R XLEN 'hd:chat:{$conv}:s'`; chomp $n; $n }

# --- a visitor and an agent ---------------------------------------------------

{
    my $early = visitor();
    ok !$early->hello->{settings}{open}, 'with no agent available the widget is told it is closed';
    $early->close;
}

my ($ana, $ana_id) = agent($acme, 'ana@acme.example', 'Ana');
my $w = $ana->hello;
is $w->{type}, 'welcome', 'the agent is welcomed';
is $w->{agent}{name}, 'Ana', '... by name';
is $w->{agent}{status}, 'available', '... available';
ok $w->{settings}{transfer_allowed}, "... told the tenant allows transfers";
is $w->{settings}{max_chats_per_agent}, 1, "... and the tenant's limit of chats";
is $w->{settings}{accept_timeout_seconds}, 10, '... and the time to accept an offer';
is_deeply $w->{queue}, [], '... with an empty queue';

my $v1 = visitor();
$w = $v1->hello(lang => 'pt-BR', page => { url => 'https://www.acme.example/pricing', title => 'Pricing' });
is $w->{type}, 'welcome', 'the visitor is welcomed';
like $w->{visitor}, qr/^[0-9a-f]{64}$/, '... with a new visitor token';
ok $w->{settings}{open}, '... open, an agent being available';
is $w->{conversation}, undef, '... and no conversation yet';
like $w->{id}, qr/^~\d+$/, 'a transient message has a "~n" id';
my $token = $w->{visitor};
is $t->psql(q{SELECT count(*) FROM helpdesk.chat_visitors WHERE token_hash = sha256('}
            . $token . q{'::bytea)}), '1', "only the token's SHA-256 is stored";

my $cid = $v1->send(start => prechat => { name => 'Rita', email => 'rita@example.com' },
                    text => 'My invoice is wrong');
my $ack = $v1->take_ack($cid);
is $ack->{type}, 'ack', 'start is acknowledged';
like $ack->{ref}, qr/^\d+-\d+$/, '... with the stored id of the first message';
my $conv = $ack->{conversation};
like $conv, qr/^[0-9a-f-]{36}$/, '... and the conversation';
is `$R XRANGE 'hd:chat:{$conv}:s' $ack->{ref} $ack->{ref} | head -1` =~ s/\s+$//r, $ack->{ref},
    'the acknowledged id is in the stream (acked once stored)';
my $m = $v1->take('message', cid => $cid);
is $m->{id}, $ack->{ref}, 'the visitor receives its own message with that id';
is $m->{text}, 'My invoice is wrong', '... and its text';
like $m->{at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, '... and its time';
my $first_msg = $m->{id};

my $offer = $ana->take('offer', conversation => $conv);
ok $offer, 'the agent is offered the conversation';
is $offer->{visitor}{name}, 'Rita', "... with the visitor's name";
ok $ana->take('queue'), 'the agent sees the queue';

$ack = $ana->say(accept => conversation => $conv);
is $ack->{type}, 'ack', 'the agent accepts';
my $joined = $v1->take('joined');
is $joined->{agent}{name}, 'Ana', 'the visitor sees the agent join';
$m = $ana->take('message', conversation => $conv);
is $m->{text}, 'My invoice is wrong', 'the agent receives the conversation so far';

$ack = $ana->say(message => conversation => $conv, text => 'Olá Rita');
is $ack->{type}, 'ack', "the agent's message is acknowledged";
$m = $v1->take('message', text => 'Olá Rita');
is $m->{from}{kind}, 'agent', "the visitor receives the agent's message";
is $m->{from}{name}, 'Ana', '... with the name';
is $m->{id}, $ack->{ref}, '... under the acknowledged id';
my $ola = $m->{id};

# delivered, then read: each side's pointers, told to the other side
$ack = $v1->say(delivered => upto => $ola);
is $ack->{type}, 'ack', "the visitor says the agent's message was delivered";
my $stt = $ana->take('status', from => 'visitor', delivered => $ola);
ok $stt, '... the agent is told it was delivered';
is $stt->{read}, '', '... and not read';
$ack = $ana->say(delivered => conversation => $conv, upto => $first_msg);
is $ack->{type}, 'ack', "the agent says the visitor's message was delivered";
$stt = $v1->take('status', from => 'agent', delivered => $first_msg);
ok $stt, '... the visitor is told';
is $stt->{read}, '', '... not read yet';
is $v1->say(delivered => upto => 'DROP TABLE')->{code}, 'bad_message', 'a delivered pointer that is no id: bad_message';
$ack = $ana->say(read => conversation => $conv, upto => $first_msg);
$stt = $v1->take('status', from => 'agent', read => $first_msg);
is $stt && $stt->{delivered}, $first_msg, 'read: delivered and read, both told';

$v1->send(typing => on => \1);
ok $ana->take('typing', from => 'visitor'), "the agent sees the visitor typing";
$ana->send(typing => conversation => $conv, on => \1);
ok $v1->take('typing', from => 'agent'), "the visitor sees the agent typing";

$ack = $ana->say(note => conversation => $conv, text => 'internal: check invoice 42');
is $ack->{type}, 'ack', 'an internal note is stored';
ok $ana->take('note'), 'the agent sees the note';

# a message re-sent after a lost ack
$cid = Helpdesk::Chat::cid();
my $a1 = $v1->say(message => cid => $cid, text => 'once');
my $a2 = $v1->say(message => cid => $cid, text => 'once');
is $a2->{ref}, $a1->{ref}, 'a re-sent cid is acknowledged again with the same id';
ok $ana->take('message', text => 'once'), 'the agent receives it';
ok !$ana->take('message', text => 'once', timeout => 1), '... once';
is scalar(grep { ($_->{cid} // '') eq $cid && $_->{type} eq 'message' } @{ $v1->{seen} }), 1,
    '... and the visitor sees it once';
ok !grep({ $_->{type} eq 'note' } @{ $v1->{seen} }), 'the visitor never sees a note';

$ack = $v1->say(read => upto => $a1->{ref});
$stt = $ana->take('status', read => $a1->{ref});
ok $stt, "the agent sees the visitor's read pointer";
is $stt->{delivered}, $a1->{ref}, '... what is read was delivered';
$v1->say(delivered => upto => $ola);
$stt = $ana->take('status', from => 'visitor');
is_deeply [$stt->{read}, $stt->{delivered}], [$a1->{ref}, $a1->{ref}], 'pointers never move back';

# --- resume after a reconnect ----------------------------------------------------

my $last = $a1->{ref};
$v1->close;
my @sent;
for my $i (1 .. 3) {
    push @sent, $ana->say(message => conversation => $conv, text => "missed $i")->{ref};
}
$v1 = visitor();
$w = $v1->hello(visitor => $token, last => $last);
is $w->{visitor}, $token, 'the returning visitor keeps its token';
is $w->{conversation}{id}, $conv, '... and finds its open conversation';
is $w->{conversation}{status}, 'active', '... active';
is_deeply $w->{conversation}{delivered}, { visitor => $a1->{ref}, agent => $first_msg },
    '... with both sides\' delivered pointers';
is_deeply $w->{conversation}{read}, { visitor => $a1->{ref}, agent => $first_msg }, '... and read pointers';
my @got = grep { $_->{type} eq 'message' } $v1->drain(1.5);
is_deeply [map { $_->{id} } @got], \@sent, 'exactly the missed messages, once, in order';
ok !grep({ $_->{type} eq 'note' } @got), '... and no note';

$ack = $v1->say(message => text => 'back again');
ok $ana->take('message', text => 'back again'), 'the conversation goes on after the reconnect';

# --- the record ------------------------------------------------------------------

ok until_true(sub {
        $t->psql(qq{SELECT count(*) FROM helpdesk.chat_messages WHERE conversation_id = '$conv'})
            == xlen($conv) }, 3),
   'every event is in PostgreSQL within 3 s';
is $t->psql(qq{SELECT status || ' ' || agent_id FROM helpdesk.chat_conversations
               WHERE conversation_id = '$conv'}), "active $ana_id", '... and the conversation';
is $t->psql(qq{SELECT count(*) FROM helpdesk.chat_messages WHERE conversation_id = '$conv'
               AND client_id = '$cid'}), '1', '... the re-sent message once';
{
    # the times the script keeps with the conversation, as the row has them
    my ($fr, $lm) = split /\n/, `$R HMGET 'hd:chat:{$conv}:h' fr lm`;
    ok $fr && $lm && $lm >= $fr, "the agent's first reply and the last message are kept";
    is $t->psql(qq{SELECT (extract(epoch FROM first_response_at) * 1000)::bigint || ' '
                          || (extract(epoch FROM last_message_at) * 1000)::bigint
                   FROM helpdesk.chat_conversations WHERE conversation_id = '$conv'}),
       "$fr $lm", '... and recorded with the conversation';
}
is $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log WHERE object_id = '$conv'
               AND action IN ('chat.start', 'chat.joined')}), '2', 'start and accept are audited';

# --- the queue ---------------------------------------------------------------------

my $v2 = visitor();
$v2->hello;
$ack = $v2->say(start => prechat => { name => 'Bia' }, text => 'hi');
my $conv2 = $ack->{conversation};
my $q = $v2->take('queue');
is $q->{position}, 1, 'a second visitor waits first in line while the agent is at the limit';
ok defined $q->{estimate_seconds}, '... with an estimate';
is $q->{message}, 'Please wait', "... and the tenant's waiting message";
my $v3 = visitor();
$v3->hello;
$ack = $v3->say(start => prechat => { name => 'Caio' }, text => 'hello');
my $conv3 = $ack->{conversation};
is $v3->take('queue')->{position}, 2, 'a third waits second';
ok !$ana->take('offer', conversation => $conv2, timeout => 0.5), 'an agent at the limit gets no offer';

# --- transfer and the timed-out offer --------------------------------------------------

my ($bruno, $bruno_id) = agent($acme, 'bruno@acme.example', 'Bruno');
$bruno->hello;
$offer = $bruno->take('offer', conversation => $conv2);
ok $offer, 'a new available agent is offered the first in line';
is $offer->{expires_in}, 10, "... for the tenant's accept timeout";
my $t0 = time;
$offer = $bruno->take('offer', conversation => $conv3, timeout => 15);
ok $offer, 'after the timeout the agent is offered the next conversation instead';
cmp_ok time - $t0, '>=', 8, '... not before the timeout';

$ack = $bruno->say(accept => conversation => $conv3);
is $ack->{type}, 'ack', 'the agent accepts that one';
ok $v3->take('joined'), '... and the visitor sees it';

# Ana transfers Rita to Bruno once he is free
$ack = $bruno->say(end => conversation => $conv3);
is $ack->{type}, 'ack', 'an agent ends a conversation';
ok $v3->take('ended', by => 'agent'), '... the visitor is told';
$ack = $ana->say(transfer => conversation => $conv, to => { agent => $bruno_id },
                 note => 'invoice 42, see note');
is $ack->{type}, 'ack', 'the agent transfers the conversation';
ok $ana->take('offer', conversation => $conv2, timeout => 5),
   'the conversation whose offer timed out goes to the next agent with room';
my $tr = $v1->take('transferred');
is $tr->{to}{name}, 'Bruno', 'the visitor sees to whom';
$offer = $bruno->take('offer', conversation => $conv, timeout => 5);
ok $offer, 'the other agent is offered it';
$bruno->say(accept => conversation => $conv);
ok $bruno->take('note', text => 'invoice 42, see note', timeout => 5),
   '... and receives the history with the note';
ok !grep({ $_->{type} eq 'note' } @{ $v1->{seen} }), 'the visitor still never sees a note';

# --- conversion into a ticket ---------------------------------------------------------

$ack = $bruno->say(convert => conversation => $conv);
is $ack->{type}, 'ack', 'the agent converts the conversation into a ticket';
my $cv = $v1->take('converted', timeout => 5);
like $cv->{ticket}{number}, qr/^TKT-\d+$/, 'the visitor sees the ticket number';
ok $bruno->take('converted'), '... and the agent too';
my $tk = $ua->get($t->url("/v1/tickets/$cv->{ticket}{number}") => $t->auth($acme->{key}))->res->json;
is $tk->{channel}, 'chat', 'the ticket is a chat ticket';
is $tk->{requester}{email}, 'rita@example.com', "... of the pre-chat's customer";
my $ev = $ua->get($t->url("/v1/tickets/$cv->{ticket}{number}/events") => $t->auth($acme->{key}))->res->json;
my @bodies = map { $_->{body} // '' } @{ $ev->{data} // $ev };
ok((grep { $_ eq 'Olá Rita' } @bodies), 'the transcript is in its events') or diag explain \@bodies;
ok((grep { $_ eq 'missed 3' } @bodies), '... all of it');
is $t->psql(qq{SELECT status FROM helpdesk.chat_conversations WHERE conversation_id = '$conv'}),
   'converted', 'the conversation is converted in the record';
$ack = $v1->say(message => text => 'still there?');
is $ack->{code}, 'conflict', 'a converted conversation takes no more messages';

# --- ending -------------------------------------------------------------------------

$ack = $v2->say(end => ());
is $ack->{type}, 'ack', 'a waiting visitor ends its conversation';
ok $v2->take('ended', by => 'visitor'), '... and is told';

# --- another tenant's -----------------------------------------------------------------

my ($gina) = agent($globex, 'gina@globex.example', 'Gina');
$gina->hello;
for my $op (qw(accept message end convert read)) {
    my $r = $gina->say($op => conversation => $conv2, text => 'x', upto => '1-0');
    is $r->{code}, 'not_found', "another tenant's conversation: $op is not_found";
}
my $r = $gina->say(typing => conversation => $conv2, on => \1);
is $r->{code}, 'not_found', "... typing too";

# --- malformed messages ----------------------------------------------------------------

my $v4 = visitor();
$v4->send_raw('not json');
is $v4->take('error')->{code}, 'bad_message', 'not JSON: bad_message';
$v4->send_raw('[1,2]');
is $v4->take('error')->{code}, 'bad_message', 'not an object: bad_message';
$v4->send_raw('{"type":"hello"}');
is $v4->take('error')->{code}, 'bad_message', 'no cid: bad_message';
$v4->send_raw('{"type":"hello","cid":"bad cid!"}');
is $v4->take('error')->{code}, 'bad_message', 'a malformed cid: bad_message';
$v4->send_raw('{"type":"hello","cid":' . '"' . ('x' x 65) . '"}');
is $v4->take('error')->{code}, 'bad_message', 'a cid too long: bad_message';
$r = $v4->say(message => text => 'before hello');
is $r->{code}, 'bad_message', 'before hello: bad_message';
$v4->hello;
$r = $v4->say(message => text => 'no conversation');
is $r->{code}, 'conflict', 'a message without a conversation: conflict';
$r = $v4->say(start => prechat => { email => 'nobody@example.com' });
is $r->{code}, 'bad_message', 'a required pre-chat field missing: bad_message';
$r = $v4->say(start => prechat => { name => 'X', email => 'not an address' });
is $r->{code}, 'bad_message', 'an email that is none: bad_message';
$r = $v4->say(start => prechat => { name => ['X'] });
is $r->{code}, 'bad_message', 'a name of the wrong type: bad_message';
$r = $v4->say(frobnicate => ());
is $r->{code}, 'bad_message', 'an unknown type: bad_message';
$ack = $v4->say(start => prechat => { name => 'Dora' });
is $ack->{type}, 'ack', 'a start without text';
$r = $v4->say(message => text => 42);
is $r->{code}, 'bad_message', 'text of the wrong type: bad_message';
$r = $v4->say(read => upto => 'DROP TABLE');
is $r->{code}, 'bad_message', 'a read pointer that is no id: bad_message';
$r = $v4->say(message => text => 'still fine');
is $r->{type}, 'ack', 'errors leave the connection open';

# the visitor and an agent are answered alike for the same malformed message
# (what is checked before whose conversation it is)
my $upload = '00000000-0000-4000-8000-000000000000';
for my $bad ([message => text => 42], [message => text => ''], [message => ()],
             [message => attachments => 'x'], [message => attachments => [42]],
             [message => attachments => ['short']],
             [message => attachments => [($upload) x 11]],
             [read => upto => 'DROP TABLE'], [delivered => upto => ''],
             [delivered => upto => '1' x 42], [typing => on => 'yes'], [typing => ()]) {
    my ($type, @f) = @$bad;
    my $what = "$type " . Mojo::JSON::encode_json({ @f });
    my $vr = $v4->say($type => @f);
    my $ar = $gina->say($type => conversation => $conv2, @f);
    is $vr->{code}, 'bad_message', "$what: bad_message";
    ok length($vr->{detail} // ''), '... with a detail';
    is_deeply [$ar->{code}, $ar->{detail}], [$vr->{code}, $vr->{detail}], "... the same for an agent";
}
$r = $v4->say(message => text => 'fine again');
is $r->{type}, 'ack', '... and the conversation goes on';

# --- rate limits ------------------------------------------------------------------------

my ($limited, $n) = (undef, 0);
for (1 .. 40) {
    $r = $v4->say(message => text => "burst $_");
    if ($r->{type} eq 'error') { $limited = $r; last }
    $n++;
}
ok $limited, 'a burst of messages is limited';
is $limited->{code}, 'rate_limited', '... rate_limited';
cmp_ok $limited->{retry_after}, '>=', 1, '... with retry_after';
cmp_ok $n, '>=', 25, '... after a reasonable number';

$v4->send(message => text => 'x' x 20000);
Helpdesk::Chat::pump(sub { $v4->closed }, 5);
is $v4->closed->[0], 1009, "a message over the tenant's maximum is closed with 1009 by the transport";

# --- the fallback: server-sent events and POST ----------------------------------------

{
    my $post = sub {
        my ($token, $m) = @_;
        my $tx = $ua->post("http://127.0.0.1:$port/chat/v1/send?tenant=acme"
                           => { Origin => 'https://www.acme.example',
                                (defined $token ? ('X-Chat-Stream' => $token) : ()) }
                           => json => $m);
        return $tx->res->json;
    };
    my $wel = $post->(undef, { type => 'hello', cid => 'p1' });
    is $wel->{type}, 'welcome', "a first POST's hello, without a token, is answered with the welcome";
    my $tok = $wel->{stream};
    like $tok, qr/^[0-9a-f]{64}$/, '... which gives the stream token';
    $wel = $post->($tok, { type => 'hello', cid => 'p1b' });
    is $wel->{visitor}, $tok, '... and the next with it, for that visitor';
    my $a = $post->($tok, { type => 'start', cid => 'p2', prechat => { name => 'Eva' }, text => 'by POST' });
    is $a->{type}, 'ack', 'a POST starts a conversation: its one answer is the ack';
    my $pconv = $a->{conversation};
    my $a2 = $post->($tok, { type => 'start', cid => 'p2', prechat => { name => 'Eva' }, text => 'by POST' });
    is $a2->{ref}, $a->{ref}, '... and the same POST again the same ack';
    is $post->($tok, { type => 'typing', cid => 'p3', on => \1 })->{type}, 'ack', 'typing by POST is acknowledged';
    is $post->($tok, { type => 'message', cid => 'p4', text => 42 })->{code}, 'bad_message',
       'a bad message by POST: its error';

    # the stream: every event of the conversation, then live
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5) or die $!;
    print $s "GET /chat/v1/sse?tenant=acme&stream=$tok HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           . "Origin: https://www.acme.example\r\nAccept: text/event-stream\r\n\r\n";
    my $buf = '';
    my $read = sub {
        my ($re, $secs) = @_;
        my $until = time + ($secs // 5);
        while ($buf !~ $re && time < $until) {
            my $rin = '';
            vec($rin, fileno($s), 1) = 1;
            next unless select(my $rout = $rin, undef, undef, 0.2);
            sysread($s, my $b, 65536) or last;
            $buf .= $b;
        }
        return $buf =~ $re;
    };
    ok $read->(qr/"type":"welcome"/), 'the stream greets its visitor';
    ok $read->(qr/by POST/), '... and sends the conversation so far';
    my $p5 = $post->($tok, { type => 'message', cid => 'p5', text => 'second by POST' });
    is $p5->{type}, 'ack', 'a message by POST';
    ok $read->(qr/second by POST/), '... comes on the stream';
    my ($n) = scalar(() = $buf =~ /second by POST/g);
    is $n, 1, '... once';
    like $buf, qr/\nid: \Q$p5->{ref}\E\n/, '... with its id as the event id' if $buf =~ /\nid: /;
    close $s;

    # a stream open before the POST that starts the conversation (as the
    # widget does: its hello, its stream, then the pre-chat form)
    my $w2 = $post->(undef, { type => 'hello', cid => 'q1' });
    $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5) or die $!;
    print $s "GET /chat/v1/sse?tenant=acme&stream=$w2->{stream} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           . "Origin: https://www.acme.example\r\nAccept: text/event-stream\r\n\r\n";
    $buf = '';
    ok $read->(qr/"type":"welcome"/), 'a new visitor\'s stream, before any conversation';
    is $post->($w2->{stream}, { type => 'start', cid => 'q2', prechat => { name => 'Ivo' },
                                text => 'streamed from the start' })->{type}, 'ack', 'a POST starts one';
    ok $read->(qr/streamed from the start/), '... and the stream follows it';
    $a = $post->($w2->{stream}, { type => 'message', cid => 'q3', text => 'and goes on' });
    ok $read->(qr/and goes on/), '... live';
    close $s;
}

# --- 100 visitors at once ----------------------------------------------------------------------

{
    $t->psql(qq{UPDATE helpdesk.chat_widgets SET bot_enabled = true WHERE tenant_id = '$acme->{id}'});
    # the burst above is over: a new window for the address
    system("$R --scan --pattern 'hd:chat:rl:*' | xargs -r $R DEL >/dev/null");
    my @vs = map { visitor() } 1 .. 100;
    # each as the widget does: a message answered "unavailable" (the
    # database's queue full, under valgrind) is sent again, same cid
    my %cids;
    my $until = sub {
        my ($type, $make, $done, $secs) = @_;
        $cids{$_} = $make->($_) for 0 .. $#vs;
        my %tried;
        return Helpdesk::Chat::pump(sub {
            for my $i (0 .. $#vs) {
                my @e = grep { $_->{type} eq 'error' && $_->{cid} eq $cids{$i}
                               && ($_->{code} // '') eq 'unavailable' } @{ $vs[$i]{seen} };
                next unless @e > ($tried{$i} // 0);
                $tried{$i} = @e;
                $vs[$i]->send($type, cid => $cids{$i}, %{ $make->($i, 1) });
            }
            !grep { !$done->($_) } 0 .. $#vs;
        }, $secs);
    };
    ok $until->('hello', sub { $_[1] ? {} : $vs[$_[0]]->send('hello') },
                sub { grep { $_->{type} eq 'welcome' } @{ $vs[$_[0]]{seen} } }, 60),
       '100 visitors are welcomed';
    ok $until->('start', sub { $_[1] ? { prechat => { name => "V$_[0]" }, text => "question $_[0]" }
                                     : $vs[$_[0]]->send(start => prechat => { name => "V$_[0]" },
                                                        text => "question $_[0]") },
                sub { my $i = $_[0]; grep { $_->{type} eq 'ack' && $_->{cid} eq $cids{$i} } @{ $vs[$i]{seen} } }, 60),
       '... every start is acknowledged';
    ok Helpdesk::Chat::pump(sub {
           !grep { !grep { $_->{type} eq 'message' && ($_->{from}{kind} // '') eq 'bot' } @{ $_->{seen} } } @vs
       }, 60), '... and each is answered by the bot';
    my @errors = grep { ($_->{code} // '') ne 'unavailable' }
                 map { grep { $_->{type} eq 'error' } @{ $_->{seen} } } @vs;
    is scalar(@errors), 0, '... without an error (but "try again")' or diag explain \@errors;
    my ($bot) = grep { $_->{type} eq 'message' && ($_->{from}{kind} // '') eq 'bot' } @{ $vs[0]{seen} };
    ok exists $bot->{articles}, "the bot's answer has the knowledge base's suggestions";
    is_deeply $bot->{actions}, ['talk_to_person'], '... and offers a person';
    my $h = $vs[0]->say(handover => ());
    is $h->{type}, 'ack', '"talk to a person" is acknowledged';
    ok $vs[0]->take('queue', timeout => 5), '... and the visitor waits in the queue';
    $_->close for @vs;
}

$_->close for $v1, $v2, $v3, $ana, $bruno, $gina;

# --- a conversion through the REST API reaches the live chat ---------------------------------

{
    my $rest = $t->create_tenant('rest');
    $t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled, max_chats_per_agent)
                VALUES ('$rest->{id}', '{https://www.rest.example}', false, 1)});
    my ($rex, $rex_id) = agent($rest, 'rex@rest.example', 'Rex');
    $rex->hello;
    my $v = visitor(tenant => 'rest', origin => 'https://www.rest.example');
    $v->hello;
    my $a = $v->say(start => prechat => { name => 'Lia', email => 'lia@example.com' }, text => 'Preciso de ajuda');
    my $c = $a->{conversation};
    $rex->take('offer', conversation => $c);
    $rex->say(accept => conversation => $c);
    $v->say(message => text => 'Ainda aí?');
    ok $rex->take('message', conversation => $c, text => 'Ainda aí?'), 'a live chat';
    ok until_true(sub { $t->psql(qq{SELECT count(*) FROM helpdesk.chat_messages WHERE conversation_id = '$c'})
                        == xlen($c) }, 3), '... in the record';
    my $tx = $ua->post($t->url("/v1/chat/conversations/$c/ticket") => $t->auth($rest->{key}));
    is $tx->res->code, 201, 'converted through the REST API';
    my $number = $tx->res->json->{number};
    like $number, qr/^TKT-\d{6}$/, '... its number';
    my $cv = $v->take('converted', timeout => 5);
    is $cv && $cv->{ticket}{number}, $number, 'the visitor is told, with the number';
    $cv = $rex->take('converted', conversation => $c, timeout => 5);
    is $cv && $cv->{ticket}{number}, $number, '... and the agent';
    is $v->say(message => text => 'e agora?')->{code}, 'conflict', 'the chat is over';
    is decode_json(`$R HGET 'hd:chat:ag:{$rest->{id}}' $rex_id`)->{c}, 0, "the agent's load is released";
    my $v2 = visitor(tenant => 'rest', origin => 'https://www.rest.example');
    $v2->hello;
    my $c2 = $v2->say(start => prechat => { name => 'Teo' }, text => 'oi')->{conversation};
    ok $rex->take('offer', conversation => $c2, timeout => 5), '... so the next chat is offered to him';
    is $t->psql(qq{SELECT count(*) FROM helpdesk.tickets WHERE tenant_id = '$rest->{id}'}), 1, 'one ticket';
    my $ev = $ua->get($t->url("/v1/tickets/$number/events") => $t->auth($rest->{key}))->res->json;
    ok((grep { ($_->{body} // '') eq 'Ainda aí?' } @{ $ev->{data} // $ev }), '... with the transcript');
    $tx = $ua->post($t->url("/v1/chat/conversations/$c/ticket") => $t->auth($rest->{key}));
    is $tx->res->code, 409, 'converting again is 409';
    $_->close for $v, $v2, $rex;
}

# --- deadlines: a claim is a lease; the automatic conversion ----------------------------------

{
    my $lt = $t->create_tenant('lease');
    $t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled,
                    max_chats_per_agent, accept_timeout_seconds, auto_ticket_minutes)
                VALUES ('$lt->{id}', '{https://www.lease.example}', false, 1, 30, 1)});
    my ($lia, $lia_id) = agent($lt, 'lia@lease.example', 'Lia');
    my ($max, $max_id) = agent($lt, 'max@lease.example', 'Max');
    $lia->hello;
    $max->hello;
    my $v = visitor(tenant => 'lease', origin => 'https://www.lease.example');
    $v->hello;
    my $t0 = int(time * 1000);
    my $c = $v->say(start => prechat => { name => 'Ada' }, text => 'Olá')->{conversation};
    my ($x, $y, $x_id) = $lia->take('offer', conversation => $c, timeout => 3) ? ($lia, $max, $lia_id)
                                                                               : ($max, $lia, $max_id);
    my $member = "offer|$lt->{id}|$c|$x_id";
    ok `$R ZSCORE hd:chat:timers '$member'` =~ /\d/, "the offer's deadline is set";

    # a worker takes the deadline and dies before acting: the workers are
    # stopped, the deadline made due and taken by hand as a worker would
    my @w = $t->worker_pids;
    kill 'STOP', @w;
    `$R ZADD hd:chat:timers XX 1 '$member'`;
    my $script = do { local (@ARGV, $/) = "$Helpdesk::Test::TOP/src/chat/ngx_http_helpdesk_chat.lua"; <> };
    open my $cli, '-|', split(/ /, $R), 'EVAL', $script, '0', 'timers', '{"n":64,"lease":2000}' or die $!;
    my @taken = <$cli>;
    close $cli;
    kill 'CONT', @w;
    ok((grep { /^\Q$member\E$/ } @taken), 'a claim takes the deadline');
    ok $y->take('offer', conversation => $c, timeout => 10),
       'its claimer gone, another worker takes it again after the lease: the offer moves on';
    is `$R ZSCORE hd:chat:timers '$member'` =~ s/\s+//gr, '', '... and it is released once acted upon';

    # the automatic conversion: a minute after the start (made due here)
    my $auto = "auto|$lt->{id}|$c";
    my $at = `$R ZSCORE hd:chat:timers '$auto'`;
    ok $at >= $t0 + 60_000 && $at <= $t0 + 65_000, 'auto_ticket_minutes: a deadline a minute after the start';
    $y->say(accept => conversation => $c);
    ok $v->take('joined', timeout => 5), 'the chat is taken';
    my $now = int(time * 1000);
    `$R ZADD hd:chat:timers XX $now '$auto'`;
    my $cv = $v->take('converted', timeout => 10);
    ok $cv, 'still open when it is due: the chat becomes a ticket';
    is $cv && $cv->{by}, 'system', '... by the system';
    like $cv && $cv->{ticket}{number}, qr/^TKT-\d{6}$/, '... its number to the visitor';
    ok $y->take('converted', conversation => $c, timeout => 5), '... and to the agent';
    my $tk = $cv ? $ua->get($t->url("/v1/tickets/$cv->{ticket}{number}") => $t->auth($lt->{key}))->res->json : {};
    is $tk->{channel}, 'chat', '... a chat ticket in the REST API';
    is `$R ZSCORE hd:chat:timers '$auto'` =~ s/\s+//gr, '', '... and the deadline is gone';
    $_->close for $v, $lia, $max;
}

# --- the tenant's reply timeout ---------------------------------------------------------------

{
    my $slow = $t->create_tenant('slow');
    $t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled,
                    reply_timeout_seconds, on_reply_timeout)
                VALUES ('$slow->{id}', '{https://www.slow.example}', false, 30, 'ticket')});
    my ($sam) = agent($slow, 'sam@slow.example', 'Sam');
    $sam->hello;
    my $v = visitor(tenant => 'slow', origin => 'https://www.slow.example');
    $v->hello;
    my $a = $v->say(start => prechat => { name => 'Zoe', email => 'zoe@example.com' }, text => 'anyone?');
    $sam->take('offer', conversation => $a->{conversation});
    $sam->say(accept => conversation => $a->{conversation});
    $v->say(message => text => 'hello?');
    my $t0 = time;
    my $cv = $v->take('converted', timeout => 45);
    ok $cv, 'no reply within the tenant\'s time: the chat becomes a ticket (on_reply_timeout: ticket)';
    cmp_ok time - $t0, '>=', 25, '... not before the time';
    is $cv->{by}, 'system', '... by the system';
    like $cv->{ticket}{number}, qr/^TKT-/, '... and the visitor has its number';
    $_->close for $v, $sam;
}

$t->done;
