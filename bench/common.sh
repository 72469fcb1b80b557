# bench/common.sh: what the benchmark scripts share, sourced by bench/run.sh and bench/journal.sh:
# their options, the dependencies, a scratch directory cleaned up on exit, and the release build.
#
#   bench_main NAME DRIVER "TOOLS" ARGS...
#
# runs $here/DRIVER (a python script) with --binary and --work and the ARGS it
# does not take itself (--binary PATH, --help).  Without --binary it first
# builds a release copy of the working tree (plain ./configure: no sanitizers;
# the Redis store when hiredis is installed) in the scratch directory: the
# in-place build may be an ASan build, whose figures say nothing about a
# production binary.  The driver records every process it starts in
# WORK/pids; they are stopped on exit.  BENCH_KEEP=1 keeps WORK.
# SPDX-License-Identifier: ISC

bench_main() {
	local name=$1 driver=$2 tools=$3
	shift 3
	local binary="" cmd rc=0
	local -a args=()
	while [ $# -gt 0 ]; do
		case "$1" in
		--binary) binary=$2; shift 2 ;;
		--binary=*) binary=${1#--binary=}; shift ;;
		-h|--help) python3 "$here/$driver" --binary x --work x --help; return 0 ;;
		*) args+=("$1"); shift ;;
		esac
	done

	for cmd in $tools python3 cc; do
		if ! command -v "$cmd" >/dev/null; then
			echo "$name: $cmd is missing; installing the project's dependencies" >&2
			"$top/scripts/install-deps.sh"
			break
		fi
	done

	bench_name=$name
	bench_work=$(mktemp -d "${TMPDIR:-/tmp}/chatstream-bench.XXXXXX")
	: >"$bench_work/pids"
	bench_py=""
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM

	if [ -z "$binary" ]; then
		bench_build || return 1
		binary="$bench_work/build/src/chatstream"
	fi
	if ldd "$binary" 2>/dev/null | grep -q libasan; then
		echo "$name: WARNING: $binary is built with AddressSanitizer: memory and CPU figures are not representative"
	fi

	python3 "$here/$driver" --binary "$binary" --work "$bench_work" "${args[@]}" &
	bench_py=$!
	wait "$bench_py" || rc=$?
	bench_py=""
	return "$rc"
}

# A release build of the working tree in $bench_work/build.
bench_build() {
	local build="$bench_work/build"

	echo "$bench_name: building a release chatstream (no sanitizers) from $top in $build"
	mkdir -p "$build"
	(cd "$top" && tar -cf - --exclude=.git --exclude='*.o' --exclude='*.a' \
		--exclude=./Makefile --exclude=./config.status --exclude=./config.h \
		--exclude=./config.log --exclude=./stamp-h1 --exclude=./src/chatstream \
		--exclude=./_build --exclude=./bench --exclude=./autom4te.cache .) |
		tar -xf - -C "$build"
	(
		cd "$build"
		[ -x configure ] || autoreconf -fi >/dev/null 2>&1
		./configure -q >/dev/null
		make -j2 src/chatstream >"$bench_work/build.log" 2>&1
	) || {
		echo "$bench_name: the release build failed:" >&2
		tail -30 "$bench_work/build.log" >&2
		return 1
	}
}

# Stops the driver and exactly the processes it recorded (normally stopped already).
bench_cleanup() {
	local pid
	if [ -n "${bench_py:-}" ]; then
		kill "$bench_py" 2>/dev/null || true
		wait "$bench_py" 2>/dev/null || true
	fi
	while read -r pid; do
		[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	done <"$bench_work/pids"
	sleep 0.5
	while read -r pid; do
		[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
	done <"$bench_work/pids"
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "$bench_name: kept $bench_work"
	else
		rm -rf "$bench_work"
	fi
}
