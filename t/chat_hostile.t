# The chat against hostile clients and odd protocols: what must never take
# a worker down or let one request disturb another.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);

my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;
my $h2_port = Helpdesk::Test::free_port();
$t->start_nginx(http => "server {
                             listen 127.0.0.1:$h2_port http2;
                             location /chat/ { helpdesk_chat; }
                             location = /plain { return 200 'ok'; }
                         }",
                server => 'location /chat/ { helpdesk_chat; }');
my $port = $t->port;

my $acme = $t->create_tenant('acme');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, max_message_bytes)
            VALUES ('$acme->{id}', '{https://www.acme.example}', 1024)});
my $ORIGIN = 'https://www.acme.example';

sub worker_pids {
    my $master = $t->nginx_pid;
    my @pids = grep { length } split /\s+/, `pgrep -P $master 2>/dev/null`;
    return join ',', sort @pids;
}

# --- the event stream over HTTP/2 -------------------------------------------
SKIP: {
    skip 'curl without HTTP/2', 3
        unless `curl --version` =~ /HTTP2/;

    my $before = worker_pids();
    my $out = `curl -s -m 5 --http2-prior-knowledge -o /dev/null -w '%{http_code} %{http_version}' -H 'Origin: $ORIGIN' 'http://127.0.0.1:$h2_port/chat/v1/sse?tenant=acme' 2>&1`;
    like($out, qr/^(400|505) 2$/, 'the event stream over HTTP/2 is refused, not taken over')
        or diag $out;

    # the worker is the same, and another HTTP/2 request is served
    my $plain = `curl -s -m 5 --http2-prior-knowledge 'http://127.0.0.1:$h2_port/plain'`;
    is($plain, 'ok', 'HTTP/2 still answers after');
    is(worker_pids(), $before, 'no worker died');
}

my $log = $t->error_log // '';
unlike($log, qr/\[(alert|emerg)\]|signal \d+|exited on/, 'no alert or crash in the error log');

$t->done;
