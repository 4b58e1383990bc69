# Mail pushed in: mailboxes through the API, the inbound URL, fixture mails
# in the shapes Gmail, Outlook, Apple Mail and Thunderbird write (new
# mail, replies, forwards, inline images, encoded subjects, a 20 MB
# attachment), auto-replies and bounces dropped, threading, and hostile
# input (bad MIME, MIME bombs, non-UTF-8, oversized, chunked, a client that
# leaves mid-upload, another tenant's token, HTML with scripts).
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Mojo::JSON qw(decode_json);
use Mojo::UserAgent;
use Mojo::IOLoop;
use Time::HiRes qw(sleep);
use Helpdesk::Test qw(until_true);

my $t = Helpdesk::Test->new->start_stack;
# the inbound location is the harness's (t/lib/Helpdesk/Test.pm): 36 MB, a
# 64 KB buffer past which the body waits in a file
my $d = $t->dir;
# beside the harness's log, one as an operator writes it ($helpdesk_log_uri)
$t->start_nginx(http => q{log_format redacted '$status "$helpdesk_log_uri"';},
                server => qq{access_log $d/log/redacted.log redacted;
        access_log $d/log/access.log helpdesk_test;
        # a URI the location's rewrite left shorter than its prefix
        location /api/v1/email/inbound-rewritten/ {
            rewrite ^ /i break;
            helpdesk_email_inbound;
        }});
my $ua = $t->ua;
$ua->inactivity_timeout(60);
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
my $other = $t->create_tenant('other');
my $ho = $t->auth($other->{key});

sub fixture {
    my ($name) = @_;
    open my $fh, '<:raw', "t/email/fixtures/$name" or die "$name: $!";
    local $/;
    return <$fh>;
}

# mailboxes
my $tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    address => 'Support@Acme.test', name => 'Support',
    rules => [ { when => { from_domain => 'example.org' }, set => { priority => 'high', category => 'billing' } } ],
    ignore => ['spam.example'] });
is $tx->res->code, 201, 'mailbox created' or diag $tx->res->body;
my $mb = $tx->res->json;
is $mb->{address}, 'support@acme.test', 'address kept in lower case';
like $mb->{inbound_url}, qr{^http://localhost:@{[$t->port]}/api/v1/email/inbound/[A-Za-z0-9_-]{32}$},
    'the inbound URL, with its token, once';
my $url = $mb->{inbound_url};
(my $path = $url) =~ s{^http://[^/]+}{};
my $inbound = "http://127.0.0.1:@{[$t->port]}$path";

$tx = $ua->get($t->url("/v1/email/mailboxes/$mb->{id}") => $h);
is $tx->res->code, 200, 'mailbox read';
ok !exists $tx->res->json->{inbound_url}, 'the URL is not shown again';
unlike $tx->res->body, qr/sha256:/, 'nor its hash';
is $ua->get($t->url('/v1/email/mailboxes') => $h)->res->json->{data}[0]{id}, $mb->{id}, 'listed';

$tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => { address => 'support@acme.test' });
is $tx->res->code, 409, 'the same address twice: 409';
$tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    address => 'not an address', sender_limit => 0, enabled => 'yes',
    rules => [ { when => { subject => '' }, set => {} }, { when => { from_domain => 'x.example' }, set => { assignee => 'nobody@x.example' } } ],
    ignore => [ 'not a domain!' ] });
is $tx->res->code, 422, 'bad fields: 422';
is $tx->res->headers->content_type, 'application/problem+json', 'as a problem document';
my %err = map { $_->{field} => 1 } @{ $tx->res->json->{errors} };
ok $err{enabled}, 'names enabled';
$tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    address => 'not an address', sender_limit => 0,
    rules => [ { when => { subject => '' }, set => {} }, { when => { from_domain => 'x.example' }, set => { assignee => 'nobody@x.example' } } ],
    ignore => [ 'not a domain!' ] });
%err = map { $_->{field} => 1 } @{ $tx->res->json->{errors} };
ok $err{$_}, "names $_" for qw(address sender_limit rules.0.when rules.1.set.assignee ignore.0);
is $ua->get($t->url("/v1/email/mailboxes/$mb->{id}") => $ho)->res->code, 404,
    "another tenant's mailbox: 404";
