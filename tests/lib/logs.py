# SPDX-License-Identifier: ISC
"""logs.py: reading what the processes under test wrote: text files, a line
that appears in time, and a sanitizer's crash report cut short.
"""

import re
import time

from testenv import scaled


def crash_summary(lines):
    """The sanitizer's (or abort's) report of the last crash in a log, cut to
    its first line, the first frames of its first stack and its SUMMARY."""
    start = None
    for i, ln in enumerate(lines):
        if "ERROR: AddressSanitizer" in ln or "runtime error:" in ln or "ERROR: LeakSanitizer" in ln:
            start = i
    if start is None:
        return [ln for ln in lines[-3:] if ln.strip()]
    out = [lines[start].strip()]
    frames = 0
    for ln in lines[start + 1:]:
        s = ln.strip()
        if s.startswith("#") and frames < 4:
            out.append(s)
            frames += 1
        elif frames and not s.startswith("#"):
            break
    out += [ln.strip() for ln in lines[start:] if ln.startswith("SUMMARY:")][:1]
    return out


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def wait_text(read, regex, timeout=5.0):
    """The first line of read() (a callable returning text) that matches
    regex, polling (bounded); None if none came in timeout."""
    rx = re.compile(regex)
    timeout = scaled(timeout)
    end = time.monotonic() + timeout
    for _ in range(int(timeout / 0.02) + 2):
        for ln in read().splitlines():
            if rx.search(ln):
                return ln
        if time.monotonic() > end:
            return None
        time.sleep(0.02)
    return None
