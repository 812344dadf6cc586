"""A fake Stripe API: a small HTTP server on loopback that the real `stripe` library talks to.

The app reaches it through `STRIPE_API_BASE` (tests/payments/conftest.py starts it and points the app
at it), so every request goes through stripe-python's own encoding, headers, retries and error
handling. It understands the few endpoints eventsite uses:

- POST /v1/checkout/sessions                create a Checkout Session (line items priced inline)
- GET  /v1/checkout/sessions/<id>            retrieve one
- POST /v1/checkout/sessions/<id>/expire     expire an open one
- POST /v1/refunds                           refund a payment intent (all or part of it)

and keeps what it was asked in `requests` (method, path, decoded params, idempotency key), so tests
check idempotency keys and amounts. Idempotency works like Stripe's: the same key with the same
parameters replays the first answer, with other parameters it is an `idempotency_error`.

Helpers play Stripe's side of the story: `pay(session_id)` completes a session as the hosted page
would, `event(type, obj)` builds a webhook event, `signature(payload, secret)` signs it the real way
(`t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")`). `fail_refunds(...)` makes the next
refunds fail, with an API error or with a refund whose status is `failed`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MIN_EXPIRY = 30 * 60
MAX_EXPIRY = 24 * 3600


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict
    idempotency_key: str | None
    authorization: str | None


@dataclass
class _RefundFailure:
    mode: str  # "error": the API answers with an error; "failed": a refund object with status failed
    message: str
    code: str
    http_status: int


def decode_form(body: str) -> dict:
    """`a[b][0][c]=1&metadata[order_id]=7` -> {"a": {"b": [{"c": "1"}]}, "metadata": {"order_id": "7"}}."""
    root: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt_is_index = not last and parts[i + 1].isdigit()
            if isinstance(node, list):
                idx = int(part)
                while len(node) <= idx:
                    node.append({} if not nxt_is_index else [])
                if last:
                    node[idx] = value
                else:
                    if not isinstance(node[idx], (dict, list)) or (nxt_is_index and not isinstance(node[idx], list)):
                        node[idx] = [] if nxt_is_index else {}
                    node = node[idx]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if nxt_is_index else {})
    return root


def sign(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header for `payload`, computed the way Stripe does."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode("utf-8"), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass
class FakeStripe:
    host: str = "127.0.0.1"
    port: int = 0
    sessions: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _idempotent: dict[str, tuple[str, dict, int, dict]] = field(default_factory=dict)
    _refund_failures: list[_RefundFailure] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    dropped: int = 0  # connections dropped while unreachable
    down: bool = False  # every request answers 500 (a Stripe outage)
    unreachable: bool = False  # every connection is dropped without an answer (a network failure)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # http.server sends the headers and the body in two writes: with Nagle's algorithm on, the
            # body waited for the client's delayed ACK of the headers, 40 ms on every call on Linux
            # loopback, which the benchmark's checkouts spent waiting on a Stripe that real servers
            # answer without (bench.checkout_cpu: 60 ms wall per POST for 16 ms of CPU).
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(8))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if fake.unreachable:
                    with fake.lock:
                        fake.dropped += 1
                    self.close_connection = True
                    return
                parts = urlsplit(self.path)
                params = decode_form(raw if method == "POST" else parts.query)
                status, body = fake.handle(method, parts.path, params, self.headers)
                self._answer(status, body)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.sessions.clear()
            self.refunds.clear()
            self.requests.clear()
            self._idempotent.clear()
            self._refund_failures.clear()
            self.down = False
            self.unreachable = False
            self.dropped = 0

    # --- what tests look at ------------------------------------------------------------------

    def calls(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def session_creations(self) -> list[RecordedRequest]:
        return [r for r in self.calls("POST", "/v1/checkout/sessions") if r.path == "/v1/checkout/sessions"]

    def refund_calls(self) -> list[RecordedRequest]:
        return self.calls("POST", "/v1/refunds")

    def fail_refunds(self, message: str = "Your Stripe balance is too low to refund this payment.",
                     *, code: str = "balance_insufficient", mode: str = "error", times: int = 1,
                     http_status: int = 400) -> None:
        """The next `times` refund requests fail (mode "error": an API error; "failed": status failed)."""
        with self.lock:
            for _ in range(times):
                self._refund_failures.append(_RefundFailure(mode, message, code, http_status))

    # --- Stripe's side of the story ---------------------------------------------------------

    def pay(self, session_id: str, *, payment_status: str = "paid") -> dict:
        """The customer completes the hosted page: the session is `complete` with a payment intent."""
        with self.lock:
            s = self.sessions[session_id]
            s["status"] = "complete"
            s["payment_status"] = payment_status
            s["payment_intent"] = s["payment_intent"] or "pi_" + secrets.token_hex(12)
            return json.loads(json.dumps(s))

    def settle_async(self, session_id: str, *, succeeded: bool) -> dict:
        with self.lock:
            s = self.sessions[session_id]
            s["payment_status"] = "paid" if succeeded else "unpaid"
            return json.loads(json.dumps(s))

    def expire(self, session_id: str) -> dict:
        with self.lock:
            s = self.sessions[session_id]
            s["status"] = "expired"
            return json.loads(json.dumps(s))

    def add_foreign_session(self, *, amount: int = 5000, currency: str = "usd", metadata: dict | None = None,
                            paid: bool = True) -> dict:
        """A session eventsite never created (another integration on the same account, or forged)."""
        with self.lock:
            sid = "cs_test_" + secrets.token_hex(16)
            self.sessions[sid] = {
                "id": sid, "object": "checkout.session", "mode": "payment", "status": "complete" if paid else "open",
                "payment_status": "paid" if paid else "unpaid", "amount_total": amount, "currency": currency,
                "metadata": metadata or {}, "client_reference_id": None, "customer_email": "x@example.org",
                "payment_intent": "pi_" + secrets.token_hex(12) if paid else None, "url": None,
                "expires_at": int(time.time()) + 3600, "created": int(time.time()), "livemode": False,
                "success_url": "", "cancel_url": "", "line_items": [],
            }
            return json.loads(json.dumps(self.sessions[sid]))

    @staticmethod
    def event(type_: str, obj: dict, *, event_id: str | None = None, created: int | None = None) -> dict:
        return {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": created or int(time.time()),
            "type": type_,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": obj},
        }

    def charge_for(self, payment_intent: str, *, amount: int, amount_refunded: int, currency: str = "usd") -> dict:
        return {
            "id": "ch_" + secrets.token_hex(12), "object": "charge", "payment_intent": payment_intent,
            "amount": amount, "amount_refunded": amount_refunded, "refunded": amount_refunded >= amount,
            "currency": currency, "status": "succeeded",
        }

    signature = staticmethod(sign)

    # --- the API -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict, headers) -> tuple[int, dict]:
        key = headers.get("Idempotency-Key")
        auth = headers.get("Authorization")
        with self.lock:
            self.requests.append(RecordedRequest(method, path, params, key, auth))
            if self.down:
                return 500, _error("api_error", "Stripe is having a bad day.", None)
            if not auth or not auth.startswith("Bearer sk_"):
                return 401, _error("invalid_request_error", "Invalid API Key provided.", None)
            if key and method == "POST":
                seen = self._idempotent.get(key)
                if seen is not None:
                    seen_path, seen_params, status, body = seen
                    if seen_path != path or seen_params != params:
                        return 400, _error("idempotency_error",
                                           "Keys for idempotent requests can only be used with the same parameters "
                                           "they were first used with.", None)
                    return status, body
            status, body = self._route(method, path, params)
            if key and method == "POST" and status < 500:
                self._idempotent[key] = (path, params, status, body)
            return status, body

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._create_session(params)
        m = re.fullmatch(r"/v1/checkout/sessions/([A-Za-z0-9_]+)", path)
        if m and method == "GET":
            s = self.sessions.get(m.group(1))
            if s is None:
                return 404, _error("invalid_request_error", f"No such checkout.session: '{m.group(1)}'",
                                   "resource_missing")
            return 200, s
        m = re.fullmatch(r"/v1/checkout/sessions/([A-Za-z0-9_]+)/expire", path)
        if m and method == "POST":
            s = self.sessions.get(m.group(1))
            if s is None:
                return 404, _error("invalid_request_error", "No such checkout.session", "resource_missing")
            if s["status"] != "open":
                return 400, _error("invalid_request_error",
                                   "Only Checkout Sessions with a status in [\"open\"] can be expired.", None)
            s["status"] = "expired"
            return 200, s
        if method == "POST" and path == "/v1/refunds":
            return self._create_refund(params)
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path}).", None)

    def _create_session(self, p: dict) -> tuple[int, dict]:
        now = int(time.time())
        items = p.get("line_items") or []
        if p.get("mode") != "payment" or not items:
            return 400, _error("invalid_request_error", "mode=payment and line_items are required.", None)
        expires_at = int(p["expires_at"]) if p.get("expires_at") else now + MAX_EXPIRY
        if expires_at < now + MIN_EXPIRY - 5 or expires_at > now + MAX_EXPIRY + 5:
            return 400, _error("invalid_request_error",
                               "The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                               "Checkout Session creation.", None, param="expires_at")
        currencies = {i["price_data"]["currency"] for i in items}
        if len(currencies) != 1:
            return 400, _error("invalid_request_error", "All line items must use the same currency.", None)
        amount = sum(int(i["price_data"]["unit_amount"]) * int(i["quantity"]) for i in items)
        sid = "cs_test_" + secrets.token_hex(16)
        session = {
            "id": sid, "object": "checkout.session", "mode": "payment", "status": "open",
            "payment_status": "unpaid", "amount_total": amount, "amount_subtotal": amount,
            "currency": currencies.pop(), "customer_email": p.get("customer_email"),
            "client_reference_id": p.get("client_reference_id"), "metadata": p.get("metadata") or {},
            "payment_intent": None, "url": f"https://checkout.stripe.test/c/pay/{sid}",
            "success_url": p.get("success_url"), "cancel_url": p.get("cancel_url"), "expires_at": expires_at,
            "created": now, "livemode": False, "line_items": items,
        }
        self.sessions[sid] = session
        return 200, session

    def _create_refund(self, p: dict) -> tuple[int, dict]:
        pi = p.get("payment_intent")
        session = next((s for s in self.sessions.values() if s.get("payment_intent") == pi and pi), None)
        if session is None:
            return 400, _error("invalid_request_error", f"No such payment_intent: '{pi}'", "resource_missing")
        already = sum(r["amount"] for r in self.refunds.values()
                      if r["payment_intent"] == pi and r["status"] in ("succeeded", "pending"))
        amount = int(p.get("amount") or session["amount_total"] - already)
        if already + amount > session["amount_total"]:
            return 400, _error("invalid_request_error",
                               f"Refund amount ({amount}) is greater than unrefunded amount on charge.",
                               "amount_too_large" if already == 0 else "charge_already_refunded")
        failure = self._refund_failures.pop(0) if self._refund_failures else None
        if failure is not None and failure.mode == "error":
            return failure.http_status, _error("invalid_request_error", failure.message, failure.code)
        rid = "re_" + secrets.token_hex(12)
        refund = {
            "id": rid, "object": "refund", "amount": amount, "currency": session["currency"],
            "payment_intent": pi, "status": "succeeded", "metadata": p.get("metadata") or {},
            "reason": p.get("reason"), "created": int(time.time()), "failure_reason": None,
        }
        if failure is not None and failure.mode == "failed":
            refund["status"] = "failed"
            refund["failure_reason"] = failure.code
        self.refunds[rid] = refund
        return 200, refund


def _error(type_: str, message: str, code: str | None, *, param: str | None = None) -> dict:
    err: dict[str, Any] = {"type": type_, "message": message}
    if code:
        err["code"] = code
    if param:
        err["param"] = param
    return {"error": err}
