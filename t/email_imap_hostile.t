# An IMAP server a tenant names is anybody's: one that answers our own
# commands with nothing, or with lines that are no IMAP, must end the run
# with a reason on the mailbox's health, never take a worker down.  The
# server here is a small one of the test's own (implicit TLS, the
# Dovecot helper's certificate), scripted per command.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Helpdesk::Test qw(until_true);
use Helpdesk::Dovecot;

my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;

# the certificate (Dovecot's helper makes it; the server is not started)
my $cert = Helpdesk::Dovecot->new(dir => "$d/imap", users => { u => 'p' });
my $ca = $cert->ca_file;
my $port = Helpdesk::Dovecot::free_port();

# answers: STATUS with no untagged line at all, UID FETCH with garbage
my $server = <<'PY';
import socket, ssl, sys, threading
port, cert, key, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(('127.0.0.1', port))
ls.listen(16)
def serve(c):
    try:
        s = ctx.wrap_socket(c, server_side=True)
        f = s.makefile('rb')
        s.sendall(b'* OK [CAPABILITY IMAP4rev1] ready\r\n')
        for line in f:
            parts = line.decode('latin-1').rstrip('\r\n').split(' ', 2)
            tag = parts[0]
            cmd = parts[1].upper() if len(parts) > 1 else ''
            if cmd == 'CAPABILITY':
                s.sendall(b'* CAPABILITY IMAP4rev1\r\n' + tag.encode() + b' OK done\r\n')
            elif cmd == 'LOGOUT':
                s.sendall(b'* BYE\r\n' + tag.encode() + b' OK bye\r\n')
                break
            elif cmd == 'SELECT' or cmd == 'EXAMINE':
                s.sendall(b'* OK [UIDVALIDITY 7] x\r\n' + tag.encode() + b' OK [READ-WRITE] done\r\n')
            elif cmd == 'STATUS' and mode == 'status-empty':
                s.sendall(tag.encode() + b' OK STATUS done\r\n')
            elif cmd == 'STATUS':
                s.sendall(b'* STATUS INBOX (UIDVALIDITY 7 UIDNEXT 9)\r\n' + tag.encode() + b' OK done\r\n')
            elif cmd == 'UID':
                s.sendall(b'* 1 FETCH (UID\r\n* 2 FETCH (UID 99999999999999999 RFC822.SIZE 1)\r\n'
                          + b'* 3 FETCH (FLAGS (\\Seen RFC822.SIZE 5 UID 0)\r\n' + tag.encode() + b' OK done\r\n')
            else:
                s.sendall(tag.encode() + b' OK done\r\n')
        s.close()
    except Exception:
        pass
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
open my $fh, '>', "$d/imap-hostile.py" or die $!;
print $fh $server;
close $fh;

my $pid;
sub server {
    my ($mode) = @_;
    if ($pid) { kill 'TERM', $pid; waitpid $pid, 0 }
    $pid = fork // die $!;
    if (!$pid) {
        exec 'python3', "$d/imap-hostile.py", $port, $ca, "$d/imap/key.pem", $mode;
        exit 127;
    }
    until_true(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") }, 10)
        or BAIL_OUT('the test server did not start');
}
END { kill 'TERM', $pid if $pid }

use IO::Socket::INET;
server('status-empty');

$t->start_nginx(http => "helpdesk_email_fetch interval=200ms timeout=5s max_size=64k ca_file=$ca;");
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});

sub mailbox { $ua->get($t->url("/v1/email/mailboxes/$_[0]") => $h)->res->json }
sub q1 { $t->psql($_[0]) }

my $tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    kind => 'imap', address => 'odd@acme.test', url => "imaps://127.0.0.1:$port/INBOX",
    username => 'u', password => 'p' });
is $tx->res->code, 201, 'a mailbox on an odd server' or diag $tx->res->body;
my $id = $tx->res->json->{id};

# STATUS answered with no untagged line: the run ends with its reason
my $m = until_true(sub { my $x = mailbox($id); ($x->{health}{reason} // '') =~ /UIDVALIDITY/ ? $x : undef }, 20);
ok $m, 'a STATUS answered with nothing: the run ends' or diag explain mailbox($id);
like $m && $m->{health}{reason}, qr/did not say the folder's UIDVALIDITY/, 'with its reason';
unlike $t->error_log, qr/exited on signal/, 'no worker died';

# a FETCH list of lines cut short, numbers too long, a UID 0: nothing taken
server('garbage-list');
q1("UPDATE helpdesk.email_mailboxes SET next_fetch_at = now() WHERE mailbox_id = '$id'");
ok until_true(sub { (mailbox($id)->{health}{state} // '') eq 'ok' }, 20), 'a list of garbage: a run that takes nothing'
    or diag explain mailbox($id);
is q1("SELECT count(*) FROM helpdesk.email_messages WHERE mailbox_id = '$id'"), '0', 'no mail from it';
unlike $t->error_log, qr/exited on signal/, 'no worker died';

kill 'TERM', $pid;
waitpid $pid, 0;
$pid = undef;
$t->done;
