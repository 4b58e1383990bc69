# The tickets API as a client uses it: create, read, list, change,
# comment, history; every change and read leaves its audit row.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Mojo::Promise;
use Helpdesk::Test;

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx;
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});

# the body from the product's documentation, as is
my $tx = $ua->post($t->url('/v1/tickets') => $h => json => {
    title => 'Problema reportado pelo sistema',
    description => 'Detectado erro no servidor XYZ',
    priority => 'high',
    category => 'infrastructure',
    requester_email => 'sistema@empresa.com',
});
is $tx->res->code, 201, 'documented create body gives 201';
my $ticket = $tx->res->json;
is $ticket->{channel}, 'api', 'channel is api';
is $ticket->{status}, 'open', 'status is open';
is $ticket->{subject}, 'Problema reportado pelo sistema', 'title became the subject';
is $ticket->{number}, 'TKT-000001', 'first ticket number';
is $ticket->{priority}, 'high', 'priority kept';
is $ticket->{requester}{email}, 'sistema@empresa.com', 'requester recorded';
is $tx->res->headers->location, "/api/v1/tickets/$ticket->{id}", 'Location header';
like $tx->res->headers->content_type, qr{^application/json}, 'JSON';

# read by UUID and by number
for my $ref ($ticket->{id}, 'TKT-000001', 'tkt-1') {
    $tx = $ua->get($t->url("/v1/tickets/$ref") => $h);
    is $tx->res->code, 200, "GET by $ref";
    is $tx->res->json->{id}, $ticket->{id}, "same ticket by $ref";
}
is $ua->get($t->url('/v1/tickets/TKT-999999') => $h)->res->code, 404, 'unknown number is 404';
is $ua->get($t->url('/v1/tickets/not-a-ref') => $h)->res->code, 404, 'garbage ref is 404';

# more tickets to list
my @created = ($ticket);
for my $i (2 .. 7) {
    $tx = $ua->post($t->url('/v1/tickets') => $h => json => {
        subject => "Printer $i offline",
        description => $i % 2 ? 'the office printer is jammed' : 'email bounces',
        priority => $i % 2 ? 'low' : 'urgent',
        category => $i % 2 ? 'hardware' : 'email',
        requester_email => $i % 2 ? 'Maria@Example.com' : 'joao@example.com',
        custom_fields => { equipment => "PRN-$i" },
    });
    is $tx->res->code, 201, "ticket $i created";
    push @created, $tx->res->json;
}
is $created[-1]{number}, 'TKT-000007', 'numbers are sequential per tenant';
is $created[2]{requester}{email}, 'maria@example.com', 'emails are kept in lower case';

$tx = $ua->get($t->url('/v1/tickets') => $h);
is $tx->res->code, 200, 'list';
is scalar @{ $tx->res->json->{data} }, 7, 'all seven listed';
is $tx->res->json->{data}[0]{number}, 'TKT-000007', 'newest first';

