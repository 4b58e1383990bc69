# The chat across workers and nodes: two nginx instances of two workers
# each on one Redis and one PostgreSQL.  Visitors and agents on different
# workers and nodes talk through Redis pub/sub; Redis restarted in the
# middle of a conversation loses and doubles nothing (clients re-send with
# the same cid, the subscribers read back from their last ids); an nginx
# reload closes the chats with 1001 and the clients resume where they were.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::Chat;

my $t = Helpdesk::Test->new->start_stack;
Helpdesk::Chat::start_nginx($t);
my $d = $t->dir;

# a second node: the same configuration on another port, pid and logs
my $port1 = $t->port;
my $port2 = Helpdesk::Test::free_port();
{
    open my $in, '<', "$d/nginx.conf" or die $!;
    my $conf = do { local $/; <$in> };
    $conf =~ s/127\.0\.0\.1:$port1/127.0.0.1:$port2/g;
    $conf =~ s/port=$port1/port=$port2/g;
    $conf =~ s{$d/run/nginx\.pid}{$d/run/nginx2.pid};
    $conf =~ s{$d/log/error\.log}{$d/log/error2.log};
    $conf =~ s{$d/log/access\.log}{$d/log/access2.log};
    open my $out, '>', "$d/nginx2.conf" or die $!;
    print $out $conf;
    close $out;
    my $nginx = $ENV{HELPDESK_NGINX} // 'nginx';
    system("$nginx -p $d -c $d/nginx2.conf") == 0 or die 'second node';
    until_true(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port2") }, 10);
}

sub node2_pid {
    open my $fh, '<', "$d/run/nginx2.pid" or return;
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

my $acme = $t->create_tenant('acme');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins,
                max_chats_per_agent, bot_enabled)
            VALUES ('$acme->{id}', '{https://www.acme.example}', 20, false)});

sub on_port {
    my ($port, %o) = @_;
    my $c = Helpdesk::Chat->new($t, %o, port => $port);
    return $c;
}

sub visitor {
    my ($port) = @_;
    return Helpdesk::Chat::visitor($t, acme => 'https://www.acme.example', port => $port);
}

# Ana, logged in to the console on node 1: her session serves on both nodes
my $host = "acme.portal.test";
my $cookie = Helpdesk::Chat::agent($t, $acme, 'ana@acme.example', 'Ana')->{cookie};

sub agent {
    my ($port) = @_;
    return Helpdesk::Chat->new($t, path => '/agent/_/chat/v1/ws', port => $port,
                               host => "$host:$port", origin => "http://$host:$port",
                               cookie => $cookie);
}

