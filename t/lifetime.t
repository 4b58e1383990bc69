# nginx may end a request while it waits for PostgreSQL or Redis (a bad
# chunk in a body being discarded, a client that goes away): the query or
# the command is cancelled with the request, nothing calls into the freed
# request afterwards, and the single pooled connection (max=1) is back in
# service for the next request.  Run under valgrind by `make memcheck`.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_LINGER);
use Mojo::Promise;
use Helpdesk::Test qw(until_true);

my $t = Helpdesk::Test->new(workers => 1)->start_stack;
my $d = $t->dir;
$t->start_nginx(postgres => qq{"host=$d/run dbname=helpdesk user=helpdesk_app" max=1 backlog=8 timeout=5s},
                http => "helpdesk_base_domain localhost;",
                server => 'location / { helpdesk_portal; }');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
my $tk = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'first' })->res->json;
ok $tk->{id}, 'a ticket to read';

# reading a ticket takes a second while the flag is set
$t->psql(<<'SQL');
CREATE TABLE helpdesk.test_slow (on_read boolean NOT NULL);
INSERT INTO helpdesk.test_slow VALUES (false);
GRANT SELECT ON helpdesk.test_slow TO PUBLIC;
CREATE FUNCTION helpdesk.test_slow_read() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.action = 'ticket.read' AND (SELECT on_read FROM helpdesk.test_slow) THEN
        PERFORM pg_sleep(1);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_slow_read BEFORE INSERT ON helpdesk.audit_log
    FOR EACH ROW EXECUTE FUNCTION helpdesk.test_slow_read();
UPDATE helpdesk.test_slow SET on_read = true;
SQL

sub open_socket {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port, Timeout => 5)
        or die "connect: $!";
    return $s;
}

sub statement_running {
    return until_true(sub {
        $t->psql(q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%api_call%'
                   AND state = 'active' AND pid <> pg_backend_pid()}) > 0 }, 5);
}

sub still_serves {
    my ($name) = @_;
    my $t0 = time;
    my $res = $ua->get($t->url('/v1/health'))->res;
    is $res->code, 200, "$name: the next request is served";
    my $r2 = $ua->get($t->url("/v1/tickets/$tk->{id}") => $h)->res;
    is $r2->code, 200, "$name: and reads through the same single connection";
    is $r2->json->{subject}, 'first', "$name: the right ticket";
}

# 1. a GET with a chunked body: nginx discards the body while the query
#    runs, then finds a malformed chunk and ends the request
{
    my $s = open_socket();
    print $s "GET /api/v1/tickets/$tk->{id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Authorization: Bearer $acme->{key}\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5\r\nhello\r\n";
    ok statement_running(), 'bad chunk: the statement is running';
    print $s "zz\r\n";
    my $got = '';
    $s->blocking(0);
    my $until = time + 3;
    while (time < $until) { my $b; my $n = sysread($s, $b, 4096); last if defined $n && $n == 0; $got .= $b if $n; sleep 0.05 }
    unlike $got, qr{^HTTP/1\.1 200}, 'bad chunk: no ticket is sent for a broken request';
    close $s;
    sleep 1.2;    # the statement's answer arrives for a request that is gone
    still_serves('bad chunk');
}

# 2. the client goes away while its query runs
{
    my $s = open_socket();
    print $s "GET /api/v1/tickets/$tk->{id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Authorization: Bearer $acme->{key}\r\n\r\n";
    ok statement_running(), 'client gone: the statement is running';
    close $s;
    sleep 1.2;
    still_serves('client gone');
}

# 3. a request waiting in the backlog for the one connection, ended there
{
    my $a = open_socket();
    print $a "GET /api/v1/tickets/$tk->{id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Authorization: Bearer $acme->{key}\r\nConnection: close\r\n\r\n";
    ok statement_running(), 'backlog: the first statement holds the connection';
    my $b = open_socket();
    print $b "GET /api/v1/tickets/$tk->{id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Authorization: Bearer $acme->{key}\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "1\r\nx\r\n";
    sleep 0.2;
    print $b "not a chunk\r\n";
    close $b;
    local $/;
    my $first = <$a>;
    like $first // '', qr{^HTTP/1\.1 200 }, 'backlog: the first request is answered';
    close $a;
    still_serves('backlog');
}

# 4. a Redis command in flight (the session lookup of a portal page) when
#    the request is ended: its reply, and its timer, find nothing
my $redis = "redis-cli -s $d/run/redis.sock";
{
    is `$redis CLIENT PAUSE 1500 ALL`, "OK\n", 'redis: the server is paused';
    my $s = open_socket();
    print $s "GET /tickets HTTP/1.1\r\nHost: acme.localhost\r\nCookie: hd_session=" . ('a' x 64)
        . "\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n";
    sleep 0.2;
    print $s "??\r\n";
    close $s;
    sleep 1.6;    # past the pause and the command's one-second timeout
    still_serves('redis');
}

# 5. a portal call whose session lookup waits for Redis, whose body is
#    already in, and whose client resets the connection meanwhile: the body
#    is read at once when the session comes back, the call is refused, the
#    answer cannot be written, and nginx ends the request while our code
#    and nginx's body reader are still on the stack
{
    my $csrf = 'c' x 64;
    for my $i (1 .. 3) {
        is `$redis CLIENT PAUSE 800 ALL`, "OK\n", "reset mid-session ($i): the server is paused";
        my $s = open_socket();
        my $body = '{not json';
        print $s "POST /_/api/tickets HTTP/1.1\r\nHost: acme.localhost\r\n"
            . "Cookie: hd_session=" . ('a' x 64) . "; hd_csrf=$csrf\r\n"
            . "X-CSRF-Token: $csrf\r\nContent-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n$body";
        sleep 0.05;
        setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        close $s;
        sleep 1;
    }
    unlike $t->error_log, qr/count is zero|\[alert\]/, 'reset mid-session: no request is closed twice';
    still_serves('reset mid-session');
}

# 6. Redis stalls past the command timeout while requests wait on it: the
#    connection is dropped and made again, and a caller that sends its next
#    command from inside the drop (a login, whose attempt counter follows
#    its session lookup) gets a failure, not a connection nobody keeps
{
    my $paused = Time::HiRes::time();
    is `$redis CLIENT PAUSE 2500 ALL`, "OK\n", 'stall: the server is paused';
    my $c = $t->ua;
    my $csrf = 'c' x 64;
    my $cookie = 'hd_session=' . ('b' x 64) . "; hd_csrf=$csrf";
    my @p = ($c->get_p('http://127.0.0.1:' . $t->port . '/tickets'
                       => { Host => 'acme.localhost', Cookie => $cookie }),
             $c->post_p('http://127.0.0.1:' . $t->port . '/_/api/login'
                        => { Host => 'acme.localhost', Cookie => $cookie, 'X-CSRF-Token' => $csrf }
                        => json => { email => 'x@example.com', password => 'wrong-password' }));
    Mojo::Promise->all(@p)->wait;
    # once the pause is over (the two may fail sooner than it lasts)
    my $left = $paused + 2.7 - Time::HiRes::time();
    Time::HiRes::sleep($left > 1.5 ? $left : 1.5);
    still_serves('stall');
    my $clients = () = `$redis CLIENT LIST` =~ /^id=/mg;
    cmp_ok $clients, '<=', 2, "stall: no Redis connection left behind ($clients, with redis-cli's own)";
}

$t->psql('UPDATE helpdesk.test_slow SET on_read = false');
is $ua->get($t->url("/v1/tickets/$tk->{id}") => $h)->res->code, 200, 'all well at the end';

$t->done;
