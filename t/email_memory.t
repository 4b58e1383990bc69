# What parsing a large mail costs a worker: one nginx worker, a 30 MB mail
# (a 22 MB base64 attachment, a 256 KB text part, a forwarded message
# with a 1 MB attachment of its own) pushed to the inbound URL, and the
# worker's peak resident memory (VmHWM) against its size before.  The
# message is read where nginx left it (the body's temporary file), its
# attachments decoded to a file, and everything reaches PostgreSQL in
# pieces: the peak must stay far below the message's size.  Also: more
# bytes than the worker's parse budget at once are refused with 503 and
# Retry-After, MIME bombs (headerless parts, a part's header fields,
# address lists and parameters) are refused before they cost anything, and the figures are printed for docs/performance.md.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use MIME::Base64 qw(encode_base64);
use Mojo::IOLoop;
use Helpdesk::Test;

plan skip_all => 'one process under valgrind' if $ENV{HELPDESK_VALGRIND};
plan skip_all => 'sanitizers change the figures' if ($ENV{HELPDESK_NGINX} // '') =~ /asan/;

my $t = Helpdesk::Test->new(workers => 1)->start_stack;
$t->start_nginx;
my $ua = $t->ua;
$ua->inactivity_timeout(120);
$ua->request_timeout(120);
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});

