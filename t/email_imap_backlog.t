# A mailbox connected while it already holds a backlog: 2,000 unread mails
# in a real Dovecot folder are all fetched, each once, the mailbox green
# throughout (the run lists the folder a bounded window of UIDs at a time;
# one listing of the whole backlog is more than libcurl takes).  A folder
# whose UIDs have a gap wider than a window (400 messages expunged in the
# middle) is fetched past the gap: an empty window is not its end.  A
# folder where 60 unread mails lie among 300 read ones, connected: the 60
# become tickets, over more runs than one, and none of the read ones, on
# any run; what arrives after it was connected is taken, read or not.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::Dovecot;

my $BACKLOG = 2000;

my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;
my $imap = Helpdesk::Dovecot->new(dir => "$d/imap",
    users => { backlog => 'secret', gappy => 'secret', readmix => 'secret' });
$imap->start;
my $ca = $imap->ca_file;
$t->start_nginx(http => "helpdesk_email_fetch interval=100ms timeout=10s ca_file=$ca;");
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});

sub q1 { $t->psql($_[0]) }
sub mailbox { $ua->get($t->url("/v1/email/mailboxes/$_[0]") => $h)->res->json }
sub fast { q1("UPDATE helpdesk.email_mailboxes SET poll_interval = 1, next_fetch_at = now() WHERE mailbox_id = '$_[0]'") }
sub count_for { q1("SELECT count(*) FROM helpdesk.email_messages WHERE mailbox_id = '$_[0]'") }

my $n = 0;
sub mail {
    my ($tag) = @_;
    $n++;
    my $id = "$tag.$n.$$\@customer.example";
    return ($id, "From: Customer $n <c$n\@customer.example>\r\n"
        . "To: support\@acme.test\r\n"
        . "Subject: Backlog question $n\r\n"
        . "Message-ID: <$id>\r\n"
        . "Date: Mon, 30 Nov 2026 08:00:00 +0000\r\n"
        . "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        . "Hello, this is message $n of the backlog.\r\n");
}

sub connect_mailbox {
    my ($user) = @_;
    my $tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
        kind => 'imap', address => "$user\@acme.test", url => $imap->url,
        username => $user, password => 'secret', sender_limit => 10000 });
    is $tx->res->code, 201, "the mailbox $user connected" or diag $tx->res->body;
    return $tx->res->json->{id};
}

