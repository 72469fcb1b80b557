# SPDX-License-Identifier: ISC
"""slow_child.py PIDDIR INTERVAL [COUNT]: the "model" command of the disconnect benchmark.

Reads the prompt from stdin (chatstream's input = prompt), writes its own pid to
PIDDIR/<prompt>.pid so the benchmark can watch it, then prints a token every
INTERVAL seconds (only COUNT tokens, then silence, when COUNT is given) for at
most 120 seconds.  Default signal handling: SIGTERM
ends it at once, so the time to its exit is the time chatstream took to stop it.
"""
import os
import sys
import time


def main():
    piddir, interval = sys.argv[1], float(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else -1
    tag = sys.stdin.read().strip()
    tag = "".join(c for c in tag if c.isalnum() or c in "-_")[:64] or "untagged"
    tmp = os.path.join(piddir, ".%s.%d" % (tag, os.getpid()))
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(tmp, os.path.join(piddir, tag + ".pid"))
    end = time.monotonic() + 120
    i = 0
    while time.monotonic() < end:
        if i != count:
            sys.stdout.write("tok%d " % i)
            sys.stdout.flush()
            i += 1
        time.sleep(interval)


if __name__ == "__main__":
    main()
