#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_resume_openai_redis.py: t_resume_openai.py again with `journal = redis`: the two chatstream
instances share nothing but a real redis-server (Debian's), started on loopback for this run, as
two hosts behind a load balancer would."""

import os
import sys

os.environ["CS_TEST_JOURNAL"] = "redis"
HERE = os.path.dirname(os.path.abspath(__file__))
os.execv(sys.executable, [sys.executable, os.path.join(HERE, "t_resume_openai.py")])
