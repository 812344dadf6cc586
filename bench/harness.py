"""What a benchmark runs against, and its clean-up.

`BenchEnvironment` (a context manager) sets up, in this order:
1. an instance folder in a temporary directory;
2. a local SMTP sink (aiosmtpd on loopback) that counts what arrives: the web processes never send
   mail (the outbox does), but the app is configured exactly as in production; and the fake Stripe
   API the tests use (tests/payments/fake_stripe.py, on loopback), which gunicorn reaches through
   `STRIPE_SECRET_KEY` / `STRIPE_WEBHOOK_SECRET` / `STRIPE_API_BASE` (paid checkout, issue 7);
3. a fresh PostgreSQL database `eventsite_bench_<random>` on 127.0.0.1:5432 and its schema
   (`flask db upgrade` when `migrations/versions/` has a revision, else `db.create_all()`);
4. an app in this process, bound to that database, to seed data through the services and to check
   the outcome in the database;
5. gunicorn serving `bench.wsgi_bench:app` (the real app plus the two floor routes) on a free
   loopback port, in production mode, rate limits off, waiting for `/healthz`.

On leaving, even on an error, Ctrl-C or SIGTERM: the load generator and gunicorn are stopped (their
whole process groups), the database is dropped, the sink stopped and the temporary folder removed.

`run_load(spec)` runs the load generator (`bench/loadgen.py`) in its own process and returns what
it measured. Nothing here talks to anything but 127.0.0.1.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
ADMIN_URL = os.environ.get("EVENTSITE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
HOST = "127.0.0.1"
DEFAULT_WORKERS = 2  # chosen with `python -m bench --tune` on this 2-core machine (see bench/README.md)
DEFAULT_THREADS = 1  # one thread per worker: measured best for the registration rush (bench/README.md)
LOADGEN_GRACE_SECONDS = 60  # beyond a spec's own time limit, before the load generator is killed
STRIPE_TEST_KEY = "sk_test_eventsite_bench"  # the fake Stripe accepts any `sk_...` key


class BenchError(RuntimeError):
    """The benchmark could not be set up or run (not a failed check: those are reported)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _tool(name: str) -> list[str]:
    """`.venv/bin/<name>`, or the same module run by this interpreter when there is no .venv."""
    path = VENV_BIN / name
    return [str(path)] if path.exists() else [sys.executable, "-m", name]


def _terminate_group(proc: subprocess.Popen | None, *, grace: float = 15.0) -> None:
    """SIGTERM to the process group we started (start_new_session=True), SIGKILL after `grace`."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextlib.contextmanager
def signals_as_interrupts():
    """SIGTERM and SIGHUP stop the benchmark like Ctrl-C does, so every `finally` runs."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# --- PostgreSQL --------------------------------------------------------------------------------

class BenchDatabase:
    """A database of its own on the local PostgreSQL (user postgres, trust), dropped at the end."""

    def __init__(self, admin_url: str = ADMIN_URL):
        self.admin_url = admin_url
        self.name = f"eventsite_bench_{secrets.token_hex(4)}"
        self.created = False

    @property
    def url(self) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.name}"

    def create(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
        except psycopg.OperationalError as e:
            raise BenchError(f"PostgreSQL at {self.admin_url} does not answer: {e}") from e
        self.created = True

    def drop(self) -> None:
        if not self.created:
            return
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.created = False

    def server_version(self) -> str:
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]


def has_migrations() -> bool:
    versions = ROOT / "migrations" / "versions"
    return versions.is_dir() and any(p.suffix == ".py" for p in versions.iterdir())


# --- the SMTP sink -----------------------------------------------------------------------------

