#!/usr/bin/env perl
# Files through the REST API: POST /v1/uploads takes the file as the body
# (a length or chunked; its type the Content-Type, its name ?filename=),
# up to helpdesk_upload_max_size however it is sent, while the JSON calls
# keep the location's limit; the upload belongs to the key that sent it,
# and "attachments" of a comment or a new ticket takes only that key's
# unexpired, unattached uploads (another key's, another tenant's, one
# attached already: 422 naming the field, nothing written).  A public
# comment with a file on an email ticket goes out by mail with the file
# attached (an SMTP sink).  Hostile names, types and bodies; a client
# that goes away in the middle of its upload leaves no row.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Mail;
use IO::Socket::INET;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(sleep);

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

my $t = Helpdesk::Test->new->start_stack;
my $sink = Helpdesk::Mail->new($t, tls => 1);
$t->start_nginx(http => sprintf('helpdesk_base_domain portal.test; helpdesk_upload_max_size 1m;
    helpdesk_outbox interval=100ms backoff=200ms max_backoff=400ms attempts=3 timeout=5s;
    helpdesk_smtp url=%s from=noreply@provider.example ca_file=%s;', $sink->url, $sink->ca_file),
    server => 'location / { helpdesk_portal; } location /big/ { helpdesk_api; helpdesk_upload_max_size 25m; }');
my $ua = $t->ua;
my $port = $t->port;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $acme2 = $t->create_key($acme->{id}, 'tickets:read', 'tickets:write');
my $reader = $t->create_key($acme->{id}, 'tickets:read');
my $h = $t->auth($acme->{key});
my $h2 = $t->auth($acme2->{key});
my $hg = $t->auth($globex->{key});

sub upload {
    my ($hdr, $name, $type, $data, %more) = @_;
    my %headers = (%$hdr, %more);
    $headers{'Content-Type'} = $type if defined $type;
    my $q = defined $name ? "?filename=$name" : '';
    return $ua->post($t->url("/v1/uploads$q") => \%headers => $data)->res;
}
sub problem_field {
    my ($res, $code, $field, $name) = @_;
    is $res->code, $code, "$name: $code" or diag $res->body;
    like $res->headers->content_type // '', qr{^application/problem\+json}, "$name: a problem document";
    is $res->json->{errors}[0]{field}, $field, "$name: names \"$field\"" if defined $field;
}
sub uploads_of { $t->psql(qq{SELECT count(*) FROM helpdesk.uploads WHERE tenant_id = '$_[0]'}) }

# --- the happy path ------------------------------------------------------------
my $pdf = "%PDF-1.4\n" . ("fatura " x 3000) . "\n%%EOF\n";
my $res = upload($h, 'fatura%20mar%C3%A7o.pdf', 'application/pdf; name=x', $pdf);
is $res->code, 201, 'a file uploaded' or diag $res->body;
my $up = $res->json;
like $up->{id}, qr/^[0-9a-f-]{36}$/, 'its id';
is $up->{filename}, 'fatura março.pdf', 'its name, decoded';
is $up->{size}, length $pdf, 'its size';
is $up->{content_type}, 'application/pdf', 'its type, without parameters';
ok $up->{expires_at}, 'when it expires';
is $t->psql(qq{SELECT (api_key_id = '$acme->{key_id}') || ' ' || (user_id IS NULL) || ' '
               || (expires_at_ok) FROM (SELECT *, abs(extract(epoch FROM (created_at + interval '1 day'
               - '$up->{expires_at}'::timestamptz))) < 1 AS expires_at_ok FROM helpdesk.uploads
               WHERE upload_id = '$up->{id}') x}), 'true true true', "kept for the key, no user, a day";
is $t->psql(q{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'upload.create'}), 1, 'audited';

# chunked
my $tx = $ua->build_tx(POST => $t->url('/v1/uploads?filename=notes.txt') =>
                       { %$h, 'Content-Type' => 'text/plain', 'Transfer-Encoding' => 'chunked' });
$tx->req->content->write_chunk('first part, ' => sub {
    $_[0]->write_chunk('second part' => sub { $_[0]->write_chunk('') }) });
$tx = $ua->start($tx);
is $tx->res->code, 201, 'a chunked body: created' or diag $tx->res->body;
is $tx->res->json->{size}, 23, 'all of it';
my $chunked = $tx->res->json;

# another file, near the limit
$res = upload($h, 'big.bin', 'application/octet-stream', 'b' x (1024 * 1024));
is $res->code, 201, 'a file of exactly the limit' or diag $res->body;

# --- sizes ---------------------------------------------------------------------------
$res = upload($h, 'huge.bin', 'application/octet-stream', 'x' x (1024 * 1024 + 1));
is $res->code, 413, 'one byte over the limit: 413';
like $res->json->{type}, qr{/payload-too-large$}, 'payload-too-large';
like $res->headers->content_type, qr{^application/problem\+json}, 'a problem document';
for my $case (['at once', 700000, 2], ['later', 8000, 140]) {
    my ($name, $size, $count) = @$case;
    my $raw = "POST /api/v1/uploads?filename=c.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Authorization: Bearer $acme->{key}\r\nContent-Type: application/octet-stream\r\n"
        . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    my $out = $t->raw_request($raw, map { sprintf("%x\r\n%s\r\n", $size, 'x' x $size) } 1 .. $count);
    like $out, qr{^HTTP/1\.1 413 }, "chunked over the limit ($name): 413";
    like $out, qr{"type": "[^"]*/problems/payload-too-large"}, "chunked over the limit ($name): the problem";
}
# the JSON calls keep the location's limit (64k), the file's is for uploads only
$res = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'x', description => 'y' x 80000 })->res;
is $res->code, 413, 'a JSON call over 64k: still 413';
problem_field(upload($h, 'empty.txt', 'text/plain', ''), 422, 'body', 'an empty file');

