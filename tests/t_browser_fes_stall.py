#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_browser_fes_stall.py: tests/t_browser_fes.py (fetch-event-source on
POST / through three cuts) over a network that stalls before it drops:
the proxy passes its bytes, waits, and only then cuts, so the library
always reads everything before the cut, including an event cut short
after its id: line.  fetch-event-source takes an id: line as the last
event id as soon as it reads it, before the event is complete; the
answer must still come whole, each token once, from one stream."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, HERE)
from harness import run  # noqa: E402
import t_browser_fes  # noqa: E402

if __name__ == "__main__":
    run(lambda: t_browser_fes.main(stall=0.3, name="browser-fes-stall"))
