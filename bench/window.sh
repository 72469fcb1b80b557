#!/usr/bin/env bash
# bench/window.sh: what the reconnect window costs: the tokens and CPU-seconds a
# stream goes on making after its client left for good, per abandoned stream,
# at the default window and at reconnect_window = 0.  Prints figures; not a
# test.  Exits 0 when it ran, non-zero when it could not run.  About a minute.
#
#   bench/window.sh                      everything (build, default window and 0)
#   bench/window.sh --windows 0,5,14     other windows (seconds; "default" is the derived one)
#   bench/window.sh --streams 40         abandoned streams per run (10)
#   bench/window.sh --binary PATH        that binary instead of a fresh release build
#   bench/window.sh --help               every option (passed on to bench/window.py)
#   BENCH_KEEP=1 bench/window.sh         keep the scratch directory (configs, logs)
# SPDX-License-Identifier: ISC
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/common.sh"

bench_main window.sh window.py "spawn-fcgi" "$@"
