#!/usr/bin/env bash
# test-loaded.sh: runs the test suite on a busy machine, as a shared CI runner would be: CPU hogs
# (stress-ng --cpu N) run beside it for as long as it runs, bounded, and are stopped at the end.
#   scripts/test-loaded.sh                     scripts/test-all.sh with 6 CPU hogs beside it
#   scripts/test-loaded.sh CMD [ARG...]        any command instead, e.g. a few tests:
#     scripts/test-loaded.sh make -C _build/dev check TESTS="tests/t_front_nginx.py"
# Environment: LOAD_CPUS (hogs, default 6), LOAD_TIMEOUT (seconds the hogs run at most,
# default 3600).  Exit status: the command's.
# SPDX-License-Identifier: ISC
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cpus=${LOAD_CPUS:-6}
limit=${LOAD_TIMEOUT:-3600}
if ! command -v stress-ng >/dev/null 2>&1; then
	echo "test-loaded: stress-ng is missing: run scripts/install-deps.sh --tests as root" >&2
	exit 1
fi
[ "$#" -gt 0 ] || set -- "$top/scripts/test-all.sh"

stress-ng --cpu "$cpus" --timeout "${limit}s" --quiet &
hogs=$!
trap 'kill "$hogs" 2>/dev/null || true; wait "$hogs" 2>/dev/null || true' EXIT
echo "test-loaded: $cpus CPU hogs (stress-ng pid $hogs, at most $limit s) beside: $*"
sleep 5
echo "test-loaded: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
rc=0
"$@" || rc=$?
echo "test-loaded: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; status $rc"
exit $rc
