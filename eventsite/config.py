"""Configuration, read from the environment when the app is created (never at import time)."""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path


class ConfigError(RuntimeError):
    """The app cannot start with this configuration."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def normalize_database_url(url: str) -> str:
    """Accept the usual `postgresql://user@host/db` form and drive it with psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _instance_secret_key(instance_path: str) -> str:
    """In development the secret key is generated once and kept under instance/."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def from_environment(instance_path: str) -> dict:
    """Build the settings dict from EVENTSITE_* / DATABASE_URL / STRIPE_* variables."""
    env = (_env("EVENTSITE_ENV", "development") or "development").lower()
    production = env == "production"

    if production:
        missing = [n for n in ("SECRET_KEY", "DATABASE_URL", "EVENTSITE_BASE_URL") if not _env(n)]
        if missing:
            raise ConfigError(
                "EVENTSITE_ENV=production needs these environment variables: " + ", ".join(missing)
            )
        if _env("STRIPE_SECRET_KEY") and not _env("STRIPE_WEBHOOK_SECRET"):
            # Without it no webhook can be verified: a payment that completes after she left the
            # success page would never confirm her order, and refunds made at Stripe go unseen.
            raise ConfigError(
                "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: set it to the signing secret "
                "(whsec_...) of the endpoint <EVENTSITE_BASE_URL>/stripe/webhook in Stripe's dashboard, "
                "or unset STRIPE_SECRET_KEY to turn online payment off."
            )

    database_url = _env("DATABASE_URL") or "sqlite:///" + str(Path(instance_path) / "eventsite.db")
    rate_limits = (_env("EVENTSITE_RATE_LIMITS", "on") or "on").lower() not in ("off", "0", "false", "no")
    page_cache = (_env("EVENTSITE_PAGE_CACHE", "on") or "on").lower() not in ("off", "0", "false", "no")
    redis_url = _env("EVENTSITE_REDIS_URL")

    return {
        "EVENTSITE_ENV": env,
        "SECRET_KEY": _env("SECRET_KEY") or _instance_secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(database_url),
        "EVENTSITE_BASE_URL": (_env("EVENTSITE_BASE_URL", "http://127.0.0.1:5000") or "").rstrip("/"),
        "EVENTSITE_MAIL_URL": _env("EVENTSITE_MAIL_URL", "smtp://127.0.0.1:25" if production else "dev://"),
        "EVENTSITE_MAIL_FROM": _env("EVENTSITE_MAIL_FROM", "eventsite <no-reply@eventsite.local>"),
        "STRIPE_SECRET_KEY": _env("STRIPE_SECRET_KEY"),
        "STRIPE_WEBHOOK_SECRET": _env("STRIPE_WEBHOOK_SECRET"),
        "STRIPE_API_BASE": _env("STRIPE_API_BASE"),
        "RATELIMIT_ENABLED": rate_limits,
        # New visitors of the event and home pages get a stored copy while it is exactly right.
        "EVENTSITE_PAGE_CACHE": page_cache,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        # How many reverse proxies in front set X-Forwarded-For/-Proto (0 = trust none).
        "EVENTSITE_TRUSTED_PROXIES": int(_env("EVENTSITE_TRUSTED_PROXIES", "0") or 0),
        # Networking profiles are deleted this many days after their event ended (0: kept until deleted).
        "PROFILE_RETENTION_DAYS": _retention_days(),
        **_operations_from_environment(),
    }


# Optional numeric settings: (environment variable, config key, lowest allowed value).
_OPERATIONS_NUMBERS = (
    ("EVENTSITE_OUTBOX_LEASE_SECONDS", "OUTBOX_LEASE_SECONDS", 1.0),
    ("EVENTSITE_WORKER_POLL_SECONDS", "WORKER_POLL_SECONDS", 0.05),
)


def _operations_from_environment() -> dict:
    """The worker's lease and poll interval and the log format, only when set (else Config's defaults)."""
    settings: dict = {}
    for name, key, lowest in _OPERATIONS_NUMBERS:
        raw = _env(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = lowest - 1
        if value < lowest:
            raise ConfigError(f"{name}={raw!r} must be a number of seconds, at least {lowest:g}")
        settings[key] = value
    log_format = _env("EVENTSITE_LOG_FORMAT")
    if log_format is not None:
        if log_format.lower() not in ("json", "text"):
            raise ConfigError(f"EVENTSITE_LOG_FORMAT={log_format!r} must be json or text")
        settings["EVENTSITE_LOG_FORMAT"] = log_format.lower()
    return settings


def _retention_days() -> int:
    raw = _env("EVENTSITE_PROFILE_RETENTION_DAYS", "365") or "365"
    if not (raw.strip().isascii() and raw.strip().isdigit()):
        raise ConfigError(f"EVENTSITE_PROFILE_RETENTION_DAYS={raw!r} must be a whole number of days (0 turns it off)")
    return int(raw)


class Config:
    """Defaults shared by every environment; from_environment() overrides them."""

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    EVENTSITE_PAGE_CACHE = True  # events/page_cache.py
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead; long forms must not expire mid-typing
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024
    UPLOAD_MAX_BYTES = 5 * 1024 * 1024
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_STRATEGY = "moving-window"
    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"  # per client address
    LOGIN_EMAIL_RATE_LIMIT = "10 per minute;30 per hour"  # failed attempts per account
    REGISTRATION_RATE_LIMIT = "20 per minute"  # per client address
    RESEND_RATE_LIMIT = "5 per hour"  # "send my ticket again", per client address
    RESEND_EMAIL_RATE_LIMIT = "3 per hour"  # ... and per email and event
    WAITLIST_RATE_LIMIT = "10 per hour"
    PASSWORD_RESET_RATE_LIMIT = "5 per hour"  # "forgot password?" requests, per client address
    PASSWORD_RESET_EMAIL_RATE_LIMIT = "3 per hour"  # ... and per email address asked for
    PASSWORD_RESET_MAX_AGE = timedelta(hours=1)
    INTRODUCTION_RATE_LIMIT = "30 per hour"  # introduction requests and answers by link, per client address
    API_RATE_LIMIT = "300 per minute"  # per API token
    API_AUTH_FAILURE_RATE_LIMIT = "20 per minute"  # requests with a missing or wrong token, per client address
    RATELIMIT_KEY_PREFIX = "eventsite"  # counters in a shared Redis are namespaced
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True  # Redis down: count in memory, never fail the request
    WAITLIST_OFFER_HOURS = 48
    # argon2id, above OWASP's minimum (m=19 MiB, t=2, p=1)
    PASSWORD_HASH_PARAMS = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}
    INVITATION_MAX_AGE = timedelta(days=7)
    OUTBOX_MAX_ATTEMPTS = 12  # with the backoff (30 s doubling, capped at 1 h): about 6 hours of retries
    OUTBOX_BACKOFF_SECONDS = 30
    OUTBOX_BACKOFF_MAX_SECONDS = 3600
    SEAT_HOLD_MINUTES = 30
    OUTBOX_LEASE_SECONDS = 120
    WORKER_POLL_SECONDS = 2.0


class TestConfig(Config):
    """Used by the test suite; the database URL and mail URL come from the fixtures."""

    TESTING = True
    WTF_CSRF_ENABLED = True
    RATELIMIT_ENABLED = False
    PASSWORD_HASH_PARAMS = {"time_cost": 1, "memory_cost": 8192, "parallelism": 1}
    SERVER_NAME = None
