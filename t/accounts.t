# Accounts that cannot be taken over, written as the attacks:
#  - signing up with someone else's address before they ever write in
#    does not hand over the tickets later opened for it (API, phone,
#    WhatsApp, agents): until the address is proven (the link sent at
#    sign-up, an invitation or a reset link) a portal account sees only
#    what it opened on the portal itself; a phone number typed into a
#    profile finds no one's calls;
#  - the tenant's "second factor required" holds on the REST API with the
#    console's cookie too, and a session opened before the second factor
#    was turned on ends;
#  - attempts are counted per tenant and normalised address, whatever the
#    spelling or the tenant's name used; a code is taken once; a wrong
#    password and a missing or wrong code read the same;
#  - a flood of sign-ups cannot keep people from logging in.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::UNIX;
use Digest::SHA qw(hmac_sha1);
use Mojo::JSON qw(decode_json);
use Mojo::Promise;
use Mojo::UserAgent;
use POSIX ();
use Helpdesk::Test qw(until_true);
use Helpdesk::Portal;

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain portal.test;',
                server => 'location /agent/ { helpdesk_agent_console; }
                           location / { helpdesk_portal; }');
my $ua = $t->ua;
my $port = $t->port;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});
my $pk = $t->auth($t->provider_key);

sub portal { Helpdesk::Portal->new($t, $_[0] // 'acme.portal.test') }
sub console { Helpdesk::Portal->new($t, $_[0] // 'acme.portal.test', prefix => '/agent') }

# every test here comes from 127.0.0.1: its address's counter is emptied
# between the parts, so that each part meets only the limit it is about
sub forget_address {
    my $s = IO::Socket::UNIX->new(Peer => $t->dir . '/run/redis.sock') or die "redis: $!";
    my $key = 'hd:rl:ip:127.0.0.1';
    print $s "*2\r\n\$3\r\nDEL\r\n\$" . length($key) . "\r\n$key\r\n";
    my $ok = <$s>;
    close $s;
}

sub email_link {
    my ($type, $to) = @_;
    my $row = $t->psql(qq{SELECT payload FROM helpdesk.outbox WHERE event_type = '$type'
                          AND payload->>'to' = '$to' ORDER BY outbox_id DESC LIMIT 1});
    return $row eq '' ? undef : decode_json($row)->{link};
}

sub numbers { return { map { $_->{number} => 1 } @{ $_[0]->api(GET => '/tickets?status=all')->json->{data} } } }

# --- 1. a sign-up with a victim's address ---------------------------------------------
my $mallory = portal();
my $res = $mallory->signup('CEO@Victim.example ', 'mallory-pass-1', 'Mallory');
is $res->code, 200, 'someone signs up with the CEO\'s address before the CEO ever wrote';
is $res->json->{user}{email_verified}, Mojo::JSON::false, 'the address is not proven';
my $own = $mallory->api(POST => '/tickets', { subject => 'Meu chamado', description => 'x', category => 'other',
                                              priority => 'normal' });
is $own->code, 201, 'the account opens a ticket on the portal';

# the real CEO's ticket arrives through the API (or an agent, WhatsApp, a call)
my $api_ticket = $ua->post($t->url('/v1/tickets') => $h => json => {
    subject => 'Contrato confidencial', description => 'Valores da aquisição',
    requester_email => 'ceo@victim.example', requester_name => 'CEO' })->res->json;
ok $api_ticket->{number}, 'a ticket for the CEO arrives through the API';
$ua->post($t->url("/v1/tickets/$api_ticket->{id}/comments") => $h => json => {
    body => 'Segue a proposta de R$ 10 milhões', visibility => 'public' });

my $mine = numbers($mallory);
ok $mine->{$own->json->{number}}, 'the portal account sees what it opened itself';
ok !$mine->{$api_ticket->{number}}, 'but not the ticket that came for the address by the API';
$res = $mallory->api(GET => "/tickets/$api_ticket->{number}");
is $res->code, 404, 'nor by its number';
is $res->json->{type}, 'https://nginx-helpdesk.org/problems/not-found', 'as an unknown ticket';
is $mallory->api(POST => "/tickets/$api_ticket->{number}/comments", { body => 'oi' })->code, 404,
    'nor may it write on it';
is $mallory->api(POST => "/tickets/$api_ticket->{number}/resolve")->code, 404, 'nor resolve it';
my $export = $mallory->api(GET => '/export')->json;
ok !(grep { $_->{number} eq $api_ticket->{number} } @{ $export->{tickets} }), 'nor is it in the data export';
unlike $mallory->api(GET => '/export')->body, qr/10 milh/, "and the agents' replies are nowhere";

my $boot = $mallory->api(GET => '/boot')->json;
is $boot->{user}{email_verified}, Mojo::JSON::false, 'the page knows the address is not confirmed';
like $t->psql(q{SELECT payload->>'text' FROM helpdesk.outbox WHERE event_type = 'email.verification'
                AND payload->>'to' = 'ceo@victim.example'}), qr{/verify/[0-9a-f]{64}\n},
    'a link to confirm it went to the address (the outbox)';

# hostile links
for my $bad ('0' x 64, 'zz', 'a' x 65, '%00' . ('a' x 61)) {
    my $r = $mallory->api(POST => "/verify/$bad");
    like $r->code, qr/^(400|404)$/, "a made-up link ($bad) is refused";
}
is $mallory->api(POST => '/verify/' . ('0' x 64))->json->{type},
    'https://nginx-helpdesk.org/problems/verify-link-invalid', 'saying the link is not valid';

# the real owner of the address confirms it (the link reached the CEO's mailbox)
my $link = email_link('email.verification', 'ceo@victim.example');
like $link, qr{^http://acme\.portal\.test:\d+/verify/[0-9a-f]{64}$}, 'the link is on the tenant\'s own name';
my ($vtoken) = $link =~ m{/verify/([0-9a-f]{64})$};
my $on_globex = portal('globex.portal.test');
is $on_globex->api(POST => "/verify/$vtoken")->code, 404, "another tenant's portal knows nothing of the link";
my $anyone = portal();
my $click = $anyone->api(POST => "/verify/$vtoken");
is $click->code, 401, "the owner's click, without the account's session, confirms nothing";
is $click->json->{type}, 'https://nginx-helpdesk.org/problems/login-required', 'it asks to log in first';
like $click->json->{detail}, qr/forgot password/, '... or to take the account over with a new password';
ok !numbers($mallory)->{$api_ticket->{number}},
    "so whoever signed up with the address still sees nothing of the owner's tickets";
is $mallory->api(GET => '/boot')->json->{user}{email_verified}, Mojo::JSON::false, 'and the address is not confirmed';

# the owner takes the account over: a reset proves the address and ends
# every session of the account
is $anyone->api(POST => '/reset', { email => 'ceo@victim.example' })->code, 202, 'the owner asks for a reset link';
my ($otoken) = email_link('email.password_reset', 'ceo@victim.example') =~ m{/reset/([0-9a-f]{64})$};
ok $otoken, 'which reaches their mailbox';
is $anyone->api(POST => "/reset/$otoken", { password => 'owner-pass-123' })->code, 200, 'the owner chooses a password';
is $mallory->api(GET => '/tickets')->code, 401, "the squatter's session is gone";
my $owner = portal();
is $owner->login('ceo@victim.example', 'owner-pass-123')->code, 200, 'the owner logs in';
ok numbers($owner)->{$api_ticket->{number}}, 'and sees the tickets from other channels';
is $owner->api(GET => '/boot')->json->{user}{email_verified}, Mojo::JSON::true, 'the address is confirmed';
is $owner->api(POST => '/verify')->code, 409, 'no new link for a confirmed address';
is $owner->api(POST => "/verify/$vtoken")->code, 404, 'and the old link is spent';

# a customer who signed up with their own address confirms it from their session
my $dan = portal();
is $dan->signup('dan@example.com', 'dan-pass-123', 'Dan')->code, 200, 'a customer signs up';
my ($dtoken) = email_link('email.verification', 'dan@example.com') =~ m{/verify/([0-9a-f]{64})$};
is $dan->api(POST => "/verify/$dtoken")->code, 200, 'and opens the link in their session';
is $dan->api(POST => "/verify/$dtoken")->code, 404, 'once';
is $dan->api(GET => '/boot')->json->{user}{email_verified}, Mojo::JSON::true, 'the address is confirmed';

# guessing the current password from a session is limited like a login
my @codes = map { $dan->api(POST => '/password', { current => "wrong-guess-$_", password => 'new-pass-12345' })->code } 1 .. 6;
is "@codes[0 .. 4]", '422 422 422 422 422', 'wrong current passwords are refused';
is $codes[5], 429, 'and past five of them the change is refused before any hashing';

# a customer the helpdesk knows (by the API) proves the address with a reset link
my $known = $ua->post($t->url('/v1/tickets') => $h => json => {
    subject => 'Pedido 1', description => 'x', requester_email => 'bea@example.com' })->res->json;
my $bea = portal();
is $bea->signup('bea@example.com', 'bea-pass-123', 'Bea')->code, 409,
    'a known customer cannot be signed up by anyone';
is $bea->api(POST => '/reset', { email => 'bea@example.com' })->code, 202, 'the customer asks for a reset link';
my ($rtoken) = email_link('email.password_reset', 'bea@example.com') =~ m{/reset/([0-9a-f]{64})$};
is $bea->api(POST => "/reset/$rtoken", { password => 'bea-pass-123' })->code, 200, 'and chooses a password with it';
is $bea->login('bea@example.com', 'bea-pass-123')->code, 200, 'logs in';
ok numbers($bea)->{$known->{number}}, 'and, the address proven by the reset link, sees the ticket';

# a verification link dies when an agent changes the address it went to
{
    my $z = portal();
    $z->signup('zed@example.com', 'zed-pass-123', 'Zed');
    my ($tok) = email_link('email.verification', 'zed@example.com') =~ m{/verify/([0-9a-f]{64})$};
    $t->psql(q{UPDATE helpdesk.users SET email = 'zed2@example.com' WHERE email = 'zed@example.com'});
    is $z->api(POST => "/verify/$tok")->code, 404, 'a link for an address the account no longer has is refused';
    is $z->api(POST => '/verify')->code, 202, 'a new link can be asked for';
    ok email_link('email.verification', 'zed2@example.com'), 'and goes to the current address';
}
forget_address();

# --- 2. a phone number typed into a profile --------------------------------------------
{
    my $eve = portal();
    is $eve->signup('eve@example.com', 'eve-pass-123', 'Eve')->code, 200, 'another customer signs up';
    my $eve_id = $eve->api(GET => '/boot')->json->{user}{id};
    is $eve->api(PATCH => '/profile', { phone => '+55 (11) 97777-1234' })->code, 200,
        "and types someone else's phone number into the profile";
    # the owner of the number calls; the agent notes it by phone only
    my $call = $ua->post($t->url('/v1/tickets') => $h => json => {
        subject => 'Ligou', description => 'Cliente ligou', requester_phone => '11 97777-1234',
        requester_name => 'Quem ligou' })->res->json;
    isnt $call->{requester}{id}, $eve_id, 'the call is not put on the account that typed the number';
    ok !numbers($eve)->{$call->{number}}, 'nor shown on its portal';
    my $again = $ua->post($t->url('/v1/tickets') => $h => json => {
        subject => 'Ligou de novo', description => 'x', requester_phone => '(11) 97777-1234' })->res->json;
    is $again->{requester}{id}, $call->{requester}{id}, "the caller's next call finds the caller";
}
forget_address();

# --- 3. the second factor on every way in ----------------------------------------------
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

sub agent {
    my ($email, $role) = @_;
    my $u = $ua->post($t->url('/v1/users') => $h => json => { email => $email, name => $email, role => $role })
               ->res->json;
    $ua->post($t->url("/v1/users/$u->{id}/invitation") => $h => json => { url => 'https://x.example/agent' });
    my ($tok) = email_link('email.invitation', $email) =~ m{/reset/([0-9a-f]{64})$};
    my $c = console();
    $c->api(POST => "/reset/$tok", { password => "senha-$email" });
    is $c->login($email, "senha-$email")->code, 200, "$email logs in to the console";
    return $c;
}

sub rest {
    my ($who, $method, $path, $body, %hd) = @_;
    my %hh = (Host => 'acme.portal.test', %hd);
    $hh{'X-CSRF-Token'} //= $who->cookie('hd_csrf') if $method ne 'GET';
    my $tx = $who->ua->build_tx($method => "http://127.0.0.1:$port/agent/_/rest$path" => \%hh
                                => (defined $body ? (json => $body) : ()));
    return $who->ua->start($tx)->res;
}

my $boss = agent('boss@acme.example', 'admin');
is rest($boss, GET => '/v1/tickets')->code, 200, "the admin's console session works on the REST API";
is $ua->patch($t->url('/v1/console') => $h => json => { require_totp => Mojo::JSON::true })->res->code, 200,
    'the tenant requires a second factor';
$res = rest($boss, GET => '/v1/tickets');
is $res->code, 403, 'the console cookie on the REST API without a second factor: 403';
is $res->json->{type}, 'https://nginx-helpdesk.org/problems/totp-enrollment-required', 'saying why';
like $res->json->{detail}, qr/second factor/, 'in words';
$res = rest($boss, PATCH => '/v1/console', { require_totp => Mojo::JSON::false });
is $res->code, 403, 'nor may the admin switch the rule off that way';
is $ua->get($t->url('/v1/console') => $h)->res->json->{require_totp}, Mojo::JSON::true, 'the rule stands';
is rest($boss, POST => '/v1/tickets', { subject => 'x', description => 'y', requester_email => 'a@b.example' })->code,
    403, 'nor open tickets';
my $att = $t->psql(q{SELECT tickets.ticket_number(number) FROM helpdesk.tickets LIMIT 1});
is $boss->get("/agent/_/api/tickets/$att/attachments/00000000-0000-0000-0000-000000000000")->code, 403,
    "nor download the tenant's files from the console";
is $boss->api(GET => '/queue')->code, 403, 'the console itself: only setting it up';

# set up on one device; the session opened with the password alone on another ends
my $laptop = console();
is $laptop->login('boss@acme.example', 'senha-boss@acme.example')->code, 200, 'the admin on a second device';
my $secret = $boss->api(POST => '/totp/setup', {})->json->{secret};
like $secret, qr/^[A-Z2-7]{32}$/, 'a secret to scan';
is $boss->api(POST => '/totp/enable', { code => totp($secret) })->code, 204, 'the second factor on';
is rest($boss, GET => '/v1/tickets')->code, 200, 'the session that proved the code works on the REST API again';
is $laptop->api(GET => '/queue')->code, 401, 'the session opened with the password alone has ended';
is rest($laptop, GET => '/v1/tickets')->code, 401, 'on the REST API too';

# --- 4. a code is taken once ------------------------------------------------------------
my $next = totp($secret, time + 30);
my $c1 = console();
is $c1->api(POST => '/login', { email => 'boss@acme.example', password => 'senha-boss@acme.example',
                                code => $next })->code, 200, 'password and code: in';
my $c2 = console();
$res = $c2->api(POST => '/login', { email => 'boss@acme.example', password => 'senha-boss@acme.example',
                                    code => $next });
is $res->code, 401, 'the same code again (replayed): refused';
is $c2->api(GET => '/queue')->code, 401, 'and no session came of it';
$res = $boss->api(POST => '/totp/disable', { code => $next });
is $res->code, 409, 'the rule keeps it on';
$ua->patch($t->url('/v1/console') => $h => json => { require_totp => Mojo::JSON::false });
$res = $boss->api(POST => '/totp/disable', { code => $next });
is $res->code, 422, 'a used code does not turn it off either';
is $res->json->{errors}[0]{code}, 'totp-invalid', 'the code is "not right"';
is $t->psql(q{SELECT totp_secret IS NOT NULL FROM helpdesk.users WHERE email = 'boss@acme.example'}), 't',
    'still on';
forget_address();

# --- 5. one answer for every refusal ----------------------------------------------------
{
    my %seen;
    my @tries = (
        [ 'a wrong password', { password => 'wrong-password' } ],
        [ 'the right password, no code', { password => 'senha-boss@acme.example' } ],
        [ 'the right password, a wrong code', { password => 'senha-boss@acme.example', code => '000000' } ],
        [ 'the right password, a code that is not one', { password => 'senha-boss@acme.example', code => "12\x{e9}" } ],
        [ 'a wrong password, the right code', { password => 'wrong-password', code => totp($secret, time + 30) } ],
        [ 'an unknown account', { password => 'whatever-123' }, 'nobody@acme.example' ],
    );
    for my $try (@tries) {
        my ($name, $body, $email) = @$try;
        my $r = console()->api(POST => '/login', { email => $email // 'boss@acme.example', %$body });
        my $j = $r->json // {};
        $seen{ join '|', $r->code, $j->{type} // '', $j->{title} // '', $j->{detail} // '' }{$name} = 1;
        is $r->code, 401, "$name: 401";
    }
    is scalar(keys %seen), 1, 'the same status, slug, title and text for all of them'
        or diag explain \%seen;
    my ($answer) = keys %seen;
    like $answer, qr{problems/invalid-credentials\|Unauthorized\|the email, the password or the code is not right},
        'saying the email, the password or the code is not right';
}
forget_address();

# --- 6. attempts per tenant and normalised address --------------------------------------
is $ua->post($t->url("/v1/provider/tenants/$acme->{id}/domains") => $pk
             => json => { hostname => 'help.acme.example', verified => Mojo::JSON::true })->res->code, 201,
    'the tenant has a second name, its own domain';
{
    my $target = portal();
    is $target->signup('rita@example.com', 'rita-pass-123', 'Rita')->code, 200, 'a customer';
    forget_address();
    my @spellings = (' rita@example.com', 'rita@example.com ', 'RITA@EXAMPLE.COM', "\trita\@Example.com",
                     'Rita@example.com', ' RITA@example.COM ', 'rita@example.com', 'rita@EXAMPLE.com',
                     'rITa@example.com', 'rita@example.com  ');
    my $i = 0;
    for my $email (@spellings) {
        my $host = $i++ % 2 ? 'help.acme.example' : 'acme.portal.test';
        my $r = portal($host)->login($email, 'not-her-password');
        is $r->code, 401, "a wrong password as \"$email\" on $host: 401";
    }
    forget_address();
    my $r = portal('help.acme.example')->login('rita@example.com', 'rita-pass-123');
    is $r->code, 429, 'the eleventh attempt, however spelt and on whichever name: 429';
    ok $r->headers->header('Retry-After') > 0, 'with Retry-After';
    is $r->json->{type}, 'https://nginx-helpdesk.org/problems/too-many-attempts', 'too many attempts';
    is portal('globex.portal.test')->login('rita@example.com', 'x-pass-123')->code, 401,
        "another tenant's account of the same address is counted apart";
    forget_address();

    # the second factor's changes are limited too
    my $bad = 0;
    for (1 .. 11) {
        my $r2 = $boss->api(POST => '/totp/disable', { code => '000000' });
        $bad = $r2->code;
        last if $bad == 429;
    }
    is $bad, 429, 'turning the second factor off with guessed codes is limited';
    forget_address();

    # sign-ups of one address: limited before anything is hashed
    my $codes = '';
    for (1 .. 6) {
        $codes .= portal()->signup('flood@example.com', 'flood-pass-1', 'F')->code . ' ';
    }
    like $codes, qr/^200 (409 ){4}429 $/, 'sign-ups of one address past the limit: 429';
}

# --- 7. a flood of sign-ups does not starve logins --------------------------------------
{
    my $f = Helpdesk::Test->new->start_stack;
    # four places per worker: sign-ups get two at most, logins the rest
    $f->start_nginx(http => 'helpdesk_base_domain portal.test; helpdesk_thread_pool default queue=4;',
                    server => 'location / { helpdesk_portal; }');
    my $fa = $f->create_tenant('acme');
    my $who = Helpdesk::Portal->new($f, 'acme.portal.test');
    is $who->signup('lia@example.com', 'lia-pass-123', 'Lia')->code, 200, 'a customer with an account';

    my $fu = Mojo::UserAgent->new(request_timeout => 30, inactivity_timeout => 30);
    $fu->get("http://127.0.0.1:" . $f->port . '/' => { Host => 'acme.portal.test' });
    my ($csrf) = map { $_->value } grep { $_->name eq 'hd_csrf' } @{ $fu->cookie_jar->all };
    my %hd = (Host => 'acme.portal.test', 'X-CSRF-Token' => $csrf);
    my (@signups, @logins);
    for my $n (1 .. 24) {
        push @signups, $fu->post_p("http://127.0.0.1:" . $f->port . '/_/api/signup' => \%hd
            => json => { email => "bot$n\@example.com", password => 'bot-password-1', name => "Bot $n" });
    }
    my @uas;
    for my $n (1 .. 2) {
        my $lu = Mojo::UserAgent->new(request_timeout => 30, inactivity_timeout => 30);
        push @uas, $lu;
        $lu->cookie_jar($fu->cookie_jar);
        push @logins, $lu->post_p("http://127.0.0.1:" . $f->port . '/_/api/login' => \%hd
            => json => { email => 'lia@example.com', password => 'lia-pass-123' });
    }
    my (%s, %l, $retry);
    Mojo::Promise->all_settled(@signups, @logins)->then(sub {
        for my $i (0 .. $#_) {
            my $r = $_[$i]{value}[0] ? $_[$i]{value}[0]->res : undef;
            my $code = $r ? $r->code // 0 : 0;
            if ($i < @signups) { $s{$code}++; $retry //= $r->headers->header('Retry-After') if $code == 503 }
            else { $l{$code}++ }
        }
    })->wait;
    ok $s{503}, 'a flood of sign-ups: some are told to come back (503)' or diag explain \%s;
    is $retry, 1, 'with Retry-After';
    ok $s{200}, 'others went through';
    is_deeply \%l, { 200 => 2 }, 'logins in the middle of it are served' or diag explain \%l;
    like $f->error_log, qr/password queue full/, 'the full queue is logged';
    $f->cleanup;
}

# the directive's checks
for my $bad ('helpdesk_thread_pool default queue=1;', 'helpdesk_thread_pool default queue=x;',
             'helpdesk_thread_pool default 4;') {
    my $t3 = Helpdesk::Test->new;
    $t3->write_conf(http => $bad, server => 'location / { helpdesk_portal; }');
    my ($rc, $out) = $t3->nginx_test;
    isnt $rc, 0, "nginx -t refuses \"$bad\"";
    like $out, qr/helpdesk_thread_pool/, 'naming the directive';
}

# an account disabled while its login is being checked: the login is
# refused (never "200 null"), and no session survives it, even once the
# account is active again
{
    is portal()->signup('race@example.com', 'senha-segura-1', 'Race')->code, 200, 'an account for the race';
    my ($bad, $kept) = (0, 0);
    for my $delay (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12) {
        $t->psql(q{UPDATE helpdesk.users SET status = 'active' WHERE email = 'race@example.com'});
        my $q = portal();
        $q->get('/');
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            select undef, undef, undef, $delay;
            $t->psql(q{UPDATE helpdesk.users SET status = 'disabled' WHERE email = 'race@example.com'});
            POSIX::_exit(0);
        }
        my $res = $q->login('race@example.com', 'senha-segura-1');
        waitpid $pid, 0;
        $t->psql(q{UPDATE helpdesk.users SET status = 'active' WHERE email = 'race@example.com'});
        if ($res->code == 200) {
            $bad++ unless ($res->json // {})->{id};
        } elsif ($res->code == 401) {
            $kept++ if ($q->api(GET => '/boot')->json->{user} // {})->{id};
        } else {
            $bad++;
        }
    }
    is $bad, 0, 'every login either succeeds with the user or is refused with 401';
    is $kept, 0, 'and a refused one leaves no session behind';
}

$t->done;