my %count = (
    'priority=urgent' => 3,
    'priority=low,high' => 4,
    'category=hardware' => 3,
    'requester_email=maria%40example.com' => 3,
    'q=printer' => 6,
    'q=jammed' => 3,
    'status=open' => 7,
    'status=resolved' => 0,
    'channel=api' => 7,
    'channel=email' => 0,
    'created_after=2000-01-01' => 7,
    'created_before=2000-01-01T00:00:00Z' => 0,
    'assignee=none' => 7,
);
for my $q (sort keys %count) {
    $tx = $ua->get($t->url("/v1/tickets?$q") => $h);
    is $tx->res->code, 200, "filter $q answers";
    is scalar @{ $tx->res->json->{data} // [] }, $count{$q}, "filter $q finds $count{$q}";
}

# cursor pagination is stable while new tickets arrive
my (@seen, $cursor);
my $page = 0;
do {
    my $qs = 'limit=3' . ($cursor ? "&cursor=$cursor" : '');
    $tx = $ua->get($t->url("/v1/tickets?$qs") => $h);
    is $tx->res->code, 200, "page $page";
    push @seen, map { $_->{number} } @{ $tx->res->json->{data} };
    $cursor = $tx->res->json->{next_cursor};
    if ($page++ == 0) {
        $ua->post($t->url('/v1/tickets') => $h => json => { subject => 'arrives mid-listing' });
    }
} while ($cursor && $page < 10);
is_deeply \@seen, [map { sprintf 'TKT-%06d', $_ } reverse 1 .. 7],
    'pages cover every ticket once, in order, despite a new one';
is $ua->get($t->url('/v1/tickets?cursor=bogus!') => $h)->res->code, 422, 'bad cursor is 422';

# changes: status transitions, priority, category, assignee
my $agent = $ua->post($t->url('/v1/users') => $h => json => {
    email => 'ana@acme.example', name => 'Ana', role => 'agent' })->res;
is $agent->code, 201, 'agent created';
my $id = $ticket->{id};

$tx = $ua->patch($t->url("/v1/tickets/$id") => $h => json => {
    status => 'pending', priority => 'urgent', category => 'network',
    assignee => 'ana@acme.example' });
is $tx->res->code, 200, 'patch several fields';
is $tx->res->json->{status}, 'pending', 'status changed';
is $tx->res->json->{priority}, 'urgent', 'priority changed';
is $tx->res->json->{category}, 'network', 'category changed';
is $tx->res->json->{assignee}{email}, 'ana@acme.example', 'assigned';

$tx = $ua->patch($t->url("/v1/tickets/$id") => $h => json => { assignee => 'nobody@acme.example' });
is $tx->res->code, 422, 'assigning a non-agent is 422';
is $tx->res->json->{errors}[0]{field}, 'assignee', 'names the field';

$tx = $ua->patch($t->url("/v1/tickets/$id") => $h => json => { status => 'resolved' });
ok $tx->res->json->{resolved_at}, 'resolved_at set';
$tx = $ua->patch($t->url("/v1/tickets/$id") => $h => json => { status => 'closed' });
is $tx->res->json->{status}, 'closed', 'closed';
$tx = $ua->patch($t->url("/v1/tickets/$id") => $h => json => { status => 'open' });
is $tx->res->code, 422, 'closed cannot reopen';
is $tx->res->json->{type}, 'https://nginx-helpdesk.org/problems/invalid-transition', 'typed error';
like $tx->res->json->{errors}[0]{message}, qr/closed to open/, 'says which transition';
is $ua->patch($t->url("/v1/tickets/$id") => $h => json => {})->res->code, 422, 'empty patch is 422';

# comments and history
my $t2 = $created[1]{id};
$tx = $ua->post($t->url("/v1/tickets/$t2/comments") => $h => json => { body => 'We are on it.' });
is $tx->res->code, 201, 'public comment';
is $tx->res->json->{visibility}, 'public', 'public by default';
$tx = $ua->post($t->url("/v1/tickets/$t2/comments") => $h => json => {
    body => 'customer is VIP', visibility => 'internal' });
is $tx->res->json->{visibility}, 'internal', 'internal note';
ok $ua->get($t->url("/v1/tickets/$t2") => $h)->res->json->{first_response_at},
    'a public reply sets first_response_at';
is $ua->post($t->url("/v1/tickets/$id/comments") => $h => json => { body => 'late' })->res->code,
    409, 'commenting a closed ticket is 409';

$tx = $ua->get($t->url("/v1/tickets/$id/events") => $h);
is $tx->res->code, 200, 'history';
my @types = map { $_->{type} } @{ $tx->res->json->{data} };
is_deeply \@types, [qw(created status_changed priority_changed category_changed
                       assignee_changed status_changed status_changed)],
    'every change is an event, in order';
my $first = $tx->res->json->{data}[0];
is $first->{channel}, 'api', 'event channel';
is $first->{actor}{type}, 'api_key', 'event actor';
ok $first->{created_at}, 'event time';

$tx = $ua->get($t->url("/v1/tickets/$t2/events?limit=2") => $h);
is scalar @{ $tx->res->json->{data} }, 2, 'events page';
my $next = $tx->res->json->{next_cursor};
$tx = $ua->get($t->url("/v1/tickets/$t2/events?limit=2&cursor=$next") => $h);
is $tx->res->json->{data}[0]{body}, 'customer is VIP', 'second page continues';

# audit: reads and changes, in the tenant's log
my $audit = $t->psql(qq{SELECT action, count(*) FROM helpdesk.audit_log
                        WHERE object_id = '$id' GROUP BY action ORDER BY action});
like $audit, qr/^ticket\.create\|1$/m, 'create audited';
like $audit, qr/^ticket\.read\|3$/m, 'each read audited';
like $audit, qr/^ticket\.update\|\d+$/m, 'updates audited';
like $audit, qr/^ticket\.events\.read\|1$/m, 'history read audited';
like $t->psql(q{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'ticket.list' AND ip = '127.0.0.1'}),
    qr/^[1-9]/, 'list reads audited with the client address';

# tickets opened at once, on many connections to both workers: numbers
# unique and without a gap; a new requester created once however many of
# their tickets arrive together
{
    my $tenant = $t->create_tenant('rush');
    my $rh = $t->auth($tenant->{key});
    my (@p, %code);
    for my $n (1 .. 30) {
        my $email = $n % 3 ? 'same.person@example.com' : "person$n\@example.com";
        push @p, $ua->post_p($t->url('/v1/tickets') => $rh => json => { subject => "rush $n", requester_email => $email })
            ->then(sub { $code{$n} = $_[0]->res->code });
    }
    Mojo::Promise->all(@p)->wait;
    is_deeply [grep { ($code{$_} // 0) != 201 } 1 .. 30], [], 'thirty concurrent tickets created';
    $t->spread_ok(qr{^POST /api/v1/tickets }, 'concurrent tickets');
    is $t->psql(qq{SELECT count(*) || ' ' || count(DISTINCT number) || ' ' || min(number) || ' ' || max(number)
                   FROM helpdesk.tickets WHERE tenant_id = '$tenant->{id}'}), '30 30 1 30',
        'numbered 1 to 30, each once';
    is $t->psql(qq{SELECT count(*) FROM helpdesk.users WHERE tenant_id = '$tenant->{id}'
                   AND email = 'same.person\@example.com'}), 1, 'the shared requester exists once';
    is $t->psql(qq{SELECT count(DISTINCT requester_id) FROM helpdesk.tickets WHERE tenant_id = '$tenant->{id}'
                   AND subject IN (SELECT 'rush ' || n FROM generate_series(1, 30) n WHERE n % 3 <> 0)}), 1,
        'and all twenty of their tickets are theirs';
    is $t->psql(qq{SELECT count(*) FROM helpdesk.users WHERE tenant_id = '$tenant->{id}' AND role = 'customer'}), 11,
        'eleven customers in all';
}

$t->done;
