# The chat's conversations under what a review found (docs/chat-protocol.md):
# an agent stops listening to a conversation once it is no longer theirs
# (transferred, ended) and may not type into it; only the assigned agent or
# an admin converts, ends or transfers a chat; an agent who leaves while its
# hello is in flight is not left "available"; a visitor whose token finds
# no visitor twice is told to try again (not looked up forever); one entry
# that PostgreSQL refuses does not hold back the record (it goes to the
# dead-letter stream), and large entries are written in bounded batches,
# none lost; the bot's links are absolute, on the tenant's portal.
#
# One worker: a stalled persistence job would not be hidden by another.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Mojo::JSON qw(decode_json);
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::Portal;
use Helpdesk::Chat;

my $t = Helpdesk::Test->new(workers => 1)->start_stack;
Helpdesk::Chat::start_nginx($t, http => 'helpdesk_link_scheme http port=8080;');
my $port = $t->port;
my $ua = $t->ua;
my $d = $t->dir;
my $R = "redis-cli -s $d/run/redis.sock";

my $acme = $t->create_tenant('acme');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins,
                max_chats_per_agent, accept_timeout_seconds, bot_enabled)
            VALUES ('$acme->{id}', '{https://www.acme.example}', 3, 30, false)});

sub visitor { Helpdesk::Chat::visitor($t, acme => 'https://www.acme.example') }

# a user of the tenant (an agent, or an admin), logged in to the console,
# on the chat, not yet greeted
sub agent {
    my ($email, $name, $role) = @_;
    my $a = Helpdesk::Chat::agent($t, $acme, $email, $name, role => $role);
    return ($a->{chat}->(), $a->{id});
}

sub agent_rec {
    my ($id) = @_;
    my $j = `$R HGET 'hd:chat:ag:{$acme->{id}}' $id`;
    chomp $j;
    return $j eq '' ? {} : decode_json($j);
}

sub subscribers {
    my ($conv) = @_;
    my @r = split /\n/, `$R PUBSUB NUMSUB 'hd:chat:{$conv}'`;
    return $r[1] // 0;
}

# --- an agent after a transfer --------------------------------------------------------

my ($ana, $ana_id) = agent('ana@acme.example', 'Ana');
my ($bruno, $bruno_id) = agent('bruno@acme.example', 'Bruno');
is $ana->hello->{type}, 'welcome', 'two agents are welcomed';
$bruno->hello;

my $v = visitor();
$v->hello;
my $ack = $v->say(start => prechat => { name => 'Rita' }, text => 'my invoice');
my $conv = $ack->{conversation};
my $offer = $ana->take('offer', conversation => $conv) // $bruno->take('offer', conversation => $conv);
# whoever was offered it, Ana takes it from the queue
$ack = $ana->say(accept => conversation => $conv);
is $ack->{type}, 'ack', 'Ana accepts the conversation';
ok $ana->take('message', text => 'my invoice'), '... and receives it';
$ana->say(message => conversation => $conv, text => 'hello Rita');

$ack = $ana->say(transfer => conversation => $conv, to => { agent => $bruno_id }, note => 'for Bruno');
is $ack->{type}, 'ack', 'Ana transfers it to Bruno';
ok $ana->take('transferred', conversation => $conv), '... and is told it was transferred';
ok $bruno->take('offer', conversation => $conv, timeout => 5), 'Bruno is offered it';
is $bruno->say(accept => conversation => $conv)->{type}, 'ack', '... and accepts';
ok $bruno->take('note', text => 'for Bruno'), '... with the note';

$v->say(message => text => 'after the transfer');
ok $bruno->take('message', text => 'after the transfer'), "Bruno receives the visitor's next message";
ok !$ana->take('message', text => 'after the transfer', timeout => 1.5),
   '... and Ana no longer does';
