"""The load generator: a separate process that plays N concurrent clients against the server.

    echo '{"module": "bench.scenarios.floors", "function": "client", "clients": 16, ...}' \\
        | .venv/bin/python -m bench.loadgen

It reads one JSON spec on stdin and writes one JSON outcome on stdout. The spec names a client
function, `module.function(http, params, index) -> dict`, that plays one client (a visitor, a door
scanner ...) through the `Client` it is given; `clients` threads run it at once, released together by
a barrier. Each `Client` has its own keep-alive HTTP/1.1 connection (`http.client`) and its own
cookie jar, and records every request: (label, status, start, duration). A request that fails
without an answer (refused, reset, timed out) is recorded with status 0.

Bounded: no request starts after `time_limit` seconds (default 120), every socket has a timeout,
and the process talks only to `host` (loopback; the harness passes 127.0.0.1).

Outcome: {"elapsed": s, "samples": [[label, status, start, duration], ...], "results": [per-client
dicts], "errors": [client exceptions as text]}; starts are seconds from the release of the clients.
"""
from __future__ import annotations

import http.client
import importlib
import json
import re
import socket
import sys
import threading
import time
import traceback
from urllib.parse import urlencode

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
# Errors of a kept-alive connection that the server had already closed: safe to retry a GET once.
STALE_CONNECTION_ERRORS = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class OutOfTime(Exception):
    """The load's time limit ran out: no further request is started."""


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers  # lower-case names; the last value of each
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def csrf_token(html: str) -> str | None:
    m = CSRF_RE.search(html)
    return (m.group(1) or m.group(2)) if m else None


class Client:
    """One client: a keep-alive connection, a cookie jar and a record of its requests."""

    def __init__(self, host: str, port: int, *, t0: list[float], stop_at: float, timeout: float = 60.0):
        self.host, self.port = host, port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.samples: list[tuple[str, int, float, float]] = []
        self._t0 = t0  # [release time], set by the barrier
        self._stop_at = stop_at
        self._conn: http.client.HTTPConnection | None = None

    # -- state

    def new_visitor(self) -> None:
        """Forget the cookies (a new person, a new session); the connection is kept."""
        self.cookies.clear()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._conn.connect()
            self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return self._conn, False
        return self._conn, True

    def _store_cookies(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            pair, _, attributes = header.partition(";")
            name, _, value = pair.strip().partition("=")
            expired = "max-age=0" in attributes.lower().replace(" ", "") or "expires=thu, 01 jan 1970" in attributes.lower()
            if not value or expired:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    # -- requests

    def request(self, method: str, path: str, *, label: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """Send one request and read the whole answer. Raises OutOfTime, or the connection error
        (after recording it with status 0)."""
        if time.perf_counter() >= self._stop_at:
            raise OutOfTime()
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                conn, reused = self._connection()
                conn.request(method, path, body=body, headers=headers)
                raw = conn.getresponse()
                data = raw.read()
            except STALE_CONNECTION_ERRORS:
                self.close()
                if attempt == 1 and reused and method == "GET":
                    continue  # the server closed an idle kept-alive connection: reconnect once
                self._record(label, 0, started)
                raise
            except (OSError, http.client.HTTPException):
                self.close()
                self._record(label, 0, started)
                raise
            self._record(label, raw.status, started)
            self._store_cookies(raw)
            if raw.will_close:
                self.close()
            return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def _record(self, label: str, status: int, started: float) -> None:
        ended = time.perf_counter()
        self.samples.append((label, status, started - self._t0[0], ended - started))

    def get(self, path: str, *, label: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", path, label=label, headers=headers)

    def post_form(self, path: str, fields: dict[str, str], *, label: str) -> Response:
        return self.request("POST", path, label=label, body=urlencode(fields).encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})

    def post_json(self, path: str, payload: object, *, label: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("POST", path, label=label, body=json.dumps(payload).encode(),
                            headers={"Content-Type": "application/json", "Accept": "application/json",
                                     **(headers or {})})


def run(spec: dict) -> dict:
    """Play `spec["clients"]` clients at once; see the module doc."""
    module = importlib.import_module(spec["module"])
    play = getattr(module, spec.get("function", "client"))
    n = int(spec["clients"])
    params = spec.get("params", {})
    time_limit = float(spec.get("time_limit", 120))
    threading.stack_size(512 * 1024)  # hundreds of client threads

    t0 = [0.0]
    stop_at = [float("inf")]

    def release() -> None:
        t0[0] = time.perf_counter()
        stop_at[0] = t0[0] + time_limit

    barrier = threading.Barrier(n, action=release)
    clients: list[Client | None] = [None] * n
    results: list[dict] = [{} for _ in range(n)]
    errors: list[str] = []
    finished = [0.0] * n

    def one(i: int) -> None:
        try:
            barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            errors.append(f"client {i}: the clients were not all ready within 120 s")
            return
        client = Client(spec["host"], int(spec["port"]), t0=t0, stop_at=stop_at[0],
                        timeout=float(spec.get("request_timeout", 60)))
        clients[i] = client
        try:
            results[i] = play(client, params, i) or {}
        except OutOfTime:
            results[i] = {"out_of_time": 1}
            errors.append(f"client {i}: ran out of time ({time_limit:.0f} s)")
        except Exception as e:  # noqa: BLE001 - reported, not fatal to the other clients
            errors.append(f"client {i}: {type(e).__name__}: {e}")
            if spec.get("tracebacks"):
                errors.append(traceback.format_exc())
        finally:
            finished[i] = time.perf_counter()
            client.close()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_limit + 180)
    hung = sum(t.is_alive() for t in threads)
    if hung:
        errors.append(f"{hung} client threads did not finish")
    elapsed = max((f - t0[0] for f in finished if f), default=0.0)
    samples = [list(s) for c in clients if c is not None for s in c.samples]
    return {"clients": n, "elapsed": elapsed, "cpu_s": time.process_time(), "samples": samples, "results": results, "errors": errors[:50]}


def main() -> int:
    try:
        spec = json.load(sys.stdin)
        outcome = run(spec)
    except Exception as e:  # noqa: BLE001 - the harness reads the reason
        outcome = {"fatal": f"{type(e).__name__}: {e}\n{traceback.format_exc()}"}
    json.dump(outcome, sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
