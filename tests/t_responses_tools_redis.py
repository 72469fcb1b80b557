#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_responses_tools_redis.py: t_responses_tools.py again with `journal = redis`:
item_reference items resolved from responses a real redis-server (Debian's),
started on loopback for this run, keeps."""

import os
import sys

os.environ["CS_TEST_JOURNAL"] = "redis"
HERE = os.path.dirname(os.path.abspath(__file__))
os.execv(sys.executable, [sys.executable, os.path.join(HERE, "t_responses_tools.py")])
