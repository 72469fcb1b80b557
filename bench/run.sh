#!/usr/bin/env bash
# bench/run.sh: chatstream's benchmarks: concurrency (RSS per stream), throughput
# (events per CPU-second) and disconnect latency.  Prints figures; not a test.
# Exits 0 when it ran (whatever the figures), non-zero when it could not run.
#
#   bench/run.sh                      everything, N = 1000 then 10000 (~5 minutes)
#   bench/run.sh -n 1000,5000         other stream counts for the concurrency test
#   bench/run.sh --only throughput    one or more of concurrency,throughput,disconnect
#   bench/run.sh --binary PATH        benchmark that binary instead of a fresh release build
#   bench/run.sh --help               every option (passed on to bench/bench.py)
#
# By default it builds a release copy of the working tree (plain ./configure, no
# sanitizers) in a scratch directory: the in-place build may be an ASan build,
# whose memory and CPU figures say nothing about a production binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

binary=""
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--binary) binary=$2; shift 2 ;;
	--binary=*) binary=${1#--binary=}; shift ;;
	-h|--help) python3 "$here/bench.py" --binary x --work x --help; exit 0 ;;
	*) args+=("$1"); shift ;;
	esac
done

for cmd in lighttpd spawn-fcgi python3 cc; do
	if ! command -v "$cmd" >/dev/null; then
		echo "run.sh: $cmd is missing; installing the project's dependencies" >&2
		"$top/scripts/install-deps.sh"
		break
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/chatstream-bench.XXXXXX")
pids="$work/pids"
: >"$pids"
cleanup() {
	# Stops exactly the processes bench.py recorded (normally already stopped).
	local pid
	while read -r pid; do
		[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	done <"$pids"
	sleep 0.5
	while read -r pid; do
		[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
	done <"$pids"
	if [ -n "${py:-}" ]; then kill "$py" 2>/dev/null || true; fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "run.sh: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$binary" ]; then
	echo "run.sh: building a release chatstream (no sanitizers) from $top in $work/build"
	mkdir -p "$work/build"
	(cd "$top" && tar -cf - --exclude=.git --exclude='*.o' --exclude='*.a' \
		--exclude=./Makefile --exclude=./config.status --exclude=./config.h \
		--exclude=./config.log --exclude=./stamp-h1 --exclude=./src/chatstream \
		--exclude=./_build --exclude=./bench --exclude=./autom4te.cache .) |
		tar -xf - -C "$work/build"
	(
		cd "$work/build"
		[ -x configure ] || autoreconf -fi >/dev/null 2>&1
		./configure -q >/dev/null
		make -j2 src/chatstream >"$work/build.log" 2>&1
	) || { echo "run.sh: the release build failed:" >&2; tail -30 "$work/build.log" >&2; exit 1; }
	binary="$work/build/src/chatstream"
fi
if ldd "$binary" 2>/dev/null | grep -q libasan; then
	echo "run.sh: WARNING: $binary is built with AddressSanitizer: memory and CPU figures are not representative"
fi

# Every stream costs fds (client socket, lighttpd's FastCGI socket, chatstream's end):
# take the hard limit; bench.py reports what it is.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

python3 "$here/bench.py" --binary "$binary" --work "$work" "${args[@]}" &
py=$!
rc=0
wait "$py" || rc=$?
py=""
exit "$rc"
