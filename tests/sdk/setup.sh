#!/usr/bin/env bash
# setup.sh: installs what tests/t_sdk.py needs, only what is missing; safe to
# run again:
#   - node and npm (Debian's nodejs and npm, with apt-get, as root) when there
#     is no node or no npm;
#   - the official OpenAI Node SDK (npm "openai"), the exact version pinned in
#     package.json / package-lock.json, into DIR/node_modules with `npm ci`
#     (nothing else is installed: its peer dependencies are all optional).
# DIR is the first argument, by default tests/sdk itself; the test passes a
# temp dir when the source tree is read-only (make distcheck); package.json,
# package-lock.json and sdk.mjs are then copied there, since sdk.mjs must sit
# next to its node_modules.
# Usage: tests/sdk/setup.sh [DIR]
# Exit status: 0 ready, 1 something could not be installed (the message says what).
# SPDX-License-Identifier: ISC
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
deps=${1:-$here}
export DEBIAN_FRONTEND=noninteractive

say() { echo "sdk/setup: $*" >&2; }

updated=no
apt_install() {
	if [ "$(id -u)" -ne 0 ]; then
		say "missing: $*; run as root (or: sudo $0)"
		exit 1
	fi
	if [ "$updated" = no ]; then
		apt-get update -q >&2
		updated=yes
	fi
	apt-get install -y -q --no-install-recommends "$@" >&2
}

command -v node >/dev/null 2>&1 || apt_install nodejs
# Debian's nodejs comes without npm (another repository's nodejs has it built in).
command -v npm >/dev/null 2>&1 || apt_install npm
major=$(node -e 'process.stdout.write(process.versions.node.split(".")[0])')
if [ "$major" -lt 20 ]; then
	say "node $(node --version) is too old for the pinned openai SDK (needs >= 20)"
	exit 1
fi

mkdir -p "$deps"
deps=$(cd "$deps" && pwd)
if [ "$deps" != "$here" ]; then
	cp "$here/package.json" "$here/package-lock.json" "$here/sdk.mjs" "$deps/"
fi
want=$(node -e 'process.stdout.write(require(process.argv[1]).dependencies.openai)' \
	"$here/package.json")
have=$(node -e 'try { process.stdout.write(require(process.argv[1]).version) } catch (e) {}' \
	"$deps/node_modules/openai/package.json" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
	say "installing openai@$want in $deps (npm ci)"
	(cd "$deps" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
fi
have=$(node -e 'process.stdout.write(require(process.argv[1]).version)' \
	"$deps/node_modules/openai/package.json")
if [ "$have" != "$want" ]; then
	say "openai $have installed, $want wanted"
	exit 1
fi
say "ready: node $(node --version), openai $have in $deps"
