#!/usr/bin/env perl
# Replies and notifications by email: a mail in opens a ticket and the
# customer is told (ticket received); an agent's public reply goes back
# threaded (Message-ID, In-Reply-To, References, the ticket's reply
# address, the number in the subject), signed by the agent and the tenant,
# with its file attached (and a file too large for a mail linked), to the
# requester and the people copied; the customer's answer to it lands on the
# same ticket, as does an Outlook-style answer without the headers; an
# internal note sends nothing; the status changes the tenant enabled are
# told; another tenant's ticket cannot be reached; hostile names and
# subjects are encoded, never injected.  Against an aiosmtpd sink.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Portal;
use Helpdesk::Mail;
use Mojo::JSON qw(decode_json encode_json);
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(sleep);

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

my $t = Helpdesk::Test->new->start_stack;
my $sink = Helpdesk::Mail->new($t, tls => 1);
$t->start_nginx(http => sprintf('helpdesk_base_domain portal.test;
    helpdesk_outbox interval=100ms backoff=200ms max_backoff=400ms attempts=3 timeout=5s;
    helpdesk_smtp url=%s from=noreply@provider.example ca_file=%s;', $sink->url, $sink->ca_file),
    server => 'location / { helpdesk_portal; } location /agent/ { helpdesk_agent_console; }');
my $ua = $t->ua;
my $port = $t->port;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});
my $hg = $t->auth($globex->{key});
my $seen = 0;

