"""Run a test's helper script in a child process that may SIGKILL itself (a kill nothing can
clean up), and check how it ended."""

from __future__ import annotations

import json
import signal
import subprocess
import sys


def run_script(code: str, args: dict, *, expect_killed: bool, timeout: float = 900) -> None:
    """``python -c code json(args)``; it must die by SIGKILL, or finish printing ``finished``."""
    r = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True,
                       timeout=timeout)
    if expect_killed:
        assert r.returncode == -signal.SIGKILL, (r.returncode, r.stdout, r.stderr[-2000:])
    else:
        assert r.returncode == 0 and "finished" in r.stdout, r.stderr[-3000:]