# --- types and names --------------------------------------------------------------------
$res = $ua->post($t->url('/v1/uploads?filename=a.txt') => $h => 'no type')->res;
is $res->code, 415, 'no Content-Type: 415';
is $res->json->{type} =~ s{.*/}{}r, 'unsupported-media-type', 'saying so';
is upload($h, 'a.txt', 'text', 'x')->code, 415, 'a type without a subtype: 415';
is upload($h, 'a.txt', 'text/pla in', 'x')->code, 415, 'a type with a space: 415';
is upload($h, 'a.txt', 'multipart/form-data; boundary=xyz', "--xyz\r\n")->code, 415, 'a form: 415';
$res = upload($h, 'setup.exe', 'application/octet-stream', "MZ\x90\x00");
is $res->code, 415, 'a program by its name: 415';
like $res->json->{type}, qr{/file-type-refused$}, 'file-type-refused';
is upload($h, 'nice.pdf', 'application/pdf', "MZ\x90\x00" . ("\0" x 60))->code, 415, 'a program by its bytes: 415';

problem_field(upload($h, undef, 'text/plain', 'x'), 422, 'filename', 'no filename');
problem_field(upload($h, '', 'text/plain', 'x'), 422, 'filename', 'an empty filename');
problem_field(upload($h, '%FF%FEbad.txt', 'text/plain', 'x'), 422, 'filename', 'a name that is not UTF-8');
problem_field(upload($h, 'a%0Ab.txt', 'text/plain', 'x'), 422, 'filename', 'a line break in the name');
problem_field(upload($h, 'a%00b.txt', 'text/plain', 'x'), 422, 'filename', 'NUL in the name');
problem_field(upload($h, '..', 'text/plain', 'x'), 422, 'filename', '".." as the name');
problem_field(upload($h, 'dir%2F..', 'text/plain', 'x'), 422, 'filename', 'a path ending in ".."');
problem_field(upload($h, 'x' x 256, 'text/plain', 'x'), 422, 'filename', '256 bytes of name');
problem_field(upload($h, 'a.txt&filename=b.txt', 'text/plain', 'x'), 422, 'filename', 'two names');
problem_field(upload($h, 'a.txt&other=1', 'text/plain', 'x'), 422, 'other', 'an unknown parameter');
$res = upload($h, '..%2F..%2Fetc%2Fpasswd', 'text/plain', 'root');
is $res->code, 201, 'a path as the name: taken' or diag $res->body;
is $res->json->{filename}, 'passwd', 'its last part only';
$res = upload($h, 'C%3A%5Cwindows%5Cwin.ini', 'text/plain', 'x');
is $res->json->{filename}, 'win.ini', 'a Windows path too';
is upload(t_auth($reader->{key}), 'a.txt', 'text/plain', 'x')->code, 403, 'a key without tickets:write: 403';
is upload({}, 'a.txt', 'text/plain', 'x')->code, 401, 'no key: 401';
sub t_auth { $t->auth($_[0]) }