# Waits for $want messages on the mailbox, watching its health meanwhile:
# returns the states other than ok and unknown it showed, with reasons.
sub fetch_all {
    my ($id, $want, $secs) = @_;
    my %bad;
    my $t0 = time;
    while (time - $t0 < $secs) {
        my $m = mailbox($id);
        my $state = $m->{health}{state} // '';
        $bad{"$state: " . ($m->{health}{reason} // '')}++
            if $state ne 'ok' && $state ne 'unknown';
        last if %bad || count_for($id) >= $want;     # a failure fails the test
        sleep 0.5;
    }
    return \%bad;
}

# --- 2,000 unread mails waiting before the mailbox is connected
my %ids;
for (1 .. $BACKLOG) {
    my ($id, $raw) = mail('backlog');
    $ids{$id} = 1;
    $imap->deliver('backlog', $raw);
}
my $t0 = time;
my $mb = connect_mailbox('backlog');
my $bad = fetch_all($mb, $BACKLOG, 300);
my $secs = time - $t0;
is count_for($mb), $BACKLOG, "all $BACKLOG mails fetched";
is_deeply $bad, {}, 'the mailbox never showed a failure meanwhile' or diag explain $bad;
is q1("SELECT count(DISTINCT message_id_header) FROM helpdesk.email_messages WHERE mailbox_id = '$mb'"),
    $BACKLOG, 'each once';
is q1("SELECT count(DISTINCT ticket_id) FROM helpdesk.email_messages WHERE mailbox_id = '$mb'"),
    $BACKLOG, 'each its own ticket';
is q1("SELECT count(*) FROM helpdesk.email_messages WHERE mailbox_id = '$mb' AND message_id_header <> ALL (ARRAY['"
      . join("','", keys %ids) . "'])"), '0', 'and only the backlog';
my $m = mailbox($mb);
is $m->{health}{state}, 'ok', 'green at the end';
is $m->{fetch}{fetched}, $BACKLOG, 'counted';
ok until_true(sub { (grep { $_->{flags} =~ /S/ } $imap->messages('backlog')) == $BACKLOG }, 20),
    'every one flagged \Seen on the server';
note sprintf '%d mails in %.1f s: %.0f/s', $BACKLOG, $secs, $BACKLOG / $secs;

# a mail after the backlog: the mailbox goes on as usual
fast($mb);
my ($late_id, $late) = mail('late');
$imap->deliver('backlog', $late);
ok until_true(sub { q1("SELECT count(*) FROM helpdesk.email_messages WHERE message_id_header = '$late_id'") eq '1' }, 30),
    'a mail after the backlog arrives';
is count_for($mb), $BACKLOG + 1, 'nothing taken twice';

# --- a gap of 400 expunged UIDs in the middle of 500
for (1 .. 500) {
    my ($id, $raw) = mail('gap');
    $imap->deliver('gappy', $raw);
}
my $conf = "$d/imap/dovecot.conf";
system("doveadm -c $conf expunge -u gappy mailbox INBOX uid 51:450 >>$d/imap/doveadm.log 2>&1") == 0
    or BAIL_OUT('doveadm expunge failed: ' . `cat $d/imap/doveadm.log`);
my $status = `doveadm -c $conf mailbox status -u gappy 'messages uidnext' INBOX 2>>$d/imap/doveadm.log`;
like $status, qr/messages=100\b.*uidnext=501\b/, "the folder: 100 messages, UIDs to 500 ($status)";
my @left;
my $dir = $imap->folder_dir('gappy');
for my $f ($imap->messages('gappy')) {
    open my $fh, '<', "$dir/$f->{sub}/$f->{name}" or die $!;
    my ($id) = do { local $/; <$fh> } =~ /^Message-ID: <([^>]+)>/m;
    push @left, $id;
}
is scalar(@left), 100, '100 message files left';

my $gap = connect_mailbox('gappy');
$bad = fetch_all($gap, 100, 60);
is count_for($gap), 100, 'the 100 on both sides of the gap fetched';
is_deeply $bad, {}, 'the mailbox never showed a failure' or diag explain $bad;
is q1("SELECT count(DISTINCT message_id_header) FROM helpdesk.email_messages WHERE mailbox_id = '$gap' AND message_id_header = ANY (ARRAY['"
      . join("','", @left) . "'])"), '100', 'those left in the folder, each once';
ok mailbox($gap)->{fetch}{last_uid} >= 500, 'the last UID past the gap';

fast($gap);
my ($after_id, $after) = mail('gap');
$imap->deliver('gappy', $after);
ok until_true(sub { q1("SELECT count(*) FROM helpdesk.email_messages WHERE message_id_header = '$after_id'") eq '1' }, 30),
    'a mail after the gap arrives';

# --- 60 unread mails among 300 read ones: every sixth UID unread
for (1 .. 360) {
    my ($id, $raw) = mail('mix');
    $imap->deliver('readmix', $raw);
}
my $read = join ',', map { my $u = 6 * $_; ($u - 5) . ':' . ($u - 1) } 1 .. 60;
system("doveadm -c $conf flags add -u readmix '\\Seen' mailbox INBOX uid $read >>$d/imap/doveadm.log 2>&1") == 0
    or BAIL_OUT('doveadm flags failed: ' . `cat $d/imap/doveadm.log`);
my (@unread, @was_read);
$dir = $imap->folder_dir('readmix');
for my $f ($imap->messages('readmix')) {
    open my $fh, '<', "$dir/$f->{sub}/$f->{name}" or die $!;
    my ($id) = do { local $/; <$fh> } =~ /^Message-ID: <([^>]+)>/m;
    push @{ $f->{flags} =~ /S/ ? \@was_read : \@unread }, $id;
}
is scalar(@unread), 60, '60 unread on the server';
is scalar(@was_read), 300, '300 read';
$status = `doveadm -c $conf mailbox status -u readmix 'messages unseen uidnext' INBOX 2>>$d/imap/doveadm.log`;
ok $status =~ /messages=360\b/ && $status =~ /unseen=60\b/ && $status =~ /uidnext=361\b/,
    "the folder: 360 messages, 60 unread, UIDs 1 to 360 ($status)";

my $mix = connect_mailbox('readmix');
$bad = fetch_all($mix, 60, 60);
is_deeply $bad, {}, 'the mailbox never showed a failure' or diag explain $bad;
ok until_true(sub { (mailbox($mix)->{fetch}{last_uid} // 0) >= 360 }, 30),
    'the runs went through the whole folder';
fast($mix);
sleep 2;                                    # a few more runs, had they more to take
is count_for($mix), 60, 'as many mails as were unread';
is q1("SELECT count(*) FROM helpdesk.email_messages WHERE mailbox_id = '$mix' AND message_id_header = ANY (ARRAY['"
      . join("','", @unread) . "'])"), '60', 'the unread ones, each once';
is q1("SELECT count(*) FROM helpdesk.email_messages WHERE mailbox_id = '$mix' AND message_id_header = ANY (ARRAY['"
      . join("','", @was_read) . "'])"), '0', 'none of the read ones';
is q1("SELECT seen_skip_below FROM helpdesk.email_mailboxes WHERE mailbox_id = '$mix'"), '361',
    'the boundary: the UIDNEXT at the first run';

# after it was connected: a mail read elsewhere before the helpdesk saw it
# is new to the helpdesk all the same, as is an unread one
my ($read_id, $read_raw) = mail('mix');
$imap->deliver('readmix', $read_raw, seen => 1);
my ($new_id, $new_raw) = mail('mix');
$imap->deliver('readmix', $new_raw);
ok until_true(sub { q1("SELECT count(*) FROM helpdesk.email_messages WHERE mailbox_id = '$mix' AND message_id_header IN ('$read_id', '$new_id')") eq '2' }, 30),
    'a read mail and an unread one after connecting: both taken';
is count_for($mix), 62, 'and nothing else';

unlike $t->error_log, qr/Too large response headers/, 'no listing over libcurl\'s cap';
unlike $t->error_log, qr/\[(alert|emerg)\]/, 'no alert';
$imap->stop;
$t->done;
