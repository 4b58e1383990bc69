#!/usr/bin/env perl
# Secrets at rest: WhatsApp credentials, webhook signing secrets and
# agents' TOTP secrets reach PostgreSQL sealed (AES-256-GCM, "v1:<key
# id>:..."), read as the superuser; the features still work; a value moved
# to another tenant's row or tampered with is refused with a clear error
# and no crash; a new key rotates every value and the old one can go;
# values from before encryption ("plain:") are read and rotated; a key
# file others may read, or a malformed one, fails nginx -t naming the
# directive; and no secret reaches the logs.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Portal;
use Helpdesk::FakeHTTP;
use Helpdesk::OAuth;
use Mojo::URL;
use Digest::SHA qw(hmac_sha256_hex hmac_sha1);
use Mojo::JSON qw(decode_json encode_json);
use Time::HiRes qw(sleep time);

my %secret = (
    token  => 'EAAG-acme-token-4f1c9a', app => 'acme-app-secret-77d2', verify => 'acme-verify-3b8e',
    gtoken => 'EAAG-globex-token-9e01', gapp => 'globex-app-secret-12aa', gverify => 'globex-verify-5c5c',
    d360   => 'd360-acme-key-a9f3',
);

my $fake = Helpdesk::FakeHTTP->new
    ->mount('/acme' => cloud => token => $secret{token}, phone_number_id => 'PNID-ACME')
    ->mount('/globex' => cloud => token => $secret{gtoken}, phone_number_id => 'PNID-GLOBEX')
    ->mount('/d360' => '360dialog' => key => $secret{d360})
    ->mount('/hooks' => 'webhook');
my $t = Helpdesk::Test->new->start_stack;
my $d = $t->dir;
# a Gmail mailbox's OAuth client and tokens (no IMAP server: its login
# fails after the tokens are stored, which is all this needs)
my $op = Helpdesk::OAuth->new($t, client_id => 'cid-gmail.example', client_secret => 'gmail-client-secret-5e7a');
my ($oa, $ot, $noimap) = ($op->url('/authorize'), $op->url('/token'), 'imap://127.0.0.1:' . Helpdesk::Test::free_port() . '/INBOX');
my %conf = (http => "helpdesk_base_domain portal.test;
                     helpdesk_outbox interval=100ms backoff=200ms max_backoff=400ms attempts=2;
                     helpdesk_email_fetch interval=200ms timeout=5s;
                     helpdesk_email_oauth gmail authorize=$oa token=$ot imap=$noimap;
                     error_log $d/log/debug.log debug;",
            server => 'location /agent/ { helpdesk_agent_console; }');
$t->start_nginx(%conf);
my $ua = $t->ua;
my $port = $t->port;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});
my $gh = $t->auth($globex->{key});

sub col { my ($sql) = @_; return $t->psql($sql) }
sub wa { my ($id, $c) = @_; col("SELECT $c FROM helpdesk.whatsapp_connections WHERE connection_id = '$id'") }
sub conn { my ($id, $auth) = @_; $ua->get($t->url("/v1/whatsapp/connections/$id") => ($auth // $h))->res->json }

# --- sealed on the way in -------------------------------------------------------
my $tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => 'cloud', display_phone_number => '+55 11 4000-0001', phone_number_id => 'PNID-ACME',
    access_token => $secret{token}, app_secret => $secret{app}, verify_token => $secret{verify},
    base_url => $fake->url('/acme') });
is $tx->res->code, 201, "acme's Cloud API number connected";
my $ac = $tx->res->json;
$tx = $ua->post($t->url('/v1/whatsapp/connections') => $gh => json => {
    provider => 'cloud', display_phone_number => '+55 11 4000-0002', phone_number_id => 'PNID-GLOBEX',
    access_token => $secret{gtoken}, app_secret => $secret{gapp}, verify_token => $secret{gverify},
    base_url => $fake->url('/globex') });
is $tx->res->code, 201, "globex's too";
my $gc = $tx->res->json;
$tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => '360dialog', display_phone_number => '+55 11 4000-0003', api_key => $secret{d360},
    base_url => $fake->url('/d360') });
is $tx->res->code, 201, 'a 360dialog number';
my $dc = $tx->res->json;

