#!/usr/bin/env bash
# setup.sh: installs what the tests driving OpenAI-compatible JS clients
# (tests/t_sdk*.py, tests/t_resume_openai*.py) need, only what is missing;
# safe to run again:
#   - node and npm (Debian's nodejs and npm, with apt-get, as root) when there
#     is no node or no npm;
#   - the clients, the exact versions pinned in package.json /
#     package-lock.json, into DIR/node_modules with `npm ci`: the official
#     OpenAI Node SDK (npm "openai"), the Vercel AI SDK ("ai" with
#     "@ai-sdk/openai") and LangChain JS ("@langchain/openai" with
#     "@langchain/core"), and what they depend on.  Nothing is fetched when
#     every pinned version is installed already.
# DIR is the first argument, by default tests/sdk itself; the test passes a
# temp dir when the source tree is read-only (make distcheck); package.json,
# package-lock.json and the scripts (*.mjs) are then copied there, since they
# must sit next to their node_modules.
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
	say "node $(node --version) is too old for the pinned clients (they need >= 20)"
	exit 1
fi

mkdir -p "$deps"
deps=$(cd "$deps" && pwd)
# Tests run in parallel (make -j) and each may call this: one install at a time.
exec 9<"$deps"
flock -w 600 9 || { say "another setup.sh held $deps for 600 s"; exit 1; }
if [ "$deps" != "$here" ]; then
	cp "$here/package.json" "$here/package-lock.json" "$here"/*.mjs "$deps/"
fi
# The pinned dependencies not installed at their version, one "name@version" a line.
missing() {
	node -e '
const fs = require("fs"), path = require("path");
const [pkg, dir] = process.argv.slice(1);
for (const [name, want] of Object.entries(require(pkg).dependencies)) {
  let have = "";
  try {
    have = JSON.parse(fs.readFileSync(path.join(dir, "node_modules", name, "package.json"))).version;
  } catch (e) {}
  if (have !== want) console.log(name + "@" + want + (have ? " (" + have + " installed)" : ""));
}' "$here/package.json" "$deps"
}
if [ -n "$(missing)" ]; then
	say "installing $(missing | tr '\n' ' ')in $deps (npm ci)"
	(cd "$deps" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
fi
if [ -n "$(missing)" ]; then
	say "still missing after npm ci: $(missing | tr '\n' ' ')"
	exit 1
fi
say "ready: node $(node --version), $(node -e '
const d = require(process.argv[1]).dependencies;
process.stdout.write(Object.entries(d).map(([n, v]) => n + " " + v).join(", "));' \
	"$here/package.json") in $deps"
