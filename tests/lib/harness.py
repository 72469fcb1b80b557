# SPDX-License-Identifier: ISC
"""harness.py: TAP output and fixtures for chatstream's integration tests:
a temp dir, chatstream under real spawn-fcgi, real lighttpd including the
shipped conf/lighttpd-chatstream.conf, real curl, and the demo model's answer.
Everything lives in a module of its own and is re-exported here, so a test
says `from harness import ...`:

  testenv   the binaries, SRCDIR, MOUNT and TEST_TIME_SCALE (scaled())
  tap       plan, ok, is_, like, diag, skip, todo_ok, done, bail, run
  procs     processes: start, stop, teardown, pids, free ports, scripts
  models    the demo model's answer; the held exec model (Held)
  clients   curl (CurlStream, Response, StreamView), raw HTTP, FastCGI params
  logs      reading logs and files; a crash report cut short
  testconf  config texts (config, BASE_GLOBALS, DEMO_FAST)
  checks    check_stream: what every successful stream must satisfy
  fronts    lighttpd, Apache, nginx in front of chatstream
  fixture   Chatstream (unix socket or TCP), Fixture, FrontFixture, setup

Environment: see testenv.py (CHATSTREAM, SRCDIR, LIGHTTPD, SPAWN_FCGI, CURL,
TEST_TIME_SCALE); KEEP_TMP=1 keeps the temp dir even when every test passed.

Limits: loopback only (127.0.0.1 and unix sockets); one lighttpd and any
number of chatstream instances per test file; every wait is bounded in both
count and time.  Teardown (atexit, and on SIGTERM/SIGINT/SIGHUP) kills every
process it started, by pid / process group of its own children only; each
child also gets PR_SET_PDEATHSIG so nothing outlives a killed test runner.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from testenv import (  # noqa: E402,F401
    CHATSTREAM,
    CURL,
    LIGHTTPD,
    MOUNT,
    scaled,
    SPAWN_FCGI,
    SRCDIR,
    TIME_SCALE)
from tap import (  # noqa: E402,F401
    _clean,
    _out,
    _short,
    _tap,
    bail,
    diag,
    done,
    failed,
    is_,
    isnt,
    like,
    note,
    ok,
    plan,
    run,
    skip,
    skip_all,
    todo_ok)
from procs import (  # noqa: E402,F401
    _alive,
    _child_setup,
    _children,
    _fixtures,
    _on_signal,
    _popen,
    _PR_SET_PDEATHSIG,
    _state_dir,
    _stop,
    free_port,
    read_pid,
    script,
    teardown,
    wait_gone)
from models import (  # noqa: E402,F401
    _held_tags,
    CONTROL,
    DEMO_TAIL,
    demo_text,
    demo_tokens,
    Held,
    HELD_SCRIPT,
    TOKEN_RE,
    word_count)
from clients import (  # noqa: E402,F401
    _parse_header_blocks,
    CurlStream,
    fcgi_params,
    http_request,
    Response,
    StreamView)
from logs import (  # noqa: E402,F401
    crash_summary,
    read_text,
    wait_text)
from testconf import (  # noqa: E402,F401
    _val,
    BASE_GLOBALS,
    config,
    DEMO_FAST,
    JOURNAL_DEFAULTS)
from checks import (  # noqa: E402,F401
    check_stream)
from fronts import (  # noqa: E402,F401
    Apache,
    APACHE2,
    APACHE_MIME_TYPES,
    APACHE_MODULES,
    executable,
    Lighttpd,
    LighttpdConf,
    NGINX,
    Nginx,
    NGINX_FASTCGI_PARAMS,
    require_front,
    share_with_web_user,
    snippet_path,
    wait_http,
    WEB_USER,
    web_user_ids,
    WebServer)
from fixture import (  # noqa: E402,F401
    Chatstream,
    ChatstreamTCP,
    Fixture,
    FrontFixture,
    require_tools,
    setup)
