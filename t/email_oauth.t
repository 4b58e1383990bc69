# Microsoft 365 and Gmail mailboxes (OAuth 2.0) against a fake provider
# (t/lib/Helpdesk/OAuth.pm) and a real Dovecot that takes XOAUTH2 only
# for a token the provider says is live (its oauth2 passdb asks the
# fake's introspection endpoint): the consent URL (state, PKCE), the
# callback, the code exchanged by the fetch job, the connection checked
# and mail fetched over XOAUTH2, the access token refreshed without a new
# consent; a forged, reused, expired or another tenant's state, a consent
# refused, a token endpoint answering 500 or something that is not JSON,
# and a refresh answered invalid_grant (auth_failed, no more tries until
# authorised again).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Mojo::URL;
use Helpdesk::Test qw(until_true);
use Helpdesk::Dovecot;
use Helpdesk::OAuth;
use Helpdesk::Mail;

my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;
my $op = Helpdesk::OAuth->new($t, client_id => 'cid-365.example', client_secret => 's3cret-value');
my $imap = Helpdesk::Dovecot->new(dir => "$d/imap", users => { other => 'x' },
                                  oauth2 => $op->url('/introspect'));
$imap->start;
# the providers' SMTP: STARTTLS, AUTH XOAUTH2 only, a token the provider says is live
my $smtp = Helpdesk::Mail->new($t, tls => 1, xoauth2 => $op->url('/introspect'));
my $ca = "$d/ca-bundle.pem";
{
    open my $out, '>', $ca or die;
    for my $f ($imap->ca_file, $smtp->ca_file) {
        open my $in, '<', $f or die;
        my $pem = do { local $/; <$in> };
        print {$out} $pem;
    }
}
my ($authz, $token) = ($op->url('/authorize'), $op->url('/token'));
my ($imap_url, $smtp_url) = ($imap->url('INBOX'), $smtp->url);
$t->start_nginx(http => "helpdesk_email_fetch interval=200ms timeout=10s ca_file=$ca;\n"
    . "    helpdesk_outbox interval=100ms backoff=200ms max_backoff=400ms attempts=3 timeout=5s;\n"
    . "    helpdesk_email_oauth microsoft365 authorize=$authz token=$token imap=$imap_url smtp=$smtp_url;\n"
    . "    helpdesk_email_oauth gmail authorize=$authz token=$token imap=$imap_url smtp=$smtp_url;");
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
my $rival = $t->create_tenant('rival');
my $hr = $t->auth($rival->{key});

