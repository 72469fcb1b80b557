# SPDX-License-Identifier: ISC
"""testenv.py: where the integration tests find what they run (the
chatstream binary, the source tree, lighttpd, spawn-fcgi, curl), the mount
they use, and how long they may wait.

Environment (automake's AM_TESTS_ENVIRONMENT passes these):
  CHATSTREAM  the binary under test   (default: /work/main/src/chatstream)
  SRCDIR      the repository's top     (default: two levels above this file)
  LIGHTTPD    (default /usr/sbin/lighttpd), SPAWN_FCGI (default: spawn-fcgi on
  PATH or /usr/bin/spawn-fcgi), CURL (default: curl on PATH)
  TEST_TIME_SCALE  stretches every bound on waiting (default 2).
"""

import os
import shutil
import sys


HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


SRCDIR = os.environ.get("SRCDIR") or os.path.dirname(os.path.dirname(HERE))
CHATSTREAM = os.environ.get("CHATSTREAM") or "/work/main/src/chatstream"
LIGHTTPD = os.environ.get("LIGHTTPD") or "/usr/sbin/lighttpd"
SPAWN_FCGI = os.environ.get("SPAWN_FCGI") or shutil.which("spawn-fcgi") or "/usr/bin/spawn-fcgi"
CURL = os.environ.get("CURL") or shutil.which("curl") or "/usr/bin/curl"
MOUNT = "/chat/"
# Every bound on waiting (they are never assertions about speed: a test waits
# for something to happen and fails only if it never does) is multiplied by
# this: the waiting helpers below (read_until, wait_log, wait_text, wait_gone,
# read_pid, wait_ready, wait_http, curl's --max-time) apply it themselves.
# By default 2, room for a busy machine; TEST_TIME_SCALE=4 make check gives more.
TIME_SCALE = max(1.0, float(os.environ.get("TEST_TIME_SCALE") or 2))


def scaled(seconds):
    """A bound on waiting, in seconds, stretched by TEST_TIME_SCALE."""
    return seconds * TIME_SCALE