is $ua->patch($t->url("/v1/email/mailboxes/$mb->{id}") => $ho => json => { name => 'x' })->res->code, 404,
    "nor can it be changed";
is $ua->delete($t->url("/v1/email/mailboxes/$mb->{id}") => $ho)->res->code, 404, 'nor deleted';
my $agent_key = $t->create_key($acme->{id}, 'tickets:read', 'tickets:write')->{key};
is $ua->get($t->url('/v1/email/mailboxes') => $t->auth($agent_key))->res->code, 403,
    'mailboxes are for admins';

sub push_mail {
    my ($body, %opt) = @_;
    my $tx = $ua->post(($opt{url} // $inbound) => { 'Content-Type' => $opt{type} // 'message/rfc822' } => $body);
    return $tx->res;
}

sub events {
    my ($ticket) = @_;
    return $ua->get($t->url("/v1/tickets/$ticket/events") => $h)->res->json->{data};
}

# a new mail: Gmail
my $res = push_mail(fixture('gmail_new.eml'));
is $res->code, 201, 'a new mail opens a ticket' or diag $res->body;
my $first = $res->json->{ticket};

# the token is the mailbox's credential: never in an access log
(my $inbound_token = $path) =~ s{.*/}{};
my $logged = until_true(sub {
    open my $fh, '<', "$d/log/redacted.log" or return;
    my $l = join '', <$fh>;
    return $l =~ m{email/inbound} ? $l : undef;
}, 10) // '';
like $logged, qr{^201 "/api/v1/email/inbound/\[redacted\]"$}m, 'the delivery is logged with its token redacted';
unlike $logged, qr/\Q$inbound_token\E/, 'the token appears nowhere in the log';
like $first->{number}, qr/^TKT-\d{6}$/, 'with its number';
my $ticket = $ua->get($t->url("/v1/tickets/$first->{id}") => $h)->res->json;
is $ticket->{channel}, 'email', "the ticket's channel is email";
is $ticket->{subject}, 'Não consigo acessar minha conta', 'UTF-8 encoded subject decoded';
is $ticket->{requester}{email}, 'ana.souza@gmail.com', 'the sender is the requester';
is $ticket->{requester}{role}, 'customer', 'as a customer';
my $ev = events($first->{id});
is $ev->[0]{type}, 'created', 'a created event';
like $ev->[0]{body}, qr/^Olá, não consigo acessar minha conta desde ontem\.\n\nObrigada,\nAna$/, 'the text';
is $ev->[0]{data}{email}{from}{address}, 'ana.souza@gmail.com', 'the event carries from';
is $ev->[0]{data}{email}{cc}[0]{address}, 'carlos@example.com', 'and cc';
my ($eml) = grep { $_->{filename} eq 'original.eml' } @{ $ev->[0]{attachments} };
ok $eml, 'the original kept as an attachment';

# the same delivery again: the same ticket, nothing new
$res = push_mail(fixture('gmail_new.eml'));
is $res->code, 200, 'a duplicate Message-ID: 200';
is $res->json->{ticket}{id}, $first->{id}, 'the same ticket';
is $res->json->{outcome}, 'duplicate', 'named as such';
is scalar @{ events($first->{id}) }, 1, 'nothing added';

# the same message delivered four times at once (an MTA retrying while the
# first delivery is still running): one ticket, the others duplicates of it
{
    my $dup = "From: twice\@x.example\nTo: support\@acme.test\nSubject: at once\nMessage-ID: <atonce\@x.example>\n\nhi\n";
    my (@answers, $n);
    for (1 .. 4) {
        $ua->post($inbound => { 'Content-Type' => 'message/rfc822' } => $dup => sub {
            my ($ua, $tx) = @_;
            push @answers, [$tx->res->code, $tx->res->json->{outcome}, $tx->res->json->{ticket}{id}];
            Mojo::IOLoop->stop if ++$n == 4;
        });
    }
    Mojo::IOLoop->start;
    my %out;
    $out{"$_->[0] $_->[1]"}++ for @answers;
    is_deeply \%out, { '201 created' => 1, '200 duplicate' => 3 }, 'four deliveries at once: one ticket, three duplicates'
        or diag explain \@answers;
    my %ids = map { ($_->[2] // '') => 1 } @answers;
    is scalar(keys %ids), 1, 'all answering the same ticket';
    is $t->psql("SELECT count(*) FROM helpdesk.email_messages WHERE message_id_header = 'atonce\@x.example'"), 1, 'recorded once';
}

# Gmail's reply: In-Reply-To
$res = push_mail(fixture('gmail_reply.eml'));
is $res->code, 200, 'a reply';
is $res->json->{ticket}{id}, $first->{id}, 'joins its ticket by In-Reply-To';
$ev = events($first->{id});
is $ev->[-1]{type}, 'comment', 'as a comment';
is $ev->[-1]{visibility}, 'public', 'public';
is $ev->[-1]{body}, 'Consegui redefinir a senha, obrigada!', 'the quoted history (Em ... escreveu:) trimmed';
ok $ev->[-1]{data}{email}{trimmed}, 'marked as trimmed';
unlike $ev->[-1]{data}{email}{html} // '', qr/gmail_quote|acessar/, 'the HTML too';

# Outlook's reply: headers dropped, the reply address's token
my $token = $t->psql("SELECT token FROM helpdesk.email_ticket_tokens WHERE ticket_id = '$first->{id}'");
like $token, qr/^[a-z0-9]{20}$/, 'the ticket has a reply token';
(my $outlook = fixture('outlook_reply.eml')) =~ s/REPLYTOKEN/$token/;
$res = push_mail($outlook);
is $res->json->{ticket}{id}, $first->{id}, 'an Outlook reply without references joins by the reply address';
$ev = events($first->{id});
is $ev->[-1]{body}, "Thanks, that works for me. Caf\x{e9} is on me.\n\nCarlos",
    'ISO-8859-1 text decoded, the Outlook header block trimmed';
is $ev->[-1]{actor}{name}, 'Lima, Carlos', 'from the CC who answered';

# a new mail that reuses the subject with the number, from a stranger
my $num = $first->{number};
$res = push_mail("From: eve\@stranger.example\nTo: support\@acme.test\nSubject: Re: [$num] hi\nMessage-ID: <s1\@stranger.example>\n\nme too\n");
is $res->code, 201, "a stranger's mail with the ticket's number opens a ticket of its own";
isnt $res->json->{ticket}{id}, $first->{id}, 'not the old one';
$res = push_mail("From: ana.souza\@gmail.com\nTo: support\@acme.test\nSubject: Re: [$num] again\nMessage-ID: <s2\@gmail.com>\n\nby number\n");
is $res->json->{ticket}{id}, $first->{id}, "the requester's mail with the number joins by the subject";
$res = push_mail("From: carlos\@example.com\nTo: support\@acme.test\nSubject: Re: [$num] cc\nMessage-ID: <s3\@example.com>\n\nby number from the cc\n");
is $res->json->{ticket}{id}, $first->{id}, "so does a CC's";
$res = push_mail("From: ana.souza\@gmail.com\nTo: support\@acme.test\nSubject: N\x{c3}\x{a3}o consigo acessar minha conta\nMessage-ID: <s4\@gmail.com>\n\nsame subject\n");
is $res->code, 201, 'a new mail that only reuses an old subject does not thread';

# closed: reopened, or a follow-up
is $ua->patch($t->url("/v1/tickets/$first->{id}") => $h => json => { status => 'closed' })->res->code, 200, 'closed';
$res = push_mail("From: ana.souza\@gmail.com\nTo: support\@acme.test\nSubject: Re: x\nIn-Reply-To: <CAGm1xK2reply\@mail.gmail.com>\nMessage-ID: <c1\@gmail.com>\n\nstill broken\n");
is $res->json->{outcome}, 'reopened', 'a reply to a closed ticket reopens it (the default)';
is $ua->get($t->url("/v1/tickets/$first->{id}") => $h)->res->json->{status}, 'open', 'open again';
is $ua->put($t->url('/v1/email/threading') => $h => json => { closed_reply => 'follow_up' })->res->code, 200, 'tenant: follow-ups';
is $ua->put($t->url('/v1/email/threading') => $h => json => { closed_reply => 'maybe' })->res->code, 422, 'only reopen or follow_up';
$ua->patch($t->url("/v1/tickets/$first->{id}") => $h => json => { status => 'closed' });
$res = push_mail("From: ana.souza\@gmail.com\nTo: support\@acme.test\nSubject: Re: x\nIn-Reply-To: <c1\@gmail.com>\nMessage-ID: <c2\@gmail.com>\n\nagain\n");
is $res->code, 201, 'now a reply to a closed ticket opens a follow-up';
is $res->json->{outcome}, 'follow_up', 'named as such';
is events($res->json->{ticket}{id})->[0]{data}{follow_up_of}, $num, 'naming the closed one';

# Apple Mail: an inline image, a remote image not loaded
$res = push_mail(fixture('apple_inline_image.eml'));
is $res->code, 201, 'Apple Mail';
my $apple = $res->json->{ticket};
$ticket = $ua->get($t->url("/v1/tickets/$apple->{id}") => $h)->res->json;
is $ticket->{subject}, "Impressora n\x{e3}o imprime", 'ISO-8859-1 encoded word decoded';
$ev = events($apple->{id});
my ($png) = grep { $_->{filename} eq 'erro.png' } @{ $ev->[0]{attachments} };
ok $png, 'the inline image is an attachment';
like $ev->[0]{data}{email}{html}, qr/<img src="cid:E1F2\@icloud.example" alt="screenshot">/, 'referenced by cid';
unlike $ev->[0]{data}{email}{html}, qr/tracker\.example/, 'the remote image is gone';

# Thunderbird: a forward as attachment, an RFC 2231 name, the signature
$res = push_mail(fixture('thunderbird_forward.eml'));
is $res->code, 201, 'Thunderbird forward';
my $tb = $res->json->{ticket};
$ticket = $ua->get($t->url("/v1/tickets/$tb->{id}") => $h)->res->json;
is $ticket->{priority}, 'high', "the mailbox's rule by the sender's domain: priority";
is $ticket->{category}, 'billing', 'and category';
$ev = events($tb->{id});
is $ev->[0]{body}, "Hola, la factura adjunta est\x{e1} mal.", 'the signature ("-- ") trimmed';
my %files = map { $_->{filename} => $_ } @{ $ev->[0]{attachments} };
ok $files{"factura ma\x{f1}ana.pdf"}, 'RFC 2231 file name decoded';
ok $files{'Invoice 4711.eml'}, 'the forwarded message as a file';

# ISO-8859-1 subject and 8-bit body
$res = push_mail(fixture('latin1_subject.eml'));
is $res->code, 201, 'ISO-8859-1 mail';
my $latin = $res->json->{ticket}{id};
$ticket = $ua->get($t->url("/v1/tickets/$latin") => $h)->res->json;
is $ticket->{subject}, "Factura de diciembre \x{bf}d\x{f3}nde est\x{e1}?", 'subject';
is $ticket->{requester}{name}, "Jos\x{e9} Mu\x{f1}oz", "the sender's name";

# noise
for my $f (['auto_reply.eml', qr/^auto-submitted/], ['bounce.eml', qr/^auto-submitted|^bounce|report/]) {
    $res = push_mail(fixture($f->[0]));
    is $res->code, 200, "$f->[0]: accepted";
    is $res->json->{outcome}, 'dropped', 'and dropped';
    like $res->json->{reason}, $f->[1], 'with its reason';
    ok !$res->json->{ticket}, 'no ticket';
}
$res = push_mail("From: x\@mx.example\nTo: support\@acme.test\nSubject: y\nMessage-ID: <p1\@mx>\nPrecedence: bulk\n\nnews\n");
like $res->json->{reason}, qr/precedence: bulk/, 'Precedence: bulk dropped';
$res = push_mail("From: postmaster\@mx.example\nTo: support\@acme.test\nSubject: y\nMessage-ID: <p2\@mx>\n\nz\n");
like $res->json->{reason}, qr/bounce/, 'postmaster dropped';
$res = push_mail("From: a\@spam.example\nTo: support\@acme.test\nSubject: y\nMessage-ID: <p3\@mx>\n\nz\n");
is $res->json->{reason}, 'ignored sender', "the mailbox's ignore list";
$res = push_mail("From: support\@acme.test\nTo: support\@acme.test\nSubject: y\nMessage-ID: <p4\@mx>\n\nz\n");
is $res->json->{reason}, 'our own mail', 'our own address coming back';
$res = push_mail("From: z\@z.example\nTo: support\@acme.test\nSubject: y\nMessage-ID: <p5\@mx>\nX-Helpdesk-Loop: acme\n\nz\n");
is $res->json->{outcome}, 'created', 'a loop header naming no mail this tenant sent: mail like any other';
is $t->psql("SELECT count(*) FROM helpdesk.email_messages WHERE outcome = 'dropped'"), 6,
    'every dropped mail recorded';

# a storm from one sender
$ua->patch($t->url("/v1/email/mailboxes/$mb->{id}") => $h => json => { sender_limit => 3 });
my @outcomes = map { push_mail("From: storm\@storm.example\nTo: support\@acme.test\nSubject: s$_\nMessage-ID: <storm$_\@x>\n\nz\n")->json->{outcome} } 1 .. 5;
is_deeply \@outcomes, [qw(created created created dropped dropped)], 'past the per-sender limit: dropped';
$ua->patch($t->url("/v1/email/mailboxes/$mb->{id}") => $h => json => { sender_limit => 30 });

# hostile HTML
$res = push_mail(fixture('hostile_html.eml'));
is $res->code, 201, 'hostile HTML mail';
my $hostile = $res->json->{ticket}{id};
$ev = events($hostile);
my $html = $ev->[0]{data}{email}{html};
unlike $html, qr/script|onclick|onmouseover|onerror|javascript|<style|<iframe|<form|<input|<svg|style=/i, 'no script, handler, style or frame survives';
like $html, qr{<a href="https://ok.example/x\?a=1&amp;b=2" rel="noopener noreferrer nofollow" target="_blank">fine</a>}, 'a safe link stays, with rel=noopener';
like $html, qr{<a rel="noopener noreferrer nofollow" target="_blank">here</a>}, 'an encoded javascript: URL is dropped';
is $ua->get($t->url("/v1/tickets/$hostile") => $h)->res->json->{subject},
    '<script>alert(1)</script> hello', 'the subject is text (the console escapes it)';

# an attribute whose name starts with "_": the HTML walk once stood on it
# forever, a thread of the pool lost at 100% CPU for each such mail
{
    my $tx = $ua->build_tx(POST => $inbound => { 'Content-Type' => 'message/rfc822' } =>
        "From: m\@evil.example\nTo: support\@acme.test\nSubject: underscore\nMessage-ID: <under1\@evil.example>\n"
        . "Content-Type: text/html\n\n<p><a _ref=\"x\" _=1 href=\"https://ok.example/\">link</a> after</p>\n");
    my $ua5 = Mojo::UserAgent->new(request_timeout => 5);
    $res = $ua5->start($tx)->res;
    is $res->code, 201, 'an attribute named "_...": parsed, in time' or diag $res->error && $res->error->{message};
    like $res->code == 201 ? events($res->json->{ticket}{id})->[0]{data}{email}{html} : '',
        qr{<a href="https://ok.example/"[^>]*>link</a> after}, 'and the rest of the HTML kept';
}

# hostile input
is push_mail('hello world, this is not mail')->code, 422, 'not a message: 422';
is push_mail('')->code, 422, 'empty: 422';
is push_mail(fixture('gmail_new.eml'), type => 'application/json')->code, 415, 'wrong type: 415';
(my $wrong = $inbound) =~ s{/([A-Za-z0-9_-]{32})$}{/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA};
is push_mail(fixture('gmail_new.eml'), url => $wrong)->code, 404, 'a wrong token: 404';
is push_mail(fixture('gmail_new.eml'), url => "$inbound/../x")->code, 404, 'a token with a path: 404';
is $ua->get($inbound)->res->code, 405, 'GET: 405';

# another tenant's mailbox: its own ticket, never acme's
my $mbo = $ua->post($t->url('/v1/email/mailboxes') => $ho => json => { address => 'help@other.test' })->res->json;
(my $opath = $mbo->{inbound_url}) =~ s{^http://[^/]+}{};
$res = push_mail("From: ana.souza\@gmail.com\nTo: help\@other.test\nSubject: Re: x\nIn-Reply-To: <CAGm1xK2reply\@mail.gmail.com>\nMessage-ID: <o1\@gmail.com>\n\nother\n",
                 url => "http://127.0.0.1:@{[$t->port]}$opath");
is $res->code, 201, "another tenant's mailbox: a ticket of its own";
my $oid = $res->json->{ticket}{id};
is $ua->get($t->url("/v1/tickets/$oid") => $h)->res->code, 404, "not acme's";
is $ua->get($t->url("/v1/tickets/$oid") => $ho)->res->code, 200, "the other tenant's";

# non-UTF-8 everywhere: raw 8-bit headers, an unknown charset, NULs
$res = push_mail("From: \xff\xfe <bad\@bytes.example>\nTo: support\@acme.test\nSubject: \xc3\x28 \xff broken\nMessage-ID: <bad1\@bytes>\nContent-Type: text/plain; charset=x-unknown-charset\n\n\xff\xfe\x00text\x00\n");
is $res->code, 201, 'bytes that are not UTF-8 anywhere: still a ticket' or diag $res->body;

# malformed MIME: no closing boundary, a boundary never used, broken base64
$res = push_mail("From: m\@m.example\nTo: support\@acme.test\nSubject: m\nMessage-ID: <m1\@m>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\n\nbody\n--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=x.bin\n\n!!!notbase64@@@\n");
is $res->code, 201, 'malformed MIME: parsed as far as it goes';

# a MIME bomb: deep nesting, many parts
my $deep = "From: b\@b.example\nTo: support\@acme.test\nSubject: deep\nMessage-ID: <deep\@b>\nMIME-Version: 1.0\n";
$deep .= "Content-Type: multipart/mixed; boundary=\"d$_\"\n\n--d$_\n" for 1 .. 5000;
$res = push_mail($deep);
is $res->code, 422, 'deep nesting refused';
like $res->json->{detail}, qr/too many parts/, 'saying why';
my $many = "From: b\@b.example\nTo: support\@acme.test\nSubject: many\nMessage-ID: <many\@b>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"m\"\n\n";
$many .= "--m\nContent-Type: text/plain\n\nx\n" for 1 .. 3000;
$res = push_mail($many);
is $res->code, 422, 'thousands of parts refused';
my $nest = "From: b\@b.example\nTo: support\@acme.test\nSubject: nest\nMessage-ID: <nest\@b>\nMIME-Version: 1.0\n";
$nest .= "Content-Type: multipart/mixed; boundary=\"n$_\"\n\n--n$_\n" for 1 .. 40;
$nest .= "Content-Type: text/plain\n\ndeep text\n";
$res = push_mail($nest);
is $res->code, 422, 'nesting past the walk limit refused';

# forwards inside forwards, 40 deep: the walk's limit too
my $fwd = "From: b\@b.example\nTo: support\@acme.test\nSubject: fwd\nMessage-ID: <fwd40\@b>\nMIME-Version: 1.0\n";
$fwd .= "Content-Type: message/rfc822\n\nFrom: f$_\@b.example\nSubject: f$_\n" for 1 .. 40;
$fwd .= "\nthe bottom\n";
$res = push_mail($fwd);
is $res->code, 422, 'forwards nested 40 deep refused';
like $res->json->{detail}, qr/nest too deep/, 'saying why';

# a header block of 2 MB (one header folded over and over): GMime would
# hold it in memory, so it is refused before GMime sees it
my $fold = "From: b\@b.example\nTo: support\@acme.test\nSubject: fold\nMessage-ID: <fold\@b>\nX-Fold: a\n"
    . (" " . ('f' x 70) . "\n") x 30000 . "\nbody\n";
$res = push_mail($fold);
is $res->code, 422, 'a 2 MB header block refused';
like $res->json->{detail}, qr/header is too large/, 'saying why';
# a part's headers past it are the body's: taken
$fold = "From: b\@b.example\nTo: support\@acme.test\nSubject: fold\nMessage-ID: <fold2\@b>\nMIME-Version: 1.0\n"
    . "Content-Type: multipart/mixed; boundary=\"f\"\n\n--f\nContent-Type: text/plain\n\nshort\n--f\n"
    . "Content-Type: application/octet-stream; name=\"x.bin\"\nX-Fold: a\n" . (" " . ('f' x 900) . "\n") x 1500
    . "\nQUJD\n--f--\n";
$res = push_mail($fold);
is $res->code, 201, 'a long header of a part (1.35 MB) is taken' or diag $res->body;

# what the pass before GMime counts must not refuse ordinary mail: a
# forwarded message sent in base64 (35,000 lines after a message/rfc822
# part's header, none a field), a text of 8,000 lines that start with
# "--" (an SQL script), and 300 recipients
my $fwd64 = join '', map { ('QUJD' x 19) . "\n" } 1 .. 35000;
my $sql = join '', map { "-- step $_\nSELECT $_;\n" } 1 .. 8000;
my $rcpts = join ', ', map { "Person $_ <p$_\@many.example>" } 1 .. 300;
$res = push_mail("From: b\@b.example\nTo: support\@acme.test, $rcpts\nSubject: ordinary\nMessage-ID: <ordinary\@b>\n"
    . "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"o\"\n\n--o\nContent-Type: text/plain\n\nsee below\n"
    . "--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n$fwd64"
    . "--o\nContent-Type: text/plain; name=\"script.sql\"\n\n$sql--o--\n");
is $res->code, 201, 'a base64 forward, a text of 8,000 "--" lines, 300 recipients: taken' or diag $res->body;

# a text part of 3 MB: not decoded into memory as the text, kept whole as
# an attachment
my $long = "A long line of text, again and again, to make a large text part.\n" x 48000;
$res = push_mail("From: b\@b.example\nTo: support\@acme.test\nSubject: long\nMessage-ID: <long\@b>\nMIME-Version: 1.0\n"
    . "Content-Type: multipart/mixed; boundary=\"l\"\n\n--l\nContent-Type: text/plain\n\nsee below\n--l\n"
    . "Content-Type: text/plain; charset=utf-8\n\n$long--l--\n");
is $res->code, 201, 'a 3 MB text part' or diag $res->body;
my $longid = $res->json->{ticket}{id};
is $t->psql("SELECT size FROM helpdesk.attachments WHERE ticket_id = '$longid' AND filename LIKE 'attachment-%.plain'"),
    length($long) - 1, 'kept whole as an attachment (the newline before a boundary is the boundary\'s)';
like $t->psql("SELECT description FROM helpdesk.tickets WHERE ticket_id = '$longid'"), qr/^see below/, 'the small part is the text';

# a 20 MB attachment (Gmail's shape), with a length
my $big = 'x' x (20 * 1024 * 1024);
require MIME::Base64;
my $b64 = MIME::Base64::encode_base64($big);
my $mail20 = "From: Ana Souza <ana.souza\@gmail.com>\nTo: support\@acme.test\nSubject: logs\nMessage-ID: <big1\@mail.gmail.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"000big\"\n\n--000big\nContent-Type: text/plain; charset=\"UTF-8\"\n\nthe logs\n\n--000big\nContent-Type: application/zip; name=\"logs.zip\"\nContent-Disposition: attachment; filename=\"logs.zip\"\nContent-Transfer-Encoding: base64\n\n$b64--000big--\n";
ok length($mail20) < 36 * 1024 * 1024, 'the message is under the limit';
$res = push_mail($mail20);
is $res->code, 201, 'a 20 MB attachment' or diag $res->body;
my $bigid = $res->json->{ticket}{id};
is $t->psql("SELECT size FROM helpdesk.attachments WHERE ticket_id = '$bigid' AND filename = 'logs.zip'"),
    20 * 1024 * 1024, 'stored whole, decoded';

# chunked
my $chunked = fixture('latin1_subject.eml');
$chunked =~ s/latin1-1\@example.es/chunked-1\@example.es/;
my $body = '';
for (my $i = 0; $i < length $chunked; $i += 100) {
    my $c = substr($chunked, $i, 100);
    $body .= sprintf("%x\r\n%s\r\n", length $c, $c);
}
$body .= "0\r\n\r\n";
my $out = $t->raw_request("POST $path HTTP/1.1\r\nHost: localhost\r\nContent-Type: message/rfc822\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", $body);
like $out, qr{^HTTP/1.1 201}, 'a chunked body';

# oversized, with a length and chunked
$out = $t->raw_request("POST $path HTTP/1.1\r\nHost: localhost\r\nContent-Type: message/rfc822\r\nContent-Length: " . (37 * 1024 * 1024) . "\r\nConnection: close\r\n\r\n", 'z' x 65536);
like $out, qr{^HTTP/1.1 413}, 'over the limit by its length: 413';
like $out, qr{application/problem\+json}, 'as a problem';
my $chunk = 'y' x (1024 * 1024);
$out = $t->raw_request("POST $path HTTP/1.1\r\nHost: localhost\r\nContent-Type: message/rfc822\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                       map { sprintf("%x\r\n%s\r\n", length $chunk, $chunk) } 1 .. 38);
like $out, qr{^HTTP/1.1 413}, 'over the limit chunked: 413';

# a client that leaves mid-upload, then the next one is served
{
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:@{[$t->port]}") or die $!;
    print $s "POST $path HTTP/1.1\r\nHost: localhost\r\nContent-Type: message/rfc822\r\nContent-Length: 5000000\r\n\r\n" . ('z' x 1000000);
    close $s;
}
sleep 0.3;
$res = push_mail("From: after\@x.example\nTo: support\@acme.test\nSubject: after\nMessage-ID: <after\@x>\n\nstill here\n");
is $res->code, 201, 'served after a client left mid-upload';

# the mailbox's token replaced: the old URL stops working
$tx = $ua->patch($t->url("/v1/email/mailboxes/$mb->{id}") => $h => json => { rotate_token => Mojo::JSON::true });
like $tx->res->json->{inbound_url}, qr{/api/v1/email/inbound/[A-Za-z0-9_-]{32}$}, 'a new URL, once';
isnt $tx->res->json->{inbound_url}, $url, 'a new one';
is push_mail("From: r\@x.example\nTo: support\@acme.test\nSubject: r\nMessage-ID: <r1\@x>\n\nz\n")->code, 404, 'the old token: 404';
(my $npath = $tx->res->json->{inbound_url}) =~ s{^http://[^/]+}{};
is push_mail("From: r\@x.example\nTo: support\@acme.test\nSubject: r\nMessage-ID: <r1\@x>\n\nz\n",
             url => "http://127.0.0.1:@{[$t->port]}$npath")->code, 201, 'the new one works';

# deleted: 404
is $ua->delete($t->url("/v1/email/mailboxes/$mb->{id}") => $h)->res->code, 204, 'mailbox deleted';
is push_mail("From: r\@x.example\nTo: support\@acme.test\nSubject: r\nMessage-ID: <r2\@x>\n\nz\n",
             url => "http://127.0.0.1:@{[$t->port]}$npath")->code, 404, "a deleted mailbox's URL: 404";

is $t->psql("SELECT count(*) FROM helpdesk.audit_log WHERE action LIKE 'email.%'") > 5, 1, 'audited';

# a location whose rewrite left the URI shorter than its prefix: no token
# read past the URI's end, 404
is push_mail("From: r\@x.example\nTo: support\@acme.test\nSubject: r\nMessage-ID: <r3\@x>\n\nz\n",
             url => "http://127.0.0.1:@{[$t->port]}/api/v1/email/inbound-rewritten/" . ('a' x 32))->code,
   404, 'a URI rewritten shorter than the prefix: 404';
my $line = until_true(sub {
    open my $fh, '<', "$d/log/access.log" or return;
    my ($l) = grep { /^\S+ \S+ 404 "POST \[redacted\]/ } <$fh>;
    return $l;
});
like $line, qr{ 404 "POST \[redacted\] HTTP/1\.1" }, 'its request line: the whole URI redacted, nothing read past its end';

# nor in the error log: nginx names the request line in what it logs of a
# request (a body past client_body_buffer_size is one warning each)
like $t->error_log, qr{buffered to a temporary file}, 'the error log has lines of the inbound requests';
unlike $t->error_log, qr{/email/inbound/[A-Za-z0-9_-]{16}}, 'without a token';
like $t->error_log, qr{request: "POST /api/v1/email/inbound/\[redacted\] HTTP/1\.1"}, 'their request line redacted';

$t->done;