$bruno->say(note => conversation => $conv, text => 'internal, later');
ok !$ana->take('note', text => 'internal, later', timeout => 1), "... nor Bruno's notes";
my $r = $ana->say(typing => conversation => $conv, on => \1);
is $r->{type}, 'error', "Ana's typing into it is refused";
is $r->{code}, 'not_found', '... as a conversation she is not in';
$v->drain(0.5);
ok !grep({ $_->{type} eq 'typing' && $_->{from} eq 'agent' } @{ $v->{seen} }),
   '... and the visitor sees no typing of hers';

# --- who may convert, end and transfer --------------------------------------------------

my ($carla) = agent('carla@acme.example', 'Carla');
$carla->hello;
for my $op (qw(convert end transfer)) {
    $r = $carla->say($op => conversation => $conv, to => { agent => $ana_id });
    is $r->{code}, 'forbidden', "another agent's chat: $op is forbidden";
}
is $t->psql(qq{SELECT count(*) FROM helpdesk.tickets WHERE tenant_id = '$acme->{id}'}), '0',
   '... and no ticket was made';
ok !$v->take('ended', timeout => 0.5), '... nor the chat ended';

# Bruno gives it back; Ana takes it again and listens again
$ack = $bruno->say(transfer => conversation => $conv, to => { agent => $ana_id });
is $ack->{type}, 'ack', 'Bruno transfers it back';
ok $ana->take('offer', conversation => $conv, timeout => 5), '... Ana is offered it';
is $ana->say(accept => conversation => $conv)->{type}, 'ack', '... and accepts it again';
$v->say(message => text => 'Ana again?');
ok $ana->take('message', text => 'Ana again?'), 'Ana receives the visitor again';
ok !$bruno->take('message', text => 'Ana again?', timeout => 1), '... Bruno no longer';

# Ana's connection comes back: the chat is hers (its history, then live)
$ana->close;
($ana) = ();
{
    my $c = Helpdesk::Portal->new($t, 'acme.portal.test', prefix => '/agent');
    $c->login('ana@acme.example', 'senha-de-agente-1');
    $ana = Helpdesk::Chat->new($t, path => '/agent/_/chat/v1/ws', host => "acme.portal.test:$port",
                               origin => "http://acme.portal.test:$port",
                               cookie => 'hd_agent=' . $c->cookie('hd_agent'));
}
my $w = $ana->hello;
ok grep({ $_->{conversation} eq $conv } @{ $w->{chats} }), "Ana's chat is in her welcome";
ok $ana->take('message', text => 'Ana again?'), '... with its history';
$v->say(message => text => 'after the reconnect');
ok $ana->take('message', text => 'after the reconnect'),
   '... and its new messages (old transfers in the history do not count)';

my ($dora) = agent('dora@acme.example', 'Dora', 'admin');
$dora->hello;
$ack = $dora->say(end => conversation => $conv);
is $ack->{type}, 'ack', 'an admin ends an agent\'s chat';
ok $v->take('ended', by => 'agent'), '... the visitor is told';
ok $ana->take('ended', conversation => $conv), '... and the agent too';
$v->close;
ok until_true(sub { subscribers($conv) == 0 }, 5),
   'once it ended, no connection of the worker listens to it (the agents stay connected)';

# an admin's conversion and transfer of another's chat
{
    my $v2 = visitor();
    $v2->hello;
    my $c2 = $v2->say(start => prechat => { name => 'Bia', email => 'bia@example.com' },
                      text => 'help')->{conversation};
    is $ana->say(accept => conversation => $c2)->{type}, 'ack', "Ana accepts another chat";
    is $carla->say(convert => conversation => $c2)->{code}, 'forbidden', '... Carla may not convert it';
    $ack = $dora->say(transfer => conversation => $c2, to => { agent => $bruno_id });
    is $ack->{type}, 'ack', 'an admin transfers it';
    ok $bruno->take('offer', conversation => $c2, timeout => 5), '... to Bruno';
    is agent_rec($ana_id)->{c}, 0, "... and it no longer counts as Ana's";
    $bruno->say(accept => conversation => $c2);
    $ack = $dora->say(convert => conversation => $c2);
    is $ack->{type}, 'ack', 'an admin converts it';
    ok $v2->take('converted', timeout => 5), '... the visitor sees the ticket';
    $v2->close;
}

