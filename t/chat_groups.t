# Agent groups: /v1/groups (create, rename, delete, members) with hostile
# input (oversized, non-UTF-8 and control-character names, duplicates in
# any case, another tenant's groups and agents, an agent trying what only
# admins may), and the chat's transfer to a group over real WebSockets:
# offered to the group's available members only, waiting in the queue
# (with its place told to the visitor) while none is, offered once a
# member comes or an agent is added to the group, hidden from and refused
# to agents outside it, an unknown group refused with "not_found".
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Helpdesk::Test qw(until_true);
use Helpdesk::Chat;

my $t = Helpdesk::Test->new->start_stack;
Helpdesk::Chat::start_nginx($t);
my $port = $t->port;
my $ua = $t->ua;
my $R = 'redis-cli -s ' . $t->dir . '/run/redis.sock';

my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins,
                max_chats_per_agent, accept_timeout_seconds, bot_enabled,
                waiting_message)
            VALUES ('$acme->{id}', '{https://www.acme.example}', 3, 10, false,
                    'Please wait'),
                   ('$globex->{id}', '{https://www.globex.example}', 3, 30, false, '');});
my $h = $t->auth($acme->{key});
my $gh = $t->auth($globex->{key});

# an agent (or admin) of a tenant, logged in to the console: its chat
# (not greeted yet), its id and its console session
sub agent {
    my ($tenant, $email, $name, $role) = @_;
    my $a = Helpdesk::Chat::agent($t, $tenant, $email, $name, role => $role);
    return ($a->{chat}, $a->{id}, $a->{console});
}

# the REST API through a console session (as the console's pages call it)
sub console_rest {
    my ($who, $method, $path, $body) = @_;
    my %hd = (Host => $who->{host});
    $hd{'X-CSRF-Token'} = $who->cookie('hd_csrf') if $method ne 'GET';
    $who->get('/agent/') unless defined $who->cookie('hd_csrf');
    $hd{'X-CSRF-Token'} = $who->cookie('hd_csrf') if $method ne 'GET';
    my $tx = $who->ua->build_tx($method => "http://127.0.0.1:$port/agent/_/rest$path" => \%hd
                                => (defined $body ? (json => $body) : ()));
    return $who->ua->start($tx)->res;
}

sub visitor { Helpdesk::Chat::visitor($t, acme => 'https://www.acme.example') }

sub audits {
    my ($action) = @_;
    return $t->psql(qq{SELECT count(*) FROM helpdesk.audit_log
                       WHERE tenant_id = '$acme->{id}' AND action = '$action'});
}

# --- groups through the REST API -------------------------------------------------

my ($ana_chat, $ana_id, $ana_c) = agent($acme, 'ana@acme.example', 'Ana');
my ($bruno_chat, $bruno_id) = agent($acme, 'bruno@acme.example', 'Bruno');
my ($carla_chat, $carla_id) = agent($acme, 'carla@acme.example', 'Carla');
my ($dave_chat, $dave_id) = agent($acme, 'dave@acme.example', 'Dave');
my ($eva_chat) = agent($acme, 'eva@acme.example', 'Eva', 'admin');
my (undef, $gina_id) = agent($globex, 'gina@globex.example', 'Gina');
my $customer = $ua->post($t->url('/v1/users') => $h => json => {
    email => 'rita@example.com', name => 'Rita', role => 'customer' })->res->json;

my $res = $ua->post($t->url('/v1/groups') => $h => json => {
    name => '  Billing ', description => 'Invoices and refunds' })->res;
is $res->code, 201, 'an admin key creates a group';
my $billing = $res->json;
like $billing->{id}, qr/^[0-9a-f-]{36}$/, '... with an id';
is $billing->{name}, 'Billing', '... its name trimmed';
is_deeply $billing->{members}, [], '... and no members';
like $res->headers->location, qr{/v1/groups/\Q$billing->{id}\E$}, '... at its location';
is audits('group.create'), 1, 'the creation is audited';

$res = $ua->post($t->url('/v1/groups') => $h => json => { name => 'BILLING' })->res;
is $res->code, 409, 'the same name in another case: 409';
is $res->json->{errors}[0]{field}, 'name', '... naming the field';
like $res->headers->content_type, qr{^application/problem\+json}, '... as a problem document';

for my $bad (['', 'empty'], ['   ', 'blank'], ['x' x 101, '101 characters'],
             ["tab\tname", 'a control character'], ["a\x{7f}b", 'DEL'], [42, 'a number'],
             [undef, 'null'])
{
    $res = $ua->post($t->url('/v1/groups') => $h => json => { name => $bad->[0] })->res;
    is $res->code, 422, "a name that is $bad->[1]: 422";
    is $res->json->{errors}[0]{field}, 'name', '... naming the field';
}
is $ua->post($t->url('/v1/groups') => $h => json => { description => 'no name' })->res->code, 422,
    'no name: 422';
