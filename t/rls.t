# Row-level security holds even for SQL that forgets the tenant filter:
# nginx's database role owns nothing and is no superuser.
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

is $t->psql(q{SELECT rolsuper::int::text || rolbypassrls::int::text FROM pg_roles WHERE rolname = 'helpdesk_app'}),
    '00', 'the app role is no superuser and cannot bypass RLS';
is $t->psql(q{SELECT count(*) FROM pg_tables WHERE schemaname = 'helpdesk' AND tableowner = 'helpdesk_app'}),
    0, 'and owns no table';
is $t->psql(q{SELECT count(*) FROM pg_tables WHERE schemaname = 'helpdesk' AND NOT rowsecurity}),
    0, 'every table has row-level security';

my $as_app = "SET ROLE helpdesk_app;\n";
for my $table (qw(tenants users api_keys tickets ticket_events audit_log)) {
    is $t->psql($as_app . "SELECT count(*) FROM helpdesk.$table"), 0,
        "no tenant set: no rows in $table";
}

is $t->psql($as_app . "SELECT set_config('helpdesk.tenant_id', '$acme->{id}', false);"
            . 'SELECT subject FROM helpdesk.tickets'), "$acme->{id}\nof acme",
    'tenant set: only its own rows';

like $t->psql($as_app . "SELECT set_config('helpdesk.tenant_id', '$acme->{id}', false);"
              . "INSERT INTO helpdesk.users (tenant_id, email, role) VALUES ('$globex->{id}', 'x\@y.z', 'agent')",
              may_fail => 1),
    qr/row-level security/, 'cannot write into another tenant';

like $t->psql($as_app . "SELECT set_config('helpdesk.tenant_id', '$acme->{id}', false);"
              . 'DELETE FROM helpdesk.audit_log', may_fail => 1),
    qr/permission denied/, 'the audit log is append-only for the app';

$t->done;