# --- an agent gone while its hello is in flight -------------------------------------------

{
    my ($eva, $eva_id) = agent('eva@acme.example', 'Eva');
    # Redis holds every command for a while (less than the module's
    # timeout of a second): the hello's script is sent and answered only
    # after the connection is gone
    system("$R CLIENT PAUSE 700 ALL >/dev/null");
    $eva->send('hello');
    Helpdesk::Chat::pump(sub { 0 }, 0.25);
    $eva->close;
    ok until_true(sub { my $a = agent_rec($eva_id); defined $a->{k} && $a->{k} == 0 }, 10),
       'an agent gone before its welcome is not counted as connected';
    is agent_rec($eva_id)->{s}, 'offline', '... and is offline, not available';
}

# --- a token that finds no visitor, twice ---------------------------------------------------

{
    $t->psql(q{CREATE SEQUENCE public.visitor_skips;
               CREATE FUNCTION public.visitor_skip() RETURNS trigger LANGUAGE plpgsql
               SECURITY DEFINER AS $$ BEGIN PERFORM nextval('public.visitor_skips'); RETURN NULL; END $$;
               CREATE TRIGGER visitor_skip BEFORE INSERT ON helpdesk.chat_visitors
               FOR EACH ROW EXECUTE FUNCTION public.visitor_skip();});
    my $vx = visitor();
    $vx->send('hello');
    my $e = $vx->take('error', timeout => 5);
    is $e && $e->{code}, 'unavailable', 'a visitor the record cannot make is told to try again';
    is $t->psql(q{SELECT last_value FROM public.visitor_skips}), '2',
       '... after one new token, not an endless series of lookups';
    $t->psql(q{DROP TRIGGER visitor_skip ON helpdesk.chat_visitors});
    $vx->close;
}

# --- the record: one bad entry, and large ones -------------------------------------------------

