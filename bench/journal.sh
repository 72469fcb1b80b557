#!/usr/bin/env bash
# bench/journal.sh: what the stream journal costs: events per chatstream CPU-second
# with `journal = off` vs `file` vs `redis` (and the redis-server's own CPU), time
# from a reconnect to the first replayed event, journal bytes per token.  Prints
# figures; not a test.  Exits 0 when it ran (whatever the figures; also when
# Redis is not available: it says so and measures the rest), non-zero when it
# could not run.  About 6 minutes.
#
#   bench/journal.sh                     everything (build, 5 rounds, reconnect)
#   bench/journal.sh --rounds 3          fewer off/file rounds
#   bench/journal.sh --only reconnect    any of throughput,reconnect,redis
#   bench/journal.sh --redis-server ''   leave the Redis store out
#   bench/journal.sh --binary PATH       that binary instead of a fresh release build
#   bench/journal.sh --compare-binary P  also the `file` settings run by binary P (say, a
#                                        build from before a change): rows marked (cmp)
#   bench/journal.sh --help              every option (passed on to bench/journal.py)
#   BENCH_KEEP=1 bench/journal.sh        keep the scratch directory (configs, logs, spool)
#
# The release build is bench/common.sh's (a copy of the working tree, no
# sanitizers); configure builds the Redis store when hiredis is installed, and
# without it journal.py reports redis as not built.
# SPDX-License-Identifier: ISC
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/common.sh"

bench_main journal.sh journal.py "spawn-fcgi" "$@"