is $ua->post($t->url('/v1/groups') => $h => json => { name => 'Long', description => 'd' x 501 })->res->code,
    422, 'a description over 500 characters: 422';
$res = $ua->post($t->url('/v1/groups') => { %$h, 'Content-Type' => 'application/json' }
                 => "{\"name\":\"caf\xe9\"}")->res;
is $res->code, 400, 'a body that is not UTF-8: 400';
is $ua->post($t->url('/v1/groups') => { %$h, 'Content-Type' => 'application/json' } => '{"name":')->res->code,
    400, 'a body that is not JSON: 400';
$res = $ua->post($t->url('/v1/groups') => $h => json => { name => 'Nível 2 — Suporte ' . ('é' x 80) })->res;
is $res->code, 201, 'a name of 100 characters, not all ASCII, is fine';
my $level2 = $res->json;
is $t->psql(qq{SELECT count(*) FROM helpdesk.agent_groups WHERE tenant_id = '$acme->{id}'}), 2,
    'nothing else was stored';

# members
$res = $ua->put($t->url("/v1/groups/$billing->{id}/members/$ana_id") => $h)->res;
is $res->code, 200, 'an agent is added to the group';
is_deeply [map { $_->{id} } @{ $res->json->{members} }], [$ana_id], '... and is its member';
is $ua->put($t->url("/v1/groups/$billing->{id}/members/$ana_id") => $h)->res->code, 200,
    'added again: no change';
is audits('group.member.add'), 1, '... audited once';
is $ua->put($t->url("/v1/groups/$billing->{id}/members/$gina_id") => $h)->res->code, 404,
    "another tenant's agent: 404";
is $ua->put($t->url("/v1/groups/$billing->{id}/members/$customer->{id}") => $h)->res->code, 404,
    'a customer: 404';
is $ua->put($t->url("/v1/groups/$billing->{id}/members/not-an-id") => $h)->res->code, 404,
    'not an id: 404';
is $ua->put($t->url("/v1/groups/$billing->{id}/members/$ana_id") => $h => json => { role => 'x' })->res->code,
    422, 'a member with a body: 422';
is $ua->put($t->url("/v1/groups/$billing->{id}/members/$ana_id") => $h
            => json => { pad => 'x' x 80000 })->res->code,
    413, 'a member with a body over the limit: 413, as documented';
is $ua->delete($t->url("/v1/groups/$billing->{id}/members/$bruno_id") => $h)->res->code, 404,
    'removing one who is not a member: 404';
$res = $ua->get($t->url("/v1/groups/$billing->{id}/members") => $h)->res;
is_deeply [map { $_->{name} } @{ $res->json->{data} }], ['Ana'], 'the members are listed';

# another tenant
my $gteam = $ua->post($t->url('/v1/groups') => $gh => json => { name => 'Globex Team' })->res->json;
is $ua->post($t->url('/v1/groups') => $gh => json => { name => 'Billing' })->res->code, 201,
    'another tenant may have a group of the same name';
for my $r (['GET', "/v1/groups/$billing->{id}"], ['PATCH', "/v1/groups/$billing->{id}", { name => 'x' }],
           ['DELETE', "/v1/groups/$billing->{id}"], ['GET', "/v1/groups/$billing->{id}/members"],
           ['PUT', "/v1/groups/$billing->{id}/members/$gina_id"],
           ['DELETE', "/v1/groups/$billing->{id}/members/$ana_id"])
{
    my $tx = $ua->build_tx($r->[0] => $t->url($r->[1]) => $gh => ($r->[2] ? (json => $r->[2]) : ()));
    is $ua->start($tx)->res->code, 404, "another tenant's group: $r->[0] $r->[1] is 404";
}
is $ua->put($t->url("/v1/groups/$gteam->{id}/members/$ana_id") => $gh)->res->code, 404,
    "an agent of another tenant into one's own group: 404";
is scalar @{ $ua->get($t->url('/v1/groups') => $gh)->res->json->{data} }, 2,
    "a tenant lists its own groups only";
is $ua->get($t->url('/v1/groups/' . $billing->{id}) => $h)->res->json->{members}[0]{id}, $ana_id,
    "... and the other's attempts changed nothing";

# scopes: agents list, admins change
my $reader = $t->create_key($acme->{id}, 'tickets:read');
is $ua->get($t->url('/v1/groups') => $t->auth($reader->{key}))->res->code, 200,
    'a key with "tickets:read" lists groups';