sub q1 { $t->psql($_[0]) }
sub mailbox { $ua->get($t->url("/v1/email/mailboxes/$_[0]") => $h)->res->json }
sub health_is {
    my ($id, $state, $secs) = @_;
    return until_true(sub { my $m = mailbox($id); ($m->{health}{state} // '') eq $state ? $m : undef }, $secs // 20);
}
sub counts { $op->stats->{counts} }
# the provider's consent: where it sends the browser back
sub consent {
    my ($url) = @_;
    my $tx = $op->ua->get($url);
    is $tx->res->code, 302, 'the consent page sends the admin back';
    return Mojo::URL->new($tx->res->headers->location);
}
sub callback {
    my ($back, $auth) = @_;
    return $ua->get($t->url('/v1/email/oauth/callback') . '?' . $back->query->to_string => $auth // $h);
}

my $n = 0;
sub mail {
    $n++;
    my $id = "o$n.$$\@customer.example";
    return ($id, "From: Customer $n <c$n\@customer.example>\r\nTo: support\@acme.test\r\n"
        . "Subject: Question $n\r\nMessage-ID: <$id>\r\nDate: Mon, 30 Nov 2026 08:00:00 +0000\r\n"
        . "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello $n.\r\n");
}
sub stored { q1("SELECT count(*) FROM helpdesk.email_messages WHERE message_id_header = '$_[0]'") }

# --- hostile fields: nothing saved
for my $b ([ { kind => 'microsoft365', address => 'x@acme.test', client_secret => 's' }, 'client_id' ],
           [ { kind => 'microsoft365', address => 'x@acme.test', client_id => 'c' }, 'client_secret' ],
           [ { kind => 'gmail', address => 'x@acme.test', client_id => 'a b&c', client_secret => 's' }, 'client_id' ],
           [ { kind => 'gmail', address => 'x@acme.test', client_id => 'c', client_secret => "s\r\nX" }, 'client_secret' ],
           [ { kind => 'imap', address => 'x@acme.test', client_id => 'c', url => $imap_url, username => 'u', password => 'p' }, 'client_id' ],
           # the address is the XOAUTH2 login (user=...^Aauth=Bearer ...^A^A): no control character
           [ { kind => 'gmail', address => "x\x01host=evil\x01\x01\@acme.test", client_id => 'c', client_secret => 's' }, 'address' ],
           [ { kind => 'microsoft365', address => "x\x7f\@acme.test", client_id => 'c', client_secret => 's' }, 'address' ]) {
    my $tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => $b->[0]);
    is $tx->res->code, 422, "refused without a good $b->[1]" or diag $tx->res->body;
    ok((grep { $_->{field} eq $b->[1] } @{ $tx->res->json->{errors} // [] }), "names $b->[1]") or diag $tx->res->body;
}
is q1('SELECT count(*) FROM helpdesk.email_mailboxes'), '0', 'nothing saved';

# --- a Microsoft 365 mailbox: the consent URL
my $tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    kind => 'microsoft365', address => 'support@acme.test', client_id => 'cid-365.example',
    client_secret => 's3cret-value' });
is $tx->res->code, 201, 'a Microsoft 365 mailbox created' or diag $tx->res->body;
my $mb = $tx->res->json;
unlike $tx->res->body, qr/s3cret-value/, 'the client secret is nowhere in the answer';
ok $mb->{client_secret_set}, 'the secret is set';
is $mb->{health}{state}, 'unknown', 'not checked yet';
is $mb->{health}{reason}, 'waiting for the consent', 'waiting for the consent';
ok !$mb->{oauth}{authorized}, 'not authorised';
my $redirect = $t->url('/v1/email/oauth/callback');
is $mb->{redirect_uri}, $redirect, 'the redirect URI to register';
my $au = Mojo::URL->new($mb->{authorize_url});
is $au->path->to_string, '/authorize', 'the consent page of the configured provider';
my %aq = %{ $au->query->to_hash };
is $aq{client_id}, 'cid-365.example', 'with the client id';
is $aq{redirect_uri}, $redirect, 'the redirect URI';
is $aq{response_type}, 'code', 'the code flow';
like $aq{scope}, qr/offline_access/, 'offline access asked for';
like $aq{scope}, qr{IMAP\.AccessAsUser\.All}, 'IMAP asked for';
is $aq{code_challenge_method}, 'S256', 'PKCE';
is $aq{login_hint}, q{support@acme.test}, q{the account to consent for};
like $aq{state}, qr/^[A-Za-z0-9_-]{43}$/, 'a random state';
like q1("SELECT oauth_client_secret FROM helpdesk.email_mailboxes WHERE mailbox_id = '$mb->{id}'"), qr/^v1:/,
    'the client secret sealed at rest';
is q1("SELECT count(*) FROM helpdesk.email_oauth_states WHERE state_hash LIKE '%$aq{state}%'"), '0',
    'the state is not kept as it is';
is q1("SELECT count(*) FROM helpdesk.email_oauth_states WHERE mailbox_id = '$mb->{id}' AND verifier LIKE 'v1:%'"), '1',
    'its hash and the sealed verifier are';

my $back = consent($mb->{authorize_url});
is $back->query->param('state'), $aq{state}, 'the state comes back';

# forged, another tenant's, then the real one, then again
my $forged = $back->clone;
$forged->query->merge(state => 'A' x 43);
$tx = callback($forged);
is $tx->res->code, 400, 'a forged state: refused' or diag $tx->res->body;
like $tx->res->json->{detail}, qr/unknown/, 'as unknown';
$tx = callback($back, $hr);
is $tx->res->code, 400, "another tenant's admin with this state: refused";
like $tx->res->json->{detail}, qr/unknown/, 'as unknown there';
$tx = callback(Mojo::URL->new('/x?code=abc'));
is $tx->res->code, 422, 'no state: a validation error';
is counts()->{authorization_code}, 0, 'nothing exchanged yet';

$tx = callback($back);
is $tx->res->code, 200, 'the callback takes the code' or diag $tx->res->body;
is $tx->res->json->{outcome}, 'ok', 'ok';
is $tx->res->json->{mailbox}, $mb->{id}, 'for the mailbox';
$tx = callback($back);
is $tx->res->code, 400, 'the same state again: refused';
like $tx->res->json->{detail}, qr/used already/, 'as used already';

my $ok = health_is($mb->{id}, 'ok');
ok $ok, 'the code exchanged and the connection checked: green' or diag explain mailbox($mb->{id}), $op->stats;
ok $ok && $ok->{oauth}{authorized}, 'authorised';
is counts()->{authorization_code}, 1, 'one code exchanged';
ok counts()->{introspect_active} >= 1, 'Dovecot checked the bearer token with the provider';
is_deeply $op->stats->{bad}, [], 'client, secret, redirect URI and PKCE verifier all right';
like q1("SELECT oauth_refresh_token || ' ' || oauth_access_token FROM helpdesk.email_mailboxes WHERE mailbox_id = '$mb->{id}'"),
    qr/^v1:\S+ v1:\S+$/, 'the tokens sealed at rest';
is q1("SELECT count(*) FROM helpdesk.email_oauth_states WHERE mailbox_id = '$mb->{id}' AND code IS NOT NULL"), '0',
    'the code is not kept';

# mail fetched over XOAUTH2
my ($id1, $m1) = mail();
$imap->deliver('support@acme.test', $m1);
q1("UPDATE helpdesk.email_mailboxes SET poll_interval = 1, next_fetch_at = now() WHERE mailbox_id = '$mb->{id}'");
ok until_true(sub { stored($id1) eq '1' }, 20), 'a mail fetched over XOAUTH2 became a ticket';
like $imap->log_text, qr/oauth2|xoauth2/i, 'Dovecot took an OAuth login';

# --- the access token expires: refreshed, no new consent
$op->control(expire_all => 1);
q1("UPDATE helpdesk.email_mailboxes SET oauth_expires_at = now() WHERE mailbox_id = '$mb->{id}'");
my ($id2, $m2) = mail();
$imap->deliver('support@acme.test', $m2);
ok until_true(sub { counts()->{refresh_token} >= 1 }, 20), 'the access token refreshed';
ok until_true(sub { stored($id2) eq '1' }, 20), 'and mail fetched with the new one';
is counts()->{authorize}, 1, 'without a new consent';
is mailbox($mb->{id})->{health}{state}, 'ok', 'still green';

# --- the provider refuses the refresh token: auth_failed, no more tries
$op->control(token_mode => 'invalid_grant');
q1("UPDATE helpdesk.email_mailboxes SET oauth_expires_at = now(), next_fetch_at = now() WHERE mailbox_id = '$mb->{id}'");
my $bad = health_is($mb->{id}, 'auth_failed');
ok $bad, 'invalid_grant: auth failed' or diag explain mailbox($mb->{id});
like $bad && $bad->{health}{reason}, qr/invalid_grant.*authorise the mailbox again/, 'with the reason';
is $bad && $bad->{health}{code}, 'invalid_grant', 'and its code';
ok $bad && !$bad->{oauth}{authorized}, 'no longer authorised';
is q1("SELECT coalesce(oauth_refresh_token, 'none') || ' ' || coalesce(next_fetch_at::text, 'never') FROM helpdesk.email_mailboxes WHERE mailbox_id = '$mb->{id}'"),
    'none never', 'the tokens dropped, not fetched again';
my $tries = counts()->{refresh_token};
sleep 2;
is counts()->{refresh_token}, $tries, 'not retried';

# authorised again
$op->control(token_mode => 'ok');
$tx = $ua->post($t->url("/v1/email/mailboxes/$mb->{id}/authorize") => $h);
is $tx->res->code, 200, 'a new consent URL' or diag $tx->res->body;
$back = consent($tx->res->json->{authorize_url});
is callback($back)->res->code, 200, 'the callback takes it';
ok health_is($mb->{id}, 'ok'), 'green again';

# an expired state
$tx = $ua->post($t->url("/v1/email/mailboxes/$mb->{id}/authorize") => $h);
$back = consent($tx->res->json->{authorize_url});
q1("UPDATE helpdesk.email_oauth_states SET expires_at = now() - interval '1 second' WHERE used_at IS NULL");
$tx = callback($back);
is $tx->res->code, 400, 'an expired state: refused';
like $tx->res->json->{detail}, qr/expired/, 'as expired';
is mailbox($mb->{id})->{health}{state}, 'ok', 'the mailbox is untouched';

# --- a Gmail mailbox: consent refused, then token endpoint failures
$tx = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    kind => 'gmail', address => 'sales@acme.test', client_id => 'cid-365.example', client_secret => 's3cret-value' });
is $tx->res->code, 201, 'a Gmail mailbox created' or diag $tx->res->body;
my $g = $tx->res->json;
my %gq = %{ Mojo::URL->new($g->{authorize_url})->query->to_hash };
is $gq{scope}, 'https://mail.google.com/', "Gmail's scope";
is $gq{access_type}, 'offline', 'offline, for a refresh token';
$op->control(deny => Mojo::JSON::true);
$back = consent($g->{authorize_url});
is $back->query->param('error'), 'access_denied', 'the admin said no';
# a long description in two-byte characters (and a NUL): cut between
# characters, not in one
$back->query->param(error_description => "a\0" . ("\x{e9}" x 150));
$tx = callback($back);
is $tx->res->code, 400, 'the callback reports it';
like $tx->res->json->{detail}, qr/consent was not given: access_denied: a \x{e9}{99}$/, 'with the reason, its description cut at a character';
is $tx->res->json->{code}, 'access_denied', 'and its code';
my $gm = mailbox($g->{id});
is $gm->{health}{state}, 'auth_failed', 'the mailbox shows it';
is $gm->{health}{code}, 'access_denied', 'with the code';
$op->control(deny => Mojo::JSON::false);

for my $mode ('500', 'garbage', 'no_refresh') {
    my $before = counts()->{authorization_code};
    $op->control(token_mode => $mode);
    $tx = $ua->post($t->url("/v1/email/mailboxes/$g->{id}/authorize") => $h);
    $back = consent($tx->res->json->{authorize_url});
    is callback($back)->res->code, 200, "the code taken ($mode to come)";
    ok until_true(sub { counts()->{authorization_code} > $before
                        && mailbox($g->{id})->{health}{reason} =~ /token endpoint/ }, 20),
        "token endpoint $mode: the mailbox says so" or diag explain mailbox($g->{id});
    my $gm = mailbox($g->{id});
    is $gm->{health}{state}, 'auth_failed', "$mode: auth failed";
    like $gm->{health}{reason}, qr/no refresh token/, 'no_refresh: the reason names it' if $mode eq 'no_refresh';
    ok !$gm->{oauth}{authorized}, "$mode: nothing stored";
    is q1("SELECT count(*) FROM helpdesk.email_mailboxes WHERE mailbox_id = '$g->{id}' AND (oauth_refresh_token IS NOT NULL OR oauth_access_token IS NOT NULL)"),
        '0', "$mode: no token at rest";
}
$op->control(token_mode => 'ok');

# --- mail out through the Microsoft 365 mailbox: SMTP with XOAUTH2
sub settings_put { $ua->put($t->url('/v1/email/settings') => ($_[1] // $h) => json => $_[0])->res }
for my $bad ([ '00000000-0000-4000-8000-000000000000', $h, 'an unknown mailbox' ],
             [ 'not-a-uuid', $h, 'not an id' ],
             [ $mb->{id}, $hr, "another tenant's mailbox" ]) {
    my $res = settings_put({ smtp_mailbox_id => $bad->[0] }, $bad->[1]);
    is $res->code, 422, "send through $bad->[2]: refused" or diag $res->body;
    is(($res->json->{errors} // [])->[0]{field}, 'smtp_mailbox_id', 'naming the field');
}
my $res = settings_put({ smtp_mailbox_id => $mb->{id} });
is $res->code, 200, 'mail sent through the Microsoft 365 mailbox' or diag $res->body;
is_deeply [@{ $res->json->{smtp_mailbox} // {} }{qw(id address kind active)}],
    [$mb->{id}, 'support@acme.test', 'microsoft365', Mojo::JSON::true], 'the settings show it';
is $res->json->{relay}{kind}, 'provider', 'the relay it falls back on';

my $tk = q1("SELECT ticket_id FROM helpdesk.email_messages WHERE message_id_header = '$id1'");
sub reply_out {
    my ($body) = @_;
    my $r = $ua->post($t->url("/v1/tickets/$tk/comments") => $h => json => { body => $body })->res;
    is $r->code, 201, "a reply: $body" or diag $r->body;
    return until_true(sub { (grep { ($_->{text} // '') =~ /\Q$body\E/ } @{ $smtp->messages })[0] }, 20);
}
# the last reply's mail
sub last_reply { q1("SELECT $_[0] FROM helpdesk.outbox WHERE event_type = 'email.agent_reply' ORDER BY outbox_id DESC LIMIT 1") }
my $live = $op->stats->{last_access};
my $m = reply_out('first answer');
ok $m, 'the reply went out over SMTP' or diag $t->psql('SELECT status, attempts, last_error FROM helpdesk.outbox'), $t->error_log;
is $m && Helpdesk::Mail::header($m, 'X-Sink-XOAUTH2'), "support\@acme.test $live", 'with XOAUTH2 and the current access token';
is $m && Helpdesk::Mail::header($m, 'Return-Path'), '<support@acme.test>', "the mailbox's address as the envelope sender";
like $m && Helpdesk::Mail::header($m, 'From'), qr/<support\@acme\.test>/, 'and in From';
is $m && Helpdesk::Mail::header($m, 'X-Envelope-To'), 'c1@customer.example', 'to the customer';
is q1(q{SELECT string_agg(DISTINCT relay, ',') FROM helpdesk.email_attempts WHERE error IS NULL}), 'mailbox',
    'recorded as sent through the mailbox';

# the token expires: the fetch job refreshes it though the mailbox is not
# due to be read; the mail waits for it rather than fail
$op->control(expire_all => 1);
q1("UPDATE helpdesk.email_mailboxes SET oauth_expires_at = now() + interval '30 seconds', next_fetch_at = now() + interval '1 day',
    health_checked_at = now() - interval '1 minute' WHERE mailbox_id = '$mb->{id}'");
my $refreshed = counts()->{refresh_token};
$m = reply_out('second answer');
ok $m, 'the next reply went out';
ok counts()->{refresh_token} > $refreshed, 'after a refresh of the token';
isnt $op->stats->{last_access}, $live, 'a new token';
is $m && Helpdesk::Mail::header($m, 'X-Sink-XOAUTH2'), 'support@acme.test ' . $op->stats->{last_access}, 'the new token used';
is last_reply(q{status || ' ' || attempts}), 'delivered 1', 'at the first attempt: the mail waited for the refresh';

# the provider refuses the token and then the refresh: retried, the
# mailbox auth_failed, the mail dead with the reason
$op->control(expire_all => 1, token_mode => 'invalid_grant');
# a connection already authenticated with the token may be kept and reused
# by libcurl (the server accepted it once); a new one must log in again
$smtp->stop;
$smtp->start;
my $r = $ua->post($t->url("/v1/tickets/$tk/comments") => $h => json => { body => 'third answer' })->res;
is $r->code, 201, 'a third reply';
ok(until_true(sub { last_reply('status') eq 'dead' }, 60), 'dead after its attempts')
    or diag explain(mailbox($mb->{id})), $t->psql('SELECT status, attempts, last_error FROM helpdesk.outbox'), $t->psql('SELECT * FROM helpdesk.email_attempts');
is last_reply('attempts'), '3', 'three attempts';
my $third = last_reply('outbox_id');
like q1("SELECT smtp_status || ' ' || relay FROM helpdesk.email_attempts WHERE outbox_id = $third ORDER BY attempt LIMIT 1"), qr/^535 mailbox$/,
    'the first refused by the SMTP server (535)';
like last_reply('last_error'), qr/not authorised: authorise it again/,
    'then held to be not authorised';
is mailbox($mb->{id})->{health}{state}, 'auth_failed', 'the refresh refused: the mailbox auth_failed';
ok !(grep { ($_->{text} // '') =~ /third answer/ } @{ $smtp->messages }), 'nothing sent';
like $smtp->log_text, qr/xoauth2 refused support\@acme\.test/, 'the SMTP server refused the stale token';
$op->control(token_mode => 'ok');

# the mailbox deleted: the relay again
is $ua->delete($t->url("/v1/email/mailboxes/$mb->{id}") => $h)->res->code, 204, 'the mailbox deleted';
$res = $ua->get($t->url('/v1/email/settings') => $h)->res;
ok !defined $res->json->{smtp_mailbox}, 'mail no longer sent through it';
is q1("SELECT count(*) FROM helpdesk.email_settings WHERE smtp_mailbox_id IS NOT NULL"), '0', 'the setting cleared';

# another tenant sees none of it
is $ua->get($t->url("/v1/email/mailboxes/$g->{id}") => $hr)->res->code, 404, "another tenant cannot see the mailbox";
is $ua->post($t->url("/v1/email/mailboxes/$g->{id}/authorize") => $hr)->res->code, 404, 'nor authorise it';

$imap->stop;
$smtp->stop;
$op->stop;
$t->done;
