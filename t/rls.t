# Row-level security holds even for SQL that forgets the tenant filter:
# nginx's database role can only execute the entry points in schema "api",
# which run as a role that owns nothing and is no superuser.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test;

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx;
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
$ua->post($t->url('/v1/tickets') => $t->auth($_->{key}) => json => { subject => "of $_->{slug}" })
    for $acme, $globex;
is $t->psql('SELECT count(*) FROM helpdesk.tickets'), 2, 'two tickets exist';

is $t->psql(q{SELECT string_agg(rolsuper::int::text || rolbypassrls::int::text, ' ' ORDER BY rolname)
                FROM pg_roles WHERE rolname IN ('helpdesk_app', 'helpdesk_service')}),
    '00 00', 'the app and service roles are no superusers and cannot bypass RLS';
is $t->psql(q{SELECT count(*) FROM pg_tables WHERE schemaname = 'helpdesk'
                AND tableowner IN ('helpdesk_app', 'helpdesk_service')}),
    0, 'neither it nor the service role owns a table';
is $t->psql(q{SELECT count(*) FROM pg_tables WHERE schemaname = 'helpdesk' AND NOT rowsecurity}),
    0, 'every table has row-level security';

# nginx's role reaches data only through the entry points in schema "api"
my $as_app = "SET ROLE helpdesk_app;\n";
for my $table (qw(tenants users api_keys tickets ticket_events audit_log)) {
    like $t->psql($as_app . "SELECT count(*) FROM helpdesk.$table", may_fail => 1),
        qr/permission denied/, "the app role cannot read $table";
}
like $t->psql($as_app . q{SELECT rest.api_key_auth(sha256('x'))}, may_fail => 1),
    qr/permission denied/, 'nor call an internal function';

# the entry points run as helpdesk_service, under row-level security
my $as_service = "SET ROLE helpdesk_service;\n";
for my $table (qw(tenants users api_keys tickets ticket_events audit_log)) {
    is $t->psql($as_service . "SELECT count(*) FROM helpdesk.$table"), 0,
        "no tenant set: no rows in $table";
}

is $t->psql($as_service . "SELECT set_config('helpdesk.tenant_id', '$acme->{id}', false);"
            . 'SELECT subject FROM helpdesk.tickets'), "$acme->{id}\nof acme",
    'tenant set: only its own rows';

like $t->psql($as_service . "SELECT set_config('helpdesk.tenant_id', '$acme->{id}', false);"
              . "INSERT INTO helpdesk.users (tenant_id, email, role) VALUES ('$globex->{id}', 'x\@y.z', 'agent')",
              may_fail => 1),
    qr/row-level security/, 'cannot write into another tenant';

like $t->psql($as_service . "SELECT set_config('helpdesk.tenant_id', '$acme->{id}', false);"
              . 'DELETE FROM helpdesk.audit_log', may_fail => 1),
    qr/permission denied/, 'the audit log is append-only';

$t->done;
