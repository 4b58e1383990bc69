#!/usr/bin/env perl
# make bench, the email channel (BENCH_ONLY=email runs it alone):
#
#  parse   the parser's time per MB: t/bench/mime_parse.c (built by make
#          bench from the module's own parser objects) on a 10 KB text
#          mail, a 1 MB HTML mail with inline images and a mail with a
#          20 MB attachment, against reading the same bytes, their
#          SHA-256, GMime's parse alone and GMime's parse with every part
#          decoded, in the same run
#  imap    a real Dovecot mailbox holding a generated mail set
#          (t/lib/Helpdesk/MailSet.pm: new mail plain, multipart/
#          alternative and with an attachment, replies to earlier mail,
#          auto-replies) fetched by the fetch job into tickets: messages/s
#          from the mailbox's creation to the last one stored, the rows
#          checked one by one (every mail once, replies on their thread's
#          ticket, auto-replies dropped), the workers' memory before,
#          at the peak and after, CPU per message by process
#  push    the same mail set POSTed to the inbound URL by curl with
#          BENCH_EMAIL_CLIENTS transfers at once, the rows checked alike
#  api     the baseline: as many POST /v1/tickets (the mail's subject
#          and text), one at a time (beside the fetch, which takes a
#          mailbox's mail one at a time) and with the push's clients
#
# Settings: BENCH_EMAIL_MAILS (10000; 1000 for a quick run),
# BENCH_EMAIL_CLIENTS (4), BENCH_EMAIL_PARSE_SECONDS (2, per measure),
# BENCH_EMAIL_PER_RUN (50, the fetch job's default per_run),
# BENCH_EMAIL_BACKLOG (100, see below), BENCH_WORKERS (2),
# BENCH_EMAIL_ONLY (parse,imap,push,api), BENCH_PROFILE=1 (PostgreSQL's
# time per PL/pgSQL function, per message, after each part).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Dovecot;
use Helpdesk::MailSet;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Mojo::JSON qw(encode_json);
use Time::HiRes qw(time sleep);

