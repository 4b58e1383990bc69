# What fetching a large mail by IMAP costs a worker: one nginx worker, a
# real Dovecot (t/lib/Helpdesk/Dovecot.pm), 30 MB mails (a 22 MB base64
# attachment, a 256 KB text part, a forwarded message with a 1 MB
# attachment) fetched from a mailbox.  A fetched message goes the way a
# pushed one does (t/email_memory.t): written to a temporary file as it
# arrives, parsed from it in the thread pool, its attachments decoded to a
# file, its blob sent to PostgreSQL in pieces; the worker's peak resident
# memory (VmHWM) must stay far below the message's size, and a run of
# several such mails must not keep what one took.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(sha256_hex);
use Helpdesk::Test qw(until_true);
use Helpdesk::Dovecot;

plan skip_all => 'one process under valgrind' if $ENV{HELPDESK_VALGRIND};
plan skip_all => 'sanitizers change the figures' if ($ENV{HELPDESK_NGINX} // '') =~ /asan/;

my $t = Helpdesk::Test->new(workers => 1)->start_stack;
my $imap = Helpdesk::Dovecot->new(dir => $t->dir . "/imap", users => { support => 'secret' });
$imap->start;
my $ca = $imap->ca_file;
$t->start_nginx(http => "helpdesk_email_fetch interval=200ms timeout=30s max_size=40m ca_file=$ca;");
my $ua = $t->ua;
$ua->inactivity_timeout(120);
$ua->request_timeout(120);
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});

my ($worker) = $t->worker_pids;
ok $worker, 'the worker';

sub status_kb {
    my ($key) = @_;
    open my $fh, '<', "/proc/$worker/status" or return 0;
    while (<$fh>) { return $1 if /^$key:\s+(\d+)/ }
    return 0;
}

sub q1 { $t->psql($_[0]) }

sub mail {
    my ($id, $mb) = @_;
    my $att = encode_base64(join('', map { chr(($_ * 7) % 251) } 0 .. 1023) x ($mb * 1024));
    my $inner = encode_base64('y' x (1024 * 1024));
    my $text = ("A line of the customer's message, long enough to count.\n" x 4700);
    my $raw = "From: Ana Souza <ana\@example.org>\nTo: support\@acme.test\n"
        . "Subject: the logs $id\nMessage-ID: <$id\@example.org>\nMIME-Version: 1.0\n"
        . "Content-Type: multipart/mixed; boundary=\"b1\"\n\n"
        . "--b1\nContent-Type: text/plain; charset=utf-8\n\n$text\n"
        . "--b1\nContent-Type: application/octet-stream; name=\"logs.bin\"\n"
        . "Content-Disposition: attachment; filename=\"logs.bin\"\nContent-Transfer-Encoding: base64\n\n$att"
        . "--b1\nContent-Type: message/rfc822\n\n"
        . "From: Bob <bob\@example.org>\nSubject: fwd\nMessage-ID: <inner-$id\@example.org>\n"
        . "Content-Type: multipart/mixed; boundary=\"b2\"\n\n--b2\nContent-Type: text/plain\n\nsee attached\n"
        . "--b2\nContent-Type: application/pdf; name=\"a.pdf\"\nContent-Transfer-Encoding: base64\n\n$inner--b2--\n"
        . "--b1--\n";
    $raw =~ s/\n/\r\n/g;
    return $raw;
}

sub stored {
    my ($id) = @_;
    q1("SELECT count(*) FROM helpdesk.email_messages WHERE message_id_header = '$id\@example.org'");
}

# warm up: a small mail, so the worker's pools, connections and the run's
# file exist
$imap->deliver('support', mail('warm', 0));
my $tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    kind => 'imap', address => 'support@acme.test', url => $imap->url,
    username => 'support', password => 'secret' });
is $tx->res->code, 201, 'an IMAP mailbox' or diag $tx->res->body;
my $mb = $tx->res->json->{id};
ok until_true(sub { stored('warm') eq '1' }, 30), 'a small mail fetched'
    or diag $t->error_log;
q1("UPDATE helpdesk.email_mailboxes SET poll_interval = 1, next_fetch_at = now() WHERE mailbox_id = '$mb'");
sleep 2;

my $body = mail('big30', 22);
my $size = length($body) / 1024 / 1024;
cmp_ok $size, '>', 29, sprintf('the mail: %.1f MB', $size);

my $rss0 = status_kb('VmRSS');
# the peak counted from here (VmHWM reset to the current RSS)
if (open my $clear, '>', "/proc/$worker/clear_refs") { print $clear "5"; close $clear }
my $hwm0 = status_kb('VmHWM');
my $t0 = time;
$imap->deliver('support', $body);
ok until_true(sub { stored('big30') eq '1' }, 90), 'the 30 MB mail fetched into a ticket';
my $secs = time - $t0;
my $hwm = status_kb('VmHWM');
my $rss1 = status_kb('VmRSS');

my $id = q1("SELECT ticket_id FROM helpdesk.email_messages WHERE message_id_header = 'big30\@example.org'");
is q1("SELECT size FROM helpdesk.attachments WHERE ticket_id = '$id' AND filename = 'logs.bin'"),
    22 * 1024 * 1024, 'the 22 MB attachment, whole';
is q1("SELECT size FROM helpdesk.attachments WHERE ticket_id = '$id' AND filename = 'original.eml'"),
    length($body), 'the original, whole';
is q1("SELECT encode(sha256(data), 'hex') FROM helpdesk.attachments WHERE ticket_id = '$id' AND filename = 'original.eml'"),
    sha256_hex($body), 'byte for byte';
is q1("SELECT count(*) FROM helpdesk.email_inbound_chunks"), '0', 'no piece left staged';

my $peak = ($hwm - ($hwm0 < $rss0 ? $hwm0 : $rss0)) / 1024;
diag sprintf('30 MB mail by IMAP: worker RSS %.1f MB before, peak %.1f MB (+%.1f MB), %.1f MB after; %.2f s',
             $rss0 / 1024, $hwm / 1024, $peak, $rss1 / 1024, $secs);
cmp_ok $peak, '<', 16, 'the worker peaks at less than 16 MB over its size before';
cmp_ok(($rss1 - $rss0) / 1024, '<', 8, 'and keeps less than 8 MB of it');

# three in one run: the run's memory does not grow with its messages
$imap->deliver('support', mail("run$_", 22)) for 1 .. 3;
ok until_true(sub { !grep { stored("run$_") ne '1' } 1 .. 3 }, 180), 'three 30 MB mails, three tickets';
my $rss2 = status_kb('VmRSS');
diag sprintf('after three more: worker RSS %.1f MB', $rss2 / 1024);
cmp_ok(($rss2 - $rss0) / 1024, '<', 8, 'the worker keeps less than 8 MB after them');
is mailbox_state(), 'ok', 'the mailbox stays green';

sub mailbox_state {
    my $m = $ua->get($t->url("/v1/email/mailboxes/$mb") => $h)->res->json;
    return $m->{health}{state} // '';
}

$t->done;