for my $c (qw(access_token app_secret verify_token)) {
    like wa($ac->{id}, $c), qr{^v1:t1:[A-Za-z0-9+/]+=*$}, "whatsapp_connections.$c: a v1 ciphertext under t1";
}
like wa($dc->{id}, 'api_key'), qr{^v1:t1:}, 'whatsapp_connections.api_key too';
my $all = col('SELECT access_token || app_secret || verify_token FROM helpdesk.whatsapp_connections'
              . ' WHERE provider = \'cloud\'') . wa($dc->{id}, 'api_key');
unlike $all, qr/\Q$_\E/, "the table does not hold $_" for @secret{qw(token app verify gtoken gapp gverify d360)};
isnt wa($ac->{id}, 'access_token'), wa($gc->{id}, 'access_token'), 'each value its own ciphertext';

# the webhook's token: its SHA-256 routes deliveries, the URL is sealed
my ($atoken) = $ac->{webhook_url} =~ m{/whatsapp/([A-Za-z0-9_-]{32})$};
ok $atoken, 'the webhook URL is shown at creation';
is wa($ac->{id}, 'webhook_token'), 'sha256:' . Digest::SHA::sha256_hex($atoken),
    'whatsapp_connections.webhook_token: the SHA-256 of the token only';
like wa($ac->{id}, 'webhook_url'), qr/^v1:t1:/, 'whatsapp_connections.webhook_url: sealed';
unlike col('SELECT string_agg(webhook_token || webhook_url, \' \') FROM helpdesk.whatsapp_connections'),
    qr/\Q$atoken\E/, 'no column holds the token';
is conn($ac->{id})->{webhook_url}, $ac->{webhook_url}, 'the admins still read the URL to give the provider';
{
    my %idem = (%$h, 'Idempotency-Key' => 'wa-create-1');
    my $body = { provider => '360dialog', display_phone_number => '+55 11 4000-0004', api_key => 'd360-idem-key',
                 base_url => $fake->url('/d360') };
    my $first = $ua->post($t->url('/v1/whatsapp/connections') => \%idem => json => $body)->res;
    is $first->code, 201, 'a connection created under an Idempotency-Key';
    my ($tok) = $first->json->{webhook_url} =~ m{/whatsapp/([A-Za-z0-9_-]{32})$};
    ok $tok, 'its URL shown';
    my $again = $ua->post($t->url('/v1/whatsapp/connections') => \%idem => json => $body)->res;
    is $again->headers->header('Idempotent-Replayed'), 'true', 'the replay';
    is $again->json->{webhook_url}, undef, 'does not carry the URL';
    like $again->json->{webhook_url_shown}, qr/only in the first response/, 'and says so';
    my $redis = `redis-cli -s $d/run/redis.sock --scan --pattern 'hd:idem:*' | xargs -r redis-cli -s $d/run/redis.sock mget`;
    like $redis, qr/wa-create-1|\+55 11 4000-0004/, 'the stored answer is in Redis';
    unlike $redis, qr/\Q$tok\E|d360-idem-key/, 'without the token or the key';
    $ua->delete($t->url("/v1/whatsapp/connections/@{[$first->json->{id}]}") => $h);
}
is_deeply [map { $_->{webhook_url} } @{ $ua->get($t->url('/v1/whatsapp/connections') => $h)->res->json->{data} }],
    [$ac->{webhook_url}, $dc->{webhook_url}], 'in the list too';

$tx = $ua->post($t->url('/v1/webhooks') => $h => json => { url => $fake->url('/hooks/acme'),
                                                            events => ['ticket.created'] });
is $tx->res->code, 201, 'a webhook registered';
my $hook = $tx->res->json;
like $hook->{secret}, qr/^whsec_[A-Za-z0-9_-]{32}$/, 'its signing secret shown once, in the clear';
my $hook_col = col("SELECT secret FROM helpdesk.webhook_endpoints WHERE endpoint_id = '$hook->{id}'");
like $hook_col, qr/^v1:t1:/, 'stored sealed';
unlike $hook_col, qr/\Q$hook->{secret}\E/, 'not the secret';
ok !exists $ua->get($t->url("/v1/webhooks/$hook->{id}") => $h)->res->json->{secret}, 'never shown again';
unlike col(q{SELECT string_agg(coalesce(detail::text, ''), ' ') FROM helpdesk.audit_log}),
    qr/\Q$hook->{secret}\E|\Q$secret{token}\E|\Q$secret{app}\E/, 'nor written to the audit log';