my $N = $ENV{BENCH_EMAIL_MAILS} // 10_000;
my $clients = $ENV{BENCH_EMAIL_CLIENTS} // 4;
my $parse_secs = $ENV{BENCH_EMAIL_PARSE_SECONDS} // 2;
my $per_run = $ENV{BENCH_EMAIL_PER_RUN} // 50;
my $workers = $ENV{BENCH_WORKERS} // 2;
my %only = map { $_ => 1 } split /,/, ($ENV{BENCH_EMAIL_ONLY} // 'parse,imap,push,api');
my $TOP = $Helpdesk::Test::TOP;

sub load { (split ' ', `cat /proc/loadavg`)[0] }
chomp(my $cpus = `nproc`);
my $load0 = load();
printf "\nemail bench: %s CPUs, load average %s at the start\n", $cpus, $load0;

# --- the parser's time per MB, before any server runs
if ($only{parse}) {
    my $bin = "$TOP/build/bench/mime_parse";
    -x $bin or die "$bin: not built (make bench builds it)\n";
    make_path("$TOP/build/t");
    my $pd = tempdir('email-parse-XXXXXX', DIR => "$TOP/build/t", CLEANUP => 1);
    my @files = map { Helpdesk::MailSet::sized($_, "$pd/$_.eml") } qw(text10k html1m att20m);
    my @out = `$bin $parse_secs $pd @files`;
    die "mime_parse failed\n" if $?;
    my %r;
    for (@out) {
        my ($f, $bytes, $what, $runs, $ms, $ms_mb, $mbs) = split;
        $f =~ s/\.eml$//;
        $r{$f}{bytes} = $bytes;
        $r{$f}{$what} = { ms => $ms, ms_mb => $ms_mb, mbs => $mbs, runs => $runs };
    }
    print "\nparse time per MB (one thread; ms per MB / MB/s; MB = 2^20 bytes of the raw message)\n";
    printf "%-8s %10s | %-17s %-17s %-17s %-17s | %-22s %6s\n", 'mail', 'bytes', 'read', 'sha256',
        'gmime parse', 'gmime + decode', 'module (ms per mail)', 'x dec';
    for my $f (qw(text10k html1m att20m)) {
        my $x = $r{$f};
        my $cell = sub { sprintf '%7.3f / %7.0f', $x->{$_[0]}{ms_mb}, $x->{$_[0]}{mbs} };
        printf "%-8s %10d | %-17s %-17s %-17s %-17s | %-22s %5.1fx\n", $f, $x->{bytes},
            $cell->('read'), $cell->('sha256'), $cell->('gmime'), $cell->('gmime+dec'),
            $cell->('module') . sprintf(' (%.2f)', $x->{module}{ms}),
            $x->{module}{ms_mb} / $x->{'gmime+dec'}{ms_mb};
    }
}

exit 0 unless $only{imap} || $only{push} || $only{api};

# --- a stack, Dovecot, the mail set
my $t = Helpdesk::Test->new(workers => $workers)->start_stack;
my $d = $t->dir;
my $imap = Helpdesk::Dovecot->new(dir => "$d/imap", users => { support => 'secret', paced => 'secret' });
$imap->start;
my $ca = $imap->ca_file;
$t->start_nginx(
    http => "helpdesk_email_fetch interval=100ms per_run=$per_run timeout=60s ca_file=$ca;",
    postgres => qq{"host=$d/run dbname=helpdesk user=helpdesk_app" max=16 backlog=1024 timeout=10s});
my $ua = $t->ua;
$ua->inactivity_timeout(120);
# BENCH_PROFILE=1: PostgreSQL's time per PL/pgSQL function after each part
$t->psql("ALTER SYSTEM SET track_functions = 'pl'; SELECT pg_reload_conf()") if $ENV{BENCH_PROFILE};

sub profile {
    my ($n) = @_;
    return unless $ENV{BENCH_PROFILE};
    sleep 11;       # an idle backend reports its counts within 10 s
    print "  PL/pgSQL, self time per message (calls per message):\n";
    print "    $_\n" for split /\n/, q1("SELECT lpad(round((self_time * 1000 / $n)::numeric)::text, 6) || ' us  '
        || lpad(round(calls::numeric / $n, 2)::text, 6) || '  ' || schemaname || '.' || funcname
        FROM pg_stat_user_functions ORDER BY self_time DESC LIMIT 12");
    print "    total " . q1("SELECT round((sum(self_time) * 1000 / $n)::numeric) FROM pg_stat_user_functions") . " us\n";
    q1('SELECT pg_stat_reset()');
}


my $t0 = time;
my $set = Helpdesk::MailSet->new(count => $N);
my @files = $set->write_dir("$d/mails");
my $bytes = 0;
$bytes += -s $_ for @files;
my $e = $set->expected;
printf "\nmail set: %d mails, %.1f MB (%d new: %d plain, %d multipart/alternative, %d with an attachment; "
     . "%d replies; %d auto-replies), made in %.1f s\n", $N, $bytes / 1048576, $e->{new} // 0,
     $e->{shape_plain} // 0, $e->{shape_alternative} // 0, $e->{shape_attachment} // 0,
     $e->{reply} // 0, $e->{auto} // 0, time - $t0;

sub q1 { $t->psql($_[0]) }

# --- processes: CPU (user + system, reaped children included) and memory
my $hz = `getconf CLK_TCK` + 0 || 100;
my %roots = (nginx => sub { $t->nginx_pid },
             postgres => sub { my $p = `head -1 $d/pg/postmaster.pid 2>/dev/null`; chomp $p; $p },
             dovecot => sub { my $p = `cat $d/imap/run/master.pid 2>/dev/null`; chomp $p; $p });

sub proc_table {
    my %kids;
    my %cpu;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $rest) = $line =~ /^(\d+) \(.*\) (.*)$/ or next;
        my @f = split ' ', $rest;
        push @{ $kids{$f[1]} }, $pid;
        $cpu{$pid} = [ $f[11] + $f[12], $f[13] + $f[14] ];
    }
    return (\%kids, \%cpu);
}

