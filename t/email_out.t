#!/usr/bin/env perl
# Mail out: the mails the helpdesk queues (invitations, address
# verifications, password resets) built from the tenant's templates and
# sent by SMTP to a real server (aiosmtpd, STARTTLS and AUTH), DKIM-signed;
# sender settings and templates through the API; a relay that is down
# (retries, then a dead letter with the reason) and one that refuses.
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
use Time::HiRes qw(sleep);

my $t = Helpdesk::Test->new->start_stack;
my $sink = Helpdesk::Mail->new($t, tls => 1, auth => 'relay:s3cret-relay');
my $pwfile = $t->dir . '/smtp.password';
open my $fh, '>', $pwfile or die;
print $fh "s3cret-relay\n";
close $fh;

my $relay = sprintf 'helpdesk_smtp url=%s user=relay password_file=%s from=noreply@provider.example ca_file=%s;',
                    $sink->url, $pwfile, $sink->ca_file;
$t->start_nginx(http => "helpdesk_base_domain portal.test;
    helpdesk_outbox interval=100ms backoff=200ms max_backoff=400ms attempts=3 timeout=5s;
    $relay",
    server => 'location / { helpdesk_portal; } location /agent/ { helpdesk_agent_console; }');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});
my $port = $t->port;
my $seen = 0;

sub next_mail {
    my $all = $sink->wait_for($seen + 1, 60);
    return undef if @$all <= $seen;
    return $all->[$seen++];
}
sub hdr { Helpdesk::Mail::header(@_) }

# --- sender settings -------------------------------------------------------
my $res = $ua->get($t->url('/v1/email/settings') => $h)->res;
is $res->code, 200, 'settings read';
is $res->json->{relay}{kind}, 'provider', "the provider's relay by default";
is $res->json->{dkim}{status}, 'no-domain', 'no DKIM without an address of its own';

$res = $ua->put($t->url('/v1/email/settings') => $h => json => {
    from_name => 'Suporte Ação "Acme"', from_address => 'Suporte@Acme.example',
    reply_to => 'help@acme.example', signature => "Equipe Acme\nhttps://acme.example" })->res;
is $res->code, 200, 'settings saved';
is $res->json->{from_address}, 'suporte@acme.example', 'the address in lower case';
ok !$res->json->{from_address_verified}, 'not proven yet (t/email_sender.t)';
# proven as a confirmation link would (t/email_sender.t): mail goes From it
$t->psql(qq{INSERT INTO helpdesk.email_senders (tenant_id, address) VALUES ('$acme->{id}', 'suporte\@acme.example')});

my $dkim = until_true(sub {
    my $d = $ua->get($t->url('/v1/email/settings') => $h)->res->json->{dkim};
    $d->{status} eq 'ready' ? $d : undef }, 20);
ok $dkim, 'a DKIM key made for the domain';
like $dkim->{record_name}, qr/^hd\d{14}\._domainkey\.acme\.example$/, 'the record to publish';
like $dkim->{record_value}, qr{^v=DKIM1; k=rsa; p=[A-Za-z0-9+/]{300,}=*$}, 'its value';
like $t->psql(q{SELECT dkim_key FROM helpdesk.email_settings}), qr/^v1:/, 'the key stored sealed';

is $ua->put($t->url('/v1/email/settings') => $h => json => { from_address => "a\@b.c\r\nBcc: x\@y.z" })->res->code,
    422, 'an address with a line break: 422';
is $ua->put($t->url('/v1/email/settings') => $h => json => { smtp_url => 'ftp://relay.example' })->res->code,
    422, 'a relay that is not smtp(s): 422';
$res = $ua->put($t->url('/v1/email/settings') => $h => json => { smtp_url => 'smtp://10.1.2.3:587' })->res;
is $res->code, 422, "a tenant's relay on a private address: 422";
is $res->json->{errors}[0]{field}, 'smtp_url', 'naming it';
is $ua->put($t->url('/v1/email/settings') => $h => json => { smtp_url => 'smtp://u:p@relay.example' })->res->code,
    422, 'credentials in the URL: 422';
