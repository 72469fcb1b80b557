#!/usr/bin/env bash
# bench/formats.sh: what each API's stream of the same answer costs: chatstream
# CPU, bytes and events per stream for POST / (native), /v1/chat/completions
# and /v1/responses, plain and with the demo's tool call.  Prints figures; not
# a test.  Exits 0 when it ran (whatever the figures), non-zero when it could
# not run.  About 2 minutes.
#
#   bench/formats.sh                    everything (build, 5 rounds)
#   bench/formats.sh --rounds 3         fewer rounds
#   bench/formats.sh --binary PATH      that binary instead of a fresh release build
#   bench/formats.sh --help             every option (passed on to bench/formats.py)
#   BENCH_KEEP=1 bench/formats.sh       keep the scratch directory (config, log, spool)
# SPDX-License-Identifier: ISC
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/common.sh"

bench_main formats.sh formats.py "spawn-fcgi" "$@"
