#!/bin/sh
# run.sh: runs each libFuzzer harness for a bounded time and says what it found (make fuzz).
#
# Usage: run.sh SECONDS CORPUS_DIR OUT_DIR NAME...   (from the build directory)
# Each harness tests/fuzz/fuzz_NAME starts from CORPUS_DIR/NAME (read only)
# and writes the new inputs it finds to OUT_DIR/NAME/new and each failing
# input (crash-*, timeout-*, oom-*, leak-*) to OUT_DIR/NAME/found.  With
# FUZZ_KEEP_GOING=1 a harness goes on past a failure (libFuzzer's fork mode)
# and so can find several; by default it stops at the first.  FUZZ_TIMEOUT
# (seconds, default 10) is how long one input may take before it is a hang.
# Exits 1 when anything was found.
# SPDX-License-Identifier: ISC
set -u
seconds=$1 corpus=$2 out=$3
shift 3
status=0 total=0
printf '%-10s %12s %8s  %s\n' harness execs found log
for name in "$@"; do
	dir=$out/$name
	mkdir -p "$dir/new" "$dir/found"
	extra=
	[ "${FUZZ_KEEP_GOING:-0}" = 1 ] &&
		extra="-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1"
	# shellcheck disable=SC2086
	./tests/fuzz/fuzz_$name $extra -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" \
	    -rss_limit_mb=2048 -max_len="${FUZZ_MAX_LEN:-8192}" -print_final_stats=1 \
	    -artifact_prefix="$dir/found/" "$dir/new" "$corpus/$name" >"$dir/log" 2>&1
	# Executions: the final stats, else (fork mode) the last status line's count.
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
	[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$dir/log" | tail -n 1)
	[ -n "$execs" ] || execs=0
	found=$(find "$dir/found" -type f | wc -l)
	total=$((total + execs))
	printf '%-10s %12s %8s  %s\n' "$name" "$execs" "$found" "$dir/log"
	[ "$found" -eq 0 ] || status=1
done
printf '%-10s %12s\n' total "$total"
if [ "$status" -ne 0 ]; then
	echo "Failing inputs are in $out/*/found: replay one with ./tests/fuzz/fuzz_NAME FILE;"
	echo "once fixed, copy it into tests/fuzz/corpus/NAME/ so every make check replays it."
fi
exit $status
