# The DNS client (src/event/ngx_helpdesk_dns_client.c) on nginx's event
# loop, against pebble-challtestsrv (CNAME, TXT, CAA, SERVFAIL) and a
# hostile server of our own (silent, wrong ids, garbage, cut answers,
# answers from another port, TC then TCP).  The client has no directive
# yet, so t/dns/dns_client_run.c runs it outside nginx, on nginx's own
# epoll module, timers and posted events, built with ASan and UBSan: a
# leaked query, a connection not given back or a handler called from
# inside a call fails the test.
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IO::Socket::INET;
use IO::Select;
use HTTP::Tiny;
use Time::HiRes qw(sleep);

my $top = abs_path(dirname(__FILE__) . '/..');
chdir $top or die $!;

plan skip_all => 'pebble-challtestsrv not installed'
    unless -x '/usr/bin/pebble-challtestsrv';

my $out = `make -s dns-client-build 2>&1`;
is $?, 0, 'the client runner builds' or do { diag $out; done_testing; exit };

$ENV{ASAN_OPTIONS} = 'detect_leaks=1';
$ENV{UBSAN_OPTIONS} = "halt_on_error=1:print_stacktrace=1:"
    . "suppressions=$top/t/ubsan.supp";

sub free_port {
    my ($proto) = @_;
    my $s = IO::Socket::INET->new(Proto => $proto, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, $proto eq 'tcp' ? (Listen => 1) : ())
        or die "port: $!";
    return $s->sockport;
}

# pebble-challtestsrv
my ($dns, $mgmt) = (free_port('udp'), free_port('tcp'));
my $cts = fork // die;
if ($cts == 0) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    exec '/usr/bin/pebble-challtestsrv', '-dns01', "127.0.0.1:$dns",
        '-http01', '', '-https01', '', '-tlsalpn01', '',
        '-management', "127.0.0.1:$mgmt", '-defaultIPv4', '127.0.0.1',
        '-defaultIPv6', '';
    exit 1;
}

my $http = HTTP::Tiny->new(timeout => 5);
sub cts {
    my ($path, $json) = @_;
    for (1 .. 50) {
        my $r = $http->post("http://127.0.0.1:$mgmt/$path", { content => $json });
        return 1 if $r->{success};
        sleep 0.1;
    }
    die "challtestsrv /$path failed";
}

# the hostile server: UDP and TCP on one port, behaving by the first label
my $evil_udp = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1',
                                     LocalPort => 0) or die;
my $evil = $evil_udp->sockport;
my $evil_tcp = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => '127.0.0.1',
                                     LocalPort => $evil, Listen => 5, ReuseAddr => 1)
    or die "tcp $evil: $!";
my $other = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1',
                                  LocalPort => 0) or die;

my $evil_pid = fork // die;
if ($evil_pid == 0) {
    serve();
    exit 0;
}
close $evil_udp;
close $evil_tcp;