my $tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => { address => 'support@acme.test' });
is $tx->res->code, 201, 'mailbox' or diag $tx->res->body;
(my $path = $tx->res->json->{inbound_url}) =~ s{^http://[^/]+}{};
my $inbound = "http://127.0.0.1:@{[$t->port]}$path";

my ($worker) = $t->worker_pids;
ok $worker, 'the worker';

sub status_kb {
    my ($key) = @_;
    open my $fh, '<', "/proc/$worker/status" or return 0;
    while (<$fh>) { return $1 if /^$key:\s+(\d+)/ }
    return 0;
}

sub mail {
    my ($id, $mb) = @_;
    my $att = encode_base64(join('', map { chr(($_ * 7) % 251) } 0 .. 1023) x ($mb * 1024));
    my $inner = encode_base64('y' x (1024 * 1024));
    my $text = ("A line of the customer's message, long enough to count.\n" x 4700);
    return "From: Ana Souza <ana\@example.org>\nTo: support\@acme.test\n"
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
}

# warm up: a small mail, so the worker's pools and connections exist
my $res = $ua->post($inbound => { 'Content-Type' => 'message/rfc822' } => mail('warm', 0))->res;
is $res->code, 201, 'a small mail' or diag $res->body;

# parts need no header: "--b" and an empty line, a million times (5 MB),
# made GMime build a million parts before the walk could count them (the
# worker peaked at 1.3 GB); refused before GMime sees it now
{
    my $bomb = "From: a\@x.example\nTo: support\@acme.test\nSubject: parts\n"
        . "Message-ID: <parts\@x.example>\nMIME-Version: 1.0\n"
        . "Content-Type: multipart/mixed; boundary=b\n\n" . ("--b\n\n" x 1_000_000) . "--b--\n";
    my $rss = status_kb('VmRSS');
    my $res = $ua->post($inbound => { 'Content-Type' => 'message/rfc822' } => $bomb)->res;
    is $res->code, 422, 'a million headerless parts: refused' or diag $res->body;
    like $res->json && $res->json->{detail}, qr/too many parts/, 'as too many parts';
    my $peak = (status_kb('VmHWM') - $rss) / 1024;
    diag sprintf('a million headerless parts: peak +%.1f MB', $peak);
    cmp_ok $peak, '<', 16, 'the worker peaks at less than 16 MB over its size before';

    # nor is a part's header block measured: 5 MB of "X:y" fields (GMime
    # skips lines that are no field, so the junk between them ends nothing)
    # made the worker peak at 600 MB
    $bomb = "From: a\@x.example\nTo: support\@acme.test\nSubject: fields\n"
        . "Message-ID: <fields\@x.example>\nMIME-Version: 1.0\n"
        . "Content-Type: multipart/mixed; boundary=b\n\n--b\n" . ("X:y\nnot a field\n" x 300_000)
        . ("X:y\n" x 900_000) . "\nhi\n--b--\n";
    $rss = status_kb('VmRSS');
    $res = $ua->post($inbound => { 'Content-Type' => 'message/rfc822' } => $bomb)->res;
    is $res->code, 422, 'a part of a million header fields: refused' or diag $res->body;
    like $res->json && $res->json->{detail}, qr/too many header fields/, 'as too many header fields';
    $peak = (status_kb('VmHWM') - $rss) / 1024;
    diag sprintf('a part of a million header fields: peak +%.1f MB', $peak);
    cmp_ok $peak, '<', 16, 'the worker peaks at less than 16 MB over its size before';

    # the fields GMime makes lists of: a forwarded message's To of a
    # million addresses (its header block was not measured: +290 MB), a
    # part's Content-Type of a million parameters (+115 MB)
    my $to = "From: c\@d.example\nTo: " . ("a\@b," x 1_000_000) . "x\@y.example\nSubject: in\n\nbody\n";
    my %lists = (
        'a forwarded To of a million addresses' =>
            [ 'mixed', "--b\nContent-Type: (a comment) message/rfc822\n\n$to" ],
        "a digest's message with a To of a million addresses" => [ 'digest', "--b\n\n$to" ],
        'a Content-Type of a million parameters' =>
            [ 'mixed', "--b\nContent-Type: text/plain" . (";a=b" x 1_000_000) . "\n\nhi\n" ]);
    for my $what (sort keys %lists) {
        $bomb = "From: a\@x.example\nTo: support\@acme.test\nSubject: lists\n"
            . "Message-ID: <lists-" . length($what) . "\@x.example>\nMIME-Version: 1.0\n"
            . "Content-Type: multipart/$lists{$what}[0]; boundary=b\n\n$lists{$what}[1]--b--\n";
        $rss = status_kb('VmRSS');
        $res = $ua->post($inbound => { 'Content-Type' => 'message/rfc822' } => $bomb)->res;
        is $res->code, 422, "$what: refused" or diag $res->body;
        like $res->json && $res->json->{detail}, qr/address or parameter fields are too large/, 'as fields too large';
        $peak = (status_kb('VmHWM') - $rss) / 1024;
        diag sprintf('%s: peak +%.1f MB', $what, $peak);
        cmp_ok $peak, '<', 16, 'the worker peaks at less than 16 MB over its size before';
    }
}

my $body = mail('big30', 22);
my $mb = length($body) / 1024 / 1024;
cmp_ok $mb, '>', 29, sprintf('the mail: %.1f MB', $mb);

my $rss0 = status_kb('VmRSS');
my $hwm0 = status_kb('VmHWM');
my $t0 = time;
$res = $ua->post($inbound => { 'Content-Type' => 'message/rfc822' } => $body)->res;
my $secs = time - $t0;
is $res->code, 201, 'the 30 MB mail opens a ticket' or diag $res->body;
my $hwm = status_kb('VmHWM');
my $rss1 = status_kb('VmRSS');
my $id = $res->json->{ticket}{id} // '';
is $t->psql("SELECT size FROM helpdesk.attachments WHERE ticket_id = '$id' AND filename = 'logs.bin'"),
    22 * 1024 * 1024, 'the 22 MB attachment, whole';
is $t->psql("SELECT size FROM helpdesk.attachments WHERE ticket_id = '$id' AND filename = 'original.eml'"),
    length($body), 'the original, whole';
is $t->psql("SELECT encode(sha256(data), 'hex') FROM helpdesk.attachments WHERE ticket_id = '$id' AND filename = 'original.eml'"),
    Digest::SHA::sha256_hex($body), 'byte for byte';
like $t->psql("SELECT left(description, 40) FROM helpdesk.tickets WHERE ticket_id = '$id'"),
    qr/^A line of the customer/, 'the text';

my $peak = ($hwm - $rss0) / 1024;
diag sprintf('30 MB mail: worker RSS %.1f MB before, peak %.1f MB (+%.1f MB), %.1f MB after; %.2f s',
             $rss0 / 1024, $hwm / 1024, $peak, $rss1 / 1024, $secs);
cmp_ok $peak, '<', 16, 'the worker peaks at less than 16 MB over its size before';
cmp_ok(($rss1 - $rss0) / 1024, '<', 8, 'and keeps less than 8 MB of it');

# the worker's budget of bytes being parsed: two 30 MB mails at once, the
# second refused with 503 and Retry-After while the first is parsed
my @codes;
my @retry;
for my $n (1 .. 3) {
    my $b = mail("par$n", 22);
    $ua->post($inbound => { 'Content-Type' => 'message/rfc822' } => $b => sub {
        my ($ua, $tx) = @_;
        push @codes, $tx->res->code;
        push @retry, $tx->res->headers->header('Retry-After') if $tx->res->code == 503;
        Mojo::IOLoop->stop if @codes == 3;
    });
}
Mojo::IOLoop->start;
my %c;
$c{$_}++ for @codes;
ok $c{201}, 'one of three 30 MB mails at once is taken' or diag explain \@codes;
ok $c{503}, 'another is refused for now' or diag explain \@codes;
ok @retry && $retry[0] =~ /^\d+$/, 'with Retry-After';

# a reload while a mail is being parsed and stored: the old worker ends
# that request before it exits (no socket left open, no alert), the mail
# is stored
for my $delay (0.15, 0.4, 0.8) {
    my $b = mail("reload$delay", 22);
    my $code;
    $ua->post($inbound => { 'Content-Type' => 'message/rfc822' } => $b => sub {
        my ($ua, $tx) = @_;
        $code = $tx->res->code // 'none';
        Mojo::IOLoop->stop;
    });
    Mojo::IOLoop->timer($delay => sub { kill 'HUP', $t->nginx_pid });
    Mojo::IOLoop->start;
    is $code, 201, "a reload ${delay} s into a 30 MB mail: stored";
    Time::HiRes::sleep(1.5);
}

$t->done;


use Digest::SHA ();
