# Resuming, where it is hardest: every client resumes from the last id it
# has and receives exactly what it missed, once, in order, and never hangs.
#
#   - a catch-up whose pages hold nothing for the client (a visitor behind
#     many internal notes, an agent behind events only for the visitor,
#     entries that are not events at all) still reads on to the end, and
#     a "last" that is no stream id is taken as none, never as nothing;
#   - a deadline in Redis that is not one (malformed, of no conversation)
#     is dropped and logged once, and the good ones still fire;
#   - a visitor on the event stream over HTTP/2 that reconnects with
#     Last-Event-ID gets what it missed once, over several pages, paced by
#     a small flow-control window;
#   - an agent with three busy chats at once: every message on the right
#     side once and in order, a fourth chat not offered to it, and each of
#     the three resumed after its reconnect.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Mojo::JSON qw(decode_json encode_json);
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::Chat;
use Helpdesk::H2;

my $t = Helpdesk::Test->new->start_stack;
my $h2_port = Helpdesk::Test::free_port();
Helpdesk::Chat::start_nginx($t, ping => '60s',
                            http => "helpdesk_chat_limits messages=1000/10s address_messages=1000/10s;
                                     server {
                                         listen 127.0.0.1:$h2_port http2;
                                         location /chat/ { helpdesk_chat ping=60s; }
                                     }");
my $port = $t->port;
my $ua = $t->ua;
my $d = $t->dir;
my $R = "redis-cli -s $d/run/redis.sock";
my $ORIGIN = 'https://www.acme.example';

my $acme = $t->create_tenant('acme');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled,
                max_chats_per_agent, accept_timeout_seconds)
            VALUES ('$acme->{id}', '{$ORIGIN}', false, 3, 60)});