is $ua->put($t->url('/v1/email/settings') => { %$h, 'Content-Type' => 'application/json' }
            => "{\"signature\": \"\xff\xfe\"}")->res->code, 400, 'a body that is not UTF-8: 400';
is $ua->put($t->url('/v1/email/settings') => $h => json => { signature => 'x' x 70000 })->res->code,
    413, 'a body over the limit: 413';
is $ua->get($t->url('/v1/email/settings') => $t->auth($globex->{key}))->res->json->{from_address}, undef,
    "another tenant sees its own settings, not acme's";
my $reader = $t->create_key($acme->{id}, 'tickets:read');
is $ua->get($t->url('/v1/email/settings') => $t->auth($reader->{key}))->res->code, 403, 'admin scope needed';

# --- templates ---------------------------------------------------------------
$res = $ua->get($t->url('/v1/email/templates/invitation/en') => $h)->res;
is $res->code, 200, 'a default template';
ok !$res->json->{custom}, 'shipped';
ok((grep { $_ eq 'link' } @{ $res->json->{placeholders} }), 'it may name the link');
is $ua->get($t->url('/v1/email/templates/nothing/en') => $h)->res->code, 404, 'an unknown kind: 404';
is $ua->get($t->url('/v1/email/templates/invitation/fr') => $h)->res->code, 404, 'an unknown language: 404';

$res = $ua->put($t->url('/v1/email/templates/password_reset/pt-BR') => $h => json => {
    subject => 'Redefinição de senha — {{ customer.name }} ✓ {{oops}}', text => '{{link}}', html => '<a href="{{link}}">x</a>' })->res;
is $res->code, 422, 'an unknown placeholder refused at save';
like $res->json->{errors}[0]{message}, qr/oops/, 'named';
$res = $ua->put($t->url('/v1/email/templates/password_reset/pt-BR') => $h => json => {
    subject => 'Redefinição de senha — {{ customer.name }} ✓ e um assunto bem longo para dobrar em várias palavras codificadas',
    text => "Olá {{customer.name}},\nabra {{link}}\n",
    html => '<p>Olá <b>{{customer.name}}</b>, <a href="{{link}}">abra</a></p>' })->res;
is $res->code, 200, 'a template of its own';
ok $res->json->{custom}, 'marked custom';
$res = $ua->post($t->url('/v1/email/templates/password_reset/pt-BR/preview') => $h => json => {
    html => '<p>{{customer.name}} {{tenant.name}}</p>' })->res;
is $res->code, 200, 'a preview of a draft';
like $res->json->{html}, qr{<p>Joana Exemplo Tenant acme</p>}, 'filled with sample values';
like $res->json->{text}, qr/-- \nEquipe Acme/, 'with the signature';
is $ua->post($t->url('/v1/email/templates/password_reset/pt-BR/preview') => $h)->res->code, 200,
    'a preview of the stored one';
is $ua->get($t->url('/v1/email/templates/password_reset/pt-BR') => $t->auth($globex->{key}))->res->json->{custom},
    0, "another tenant keeps the default";

# --- an invitation, with a hostile name -------------------------------------
my $u = $ua->post($t->url('/v1/users') => $h => json => {
    email => 'zoe@acme.example', name => '<script>alert(1)</script> Zoë', role => 'agent' })->res->json;
is $ua->post($t->url("/v1/users/$u->{id}/invitation") => $h
             => json => { url => "http://acme.portal.test:$port/agent/" })->res->code, 202, 'invited';