class SmtpSink:
    """A minimal SMTP server on loopback, a thread per connection, that keeps a count, the
    recipients, and each message's Message-ID and arrival time (`time.monotonic()`, for the outbox
    delivery scenario), not the messages.

    It speaks what smtplib (the app's SMTP backend) needs: HELO/EHLO without extensions, MAIL, RCPT,
    DATA, RSET, NOOP, QUIT. It replaced aiosmtpd, which read DATA line by line in asyncio: 1.5 ms of
    this process's CPU per 14 KB follow-up, on the same two cores as the outbox workers it measures
    (their own cost is 6-7 ms per email), and every worker waited for it before its next message.
    Reading DATA in 64 KiB chunks up to the terminating CRLF.CRLF costs a small fraction of that."""

    def __init__(self):
        self.port = 0
        self.count = 0
        self.recipients: list[str] = []
        self.message_ids: list[str] = []
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    def start(self) -> None:
        sink = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                sink._serve(_SmtpConnection(self.request))

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((HOST, 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="smtp-sink", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _serve(self, conn: _SmtpConnection) -> None:
        """One SMTP session, command after command, until QUIT or the client hangs up."""
        conn.reply(b"220 eventsite bench sink")
        recipients: list[str] = []
        while (line := conn.line()) is not None:
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO", b"NOOP"):
                conn.reply(b"250 OK")
            elif verb in (b"MAIL", b"RSET"):
                recipients = []
                conn.reply(b"250 OK")
            elif verb == b"RCPT":
                recipients.append(line.partition(b"<")[2].partition(b">")[0].decode("utf-8", "replace"))
                conn.reply(b"250 OK")
            elif verb == b"DATA" and recipients:
                conn.reply(b"354 End data with <CR><LF>.<CR><LF>")
                data = conn.data()
                if data is None:
                    return
                self._record(recipients, _message_id_of(data))
                recipients = []
                conn.reply(b"250 Message accepted for delivery")
            elif verb == b"QUIT":
                conn.reply(b"221 Bye")
                return
            else:
                conn.reply(b"503 Bad sequence of commands" if verb == b"DATA" else b"502 Command not implemented")

    def _record(self, recipients: list[str], message_id: str) -> None:
        with self._lock:
            self.count += 1
            self.recipients.extend(recipients)
            self.message_ids.append(message_id)
            self.arrivals.append(time.monotonic())


class _SmtpConnection:
    """The client's socket, read in chunks: command lines, and DATA up to CRLF.CRLF."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()

    def reply(self, text: bytes) -> None:
        self.sock.sendall(text + b"\r\n")

    def _fill_until(self, marker: bytes, start: int = 0) -> int:
        """Index of `marker` in the buffer from `start`, reading more as needed; -1 at EOF."""
        while (found := self.buffer.find(marker, start)) < 0:
            start = max(start, len(self.buffer) - len(marker) + 1)
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return -1
            if not chunk:
                return -1
            self.buffer += chunk
        return found

    def line(self) -> bytes | None:
        end = self._fill_until(b"\r\n")
        if end < 0:
            return None
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 2]
        return line

    def data(self) -> bytes | None:
        """The message as sent (still dot-stuffed: only its header block is read), None at EOF."""
        if self.buffer.startswith(b".\r\n"):  # an empty message
            del self.buffer[:3]
            return b""
        end = self._fill_until(b"\r\n.\r\n")
        if end < 0:
            return None
        data = bytes(self.buffer[:end + 2])
        del self.buffer[:end + 5]
        return data


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.+?)\r?$", re.IGNORECASE | re.MULTILINE)


def _message_id_of(data: bytes) -> str:
    """The Message-ID header of a raw message ("" when it has none); only the header block is read."""
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    match = _MESSAGE_ID.search(head)
    return match.group(1).strip().decode("ascii", "replace") if match else ""


# --- gunicorn ----------------------------------------------------------------------------------

class Gunicorn:
    """`gunicorn bench.wsgi_bench:app` with gthread workers on a free loopback port."""

    def __init__(self, env: dict[str, str], *, workers: int, threads: int, app: str = "bench.wsgi_bench:app"):
        self.env = env
        self.workers = workers
        self.threads = threads
        self.app = app
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def settings(self) -> str:
        return f"{self.workers} workers x {self.threads} threads (gthread)"

    def command(self) -> list[str]:
        return [
            *_tool("gunicorn"), "--bind", f"{HOST}:{self.port}",
            "--workers", str(self.workers), "--worker-class", "gthread", "--threads", str(self.threads),
            # Clients keep their connection between a page and its form post; gunicorn's default of
            # 2 s would close idle ones under the queueing of a 500-client rush.
            "--keep-alive", "75",
            "--graceful-timeout", "10", "--log-level", "warning", self.app,
        ]

    def start(self, log_dir: Path, timeout: float = 60.0) -> None:
        self.port = free_port()
        env = dict(self.env, EVENTSITE_BASE_URL=f"http://{HOST}:{self.port}")
        self.log_path = log_dir / f"gunicorn-{self.port}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed when the process is stopped
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                body = response.read()
                conn.close()
                if response.status == 200 and json.loads(body).get("status") == "ok":
                    return
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.2)
        raise BenchError(f"gunicorn did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        _terminate_group(self.proc)
        self.proc = None

    def log_tail(self, lines: int = 80) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# --- everything together -----------------------------------------------------------------------

class BenchEnvironment:
    """The database, the sink, the app for seeding and checks, and gunicorn; see the module doc."""

    def __init__(self, *, workers: int = DEFAULT_WORKERS, threads: int = DEFAULT_THREADS, verbose: bool = True,
                 wsgi_app: str = "bench.wsgi_bench:app", admin_url: str = ADMIN_URL):
        self.wsgi_app = wsgi_app  # another module only to compare a patched app (profiling experiments)
        self.workers = workers
        self.threads = threads
        self.verbose = verbose
        self.shared: dict = {}  # what scenarios share: the organizer, warm-up flags ...
        self.db = BenchDatabase(admin_url)
        self.sink = SmtpSink()
        self.stripe = None  # the fake Stripe API (tests/payments/fake_stripe.py), started in _setup
        self.stripe_webhook_secret = "whsec_bench_" + secrets.token_hex(16)
        self.tmp: Path | None = None
        self.app = None
        self.server: Gunicorn | None = None
        self.secret_key = secrets.token_urlsafe(32)
        self._loadgen: subprocess.Popen | None = None
        self._stack = contextlib.ExitStack()

    # -- set up / tear down

    def __enter__(self) -> BenchEnvironment:
        self._stack.enter_context(signals_as_interrupts())
        try:
            self._setup()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def log(self, message: str) -> None:
        if self.verbose:
            print(message, file=sys.stderr, flush=True)

    def _setup(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="eventsite-bench-"))
        self._stack.callback(shutil.rmtree, self.tmp, ignore_errors=True)
        (self.tmp / "instance").mkdir()

        self.sink.start()
        self._stack.callback(self.sink.stop)

        from tests.payments.fake_stripe import FakeStripe

        self.stripe = FakeStripe(host=HOST).start()
        self._stack.callback(self.stripe.stop)

        self.db.create()
        self._stack.callback(self._drop_database)
        self.log(f"database {self.db.name} created")
        self._build_schema()
        self.app = self._make_app()
        self._stack.callback(self._dispose_app)

        self.server = Gunicorn(self.server_env(), workers=self.workers, threads=self.threads, app=self.wsgi_app)
        self._stack.callback(self._stop_server)
        self.start_server()
        # Registered last, so it runs first: a load generator still running is stopped before gunicorn.
        self._stack.callback(self._stop_loadgen)

    def _drop_database(self) -> None:
        self.db.drop()
        self.log(f"database {self.db.name} dropped")

    def _dispose_app(self) -> None:
        from eventsite.extensions import db

        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()

    def _stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()

    def _stop_loadgen(self) -> None:
        _terminate_group(self._loadgen, grace=5)
        self._loadgen = None

    def server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTSITE_", "STRIPE_"))}
        env.update({
            "EVENTSITE_ENV": "production",
            "DATABASE_URL": self.db.url,
            "SECRET_KEY": self.secret_key,
            "EVENTSITE_MAIL_URL": self.sink.url,
            "EVENTSITE_RATE_LIMITS": "off",
            "EVENTSITE_INSTANCE_PATH": str(self.tmp / "instance"),
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        if self.stripe is not None:  # paid tickets go to the fake Stripe (the checkout_start scenario)
            env.update({"STRIPE_SECRET_KEY": STRIPE_TEST_KEY, "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret,
                        "STRIPE_API_BASE": self.stripe.url})
        return env

    def _build_schema(self) -> None:
        if has_migrations():
            self.log("schema: flask db upgrade")
            env = dict(self.server_env(), EVENTSITE_ENV="development")
            result = subprocess.run([*_tool("flask"), "--app", "eventsite", "db", "upgrade"], cwd=ROOT,
                                    env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                raise BenchError(f"flask db upgrade failed:\n{result.stdout}\n{result.stderr}")
        else:
            self.log("schema: db.create_all() (migrations/versions/ has no revision yet)")
            app = self._make_app()
            from eventsite.extensions import db

            with app.app_context():
                db.create_all()
                db.session.remove()
                db.engine.dispose()

    def _make_app(self):
        """The app in this process, on the bench database: for seeding and for the checks."""
        from eventsite import create_app
        from eventsite.config import normalize_database_url

        # Whatever the caller's shell exports (EVENTSITE_ENV=production, a DATABASE_URL ...), this
        # app is the bench's: settings come from the dict below.
        overrides = {"EVENTSITE_INSTANCE_PATH": str(self.tmp / "instance"), "EVENTSITE_ENV": "development"}
        previous = {k: os.environ.get(k) for k in overrides}
        os.environ.update(overrides)
        try:
            return create_app({
                "SQLALCHEMY_DATABASE_URI": normalize_database_url(self.db.url),
                "SECRET_KEY": self.secret_key,
                "EVENTSITE_MAIL_URL": self.sink.url,
                "EVENTSITE_BASE_URL": "http://127.0.0.1",
                "RATELIMIT_ENABLED": False,
            })
        finally:
            for k, v in previous.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    # -- the server

    def start_server(self) -> None:
        t0 = time.monotonic()
        self.server.start(self.tmp)
        self.log(f"gunicorn {self.server.settings} on {self.base_url} ready in {time.monotonic() - t0:.1f} s")

    def restart_server(self, *, workers: int, threads: int) -> None:
        """Other gunicorn settings, same database (for `python -m bench tune`)."""
        self.server.stop()
        self.workers, self.threads = workers, threads
        self.server = Gunicorn(self.server_env(), workers=workers, threads=threads, app=self.wsgi_app)
        self.start_server()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # -- profiling (py-spy, from the bench extra)

    @contextlib.contextmanager
    def profiling(self, output: Path, *, rate: int = 250):
        """Sample every gunicorn worker with py-spy while the block runs; collapsed stacks to `output`.
        Only threads holding the GIL are sampled (`--gil`): where the Python CPU time goes, not the
        waits on the database."""
        output.parent.mkdir(parents=True, exist_ok=True)
        cmd = [*_tool("py-spy"), "record", "--pid", str(self.server.proc.pid), "--subprocesses", "--rate", str(rate),
               "--format", "raw", "--output", str(output), "--nonblocking", "--gil"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        time.sleep(1.0)  # py-spy attaches to the workers
        if proc.poll() is not None:
            raise BenchError(f"py-spy could not start: {proc.stderr.read().decode(errors='replace')}")
        try:
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                _terminate_group(proc, grace=5)
            self.log(f"profile written to {output}")

    # -- the database, from this process

    @contextlib.contextmanager
    def app_context(self):
        from eventsite.extensions import db

        with self.app.app_context():
            try:
                yield db
            finally:
                db.session.remove()

    # -- the load generator

    def run_load(self, spec: dict) -> dict:
        """Run one load (see bench/loadgen.py) against the server, in a separate process; the outcome
        gets the CPU time gunicorn and the database spent meanwhile (`outcome["cpu"]`)."""
        meter = CpuMeter(self)
        before = meter.snapshot()

        def started(proc: subprocess.Popen) -> None:
            self._loadgen = proc

        try:
            outcome = run_loadgen(spec, HOST, self.port, on_start=started)
        finally:
            self._stop_loadgen()
        outcome["cpu"] = meter.delta(before, meter.snapshot())
        return outcome


def run_loadgen(spec: dict, host: str, port: int, *, on_start=None) -> dict:
    """Run bench/loadgen.py in its own process (its own session, so Ctrl-C reaches only us and we
    stop it) with `spec` against host:port; return its outcome. Raises BenchError if it fails."""
    spec = dict(spec, host=host, port=port)
    limit = float(spec.get("time_limit", 120)) + LOADGEN_GRACE_SECONDS
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        start_new_session=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    if on_start is not None:
        on_start(proc)
    try:
        out, _ = proc.communicate(json.dumps(spec).encode(), timeout=limit)
    except subprocess.TimeoutExpired:
        raise BenchError(f"the load generator did not finish within {limit:.0f} s") from None
    finally:
        _terminate_group(proc, grace=5)
    try:
        outcome = json.loads(out)
    except ValueError:
        raise BenchError(f"the load generator failed; it printed: {out[-2000:]!r}") from None
    if outcome.get("fatal"):
        raise BenchError(f"the load generator failed: {outcome['fatal']}")
    return outcome


# --- CPU accounting -----------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process we can see."""
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out.append((int(entry.name), int(stat.rpartition(")")[2].split()[1]), cmdline))
    return out


def _machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])
    idle = values[3] + values[4]
    return (total - idle) / _TICKS, total / _TICKS


