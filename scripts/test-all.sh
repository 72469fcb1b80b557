#!/usr/bin/env bash
# test-all.sh: the whole test suite on a fresh Debian 12 machine: installs what is missing, then
# builds with -Werror and runs `make check`, again under ASan+UBSan, then `make distcheck`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

"$top/scripts/install-deps.sh"

if [ -f Makefile ] || [ -f config.status ]; then
	echo "test-all: the source tree is configured in place; run 'make distclean' first" >&2
	exit 1
fi
autoreconf -fi

results="$top/_build/results"
rm -rf "$top/_build"
mkdir -p "$results"

# Runs `make check` in a fresh build directory configured with the given flags.
run_suite() {
	local name=$1; shift
	local dir="$top/_build/$name"
	mkdir -p "$dir"
	echo "=== $name: configure $*"
	(cd "$dir" && "$top/configure" -q "$@" && make -j2 >/dev/null)
	echo "=== $name: make check"
	local rc=0
	(cd "$dir" && make -j2 check) || rc=$?
	for log in "$dir"/tests/*.log; do
		[ -e "$log" ] && grep -hE '^(ok|not ok)' "$log" >>"$results/$name.tap" || true
	done
	if [ $rc -ne 0 ]; then
		cat "$dir/test-suite.log" >&2 || true
		return $rc
	fi
}

status=0
run_suite plain --enable-werror || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite sanitized --enable-werror --enable-sanitizers || status=1

echo "=== distcheck"
(cd "$top/_build/plain" && make -j2 distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror >"$results/distcheck.out" 2>&1) || {
	tail -50 "$results/distcheck.out" >&2
	status=1
}

passed=$(cat "$results"/*.tap 2>/dev/null | grep -c '^ok' || true)
failed=$(cat "$results"/*.tap 2>/dev/null | grep -c '^not ok' || true)
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "$passed passed, $failed failed"
exit $status
