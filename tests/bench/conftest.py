"""The benchmark's scenarios at small scale, against the suite's app served by `live_server`
(in-process, both databases), driven by the real load generator in its own process.

`live_env` stands in for bench.harness.BenchEnvironment: the same interface the scenarios use
(`app_context()`, `run_load()`, `shared`, `workers`, `threads`, `log()`), minus gunicorn, the CPU
accounting and the database of its own (the suite's tables are emptied after each test).
"""
from __future__ import annotations

import contextlib
from urllib.parse import urlparse

import pytest

from bench.harness import run_loadgen
from eventsite.extensions import db


class LiveEnvironment:
    workers = 1
    threads = 8

    def __init__(self, app, base_url: str):
        self.app = app
        url = urlparse(base_url)
        self.host, self.port = url.hostname, url.port
        self.shared: dict = {}

    @contextlib.contextmanager
    def app_context(self):
        with self.app.app_context():
            try:
                yield db
            finally:
                db.session.remove()

    def log(self, message: str) -> None:
        pass

    def run_load(self, spec: dict) -> dict:
        return run_loadgen(dict(spec, tracebacks=True), self.host, self.port)


@pytest.fixture
def live_env(app, live_server):
    return LiveEnvironment(app, live_server)


class AppEnvironment:
    """For the scenarios that run the app's own processes (follow-up planning, outbox delivery)
    rather than HTTP clients: the suite's app and database (`bench.app_process.app_env` hands its
    settings to those processes) and, when given, the harness's own SMTP sink."""

    def __init__(self, app, sink=None):
        self.app = app
        self.sink = sink
        self.shared: dict = {}

    @contextlib.contextmanager
    def app_context(self):
        with self.app.app_context():
            try:
                yield db
            finally:
                db.session.remove()

    def log(self, message: str) -> None:
        pass
