# The database's own tests: pgTAP files in t/sql/ (least privilege,
# row-level security, the entry points' errors), run with pg_prove against
# a throwaway cluster migrated like any other.  The pgTAP extension and the
# helpers (t/sql/helpers.psql) exist in this test database only.
use strict;
use warnings;
use lib 't/lib';
use File::Basename qw(basename);
use File::Copy qw(copy);
use Test::More;
use Helpdesk::Test;

my ($pg_prove) = grep { -x "$_/pg_prove" } split /:/, $ENV{PATH};
ok($pg_prove, 'pg_prove is installed') or BAIL_OUT('pg_prove not found: make deps');
my @pgtap = glob('/usr/share/postgresql/*/extension/pgtap.control');
ok(@pgtap, 'the pgTAP extension is installed') or BAIL_OUT('pgTAP not found: make deps');

my $t = Helpdesk::Test->new;
$t->start_pg;
$t->run_stack('migrate', $t->dir);
is $t->psql(q{SELECT count(*) FROM pg_extension WHERE extname = 'pgtap'}), 0,
    'the migrations do not need pgTAP';

# the server's account reads the files from the test's directory
my $dir = $t->dir . '/pgtap';
mkdir $dir or die "$dir: $!";
chmod 0755, $dir;
for my $f ('t/sql/helpers.psql', glob('t/sql/*.sql')) {
    copy($f, "$dir/" . basename($f)) or die "$f: $!";
    chmod 0644, "$dir/" . basename($f);
}
$t->psql(do { local (@ARGV, $/) = ('t/sql/helpers.psql'); <> });

my $as = $> == 0 ? 'runuser -u postgres -- ' : '';
for my $file (sort glob('t/sql/*.sql')) {
    my $name = basename($file);
    my $out = `cd / && ${as}pg_prove --verbose --host @{[$t->dir]}/run --username postgres --dbname helpdesk $dir/$name 2>&1`;
    my ($tests) = $out =~ /Tests=(\d+)/;
    ok($? == 0 && $out =~ /^Result: PASS/m, "pgTAP $name: " . ($tests // 0) . ' tests')
        or diag($out);
}

$t->cleanup;
done_testing();
