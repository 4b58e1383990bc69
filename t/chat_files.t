# Files in the website chat: a visitor's upload (POST /chat/v1/upload, the
# file as the body, from the tenant's pages only) and an agent's (under the
# console, with its session and CSRF token), typed by their bytes, refused
# when they are programs, within helpdesk_upload_max_size however they are
# sent; messages that carry them (only the sender's own, only in one
# conversation), each client getting its own download link (a signed one
# for a visitor, whose <img> sends no header); downloads served as the
# portal serves attachments (images inline, anything else a download,
# always sandboxed); another visitor's or tenant's file, a forged or
# expired link: 404 or 403; a client gone mid-upload; conversion into a
# ticket carrying the files (seen through the REST API).
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex sha256_hex);
use Encode qw(decode_utf8 encode_utf8);
use IO::Socket::INET;
use MIME::Base64 qw(decode_base64);
use Mojo::Util qw(url_escape);
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::Chat;

my $t = Helpdesk::Test->new->start_stack;
Helpdesk::Chat::start_nginx($t, directives => 'helpdesk_upload_max_size 64k;');
my $port = $t->port;
my $ua = $t->ua;
my $d = $t->dir;

my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled)
            VALUES ('$acme->{id}', '{https://www.acme.example}', false),
                   ('$globex->{id}', '{https://www.globex.example}', false)});

my $ORIGIN = 'https://www.acme.example';
my $PNG = "\x89PNG\r\n\x1a\n" . "\0\0\0\rIHDR" . ("\x01" x 40);
my $PDF = "%PDF-1.4\n" . ('x' x 100);