my $m = next_mail();
ok $m, 'the invitation arrives';
is hdr($m, 'From'), 'Suporte Ação "Acme" <suporte@acme.example>', 'from the tenant, its name encoded';
is hdr($m, 'To'), 'zoe@acme.example', 'to the agent';
is hdr($m, 'Reply-To'), 'help@acme.example', 'replies to the tenant';
is hdr($m, 'Subject'), 'Convite para o atendimento da Tenant acme', 'the default subject';
like hdr($m, 'Message-ID'), qr/^<[0-9a-f-]{36}\@acme\.example>$/, 'a Message-ID of ours at its domain';
like hdr($m, 'Date'), qr/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/, 'a date';
like $m->{headers}{'content-type'}[0], qr{^multipart/alternative}, 'text and HTML';
is $m->{headers}{'return-path'}[0], '<suporte@acme.example>', "the envelope's sender is the tenant's";
like $m->{text}, qr{<script>alert\(1\)</script> Zoë}, 'the text shows the name as it is';
unlike $m->{html}, qr{<script>}, 'the HTML runs nothing';
like $m->{html}, qr{&lt;script&gt;alert\(1\)&lt;/script&gt; Zoë}, 'it shows it escaped';
my ($token) = $m->{text} =~ m{/agent/reset/([0-9a-f]{64})};
ok $token, 'the link is in the text';
like $m->{html}, qr{href="http://acme\.portal\.test:\d+/agent/reset/$token"}, 'and in the HTML';
my $c = Helpdesk::Portal->new($t, 'acme.portal.test', prefix => '/agent');
is $c->api(POST => "/reset/$token", { password => 'senha-da-zoe-1' })->code, 200, 'the link works';
is $t->psql(q{SELECT status FROM helpdesk.outbox WHERE event_type = 'email.invitation'}), 'delivered',
    'the job delivered';

# --- our own mail coming back: recognised by mail in, never a ticket --------
like hdr($m, 'X-Helpdesk-Loop'), qr/^[0-9a-f-]{36}\@acme\.example$/, 'the mail carries our loop header';
is hdr($m, 'Auto-Submitted'), 'auto-generated', 'and says it is automatic';
(my $sent_id = hdr($m, 'Message-ID')) =~ s/^<|>$//g;
is $t->psql(qq{SELECT direction || ' ' || from_address || ' ' || array_to_string(to_addresses, ',') || ' ' || subject
               FROM helpdesk.email_messages WHERE message_id_header = '$sent_id'}),
    'out suporte@acme.example zoe@acme.example Convite para o atendimento da Tenant acme',
    'what was sent is recorded as sent, under its Message-ID';
