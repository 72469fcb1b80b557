#!/usr/bin/env bash
# bench/run.sh: chatstream's benchmarks: concurrency (RSS per stream), throughput
# (events per CPU-second), disconnect latency and what metrics cost.  Prints figures; not a test.
# Exits 0 when it ran (whatever the figures), non-zero when it could not run.
#
#   bench/run.sh                      everything, N = 1000 then 10000 (~5 minutes)
#   bench/run.sh -n 1000,5000         other stream counts for the concurrency test
#   bench/run.sh --only throughput    one or more of concurrency,throughput,disconnect,metrics
#   bench/run.sh --binary PATH        benchmark that binary instead of a fresh release build
#   bench/run.sh --help               every option (passed on to bench/bench.py)
#
# By default it builds a release copy of the working tree (bench/common.sh).
# SPDX-License-Identifier: ISC
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/common.sh"

# Every stream costs fds (client socket, lighttpd's FastCGI socket, chatstream's end):
# take the hard limit; bench.py reports what it is.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bench_main run.sh bench.py "lighttpd spawn-fcgi" "$@"
