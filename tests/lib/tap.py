# SPDX-License-Identifier: ISC
"""tap.py: the Test Anything Protocol as automake's tap-driver.sh reads it:
plan, test points (ok, is_, isnt, like, skip, todo_ok), diagnostics, and the
end of a test file (done, skip_all, bail), which tears down every process
the test started (procs.teardown).
"""

import re
import sys
import traceback


_tap = {"planned": None, "n": 0, "failed": 0, "finished": False}


def _out(line):
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:      # the reader went away: keep tearing down quietly
        pass


def _clean(name):
    # a test name must not contain '#' (it starts a directive) nor newlines
    return str(name).replace("#", "\\#").replace("\n", " ")


def plan(n):
    """Announces n tests up front (optional: done() prints the plan otherwise)."""
    _tap["planned"] = n
    _out("1..%d" % n)


def diag(msg):
    """A '# ' comment on stdout (kept in the test's .log by automake)."""
    for line in str(msg).splitlines() or [""]:
        _out("# " + line)


note = diag


def ok(cond, name=""):
    """One test point; returns bool(cond)."""
    _tap["n"] += 1
    cond = bool(cond)
    if not cond:
        _tap["failed"] += 1
    _out("%s %d - %s" % ("ok" if cond else "not ok", _tap["n"], _clean(name)))
    return cond


def _short(v, limit=600):
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


def is_(got, expected, name=""):
    """ok(got == expected), with both shown when they differ."""
    r = ok(got == expected, name)
    if not r:
        diag("     got: " + _short(got))
        diag("expected: " + _short(expected))
        if isinstance(got, str) and isinstance(expected, str):
            k = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b),
                     min(len(got), len(expected)))
            diag("first difference at index %d: got %r, expected %r"
                 % (k, got[k:k + 20], expected[k:k + 20]))
    return r


def isnt(got, unexpected, name=""):
    r = ok(got != unexpected, name)
    if not r:
        diag("     got: " + _short(got) + " (must differ)")
    return r


def like(got, regex, name=""):
    r = ok(isinstance(got, str) and re.search(regex, got) is not None, name)
    if not r:
        diag("     got: " + _short(got))
        diag("    want: /%s/" % regex)
    return r


def skip(reason, count=1):
    for _ in range(count):
        _tap["n"] += 1
        _out("ok %d # skip %s" % (_tap["n"], _clean(reason)))


def skip_all(reason):
    """The whole file is skipped: '1..0 # SKIP reason', exit status 0."""
    _out("1..0 # SKIP %s" % _clean(reason))
    _tap["finished"] = True
    procs.teardown()
    sys.exit(0)


def bail(reason):
    """'Bail out!': the test file cannot go on.  Exit status 1."""
    _out("Bail out! %s" % _clean(reason))
    _tap["finished"] = True
    _tap["failed"] += 1
    procs.teardown()
    sys.exit(1)


def failed():
    return _tap["failed"]


def done():
    """Prints the plan when it was not announced; exits 0 only when every
    test passed and the count matches the plan."""
    _tap["finished"] = True
    n = _tap["n"]
    status = 0
    if _tap["planned"] is None:
        _out("1..%d" % n)
        if n == 0:
            status = 1
    elif _tap["planned"] != n:
        diag("planned %d tests but ran %d" % (_tap["planned"], n))
        status = 1
    if _tap["failed"]:
        diag("failed %d of %d tests" % (_tap["failed"], n))
        status = 1
    procs.teardown()
    sys.exit(status)


def run(main):
    """Runs main(); an unexpected exception becomes a failed test point with
    the traceback as diagnostics, then done()."""
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - report anything
        ok(False, "unexpected exception: %s: %s" % (type(e).__name__, e))
        diag(traceback.format_exc())
        for fx in list(procs._fixtures):
            fx.dump_logs()
    done()


def todo_ok(cond, name, reason):
    """A TAP TODO test point ('# TODO reason'): automake's tap-driver counts
    a failure as XFAIL (the suite passes) and a pass as XPASS (the suite
    fails, so the TODO gets removed once the cause is fixed)."""
    _tap["n"] += 1
    cond = bool(cond)
    _out("%s %d - %s # TODO %s" % ("ok" if cond else "not ok", _tap["n"], _clean(name),
                                   _clean(reason)))
    return cond


# Last: procs imports _out from here.
import procs  # noqa: E402