sub question {
    my ($q) = @_;
    my ($pos, @labels) = (12);
    while ($pos < length $q) {
        my $n = ord substr($q, $pos, 1);
        $pos++;
        last if $n == 0;
        push @labels, substr($q, $pos, $n);
        $pos += $n;
    }
    return (lc($labels[0] // ''), substr($q, 12, $pos + 4 - 12));
}

sub answer {
    my ($id, $flags, $question, @rrs) = @_;
    return pack('n n n n n n', $id, $flags, 1, scalar @rrs, 0, 0) . $question . join '', @rrs;
}

sub a_rr { pack('n n n N n C4', 0xc00c, 1, 1, 60, 4, split /\./, $_[0]) }

sub txt_rr {
    my $data = join '', map { chr(length $_) . $_ } @_;
    return pack('n n n N n', 0xc00c, 16, 1, 60, length $data) . $data;
}

sub serve {
    my $sel = IO::Select->new($evil_udp, $evil_tcp);
    while (1) {
        for my $s ($sel->can_read) {
            if ($s == $evil_tcp) {
                my $c = $evil_tcp->accept or next;
                $c->sysread(my $len, 2);
                $c->sysread(my $q, unpack 'n', $len);
                my ($id) = unpack 'n', $q;
                my ($label, $question) = question($q);
                if ($label eq 'tcwrong') {
                    my $res = answer($id ^ 1, 0x8180, $question, a_rr('127.0.0.6'));
                    $c->syswrite(pack('n', length $res) . $res);
                } elsif ($label eq 'tcbad') {
                    $c->syswrite(pack('n', 500) . substr(answer($id, 0x8180, $question), 0, 20));
                } else {
                    my $res = answer($id, 0x8180, $question,
                                     txt_rr('x' x 250, 'y' x 250), txt_rr('z' x 200));
                    $c->syswrite(pack('n', length $res) . $res);
                }
                close $c;
                next;
            }
            my $peer = $evil_udp->recv(my $q, 4096) // next;
            my ($id) = unpack 'n', $q;
            my ($label, $question) = question($q);
            if ($label eq 'wrongid') {
                $evil_udp->send(answer($id ^ 1, 0x8180, $question, a_rr('127.0.0.6')), 0, $peer);
            } elsif ($label eq 'wrongthenright') {
                $evil_udp->send(answer($id ^ 0x100, 0x8180, $question, a_rr('127.0.0.6')), 0, $peer);
                $evil_udp->send('garbage', 0, $peer);
                (my $other_q = $question) =~ s/wrongthenright/wrongthenrighx/;
                $evil_udp->send(answer($id, 0x8180, $other_q, a_rr('127.0.0.6')), 0, $peer);
                $evil_udp->send(answer($id, 0x0180, $question, a_rr('127.0.0.6')), 0, $peer);
                $evil_udp->send(answer($id, 0x8180, $question, a_rr('127.0.0.7')), 0, $peer);
            } elsif ($label eq 'cut') {
                my $res = answer($id, 0x8180, $question, a_rr('127.0.0.7'));
                $evil_udp->send(substr($res, 0, length($res) - 2), 0, $peer);
            } elsif ($label eq 'garbage') {
                $evil_udp->send(join('', map { chr int rand 256 } 1 .. 60), 0, $peer);
            } elsif ($label eq 'elsewhere') {
                $other->send(answer($id, 0x8180, $question, a_rr('127.0.0.6')), 0, $peer);
            } elsif ($label =~ /^tc/) {
                $evil_udp->send(answer($id, 0x8380, $question), 0, $peer);
            } elsif ($label eq 'ok') {
                $evil_udp->send(answer($id, 0x8180, $question, a_rr('127.0.0.8')), 0, $peer);
            }
            # "silent" and anything else: nothing
        }
    }
}

END {
    local $?;
    kill 'TERM', $_ for grep { $_ } $cts, $evil_pid;
    waitpid $_, 0 for grep { $_ } $cts, $evil_pid;
}

# runs the client; returns (result lines, summary hash, raw output)
sub run {
    my (@args) = @_;
    my $res = `build/dns/dns_client_run @args 2>&1`;
    my $rc = $? >> 8;
    my %sum = $res =~ /^summary (.*)$/m ? map { split /=/ } split ' ', $1 : ();
    my @lines = grep { /^status=/ } split /\n/, $res;
    my $clean = $rc == 0 && %sum && $sum{inflight} == 0 && $sum{reentrant} == 0
                && $sum{free} == 256 && $res !~ /Sanitizer|runtime error/;
    ok $clean, "@args: exits cleanly, no query left, no re-entry" or diag $res;
    return (\@lines, \%sum, $res);
}

sub field {
    my ($line, $name) = @_;
    return $line =~ /(?:^| )\Q$name\E=("[^"]*"|\S*)/ ? $1 : undef;
}

my $cs = "127.0.0.1:$dns";
my $es = "127.0.0.1:$evil";

# records at pebble-challtestsrv
cts('set-cname', '{"host":"shop.customer.test.","target":"t-1.edge.test."}');
cts('set-txt', '{"host":"_helpdesk-verify.customer.test.","value":"helpdesk-verify=tok3n"}');
cts('add-caa', '{"host":"customer.test.","policies":[{"tag":"issue","value":"letsencrypt.org; validationmethods=http-01"},{"tag":"issuewild","value":";"}]}');
cts('add-a', '{"host":"elsewhere.customer.test.","addresses":["203.0.113.9"]}');
cts('set-servfail', '{"host":"broken.customer.test."}');

my ($l, $s);

($l) = run('A', 'Shop.Customer.Test.', $cs);
is field($l->[0], 'status'), 'OK', 'CNAME: answered';
is field($l->[0], 'chain'), 't-1.edge.test', 'CNAME: the chain shows the target';
is field($l->[0], 'final'), 't-1.edge.test', 'CNAME: final name';
is field($l->[0], 'a'), '127.0.0.1', 'CNAME: the target\'s address';
like $l->[0], qr/ms=\d+ server=\Q$cs\E /, 'the server named';

($l) = run('A', 'elsewhere.customer.test', $cs);
is field($l->[0], 'a'), '203.0.113.9', 'A pointing elsewhere';

($l) = run('TXT', '_helpdesk-verify.customer.test', $cs);
is field($l->[0], 'txt'), '"helpdesk-verify=tok3n"', 'TXT proof';

($l) = run('TXT', '_helpdesk-verify.nothing.test', $cs);
ok field($l->[0], 'rcode') eq 'NOERROR' && !defined field($l->[0], 'txt'),
    'TXT unset: empty NOERROR (the SOA in authority skipped)';

($l) = run('CAA', 'customer.test', $cs);
like $l->[0], qr/caa=0,issue,"letsencrypt.org; validationmethods=http-01" issuer=letsencrypt.org /,
    'CAA issue with a parameter: issuer read';
like $l->[0], qr/caa=0,issuewild,";" issuer=(?: |$)/, 'CAA issuewild ";": nobody';

($l) = run('-t', 300, 'CAA', 'broken.customer.test', $cs);
is field($l->[0], 'rcode'), 'SERVFAIL', 'SERVFAIL exposed';
is field($l->[0], 'tries'), 2, 'SERVFAIL: two tries of the one server';

($l) = run('-t', 300, 'A', 'broken.customer.test', $cs, $cs);
is field($l->[0], 'tries'), 4, 'SERVFAIL: two tries of each of two servers';

# hostile servers
($l) = run('-t', 300, 'A', 'silent.evil.test', $es, $cs);
is field($l->[0], 'status'), 'OK', 'silent server, then the next one';
is field($l->[0], 'tries'), 2, 'silent server: the second try answered';
is field($l->[0], 'server'), $cs, 'silent server: the answer is the second server\'s';
cmp_ok field($l->[0], 'ms'), '>=', 290, 'silent server: after its timeout';

($l) = run('-t', 300, 'A', 'silent.evil.test', $es);
is field($l->[0], 'error'), '"timed out"', 'silent server alone: timed out';
cmp_ok field($l->[0], 'ms'), '>=', 590, 'two tries of 300 ms';
is field($l->[0], 'tries'), 2, 'two tries';

($l) = run('-t', 300, 'A', 'wrongid.evil.test', $es);
is field($l->[0], 'error'), '"timed out"', 'wrong id: dropped, timed out';

($l) = run('-t', 1000, 'A', 'wrongthenright.evil.test', $es);
is field($l->[0], 'status'), 'OK',
    'wrong id, garbage, another question, not a response: dropped; then the answer';
is field($l->[0], 'a'), '127.0.0.7', 'the right answer\'s address';
is field($l->[0], 'tries'), 1, 'in one try';

($l) = run('-t', 300, 'A', 'cut.evil.test', $es, $cs);
is field($l->[0], 'status'), 'OK', 'cut answer: next server';
is field($l->[0], 'tries'), 2, 'cut answer: the try failed at once';
cmp_ok field($l->[0], 'ms'), '<', 250, 'cut answer: without waiting';

($l) = run('-t', 300, 'A', 'cut.evil.test', $es);
is field($l->[0], 'error'), '"malformed answer"', 'cut answer alone: malformed';

($l) = run('-t', 300, 'A', 'garbage.evil.test', $es);
is field($l->[0], 'error'), '"timed out"', 'garbage: dropped, timed out';

($l) = run('-t', 300, 'A', 'elsewhere.evil.test', $es);
is field($l->[0], 'error'), '"timed out"', 'answer from another port: never seen';

($l) = run('-t', 1000, 'TXT', 'tc.evil.test', $es);
is field($l->[0], 'status'), 'OK', 'TC: asked again over TCP';
like $l->[0], qr/txt="x{250}y{250}" txt="z{200}"/, 'TC: the whole answer over TCP';

($l) = run('-t', 1000, 'TXT', 'tcbad.evil.test', $es);
is field($l->[0], 'error'), '"TCP answer cut short"', 'TCP answer cut short';

($l) = run('-t', 1000, 'A', 'tcwrong.evil.test', $es);
is field($l->[0], 'error'), '"TCP answer not to the query"', 'TCP answer of another id: the try fails';
is field($l->[0], 'tries'), 2, 'TCP answer of another id: each try once';

($l) = run('-t', 1000, 'A', 'tcwrong.evil.test', $es, $cs);
is field($l->[0], 'status'), 'OK', 'TCP answer of another id: then the next server';
is field($l->[0], 'tries'), 2, 'the next server at the second try';

($l) = run('-t', 300, 'A', 'ok.evil.test', '127.0.0.1:9', $es);
is field($l->[0], 'a'), '127.0.0.8', 'refused port (ICMP), then the next server';

($l) = run('A', 'bad_name!.test', $cs);
is field($l->[0], 'error'), '"invalid character in name"', 'invalid name: an error, from the handler';

# cancel
($l, $s) = run('-c', 'now', 'A', 'ok.evil.test', $es);
ok !@$l && $s->{canceled} == 1, 'cancel at once: no handler';

($l, $s) = run('-t', 1000, '-c', 150, 'A', 'silent.evil.test', $es);
ok !@$l && $s->{canceled} == 1, 'cancel while waiting: no handler';

($l, $s) = run('-t', 1000, '-c', 150, 'TXT', 'silent.evil.test', '127.0.0.1:9', $es);
ok !@$l && $s->{canceled} == 1, 'cancel on the second server';

($l, $s) = run('-c', 'handler', 'A', 'ok.evil.test', $es);
ok @$l == 1 && $s->{done} == 1, 'cancel inside the handler: harmless';

# the cap of queries in flight
($l, $s) = run('-t', 2000, '-n', 70, '-c', 300, 'A', 'silent.evil.test', $es);
is scalar(grep { field($_, 'status') eq 'BUSY' } @$l), 6, '64 in flight, 6 refused';
is $s->{canceled}, 64, 'the 64 canceled';

done_testing;