class CpuMeter:
    """CPU seconds used by gunicorn (master and workers), by the PostgreSQL backends serving the bench
    database (their process title names it), and by the whole machine, between two snapshots."""

    def __init__(self, env: BenchEnvironment):
        self.env = env

    def snapshot(self) -> dict[str, float]:
        procs = _processes()
        master = self.env.server.proc.pid if self.env.server and self.env.server.proc else -1
        gunicorn = [pid for pid, ppid, _ in procs if pid == master or ppid == master]
        backends = [pid for pid, _, cmd in procs if cmd.startswith("postgres:") and f" {self.env.db.name} " in cmd]
        busy, total = _machine_busy_seconds()
        return {
            "gunicorn": sum(_cpu_seconds(p) for p in gunicorn),
            "postgres": sum(_cpu_seconds(p) for p in backends),
            "machine_busy": busy,
            "machine_total": total,
            "wall": time.monotonic(),
        }

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        d = {k: after[k] - before[k] for k in before}
        return {
            "gunicorn_cpu_s": d["gunicorn"],
            "postgres_cpu_s": d["postgres"],
            "machine_busy_share": d["machine_busy"] / d["machine_total"] if d["machine_total"] else float("nan"),
            "wall_s": d["wall"],
        }


# --- the machine -------------------------------------------------------------------------------

def machine_info(env: BenchEnvironment) -> dict[str, str]:
    import gunicorn

    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "postgresql": env.db.server_version(),
        "gunicorn": gunicorn.__version__,
        "os": f"{platform.system()} {platform.release()}",
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
