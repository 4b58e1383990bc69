# The fuzz targets (t/fuzz/*.c, make fuzz), built and run for a few seconds
# each (HELPDESK_FUZZ_SECONDS, default 5): a crash, a sanitizer report, a
# leak or a broken invariant fails the test and names the reproducing
# input.
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $top = abs_path(dirname(__FILE__) . '/..');
chdir $top or die $!;

my $secs = $ENV{HELPDESK_FUZZ_SECONDS} // 5;
my @targets = map { m{^t/fuzz/(\w+)\.c$} ? $1 : () } sort glob 't/fuzz/*.c';
ok scalar @targets, 'there are fuzz targets';

my $out = `make -s fuzz-build 2>&1`;
is $?, 0, 'the fuzz targets build' or do { diag $out; done_testing; exit };

for my $t (@targets) {
    my $res = `t/fuzz/run.sh $top/build/fuzz $t $secs 2>&1`;
    is $?, 0, "$t: no crash in ${secs}s" or diag $res;
    note $res;
}

done_testing;