# --- the caller first: a refused key never makes the worker read its body ---------------
# (a location taking 25 MB files; 64 KB of a 20 MB body sent, then nothing:
# the answer must come while 20 MB less 64 KB are still unsent)
sub answer_before_body {
    my ($auth) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $len = 20 * 1024 * 1024;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5) or die "connect: $!";
    my $t0 = Time::HiRes::time();
    $s->send("POST /big/v1/uploads?filename=big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n$auth"
             . "Content-Type: application/octet-stream\r\nContent-Length: $len\r\n\r\n" . ('z' x 65536));
    my $out = '';
    while (Time::HiRes::time() < $t0 + 5 && $out !~ /\r\n\r\n.*\}/s) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.2) > 0;
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $out .= $buf;
    }
    my $took = Time::HiRes::time() - $t0;
    close $s;
    return ($out, $took);
}
my $big_before = uploads_of($acme->{id});
for my $case (['an unknown key', "Authorization: Bearer hdk_not_a_key_at_all_0123456789\r\n", 401, 'unauthorized'],
              ['a revoked-looking garbage token', "Authorization: Bearer x\r\n", 401, 'unauthorized'],
              ['a key without tickets:write', "Authorization: Bearer $reader->{key}\r\n", 403, 'insufficient-scope']) {
    my ($name, $auth, $code, $type) = @$case;
    my ($out, $took) = answer_before_body($auth);
    like $out, qr{^HTTP/1\.1 $code }, "$name, 20 MB announced, 64 KB sent: $code before the rest"
        or diag substr($out, 0, 300);
    like $out, qr{"type": "[^"]*/problems/$type"}, "$name: $type";
    cmp_ok $took, '<', 2, sprintf("$name: at once (%.2fs)", $took);
}
like((answer_before_body("Authorization: Bearer x\r\n"))[0], qr{WWW-Authenticate: Bearer}i, '401: with its challenge');
is uploads_of($acme->{id}), $big_before, 'nothing kept';
# a valid key on the same location: its file, past the other location's 1 MB
$res = $ua->post("http://127.0.0.1:$port/big/v1/uploads?filename=two.bin"
                 => { %$h, 'Content-Type' => 'application/octet-stream' } => 'y' x (2 * 1024 * 1024))->res;
is $res->code, 201, 'a valid key: its 2 MB file taken' or diag $res->body;
is $res->json->{size}, 2 * 1024 * 1024, '... all of it';
$res = $ua->post("http://127.0.0.1:$port/big/v1/uploads?filename=two.bin"
                 => { %$h, 'Content-Type' => 'application/octet-stream' } => 'y' x (25 * 1024 * 1024 + 1))->res;
is $res->code, 413, 'a valid key over 25 MB: 413';

# --- Idempotency-Key: the same key and bytes under another name are another request -------
{
    my %k = ('Idempotency-Key' => 'upload-once-1');
    my $first = upload($h, 'first.txt', 'text/plain', 'the same bytes', %k);
    is $first->code, 201, 'an upload with an Idempotency-Key' or diag $first->body;
    my $again = upload($h, 'first.txt', 'text/plain', 'the same bytes', %k);
    is $again->code, 201, 'the same again: replayed';
    is $again->headers->header('Idempotent-Replayed'), 'true', '... saying so';
    is $again->json->{id}, $first->json->{id}, '... the same upload';
    my $other = upload($h, 'second.txt', 'text/plain', 'the same bytes', %k);
    is $other->code, 422, 'the same key and bytes, another filename: 422' or diag $other->body;
    like $other->json->{type} // '', qr{/idempotency-key-reused$}, '... idempotency-key-reused';
    my $retyped = upload($h, 'first.txt', 'application/octet-stream', 'the same bytes', %k);
    is $retyped->code, 422, 'the same key, bytes and name, another Content-Type: 422' or diag $retyped->body;
    like $retyped->json->{type} // '', qr{/idempotency-key-reused$}, '... idempotency-key-reused';
    is $t->psql(q{SELECT count(*) FROM helpdesk.uploads WHERE filename IN ('first.txt', 'second.txt')}), 1,
        'one upload kept';
}

# --- a client that goes away in the middle -----------------------------------------
my $before = uploads_of($acme->{id});
{
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5) or die "connect: $!";
    $s->send("POST /api/v1/uploads?filename=gone.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Authorization: Bearer $acme->{key}\r\nContent-Type: application/octet-stream\r\n"
        . "Content-Length: 500000\r\n\r\n" . ('g' x 100000));
    sleep 0.3;
    close $s;
}
{
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5) or die "connect: $!";
    $s->send("POST /api/v1/uploads?filename=gone2.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Authorization: Bearer $acme->{key}\r\nContent-Type: application/octet-stream\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n1000\r\n" . ('g' x 4096) . "\r\n");
    sleep 0.3;
    close $s;
}
sleep 0.5;
is uploads_of($acme->{id}), $before, 'a client gone in the middle of its upload: no row';
ok Helpdesk::Test::alive($t->nginx_pid), 'nginx lives';
is upload($h, 'after.txt', 'text/plain', 'still here')->code, 201, 'and takes the next upload';

