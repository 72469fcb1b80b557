#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_resume_window_redis.py: t_resume_window.py again with `journal = redis`:
the chatstream instances share nothing but a real redis-server started on
loopback for this run, as hosts behind a load balancer would."""

import os
import sys

os.environ["CS_TEST_JOURNAL"] = "redis"
HERE = os.path.dirname(os.path.abspath(__file__))
os.execv(sys.executable, [sys.executable, os.path.join(HERE, "t_resume_window.py")])
