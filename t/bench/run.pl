#!/usr/bin/env perl
# make bench: throughput and latency of the API against baselines measured
# in the same run, on the same machine:
#   GET  /v1/tickets/{id}  vs  a plain `return 200` location on the same nginx
#   POST /v1/tickets       vs  pgbench running the same SQL statement
# Prints requests/s, p50 and p99 latency, and the two ratios.  Then the
# memory of idle chat WebSockets against idle keep-alive connections
# (t/bench/chat_idle.pl), the chat's relay (t/bench/chat_relay.pl) and the
# email channel's ingest and parser (t/bench/email.pl).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Helpdesk::Test;
use Mojo::JSON qw(encode_json);

# the chat's idle connections: a stack of their own (t/bench/chat_idle.pl),
# after the others; BENCH_ONLY=chat-idle runs it alone
my $chat_idle = sub { system($^X, "$FindBin::Bin/chat_idle.pl") == 0 or warn "chat_idle.pl failed\n" };
if (($ENV{BENCH_ONLY} // '') eq 'chat-idle') {
    $chat_idle->();
    exit 0;
}

# the chat's relay, visitor -> agent across workers, against a bare Redis
# PUBLISH -> subscriber (t/bench/chat_relay.pl); BENCH_ONLY=chat-relay
my $chat_relay = sub { system($^X, "$FindBin::Bin/chat_relay.pl") == 0 or warn "chat_relay.pl failed\n" };
if (($ENV{BENCH_ONLY} // '') eq 'chat-relay') {
    $chat_relay->();
    exit 0;
}

# the email channel: parse time per MB, IMAP fetch and push ingest of a
# mail set against POST /v1/tickets (t/bench/email.pl); BENCH_ONLY=email
my $email = sub { system($^X, "$FindBin::Bin/email.pl") == 0 or warn "email.pl failed\n" };
if (($ENV{BENCH_ONLY} // '') eq 'email') {
    $email->();
    exit 0;
}

# TLS handshakes: one static certificate, the certificate callback over
# 1,000 names, $ssl_server_name files (t/bench/tls.pl); BENCH_ONLY=tls
my $tls = sub { system($^X, "$FindBin::Bin/tls.pl") == 0 or warn "tls.pl failed\n" };
if (($ENV{BENCH_ONLY} // '') eq 'tls') {
    $tls->();
    exit 0;
}

my $seconds = $ENV{BENCH_SECONDS} // 10;
my $conns = $ENV{BENCH_CONNECTIONS} // 32;
my $workers = $ENV{BENCH_WORKERS} // 2;

my $t = Helpdesk::Test->new(workers => $workers)->start_stack;
$t->start_nginx(postgres => sprintf('"host=%s/run dbname=helpdesk user=helpdesk_app" max=%d backlog=1024 timeout=10s', $t->dir, $ENV{BENCH_PG_MAX} // 16));
$t->psql("ALTER SYSTEM SET synchronous_commit = on; ALTER SYSTEM SET track_functions = 'pl'; " . ($ENV{BENCH_EXPLAIN} ? "LOAD 'auto_explain'; ALTER SYSTEM SET session_preload_libraries = 'auto_explain'; ALTER SYSTEM SET auto_explain.log_min_duration = '$ENV{BENCH_EXPLAIN}'; ALTER SYSTEM SET auto_explain.log_nested_statements = on;" : '') . "SELECT pg_reload_conf();");
if ($ENV{BENCH_STATEMENTS}) {
    # BENCH_STATEMENTS=1 prints the statements that took the most time,
    # nested ones included (pg_stat_statements; PostgreSQL restarts once)
    $t->psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
    $t->stop_pg;
    $t->start_pg;
    $t->psql("ALTER SYSTEM SET pg_stat_statements.track = 'all'; SELECT pg_reload_conf(); "
           . 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    sleep 1;
}
if ($ENV{BENCH_EXPLAIN}) {
    # BENCH_EXPLAIN=3ms logs the plans of statements slower than that
    $t->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'helpdesk_app'");
    sleep 1;
}
my $acme = $t->create_tenant('bench');
my $ua = $t->ua;
my $h = $t->auth($acme->{key});
my $ticket = $ua->post($t->url('/v1/tickets') => $h => json => {
    subject => 'bench', description => 'a ticket to read', requester_email => 'bench@example.com' })->res->json;

my $dir = $t->dir;
my $body = encode_json({ subject => 'Benchmark ticket', description => 'created by wrk',
                         priority => 'high', category => 'bench', requester_email => 'bench@example.com' });

open my $lua, '>', "$dir/post.lua" or die;
print $lua qq{wrk.method = "POST"\nwrk.body = '$body'\n}
         . qq{wrk.headers["Content-Type"] = "application/json"\n}
         . qq{wrk.headers["Authorization"] = "Bearer $acme->{key}"\n};
close $lua;

open my $get, '>', "$dir/get.lua" or die;
print $get qq{wrk.headers["Authorization"] = "Bearer $acme->{key}"\n};
close $get;

# the same statement the module sends for a POST, for pgbench
(my $sqlbody = $body) =~ s/'/''/g;
open my $sql, '>', "$dir/create.sql" or die;
print $sql "SELECT body FROM api.api_call(sha256(convert_to('$acme->{key}', 'UTF8')), "
         . "'tickets:write', '127.0.0.1'::inet, 'ticket.create', '$sqlbody'::jsonb);\n";
close $sql;
chmod 0644, "$dir/create.sql";

open $sql, '>', "$dir/get.sql" or die;
print $sql "SELECT body FROM api.api_call(sha256(convert_to('$acme->{key}', 'UTF8')), "
         . "'tickets:read', '127.0.0.1'::inet, 'ticket.get', '{\"id\": \"$ticket->{id}\"}'::jsonb);\n";
close $sql;
chmod 0644, "$dir/get.sql";

sub wrk {
    my ($script, $path) = @_;
    my $out = `wrk -t2 -c$conns -d${seconds}s --latency -s $dir/$script http://127.0.0.1:@{[$t->port]}$path 2>&1`;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($p50) = $out =~ /^\s+50%\s+([\d.]+\w+)/m;
    my ($p99) = $out =~ /^\s+99%\s+([\d.]+\w+)/m;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    die "wrk failed:\n$out" unless $rps;
    warn "warning: $non2xx non-2xx responses on $path\n" if $non2xx;
    return { rps => $rps, p50 => $p50, p99 => $p99 };
}

sub pgbench {
    my ($script) = @_;
    my $out = `$Helpdesk::Test::TOP/src/tools/stack.sh pgbench $dir -n -c $conns -j 2 -T $seconds -f $dir/$script 2>&1`;
    my ($tps) = $out =~ /tps = ([\d.]+)/;
    my ($lat) = $out =~ /latency average = ([\d.]+ ms)/;
    die "pgbench failed:\n$out" unless $tps;
    return { rps => $tps, p50 => "avg $lat", p99 => '-' };
}

open my $e, '>', "$dir/empty.lua" or die;
close $e;

# WhatsApp webhook ingest: every request a new message (unique wamid) from
# one of 5,000 customers, as a 360dialog v2 delivery (each wrk thread
# starts at its own place in the list: two customers writing within the
# same millisecond is the exception, not every message)
my $conn = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => '360dialog', display_phone_number => '+55 11 4000-0000', api_key => 'k',
    base_url => 'http://127.0.0.1:9' })->res->json;
my ($wapath) = $conn->{webhook_url} =~ m{^http://[^/]+(/.*)$};
open my $wl, '>', "$dir/wa.lua" or die;
print $wl <<'LUA';
local counter = 0
local thread_id = 0
local run = os.time()
setup = function(thread)
    thread:set("tid", thread_id)
    thread_id = thread_id + 1
end
request = function()
    counter = counter + 1
    local from = 5511900000000 + ((counter + tid * 2500) % 5000)
    local body = '{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages",'
        .. '"value":{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"Cliente"},"wa_id":"' .. from .. '"}],'
        .. '"messages":[{"from":"' .. from .. '","id":"wamid.B' .. run .. '.' .. tid .. '.' .. counter .. '","timestamp":"1700000000",'
        .. '"type":"text","text":{"body":"mensagem de teste"}}]}}]}]}'
    return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
LUA
close $wl;

# BENCH_ONLY=wa (or plain,get,pgget,pgbench,post) runs a subset
my %only = map { $_ => 1 } split /,/, ($ENV{BENCH_ONLY} // 'plain,get,pgget,pgbench,post,wa');
my %r;
$r{plain} = wrk('empty.lua', '/plain') if $only{plain};
$r{get} = wrk('get.lua', "/api/v1/tickets/$ticket->{id}") if $only{get};
$r{pgget} = pgbench('get.sql') if $only{pgget};
$r{pgbench} = pgbench('create.sql') if $only{pgbench};
$r{post} = wrk('post.lua', '/api/v1/tickets') if $only{post};
if ($only{wa}) {
    # a warm-up, then fresh statistics: a running system has them, and the
    # plans PostgreSQL caches for an empty table are not the ones it uses
    # on a live one
    `wrk -t2 -c$conns -d2s -s $dir/wa.lua http://127.0.0.1:@{[$t->port]}$wapath 2>&1`;
    $t->psql('ANALYZE');
    $t->psql('SELECT pg_stat_statements_reset()') if $ENV{BENCH_STATEMENTS};
}
my $before = $t->psql('SELECT count(*) FROM helpdesk.whatsapp_messages');
$r{wa} = wrk('wa.lua', $wapath) if $only{wa};
my $stored = $t->psql('SELECT count(*) FROM helpdesk.whatsapp_messages') - $before;
my $statements = $ENV{BENCH_STATEMENTS} ? $t->psql(q{SELECT lpad(round(total_exec_time)::text, 7)
    || ' ms ' || lpad(calls::text, 7) || ' calls  '
    || left(regexp_replace(query, '\s+', ' ', 'g'), 90)
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 30}) : '';
my $profile = $ENV{BENCH_PROFILE} ? $t->psql(q{SELECT funcname || ' ' || calls || ' calls, '
    || round((self_time / greatest(calls, 1))::numeric * 1000) || ' us self each'
    FROM pg_stat_user_functions ORDER BY self_time DESC LIMIT 12}) : '';

printf "\n%-40s %12s %12s %12s\n", 'benchmark', 'req/s', 'p50', 'p99';
for (['plain nginx: return 200', 'plain'],
     ['pgbench: the same SQL as a GET', 'pgget'],
     ['GET /v1/tickets/{id}', 'get'],
     ['pgbench: the same SQL as a POST', 'pgbench'],
     ['POST /v1/tickets', 'post'],
     ['WhatsApp webhook (1 message each)', 'wa']) {
    my $x = $r{$_->[1]} or next;
    printf "%-40s %12.0f %12s %12s\n", $_->[0], $x->{rps}, $x->{p50}, $x->{p99};
}
print "\n";
printf "GET  / return 200: %.2fx (target >= 0.40)\n", $r{get}{rps} / $r{plain}{rps}
    if $r{get} && $r{plain};
printf "GET  / pgbench:    %.2fx (the module's own overhead on a read)\n", $r{get}{rps} / $r{pgget}{rps}
    if $r{get} && $r{pgget};
printf "POST / pgbench:    %.2fx (target >= 0.80)\n", $r{post}{rps} / $r{pgbench}{rps}
    if $r{post} && $r{pgbench};
printf "WhatsApp ingest:   %.0f messages/s committed before the ack (%d stored), p99 %s "
     . "(target 5000/s, p99 < 50ms)\n", $stored / $seconds, $stored, $r{wa}{p99} if $r{wa};
print "\nPL/pgSQL time, whole run:\n$profile\n" if $profile;
print "\nStatements by time, last run:\n$statements\n" if $statements;
chomp(my $cpus = `nproc`);
printf "(%d nginx workers, %d connections, %d s each, %s CPUs)\n", $workers, $conns, $seconds, $cpus;

$t->cleanup;
$chat_idle->() unless $ENV{BENCH_ONLY};
$chat_relay->() unless $ENV{BENCH_ONLY};
$email->() unless $ENV{BENCH_ONLY};
$tls->() unless $ENV{BENCH_ONLY};
