#!/usr/bin/env bash
# test-all.sh: the whole test suite on a fresh Debian 12 machine: installs what is missing, then
# builds with -Werror and runs `make check`, again under ASan+UBSan, then `make distcheck`, then
# builds the Debian package from the release tarball and installs, serves and purges it (as root).
# A skipped test fails the run: everything a test needs is installed here (by install-deps.sh,
# or by the test's own setup as root), so a skip means an install is missing.
# Builds go to _build/{plain,sanitized} (results in _build/results); the source tree itself is
# never configured (scripts/quickstart.sh builds in _build/quickstart, which is left alone).
# SPDX-License-Identifier: ISC
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

"$top/scripts/install-deps.sh" --tests

if [ -f Makefile ] || [ -f config.status ]; then
	echo "test-all: the source tree is configured in place; run 'make distclean' first" >&2
	exit 1
fi
autoreconf -fi

results="$top/_build/results"
rm -rf "$top/_build/plain" "$top/_build/sanitized" "$results"
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
	if [ $rc -ne 0 ]; then
		# One retry of just the failed tests (automake's recheck), said out loud:
		# a test that fails twice fails the run; one that passes the second
		# time is listed as flaky at the end, to be fixed, not forgotten.
		local failed_tests
		failed_tests=$(grep -hE '^(FAIL|ERROR): ' "$dir/test-suite.log" | sed 's/^[A-Z]*: //;s/ .*//' | sort -u | tr '\n' ' ' || true)
		echo "=== $name: retrying once: $failed_tests"
		cat "$dir/test-suite.log" >"$results/$name.first-try.log" 2>/dev/null || true
		rc=0
		(cd "$dir" && make -j2 recheck) || rc=$?
		[ $rc -ne 0 ] || echo "$name: passed on retry (FLAKY): $failed_tests" >>"$results/flaky.txt"
	fi
	local log t
	for log in "$dir"/tests/*.log "$dir"/tests/fuzz/*.log; do
		[ -e "$log" ] || continue
		grep -hE '^(ok|not ok)' "$log" >>"$results/$name.tap" || true
		# TAP skips: "ok N # skip reason" and a whole file's "1..0 # SKIP reason"
		t=${log#"$dir"/}
		grep -hiE '^ok [0-9]+[^#]*# *skip|^1\.\.0 *# *skip' "$log" |
			sed "s|^|$name: ${t%.log}: |" >>"$results/skipped.txt" || true
	done
	if [ $rc -ne 0 ]; then
		cat "$dir/test-suite.log" >&2 || true
		return $rc
	fi
}

status=0
run_suite plain --enable-werror --with-redis || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite sanitized --enable-werror --enable-sanitizers --with-redis || status=1

echo "=== distcheck"
# distcheck proves the tarball builds, installs, uninstalls and runs its tests
# from a read-only source tree.  The whole suite already ran twice above, so
# here it runs the unit tests and the core integration tests.
dist_tests="tests/unit_buf tests/unit_utf8 tests/unit_sse tests/unit_request tests/unit_conf \
tests/unit_sse_parse tests/t_config.py tests/t_stream.py tests/t_errors.py tests/t_modes.py \
tests/fuzz/replay_request tests/fuzz/replay_sse_parse"
(cd "$top/_build/plain" && make -j2 distcheck DISTCHECK_CONFIGURE_FLAGS="--enable-werror --with-redis" \
	TESTS="$dist_tests" >"$results/distcheck.out" 2>&1) || {
	tail -50 "$results/distcheck.out" >&2
	status=1
}

echo "=== deb"
# The Debian package, built from the release tarball, installed, served from,
# removed and purged (tests/t_deb.py).  It needs root and installs a package,
# so it runs here and not in `make check`.
deb_rc=0
(cd "$top/_build/plain" && make dist >/dev/null && tarball=$(ls chatstream-*.tar.gz) &&
	DEB_SOURCE="$top/_build/plain/$tarball" SRCDIR="$top" \
	"${PYTHON3:-python3}" "$top/tests/t_deb.py" >"$results/deb.log" 2>&1) || deb_rc=$?
grep -hE '^(ok|not ok)' "$results/deb.log" >"$results/deb.tap" || true
grep -hiE '^ok [0-9]+[^#]*# *skip|^1\.\.0 *# *skip' "$results/deb.log" |
	sed 's|^|deb: tests/t_deb: |' >>"$results/skipped.txt" || true
if [ $deb_rc -ne 0 ] || grep -q '^not ok' "$results/deb.tap"; then
	tail -60 "$results/deb.log" >&2
	status=1
fi

if [ -s "$results/flaky.txt" ]; then
	echo "=== FLAKY: these failed once and passed when rerun (first logs in $results):"
	cat "$results/flaky.txt"
fi
skipped=0
if [ -s "$results/skipped.txt" ]; then
	skipped=$(wc -l <"$results/skipped.txt")
	echo "=== SKIPPED: $skipped (a skip is a missing install here; it fails the run):"
	cat "$results/skipped.txt"
	status=1
fi
passed=$(cat "$results"/*.tap 2>/dev/null | grep -ivE '^ok [0-9]+[^#]*# *skip' | grep -c '^ok' || true)
failed=$(cat "$results"/*.tap 2>/dev/null | grep -c '^not ok' || true)
failed=$((failed + skipped))
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "$passed passed, $failed failed"
exit $status