sub next_mail {
    my ($timeout) = @_;
    my $all = $sink->wait_for($seen + 1, $timeout // 30);
    return undef if @$all <= $seen;
    return $all->[$seen++];
}
sub hdr { Helpdesk::Mail::header(@_) }
sub raw_hdr { my ($m, $n) = @_; ($m->{headers}{lc $n} // [])->[0] }
sub text_of {
    my ($m) = @_;
    return $m->{text} // ($m->{parts}[0] ? $m->{parts}[0]{text} : undef) // '';
}
sub html_of {
    my ($m) = @_;
    return $m->{html} // ($m->{parts}[0] ? $m->{parts}[0]{html} : undef) // '';
}

# the tenant's sender settings and mailbox
is $ua->put($t->url('/v1/email/settings') => $h => json => {
    from_name => 'Suporte Acme', signature => "Equipe Acme\nhttps://acme.example" })->res->code, 200,
    'a signature';
my $mb = $ua->post($t->url('/v1/email/mailboxes') => $h => json => { address => 'support@acme.test', name => 'Suporte' })->res->json;
my ($path) = ($mb->{inbound_url} // '') =~ m{^https?://[^/]+(/.*)$};
ok $path, 'a mailbox';
# its address proven (a confirmation link came back, t/email_sender.t):
# replies through the provider's relay go From it
$t->psql(qq{INSERT INTO helpdesk.email_senders (tenant_id, address) VALUES ('$acme->{id}', 'support\@acme.test')});
sub push_mail {
    my ($raw, $p) = @_;
    return $ua->post("http://127.0.0.1:$port" . ($p // $path) => { 'Content-Type' => 'message/rfc822' } => $raw)->res;
}

# --- a mail in: the ticket, and "ticket received" ---------------------------
my $res = push_mail(<<'MAIL');
From: Carla Cliente <carla@cliente.example>
To: support@acme.test
Cc: Bruno Sócio <bruno@cliente.example>, support@acme.test
Subject: Pedido 4411 não chegou
Message-ID: <first-4411@cliente.example>
Date: Mon, 30 Nov 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Meu pedido 4411 ainda não chegou. Podem verificar?
MAIL
is $res->code, 201, 'a mail opens a ticket' or diag $res->body;
my $tk = $res->json->{ticket};
like $tk->{number}, qr/^TKT-\d{6}$/, 'its number';

my $m = next_mail();
ok $m, '"ticket received" arrives'
    or diag $t->psql(q{SELECT event_type, status, last_error, payload FROM helpdesk.outbox}), $t->error_log;
is hdr($m, 'To'), 'carla@cliente.example', 'to the customer';
ok !raw_hdr($m, 'Cc'), 'not to the people copied';
like hdr($m, 'Subject'), qr/^Recebemos sua mensagem \[\Q$tk->{number}\E\]$/, 'with the number in the subject';
is raw_hdr($m, 'In-Reply-To'), '<first-4411@cliente.example>', 'answering the mail';
is raw_hdr($m, 'Auto-Submitted'), 'auto-generated', 'marked as automatic';
like hdr($m, 'From'), qr/^"Suporte Acme" <support\@acme\.test>$/, "from the mailbox the customer wrote to";
my ($token) = (raw_hdr($m, 'Reply-To') // '') =~ /^support\+([a-z0-9]{20})\@acme\.test$/;
ok $token, "answered to the ticket's reply address";
my $text = text_of($m);
like $text, qr/Olá Carla Cliente,/, 'greeting the customer by name';
like $text, qr/Pedido 4411 não chegou/, 'naming the subject';
like $text, qr{http://acme\.portal\.test:$port/tickets/\Q$tk->{number}\E}, 'with a link to the portal';
like $text, qr/-- \nEquipe Acme/, "and the tenant's signature";
like html_of($m), qr{<a href="http://acme\.portal\.test:$port/tickets/\Q$tk->{number}\E">}, 'the link in HTML';

# --- an agent in the console replies, with a file -----------------------------
my $u = $ua->post($t->url('/v1/users') => $h => json => { email => 'paula@acme.example', name => 'Paula Agente', role => 'agent' })->res->json;
$ua->post($t->url("/v1/users/$u->{id}/invitation") => $h => json => { url => "http://acme.portal.test:$port/agent/" });
my $inv = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE event_type = 'email.invitation' ORDER BY outbox_id DESC LIMIT 1}));
my ($rt) = $inv->{link} =~ m{/reset/([0-9a-f]{64})$};
my $c = Helpdesk::Portal->new($t, 'acme.portal.test', prefix => '/agent');
is $c->api(POST => "/reset/$rt", { password => 'senha-da-paula-1' })->code, 200, 'an agent';
is $c->login('paula@acme.example', 'senha-da-paula-1')->code, 200, 'logged in';
next_mail();    # the invitation

my $view = $c->api(GET => "/tickets/$tk->{number}")->json;
is $view->{reply}{channel}, 'email', 'the console knows the reply goes by email';
is $view->{reply}{email}{to}, 'carla@cliente.example', 'to the requester';
is_deeply $view->{reply}{email}{cc}, ['bruno@cliente.example'], 'copied to the other person (not our own address)';

# --- the agent's own signature: hers only, checked ---------------------------------
my $other_agent = $ua->post($t->url('/v1/users') => $h => json => { email => 'rui@acme.example', name => 'Rui', role => 'agent' })->res->json;
is $c->api(GET => '/profile')->json->{signature}, '', 'no signature at first';
$res = $c->api(PATCH => '/profile', { signature => "Paula Agente — Suporte N2  \r\nramal 42\n\n", id => $other_agent->{id},
                                       user_id => $other_agent->{id} });
is $res->code, 200, 'the agent sets her signature' or diag $res->body;
is $res->json->{signature}, "Paula Agente — Suporte N2\nramal 42", 'kept as plain lines, trimmed';
is $res->json->{id}, $u->{id}, 'on her own profile';
is $t->psql(qq{SELECT coalesce(signature, 'none') FROM helpdesk.users WHERE user_id = '$other_agent->{id}'}), 'none',
    "another agent's untouched, whatever the body names";
is $c->api(GET => '/boot')->json->{user}{signature}, "Paula Agente — Suporte N2\nramal 42", 'the console knows it';
for my $bad (["a\x07b", 'a control character'], ["a\x1b[31mb", 'an escape'], ['x' x 1001, '1001 characters'],
             [join("\n", 1 .. 11), '11 lines'], [42, 'a number'], [{ a => 1 }, 'an object']) {
    $res = $c->api(PATCH => '/profile', { signature => $bad->[0] });
    is $res->code, 422, "a signature with $bad->[1]: 422";
    is $res->json->{errors}[0]{field}, 'signature', 'naming the field';
}
is $c->api(PATCH => '/profile', {})->code, 422, 'no signature named: 422';
is $c->api(GET => '/profile')->json->{signature}, "Paula Agente — Suporte N2\nramal 42", 'unchanged by the refusals';
my $gc = Helpdesk::Portal->new($t, 'globex.portal.test', prefix => '/agent');
is $gc->api(PATCH => '/profile', { signature => 'x' })->code, 401, "another tenant's console: log in first";
is $ua->patch($t->url('/v1/profile') => $h => json => { signature => 'x' })->res->code, 404,
    'the API keys have no profile';

my $pdf = "%PDF-1.4\n" . ("fatura " x 2000) . "\n%%EOF\n";
$res = $c->upload('fatura%20mar%C3%A7o.pdf', 'application/pdf', $pdf);
is $res->code, 201, 'a file uploaded' or diag $res->body;
my $up = $res->json;
$res = $c->api(POST => "/tickets/$tk->{number}/replies", {
    body => "Olá Carla,\nseu pedido saiu hoje.\n<b>não é HTML</b>", visibility => 'public',
    attachments => [ $up->{id} ] });
is $res->code, 201, 'a public reply' or diag $res->body;

$m = next_mail();
ok $m, 'the reply arrives'
    or diag $t->psql(q{SELECT event_type, status, last_error, left(payload::text, 300) FROM helpdesk.outbox}), $t->error_log;
is hdr($m, 'To'), 'carla@cliente.example', 'to the customer';
is raw_hdr($m, 'Cc'), 'bruno@cliente.example', 'copied to Bruno';
like hdr($m, 'Subject'), qr/^Re: Pedido 4411 não chegou \[\Q$tk->{number}\E\]$/, 'Re: the subject [number]';
my ($mid) = (raw_hdr($m, 'Message-ID') // '') =~ /^<([^<>\s]+\@acme\.test)>$/;
ok $mid, 'a Message-ID of ours, at the mailbox domain';
is raw_hdr($m, 'In-Reply-To'), '<first-4411@cliente.example>', "In-Reply-To the customer's mail";
like raw_hdr($m, 'References'), qr/^<first-4411\@cliente\.example> <[^<>]+\@acme\.test>$/,
    'References: the thread so far';
like raw_hdr($m, 'Reply-To'), qr/^support\+\Q$token\E\@acme\.test$/, 'the reply address';
ok !raw_hdr($m, 'Auto-Submitted'), 'a person wrote it: not marked automatic';
ok raw_hdr($m, 'X-Helpdesk-Loop'), 'but known for ours if it comes back';
like raw_hdr($m, 'Content-Type'), qr{^multipart/mixed}, 'with a file: multipart/mixed';
$text = text_of($m);
like $text, qr/Olá Carla,\nseu pedido saiu hoje\./, 'the reply';
like $text, qr/Paula Agente\n\n-- \nPaula Agente — Suporte N2\nramal 42\n\nEquipe Acme/,
    "signed by the agent: her name, her signature above the tenant's";
like html_of($m), qr{Paula Agente — Suporte N2<br>ramal 42<br><br>Equipe Acme}, 'in the HTML too';
like html_of($m), qr/&lt;b&gt;não é HTML&lt;\/b&gt;/, 'the text escaped in the HTML';
my ($file) = grep { (raw_hdr($_, 'Content-Disposition') // '') =~ /attachment/ } @{ $m->{parts} };
ok $file, 'the file attached';
like raw_hdr($file, 'Content-Disposition') // '', qr/filename\*=UTF-8''fatura%20mar%C3%A7o\.pdf/, 'its name, RFC 2231';
ok decode_base64($file->{body} // q{}) eq $pdf, q{its bytes};
is $t->psql(qq{SELECT direction || ' ' || (event_id IS NOT NULL) || ' ' || array_to_string(cc_addresses, ',')
               FROM helpdesk.email_messages WHERE message_id_header = '$mid'}),
    'out true bruno@cliente.example', 'recorded as sent, with its event';

# --- the customer answers it: the same ticket ----------------------------------
my $answer = <<"MAIL";
From: Carla Cliente <carla\@cliente.example>
To: support+$token\@acme.test
Subject: Re: Pedido 4411 não chegou [$tk->{number}]
Message-ID: <answer-4411\@cliente.example>
In-Reply-To: <$mid>
References: <first-4411\@cliente.example> <$mid>
Date: Mon, 30 Nov 2026 12:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Obrigada! Chegou agora.

Em seg., 30 de nov. de 2026 às 11:00, Suporte Acme escreveu:
> Olá Carla,
MAIL
$res = push_mail($answer);
is $res->code, 200, "the customer's answer" or diag $res->body;
is $res->json->{ticket}{number}, $tk->{number}, 'lands on the same ticket';
is $t->psql(qq{SELECT data->'email'->>'threaded_by' FROM helpdesk.ticket_events
               WHERE body LIKE 'Obrigada!%'}) || 'references', 'references', 'by its references';

# Outlook: no In-Reply-To nor References, a new Message-ID, the subject kept
$res = push_mail(<<"MAIL");
From: Carla Cliente <carla\@cliente.example>
To: support\@acme.test
Subject: RES: Re: Pedido 4411 não chegou [$tk->{number}]
Message-ID: <outlook-4411\@cliente.example>
Date: Mon, 30 Nov 2026 13:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Mais uma coisa: a nota fiscal veio certa.
MAIL
is $res->code, 200, 'an Outlook-style answer without the headers';
is $res->json->{ticket}{number}, $tk->{number}, 'threads by the number in its subject';
is $t->psql(q{SELECT count(*) FROM helpdesk.tickets}), 1, 'no new ticket';

# --- an internal note sends nothing -------------------------------------------
$res = $c->api(POST => "/tickets/$tk->{number}/replies", { body => 'nota interna: cliente VIP', visibility => 'internal' });
is $res->code, 201, 'an internal note';
my $n = $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'outra nota', visibility => 'internal' })->res;
is $n->code, 201, 'and one through the API';
is $t->psql(q{SELECT count(*) FROM helpdesk.outbox WHERE event_type = 'email.agent_reply'}), 1, 'no mail queued for them';

# --- the API's public comment goes by email too; resolved is told ---------------
$res = $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $h => json => { body => 'Que bom! Encerrando.' })->res;
is $res->code, 201, 'a public comment through the API';
$m = next_mail();
ok $m, 'arrives by email';
is raw_hdr($m, 'In-Reply-To'), '<outlook-4411@cliente.example>', "In-Reply-To the customer's last mail";
like raw_hdr($m, 'References'), qr/<\Q$mid\E> .*<answer-4411\@cliente\.example> .*<outlook-4411\@cliente\.example>$/,
    'References: the whole thread, in order';
like text_of($m), qr/Que bom! Encerrando\.\n\nTenant acme\n\n-- \nEquipe Acme/, "signed with the tenant's name, then its signature";
unlike text_of($m), qr/^test$/m, "the API key's name (the tenant's own label) is not shown to the customer";
ok !grep({ /nota interna|outra nota/ } map { text_of($_) } @{ $sink->messages }), 'no note in any mail';

is $ua->patch($t->url("/v1/tickets/$tk->{id}") => $h => json => { status => 'pending' })->res->code, 200, 'pending';
is $ua->patch($t->url("/v1/tickets/$tk->{id}") => $h => json => { status => 'resolved' })->res->code, 200, 'resolved';
$m = next_mail();
ok $m, '"resolved" arrives';
like hdr($m, 'Subject'), qr/^Seu chamado foi resolvido \[\Q$tk->{number}\E\]$/, 'its subject';
sleep 1.5;
is scalar @{ $sink->messages }, $seen, 'status_changed (off by default) was not sent';

# the tenant turns status_changed on, ticket_received off
my $set = $ua->put($t->url('/v1/email/settings') => $h => json => { notify => { ticket_received => \0, status_changed => \1 } })->res;
is $set->code, 200, 'the tenant turns status_changed on and ticket_received off';
is_deeply $set->json->{notify}, { ticket_received => \0, status_changed => \1, resolved => \1 }, 'resolved kept';
is $ua->put($t->url('/v1/email/settings') => $h => json => { notify => { birthday => \1 } })->res->code, 422,
    'an unknown notice: 422';
is $ua->put($t->url('/v1/email/settings') => $h => json => { notify => { resolved => 'yes' } })->res->code, 422,
    'a notice that is not true or false: 422';
is $ua->patch($t->url("/v1/tickets/$tk->{id}") => $h => json => { status => 'open' })->res->code, 200, 'reopened';
$m = next_mail();
like hdr($m // {}, 'Subject') // '', qr/^Seu chamado está aberto \[\Q$tk->{number}\E\]$/, 'status_changed, now enabled';

# --- a reply and a resolve in one console action: one mail, the reply saying so ---
$res = $c->api(POST => "/tickets/$tk->{number}/replies", {
    body => 'O reembolso foi feito.', visibility => 'public', status => 'resolved' });
is $res->code, 201, 'a reply that resolves the ticket' or diag $res->body;
is $t->psql(qq{SELECT status FROM helpdesk.tickets WHERE ticket_id = '$tk->{id}'}), 'resolved', 'the ticket resolved';
$m = next_mail();
ok $m, 'one mail arrives';
like hdr($m // {}, 'Subject') // '', qr/^Re: Pedido 4411 não chegou \[\Q$tk->{number}\E\]$/, 'the reply';
like text_of($m // {}), qr/O reembolso foi feito\.\n\nConsideramos este chamado resolvido\..*\n\nPaula Agente\n/s,
    'carrying the resolution';
is raw_hdr($m // {}, 'Cc'), 'bruno@cliente.example', 'to the reply\'s recipients';
sleep 1.5;
is scalar @{ $sink->messages }, $seen, 'and no "resolved" mail besides';
# resolved apart from a reply: its own mail, as before
is $ua->patch($t->url("/v1/tickets/$tk->{id}") => $h => json => { status => 'open' })->res->code, 200, 'reopened';
like hdr(next_mail() // {}, 'Subject') // '', qr/^Seu chamado está aberto/, 'told';

# --- a mail from the staff, auto-replies: nobody is written to ---------------------
$res = push_mail(<<'MAIL');
From: Paula Agente <paula@acme.example>
To: support@acme.test
Subject: Teste interno
Message-ID: <staff-1@acme.example>
Date: Mon, 30 Nov 2026 14:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

teste
MAIL
is $res->code, 201, "a staff member's mail opens a ticket";
my $staff_tk = $res->json->{ticket};
is $ua->put($t->url('/v1/email/settings') => $h => json => { notify => { ticket_received => \1 } })->res->code, 200,
    'ticket_received on again';
is $ua->post($t->url("/v1/tickets/$staff_tk->{id}/comments") => $h => json => { body => 'ok' })->res->code, 201,
    'a reply on it';
is $t->psql(qq{SELECT count(*) FROM helpdesk.outbox WHERE payload->>'ticket_id' = '$staff_tk->{id}'}), 0,
    'nothing queued to a member of the staff';

# --- another tenant's ticket is out of reach -------------------------------------
is $ua->post($t->url("/v1/tickets/$tk->{id}/comments") => $hg => json => { body => 'olá' })->res->code, 404,
    "another tenant cannot reply on acme's ticket";
is $ua->get($t->url("/v1/tickets/$tk->{id}") => $hg)->res->code, 404, 'nor see it';
my $gmb = $ua->post($t->url('/v1/email/mailboxes') => $hg => json => { address => 'help@globex.test' })->res->json;
$t->psql(qq{INSERT INTO helpdesk.email_senders (tenant_id, address) VALUES ('$globex->{id}', 'help\@globex.test')});
my ($gpath) = $gmb->{inbound_url} =~ m{^https?://[^/]+(/.*)$};
$res = push_mail(<<"MAIL", $gpath);
From: Carla Cliente <carla\@cliente.example>
To: help\@globex.test
Subject: Re: Pedido 4411 não chegou [$tk->{number}]
Message-ID: <cross-1\@cliente.example>
In-Reply-To: <$mid>
References: <$mid>
Date: Mon, 30 Nov 2026 15:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

isto vai para a globex
MAIL
is $res->code, 201, "a mail to globex naming acme's ticket and Message-ID";
isnt $res->json->{ticket}{id}, $tk->{id}, "opens globex's own ticket, not acme's";
is $t->psql(qq{SELECT count(*) FROM helpdesk.ticket_events WHERE ticket_id = '$tk->{id}' AND body LIKE 'isto vai%'}), 0,
    "and nothing of it is on acme's ticket";
$m = next_mail();
ok $m, "globex's customer gets globex's notice";
like hdr($m // {}, 'From') // '', qr/help\@globex\.test/, 'from globex';
unlike hdr($m // {}, 'Subject') // '', qr/\Q$tk->{number}\E\]$/ && qr/^Re:/, "not acme's thread";

# --- hostile: a name and a subject trying to add headers ---------------------------
$res = push_mail(<<'MAIL');
From: =?UTF-8?B?RXZlIA0KQmNjOiB2aWN0aW1AZXZpbC5leGFtcGxl?= <eve@evil.example>
To: support@acme.test
Subject: =?UTF-8?B?T2zDoQ0KQmNjOiB2aWN0aW1AZXZpbC5leGFtcGxlDQpYLUluamVjdGVkOiAx?=
Message-ID: <hostile-1@evil.example>
Date: Mon, 30 Nov 2026 16:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

ola
MAIL
is $res->code, 201, 'a mail whose name and subject carry CRLF and headers';
my $htk = $res->json->{ticket};
$m = next_mail();
ok $m, 'its notice is sent';
ok !raw_hdr($m, 'Bcc') && !raw_hdr($m, 'X-Injected'), 'no header injected';
is scalar(grep { $_ eq 'to' } @{ $m->{order} }), 1, 'one To';
unlike $m->{raw}, qr/\r?\n(Bcc|X-Injected):/i, 'nothing of it starts a line';
is $ua->post($t->url("/v1/tickets/$htk->{id}/comments") => $h => json => { body => "resposta\r\nBcc: x\@evil.example" })->res->code, 201,
    'a reply with a header in its body';
$m = next_mail();
ok $m && !raw_hdr($m, 'Bcc'), 'stays in the body';
like hdr($m, 'Subject') // '', qr/^Re: Olá\s+Bcc: victim\@evil\.example\s+X-Injected: 1 \[TKT-\d+\]$/,
    'the subject one line, encoded';

# --- a file too large for a mail: a link ---------------------------------------------
my $big = 'x' x (11 * 1024 * 1024);
$res = $c->upload('grande.bin', 'application/octet-stream', $big);
SKIP: {
    skip 'the upload limit is under the mail limit', 3 unless $res->code == 201;
    $res = $c->api(POST => "/tickets/$tk->{number}/replies", { body => 'segue o arquivo', visibility => 'public',
                                                                attachments => [ $res->json->{id} ] });
    is $res->code, 201, 'a reply with an 11 MB file';
    $m = next_mail(60);
    ok $m && !grep({ (raw_hdr($_, 'Content-Disposition') // '') =~ /attachment/ } @{ $m->{parts} }),
        'the file is not attached';
    like text_of($m // {}), qr{grande\.bin \(11 MB\): http://acme\.portal\.test:$port/_/api/tickets/\Q$tk->{number}\E/attachments/[0-9a-f-]{36}},
        'a link to download it instead';
}

$t->done;