# sends until acknowledged: a lost ack (or Redis away) is sent again with
# the same cid, as the widget does
sub say_surely {
    my ($c, $type, %f) = @_;
    my $cid = Helpdesk::Chat::cid();
    for (1 .. 60) {
        if ($c->closed) {
            $c->connect;
            $c->hello(%{ $c->{rehello} // {} });
        }
        my $r = $c->say($type, cid => $cid, %f);
        return $r if $r && $r->{type} eq 'ack';
        sleep(($r && $r->{retry_after}) ? 0.5 : 0.2);
    }
    return;
}

# --- across workers and nodes --------------------------------------------------------

my $agent = agent($port1);
is $agent->hello->{type}, 'welcome', 'the agent is on node 1';

my (@visitors, @convs);
for my $i (0 .. 7) {
    my $v = visitor($i % 2 ? $port2 : $port1);
    $v->hello;
    my $ack = $v->say(start => prechat => { name => "V$i" }, text => "hello from $i");
    push @visitors, $v;
    push @convs, $ack->{conversation};
    my $offer = $agent->take('offer', conversation => $ack->{conversation}, timeout => 5);
    ok $offer, "visitor $i (node " . ($i % 2 ? 2 : 1) . ') is offered to the agent';
    is $agent->say(accept => conversation => $ack->{conversation})->{type}, 'ack', '... accepted';
    ok $v->take('joined'), '... the visitor sees it';
}
my %w = %{ $t->workers_seen(qr{/chat/v1/ws}) };
cmp_ok scalar(keys %w), '>=', 2, "node 1's visitors are on both of its workers"
    unless $ENV{HELPDESK_VALGRIND};

for my $i (0 .. $#visitors) {
    my $r = $agent->say(message => conversation => $convs[$i], text => "answer $i");
    ok $visitors[$i]->take('message', text => "answer $i"), "the agent's answer reaches visitor $i";
    $visitors[$i]->say(message => text => "thanks $i");
    ok $agent->take('message', text => "thanks $i"), "... and visitor $i reaches the agent";
}

# --- Redis restarted mid-conversation ---------------------------------------------------

my ($v, $conv) = ($visitors[1], $convs[1]);       # on node 2, the agent on node 1
$v->drain(0.2);
$agent->drain(0.2);
my @want;
for my $i (1 .. 5) {
    say_surely($v, 'message', text => "before $i") or BAIL_OUT('no ack');
    push @want, "before $i";
}
$t->stop_redis;
my @during;
for my $i (1 .. 3) {
    my $r = $v->say(message => text => "during $i");
    push @during, $r;
}
ok !grep({ $_ && $_->{type} eq 'ack' } @during), 'while Redis is away nothing is acknowledged';
ok grep({ $_ && ($_->{code} // '') eq 'unavailable' } @during), '... the client is told to try again';
sleep 0.5;                                        # past the first reconnect attempts
$t->start_redis;
for my $i (1 .. 5) {
    say_surely($v, 'message', text => "after $i") or BAIL_OUT('no ack after restart');
    push @want, "after $i";
}
ok Helpdesk::Chat::pump(sub {
        (grep { $_->{type} eq 'message' && ($_->{text} // '') eq 'after 5' } @{ $agent->{seen} }) }, 20),
   'after the restart the agent receives again';
# both Redis clients of a worker went down and came back, each under its name
my $elog = $t->error_log;
like $elog, qr/helpdesk redis: connect to "unix:[^"]+" failed/,
    'while Redis was away the command client tried again (logged as its own)';
like $elog, qr/helpdesk redis subscriber: connect to "unix:[^"]+" failed/,
    '... and so did the subscriber';
like $elog, qr/helpdesk redis: connection restored/, 'the command client is back';
like $elog, qr/helpdesk redis subscriber: connection restored, [1-9]\d* channels subscribed again/,
    '... and the subscriber, with its channels';
my @got = map { $_->{text} } grep { $_->{type} eq 'message' && ($_->{conversation} // '') eq $conv
                                     && ($_->{text} // '') =~ /^(before|after) / } @{ $agent->{seen} };
my %seen_once;
$seen_once{$_}++ for @got;
is_deeply [grep { $seen_once{$_} != 1 } keys %seen_once], [], 'no message reached the agent twice';
is_deeply \@got, \@want, 'every acknowledged message reached it, once, in order';
my $xl = `redis-cli -s $d/run/redis.sock XLEN 'hd:chat:{$conv}:s'`;
chomp $xl;
ok until_true(sub { $t->psql(qq{SELECT count(*) FROM helpdesk.chat_messages
                                 WHERE conversation_id = '$conv'}) == $xl }, 10),
   'the record has the conversation as Redis has it, after the restart';

# --- nginx reloaded mid-conversation ------------------------------------------------------

my $v0 = $visitors[0];                            # node 1
my $a2 = agent($port2);                           # the agent also on node 2
$a2->hello(last => { $convs[0] => '0-0' });
$v0->drain(0.3);
my $last = (grep { $_->{type} eq 'message' } reverse @{ $v0->{seen} })[0]{id};
kill 'HUP', $t->nginx_pid;
ok Helpdesk::Chat::pump(sub { $v0->closed }, 15), 'a reload closes the visitor on the old workers';
is $v0->closed->[0], 1001, '... with 1001';
my @missed;
for my $i (1 .. 3) {
    push @missed, say_surely($a2, 'message', conversation => $convs[0], text => "while away $i")->{ref};
}
sleep 0.5;
$v0 = visitor($port1);
my $wel = $v0->hello(visitor => $visitors[0]{seen}[0]{visitor}, last => $last);
is $wel->{conversation}{id}, $convs[0], 'the visitor comes back to its conversation';
my @back = grep { $_->{type} eq 'message' } $v0->drain(1.5);
is_deeply [map { $_->{id} } @back], \@missed, '... and receives exactly what it missed, once';
$v0->say(message => text => 'after the reload');
ok $a2->take('message', text => 'after the reload', timeout => 5), 'the conversation goes on';

$_->close for grep { !$_->closed } @visitors, $agent, $a2, $v0;

# stop the second node, and check its log as the first's
{
    my $pid = node2_pid();
    kill 'QUIT', $pid if $pid;
    until_true(sub { !Helpdesk::Test::alive($pid) }, 10);
    open my $fh, '<', "$d/log/error2.log";
    my @bad = grep { /\[(alert|emerg)\]|exited on signal/ } <$fh>;
    ok !@bad, 'no alerts on the second node' or diag @bad;
}

$t->done;
