# Mailboxes fetched by IMAP from a real Dovecot (t/lib/Helpdesk/Dovecot.pm):
# the connection checked when saved and its health shown (ok, auth_failed,
# unreachable, with the reason), new mail fetched into tickets and flagged
# or moved, a second mailbox, nginx restarted between fetches (nothing
# twice, nothing missed), a message refetched after a crash, UIDVALIDITY
# changed, two nginx instances on one database (each mail once), a message
# over the size limit refused with its reason, hostile fields and another
# tenant's mailboxes.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use IO::Socket::INET;
use Helpdesk::Test qw(until_true);
use Helpdesk::Dovecot;

my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;
my $imap = Helpdesk::Dovecot->new(dir => "$d/imap",
    users => { support => 'secret', sales => 'hunter2', other => 'right' });
$imap->start;
my $ca = $imap->ca_file;
my $fetch = "helpdesk_email_fetch interval=200ms timeout=10s max_size=64k ca_file=$ca;";
$t->start_nginx(http => $fetch);
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
my $rival = $t->create_tenant('rival');
my $hr = $t->auth($rival->{key});

my $n = 0;
sub mail {
    my (%o) = @_;
    $n++;
    my $id = $o{id} // "m$n.$$\@customer.example";
    my $body = $o{body} // "Hello, this is message $n.\r\n";
    return ($id, "From: Customer $n <c$n\@customer.example>\r\n"
        . "To: support\@acme.test\r\n"
        . "Subject: " . ($o{subject} // "Question $n") . "\r\n"
        . "Message-ID: <$id>\r\n"
        . "Date: Mon, 30 Nov 2026 08:00:00 +0000\r\n"
        . "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n$body");
}

sub q1 { $t->psql($_[0]) }
sub stored {
    my ($id) = @_;
    q1("SELECT count(*) FROM helpdesk.email_messages WHERE message_id_header = '$id'");
}
sub mailbox { $ua->get($t->url("/v1/email/mailboxes/$_[0]") => $h)->res->json }
sub health_is {
    my ($id, $state, $secs) = @_;
    return until_true(sub { my $m = mailbox($id); ($m->{health}{state} // '') eq $state ? $m : undef }, $secs // 20);
}
sub fast { q1("UPDATE helpdesk.email_mailboxes SET poll_interval = 1, next_fetch_at = now() WHERE mailbox_id = '$_[0]'") }

# --- hostile and missing fields: nothing saved
my @bad = (
    [ { kind => 'imap', address => 'a@acme.test', url => $imap->url, username => 'support' }, 'password', 'no password' ],
    [ { kind => 'imap', address => 'a@acme.test', url => 'https://mail.example.com/INBOX', username => 'u', password => 'p' }, 'url', 'an https URL' ],
    [ { kind => 'imap', address => 'a@acme.test', url => 'imaps://10.1.2.3/INBOX', username => 'u', password => 'p' }, 'url', 'a private address' ],
    [ { kind => 'imap', address => 'a@acme.test', url => 'imaps://169.254.169.254/INBOX', username => 'u', password => 'p' }, 'url', 'the metadata address' ],
    [ { kind => 'imap', address => 'a@acme.test', url => 'imaps://u:p@mail.example.com/INBOX', username => 'u', password => 'p' }, 'url', 'credentials in the URL' ],
    [ { kind => 'imap', address => 'a@acme.test', url => 'imaps://mail.example.com/IN%22BOX', username => 'u', password => 'p' }, 'url', 'a quote in the folder' ],
    [ { kind => 'imap', address => 'a@acme.test', url => 'imaps://mail.example.com/', username => 'u', password => 'p' }, 'url', 'no folder' ],
    [ { kind => 'imap', address => 'a@acme.test', url => $imap->url, username => "u\r\nA1 LOGOUT", password => 'p' }, 'username', 'a CRLF in the username' ],
    [ { kind => 'imap', address => 'a@acme.test', url => $imap->url, username => 'u', password => 'p', poll_interval => 1 }, 'poll_interval', 'a poll of 1 s' ],
    [ { kind => 'imap', address => 'a@acme.test', url => $imap->url, username => 'u', password => 'p', move_to => 'a"b' }, 'move_to', 'a quote in move_to' ],
    [ { kind => 'pop3', address => 'a@acme.test' }, 'kind', 'an unknown kind' ],
    [ { address => 'a@acme.test', url => $imap->url }, 'url', 'a URL for a pushed mailbox' ],
);
for my $b (@bad) {
    my $tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => $b->[0]);
    is $tx->res->code, 422, "refused: $b->[2]" or diag $tx->res->body;
    ok((grep { $_->{field} eq $b->[1] } @{ $tx->res->json->{errors} // [] }), "names $b->[1]")
        or diag $tx->res->body;
}
is q1("SELECT count(*) FROM helpdesk.email_mailboxes"), '0', 'nothing saved';

# --- the first mailbox: a mail read before it was connected stays, the
# unread one is fetched
my ($old_id, $old) = mail(subject => 'Read long ago');
$imap->deliver('support', $old, seen => 1);
my ($first_id, $first) = mail(subject => 'Waiting since before');
$imap->deliver('support', $first);

my $tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    kind => 'imap', address => 'support@acme.test', name => 'Support',
    url => $imap->url, username => 'support', password => 'secret' });
is $tx->res->code, 201, 'an IMAP mailbox created' or diag $tx->res->body;
my $mb = $tx->res->json;
is $mb->{kind}, 'imap', 'of kind imap';
is $mb->{url}, $imap->url, 'its URL';
is $mb->{username}, 'support', 'its user';
ok $mb->{password_set}, 'a password set';
ok !exists $mb->{password}, 'and never shown';
ok !exists $mb->{inbound_url}, 'no inbound URL';
unlike $tx->res->body, qr/secret/, 'the password is nowhere in the answer';
like q1("SELECT password FROM helpdesk.email_mailboxes WHERE mailbox_id = '$mb->{id}'"),
    qr/^v1:/, 'sealed at rest';

my $ok = health_is($mb->{id}, 'ok');
ok $ok, 'checked at once: green' or diag explain mailbox($mb->{id});
ok $ok && $ok->{health}{checked_at}, 'with when';
ok until_true(sub { stored($first_id) eq '1' }, 15), 'the unread mail became a ticket';
is stored($old_id), '0', 'the one read before the mailbox was connected did not';
my $ticket = q1("SELECT t.channel || ' ' || t.subject FROM helpdesk.email_messages m JOIN helpdesk.tickets t USING (tenant_id, ticket_id) WHERE m.message_id_header = '$first_id'");
is $ticket, 'email Waiting since before', 'on the email channel, with its subject';
# its "ticket received" notice links to the portal, as a pushed mail's does
my $port = $t->port;
is q1("SELECT k.portal_base FROM helpdesk.email_messages m JOIN helpdesk.email_ticket_tokens k USING (tenant_id, ticket_id)
       WHERE m.message_id_header = '$first_id'"), "http://acme.localhost:$port",
    "the fetched ticket knows where the tenant's portal is";
like q1("SELECT email.vars(o, n)->>'link' FROM helpdesk.outbox o JOIN helpdesk.tenants n USING (tenant_id)
         JOIN helpdesk.email_messages m ON m.tenant_id = o.tenant_id AND m.ticket_id = (o.payload->>'ticket_id')::uuid
         WHERE o.event_type = 'email.ticket_received' AND m.message_id_header = '$first_id'"),
    qr{^http://acme\.localhost:$port/tickets/TKT-\d{6}$}, 'its "ticket received" mail carries the link';
ok until_true(sub { (grep { $_->{flags} =~ /S/ } $imap->messages("support")) == 2 }, 10),
    'flagged \Seen on the server once stored';
fast($mb->{id});

# --- new mail while it runs
my @ids;
for (1 .. 3) { my ($id, $raw) = mail(); push @ids, $id; $imap->deliver('support', $raw) }
ok until_true(sub { !grep { stored($_) ne '1' } @ids }, 20), 'three new mails, three tickets';
is q1("SELECT count(*) FROM helpdesk.email_messages WHERE mailbox_id = '$mb->{id}'"), '4', 'each once';
my $m = mailbox($mb->{id});
is $m->{fetch}{fetched}, 4, 'counted';
ok $m->{fetch}{uid_validity} > 0, 'the UIDVALIDITY kept';
ok $m->{fetch}{last_uid} >= 5, 'and the last UID';

# --- a second mailbox: STARTTLS, moved to a folder once stored
$tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    kind => 'imap', address => 'sales@acme.test', url => $imap->url('INBOX', starttls => 1),
    username => 'sales', password => 'hunter2', move_to => 'Processed' });
is $tx->res->code, 201, 'a second mailbox, imap:// with STARTTLS' or diag $tx->res->body;
my $sales = $tx->res->json;
my ($sales_id, $sales_raw) = mail(subject => 'A quote please');
$imap->deliver('sales', $sales_raw);
ok health_is($sales->{id}, 'ok'), 'green';
ok until_true(sub { stored($sales_id) eq '1' }, 15), 'its mail became a ticket';
is q1("SELECT mailbox_id FROM helpdesk.email_messages WHERE message_id_header = '$sales_id'"),
    $sales->{id}, 'recorded on that mailbox';
ok until_true(sub { !$imap->messages('sales') && $imap->messages('sales', 'Processed') == 1 }, 10),
    'moved to Processed';

# --- a wrong password: red, with the reason, and nothing fetched
my ($other_id, $other_raw) = mail();
$imap->deliver('other', $other_raw);
$tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    kind => 'imap', address => 'other@acme.test', url => $imap->url,
    username => 'other', password => 'wrong' });
my $wrong = $tx->res->json;
my $red = health_is($wrong->{id}, 'auth_failed');
ok $red, 'a wrong password: auth_failed' or diag explain mailbox($wrong->{id});
like $red && $red->{health}{reason}, qr/login denied/i, 'with the reason';
is $red && $red->{health}{code}, 'login_denied', 'and its code';
is stored($other_id), '0', 'and no ticket';
ok $red && $red->{fetch}{failures} >= 1, 'a failure counted';
my $wait = q1("SELECT extract(epoch FROM next_fetch_at - now())::int FROM helpdesk.email_mailboxes WHERE mailbox_id = '$wrong->{id}'");
ok $wait > 30 && $wait <= 60, "the next try in a minute ($wait s)";

# the password corrected: checked again at once
$tx = $ua->patch($t->url("/v1/email/mailboxes/$wrong->{id}") => $h => json => { password => 'right' });
is $tx->res->code, 200, 'the password changed' or diag $tx->res->body;
is $tx->res->json->{health}{state}, 'unknown', 'health unknown until checked';
ok health_is($wrong->{id}, 'ok'), 'then green';
ok until_true(sub { stored($other_id) eq '1' }, 15), 'and its mail fetched';

# --- unreachable: nothing listens there
my $closed = Helpdesk::Dovecot::free_port();
$tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    kind => 'imap', address => 'gone@acme.test', url => "imaps://127.0.0.1:$closed/INBOX",
    username => 'x', password => 'y' });
my $gone = health_is($tx->res->json->{id}, 'unreachable');
ok $gone, 'a closed port: unreachable';
like $gone && $gone->{health}{reason}, qr/connect/i, 'with the reason';
is $gone && $gone->{health}{code}, 'unreachable', 'and its code';

# --- nginx down while mail arrives: nothing missed, nothing twice
$t->stop_nginx;
my @down;
for (1 .. 2) { my ($id, $raw) = mail(); push @down, $id; $imap->deliver('support', $raw) }
$t->start_nginx(http => $fetch);
ok until_true(sub { !grep { stored($_) ne '1' } @down }, 20), 'mail that came while nginx was down arrived';
is q1("SELECT count(*) FROM helpdesk.email_messages WHERE mailbox_id = '$mb->{id}'"), '6', 'and nothing twice';

# --- a crash after a store, before the next: the last message fetched
# again is recognised by its Message-ID
my $tickets = q1("SELECT count(*) FROM helpdesk.tickets");
# (between runs: a run that holds the mailbox would write its own last_uid
# back over this one)
my $last;
ok until_true(sub {
    ($last) = q1("UPDATE helpdesk.email_mailboxes SET last_uid = last_uid - 1, next_fetch_at = now()
                  WHERE mailbox_id = '$mb->{id}' AND lease_token IS NULL RETURNING last_uid") =~ /^(\d+)$/m;
    defined $last;
}, 15), 'the last UID taken back between two runs';
ok until_true(sub { mailbox($mb->{id})->{fetch}{last_uid} == $last + 1 }, 15), 'the UID fetched again';
is q1("SELECT count(*) FROM helpdesk.tickets"), $tickets, 'no ticket twice';

# --- UIDVALIDITY changed: every message looked at again, none taken twice
my $validity = mailbox($mb->{id})->{fetch}{uid_validity};
$imap->stop;
my $away = health_is($mb->{id}, 'unreachable', 10);
ok $away, 'the server gone: unreachable';
like $away && $away->{health}{reason}, qr/connect/i, 'with the reason';
$imap->start;
q1("UPDATE helpdesk.email_mailboxes SET next_fetch_at = now() WHERE mailbox_id = '$mb->{id}'");
ok health_is($mb->{id}, 'ok'), 'back: green again';
my $new_validity = $imap->reset_uidvalidity('support');
my ($after_id, $after_raw) = mail();
$imap->deliver('support', $after_raw);
ok until_true(sub { stored($after_id) eq '1' }, 20), 'a new mail after the reset arrives';
my $now = mailbox($mb->{id});
is $now->{fetch}{uid_validity}, $new_validity, 'the new UIDVALIDITY kept';
is $now->{health}{state}, 'ok', 'green all along (the session the server closed is opened again)';
# every message is looked at again: those stored are recognised by their
# Message-ID; the one read before the mailbox was connected is new to us
is q1("SELECT count(*) FROM helpdesk.email_messages WHERE mailbox_id = '$mb->{id}'"), '8',
    'the others recognised, not taken again';
is q1("SELECT count(*) FROM helpdesk.audit_log WHERE action = 'email.mailbox.uidvalidity'"), '1', 'the reset audited';
is stored($old_id), '1', 'the mail read before the mailbox was connected is taken now, once';

# --- a message over the size limit: refused with the reason, flagged, skipped
my ($big_id, $big) = mail(body => join('', ('x' x 76 . "\r\n") x 1200));
my ($small_id, $small) = mail();
$imap->deliver('support', $big);
$imap->deliver('support', $small);
ok until_true(sub { stored($small_id) eq '1' }, 20), 'the mail after it arrives';
is stored($big_id), '0', 'the large one is no ticket';
my $refused = mailbox($mb->{id})->{fetch}{refused};
is scalar(@$refused), 1, 'it is listed as refused';
like $refused->[0]{reason}, qr/over the limit of 65536/, 'with the reason';
ok $refused->[0]{size} > 65536, 'and its size';
is mailbox($mb->{id})->{health}{state}, 'ok', 'the mailbox stays green';

# --- two nginx instances on one database: each mail once
my $port2 = Helpdesk::Dovecot::free_port();
my $port1 = $t->port;
open my $in, '<', "$d/nginx.conf" or die $!;
my $conf = do { local $/; <$in> };
close $in;
$conf =~ s/127\.0\.0\.1:$port1/127.0.0.1:$port2/g;
$conf =~ s/port=$port1/port=$port2/g;
$conf =~ s{$d/run/nginx\.pid}{$d/run/nginx2.pid};
$conf =~ s{$d/log/error\.log}{$d/log/error2.log};
$conf =~ s{$d/log/access\.log}{$d/log/access2.log};
open my $out, '>', "$d/nginx2.conf" or die $!;
print $out $conf;
close $out;
my $nginx = $ENV{HELPDESK_NGINX} // 'nginx';
system("$nginx -p $d -c $d/nginx2.conf") == 0 or die 'second node';
# the harness stops the first node; this one is stopped here whatever happens
END {
    if ($d && open my $p2, '<', "$d/run/nginx2.pid") {
        my $pid = <$p2>;
        chomp $pid;
        kill 'QUIT', $pid if $pid;
    }
}
ok until_true(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port2") }, 10), 'a second node';
q1("UPDATE helpdesk.email_mailboxes SET poll_interval = 1, next_fetch_at = now() WHERE kind = 'imap' AND health = 'ok'");
my @many;
for my $round (1 .. 4) {
    for (1 .. 5) {
        my ($id, $raw) = mail();
        push @many, $id;
        $imap->deliver($_ % 2 ? 'support' : 'sales', $raw);
    }
    sleep 0.7;
}
ok until_true(sub { !grep { stored($_) ne '1' } @many }, 40), 'twenty mails over two nodes: every one stored';
is q1("SELECT count(*) FROM helpdesk.email_messages WHERE message_id_header = ANY (ARRAY['"
      . join("','", @many) . "'])"), '20', 'each once';
is q1("SELECT count(*) FROM (SELECT ticket_id FROM helpdesk.email_messages WHERE message_id_header = ANY (ARRAY['"
      . join("','", @many) . "']) GROUP BY ticket_id) x"), '20', 'twenty tickets';
my $log2 = do { local $/; open my $l, '<', "$d/log/error2.log"; <$l> // '' };
unlike $log2, qr/\[(alert|emerg)\]/, 'the second node logged no alert';
if (open my $p2, '<', "$d/run/nginx2.pid") {
    my $pid = <$p2>;
    chomp $pid;
    kill 'QUIT', $pid;
    until_true(sub { !kill 0, $pid }, 10);
}

# --- another tenant's mailboxes are nowhere
for my $id ($mb->{id}, $sales->{id}) {
    is $ua->get($t->url("/v1/email/mailboxes/$id") => $hr)->res->code, 404, "another tenant's mailbox: 404";
    is $ua->patch($t->url("/v1/email/mailboxes/$id") => $hr => json => { password => 'x' })->res->code, 404,
        'nor its password changed';
    is $ua->delete($t->url("/v1/email/mailboxes/$id") => $hr)->res->code, 404, 'nor deleted';
}
is_deeply $ua->get($t->url('/v1/email/mailboxes') => $hr)->res->json->{data}, [], 'nor listed';

# a kind cannot change; a pushed mailbox takes no IMAP field
is $ua->patch($t->url("/v1/email/mailboxes/$mb->{id}") => $h => json => { kind => 'inbound' })->res->code, 422,
    'the kind stays';

# deleted: the secret goes, the job leaves it
is $ua->delete($t->url("/v1/email/mailboxes/$sales->{id}") => $h)->res->code, 204, 'a mailbox deleted';
is q1("SELECT password IS NULL FROM helpdesk.email_mailboxes WHERE mailbox_id = '$sales->{id}'"), 't', 'its password gone';
my ($late_id, $late) = mail();
$imap->deliver('sales', $late);
sleep 2;
is stored($late_id), '0', 'and nothing fetched for it';

unlike $t->error_log, qr/secret|hunter2/, 'no password in the log';
$imap->stop;
$t->done;
