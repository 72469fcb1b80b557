#!/usr/bin/env bash
# setup.sh: installs what tests/t_browser.py needs on Debian 12, as root, and
# only what is missing; safe to run again:
#   - Debian's chromium (/usr/bin/chromium), plus fonts for the page's text
#     (CJK and emoji in the demo answer) so the screenshot is legible;
#   - node and npm (Debian's nodejs, npm) when there is no node;
#   - playwright-core and @microsoft/fetch-event-source (a client library the
#     tests run in the page), the exact versions pinned in
#     package.json/package-lock.json, into DIR/node_modules (npm ci); DIR is
#     the first argument, by default
#     tests/browser itself (the test passes a temp dir when the source tree
#     is read-only, as in make distcheck).
# Usage: tests/browser/setup.sh [DIR]
# playwright-core downloads no browser: the test launches /usr/bin/chromium.
# Never run `npx playwright install` here.
# Exit status: 0 ready, 1 something could not be installed (the message says what).
# SPDX-License-Identifier: ISC
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
deps=${1:-$here}
export DEBIAN_FRONTEND=noninteractive
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

say() { echo "browser/setup: $*" >&2; }

# --- Debian packages -------------------------------------------------------
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt_install() {
	if [ "$updated" = no ]; then
		apt-get update -q -o DPkg::Lock::Timeout=300 >&2
		updated=yes
	fi
	apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" >&2
}
updated=no
need=()                  # without these the test cannot run
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
fonts=()                 # without these the screenshots show boxes for CJK and emoji
for p in fonts-liberation fonts-noto-cjk fonts-noto-color-emoji; do
	is_installed "$p" || fonts+=("$p")
done
if [ "$(id -u)" -ne 0 ]; then
	if [ "${#need[@]}" -gt 0 ] || ! command -v npm >/dev/null 2>&1; then
		say "missing: ${need[*]} npm; run as root (or: sudo $0)"
		exit 1
	fi
	[ "${#fonts[@]}" -eq 0 ] || say "fonts missing (screenshots only): ${fonts[*]}"
elif [ "$((${#need[@]} + ${#fonts[@]}))" -gt 0 ]; then
	say "installing ${need[*]} ${fonts[*]}"
	apt_install "${need[@]}" "${fonts[@]}"
fi
# Debian's nodejs comes without npm (another repository's nodejs has it built in).
if ! command -v npm >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		say "npm is missing; run as root (or: sudo $0)"
		exit 1
	fi
	say "installing npm"
	apt_install npm
fi
if [ ! -x /usr/bin/chromium ]; then
	say "/usr/bin/chromium is still missing"
	exit 1
fi

# --- the npm packages -----------------------------------------------------
mkdir -p "$deps"
deps=$(cd "$deps" && pwd)
if [ "$deps" != "$here" ]; then
	cp "$here/package.json" "$here/package-lock.json" "$deps/"
fi
# "name@version" of each dependency whose installed version is not the pinned one
stale() {
	node -e '
		const [pkg, dir] = process.argv.slice(1);
		for (const [n, v] of Object.entries(require(pkg).dependencies)) {
			let have = "";
			try { have = require(dir + "/node_modules/" + n + "/package.json").version; } catch (e) {}
			if (have !== v) console.log(n + "@" + v);
		}' "$here/package.json" "$deps"
}
missing=$(stale)
if [ -n "$missing" ]; then
	say "installing $(echo $missing) in $deps (npm ci)"
	(cd "$deps" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
missing=$(stale)
if [ -n "$missing" ]; then
	say "still not installed: $(echo $missing)"
	exit 1
fi
have=$(node -e 'process.stdout.write(require(process.argv[1]).version)' \
	"$deps/node_modules/playwright-core/package.json")
say "ready: $(/usr/bin/chromium --version 2>/dev/null | head -1), node $(node --version), playwright-core $have"