{
    my $bad = '00000000-0000-4000-8000-00000000dead';
    my $poison = `$R XADD hd:chat:persist '*' t $acme->{id} c $bad i 1-1 j '{"type":"message"}' u '*' h 'not json'`;
    chomp $poison;
    sleep 0.5;
    my $vp = visitor();
    $vp->hello;
    my $a = $vp->say(start => prechat => { name => 'Caio' }, text => 'after the poison');
    my $cp = $a->{conversation};
    $vp->say(message => text => 'and another');
    ok until_true(sub { $t->psql(qq{SELECT count(*) FROM helpdesk.chat_messages
                                    WHERE conversation_id = '$cp'}) == 2 }, 10),
       'an entry PostgreSQL refuses does not hold back the next ones';
    ok until_true(sub { `$R XLEN hd:chat:persist:dead` =~ /^1$/ }, 15),
       '... it goes to the dead-letter stream after its tries';
    my $dead = `$R XRANGE hd:chat:persist:dead - +`;
    like $dead, qr/\Q$poison\E/, '... with its id';
    like $dead, qr/SQLSTATE 22/, '... and the error';
    ok until_true(sub { `$R XPENDING hd:chat:persist persist` =~ /^0\n/ }, 5),
       '... and nothing stays pending';
    my @lines = grep { /moved to hd:chat:persist:dead/ } split /\n/, $t->error_log;
    is scalar(@lines), 1, '... logged once';
    like $lines[0] // '', qr/\Q$bad\E/, '... naming its conversation';

    # forty entries of 60 KB each: batches of about a megabyte, none lost
    $vp->say(message => text => 'large ones follow');
    system(qq{$R EVAL "local raw = redis.call('HGETALL', 'hd:chat:{' .. ARGV[2] .. '}:h')
        local h = {} for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
        h.pad = string.rep('x', 60000)
        local hs = cjson.encode(h)
        for i = 1, 40 do
            redis.call('XADD', 'hd:chat:persist', '*', 't', ARGV[1], 'c', ARGV[2],
                       'i', '2-' .. i, 'j', cjson.encode({type = 'message', text = 'big ' .. i,
                       from = {kind = 'visitor'}}), 'u', '*', 'h', hs)
        end" 0 $acme->{id} $cp >/dev/null});
    ok until_true(sub { $t->psql(qq{SELECT count(*) FROM helpdesk.chat_messages
                                    WHERE conversation_id = '$cp' AND body LIKE 'big %'}) == 40 }, 20),
       'large entries are all written';
    $vp->say(message => text => 'after the large ones');
    ok until_true(sub { $t->psql(qq{SELECT count(*) FROM helpdesk.chat_messages
                                    WHERE conversation_id = '$cp'
                                    AND body = 'after the large ones'}) == 1 }, 5),
       '... and what follows them';
    $vp->close;
}

# --- the bot's links -------------------------------------------------------------------------

{
    my $h = $t->auth($acme->{key});
    $ua->post($t->url('/v1/kb/categories') => $h => json => { slug => 'billing', name => 'Billing' });
    my $res = $ua->post($t->url('/v1/kb/articles') => $h => json => {
        slug => 'wrong-invoice', title => 'A wrong invoice', category => 'billing',
        language => 'en', body => 'Write to us about a wrong invoice.', status => 'published' });
    is $res->res->code, 201, 'an article';
    $t->psql(qq{UPDATE helpdesk.chat_widgets SET bot_enabled = true WHERE tenant_id = '$acme->{id}'});
    my $vb = visitor();
    $vb->hello;
    $vb->say(start => prechat => { name => 'Ivo' }, text => 'wrong invoice');
    my $m = $vb->take('message', from => sub { ($_[0]{kind} // '') eq 'bot' }, timeout => 10);
    ok $m && @{ $m->{articles} // [] }, "the bot suggests the tenant's article";
    is $m && $m->{articles}[0]{url}, 'http://acme.portal.test:8080/kb/wrong-invoice',
       "... linked on the tenant's portal name, with the location's scheme and port";
    is $m && $m->{text}, 'These articles may help:', '... introduced in the language of the visitor (none asked: English)';
    # converted, the ticket keeps what the bot suggested
    my $conv = $m && $m->{conversation} // '';
    ok until_true(sub { $t->psql(qq{SELECT count(*) FROM helpdesk.chat_messages
                                     WHERE conversation_id = '$conv' AND author_type = 'bot'}) == 1 }, 10),
       "the bot's message is in the record";
    my $tx = $ua->post($t->url("/v1/chat/conversations/$conv/ticket") => $t->auth($acme->{key}));
    is $tx->res->code, 201, 'the chat becomes a ticket' or diag $tx->res->body;
    my $ev = $t->psql(qq{SELECT e.body FROM helpdesk.ticket_events e JOIN helpdesk.tickets k USING (tenant_id, ticket_id)
                         WHERE k.ticket_id = '${\ ($tx->res->json->{id} // '00000000-0000-0000-0000-000000000000')}'
                           AND e.actor_name = 'Bot'});
    is $ev, "These articles may help:\n- A wrong invoice (http://acme.portal.test:8080/kb/wrong-invoice)",
       "... with the bot's suggestions in its transcript";
    $vb->close;

    # a visitor in Portuguese, and nothing in the knowledge base for them
    my $vp = visitor();
    $vp->hello(lang => 'pt-BR');
    $vp->say(start => prechat => { name => 'Lia' }, text => 'zzqx nada a ver');
    $m = $vp->take('message', from => sub { ($_[0]{kind} // '') eq 'bot' }, timeout => 10);
    is $m && $m->{text}, 'Se preferir, uma pessoa da equipe continua a conversa.',
       'no suggestion: the bot offers a person, in Portuguese';
    is_deeply $m && $m->{actions}, ['talk_to_person'], '... with the button';
    $vp->close;
}

$_->close for grep { $_ } $ana, $bruno, $carla, $dora;

$t->done;
