# The C unit tests of src/lib (t/unit/*.c, make unit), built with ASan and
# UBSan and run as TAP programs: a failed assertion, a sanitizer report or
# a leak fails the test and shows the program's output.
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $top = abs_path(dirname(__FILE__) . '/..');
chdir $top or die $!;

my @tests = map { m{^t/unit/(\w+)\.c$} ? $1 : () } sort glob 't/unit/*.c';
ok scalar @tests, 'there are unit tests';

my $out = `make -s unit-build 2>&1`;
is $?, 0, 'the unit tests build' or do { diag $out; done_testing; exit };

$ENV{ASAN_OPTIONS} = 'detect_leaks=1';
$ENV{UBSAN_OPTIONS} = "halt_on_error=1:print_stacktrace=1:"
    . "suppressions=$top/t/ubsan.supp";

for my $t (@tests) {
    my $res = `build/unit/$t 2>&1`;
    my $rc = $?;
    my ($plan) = $res =~ /^1\.\.(\d+)$/m;
    my $passed = () = $res =~ /^ok \d+/mg;
    my @failed = $res =~ /^(not ok \d+.*)$/mg;

    ok $rc == 0 && !@failed && $plan && $passed == $plan,
        "$t: " . ($plan // 0) . " assertions, $passed passed"
        or diag $res;
    note $res;
}

done_testing;