# --- the features still work ----------------------------------------------------
my $reqs = $fake->wait_for(3);
my ($chk) = grep { $_->{path} eq '/acme/PNID-ACME' } @$reqs;
is $chk->{headers}{authorization}, "Bearer $secret{token}", 'the credentials check carries the real token';
my ($reg) = grep { $_->{path} eq '/d360/v1/configs/webhook'
                   && ($_->{headers}{'d360-api-key'} // '') eq $secret{d360} } @$reqs;
is $reg->{headers}{'d360-api-key'}, $secret{d360}, 'the 360dialog registration the real key';
is decode_json($reg->{body})->{url}, $dc->{webhook_url}, 'and the real webhook URL';
ok until_true(sub { conn($ac->{id})->{health}{state} eq 'ok' }), 'health ok';

sub signed_ok {
    my ($what, $secret_now) = @_;
    my $n = @{ $fake->requests };
    my $res = $ua->post($t->url('/v1/tickets') => $h => json => { subject => "signed $what" })->res;
    my ($r) = grep { $_->{path} eq '/hooks/acme' && $_->{body} =~ /signed \Q$what\E/ }
              @{ $fake->wait_for($n + 1) };
    ok $r, "$what: a webhook delivery";
    my $ts = $r ? $r->{headers}{'x-helpdesk-timestamp'} : 0;
    is $r && $r->{headers}{'x-helpdesk-signature'}, 'sha256=' . hmac_sha256_hex("$ts.$r->{body}", $secret_now),
        "$what: signed with the secret shown at creation";
}
signed_ok('at first', $hook->{secret});

my ($apath) = $ac->{webhook_url} =~ m{(/whatsapp/.*)$};
my ($gpath) = $gc->{webhook_url} =~ m{(/whatsapp/.*)$};
sub handshake {
    my ($path, $token) = @_;
    return $ua->get("http://127.0.0.1:$port$path?hub.mode=subscribe&hub.verify_token=$token&hub.challenge=4242")->res;
}
sub inbound {
    my ($path, $app, $pnid, $id) = @_;
    my $body = encode_json({ object => 'whatsapp_business_account', entry => [{ id => 'W', changes => [{
        field => 'messages', value => { messaging_product => 'whatsapp',
            metadata => { display_phone_number => '1', phone_number_id => $pnid },
            contacts => [{ profile => { name => 'Maria' }, wa_id => '5511988887777' }],
            messages => [{ from => '5511988887777', id => $id, timestamp => '' . int(time),
                           type => 'text', text => { body => "oi $id" } }] } }] }] });
    return $ua->post("http://127.0.0.1:$port$path" => { 'Content-Type' => 'application/json',
        'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($body, $app) } => $body)->res;
}
my $res = handshake($apath, $secret{verify});
is $res->code, 200, 'the webhook handshake checks the real verify token';
is $res->body, '4242', 'challenge echoed';
is handshake($apath, 'v1:t1:wrong')->code, 403, 'a wrong token is refused';
$res = inbound($apath, $secret{app}, 'PNID-ACME', 'wamid.S1');
is $res->code, 200, 'a delivery signed with the real app secret is accepted';
is inbound($apath, 'not-the-secret', 'PNID-ACME', 'wamid.S2')->code, 401, 'another signature is refused';

# an agent with a second factor
sub totp {
    my ($b32, $when) = @_;
    my %m;
    @m{ 'A' .. 'Z', '2' .. '7' } = 0 .. 31;
    my $bits = join '', map { sprintf '%05b', $m{$_} } split //, $b32;
    my $key = pack 'B*', substr($bits, 0, int(length($bits) / 8) * 8);
    my $hm = hmac_sha1(pack('NN', 0, int(($when // time) / 30)), $key);
    my $o = ord(substr($hm, -1)) & 0xf;
    return sprintf '%06d', (unpack('N', substr($hm, $o, 4)) & 0x7fffffff) % 1000000;
}
sub console { Helpdesk::Portal->new($t, 'acme.portal.test', prefix => '/agent') }
my $u = $ua->post($t->url('/v1/users') => $h => json => { email => 'bia@acme.example', name => 'Bia',
                                                           role => 'agent' })->res->json;
$ua->post($t->url("/v1/users/$u->{id}/invitation") => $h => json => { url => "http://acme.portal.test:$port/agent/" });
my $job = decode_json(col(q{SELECT payload FROM helpdesk.outbox WHERE kind = 'email' ORDER BY outbox_id DESC LIMIT 1}));
my ($itoken) = $job->{link} =~ m{/agent/reset/([0-9a-f]{64})$};
my $bia = console();
is $bia->api(POST => "/reset/$itoken", { password => 'senha-da-bia-1' })->code, 200, 'an agent chooses a password';
is $bia->login('bia@acme.example', 'senha-da-bia-1')->code, 200, 'and logs in';
$res = $bia->api(POST => '/totp/setup', {});
is $res->code, 200, 'sets up a second factor';
my $totp = $res->json->{secret};
like $totp, qr/^[A-Z2-7]{32}$/, 'shown in the clear, once';
like $res->json->{uri}, qr{^otpauth://totp/Tenant%20acme:bia\@acme\.example\?secret=$totp&issuer=Tenant%20acme&digits=6&period=30$},
    'in the URI for the app';
like col("SELECT totp_pending FROM helpdesk.users WHERE user_id = '$u->{id}'"), qr/^v1:t1:/, 'pending: sealed';
is $bia->api(POST => '/totp/enable', { code => totp($totp) })->code, 204, 'the right code turns it on';
my $totp_col = col("SELECT totp_secret FROM helpdesk.users WHERE user_id = '$u->{id}'");
like $totp_col, qr/^v1:t1:/, 'users.totp_secret: sealed';
unlike $totp_col, qr/$totp/, 'not the secret';
sub totp_login {
    my ($code) = @_;
    return console()->api(POST => '/login', { email => 'bia@acme.example', password => 'senha-da-bia-1',
                                              code => $code });
}
# (the code that turned it on is used up: each code is taken once)
is totp_login(totp($totp, time + 30))->code, 200, 'a TOTP login works';
is totp_login(totp($totp, time - 300))->code, 401, 'an old code does not';

# --- moved between tenants, tampered ------------------------------------------------
my %orig = (token => wa($ac->{id}, 'access_token'), gapp => wa($gc->{id}, 'app_secret'),
            hook => $hook_col, totp => $totp_col);
$t->psql("UPDATE helpdesk.whatsapp_connections SET access_token = '"
         . wa($gc->{id}, 'access_token') . "' WHERE connection_id = '$ac->{id}'");
is $ua->patch($t->url("/v1/whatsapp/connections/$ac->{id}") => $h => json => { base_url => $fake->url('/acme') })
    ->res->code, 200, "globex's sealed token copied into acme's row; a check asked for";
my $bad = until_true(sub { my $c = conn($ac->{id}); $c->{health}{state} ne 'pending' ? $c : undef });
ok $bad, 'the check ran';
isnt $bad->{health}{state}, 'ok', 'and failed';
like $bad->{health}{last_error}, qr/the stored secret does not decrypt/, 'the health says why';
ok !(grep { ($_->{headers}{authorization} // '') =~ /\Q$secret{gtoken}\E/ && $_->{path} =~ m{^/acme} }
     @{ $fake->requests }), "globex's token was never sent for acme";
ok until_true(sub { $t->error_log =~ /whatsapp_connections\.access_token:\Q$ac->{id}\E does not decrypt/ }),
    'the error log names the value, not its content';

$t->psql("UPDATE helpdesk.whatsapp_connections SET app_secret = '"
         . wa($ac->{id}, 'app_secret') . "' WHERE connection_id = '$gc->{id}'");
$res = inbound($gpath, $secret{app}, 'PNID-GLOBEX', 'wamid.G1');
is $res->code, 503, "acme's app secret in globex's row: the delivery is refused";
is $res->json->{type}, 'https://nginx-helpdesk.org/problems/secret-unavailable', 'as a secret that cannot be read';
is inbound($gpath, $secret{gapp}, 'PNID-GLOBEX', 'wamid.G2')->code, 503, 'with either secret';

# the last base64 character before any padding: a bit of the tag
my $tampered = $orig{hook} =~ s{([^=])(=*)$}{($1 eq 'A' ? 'B' : 'A') . $2}er;
isnt $tampered, $orig{hook}, 'a tag altered';
$t->psql("UPDATE helpdesk.webhook_endpoints SET secret = '$tampered' WHERE endpoint_id = '$hook->{id}'");
my $n = @{ $fake->requests };
is $ua->post($t->url("/v1/webhooks/$hook->{id}/ping") => $h)->res->code, 202, 'a ping with the altered secret';
my $dlv = until_true(sub { my $x = col("SELECT last_error FROM helpdesk.outbox WHERE target_id = '$hook->{id}'"
                                       . " AND event_type = 'webhook.ping' AND last_error IS NOT NULL");
                           length $x ? $x : undef });
like $dlv, qr/the stored secret does not decrypt/, 'is not sent: the delivery says why';
is scalar(grep { $_->{path} eq '/hooks/acme' && $_->{body} =~ /ping/ } @{ $fake->requests }), 0,
    'nothing unsigned went out';

$t->psql("UPDATE helpdesk.users SET totp_secret = '$orig{token}' WHERE user_id = '$u->{id}'");
$res = totp_login(totp($totp));
is $res->code, 503, "another row's ciphertext as the TOTP secret: the login cannot be checked";
is $res->json->{type}, 'https://nginx-helpdesk.org/problems/secret-unavailable', 'and says so';
is $ua->get($t->url('/v1/health'))->res->code, 200, 'nginx still answers';

# put back
$t->psql("UPDATE helpdesk.whatsapp_connections SET access_token = '$orig{token}' WHERE connection_id = '$ac->{id}'");
$t->psql("UPDATE helpdesk.whatsapp_connections SET app_secret = '$orig{gapp}' WHERE connection_id = '$gc->{id}'");
$t->psql("UPDATE helpdesk.webhook_endpoints SET secret = '$orig{hook}' WHERE endpoint_id = '$hook->{id}'");
$t->psql("UPDATE helpdesk.users SET totp_secret = '$orig{totp}' WHERE user_id = '$u->{id}'");
# a later half-minute's code, without waiting for it
$t->psql("UPDATE helpdesk.users SET totp_last_step = NULL WHERE user_id = '$u->{id}'");
is totp_login(totp($totp))->code, 200, 'restored: the login works again';

# --- a value from before encryption ---------------------------------------------------
$t->psql("UPDATE helpdesk.whatsapp_connections SET verify_token = 'plain:legacy-verify-1'"
         . " WHERE connection_id = '$gc->{id}'");
is $t->psql("UPDATE helpdesk.whatsapp_connections SET verify_token = 'unmarked'"
            . " WHERE connection_id = '$gc->{id}'", may_fail => 1) =~ /whatsapp_connections_secrets_sealed/ ? 1 : 0,
    1, 'an unmarked plaintext cannot be stored';
# (a route is kept for a few seconds: the new value is seen when it expires)
ok until_true(sub { handshake($gpath, 'legacy-verify-1')->code == 200 }, 15),
    'a value from before encryption ("plain:") is still read';

# --- rotation -------------------------------------------------------------------------
# a Gmail mailbox authorised once (client secret, tokens), and a second
# consent begun (a state's sealed PKCE verifier) to finish after the old
# key is gone
sub q_oauth { my ($u) = @_; Mojo::URL->new($op->ua->get($u)->res->headers->location) }
sub gmail_cb { my ($back) = @_; $ua->get($t->url('/v1/email/oauth/callback') . '?' . $back->query->to_string => $h)->res }
my $gmb = $ua->post($t->url('/v1/email/mailboxes') => $h => json => {
    kind => 'gmail', address => 'help@acme.test', client_id => 'cid-gmail.example',
    client_secret => 'gmail-client-secret-5e7a' })->res->json;
is gmail_cb(q_oauth($gmb->{authorize_url}))->code, 200, 'a Gmail mailbox consented to';
sub gcol { col("SELECT coalesce($_[0], 'null') FROM helpdesk.email_mailboxes WHERE mailbox_id = '$gmb->{id}'") }
ok until_true(sub { gcol('oauth_access_token') =~ /^v1:t1:/ && gcol('oauth_refresh_token') =~ /^v1:t1:/ }, 20),
    'its tokens sealed under t1' or diag explain $op->stats;
my $gauth = $ua->post($t->url("/v1/email/mailboxes/$gmb->{id}/authorize") => $h)->res->json;
like col("SELECT verifier FROM helpdesk.email_oauth_states WHERE mailbox_id = '$gmb->{id}' AND used_at IS NULL"),
    qr/^v1:t1:/, 'a second consent begun: its verifier sealed under t1';
my $gtok = gcol('oauth_access_token');
my $status = $ua->get($t->url('/v1/provider/secrets') => $t->auth($t->provider_key))->res;
is $status->code, 200, 'the provider sees what the rotation has left';
is $status->json->{key_id}, 't1', 'under the current key';
is $status->json->{remaining}, 1, 'the one plaintext value';
my $t1 = (do { open my $f, '<', "$d/secret.keys" or die; local $/; <$f> }) =~ s/\n.*//sr;
$t->secret_keys($t->new_secret_key('t2'), $t1);
sub reload {
    my @old = $t->worker_pids;
    kill 'HUP', $t->nginx_pid;
    ok until_true(sub { my @w = $t->worker_pids; @w == 2 && !grep { my $o = $_; grep { $_ == $o } @w } @old }, 15),
        'nginx reloaded';
}
reload();
my $out = `$FindBin::Bin/../src/tools/rotate-secrets.sh @{[$t->url('')]} $d/provider.key t2 30 2>&1`;
is $?, 0, 'a new key first in the file: the rotation tool sees every value re-encrypted';
like $out, qr/every secret is sealed under key "t2"/, 'under the new key';
my $s2 = $ua->get($t->url('/v1/provider/secrets') => $t->auth($t->provider_key))->res->json;
is_deeply [$s2->{key_id}, $s2->{remaining}, $s2->{fields}], ['t2', 0, {}], 'nothing left, by the API';
my $under = col(q{SELECT string_agg(DISTINCT split_part(v, ':', 1) || ':' || split_part(v, ':', 2), ',')
                  FROM (SELECT unnest(ARRAY[access_token, app_secret, verify_token, api_key,
                                            webhook_url]) v
                        FROM helpdesk.whatsapp_connections
                        UNION ALL SELECT secret FROM helpdesk.webhook_endpoints
                        UNION ALL SELECT totp_secret FROM helpdesk.users
                        UNION ALL SELECT unnest(ARRAY[oauth_client_secret, oauth_refresh_token,
                                                      oauth_access_token]) FROM helpdesk.email_mailboxes
                        UNION ALL SELECT verifier FROM helpdesk.email_oauth_states) x WHERE v IS NOT NULL});
is $under, 'v1:t2', 'the columns hold v1 values under t2 only';
isnt gcol('oauth_access_token'), $gtok, "the OAuth mailbox's access token re-encrypted";
like $t->error_log, qr/re-encrypted under key "t2"/, 'the rotation is logged';

my ($t2line) = grep { /^t2 / } split /\n/, do { open my $f, '<', "$d/secret.keys" or die; local $/; <$f> };
$t->secret_keys($t2line);
reload();
signed_ok('after the rotation', $hook->{secret});
is handshake($apath, $secret{verify})->code, 200, 'the handshake works with t1 gone';
is inbound($apath, $secret{app}, 'PNID-ACME', 'wamid.R1')->code, 200, 'a signed delivery too';
is handshake($gpath, 'legacy-verify-1')->code, 200, 'the value that was plaintext too';
$t->psql("UPDATE helpdesk.users SET totp_last_step = NULL WHERE user_id = '$u->{id}'");
is totp_login(totp($totp))->code, 200, 'and a TOTP login';
is conn($ac->{id})->{webhook_url}, $ac->{webhook_url}, 'and the webhook URL is read';
# the consent begun under t1 finishes: its verifier (and the client
# secret) open under t2, then a refresh opens the refresh token
my $codes = $op->stats->{counts}{authorization_code};
is gmail_cb(q_oauth($gauth->{authorize_url}))->code, 200, 'the consent begun before the rotation comes back';
ok until_true(sub { $op->stats->{counts}{authorization_code} > $codes && gcol('oauth_access_token') ne $gtok
                    && gcol('oauth_access_token') =~ /^v1:t2:/ }, 20),
    'its code exchanged with the rotated verifier and client secret' or diag explain $op->stats;
is_deeply $op->stats->{bad}, [], 'the provider saw the right secret and PKCE verifier';
my $refreshes = $op->stats->{counts}{refresh_token} // 0;
col("UPDATE helpdesk.email_mailboxes SET oauth_expires_at = now(), next_fetch_at = now() WHERE mailbox_id = '$gmb->{id}'");
ok until_true(sub { ($op->stats->{counts}{refresh_token} // 0) > $refreshes }, 20),
    'the rotated refresh token refreshes';
unlike $t->error_log, qr/email_(mailboxes|oauth_states)\.\w+:\S+ does not decrypt/, 'no OAuth value failed to open';
$n = @{ $fake->requests };
$ua->patch($t->url("/v1/whatsapp/connections/$ac->{id}") => $h => json => { base_url => $fake->url('/acme') });
ok until_true(sub { grep { ($_->{headers}{authorization} // '') eq "Bearer $secret{token}" }
                    @{ $fake->requests }[$n .. $#{ $fake->requests }] }), 'the outbox sends the token';

# --- nginx -t: the key file -------------------------------------------------------------
{
    my $open = "$d/open.keys";
    open my $f, '>', $open or die;
    print $f $t->new_secret_key('k1'), "\n";
    close $f;
    chmod 0644, $open;
    $t->write_conf(%conf, secret_key_file => $open);
    my ($rc, $out) = $t->nginx_test;
    isnt $rc, 0, 'a key file others may read: nginx -t fails';
    like $out, qr/"\Q$open\E" in "helpdesk_secret_key_file" directive may be read by group or others \(mode 0644\)/,
        'naming the file and the directive';

    chmod 0600, $open;
    ($rc) = $t->nginx_test;
    is $rc, 0, 'mode 0600: accepted';

    open $f, '>', $open or die;
    print $f "k1 c2hvcnQ=\n";
    close $f;
    ($rc, $out) = $t->nginx_test;
    isnt $rc, 0, 'a malformed key: nginx -t fails';
    like $out, qr/invalid key file "\Q$open\E" in "helpdesk_secret_key_file" directive: line 1: the key is not the base64 of 32 bytes/,
        'saying where and why';

    open $f, '>', $open or die;
    print $f "# nothing\n";
    close $f;
    ($rc, $out) = $t->nginx_test;
    like $out, qr/helpdesk_secret_key_file.*no key in the file/, 'an empty one too';

    $t->write_conf(%conf, secret_key_file => '');
    ($rc, $out) = $t->nginx_test;
    like $out, qr/"helpdesk_secret_key_file" is required with "helpdesk_postgres"/,
        'no key file at all: nginx -t fails too';

    $t->write_conf(%conf);
    ($rc) = $t->nginx_test;
    is $rc, 0, 'the stack\'s own file is fine';
}

# --- no secret in the logs ---------------------------------------------------------------
my $logs = join '', map { do { local $/; open my $f, '<', $_ or next; <$f> } } glob("$d/log/*.log");
ok length($logs) > 10000, 'the debug log was written';
like $logs, qr/helpdesk postgres: run q:/, 'with the queries traced';
for my $s (@secret{qw(token app gtoken gapp d360)}, $hook->{secret}, $totp) {
    unlike $logs, qr/\Q$s\E/, "the logs do not hold $s";
}
# Meta sends the verify token in the handshake's query string, which
# nginx's own request-line logging shows (docs/operations.md); the
# module's lines never do
my $mine = join "\n", grep { /\bhelpdesk(?: \w+)?: / } split /\n/, $logs;
unlike $mine, qr/\Q$_\E/, "the module's lines do not hold $_" for @secret{qw(verify gverify)}, 'legacy-verify-1';
unlike $logs, qr/Bearer EAAG/, 'nor an Authorization header';

$t->done;