is $ua->post($t->url('/v1/groups') => $t->auth($reader->{key}) => json => { name => 'Nope' })->res->code, 403,
    '... and may not create one';
$res = console_rest($ana_c, GET => '/v1/groups');
is $res->code, 200, "an agent's console session lists the groups";
is scalar @{ $res->json->{data} }, 2, '... both';
is console_rest($ana_c, POST => '/v1/groups', { name => 'Mine' })->code, 403, '... but may not create one';
is console_rest($ana_c, PATCH => "/v1/groups/$billing->{id}", { name => 'Mine' })->code, 403, '... rename one';
is console_rest($ana_c, PUT => "/v1/groups/$billing->{id}/members/$ana_id")->code, 403, '... join one';
is console_rest($ana_c, DELETE => "/v1/groups/$billing->{id}/members/$ana_id")->code, 403, '... leave one';
is console_rest($ana_c, DELETE => "/v1/groups/$billing->{id}")->code, 403, '... or delete one';

# rename, delete
$res = $ua->patch($t->url("/v1/groups/$level2->{id}") => $h => json => { name => 'billing' })->res;
is $res->code, 409, "renamed to another group's name: 409";
$res = $ua->patch($t->url("/v1/groups/$level2->{id}") => $h => json => { name => 'Level 2', description => 'Hard cases' })->res;
is $res->code, 200, 'renamed';
is $res->json->{name}, 'Level 2', '... to the new name';
is $ua->patch($t->url("/v1/groups/$level2->{id}") => $h => json => {})->res->code, 422, 'a rename of nothing: 422';
is $ua->delete($t->url("/v1/groups/$level2->{id}") => $h)->res->code, 204, 'a group is deleted';
is $ua->get($t->url("/v1/groups/$level2->{id}") => $h)->res->code, 404, '... and is gone';
is $ua->post($t->url('/v1/groups') => $h => json => { name => 'Level 2' })->res->code, 201,
    '... its name free again';
is audits('group.delete'), 1, 'the deletion is audited';

# --- transfer to a group in the chat ------------------------------------------------

# Bruno takes a visitor's conversation, alone
my $bruno = $bruno_chat->();
my $w = $bruno->hello;
is $w->{type}, 'welcome', 'Bruno is welcomed';
is_deeply [map { $_->{name} } @{ $w->{groups} }], ['Billing', 'Level 2'],
    "... with the tenant's groups, for transfers";

my $v = visitor();
$v->hello;
my $cid = $v->send(start => prechat => { name => 'Rita', email => 'rita@example.com' },
                   text => 'My invoice is wrong');
my $conv = $v->take_ack($cid)->{conversation};
ok $bruno->take('offer', conversation => $conv), 'Bruno is offered the conversation';
is $bruno->say(accept => conversation => $conv)->{type}, 'ack', '... and takes it';

# Ana (a member) and Dave (not one) come
my $ana = $ana_chat->();
$ana->hello;
my $dave = $dave_chat->();
$dave->hello;
like `$R HGET 'hd:chat:ag:{$acme->{id}}' $ana_id`, qr/"g":\["\Q$billing->{id}\E"\]/,
    "Ana's presence record knows her group";

my $e = $bruno->say(transfer => conversation => $conv, to => { group => 'Nope' });
is $e->{code}, 'not_found', 'a transfer to no such group: not_found';
is $e->{detail}, 'no such group', '... saying what was not found';
$e = $bruno->say(transfer => conversation => $conv, to => { agent => 'a0000000-0000-4000-8000-0000000000ff' });
is_deeply [@$e{qw(code detail)}], ['not_found', 'no such agent'], 'to no such agent: not_found, "no such agent"';
$e = $bruno->say(transfer => conversation => $conv, to => { group => 'Globex Team' });
is $e->{code}, 'not_found', "... nor to another tenant's group";
for my $bad ('', 'x' x 401, 42, undef) {
    $e = $bruno->say(transfer => conversation => $conv, to => { group => $bad });
    is $e->{code}, 'bad_message', 'a group that is ' . (defined $bad ? "'" . substr($bad, 0, 5) . "'" : 'null')
        . ': bad_message';
}
is `$R HGET 'hd:chat:{$conv}:h' ag` =~ s/\s+$//r, $bruno_id, '... and the conversation is still Bruno\'s';

