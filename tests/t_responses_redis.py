#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_responses_redis.py: t_responses.py again with `journal = redis`: background
responses, their retrieval, replay and cancel through a real redis-server
(Debian's), started on loopback for this run."""

import os
import sys

os.environ["CS_TEST_JOURNAL"] = "redis"
HERE = os.path.dirname(os.path.abspath(__file__))
os.execv(sys.executable, [sys.executable, os.path.join(HERE, "t_responses.py")])
