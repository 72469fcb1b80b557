#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_front_apache_fcgid.py: Apache 2.4 + mod_fcgid spawning chatstream itself,
with the shipped conf/apache-fcgid.conf Included as it is (the test Defines
the binary and config: the snippet's documented knobs).  A second Apache,
for the heartbeat check, Defines a 2 s FcgidIOTimeout as well.  chatstream's
log (its stderr) lands in Apache's error log.

Apache runs in the foreground (apache2 -D FOREGROUND -f generated.conf, own
ServerRoot, Listen 127.0.0.1:PORT, event MPM, workers and chatstream as
www-data; FcgidIPCDir and FcgidProcessTableFile in the temp dir).  The
chatstream config has threads = 1: mod_fcgid sends each process one request
at a time, so the 50 concurrent streams are 50 chatstream processes.

The control for the heartbeat check is a second class (a copy of the
binary under /chat-ctl, FcgidCmdOptions InitialEnv) whose chatstream has a
30 s heartbeat: the 2 s FcgidIOTimeout cuts its stall."""

import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import frontcheck as fc  # noqa: E402
from harness import (APACHE2, APACHE_MODULES, CHATSTREAM, Apache, FrontFixture, ok,  # noqa: E402
                     require_front, run, share_with_web_user, snippet_path, web_user_ids)

MODULES = ["mpm_event", "authz_core", "alias", "env", "fcgid"]


def main():
    require_front(APACHE2, *[os.path.join(APACHE_MODULES, "mod_%s.so" % m) for m in MODULES])
    fx = FrontFixture("apache-fcgid")
    snippet = snippet_path("apache-fcgid.conf")
    script, piddir = fc.write_quiet_script(fx, spool_owner=web_user_ids())
    conf = fx.write_config(fc.front_config(script, threads=1))
    ctl_conf = fx.write_config(fc.front_config(script, threads=1, heartbeat=30), "control.conf")
    ctl_bin = fx.path("chatstream-control")
    shutil.copy2(CHATSTREAM, ctl_bin)          # another inode: another mod_fcgid class
    share_with_web_user(fx, conf, ctl_conf, ctl_bin)
    ids = web_user_ids()

    def body(name, io_timeout=None, control=False):
        ipc = fx.path(name + "-fcgid")
        os.makedirs(ipc)
        if ids:
            os.chown(ipc, *ids)
        lines = [
            'FcgidIPCDir "%s"' % ipc,
            'FcgidProcessTableFile "%s/table"' % ipc,
            'Define CHATSTREAM_BIN "%s"' % CHATSTREAM,
            'Define CHATSTREAM_CONFIG "%s"' % conf,
        ]
        if io_timeout:
            lines.append("Define CHATSTREAM_IO_TIMEOUT %d" % io_timeout)
        lines.append('Include "%s"' % snippet)
        if control:
            lines += [
                "# the control: a second class with a 30 s heartbeat",
                'FcgidCmdOptions "%s" InitialEnv CHATSTREAM_CONF=%s IOTimeout %d'
                % (ctl_bin, ctl_conf, io_timeout),
                'Alias /chat-ctl "%s"' % ctl_bin,
                "<Location /chat-ctl>",
                "    SetHandler fcgid-script",
                "    Options +ExecCGI",
                "    Require all granted",
                "</Location>",
            ]
        return "\n".join(lines)

    # the snippet as shipped
    ap = fx.start_front(Apache(fx, MODULES, body("apache")))
    log = ap.log_text

    def url(p):
        return ap.url(p, "/chat/")

    # the snippet with FcgidIOTimeout 2 (its CHATSTREAM_IO_TIMEOUT), for the
    # heartbeat check only: under a heavy load, starting processes for the
    # other checks may take longer than 2 s
    hb = fx.start_front(Apache(fx, MODULES, body("hb", fc.SERVER_TIMEOUT, control=True),
                               name="hb"))

    def hb_url(p):
        return hb.url(p, "/chat/")

    fc.check_routes(fx, url, "fcgid", log, path_info=True)
    fc.check_too_large(fx, url, "fcgid")

    stall = fc.start_stall(fx, hb_url)
    control = fc.start_stall(fx, lambda p: hb.url(p, "/chat-ctl/"))
    fc.check_unbuffered(fx, url, "fcgid")
    fc.check_stall_survives(stall, "fcgid: heartbeats")
    fc.check_stall_cut(control, "control (heartbeat 30 s)", hb.log_text)

    fc.check_abort(fx, url, "fcgid: abort", log, piddir, "fcgidabort")
    fc.check_big(fx, url, "fcgid")
    # a burst of new streams waits for mod_fcgid to start processes (its
    # request handler retries once a second): up to ~2.5 s here
    fc.check_concurrent(fx, url, "fcgid")
    ok(ap.proc.poll() is None and hb.proc.poll() is None, "both Apaches are still running")


run(main)
