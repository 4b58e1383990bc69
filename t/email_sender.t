#!/usr/bin/env perl
# A tenant's sender address, proven before the provider's relay sends
# from it: until then mail goes From the provider's own sender (the
# tenant's name shown, its address as the Reply-To); setting the address
# mails a one-time link to it (through the provider's relay), which an
# admin of the tenant brings back; then mail goes From it, DKIM-signed.
# Another tenant's link, a link used, expired or made up: refused.  A new
# address starts over.  A tenant's own relay is not held to it.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Mail;

my $t = Helpdesk::Test->new->start_stack;
my $sink = Helpdesk::Mail->new($t, tls => 1);
$t->start_nginx(http => "helpdesk_base_domain portal.test;
    helpdesk_outbox interval=100ms backoff=200ms max_backoff=400ms attempts=3 timeout=5s;
    helpdesk_smtp url=" . $sink->url . " from=noreply\@provider.example ca_file=" . $sink->ca_file . ";",
    server => 'location / { helpdesk_portal; } location /agent/ { helpdesk_agent_console; }');
my $ua = $t->ua;
my $port = $t->port;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});
my $g = $t->auth($globex->{key});
my $console = "http://acme.portal.test:$port/agent/";
my $seen = 0;

sub next_mail {
    my $all = $sink->wait_for($seen + 1, 60);
    return undef if @$all <= $seen;
    return $all->[$seen++];
}
sub hdr { Helpdesk::Mail::header(@_) }
sub settings { $ua->get($t->url('/v1/email/settings') => $h)->res->json }
sub verify { my ($auth, $token) = @_;
    $ua->post($t->url('/v1/email/settings/verify') => $auth => json => { token => $token })->res }
my $n = 0;
sub invite {
    $n++;
    my $u = $ua->post($t->url('/v1/users') => $h => json => {
        email => "agent$n\@acme.example", name => "Agent $n", role => 'agent' })->res->json;
    $ua->post($t->url("/v1/users/$u->{id}/invitation") => $h => json => { url => $console })->res->code;
}

# --- an address set: not proven, a link to it -------------------------------
my $res = $ua->put($t->url('/v1/email/settings') => $h => json => {
    from_name => 'Acme Support', from_address => 'Help@Acme.example', console_url => $console })->res;
is $res->code, 200, 'the sender saved';
ok !$res->json->{from_address_verified}, 'not verified';
is $res->json->{from_address_verified_at}, undef, 'no date';
ok $res->json->{verification_sent}, 'a confirmation link sent';
is $res->json->{provider_from}, 'noreply@provider.example', "the provider's sender named";
is $res->json->{sends_from}, 'noreply@provider.example', 'which mail goes from meanwhile';

my $m = next_mail();
ok $m, 'the confirmation arrives';
is hdr($m, 'To'), 'help@acme.example', 'at the address to prove';
is hdr($m, 'From'), '"Acme Support" <noreply@provider.example>', "from the provider's sender";
like $m->{text}, qr/help\@acme\.example/, 'naming the address';
my ($token) = $m->{text} =~ m{/agent/sender/([0-9a-f]{64})};
ok $token, 'a link to the console in it';
is $t->psql(q{SELECT count(*) FROM helpdesk.email_sender_links WHERE token_hash IS NOT NULL
              AND address = 'help@acme.example'}), 1, 'stored as a hash';
unlike $t->psql(q{SELECT encode(token_hash, 'hex') FROM helpdesk.email_sender_links}), qr/$token/,
    'never the token itself';

# --- mail meanwhile: the provider's sender, the tenant's Reply-To ----------
is invite(), 202, 'an invitation';
$m = next_mail();
ok $m, 'it arrives';
is hdr($m, 'From'), '"Acme Support" <noreply@provider.example>', "unverified: From the provider's address";
is hdr($m, 'Reply-To'), 'help@acme.example', "Reply-To the tenant's";
is $m->{headers}{'return-path'}[0], '<noreply@provider.example>', "the envelope's sender the provider's too";
ok !$m->{headers}{'dkim-signature'}, 'not signed with a key of a domain not proven';

# --- links refused ---------------------------------------------------------
is verify($h, 'f' x 64)->code, 404, 'a made-up link: 404';
is verify($h, 'x')->code, 404, 'a short one: 404';
is verify($g, $token)->code, 404, "acme's link at globex: 404";
my $reader = $t->create_key($acme->{id}, 'tickets:read');
is verify($t->auth($reader->{key}), $token)->code, 403, 'a key without the admin scope: 403';
is $ua->post($t->url('/v1/email/settings/verify') => $h => json => {})->res->code, 422, 'no token: 422';
ok !settings()->{from_address_verified}, 'still not verified';

# an expired one (the second link of the day, aged)
$res = $ua->post($t->url('/v1/email/settings/verification') => $h => json => { console_url => $console })->res;
is $res->code, 202, 'the link sent again';
$m = next_mail();
my ($old) = $m->{text} =~ m{/agent/sender/([0-9a-f]{64})};
ok $old, 'a second link';
$t->psql(qq{UPDATE helpdesk.email_sender_links SET expires_at = now() - interval '1 second'
            WHERE token_hash = sha256('$old'::bytea)});
is verify($h, $old)->code, 404, 'an expired link: 404';
is $ua->post($t->url('/v1/email/settings/verification') => $h)->res->code, 409,
    'through the API without the console\'s address: nowhere to link to, 409';