# --- attaching ----------------------------------------------------------------------------
my $mb = $ua->post($t->url('/v1/email/mailboxes') => $h => json => { address => 'support@acme.test', name => 'Suporte' })->res->json;
my ($path) = ($mb->{inbound_url} // '') =~ m{^https?://[^/]+(/.*)$};
ok $path, 'a mailbox';
$res = $ua->post("http://127.0.0.1:$port$path" => { 'Content-Type' => 'message/rfc822' } => <<'MAIL')->res;
From: Carla Cliente <carla@cliente.example>
To: support@acme.test
Subject: Segunda via da fatura
Message-ID: <fatura-1@cliente.example>
Date: Mon, 30 Nov 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Podem me mandar a segunda via?
MAIL
is $res->code, 201, 'an email ticket' or diag $res->body;
my $tk = $res->json->{ticket};
my $seen = 0;
sub next_mail {
    my $all = $sink->wait_for($seen + 1, 30);
    return undef if @$all <= $seen;
    return $all->[$seen++];
}
ok next_mail(), '"ticket received" went out';
my $events_before = $t->psql(qq{SELECT count(*) FROM helpdesk.ticket_events WHERE ticket_id = '$tk->{id}'});

my $other_key_up = upload($h2, 'other.txt', 'text/plain', 'another key')->json;
my $globex_up = upload($hg, 'globex.txt', 'text/plain', 'another tenant')->json;
ok $other_key_up->{id} && $globex_up->{id}, "another key's and another tenant's uploads";

sub comment { $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $_[0] => json => $_[1])->res }
problem_field(comment($h, { body => 'x', attachments => [ $other_key_up->{id} ] }), 422, 'attachments',
              "another key's upload");
like $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'x', attachments => [ $other_key_up->{id} ] })
     ->res->json->{errors}[0]{message}, qr/\Q$other_key_up->{id}\E/, 'naming the id';
problem_field(comment($h, { body => 'x', attachments => [ $globex_up->{id} ] }), 422, 'attachments',
              "another tenant's upload");
problem_field(comment($h, { body => 'x', attachments => [ $up->{id}, $globex_up->{id} ] }), 422, 'attachments',
              "one good, one another tenant's");
problem_field(comment($h, { body => 'x', attachments => [ 'not-an-id' ] }), 422, 'attachments', 'not an id');
problem_field(comment($h, { body => 'x', attachments => [ $up->{id}, $up->{id} ] }), 422, 'attachments', 'twice in one list');
problem_field(comment($h, { body => 'x', attachments => 'x' }), 422, 'attachments', 'not a list');
problem_field(comment($h, { body => 'x', attachments => [ map { "00000000-0000-4000-8000-0000000000$_" } 10 .. 20 ] }),
              422, 'attachments', 'eleven');
is $t->psql(qq{SELECT count(*) FROM helpdesk.ticket_events WHERE ticket_id = '$tk->{id}'}), $events_before,
    'none of them wrote anything';
is $t->psql(qq{SELECT count(*) FROM helpdesk.uploads WHERE upload_id = '$up->{id}'}), 1, 'the upload still waits';

$res = comment($h, { body => "Segue a segunda via.", visibility => 'public', attachments => [ $up->{id}, $chunked->{id} ] });
is $res->code, 201, 'a public comment with two files' or diag $res->body;
my $ev = $res->json;
is_deeply [ map { $_->{filename} } @{ $ev->{attachments} } ], [ 'fatura março.pdf', 'notes.txt' ], 'on the event, in order';
is $t->psql(qq{SELECT count(*) FROM helpdesk.uploads WHERE upload_id IN ('$up->{id}', '$chunked->{id}')}), 0,
    'the uploads are gone';
my $att = $ev->{attachments}[0];
$res = $ua->get($t->url("/v1/tickets/$tk->{id}/attachments/$att->{id}") => $h)->res;
is $res->code, 200, 'downloaded';
ok $res->body eq $pdf, 'the same bytes';

problem_field(comment($h, { body => 'again', attachments => [ $up->{id} ] }), 422, 'attachments', 'an upload used twice');
problem_field(comment($h2, { body => 'mine?', attachments => [ $chunked->{id} ] }), 422, 'attachments',
              "another key's, attached already");

my $m = next_mail();
ok $m, 'the reply went out by mail'
    or diag $t->psql(q{SELECT event_type, status, last_error FROM helpdesk.outbox}), $t->error_log;
