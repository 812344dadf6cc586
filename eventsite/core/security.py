"""Tokens, hashing of secrets, and the security headers every response carries."""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets

from flask import Flask, Response

# No look-alikes (0/O, 1/I/l): tokens get read aloud at the door and typed from paper.
TOKEN_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def random_token(bits: int = 130, alphabet: str = TOKEN_ALPHABET) -> str:
    """A token with at least `bits` bits of entropy from `secrets`, in a look-alike-free alphabet.

    With a 32-letter alphabet (ours) each character is 5 random bits of one `secrets.randbits` draw
    (a registration makes three tokens, 60 characters: drawing them one `secrets.choice` at a time
    was a tenth of its CPU); any other alphabet draws character by character."""
    if len(alphabet) == 32:
        length = -(-bits // 5)
        n = secrets.randbits(5 * length)
        return "".join(alphabet[(n >> shift) & 31] for shift in range(0, 5 * length, 5))
    length = math.ceil(bits / math.log2(len(alphabet)))
    return "".join(secrets.choice(alphabet) for _ in range(length))


def hash_token(token: str) -> str:
    """What we store instead of a bearer token: SHA-256 hex (tokens are random, no salt needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ]
)


def _set_headers(response: Response) -> Response:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_set_headers)
    if app.config.get("SESSION_COOKIE_SECURE"):
        @app.after_request
        def _hsts(response: Response) -> Response:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
            return response
