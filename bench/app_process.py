"""Processes that run the app itself (not gunicorn): the follow-up step, `flask worker`.

`app_env(env)` is the environment such a process gets: the bench database, the SMTP sink, the
secret key and the instance folder of the session, configured as production configures them
(`EVENTSITE_ENV=production` under the harness). With the test suite's stand-in environment (no
harness), the same settings are read from the suite's app, in development mode.

`run_python(module, payload, env)` runs `python -m module` in its own process group with `payload`
as JSON on stdin, and returns its JSON answer, its wall time and its own resource usage
(`os.wait4`: the CPU time of that one process, not of everything we started, and its `ru_maxrss`,
which Linux carries over from the parent through fork and exec: a child of the 170 MB bench process
reports at least 170 MB, so the child measures its own peak, VmHWM, when that matters).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from bench.harness import ROOT, BenchError


def app_env(env) -> dict[str, str]:
    """Environment variables for a process of the app against the session's database."""
    if hasattr(env, "server_env"):  # bench.harness.BenchEnvironment
        out = env.server_env()
        out["EVENTSITE_BASE_URL"] = env.base_url if getattr(env, "server", None) and env.server.port else "http://127.0.0.1"
    else:  # the test suite's stand-in: its app's settings
        cfg = env.app.config
        out = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTSITE_", "STRIPE_"))}
        out.update({
            "EVENTSITE_ENV": "development",
            "DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": cfg["SECRET_KEY"],
            "EVENTSITE_MAIL_URL": env.sink.url if getattr(env, "sink", None) else cfg["EVENTSITE_MAIL_URL"],
            "EVENTSITE_BASE_URL": cfg["EVENTSITE_BASE_URL"],
            "EVENTSITE_INSTANCE_PATH": env.app.instance_path,
            "EVENTSITE_RATE_LIMITS": "off",
        })
    out["PYTHONPATH"] = str(ROOT)
    return out


@dataclass
class ChildResult:
    answer: dict
    wall_s: float
    max_rss_mb: float  # ru_maxrss: at least the parent's RSS when it was started (see the module doc)
    cpu_s: float  # user + system CPU time of the process
    returncode: int
    stderr_tail: str = ""  # the end of what it logged (tracebacks of failed tasks)


def run_python(module: str, payload: dict, env: dict[str, str], *, timeout: float) -> ChildResult:
    """`python -m module` with `payload` on stdin; its JSON answer (the last line it prints) and its
    own rusage, read with `os.wait4` when it exits. Killed (its process group) after `timeout`."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        timer = threading.Timer(timeout, _kill_group, (proc.pid,))
        timer.start()
        try:
            proc.stdin.write(json.dumps(payload).encode())
            proc.stdin.close()
            out = proc.stdout.read()
            proc.stdout.close()
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        errors = err.read().decode(errors="replace")
    if proc.returncode < 0 and wall >= timeout:
        raise BenchError(f"{module} did not finish within {timeout:.0f} s:\n{errors[-3000:]}")
    try:
        answer = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError(f"{module} failed ({proc.returncode}):\n{errors[-3000:]}") from None
    return ChildResult(answer, wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, proc.returncode,
                       errors[-3000:])


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
