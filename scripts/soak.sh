#!/usr/bin/env bash
# soak.sh: builds chatstream (in _build/soak, unless --binary names one) and runs
# tests/soak/soak.py: thousands of streams under faults, then the invariants.
# Not part of `make check`.  Exits non-zero on any invariant violation.
#
#   scripts/soak.sh                          2000 streams, at most ~7 minutes of load
#   scripts/soak.sh --streams 3000 --seconds 540
#   scripts/soak.sh --phases file,redis      some of file,redis,enospc,emfile
#   scripts/soak.sh --binary PATH            soak that binary instead of a fresh build
#   KEEP_TMP=1 scripts/soak.sh ...           keep the temp dir (logs, spool) even on success
#
# Needs lighttpd's companions spawn-fcgi and curl (harness.py checks), redis-server
# for the redis phase, prlimit (util-linux) for the emfile phase, and root for the
# enospc phase's tmpfs (skipped otherwise).  See tests/soak/README.md.
# SPDX-License-Identifier: ISC
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
binary=""
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--binary) binary=$2; shift 2 ;;
	-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) args+=("$1"); shift ;;
	esac
done

if [ -z "$binary" ]; then
	if [ -f "$top/Makefile" ] || [ -f "$top/config.status" ]; then
		echo "soak: the source tree is configured in place; run 'make distclean' first" >&2
		exit 1
	fi
	dir="$top/_build/soak"
	if [ ! -f "$dir/Makefile" ]; then
		[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi)
		mkdir -p "$dir"
		opts=(-q)
		if pkg-config --exists hiredis 2>/dev/null; then opts+=(--with-redis); fi
		(cd "$dir" && "$top/configure" "${opts[@]}")
	fi
	make -C "$dir" -j2 >/dev/null
	binary="$dir/src/chatstream"
fi

# Streams, their journals and the readers' sockets take fds: the hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export CHATSTREAM="$binary" SRCDIR="$top"
exec python3 "$top/tests/soak/soak.py" ${args[@]+"${args[@]}"}
