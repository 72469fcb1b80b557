# SPDX-License-Identifier: ISC
"""burn_child.py INTERVAL BURN_MS: the "model" command of the reconnect-window benchmark.

Stands for a local model: prints a token every INTERVAL seconds and spends
BURN_MS of CPU on each (a busy loop), for at most 120 seconds, so the CPU a
stream costs grows with the tokens it makes.  Reads (and ignores) the prompt
on stdin.  Default signal handling: SIGTERM ends it at once.
"""
import sys
import time


def main():
    interval, burn = float(sys.argv[1]), float(sys.argv[2]) / 1000.0
    sys.stdin.read()
    end = time.monotonic() + 120
    i = 0
    while time.monotonic() < end:
        t = time.process_time()
        while time.process_time() - t < burn:
            pass
        sys.stdout.write("tok%d " % i)
        sys.stdout.flush()
        i += 1
        time.sleep(max(0.0, interval - burn))


if __name__ == "__main__":
    main()