is $ua->post($t->url('/v1/email/settings/verification') => $h => json => {
    address => 'ceo@bank.example', console_url => $console })->res->code, 422,
    'a link to an address that is neither the sender nor a mailbox: 422';

# --- the link brought back ----------------------------------------------------
$res = verify($h, $token);
is $res->code, 200, 'the link works';
is $res->json->{address}, 'help@acme.example', 'for the address';
my $s = settings();
ok $s->{from_address_verified}, 'verified';
like $s->{from_address_verified_at}, qr/^\d{4}-/, 'and when';
is $s->{sends_from}, 'help@acme.example', 'mail goes from it now';
is $t->psql(q{SELECT detail->>'address' FROM helpdesk.audit_log WHERE action = 'email.sender.verified'}),
    'help@acme.example', 'audited';
is verify($h, $token)->code, 404, 'used once: 404';
is $ua->post($t->url('/v1/email/settings/verification') => $h => json => { console_url => $console })->res->code,
    409, 'no link for an address proven';

my $dkim = until_true(sub { my $d = settings()->{dkim}; $d->{status} eq 'ready' ? $d : undef }, 20);
ok $dkim, 'its DKIM key';
is invite(), 202, 'another invitation';
$m = next_mail();
is hdr($m, 'From'), '"Acme Support" <help@acme.example>', "verified: From the tenant's address";
like $m->{headers}{'dkim-signature'}[0], qr/d=acme\.example/, 'signed for its domain';
my $f = $t->dir . '/dkim.eml';
open my $o, '>:raw', $f or die;
print $o $m->{raw};
close $o;
my $ok = `/usr/bin/python3 -c '
import dkim, sys
print(dkim.verify(open(sys.argv[1], "rb").read(), dnsfunc=lambda name, timeout=5: sys.argv[2].encode()))' $f '$dkim->{record_value}' 2>&1`;
chomp $ok;
is $ok, 'True', 'the signature verifies';

# --- a new address starts over ----------------------------------------------
$res = $ua->put($t->url('/v1/email/settings') => $h => json => {
    from_address => 'ceo@bank.example', console_url => $console })->res;
ok !$res->json->{from_address_verified}, 'another address: not verified';
$m = next_mail();
is hdr($m, 'To'), 'ceo@bank.example', 'the link goes to it';
my ($bank) = $m->{text} =~ m{/agent/sender/([0-9a-f]{64})};
is invite(), 202, 'an invitation';
$m = next_mail();
is hdr($m, 'From'), '"Acme Support" <noreply@provider.example>', 'never From the unproven address';
is hdr($m, 'Reply-To'), 'ceo@bank.example', 'which is only the Reply-To';
$res = $ua->put($t->url('/v1/email/settings') => $h => json => { from_address => 'help@acme.example' })->res;
ok !$res->json->{from_address_verified}, 'back to the first address: proven again, not remembered';
ok !$res->json->{verification_sent}, 'through the API without console_url no link';
is verify($h, $bank)->code, 404, "the link to the address left behind: dead";
is $ua->post($t->url('/v1/email/settings/verification') => $h => json => { console_url => $console })->res->code,
    202, 'a link asked for';
$m = next_mail();
($token) = $m->{text} =~ m{/agent/sender/([0-9a-f]{64})};
is verify($h, $token)->code, 200, 'and brought back';

# five links a day at most for an address
my $codes = join ',', map {
    $ua->put($t->url('/v1/email/settings') => $h => json => { from_address => 'x@acme.example', console_url => $console });
    my $r = $ua->put($t->url('/v1/email/settings') => $h => json => { from_address => 'y@acme.example', console_url => $console })->res;
    $r->json->{verification_sent} ? 1 : 0 } 1 .. 6;
is $codes, '1,1,1,1,1,0', 'changing back and forth mails an address five times a day at most';

# and twenty a day for a tenant, whatever the addresses
my $today = $t->psql(qq{SELECT count(*) FROM helpdesk.email_sender_links
                       WHERE tenant_id = '$acme->{id}' AND created_at > now() - interval '1 day'});
$codes = join ',', map {
    $ua->put($t->url('/v1/email/settings') => $h => json => { from_address => "many$_\@acme.example", console_url => $console })
       ->res->json->{verification_sent} ? 1 : 0 } 1 .. 21 - $today;
like $codes, qr/^(1,)+0$/, "new addresses each time: links up to twenty a day for the tenant ($today before), then none";
is $t->psql(qq{SELECT count(*) FROM helpdesk.email_sender_links
               WHERE tenant_id = '$acme->{id}' AND created_at > now() - interval '1 day'}), 20, 'twenty in all';

# --- a tenant's own relay: its server decides ----------------------------------
$t->stop_nginx;
$t->psql(qq{INSERT INTO helpdesk.email_settings (tenant_id, from_address, smtp_url)
            VALUES ('$globex->{id}', 'help\@globex.example', 'smtps://relay.globex.example');
            INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id, event_type, payload)
            VALUES ('$globex->{id}', 'email', '$globex->{id}', gen_random_uuid(), 'email.note',
                    '{"to": "a\@b.example", "subject": "s", "text": "t"}')});
is $t->psql(qq{SELECT from_address || ' ' || smtp_url FROM email.email_claim(50, 60000, true)
               WHERE tenant_id = '$globex->{id}'}),
    'help@globex.example smtps://relay.globex.example', "through its own relay: From its address, unproven";
is $t->psql(qq{SELECT count(*) FROM email.email_claim(50, 60000, false) WHERE event_type = 'email.sender_verification'}),
    0, 'a confirmation link never through a relay of the tenant';

$t->done;