sub visitor {
    my (%o) = @_;
    my $v = Helpdesk::Chat::visitor($t, $o{tenant} // 'acme', $o{origin} // $ORIGIN);
    my $w = $v->hello;
    $v->{token} = $w->{visitor};
    return $v;
}

# an agent of a tenant, logged in to the console, on the chat
sub agent {
    my ($tenant, $email, $name) = @_;
    my $a = Helpdesk::Chat::agent($t, $tenant, $email, $name);
    $a->{console}->get('/agent/');
    return { chat => $a->{chat}->(), id => $a->{id}, portal => $a->{console}, host => $a->{host} };
}

# a visitor's upload: (status, json, headers)
sub upload {
    my ($token, $name, $type, $data, %h) = @_;
    my %hd = (Origin => $ORIGIN, 'X-Chat-Stream' => $token, 'Content-Type' => $type,
              'X-Filename' => url_escape(encode_utf8($name)), %h);
    delete $hd{$_} for grep { !defined $hd{$_} } keys %hd;
    my $tenant = delete $hd{tenant} // 'acme';
    my $res = $ua->post("http://127.0.0.1:$port/chat/v1/upload?tenant=$tenant" => \%hd => $data)->res;
    return ($res->code, eval { $res->json } // {}, $res->headers, $res);
}

sub agent_upload {
    my ($a, $name, $type, $data, %h) = @_;
    my $c = $a->{portal};
    my %hd = (Host => $a->{host}, Origin => "http://$a->{host}", 'Content-Type' => $type,
              'X-Filename' => url_escape(encode_utf8($name)),
              'X-CSRF-Token' => $c->cookie('hd_csrf'), %h);
    delete $hd{$_} for grep { !defined $hd{$_} } keys %hd;
    my $tx = $c->ua->build_tx(POST => $c->url('/agent/_/chat/v1/upload') => \%hd => $data);
    my $res = $c->ua->start($tx)->res;
    return ($res->code, eval { $res->json } // {}, $res);
}

sub get_url {
    my ($url, %h) = @_;
    return $ua->get("http://127.0.0.1:$port$url" => \%h)->res;
}

# the link signature as the module makes it, from the test's key file
my ($key_line) = do { open my $fh, '<', "$d/secret.keys" or die $!; <$fh> };
my $KEY = decode_base64((split ' ', $key_line)[1]);
sub sign {
    my ($tenant_id, $file, $exp) = @_;
    my $derived = hmac_sha256('helpdesk chat file links v1', $KEY);
    return hmac_sha256_hex("$tenant_id/$file/$exp", $derived);
}

sub problem_slug { (($_[0]{type} // '') =~ m{/([^/]+)$})[0] // '' }

# --- a visitor's upload -------------------------------------------------------------

my $ana = agent($acme, 'ana@acme.example', 'Ana');
$ana->{chat}->hello;

my $rita = visitor();
like $rita->{token}, qr/^[0-9a-f]{64}$/, 'a visitor with its token';

my ($code, $j, $hd, $res) = upload($rita->{token}, 'foto de férias.png', 'image/png', $PNG);
is $code, 201, 'a visitor uploads an image';
like $j->{upload_id}, qr/^[0-9a-f-]{36}$/, '... and gets its upload id';
is $j->{filename}, 'foto de férias.png', '... its name (UTF-8, percent-encoded in X-Filename)';
is $j->{content_type}, 'image/png', '... the type its bytes say';
is $j->{size}, length $PNG, '... its size';
is $hd->header('Access-Control-Allow-Origin'), $ORIGIN, "... readable by the tenant's page";
like $j->{url}, qr{^/chat/v1/file/\Q$j->{upload_id}\E\?tenant=acme&exp=\d+&sig=[0-9a-f]{64}$},
     '... with a signed link for its preview';
my $photo = $j;
is $t->psql(qq{SELECT sha256 || ' ' || (visitor_id IS NOT NULL) || ' ' || (conversation_id IS NULL)
               FROM helpdesk.chat_files WHERE file_id = '$photo->{upload_id}'}),
   sha256_hex($PNG) . ' true true', 'stored with its digest, as the visitor\'s, not sent yet';

# the preview: an <img> of the page, with no header at all
$res = get_url($photo->{url});
is $res->code, 200, 'the preview link works without any header';
is $res->headers->content_type, 'image/png', '... an image';
like $res->headers->header('Content-Disposition'), qr/^inline; filename="foto de f_rias\.png"/,
     '... shown inline';
like $res->headers->header('Content-Security-Policy'), qr/^sandbox/, '... sandboxed';
is $res->headers->header('X-Content-Type-Options'), 'nosniff', '... nosniff';
is $res->body, $PNG, '... the same bytes';
cmp_ok $photo->{url} =~ /exp=(\d+)/ && $1, '>', time + 23 * 3600, 'a link is valid for a day';

# a page that lies about its file
($code, $j) = upload($rita->{token}, 'cat.png', 'image/png', '<html><script>alert(1)</script></html>');
is $code, 201, 'an HTML page named and declared as an image is taken';
is $j->{content_type}, 'application/octet-stream', '... as what its bytes are';
$res = get_url($j->{url});
is $res->headers->content_type, 'application/octet-stream', '... and served as opaque bytes';
like $res->headers->header('Content-Disposition'), qr/^attachment/, '... as a download';
($code, $j) = upload($rita->{token}, 'logo.svg', 'image/svg+xml',
                     '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
$res = get_url($j->{url});
like $res->headers->header('Content-Disposition'), qr/^attachment/, 'an SVG is never shown inline';
my ($pdf_code, $pdf) = upload($rita->{token}, 'invoice.pdf', 'application/pdf', $PDF);
is $pdf->{content_type}, 'application/pdf', 'a PDF is a PDF';
$res = get_url($pdf->{url});
like $res->headers->header('Content-Disposition'), qr/^attachment; filename="invoice\.pdf"/,
     '... downloaded';

# refused
($code, $j, $hd) = upload($rita->{token}, 'setup.exe', 'application/octet-stream', 'hello');
is $code, 415, 'a program by its name: 415';
is problem_slug($j), 'file-type-refused', '... a problem document saying so';
is $hd->header('Access-Control-Allow-Origin'), $ORIGIN, '... that the page can read';
($code) = upload($rita->{token}, 'report.pdf', 'application/pdf', "MZ\x90\0" . ('x' x 60));
is $code, 415, 'a Windows program named as a PDF: 415, by its bytes';
($code) = upload($rita->{token}, 'run', 'text/plain', "#!/bin/sh\nrm -rf /\n");
is $code, 415, 'a script: 415';
($code) = upload($rita->{token}, 'x.bin', 'application/x-msdownload', 'data');
is $code, 415, 'a program by its declared type: 415';

# what is not a file
($code, $j) = upload($rita->{token}, 'empty.txt', 'text/plain', '');
is $code, 400, 'an empty body: 400';
is problem_slug($j), 'empty-file', '... empty-file';
($code, $j, $hd) = upload($rita->{token}, 'big.bin', 'application/octet-stream', 'x' x (64 * 1024 + 1));
is $code, 413, 'one byte over helpdesk_upload_max_size: 413';
is problem_slug($j), 'payload-too-large', '... payload-too-large';
is $j->{limit}, 65536, '... naming the limit';
is $hd->header('Access-Control-Allow-Origin'), $ORIGIN, '... readable by the page';
($code) = upload($rita->{token}, 'max.bin', 'application/octet-stream', 'y' x (64 * 1024));
is $code, 201, 'exactly the limit is taken';

{
    my $body = join '', map { sprintf("%x\r\n%s\r\n", 8192, 'z' x 8192) } 1 .. 9;
    my $out = $t->raw_request("POST /chat/v1/upload?tenant=acme HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              . "Origin: $ORIGIN\r\nX-Chat-Stream: $rita->{token}\r\n"
                              . "Content-Type: application/octet-stream\r\n"
                              . "Transfer-Encoding: chunked\r\n\r\n",
                              $body, "0\r\n\r\n");
    like $out, qr{^HTTP/1\.1 413 }, 'a chunked body over the limit: 413 all the same';
    like $out, qr{application/problem\+json}, '... a problem document';
}

($code, $j) = upload(undef, 'a.png', 'image/png', $PNG);
is $code, 400, 'no X-Chat-Stream: 400';
($code) = upload('nope', 'a.png', 'image/png', $PNG);
is $code, 400, 'a token that is no token: 400';
($code, $j) = upload('cd' x 32, 'a.png', 'image/png', $PNG);
is $code, 401, 'a token of no visitor: 401';
($code, $j, $hd) = upload($rita->{token}, 'a.png', 'image/png', $PNG, Origin => 'https://evil.example');
is $code, 403, 'from another page: 403';
ok !$hd->header('Access-Control-Allow-Origin'), '... and nothing allowed to it';
($code) = upload($rita->{token}, 'a.png', 'image/png', $PNG, tenant => 'globex');
is $code, 403, "to another tenant (whose pages these are not): 403";
{
    my $res = $ua->build_tx(OPTIONS => "http://127.0.0.1:$port/chat/v1/upload?tenant=acme" => {
        Origin => $ORIGIN, 'Access-Control-Request-Method' => 'POST',
        'Access-Control-Request-Headers' => 'content-type,x-chat-stream,x-filename' });
    $res = $ua->start($res)->res;
    is $res->code, 204, 'the preflight';
    like $res->headers->header('Access-Control-Allow-Headers'), qr/X-Filename/, '... allows X-Filename';
}

# the visitor's rate: 20 files in ten minutes
{
    my $v = visitor();
    my @codes = map { (upload($v->{token}, "n$_.txt", 'text/plain', "note $_"))[0] } 1 .. 21;
    is_deeply [@codes[0 .. 19]], [(201) x 20], 'a visitor uploads 20 files in a row';
    is $codes[20], 429, '... and the 21st is refused for a while';
    $v->close;
}

# a client that goes away in the middle of its upload
{
    my $before = $t->psql('SELECT count(*) FROM helpdesk.chat_files');
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5) or die $!;
    syswrite $s, "POST /chat/v1/upload?tenant=acme HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 . "Origin: $ORIGIN\r\nX-Chat-Stream: $rita->{token}\r\n"
                 . "Content-Type: application/octet-stream\r\nContent-Length: 60000\r\n\r\n"
                 . ('q' x 1000);
    sleep 0.3;
    close $s;
    sleep 0.5;
    is $t->psql('SELECT count(*) FROM helpdesk.chat_files'), $before,
       'a client gone mid-upload leaves no file';
    ($code) = upload($rita->{token}, 'after.txt', 'text/plain', 'still here');
    is $code, 201, '... and the next upload goes on';
}

# --- links: only the module's, only for its file, only for a while -------------------

{
    my ($id, $exp, $sig) = $photo->{url} =~ m{file/([^?]+)\?tenant=acme&exp=(\d+)&sig=(\w+)};
    my $flip = substr($sig, 0, 63) . (substr($sig, 63) eq '0' ? '1' : '0');
    is get_url("/chat/v1/file/$id?tenant=acme&exp=$exp&sig=$flip")->code, 404, 'a signature altered: 404';
    is get_url("/chat/v1/file/$id?tenant=acme&exp=" . ($exp + 3600) . "&sig=$sig")->code, 404,
       'a later expiry under the same signature: 404';
    is get_url("/chat/v1/file/$id?tenant=acme")->code, 404, 'no signature: 404';
    is get_url("/chat/v1/file/$pdf->{upload_id}?tenant=acme&exp=$exp&sig=$sig")->code, 404,
       "one file's signature for another: 404";
    is get_url("/chat/v1/file/$id?tenant=globex&exp=$exp&sig=$sig")->code, 404,
       "under another tenant's name: 404";
    my $wrong = sign($acme->{id}, $id, $exp);
    my $forged = hmac_sha256_hex("$acme->{id}/$id/$exp", 'a guessed key');
    is get_url("/chat/v1/file/$id?tenant=acme&exp=$exp&sig=$forged")->code, 404,
       'signed with another key: 404';
    is $wrong, $sig, 'the signature is what the documented derivation gives';
    my $old = int(time) - 60;
    my $r = get_url("/chat/v1/file/$id?tenant=acme&exp=$old&sig=" . sign($acme->{id}, $id, $old));
    is $r->code, 403, 'a rightly signed link past its time: 403';
    is problem_slug($r->json), 'link-expired', '... link-expired';
    my $gexp = int(time) + 3600;
    is get_url("/chat/v1/file/$id?tenant=globex&exp=$gexp&sig=" . sign($globex->{id}, $id, $gexp))->code,
       404, "acme's file by a link rightly signed for globex: 404";
    my $none = '00000000-0000-4000-8000-000000000000';
    is get_url("/chat/v1/file/$none?tenant=acme&exp=$gexp&sig=" . sign($acme->{id}, $none, $gexp))->code,
       404, 'a signed link to no file: 404';
    is get_url("/chat/v1/file/..%2f..%2fetc?tenant=acme&exp=$exp&sig=$sig")->code, 404, 'no id: 404';
    is get_url("/chat/v1/file/$id?tenant=acme&exp=$exp&sig=$sig", Origin => 'https://evil.example')->code,
       200, 'a link opens from anywhere (it is its own credential)';
}

# --- in messages ---------------------------------------------------------------------

my $ack = $rita->say(start => prechat => { name => 'Rita', email => 'rita@example.com' },
                     text => 'My invoice is wrong');
my $conv = $ack->{conversation};
ok $ana->{chat}->take('offer', conversation => $conv), 'the agent is offered the chat';
is $ana->{chat}->say(accept => conversation => $conv)->{type}, 'ack', '... and accepts it';

$ack = $rita->say(message => text => 'here it is', attachments => [$photo->{upload_id}, $pdf->{upload_id}]);
is $ack->{type}, 'ack', 'a message with two files is acknowledged';
my $m = $ana->{chat}->take('message', text => 'here it is');
is scalar @{ $m->{attachments} // [] }, 2, 'the agent receives both';
my ($a1, $a2) = @{ $m->{attachments} };
is_deeply [map { $a1->{$_} } qw(upload_id filename content_type size)],
          [$photo->{upload_id}, 'foto de férias.png', 'image/png', length $PNG],
          '... each with its id, name, type and size, in order';
is $a2->{filename}, 'invoice.pdf', '... the second too';
is $a1->{url}, "/agent/_/chat/v1/file/$photo->{upload_id}", "... and the agent's link under the console";
$m = $rita->take('message', text => 'here it is');
like $m->{attachments}[0]{url}, qr{^/chat/v1/file/\Q$photo->{upload_id}\E\?tenant=acme&exp=\d+&sig=\w{64}$},
     'the visitor gets the same event with its own signed links';
is get_url($m->{attachments}[0]{url})->body, $PNG, '... which work';

$res = $ana->{portal}->get("/agent/_/chat/v1/file/$photo->{upload_id}");
is $res->code, 200, 'the agent downloads the visitor\'s file with its session';
is $res->body, $PNG, '... the same bytes';
like $res->headers->header('Content-Disposition'), qr/^inline/, '... an image inline';
$res = $ua->get("http://127.0.0.1:$port/agent/_/chat/v1/file/$photo->{upload_id}"
                => { Host => $ana->{host} })->res;
is $res->code, 401, 'without the session: 401';

# every download of a customer's file is an audited read, like an attachment's
is $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log
               WHERE tenant_id = '$acme->{id}' AND action = 'chat.file.read'
                 AND object_type = 'chat_file' AND object_id = '$photo->{upload_id}'
                 AND actor_type = 'user' AND actor_id = '$ana->{id}'}), 1,
   "the agent's download is audited, with who read which file";
ok $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log
               WHERE tenant_id = '$acme->{id}' AND action = 'chat.file.read'
                 AND object_id = '$photo->{upload_id}' AND actor_type = 'visitor'}) >= 1,
   "... and a download by a visitor's signed link too";

# someone else's files
my $bia = visitor();
my ($bcode, $bfile) = upload($bia->{token}, 'bia.txt', 'text/plain', 'from Bia');
is $bcode, 201, 'another visitor uploads';
$ack = $bia->say(start => prechat => { name => 'Bia' }, text => 'hi');
my $conv2 = $ack->{conversation};
$ack = $bia->say(message => text => 'look', attachments => [$photo->{upload_id}]);
is $ack->{type}, 'error', "a message naming another visitor's upload: an error";
is $ack->{code}, 'not_found', '... not_found';
$ack = $rita->say(message => text => 'mine?', attachments => [$bfile->{upload_id}]);
is $ack->{code}, 'not_found', '... either way';
$ack = $bia->say(message => text => 'mine', attachments => [$bfile->{upload_id}, '00000000-0000-4000-8000-000000000000']);
is $ack->{code}, 'not_found', 'an upload id that is nobody\'s: not_found';
$ack = $bia->say(message => text => 'bad', attachments => ['not an id']);
is $ack->{code}, 'bad_message', 'an attachment that is no id: bad_message';
ok !$ana->{chat}->take('message', text => 'look', timeout => 0.5), 'nothing of it was stored';
is $t->psql(qq{SELECT coalesce(conversation_id::text, 'none') FROM helpdesk.chat_files
               WHERE file_id = '$bfile->{upload_id}'}), 'none', "... and Bia's file is still unsent";

# the same cid again: the same ack; the file stays the message's
my $cid = Helpdesk::Chat::cid();
my ($ncode, $note) = upload($rita->{token}, 'note.txt', 'text/plain', 'plain words');
my $r1 = $rita->say(message => cid => $cid, text => '', attachments => [$note->{upload_id}]);
my $r2 = $rita->say(message => cid => $cid, text => '', attachments => [$note->{upload_id}]);
is $r1->{type}, 'ack', 'a message with a file and no text';
is $r2->{ref}, $r1->{ref}, '... sent again (a lost ack), acknowledged again with the same id';

# a file sent in one conversation cannot go to another
{
    my $v = visitor();
    my ($c1, $f) = upload($v->{token}, 'once.txt', 'text/plain', 'once');
    my $a = $v->say(start => prechat => { name => 'Caio' }, text => 'first');
    is $v->say(message => attachments => [$f->{upload_id}])->{type}, 'ack', 'a file sent in a conversation';
    $v->say(end => ());
    $v->take('ended');
    $a = $v->say(start => prechat => { name => 'Caio' }, text => 'second');
    is $v->say(message => attachments => [$f->{upload_id}])->{code}, 'not_found',
       '... cannot be sent again in another';
    $v->close;
}

# another tenant's
{
    my $g = visitor(tenant => 'globex', origin => 'https://www.globex.example');
    $g->say(start => prechat => { name => 'Gil' }, text => 'hello');
    is $g->say(message => attachments => [$photo->{upload_id}])->{code}, 'not_found',
       "another tenant's upload id in a message: not_found";
    my $gina = agent($globex, 'gina@globex.example', 'Gina');
    $res = $gina->{portal}->get("/agent/_/chat/v1/file/$photo->{upload_id}");
    is $res->code, 404, "another tenant's agent: 404";
    $g->close;
    $gina->{chat}->close;
}

# --- an agent's files ------------------------------------------------------------------

my ($acode, $af, $ares) = agent_upload($ana, 'resposta.pdf', 'application/pdf', $PDF);
is $acode, 201, 'the agent uploads a file';
is $af->{content_type}, 'application/pdf', '... typed by its bytes';
is $af->{url}, "/agent/_/chat/v1/file/$af->{upload_id}", '... with its link under the console';
($acode) = agent_upload($ana, 'x.pdf', 'application/pdf', $PDF, 'X-CSRF-Token' => '');
is $acode, 403, 'without the CSRF token: 403';
($acode) = agent_upload($ana, 'x.pdf', 'application/pdf', $PDF, Origin => 'https://evil.example');
is $acode, 403, 'from another origin: 403';
{
    my $res = $ua->post("http://127.0.0.1:$port/agent/_/chat/v1/upload"
                        => { Host => $ana->{host}, Origin => "http://$ana->{host}" } => $PDF)->res;
    is $res->code, 401, 'without the session: 401';
}
($acode) = agent_upload($ana, 'big.pdf', 'application/pdf', '%PDF' . ('x' x (64 * 1024)));
is $acode, 413, "an agent's file over the limit: 413";
($acode) = agent_upload($ana, 'tool.exe', 'application/octet-stream', 'x');
is $acode, 415, "an agent's program: 415";

$ack = $ana->{chat}->say(message => conversation => $conv, text => 'the corrected invoice',
                          attachments => [$af->{upload_id}]);
is $ack->{type}, 'ack', "the agent's message with a file";
$m = $rita->take('message', text => 'the corrected invoice');
is $m->{attachments}[0]{filename}, 'resposta.pdf', 'the visitor receives it';
$res = get_url($m->{attachments}[0]{url});
is $res->code, 200, '... and downloads it by its link';
like $res->headers->header('Content-Disposition'), qr/^attachment; filename="resposta\.pdf"/,
     '... as a download';
is $ana->{chat}->say(message => conversation => $conv, attachments => [$bfile->{upload_id}])->{code},
   'not_found', "an agent cannot send a visitor's upload";

# the record: the stored event names each file
ok until_true(sub {
        $t->psql(qq{SELECT count(*) FROM helpdesk.chat_messages WHERE conversation_id = '$conv'
                    AND data ? 'attachments'}) >= 3 }, 5),
   'the messages are in the record with their files';
is decode_utf8($t->psql(qq{SELECT data->'attachments'->0->>'filename' FROM helpdesk.chat_messages
                           WHERE conversation_id = '$conv' AND body = 'here it is'})), 'foto de férias.png',
   '... by their details (no link is stored)';
is $t->psql(qq{SELECT count(*) FROM helpdesk.chat_messages WHERE conversation_id = '$conv'
               AND data::text LIKE '%sig=%'}), '0', '... and no signature';

# --- conversion into a ticket -------------------------------------------------------------

$ack = $ana->{chat}->say(convert => conversation => $conv);
is $ack->{type}, 'ack', 'the agent converts the chat into a ticket';
my $cv = $rita->take('converted', timeout => 5);
like $cv->{ticket}{number}, qr/^TKT-\d+$/, '... the visitor sees its number';
my $ev = $ua->get($t->url("/v1/tickets/$cv->{ticket}{number}/events") => $t->auth($acme->{key}))->res->json;
my @files = map { @{ $_->{attachments} // [] } } @{ $ev->{data} // $ev };
is_deeply [sort map { $_->{filename} } @files], [sort 'foto de férias.png', 'invoice.pdf', 'note.txt', 'resposta.pdf'],
   "the ticket's events carry the chat's files";
my ($tp) = grep { $_->{filename} eq 'foto de férias.png' } @files;
my ($event) = grep { grep { $_->{filename} eq 'foto de férias.png' } @{ $_->{attachments} // [] } }
              @{ $ev->{data} // $ev };
is $event->{body}, 'here it is', '... on the comment of the message that carried them';
$res = $ua->get($t->url($tp->{url} =~ s{^/v1}{/v1}r) => $t->auth($acme->{key}))->res;
is $res->code, 200, '... and the REST API serves them';
is $res->body, $PNG, '... the same bytes';

$_->close for $rita, $bia;
$ana->{chat}->close;

$t->done;
