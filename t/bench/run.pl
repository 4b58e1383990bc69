#!/usr/bin/env perl
# make bench: throughput and latency of the API against baselines measured
# in the same run, on the same machine:
#   GET  /v1/tickets/{id}  vs  a plain `return 200` location on the same nginx
#   POST /v1/tickets       vs  pgbench running the same SQL statement
# Prints requests/s, p50 and p99 latency, and the two ratios.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Helpdesk::Test;
use Mojo::JSON qw(encode_json);

my $seconds = $ENV{BENCH_SECONDS} // 10;
my $conns = $ENV{BENCH_CONNECTIONS} // 32;
my $workers = $ENV{BENCH_WORKERS} // 2;

my $t = Helpdesk::Test->new(workers => $workers)->start_stack;
$t->start_nginx(postgres => sprintf('"host=%s/run dbname=helpdesk user=helpdesk_app" max=16 backlog=1024 timeout=10s', $t->dir));
$t->psql("ALTER SYSTEM SET synchronous_commit = on; ALTER SYSTEM SET track_functions = 'pl'; SELECT pg_reload_conf();");
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
print $sql "SELECT status FROM helpdesk.api_call(sha256(convert_to('$acme->{key}', 'UTF8')), "
         . "'tickets:write', '127.0.0.1'::inet, 'ticket.create', '$sqlbody'::jsonb);\n";
close $sql;
chmod 0644, "$dir/create.sql";

open $sql, '>', "$dir/get.sql" or die;
print $sql "SELECT status FROM helpdesk.api_call(sha256(convert_to('$acme->{key}', 'UTF8')), "
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
# one of 500 customers, as a 360dialog v2 delivery
my $conn = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => '360dialog', display_phone_number => '+55 11 4000-0000', api_key => 'k',
    base_url => 'http://127.0.0.1:9' })->res->json;
my ($wapath) = $conn->{webhook_url} =~ m{^http://[^/]+(/.*)$};
open my $wl, '>', "$dir/wa.lua" or die;
print $wl <<'LUA';
local counter = 0
local thread_id = 0
setup = function(thread)
    thread:set("tid", thread_id)
    thread_id = thread_id + 1
end
request = function()
    counter = counter + 1
    local from = 5511900000000 + (counter % 500)
    local body = '{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages",'
        .. '"value":{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"Cliente"},"wa_id":"' .. from .. '"}],'
        .. '"messages":[{"from":"' .. from .. '","id":"wamid.B' .. tid .. '.' .. counter .. '","timestamp":"1700000000",'
        .. '"type":"text","text":{"body":"mensagem de teste"}}]}}]}]}'
    return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
LUA
close $wl;

my %r;
$r{plain} = wrk('empty.lua', '/plain');
$r{get} = wrk('get.lua', "/api/v1/tickets/$ticket->{id}");
$r{pgget} = pgbench('get.sql');
$r{pgbench} = pgbench('create.sql');
$r{post} = wrk('post.lua', '/api/v1/tickets');
my $before = $t->psql('SELECT count(*) FROM helpdesk.whatsapp_messages');
$r{wa} = wrk('wa.lua', $wapath);
my $stored = $t->psql('SELECT count(*) FROM helpdesk.whatsapp_messages') - $before;
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
    my $x = $r{$_->[1]};
    printf "%-40s %12.0f %12s %12s\n", $_->[0], $x->{rps}, $x->{p50}, $x->{p99};
}
printf "\nGET  / return 200: %.2fx (target >= 0.40)\n", $r{get}{rps} / $r{plain}{rps};
printf "GET  / pgbench:    %.2fx (the module's own overhead on a read)\n", $r{get}{rps} / $r{pgget}{rps};
printf "POST / pgbench:    %.2fx (target >= 0.80)\n", $r{post}{rps} / $r{pgbench}{rps};
printf "WhatsApp ingest:   %.0f messages/s committed before the ack (%d stored), p99 %s "
     . "(target 5000/s, p99 < 50ms)\n", $stored / $seconds, $stored, $r{wa}{p99};
print "\nPL/pgSQL time, whole run:\n$profile\n" if $profile;
chomp(my $cpus = `nproc`);
printf "(%d nginx workers, %d connections, %d s each, %s CPUs)\n", $workers, $conns, $seconds, $cpus;

$t->cleanup;