my @inbound;
for my $address ('help@acme.example', 'vendas@acme.example') {
    my $mb = $ua->post($t->url('/v1/email/mailboxes') => $h => json => { address => $address })->res->json;
    my ($path) = ($mb->{inbound_url} // '') =~ m{^https?://[^/]+(/.*)$};
    ok $path, "a mailbox $address with its inbound URL";
    push @inbound, "http://127.0.0.1:$port$path";
}
my $tickets_before = $t->psql('SELECT count(*) FROM helpdesk.tickets');
# as it was sent: the loop header gives it away
my $back = $ua->post($inbound[0] => { 'Content-Type' => 'message/rfc822' } => $m->{raw})->res;
is $back->code, 200, 'the invitation fed back to a mailbox: taken' or diag $back->body;
is $back->json->{outcome}, 'dropped', 'and dropped';
is $back->json->{reason}, 'our own mail', 'as our own mail';
# its headers rewritten on the way (no loop header, no Auto-Submitted): its Message-ID still does
(my $bare = $m->{raw}) =~ s/^(?:X-Helpdesk-Loop|Auto-Submitted):[^\n]*\n//mgi;
unlike $bare, qr/^X-Helpdesk-Loop:/mi, 'a copy without the loop header';
$back = $ua->post($inbound[1] => { 'Content-Type' => 'message/rfc822' } => $bare)->res;
is $back->json->{outcome}, 'dropped', 'without the header, dropped too';
is $back->json->{reason}, 'our own mail', 'known by the Message-ID we recorded';
is $t->psql('SELECT count(*) FROM helpdesk.tickets'), $tickets_before, 'no ticket opened by our own mail';
is $t->psql(qq{SELECT count(*) FROM helpdesk.email_messages WHERE message_id_header = '$sent_id' AND direction = 'in'}),
    2, 'both returns recorded with their reason';

# acme's mail forwarded on to another tenant's mailbox, its headers kept
# but for Auto-Submitted (a person's redirect): globex never sent it, so
# it is mail like any other there, its loop header notwithstanding
{
    my $gmb = $ua->post($t->url('/v1/email/mailboxes') => $t->auth($globex->{key}) =>
                        json => { address => 'help@globex.example' })->res->json;
    my ($gpath) = ($gmb->{inbound_url} // '') =~ m{^https?://[^/]+(/.*)$};
    # no notice back from globex: the sink's count stays this file's
    $ua->put($t->url('/v1/email/settings') => $t->auth($globex->{key}) =>
             json => { notify => { ticket_received => \0 } });
    (my $fwd = $m->{raw}) =~ s/^Auto-Submitted:[^\n]*\n//mgi;
    like $fwd, qr/^X-Helpdesk-Loop: \Q$sent_id\E\r?$/mi, "acme's loop header kept in the copy";
    my $res = $ua->post("http://127.0.0.1:$port$gpath" => { 'Content-Type' => 'message/rfc822' } => $fwd)->res;
    is $res->code, 201, "acme's mail at globex's mailbox: a ticket there" or diag $res->body;
    is $res->json->{outcome}, 'created', 'not dropped as globex\'s own mail';
    is $t->psql(qq{SELECT count(*) FROM helpdesk.tickets t JOIN helpdesk.tenants n USING (tenant_id)
                   WHERE n.slug = 'globex' AND t.channel = 'email'}), 1, "the ticket is globex's";
    # the same copy back at acme: acme sent it, dropped
    $res = $ua->post($inbound[0] => { 'Content-Type' => 'message/rfc822' } =>
                     $fwd =~ s/^Message-ID:[^\n]*\n/Message-ID: <fwd-copy\@mx.example>\n/mir)->res;
    is $res->json->{reason}, 'our own mail', 'the same copy under another Message-ID at acme: its loop header is acme\'s';
}

# DKIM, checked by python3-dkim against the record the API shows
sub dkim_ok {
    my ($raw) = @_;
    my $f = $t->dir . '/dkim.eml';
    open my $o, '>:raw', $f or die;
    print $o $raw;
    close $o;
    my $rec = $dkim->{record_value};
    my $out = `/usr/bin/python3 -c '
import dkim, sys
msg = open(sys.argv[1], "rb").read()
rec = sys.argv[2].encode()
print(dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec))' $f '$rec' 2>&1`;
    chomp $out;
    return $out;
}
like $m->{headers}{'dkim-signature'}[0], qr/a=rsa-sha256; c=relaxed\/relaxed; d=acme\.example; s=hd\d+/,
    'DKIM-signed, relaxed/relaxed';
is dkim_ok($m->{raw}), 'True', 'the signature verifies';
(my $tampered = $m->{raw}) =~ s/Convite/Konvite/;
is dkim_ok($tampered), 'False', 'and fails on a changed subject';

# --- a portal account: verification, then a password reset -------------------
my $p = Helpdesk::Portal->new($t, 'acme.portal.test');
$res = $p->signup('ana@example.com', 'segredo123', 'Ana Paula Ü');
ok $res->is_success, 'a portal account' or diag $res->code . ' ' . $res->body;
$m = next_mail();
ok $m, 'the verification mail arrives';
is hdr($m, 'Subject'), 'Confirme seu email — Tenant acme', 'in Portuguese';
like $m->{text}, qr/Olá Ana Paula Ü,/, 'addressed by name';
my ($vtoken) = $m->{text} =~ m{/verify/([0-9a-f]{64})};
ok $vtoken, 'with the link';
is dkim_ok($m->{raw}), 'True', 'signed too';

is $p->api(POST => '/reset', { email => 'ana@example.com', language => 'pt-BR' })->code, 202, 'a reset asked for';
$m = next_mail();
ok $m, 'the reset mail arrives';
is hdr($m, 'Subject'), 'Redefinição de senha — Ana Paula Ü ✓ e um assunto bem longo para dobrar em várias palavras codificadas',
    "the tenant's subject, encoded words decoded";
like $m->{raw}, qr/^Subject: =\?UTF-8\?B\?[^\r\n]+\?=\r\n =\?UTF-8\?B\?/m, 'folded into encoded words';
like $m->{text}, qr{abra http://acme\.portal\.test(?::\d+)?/reset/([0-9a-f]{64})}, 'the link';
my ($rtoken) = $m->{text} =~ m{/reset/([0-9a-f]{64})};
like $m->{html}, qr{<b>Ana Paula Ü</b>}, 'the HTML in UTF-8';
like $m->{raw}, qr/Content-Transfer-Encoding: quoted-printable/, 'quoted-printable';
ok !(grep { length > 78 } split /\r\n/, $m->{raw}), 'no line longer than 78 characters'
    or diag join "\n", grep { length > 78 } split /\r\n/, $m->{raw};
is dkim_ok($m->{raw}), 'True', 'the signature verifies over the encoded subject';
is $p->api(POST => "/reset/$rtoken", { password => 'nova-senha-123' })->code, 200, 'the reset link works';

# --- the relay refuses: a 5xx is final ----------------------------------------
$sink->stop;
$sink->{opt}{refuse} = '550 5.1.1 no such mailbox here';
$sink->start;
$p->api(POST => '/reset', { email => 'ana@example.com' });
my $dead = until_true(sub {
    $t->psql(q{SELECT last_error FROM helpdesk.outbox WHERE event_type = 'email.password_reset'
               AND status = 'dead'}) }, 15);
like $dead, qr/550/, 'a refused recipient: dead at once, the reply kept';
is $t->psql(q{SELECT attempts FROM helpdesk.outbox WHERE status = 'dead'}), 1, 'after one attempt'
    or diag $t->psql(q{SELECT attempt, smtp_status, error FROM helpdesk.email_attempts ORDER BY attempt_id});

# --- the relay is down: retries, then a dead letter ------------------------------
$sink->stop;
$p->api(POST => '/reset', { email => 'ana@example.com' });
$dead = until_true(sub {
    $t->psql(q{SELECT last_error FROM helpdesk.outbox WHERE event_type = 'email.password_reset'
               AND status = 'dead' AND attempts = 3}) }, 20);
like $dead, qr/connect/i, 'an unreachable relay: retried, then dead with the reason';
is $t->psql(q{SELECT count(*) FROM helpdesk.email_attempts a JOIN helpdesk.outbox o USING (tenant_id, outbox_id)
              WHERE o.status = 'dead' AND o.attempts = 3}), 3, 'every attempt recorded';

# --- a chat transcript (as chat.transcript() queues it) ----------------------
$sink->stop;
$sink->{opt}{refuse} = undef;
$sink->start;
$t->psql(qq{INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id, event_type, payload)
            VALUES ('$acme->{id}', 'email', gen_random_uuid(), gen_random_uuid(), 'email.chat_transcript',
                    '{"to": "visitor\@example.org", "subject": "Chat", "text": "10:00 You: <b>oi</b>\\n10:01 Support: ol\\u00e1"}')});
$m = next_mail();
ok $m, 'the transcript arrives';
is hdr($m, 'Subject'), 'Sua conversa com Tenant acme', "in the tenant's default language";
like $m->{text}, qr{10:00 You: <b>oi</b>\r?\n10:01 Support: olá}, 'the transcript as it was written';
like $m->{html}, qr{10:00 You: &lt;b&gt;oi&lt;/b&gt;<br>10:01 Support: olá}, 'escaped in the HTML';
like $m->{text}, qr/Olá visitor,/, 'addressed by the address without a name';

# --- a relay of the tenant's own: held to TLS verification ---------------------
my $own = Helpdesk::Mail->new($t, name => 'own', implicit_tls => 1, auth => 'globex:pw-globex');
my $g = $t->auth($globex->{key});
$res = $ua->put($t->url('/v1/email/settings') => $g => json => {
    from_address => 'help@globex.example', smtp_url => $own->url, smtp_user => 'globex',
    smtp_password => 'pw-globex' })->res;
is $res->code, 200, "globex's own relay saved";
is_deeply [@{ $res->json->{relay} }{qw(kind url user)}], ['tenant', $own->url, 'globex'], 'the relay shown';
ok $res->json->{relay}{password_set} && $res->body !~ /pw-globex/, 'its password never';
like $t->psql(qq{SELECT smtp_password FROM helpdesk.email_settings WHERE tenant_id = '$globex->{id}'}),
    qr/^v1:/, 'and stored sealed';
my $gu = $ua->post($t->url('/v1/users') => $g => json => {
    email => 'gil@globex.example', name => 'Gil', role => 'agent' })->res->json;
$ua->post($t->url("/v1/users/$gu->{id}/invitation") => $g => json => { url => "http://globex.portal.test:$port/agent/" });
my $why = until_true(sub {
    $t->psql(qq{SELECT error FROM helpdesk.email_attempts WHERE tenant_id = '$globex->{id}' AND relay = 'tenant'
                ORDER BY attempt_id LIMIT 1}) }, 15);
like $why, qr/certificate|SSL/i, "a tenant's relay with a certificate nobody signed: refused, and said why";
ok !($own->files), 'nothing reached it';
is scalar @{ $sink->messages }, $seen, "nor the provider's relay";

# --- the provider's relay over implicit TLS ----------------------------------------
my $tls = Helpdesk::Mail->new($t, name => 'smtps', implicit_tls => 1);
$t->stop_nginx;
$t->start_nginx(http => "helpdesk_base_domain portal.test;
    helpdesk_outbox interval=100ms backoff=200ms max_backoff=400ms attempts=3 timeout=5s;
    helpdesk_smtp url=" . $tls->url . " from=noreply\@provider.example ca_file=" . $tls->ca_file . ";",
    server => 'location / { helpdesk_portal; } location /agent/ { helpdesk_agent_console; }');
$ua->put($t->url('/v1/email/settings') => $h => json => { from_address => undef });
$p->api(POST => '/reset', { email => 'ana@example.com' });
$m = $tls->wait_for(1, 60)->[0];
ok $m, 'smtps: the mail arrives';
is hdr($m, 'From'), 'Suporte Ação "Acme" <noreply@provider.example>',
    "a tenant without an address: the provider's, with the tenant's sender name";
ok !$m->{headers}{'dkim-signature'}, 'not signed with the tenant key for a domain that is not its own';

# --- the keys of secrets at rest rotated: the relay password and the DKIM key too --
# (a reload: not under valgrind, where nginx runs as one process)
SKIP: {
    skip 'a reload needs the master process', 5 if $ENV{HELPDESK_VALGRIND};
    my $d = $t->dir;
    my $t1 = (do { open my $f, '<', "$d/secret.keys" or die; local $/; <$f> }) =~ s/\n.*//sr;
    my $t2 = $t->new_secret_key('t2');
    my $reload = sub {
        my @old = $t->worker_pids;
        kill 'HUP', $t->nginx_pid;
        until_true(sub { my @w = $t->worker_pids; @w == 2 && !grep { my $o = $_; grep { $_ == $o } @w } @old }, 15);
    };
    $t->secret_keys($t2, $t1);
    $reload->();
    my $out = `$FindBin::Bin/../src/tools/rotate-secrets.sh @{[$t->url('')]} $d/provider.key t2 30 2>&1`;
    is $?, 0, 'the rotation re-encrypts every secret' or diag $out;
    is $t->psql(q{SELECT string_agg(DISTINCT split_part(v, ':', 2), ',') FROM
                  (SELECT dkim_key v FROM helpdesk.email_settings UNION ALL
                   SELECT smtp_password FROM helpdesk.email_settings) x WHERE v IS NOT NULL}),
        't2', "the relay's password and the DKIM keys included";
    $t->secret_keys($t2);
    $reload->();
    $ua->put($t->url('/v1/email/settings') => $h => json => { from_address => 'suporte@acme.example' });
    $t->psql(qq{INSERT INTO helpdesk.email_senders (tenant_id, address) VALUES ('$acme->{id}', 'suporte\@acme.example')});
    $p->api(POST => '/reset', { email => 'ana@example.com' });
    $m = $tls->wait_for(2, 60)->[1];
    ok $m, 'a mail after the old key is gone';
    is dkim_ok($m->{raw}), 'True', 'signed with the rotated DKIM key, which the same record verifies';
}

$t->done;