is Helpdesk::Mail::header($m, 'To'), 'carla@cliente.example', 'to the customer';
like(($m->{headers}{'content-type'} // [])->[0] // '', qr{^multipart/mixed}, 'with files: multipart/mixed');
my @files = grep { ((($_->{headers}{'content-disposition'}) // [])->[0] // '') =~ /attachment/ } @{ $m->{parts} // [] };
is scalar(@files), 2, 'both files attached';
my ($pdf_part) = grep { $_->{headers}{'content-disposition'}[0] =~ /filename\*=UTF-8''fatura%20mar%C3%A7o\.pdf/ } @files;
ok $pdf_part, 'the PDF by its name, RFC 2231';
ok decode_base64(($pdf_part // {})->{body} // '') eq $pdf, 'its bytes';

# five files in one comment: on the event and in the mail in the order given
my @order = qw(e-quinto.txt a-primeiro.txt d-quarto.txt b-segundo.txt c-terceiro.txt);
my @ids = map { upload($h, $_, 'text/plain', "conteúdo de $_")->json->{id} } reverse @order;
@ids = reverse @ids;
$res = comment($h, { body => 'Cinco arquivos.', visibility => 'public', attachments => \@ids });
is $res->code, 201, 'a public comment with five files' or diag $res->body;
is_deeply [ map { $_->{filename} } @{ $res->json->{attachments} // [] } ], \@order, 'on the event: in the order given';
$m = next_mail();
ok $m, 'the reply with five files went out';
my @names = map { ((($_->{headers}{'content-disposition'}) // [])->[0] // '') =~ /filename\*?=(?:UTF-8'')?"?([^";\s]+)/ ? $1 : () }
            grep { ((($_->{headers}{'content-disposition'}) // [])->[0] // '') =~ /attachment/ } @{ ($m // {})->{parts} // [] };
is_deeply \@names, \@order, 'in the mail: in the order given, not by their ids or names';
is_deeply [ map { $_->{filename} } @{ $ua->get($t->url("/v1/tickets/$tk->{id}/events") => $h)->res->json->{data}[-1]{attachments} // [] } ],
    \@order, 'on the ticket, read again: the same order';

# an internal note with a file: on the ticket, no mail
my $note_up = upload($h, 'note.txt', 'text/plain', 'internal')->json;
$res = comment($h, { body => 'nota', visibility => 'internal', attachments => [ $note_up->{id} ] });
is $res->code, 201, 'an internal note with a file';
is scalar(@{ $res->json->{attachments} }), 1, 'its file';

# expired: refused, though the row is still there
my $old = upload($h, 'old.txt', 'text/plain', 'old')->json;
$t->psql(qq{UPDATE helpdesk.uploads SET created_at = now() - interval '25 hours' WHERE upload_id = '$old->{id}'});
problem_field(comment($h, { body => 'late', attachments => [ $old->{id} ] }), 422, 'attachments', 'an expired upload');
upload($h, 'new.txt', 'text/plain', 'new');
is $t->psql(qq{SELECT count(*) FROM helpdesk.uploads WHERE upload_id = '$old->{id}'}), 0,
    "the key's next upload forgets it";

# a new ticket with a file
my $new_up = upload($h, 'screenshot.png', 'image/png', "\x89PNG\r\n\x1a\n" . ('p' x 100))->json;
$res = $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'With a file', requester_email => 'ana@x.example',
                                                           attachments => [ $new_up->{id} ] })->res;
is $res->code, 201, 'a ticket with a file' or diag $res->body;
my $new_tk = $res->json;
my $events = $ua->get($t->url("/v1/tickets/$new_tk->{id}/events") => $h)->res->json->{data};
is $events->[0]{attachments}[0]{filename}, 'screenshot.png', 'on its first event';
problem_field($ua->post($t->url('/v1/tickets') => $hg => json => { subject => 'x', attachments => [ $other_key_up->{id} ] })->res,
              422, 'attachments', "a ticket of another tenant with acme's upload");
is $t->psql(q{SELECT count(*) FROM helpdesk.tickets WHERE subject = 'x'}), 0, 'no ticket written';

# globex sees none of acme's uploads; acme's other key's upload is untouched
is $t->psql(qq{SELECT count(*) FROM helpdesk.uploads WHERE upload_id = '$other_key_up->{id}'}), 1,
    "the other key's upload still waits";

# the table's rule: one owner exactly
like $t->psql(qq{INSERT INTO helpdesk.uploads (tenant_id, filename, content_type, size, sha256, data)
                 VALUES ('$acme->{id}', 'x', 'text/plain', 1, 'x', 'x')}, may_fail => 1),
     qr/uploads_one_owner/, 'no owner: refused by the table';

$t->done;