sub visitor {
    my (%o) = @_;
    return Helpdesk::Chat::visitor($t, $o{tenant} // 'acme', $o{origin} // $ORIGIN);
}

# an agent of a tenant, logged in to the console: its chat connection (a
# function that makes another one, for a reconnect) and its id
sub agent {
    my ($tenant, $email, $name) = @_;
    my $a = Helpdesk::Chat::agent($t, $tenant, $email, $name);
    return ($a->{chat}, $a->{id});
}

sub redis {
    my (@args) = @_;
    open my $cli, '-|', split(/ /, $R), @args or die $!;
    my @out = <$cli>;
    close $cli;
    chomp @out;
    return wantarray ? @out : $out[0];
}

# a string as the bytes it has (what the shell's arguments are made of)
sub bytes { my ($s) = @_; utf8::downgrade($s); return $s }

sub xrange_calls {
    my ($calls) = join("\n", redis('INFO', 'commandstats')) =~ /^cmdstat_xrange:calls=(\d+)/m;
    return $calls // 0;
}

# stream entries added by hand, as a pipe to redis-cli: their ids
sub xadd {
    my ($conv, @entries) = @_;
    open my $rc, '|-', "$R > $d/xadd.out" or die $!;
    for my $e (@entries) {
        print $rc join(' ', 'XADD', "\"hd:chat:{$conv}:s\"", '*',
                       map { my $v = $_; $v =~ s/(["\\])/\\$1/g; qq{"$v"} } @$e) . "\n";
    }
    close $rc;
    open my $fh, '<', "$d/xadd.out" or die $!;
    return grep { /^\d+-\d+$/ } map { s/\s+$//r } <$fh>;
}

# every message of a client not taken yet, by conversation: [id, text] each
sub messages_by_conv {
    my ($c, $wait, $into) = @_;
    for my $m (grep { $_->{type} eq 'message' } $c->drain($wait)) {
        push @{ $into->{ $m->{conversation} } }, [$m->{id}, $m->{text}];
    }
    return $into;
}

my ($ana_connect, $ana_id) = agent($acme, 'ana@acme.example', 'Ana');
my ($bruno_connect, $bruno_id) = agent($acme, 'bruno@acme.example', 'Bruno');

# --- a catch-up whose pages hold nothing for the client --------------------------

{
    my $ana = $ana_connect->();
    is $ana->hello->{type}, 'welcome', 'an agent';
    my $v = visitor();
    my $w = $v->hello;
    my $token = $w->{visitor};
    my $a = $v->say(start => prechat => { name => 'Nora' }, text => 'hello');
    my $conv = $a->{conversation};
    ok $ana->take('offer', conversation => $conv, timeout => 5), 'a conversation offered';
    is $ana->say(accept => conversation => $conv)->{type}, 'ack', '... and accepted';
    my $joined = $v->take('joined', timeout => 5);
    ok $joined, 'the visitor sees the agent join';
    my $vlast = $joined->{id};
    $v->close;

    # 100 internal notes (three pages and more of nothing for the visitor),
    # then one message for it
    my $n = 0;
    for my $i (1 .. 100) {
        $n++ if ($ana->say(note => conversation => $conv, text => "note $i")->{type} // '') eq 'ack';
    }
    is $n, 100, '100 internal notes while the visitor is away';
    my $after = $ana->say(message => conversation => $conv, text => 'after the notes');
    is $after->{type}, 'ack', '... then a message for the visitor';

    my $x0 = xrange_calls();
    my $v2 = visitor();
    my $w2 = $v2->hello(visitor => $token, last => $vlast);
    is $w2->{conversation}{id}, $conv, 'the visitor resumes';
    my $m = $v2->take('message', timeout => 10);
    is $m && $m->{id}, $after->{ref}, '... and gets the message after the notes';
    my @more = grep { $_->{type} =~ /^(message|note)$/ } $v2->drain(1);
    is scalar(@more), 0, '... once, and no note' or diag explain \@more;
    my $reads = xrange_calls() - $x0;
    cmp_ok $reads, '<=', 6, "... reading the stream page by page once ($reads reads)";

    # entries of no event at all (no "j"): more than a page of them, then
    # a message.  A page of nothing to send still moves the client on.
    my @junk = xadd($conv, map { ['x', "junk $_"] } 1 .. 70);
    is scalar(@junk), 70, '70 stream entries that are no events';
    my $past = $ana->say(message => conversation => $conv, text => 'past the junk');
    $v2->close;

    $x0 = xrange_calls();
    my $v3 = visitor();
    $v3->hello(visitor => $token, last => $after->{ref});
    $m = $v3->take('message', timeout => 10);
    is $m && $m->{id}, $past->{ref}, 'a visitor behind them gets the message after them';
    @more = grep { $_->{type} eq 'message' } $v3->drain(1);
    is scalar(@more), 0, '... once';
    $reads = xrange_calls() - $x0;
    cmp_ok $reads, '<=', 6, "... and the catch-up ends ($reads reads, no loop)";

    # live after that
    my $live = $ana->say(message => conversation => $conv, text => 'live');
    ok $v3->take('message', id => $live->{ref}, timeout => 5), '... then live ones';

    # a "last" that is no stream id cannot be resumed from: the whole
    # conversation, then live ones, rather than nothing ever
    for my $bad ('garbage', '12-ab', '-', '1-2-3', '99999999999999999999-0') {
        my $v4 = visitor();
        $v4->hello(visitor => $token, last => $bad);
        ok $v4->take('message', id => $live->{ref}, timeout => 5),
           "a visitor that resumes from \"$bad\" gets the conversation";
        my $l2 = $ana->say(message => conversation => $conv, text => "live after $bad");
        ok $v4->take('message', id => $l2->{ref}, timeout => 5), '... and live ones';
        $v3->take('message', id => $l2->{ref}, timeout => 5);
        $v4->close;
    }

    # a "last" past the newest event of the stream (no client sends one)
    # would hide every event until then: taken as none
    for my $ahead ('99999999999999-0', '18446744073709551615-18446744073709551615') {
        my $v5 = visitor();
        $v5->hello(visitor => $token, last => $ahead);
        ok $v5->take('message', id => $live->{ref}, timeout => 5),
           "a visitor that resumes from \"$ahead\", past the newest event, gets the conversation";
        my $l3 = $ana->say(message => conversation => $conv, text => "live after $ahead");
        ok $v5->take('message', id => $l3->{ref}, timeout => 5), '... and live ones';
        $v3->take('message', id => $l3->{ref}, timeout => 5);
        $v5->close;
    }

    # an agent behind a page and more of events only for the visitor
    my $alast = (grep { $_->{type} eq 'message' } $ana->drain(0.3))[-1]{id} // $live->{ref};
    $ana->close;
    my @vonly = xadd($conv, map { ['j', encode_json({ type => 'message', from => { kind => 'system' },
                                                      text => "for the visitor $_" }), 'u', 'v'] } 1 .. 40);
    is scalar(@vonly), 40, '40 events only for the visitor';
    my $vm = $v3->say(message => text => 'for both');
    $ana = $ana_connect->();
    $x0 = xrange_calls();
    my $aw = $ana->hello(last => { $conv => $alast });
    is scalar(@{ $aw->{chats} }), 1, 'the agent resumes its chat';
    my $got = messages_by_conv($ana, 1.5, {});
    is_deeply [map { $_->[0] } @{ $got->{$conv} // [] }], [$vm->{ref}],
        '... and gets only what is its own after the events for the visitor, once';
    $reads = xrange_calls() - $x0;
    cmp_ok $reads, '<=', 6, "... the catch-up ends ($reads reads)";

    is $ana->say(end => conversation => $conv)->{type}, 'ack', 'the chat ends';
    $_->close for $ana, $v3;
}

# --- deadlines that are none -----------------------------------------------------

{
    my $tt = $t->create_tenant('timers');
    $t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled,
                    max_chats_per_agent, accept_timeout_seconds)
                VALUES ('$tt->{id}', '{https://www.timers.example}', false, 1, 60)});
    my ($tia_connect, $tia_id) = agent($tt, 'tia@timers.example', 'Tia');
    my $tia = $tia_connect->();
    $tia->hello;
    my $v = visitor(tenant => 'timers', origin => 'https://www.timers.example');
    $v->hello;
    my $c = $v->say(start => prechat => { name => 'Ugo' }, text => 'hi')->{conversation};
    ok $tia->take('offer', conversation => $c, timeout => 5), 'an offer with its deadline';
    my $good = "offer|$tt->{id}|$c|$tia_id";
    like redis('ZSCORE', 'hd:chat:timers', $good), qr/^\d+$/, "... in Redis";

    my $T = $tt->{id};
    my $u1 = '0a0b0c0d-0000-4000-8000-00000000000' . 1;
    my $u2 = '0a0b0c0d-0000-4000-8000-00000000000' . 2;
    my @bad = (
        'garbage',                                  # no fields
        "offer|$T|$c",                              # an offer without its agent
        "reply|$T|$c|$tia_id",                      # one field too many
        "auto|$T|$c|",                              # an empty one
        "auto|$T|" . ('z' x 36),                    # not a uuid
        "auto|$T|" . ('1' x 36),                    # digits, not a uuid either
        "offer|$T|$c|" . ('x' x 36),                # an agent that is no uuid
        "snooze|$T|$c",                             # of no known kind
        "offer|$T|$u1|$tia_id",                     # of no conversation
        "reply|$T|$u1",
        "auto|$T|$u2",
        "reply|$u1|$c",                             # of another tenant's
        bytes("auto|$T|\xff\xfe\n" . ('a' x 33)),    # no text, a line break
    );
    # all due now, the good one too
    redis('ZADD', 'hd:chat:timers', map { (1, $_) } @bad);
    redis('ZADD', 'hd:chat:timers', 'XX', 1, $good);
    ok until_true(sub { !grep { length(redis('ZSCORE', 'hd:chat:timers', $_) // '') } @bad, $good }, 15),
       'the deadlines that are none are dropped, the good one acted upon'
       or diag explain { map { $_ => redis('ZSCORE', 'hd:chat:timers', $_) } @bad, $good };
    is redis('HGET', "hd:chat:{$c}:h", 'offer'), '', '... the offer is withdrawn (the good one fired)';
    is redis('SISMEMBER', "hd:chat:{$c}:x", $tia_id), '1', '... from the agent who let it pass';

    my $log = $t->error_log;
    my @warned = grep { /\[warn\].*deadline/ } split /\n/, $log;
    for my $b (@bad) {
        (my $shown = $b) =~ s/[^\x20-\x7e]/?/g;
        my $n = grep { /\Q$shown\E(?:[^|\w-]|$)/ } @warned;
        is $n, 1, "dropped once with a warning: $shown" or diag join "\n", @warned;
    }
    ok !grep({ /\Q$good\E/ } @warned), '... and none for the good one';

    # a deadline still fires after them: the automatic conversion
    is $tia->say(accept => conversation => $c)->{type}, 'ack', 'the agent takes the chat from the queue';
    my $auto = "auto|$T|$c";
    redis('ZADD', 'hd:chat:timers', 1, $auto);
    redis('ZADD', 'hd:chat:timers', 1, 'garbage again');
    my $cv = $v->take('converted', timeout => 10);
    ok $cv && $cv->{by} eq 'system', 'a good deadline beside a bad one fires (the chat becomes a ticket)';
    ok until_true(sub { !length(redis('ZSCORE', 'hd:chat:timers', 'garbage again') // '')
                        && !length(redis('ZSCORE', 'hd:chat:timers', $auto) // '') }, 10),
       '... and both are gone';
    $_->close for $v, $tia;
}

# --- the event stream over HTTP/2: a reconnect with Last-Event-ID --------------------

# the events of an event stream's data so far: [id, json] each
sub sse_events {
    my ($data) = @_;
    my @ev;
    for my $e (split /\n\n/, $data) {
        my ($id) = $e =~ /^id: (.*)$/m;
        my $j = join "\n", $e =~ /^data: ?(.*)$/mg;
        next unless length $j;
        push @ev, [$id, (eval { decode_json($j) } // { type => 'not json' })];
    }
    return @ev;
}

{
    my $ana = $ana_connect->();
    $ana->hello;
    my $post = sub {
        my ($token, $m) = @_;
        return $ua->post("http://127.0.0.1:$port/chat/v1/send?tenant=acme"
                         => { Origin => $ORIGIN, (defined $token ? ('X-Chat-Stream' => $token) : ()) }
                         => json => $m)->res->json // {};
    };
    my $tok = $post->(undef, { type => 'hello', cid => 'h1' })->{stream};
    like $tok, qr/^[0-9a-f]{64}$/, 'a visitor on the event stream';
    my $start = $post->($tok, { type => 'start', cid => 's1', prechat => { name => 'Hugo' }, text => 'over h2' });
    my $conv = $start->{conversation};
    ok $ana->take('offer', conversation => $conv, timeout => 5), '... its chat offered';
    $ana->say(accept => conversation => $conv);

    my $sse = "/chat/v1/sse?tenant=acme&stream=$tok";
    my $h2 = Helpdesk::H2->new($h2_port);
    my $id = $h2->get($sse, origin => $ORIGIN);
    ok $h2->pump(sub { $h2->stream($id)->{data} =~ /"type":"joined"/ }, 10),
       'the stream over HTTP/2 has the conversation so far';
    my @ev = sse_events($h2->stream($id)->{data});
    my ($last) = map { $_->[0] } grep { $_->[1]{type} eq 'joined' } @ev;
    like $last, qr/^\d+-\d+$/, '... each stored event with its id';
    $h2->reset($id);
    $h2->close;

    # 90 messages of 3 KB while it is away: three pages and more, five times
    # what the catch-up lets wait
    my @ids;
    my $big = 'y' x 3000;
    for my $i (1 .. 90) {
        my $r = $ana->say(message => conversation => $conv, text => sprintf('%02d %s', $i, $big));
        push @ids, $r->{ref} if ($r->{type} // '') eq 'ack';
    }
    is scalar(@ids), 90, '90 messages while the visitor is away';

    # a window of 16 KB per stream, given back as it is read
    my $x0 = xrange_calls();
    $h2 = Helpdesk::H2->new($h2_port, window => 16384);
    $id = $h2->get($sse, origin => $ORIGIN, 'last-event-id' => $last);
    my $count = sub { scalar grep { $_->[1]{type} eq 'message' } sse_events($h2->stream($id)->{data}) };
    ok $h2->pump(sub { $count->() >= 90 }, 30), 'it reconnects with Last-Event-ID and catches up'
        or diag $count->() . ' messages';
    $h2->pump(sub { 0 }, 1);
    @ev = grep { $_->[1]{type} eq 'message' } sse_events($h2->stream($id)->{data});
    is_deeply [map { $_->[0] } @ev], \@ids, '... exactly the 90 missed, each once, in order';
    my $reads = xrange_calls() - $x0;
    cmp_ok $reads, '>', 4, "... paced by what it reads ($reads reads of the stream for 3 pages)";
    is_deeply [map { $_->[1]{id} } @ev], \@ids, '... their ids in the data too';
    ok !grep({ $_->[1]{text} !~ /^\d\d y{3000}$/ } @ev), '... whole';
    ok !grep({ $_->[1]{type} eq 'joined' } sse_events($h2->stream($id)->{data})),
       '... nothing from before Last-Event-ID';

    my $live = $ana->say(message => conversation => $conv, text => 'live over h2');
    ok $h2->pump(sub { $h2->stream($id)->{data} =~ /\nid: \Q$live->{ref}\E\n/ }, 10), 'then live ones';
    $h2->pump(sub { 0 }, 0.5);
    my $n = () = $h2->stream($id)->{data} =~ /\nid: \Q$live->{ref}\E\n/g;
    is $n, 1, '... once';

    my $past = $h2->get($sse, origin => $ORIGIN, 'last-event-id' => '18446744073709551616-0');
    $h2->pump(sub { $h2->stream($past)->{ended} }, 10);
    is $h2->stream($past)->{status}, 400, 'a Last-Event-ID past any stream id: 400';

    # a reconnect in the middle of a catch-up: from where the client got to
    my $mid = $ids[40];
    $h2->reset($id);
    $id = $h2->get($sse, origin => $ORIGIN, 'last-event-id' => $mid);
    ok $h2->pump(sub { $h2->stream($id)->{data} =~ /\nid: \Q$live->{ref}\E\n/ }, 30),
       'a second stream on the connection resumes from the middle';
    $h2->pump(sub { 0 }, 0.5);
    @ev = grep { $_->[1]{type} eq 'message' } sse_events($h2->stream($id)->{data});
    is_deeply [map { $_->[0] } @ev], [@ids[41 .. 89], $live->{ref}], '... with what follows it, once';
    $h2->close;
    is $ana->say(end => conversation => $conv)->{type}, 'ack', 'the chat ends';
    $ana->close;
}

# --- an agent with three busy chats ------------------------------------------------

{
    my $ana = $ana_connect->();
    my $w = $ana->hello;
    is $w->{settings}{max_chats_per_agent}, 3, 'an agent that may have three chats';
    is scalar(@{ $w->{chats} }), 0, '... and has none';

    my (@v, @conv);
    for my $k (0 .. 2) {
        $v[$k] = visitor();
        $v[$k]->hello;
        $conv[$k] = $v[$k]->say(start => prechat => { name => "V$k" }, text => "first $k")->{conversation};
    }
    for my $k (0 .. 2) {
        ok $ana->take('offer', conversation => $conv[$k], timeout => 5), "chat $k offered";
        is $ana->say(accept => conversation => $conv[$k])->{type}, 'ack', '... and accepted';
        ok $v[$k]->take('joined', timeout => 5), '... its visitor sees the agent join';
    }
    my %conv_of = map { $conv[$_] => $_ } 0 .. 2;
    messages_by_conv($ana, 0.5, {});
    $v[$_]->drain(0.1) for 0 .. 2;

    # all at once, interleaved: each visitor and the agent in each chat,
    # nothing waited for until the end
    my (%acid, %vcid);
    for my $r (1 .. 20) {
        for my $k (0 .. 2) {
            push @{ $vcid{$k} }, $v[$k]->send(message => text => "v$k $r");
            push @{ $acid{$k} }, $ana->send(message => conversation => $conv[$k], text => "a$k $r");
        }
    }
    my (%ag, %vg);
    Helpdesk::Chat::pump(sub {
        my $n = grep { $_->{type} eq 'message' } @{ $ana->{msgs} };
        my $vn = 0;
        $vn += grep { $_->{type} eq 'message' } @{ $v[$_]{msgs} } for 0 .. 2;
        $n >= 120 && $vn >= 120;
    }, 30);
    my @acks = grep { $_->{type} eq 'ack' } @{ $ana->{msgs} };
    my @errors = grep { $_->{type} eq 'error' } map { @{ $_->{msgs} } } $ana, @v;
    is scalar(@errors), 0, 'no error' or diag explain \@errors;
    is scalar(@acks), 60, "the agent's 60 messages acknowledged";
    messages_by_conv($ana, 0.5, \%ag);
    for my $k (0 .. 2) {
        my @vm = grep { $_->{type} eq 'message' } $v[$k]->drain(0.1);
        $vg{$k} = [map { [$_->{id}, $_->{text}] } @vm];
    }
    for my $k (0 .. 2) {
        my @want = map { ("v$k $_", "a$k $_") } 1 .. 20;
        my @a_txt = map { $_->[1] } @{ $ag{ $conv[$k] } // [] };
        my @v_txt = map { $_->[1] } @{ $vg{$k} };
        is_deeply [sort @a_txt], [sort @want], "chat $k: the agent has its 40 messages, each once";
        is_deeply [sort @v_txt], [sort @want], "chat $k: its visitor the same 40, each once";
        is_deeply [grep { /^v/ } @a_txt], [map { "v$k $_" } 1 .. 20], "... the visitor's in order";
        is_deeply [grep { /^a/ } @v_txt], [map { "a$k $_" } 1 .. 20], "... the agent's in order";
        is_deeply [map { $_->[0] } @{ $ag{ $conv[$k] } }], [map { $_->[0] } @{ $vg{$k} }],
            '... both sides in the same order, the stream\'s';
        my @sorted = sort { my @x = split /-/, $a; my @y = split /-/, $b; $x[0] <=> $y[0] || $x[1] <=> $y[1] }
                     map { $_->[0] } @{ $vg{$k} };
        is_deeply [map { $_->[0] } @{ $vg{$k} }], \@sorted, '... which is the ids\' order';
    }
    is scalar(keys %ag), 3, '... and nothing of another chat';

    # a fourth chat: not offered to the full agent, waits, goes to another
    my $v4 = visitor();
    $v4->hello;
    my $c4 = $v4->say(start => prechat => { name => 'V3' }, text => 'fourth')->{conversation};
    my $q = $v4->take('queue', timeout => 5);
    is $q && $q->{position}, 1, 'a fourth chat waits first in line';
    ok !$ana->take('offer', conversation => $c4, timeout => 1.5), '... not offered to the full agent';
    is $ana->say(accept => conversation => $c4)->{type}, 'error', '... who cannot take it from the queue either';
    my $bruno = $bruno_connect->();
    $bruno->hello;
    ok $bruno->take('offer', conversation => $c4, timeout => 5), '... offered to another agent once one comes';
    is $bruno->say(accept => conversation => $c4)->{type}, 'ack', '... who takes it';
    ok $v4->take('joined', timeout => 5), '... and its visitor sees it';

    # the agent reconnects; meanwhile its visitors write, one of them more
    # than a page
    my %alast = map { $conv[$_] => $ag{ $conv[$_] }[-1][0] } 0 .. 2;
    $ana->close;
    my %missed;
    for my $k (0 .. 2) {
        for my $i (1 .. ($k == 1 ? 45 : 3)) {
            my $r = $v[$k]->say(message => text => "away $k $i");
            push @{ $missed{ $conv[$k] } }, $r->{ref} if ($r->{type} // '') eq 'ack';
        }
    }
    is scalar(@{ $missed{ $conv[1] } }), 45, 'its visitors write while it is away';
    $ana = $ana_connect->();
    $w = $ana->hello(last => \%alast);
    is_deeply [sort map { $_->{conversation} } @{ $w->{chats} }], [sort @conv],
        'the agent reconnects to its three chats';
    my %back;
    Helpdesk::Chat::pump(sub { (grep { $_->{type} eq 'message' } @{ $ana->{msgs} }) >= 51 }, 15);
    messages_by_conv($ana, 1, \%back);
    for my $k (0 .. 2) {
        is_deeply [map { $_->[0] } @{ $back{ $conv[$k] } // [] }], $missed{ $conv[$k] },
            "chat $k resumes with exactly what was missed, once, in order";
    }
    is scalar(keys %back), 3, '... and nothing else';
    ok !$ana->take('offer', timeout => 0.5), '... still full, offered nothing';

    # and live in each after that (a stream id is its stream's: two chats
    # may have the same one)
    my %live;
    for my $k (0 .. 2) {
        my $r = $v[$k]->say(message => text => "live $k");
        my $m = $ana->take('message', id => $r->{ref}, conversation => $conv[$k], timeout => 5);
        is $m && $m->{text}, "live $k", "chat $k: live again, in its own conversation";
        my $ra = $ana->say(message => conversation => $conv[$k], text => "reply $k");
        ok $v[$k]->take('message', id => $ra->{ref}, timeout => 5), '... both ways';
        $live{"$conv[$k] $ra->{ref}"} = 1;
    }
    my @rest = grep { $_->{type} eq 'message' } $ana->drain(0.5);
    is_deeply [sort map { "$_->{conversation} $_->{id}" } @rest], [sort keys %live],
        '... once (the rest are the agent\'s own replies)' or diag explain \@rest;
    $_->close for $ana, $bruno, $v4, @v;
}

my @bad = grep { /\[(alert|crit|error)\].*chat/ } split /\n/, $t->error_log;
is scalar(@bad), 0, 'no chat error in the log' or diag join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)];

$t->done;
