#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_deltas_redis.py: t_deltas.py again with `journal = redis`: tool calls,
reasoning and refusals replayed from a real redis-server (Debian's), started
on loopback for this run."""

import os
import sys

os.environ["CS_TEST_JOURNAL"] = "redis"
HERE = os.path.dirname(os.path.abspath(__file__))
os.execv(sys.executable, [sys.executable, os.path.join(HERE, "t_deltas.py")])
