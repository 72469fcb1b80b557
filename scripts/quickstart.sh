#!/usr/bin/env bash
# quickstart.sh: the demo on a fresh Debian 12 machine: installs what is missing, builds, starts
# chatstream under spawn-fcgi behind lighttpd on 127.0.0.1:8080 and streams an answer with curl -N.
# It builds out of the source tree, in _build/quickstart, so scripts/test-all.sh runs after it.
#   scripts/quickstart.sh          start (or restart) and stream one answer
#   scripts/quickstart.sh stop     stop both servers
# SPDX-License-Identifier: ISC
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
run=/tmp/chatstream-quickstart
port=8080

stop() {
	for f in "$run"/*.pid; do
		[ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
		rm -f "$f"
	done
}
if [ "${1:-}" = stop ]; then
	stop
	echo "stopped"
	exit 0
fi

"$top/scripts/install-deps.sh"
cd "$top"
build="$top/_build/quickstart"
if [ ! -x "$build/src/chatstream" ]; then
	if [ -f Makefile ] || [ -f config.status ]; then
		echo "quickstart: the source tree is configured in place; run 'make distclean' first" >&2
		exit 1
	fi
	[ -f configure ] || autoreconf -fi
	mkdir -p "$build"
	(cd "$build" && { [ -f Makefile ] || "$top/configure" -q; } && make -j2 >/dev/null)
fi

stop
mkdir -p "$run"
# chatstream: a FastCGI process on a unix socket, its log on stderr.
nohup spawn-fcgi -n -s "$run/chatstream.sock" -M 0600 -- "$build/src/chatstream" \
	-c "$top/conf/chatstream.conf" </dev/null >>"$run/chatstream.log" 2>&1 &
echo $! >"$run/chatstream.pid"
# lighttpd: the shipped snippet, mounted at /chat/, on loopback.
cat >"$run/lighttpd.conf" <<CONF
var.chatstream_mount  = "/chat"
var.chatstream_socket = "$run/chatstream.sock"
server.bind           = "127.0.0.1"
server.port           = $port
server.document-root  = "$top/www"
server.errorlog       = "$run/lighttpd.log"
server.pid-file       = "$run/lighttpd.pid"
index-file.names      = ( "index.html" )
mimetype.assign       = ( ".html" => "text/html; charset=utf-8", ".js" => "text/javascript", ".css" => "text/css" )
include "$top/conf/lighttpd-chatstream.conf"
CONF
lighttpd -f "$run/lighttpd.conf"
for _ in $(seq 50); do
	curl -fs "http://127.0.0.1:$port/chat/health" >/dev/null 2>&1 && break
	sleep 0.1
done

echo "\$ curl -N -H 'Content-Type: application/json' -d '{\"prompt\": \"Why SSE?\"}' http://127.0.0.1:$port/chat/"
curl -N -sS -H 'Content-Type: application/json' -d '{"prompt": "Why SSE?"}' "http://127.0.0.1:$port/chat/"
echo
echo "chatstream and lighttpd keep running on 127.0.0.1:$port (logs in $run)."
echo "The chat page: http://127.0.0.1:$port/"
echo "Stop them with: $0 stop"
