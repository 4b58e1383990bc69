#!/bin/sh
# Runs one fuzz target for a bounded time:
#
#     t/fuzz/run.sh BUILD_DIR TARGET SECONDS
#
# from its seeds (t/fuzz/corpus/TARGET) and what earlier runs found
# (BUILD_DIR/corpus/TARGET, where new inputs go).  A crash, a sanitizer
# report, a leak or a broken invariant exits non-zero with the report and
# the reproducing input's path (under BUILD_DIR/crash/TARGET/); reproduce
# with BUILD_DIR/bin/TARGET <input>.

top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$1
t=$2
secs=$3
log=$dir/$t.log

mkdir -p "$dir/corpus/$t" "$dir/crash/$t"

ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$top/t/ubsan.supp \
"$dir/bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/crash/$t/" \
    "$dir/corpus/$t" "$top/t/fuzz/corpus/$t" >"$log" 2>&1
rc=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")

if [ $rc -ne 0 ]; then
    sed -n '/^==[0-9]*==\|runtime error\|^INFO: Running\|^Running:/,$p' \
        "$log" | grep -v '^INFO:\|^#[0-9]' | head -100
    unit=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
    echo "$t: FAILED after ${runs:-?} runs; reproducer: ${unit:-none (see $log)}"
    exit 1
fi

echo "$t: ${runs:-?} runs in ${secs}s, no crash"
