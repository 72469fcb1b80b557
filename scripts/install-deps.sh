#!/usr/bin/env bash
# install-deps.sh: installs the Debian 12 packages chatstream needs to build, test and run the demo.
# Run as root.  Installs only what is missing; safe to run again.
#   scripts/install-deps.sh            what the build, the demo and `make check` need
#   scripts/install-deps.sh --tests    also what the whole suite needs (scripts/test-all.sh):
#                                      the browser and SDK tests' chromium and node, systemd-analyze
#                                      (t_front_systemd), openssl (t_relay_faults), the CPU hogs
#                                      of scripts/test-loaded.sh, the Debian packaging tools
#                                      (t_deb) (the npm packages are installed by
#                                      tests/browser/setup.sh and tests/sdk/setup.sh)
# SPDX-License-Identifier: ISC
set -euo pipefail

packages=(
	build-essential autoconf automake libtool pkg-config   # the toolchain
	libfcgi-dev libjson-c-dev libcurl4-openssl-dev          # libraries chatstream links
	libhiredis-dev redis-server                             # the Redis journal store, and the Redis its tests run
	lighttpd spawn-fcgi curl python3                        # the front server and clients the tests run
	apache2 libapache2-mod-fcgid nginx                      # the other front servers the recipes are tested on
	procps                                                  # ps/pkill used by the test scripts
	groff-base                                              # t_man.py: the man pages render without warnings
	clang libclang-rt-dev                                   # --enable-fuzzing: libFuzzer and the sanitizers (make fuzz)
)
if [ "${1:-}" = --tests ]; then
	packages+=(chromium stress-ng systemd openssl prometheus)   # prometheus: t_metrics.py scrapes with the real server
	packages+=(dpkg-dev debhelper fakeroot lintian)        # tests/t_deb.py builds and checks the .deb
	# Debian's nodejs and npm, unless a node is there already (another repository's
	# nodejs has npm built in and conflicts with Debian's npm)
	command -v node >/dev/null 2>&1 || packages+=(nodejs)
	command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: everything is installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The tests start their own servers on loopback; keep the packages' system
# services (lighttpd, apache2, nginx on port 80, redis on 6379) from starting at install.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