# seconds of CPU of each group: the root with its reaped children, and
# every live descendant
sub cpu {
    my ($kids, $cpu) = proc_table();
    my %s;
    for my $name (keys %roots) {
        my $root = $roots{$name}->() or next;
        my @todo = ($root);
        my $ticks = $cpu->{$root} ? $cpu->{$root}[1] : 0;
        while (defined(my $p = shift @todo)) {
            $ticks += $cpu->{$p}[0] if $cpu->{$p};
            push @todo, @{ $kids->{$p} // [] };
        }
        $s{$name} = $ticks / $hz;
    }
    return \%s;
}

sub status_kb {
    my ($pid, $key) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (my $line = <$fh>) { return $1 if $line =~ /^$key:\s+(\d+)/ }
    return 0;
}

sub memory_mark {
    my @w = $t->worker_pids;
    for my $pid (@w) {
        if (open my $c, '>', "/proc/$pid/clear_refs") { print $c "5"; close $c }
    }
    return { map { $_ => status_kb($_, 'VmRSS') } @w };
}

sub memory_report {
    my ($before) = @_;
    return join '; ', map {
        sprintf 'worker %d: RSS %.1f MB before, peak %.1f MB, %.1f MB after', $_,
            $before->{$_} / 1024, status_kb($_, 'VmHWM') / 1024, status_kb($_, 'VmRSS') / 1024
    } sort keys %$before;
}

sub cpu_report {
    my ($c0, $c1, $n) = @_;
    return join ', ', map { sprintf '%s %.2f ms', $_, ($c1->{$_} - $c0->{$_}) * 1000 / $n }
        grep { exists $c0->{$_} && exists $c1->{$_} } qw(nginx postgres dovecot);
}

# --- the rows: every mail once, on the right ticket
sub check_rows {
    my ($label, $tenant, $mailbox) = @_;
    my @bad;
    my %row;
    for (split /\n/, q1("SELECT message_id_header, coalesce(ticket_id::text, ''), outcome, "
                        . "coalesce(drop_reason, ''), coalesce(event_id::text, '') FROM helpdesk.email_messages "
                        . "WHERE tenant_id = '$tenant' AND mailbox_id = '$mailbox' AND direction = 'in'")) {
        my ($id, $ticket, $outcome, $reason, $event) = split /\|/;
        push @bad, "doubled: $id" if $row{$id};
        $row{$id} = { ticket => $ticket, outcome => $outcome, reason => $reason, event => $event };
    }
    my (%ticket_of, %events);
    for my $m (@{ $set->mails }) {
        my $r = $row{ $m->{id} } or do { push @bad, "missing: $m->{id}"; next };
        if ($m->{kind} eq 'auto') {
            push @bad, "not dropped: $m->{id}" unless $r->{outcome} eq 'dropped' && $r->{ticket} eq '';
            next;
        }
        push @bad, "no event: $m->{id}" unless $r->{event} ne '' && !$events{ $r->{event} }++;
        if ($m->{kind} eq 'new') {
            push @bad, "not created: $m->{id} ($r->{outcome})" unless $r->{outcome} eq 'created';
            $ticket_of{ $m->{id} } = $r->{ticket};
        } else {
            my $want = $ticket_of{ $m->{root} } // '?';
            push @bad, "reply off its thread: $m->{id} ($r->{outcome})"
                unless $r->{outcome} eq 'replied' && $r->{ticket} eq $want;
        }
    }
    my %seen;
    my $distinct = grep { !$seen{$_}++ } values %ticket_of;
    push @bad, "tickets shared by new mails" if $distinct != keys %ticket_of;
    my $tickets = q1("SELECT count(*) FROM helpdesk.tickets WHERE tenant_id = '$tenant'");
    my $ev = q1("SELECT count(*) FROM helpdesk.ticket_events WHERE tenant_id = '$tenant' "
                . "AND event_id IN (SELECT event_id FROM helpdesk.email_messages "
                . "WHERE tenant_id = '$tenant' AND mailbox_id = '$mailbox')");
    my $pdf = q1("SELECT count(*) FROM helpdesk.attachments WHERE tenant_id = '$tenant' AND filename = 'scan.pdf'");
    push @bad, "tickets: $tickets, not $e->{new}" if $tickets != ($e->{new} // 0);
    push @bad, "events: $ev, not " . ($N - ($e->{auto} // 0)) if $ev != $N - ($e->{auto} // 0);
    push @bad, "attachments: $pdf, not $e->{shape_attachment}" if $pdf != ($e->{shape_attachment} // 0);
    printf "  rows (%s): %d mails stored once each, %d tickets, %d events, %d replies on their thread's ticket, "
         . "%d auto-replies dropped, %d attachments: %s\n", $label, scalar(keys %row), $tickets, $ev,
         scalar(grep { $_->{outcome} eq 'replied' } values %row),
         scalar(grep { $_->{outcome} eq 'dropped' } values %row), $pdf,
         @bad ? "WRONG (" . scalar(@bad) . "): " . join('; ', @bad[0 .. ($#bad < 4 ? $#bad : 4)]) : 'all as expected';
    return !@bad;
}

my %r;
sub tenant {
    my ($slug) = @_;
    my $x = $t->create_tenant($slug);
    return ($x, $t->auth($x->{key}));
}

# curl with a config of one transfer per file; returns the seconds, the
# answers by status
sub curl_run {
    my ($name, $parallel, $url, $type, $auth, @bodies) = @_;
    my $cfg = "$d/$name.curl";
    open my $fh, '>', $cfg or die $!;
    my $k = 0;
    for my $f (@bodies) {
        print $fh ($k++ ? "next\n" : '')
                . qq{url = "$url"\ndata-binary = "\@$f"\nheader = "Content-Type: $type"\n}
                . ($auth ? qq{header = "Authorization: Bearer $auth"\n} : '')
                . qq{output = "/dev/null"\nwrite-out = "%{http_code}\\n"\n};
    }
    close $fh;
    my $t0 = time;
    my @codes = `curl -sS --no-progress-meter --max-time 120 @{[$parallel > 1 ? "-Z --parallel-max $parallel" : '']} -K $cfg`;
    my $secs = time - $t0;
    my %by;
    chomp @codes;
    $by{$_}++ for @codes;
    return ($secs, \%by);
}

sub codes { my ($by) = @_; join ', ', map { "$by->{$_} x $_" } sort keys %$by }

# --- IMAP.  First as the issue puts it: a mailbox already holding the
# whole set, connected; the clock from the connection to the last mail
# stored.  A run that cannot list the mailbox (the health says why) is
# reported at once, and the set is fetched again from a second mailbox
# that receives it while the job runs, in batches of $backlog whenever
# fewer than that wait unfetched (BENCH_EMAIL_BACKLOG; 0 skips it): a
# run lists at most about twice that, and takes per_run of them.
sub imap_run {
    my ($label, $slug, $user, $paced) = @_;
    my ($x, $h) = tenant($slug);
    my @mails = @{ $set->mails };
    my $delivered = 0;
    if (!$paced) {
        $imap->deliver($user, $_->{raw}) for @mails;
        $delivered = @mails;
    }
    q1('SELECT pg_stat_reset()') if $ENV{BENCH_PROFILE};
    my $mem = memory_mark();
    my $c0 = cpu();
    my $start = q1('SELECT extract(epoch FROM clock_timestamp())');
    my $tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
        kind => 'imap', address => 'support@acme.test', url => $imap->url,
        username => $user, password => 'secret', sender_limit => 10000 });
    die 'mailbox: ' . $tx->res->body unless $tx->res->code == 201;
    my $mb = $tx->res->json->{id};
    # between runs that emptied it, the mailbox is polled every second
    # (the API's least is 30 s: mail arriving at a steady pace would wait
    # for it, and the rate measured be the poll's)
    q1("UPDATE helpdesk.email_mailboxes SET poll_interval = 1 WHERE mailbox_id = '$mb'") if $paced;
    my $count = sub { q1("SELECT count(*) FROM helpdesk.email_messages WHERE mailbox_id = '$mb'") };
    my $state = sub { q1("SELECT health FROM helpdesk.email_mailboxes WHERE mailbox_id = '$mb'") };
    my $failed;
    my $done = until_true(sub {
        sleep($paced ? 0.2 : 0.5);
        my $n = $count->();
        if ($paced && $delivered < @mails && $delivered - $n < $paced) {
            my $to = $delivered + $paced;
            $to = @mails if $to > @mails;
            $imap->deliver($user, $mails[$_]{raw}) for $delivered .. $to - 1;
            $delivered = $to;
        }
        $failed = 1 if $n == 0 && $state->() !~ /^(unknown|ok)$/;
        return $failed || $n >= $N;
    }, 60 + $N * 0.2);
    sleep 0.5;      # a run still going would store a mail twice: none may
    my $c1 = cpu();
    my $end = q1("SELECT extract(epoch FROM max(created_at)) FROM helpdesk.email_messages WHERE mailbox_id = '$mb'");
    my $n = $count->();
    my $secs = ($end || $start) - $start;
    my $health = $ua->get($t->url("/v1/email/mailboxes/$mb") => $h)->res->json;
    my $why = sprintf 'mailbox health %s%s, fetched %s', $health->{health}{state} // '?',
        $health->{health}{reason} ? " ($health->{health}{reason})" : '', $health->{fetch}{fetched} // '?';
    if ($failed || !$n) {
        printf "%s: FAILED, nothing fetched: %s\n", $label, $why;
        return undef;
    }
    printf "%s: %d of %d mails stored in %.1f s: %.0f messages/s%s\n", $label, $n, $N, $secs,
        $n / $secs, $done ? '' : ' (TIMED OUT)';
    printf "  CPU per message: %s\n", cpu_report($c0, $c1, $n || 1);
    printf "  %s\n", memory_report($mem);
    printf "  %s\n", $why;
    if (!$done) {
        print "  error.log: $_\n" for grep { /\[(warn|error|crit|alert)\]/ } split /\n/, $t->error_log;
        print "  dovecot: $_\n" for grep { /Error|Fatal|Warning/ } split /\n/, $imap->log_text;
    }
    check_rows($label, $x->{id}, $mb);
    profile($n);
    return { n => $n, secs => $secs, rate => $n / $secs };
}

if ($only{imap}) {
    my $backlog = $ENV{BENCH_EMAIL_BACKLOG} // 100;
    print "\n";
    $r{imap} = imap_run("IMAP fetch, a mailbox holding $N mails", 'imapbench', 'support', 0);
    if (!$r{imap} && $backlog) {
        $r{imap} = imap_run("IMAP fetch, $N mails arriving (at most $backlog unfetched at a delivery)",
                            'imappaced', 'paced', $backlog);
    }
}

# --- push: the same mails to the inbound URL
if ($only{push}) {
    my ($x, $h) = tenant('pushbench');
    my $tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
        address => 'support@acme.test', sender_limit => 10000 });
    die 'mailbox: ' . $tx->res->body unless $tx->res->code == 201;
    my $mb = $tx->res->json;
    (my $path = $mb->{inbound_url}) =~ s{^http://[^/]+}{};
    sleep 11, q1('SELECT pg_stat_reset()') if $ENV{BENCH_PROFILE};
    my $mem = memory_mark();
    my $c0 = cpu();
    my ($secs, $by) = curl_run('push', $clients, "http://127.0.0.1:@{[$t->port]}$path",
                               'message/rfc822', undef, @files);
    my $c1 = cpu();
    $r{push} = { secs => $secs, rate => $N / $secs };
    printf "\npush, POST /v1/email/inbound/{token}, %d clients: %d mails in %.1f s: %.0f messages/s (answers: %s)\n",
        $clients, $N, $secs, $N / $secs, codes($by);
    printf "  CPU per message: %s\n", cpu_report($c0, $c1, $N);
    printf "  %s\n", memory_report($mem);
    check_rows('push', $x->{id}, $mb->{id});
    profile($N);
}

# --- the baseline: tickets by the API, one per mail, from its text
if ($only{api}) {
    my ($x, $h) = tenant('apibench');
    make_path("$d/api");
    my $k = 0;
    my @json;
    for my $m (@{ $set->mails }) {
        my $f = sprintf '%s/api/%05d.json', $d, ++$k;
        open my $fh, '>:raw', $f or die $!;
        print $fh encode_json({ subject => $m->{subject}, description => $m->{text},
                                requester_email => $m->{from} });
        close $fh;
        push @json, $f;
    }
    print "\n";
    for my $c (1, $clients) {
        my $c0 = cpu();
        my ($secs, $by) = curl_run("api$c", $c, $t->url('/v1/tickets'), 'application/json', $x->{key}, @json);
        my $c1 = cpu();
        $r{"api$c"} = { secs => $secs, rate => $N / $secs };
        printf "baseline, POST /v1/tickets, %d client%s: %d tickets in %.1f s: %.0f/s (answers: %s)\n",
            $c, $c > 1 ? 's' : '', $N, $secs, $N / $secs, codes($by);
        printf "  CPU per ticket: %s\n", cpu_report($c0, $c1, $N);
        profile($N);
    }
}

print "\n";
printf "IMAP fetch / POST /v1/tickets (1 client):    %.2fx\n", $r{imap}{rate} / $r{api1}{rate}
    if $r{imap} && $r{api1};
printf "push / POST /v1/tickets (%d clients):         %.2fx\n", $clients, $r{push}{rate} / $r{"api$clients"}{rate}
    if $r{push} && $r{"api$clients"};
printf "(%d nginx workers, %s CPUs, load average %s at the start, %s at the end)\n",
    $workers, $cpus, $load0, load();

my @bad = $t->bad_log_lines;
my $errors = grep { /\[(error|crit)\]/ } split /\n/, $t->error_log;
printf "error.log: %d alerts or failed workers, %d errors%s\n", scalar @bad, $errors,
    @bad ? ":\n" . join("\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]) : '';
$imap->stop;
$t->cleanup;