$e = $bruno->say(transfer => conversation => $conv, to => { group => 'bILLING' }, note => 'invoice 42');
is $e->{type}, 'ack', 'Bruno transfers to the group by its name, in any case';
my $tr = $v->take('transferred');
is $tr->{to}{group}, 'Billing', 'the visitor is told, with the group\'s name';
my $offer = $ana->take('offer', conversation => $conv);
ok $offer, 'Ana, a member, is offered it';
ok !$dave->take('offer', conversation => $conv, timeout => 1), 'Dave, not a member, is not';
ok !$bruno->take('offer', conversation => $conv, timeout => 0.2), '... nor Bruno';

# Ana lets it pass: no member is left, it waits
is $ana->say(decline => conversation => $conv)->{type}, 'ack', 'Ana declines';
my $q = $v->take('queue', position => 1);
ok $q, 'the visitor waits in the queue, told its place';
ok defined $q->{estimate_seconds}, '... and an estimate';
ok !$dave->take('offer', conversation => $conv, timeout => 1), 'Dave is still not offered it';
$e = $dave->say(accept => conversation => $conv);
is $e->{code}, 'forbidden', 'Dave may not take it from the queue';
$dave->drain(0.3);
$dave->say(presence => status => 'away');
my $dq = $dave->take('queue', timeout => 3);
ok $dq && !(grep { $_->{conversation} eq $conv } @{ $dq->{queue} }), "... and does not see it in his queue";

# Carla, a member who was not there, comes: it is hers to take
is $ua->put($t->url("/v1/groups/$billing->{id}/members/$carla_id") => $h)->res->code, 200,
    'Carla is added to the group';
my $carla = $carla_chat->();
$w = $carla->hello;
ok((grep { $_->{conversation} eq $conv } @{ $w->{queue} }), 'Carla sees it in her queue');
$offer = $carla->take('offer', conversation => $conv);
ok $offer, '... and is offered it';
is $carla->say(decline => conversation => $conv)->{type}, 'ack', 'Carla declines too';

# Dave joins the group while it waits: he is told at once
$dave->say(presence => status => 'available');
$dave->drain(0.3);
is $ua->put($t->url("/v1/groups/$billing->{id}/members/$dave_id") => $h)->res->code, 200,
    'Dave is added to the group';
ok $dave->take('offer', conversation => $conv), '... and, a member now, is offered the waiting conversation';
is $dave->say(accept => conversation => $conv)->{type}, 'ack', '... and takes it';
my $joined = $v->take('joined', agent => sub { $_[0]{name} eq 'Dave' });
is $joined->{agent}{name}, 'Dave', 'the visitor is with Dave';

# a second conversation, while every member is away
$_->say(presence => status => 'away') for $ana, $carla, $dave;
$_->drain(0.3) for $ana, $bruno, $carla, $dave;
my $v2 = visitor();
$v2->hello;
$cid = $v2->send(start => prechat => { name => 'Zé', email => 'ze@example.com' }, text => 'Oi');
my $conv2 = $v2->take_ack($cid)->{conversation};
ok $bruno->take('offer', conversation => $conv2), 'a second conversation is offered to Bruno';
is $bruno->say(accept => conversation => $conv2)->{type}, 'ack', '... who takes it';
is $bruno->say(transfer => conversation => $conv2, to => { group => 'Billing' })->{type}, 'ack',
    'Bruno transfers it to Billing, all of whose members are away';
ok $v2->take('queue', position => 1), 'the visitor waits, told its place';
my $eva = $eva_chat->();
$eva->hello;
ok !(grep { $_->{type} eq 'offer' } map { $_->drain(1) } $ana, $bruno, $carla, $dave, $eva),
    'nobody is offered it (Eva, available, is not a member)';
$carla->say(presence => status => 'available');
ok $carla->take('offer', conversation => $conv2), 'Carla is back: she is offered it';
my @vm = $v2->drain(0.5);
my ($vq) = reverse grep { $_->{type} eq "queue" } @vm;
is $vq && $vq->{estimate_seconds}, 60,
   "the visitor's estimate counts the group's one available member, not the three agents available";

# a deleted group: what waited for it waits for anyone
is $carla->say(decline => conversation => $conv2)->{type}, 'ack', 'Carla declines';
$_->drain(0.3) for $ana, $bruno, $carla, $dave, $eva;
is $ua->delete($t->url("/v1/groups/$billing->{id}") => $h)->res->code, 204, 'the group is deleted';
ok $eva->take('offer', conversation => $conv2), 'what waited for it is offered to Eva'
    or diag `$R HGETALL 'hd:chat:{$conv2}:h'`;
ok `$R HGET 'hd:chat:ag:{$acme->{id}}' $dave_id` !~ /\Q$billing->{id}\E/,
    "the group is no longer in its former members' presence";

$_->close for $v, $v2, $ana, $bruno, $carla, $dave, $eva;

$t->done;
