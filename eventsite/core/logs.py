"""Structured logs with a request id.

Every log line is one JSON object (``EVENTSITE_LOG_FORMAT=json``, the default in production) or one
readable line (``text``, the default in development)::

    {"time": "2026-11-26T01:50:00.123Z", "level": "INFO", "logger": "eventsite.request",
     "message": "GET /events/<slug> 200", "request_id": "9f0c...", "method": "GET",
     "route": "/events/<slug>", "status": 200, "duration_ms": 12.5}

The request id is the incoming ``X-Request-ID`` when it is a sane one (1-128 of ``A-Z a-z 0-9 . _ : -``,
as a proxy or load balancer sets it) or a new random one; it is sent back in the response's
``X-Request-ID`` header and added to every line logged while the request runs, by any logger.
Each request ends with one ``eventsite.request`` line. It names the route *pattern*
(``/tickets/<token>``), never the path, so ticket and order tokens never reach the logs.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from datetime import datetime, timezone
from typing import IO

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HANDLER_NAME = "eventsite"
access_log = logging.getLogger("eventsite.request")

# Attributes every LogRecord has; anything else was passed with `extra=` and goes into the JSON.
_STANDARD = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message", "asctime", "request_id", "taskName"}


def current_request_id() -> str | None:
    """This request's id (taken from X-Request-ID or made up, once); None outside a request."""
    if not has_request_context():
        return None
    rid = g.get("request_id")
    if rid is None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        rid = incoming if _VALID_REQUEST_ID.match(incoming) else secrets.token_hex(16)
        g.request_id = rid
    return rid


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (None outside a request) so that every formatter can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def make_handler(log_format: str = "json", stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(log_format: str = "json", *, level: int = logging.INFO, stream: IO[str] | None = None) -> logging.Handler:
    """Send the root logger's records to stderr (or `stream`) in `log_format`; replaces an earlier call's handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = make_handler(log_format, stream)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def _start_request() -> None:
    g.request_started = time.perf_counter()
    current_request_id()


def _finish_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = current_request_id() or ""
    started = g.get("request_started")
    route = request.url_rule.rule if request.url_rule is not None else None
    access_log.info(
        "%s %s %s", request.method, route or "(no route)", response.status_code,
        extra={"method": request.method, "route": route, "status": response.status_code,
               "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None},
    )
    return response


def init_app(app: Flask) -> None:
    """Request ids and the per-request log line; the log handler unless the app is under test.

    Tests keep pytest's own capture (they call `configure_logging(stream=...)` when they need it).
    """
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)  # first, before rate limits
    app.after_request(_finish_request)
    if app.testing:
        return
    default = "json" if app.config.get("EVENTSITE_ENV") == "production" else "text"
    configure_logging(app.config.get("EVENTSITE_LOG_FORMAT") or default)
