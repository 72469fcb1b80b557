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
# The release build is bench/run.sh's (a copy of the working tree, no sanitizers,
# in a scratch directory), configured --with-redis when hiredis is installed so
# that it has the Redis store; without hiredis the store is left out and
# journal.py reports redis as not built.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

binary=""
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--binary) binary=$2; shift 2 ;;
	--binary=*) binary=${1#--binary=}; shift ;;
	-h|--help) python3 "$here/journal.py" --binary x --work x --help; exit 0 ;;
	*) args+=("$1"); shift ;;
	esac
done

for cmd in spawn-fcgi python3 cc; do
	if ! command -v "$cmd" >/dev/null; then
		echo "journal.sh: $cmd is missing; installing the project's dependencies" >&2
		"$top/scripts/install-deps.sh"
		break
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/chatstream-jbench.XXXXXX")
pids="$work/pids"
: >"$pids"
py=""
cleanup() {
	# Stops exactly the processes journal.py recorded (normally already stopped).
	local pid
	if [ -n "$py" ]; then kill "$py" 2>/dev/null || true; wait "$py" 2>/dev/null || true; fi
	while read -r pid; do
		[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	done <"$pids"
	sleep 0.3
	while read -r pid; do
		[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
	done <"$pids"
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "journal.sh: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$binary" ]; then
	echo "journal.sh: building a release chatstream (no sanitizers) from $top in $work/build"
	mkdir -p "$work/build"
	(cd "$top" && tar -cf - --exclude=.git --exclude='*.o' --exclude='*.a' \
		--exclude=./Makefile --exclude=./config.status --exclude=./config.h \
		--exclude=./config.log --exclude=./stamp-h1 --exclude=./src/chatstream \
		--exclude=./_build --exclude=./bench --exclude=./autom4te.cache .) |
		tar -xf - -C "$work/build"
	(
		cd "$work/build"
		[ -x configure ] || autoreconf -fi >/dev/null 2>&1
		if pkg-config --exists hiredis 2>/dev/null; then
			./configure -q --with-redis >/dev/null
		else
			echo "journal.sh: hiredis is not installed (libhiredis-dev): building without the Redis store"
			./configure -q >/dev/null
		fi
		make -j2 src/chatstream >"$work/build.log" 2>&1
	) || { echo "journal.sh: the release build failed:" >&2; tail -30 "$work/build.log" >&2; exit 1; }
	binary="$work/build/src/chatstream"
fi
if ldd "$binary" 2>/dev/null | grep -q libasan; then
	echo "journal.sh: WARNING: $binary is built with AddressSanitizer: CPU figures are not representative"
fi

python3 "$here/journal.py" --binary "$binary" --work "$work" "${args[@]}" &
py=$!
rc=0
wait "$py" || rc=$?
py=""
exit "$rc"
