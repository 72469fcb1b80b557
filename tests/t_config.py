#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_config.py: the command line and the configuration file as an operator meets
them: --help, --version, --check-config on the shipped conf/chatstream.conf and on
a broken file (every problem listed as FILE:LINE: message, exit status 1), and a
server that refuses to start on a broken file."""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import CHATSTREAM, SRCDIR, bail, diag, is_, ok, run  # noqa: E402


def cs(*args, env=None, stdin=subprocess.DEVNULL):
    e = dict(os.environ)
    e.pop("CHATSTREAM_CONF", None)
    e.update(env or {})
    p = subprocess.run([CHATSTREAM] + list(args), stdin=stdin, capture_output=True,
                       timeout=20, env=e)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


BROKEN = """\
threads = 4
threads = many
colour = blue
heartbeat = 0
[model demo]
backend = demo
tokens_per_second = fast
[model demo]
backend = demo
[model tool]
backend = exec
[model quoted]
backend = exec
command = /bin/echo "unbalanced
[model odd]
backend = demo
speed = 3
[server]
just some words
"""


def main():
    if not os.access(CHATSTREAM, os.X_OK):
        bail("chatstream binary not found: %s" % CHATSTREAM)
    rc, out, _ = cs("--help")
    is_(rc, 0, "--help exits 0")
    ok("--check-config" in out and "-s, --socket" in out, "--help lists the options")
    rc, out, _ = cs("--version")
    is_(rc, 0, "--version exits 0")
    ok(out.startswith("chatstream "), "--version prints the version")
    rc, _, err = cs("--no-such-option")
    is_(rc, 2, "an unknown option exits 2 with usage")

    shipped = os.path.join(SRCDIR, "conf", "chatstream.conf")
    rc, out, err = cs("-c", shipped, "--check-config")
    is_(rc, 0, "the shipped conf/chatstream.conf is valid")
    ok("OK" in out, "--check-config says OK")

    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "broken.conf")
        with open(bad, "w") as f:
            f.write(BROKEN)
        rc, out, err = cs("-c", bad, "--check-config")
        is_(rc, 1, "a broken file: --check-config exits 1")
        diag(err)
        expect = [
            (2, "threads"), (3, "unknown setting \"colour\""), (4, "heartbeat"),
            (18, "unknown section"), (19, "expected key = value"),
        ]
        for line, words in expect:
            ok(("%s:%d: " % (bad, line)) in err and words in err.split("%s:%d: " % (bad, line), 1)[1].split("\n", 1)[0],
               "line %d reported: %s" % (line, words))
        # model-level problems are found once the file parses
        with open(bad, "w") as f:
            f.write("\n".join(BROKEN.splitlines()[4:17]) + "\n")
        rc, out, err = cs("-c", bad, "--check-config")
        is_(rc, 1, "model errors: exit 1")
        diag(err)
        for line, words in [(3, "tokens_per_second"), (4, "defined twice"),
                            (6, "needs \"command\""), (10, "unbalanced"),
                            (13, "unknown option \"speed\"")]:
            ok(("%s:%d: " % (bad, line)) in err and words in err.split("%s:%d: " % (bad, line), 1)[1].split("\n", 1)[0],
               "model section problem on line %d: %s" % (line, words))
        # an openai section's drop_fields and max_tokens ceiling
        with open(bad, "w") as f:
            f.write("[model a]\nbackend = openai\nbase_url = http://127.0.0.1:9/v1\n"
                    "drop_fields = user model\n"
                    "[model b]\nbackend = openai\nbase_url = http://127.0.0.1:9/v1\n"
                    "drop_fields = user log$it\n"
                    "[model c]\nbackend = openai\nbase_url = http://127.0.0.1:9/v1\n"
                    "max_tokens = 0\n"
                    "[model d]\nbackend = openai\nbase_url = http://127.0.0.1:9/v1\n"
                    "drop_fields =  logit_bias\tuser  \nmax_tokens = 4096\n")
        rc, out, err = cs("-c", bad, "--check-config")
        is_(rc, 1, "openai field options: exit 1")
        diag(err)
        for line, words in [(4, "chatstream's to set"), (8, "field names"), (12, "max_tokens")]:
            ok(("%s:%d: " % (bad, line)) in err and words in err.split("%s:%d: " % (bad, line), 1)[1].split("\n", 1)[0],
               "openai section problem on line %d: %s" % (line, words))
        ok(":16:" not in err and ":17:" not in err,
           "a good drop_fields list and max_tokens ceiling are taken")
        rc, out, err = cs("-c", os.path.join(d, "missing.conf"), "--check-config")
        is_(rc, 1, "a missing file: exit 1")
        ok("cannot open" in err, "a missing file is named as such")
        # the server itself refuses to start on a broken file (CGI mode, no socket)
        rc, out, err = cs(env={"CHATSTREAM_CONF": bad, "REQUEST_METHOD": "GET",
                               "PATH_INFO": "/health"})
        is_(rc, 1, "chatstream will not serve with a broken configuration")
        is_(out, "", "and writes no response")
        with open(bad, "w") as f:
            f.write("default_model = nope\n[model demo]\nbackend = demo\n")
        rc, out, err = cs("-c", bad, "--check-config")
        ok(rc == 1 and "default_model \"nope\"" in err, "default_model must name a model")


run(main)
