"""Mail backends, chosen by EVENTSITE_MAIL_URL.

- ``smtp://[user:password@]host[:port][?starttls=1&timeout=30]``: a real SMTP server (port 25 by default).
- ``smtps://[user:password@]host[:port][?timeout=30]``: SMTP over implicit TLS (port 465 by default).
- ``dev://``: the dev mailbox; each message is written as an ``.eml`` file under
  ``<instance_path>/mailbox/`` and shown at ``/dev/mailbox/`` (development only).

A backend hands out a *connection* (``open()``) that sends many messages; the worker opens one per
batch, so one SMTP session carries a whole batch and reconnects only after an error.
"""
from __future__ import annotations

import os
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from eventsite.config import ConfigError

DEFAULT_TIMEOUT = 30.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class MailConfigError(ConfigError):
    """EVENTSITE_MAIL_URL cannot be used."""


class DeliveryError(Exception):
    """One message could not be delivered. `permanent` errors are not retried."""

    permanent = False

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class ConnectError(DeliveryError):
    """The server could not be reached or refused the session: nothing in this batch can be sent."""


class Connection(Protocol):
    def send(self, message: EmailMessage, from_addr: str, to_addrs: list[str]) -> None: ...

    def close(self) -> None: ...


class Backend(Protocol):
    url: str

    def open(self) -> Connection: ...


def tls_context() -> ssl.SSLContext:
    """Certificates and host names are always verified (the system's trusted CAs)."""
    return ssl.create_default_context()


# --- SMTP --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SMTPBackend:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    implicit_tls: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @property
    def url(self) -> str:
        """The URL without the password (safe to print and log)."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        query = "?starttls=1" if self.starttls else ""
        return f"{scheme}://{user}{self.host}:{self.port}{query}"

    def open(self) -> "SMTPConnection":
        return SMTPConnection(self)

    def connect(self) -> smtplib.SMTP:
        context = tls_context()
        if self.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


class SMTPConnection:
    """One SMTP session reused for many messages; reconnects once if the server dropped it."""

    def __init__(self, backend: SMTPBackend):
        self.backend = backend
        self._smtp: smtplib.SMTP | None = None
        self._sent = 0  # messages sent on the current session

    def _open(self) -> smtplib.SMTP:
        try:
            self._smtp = self.backend.connect()
        except (OSError, smtplib.SMTPException) as e:
            self._smtp = None
            raise ConnectError(f"cannot connect to {self.backend.url}: {_describe(e)}") from e
        self._sent = 0
        return self._smtp

    def send(self, message: EmailMessage, from_addr: str, to_addrs: list[str]) -> None:
        smtp = self._smtp or self._open()
        # Note: smtplib.SMTPException is a subclass of OSError, so the specific cases come first.
        try:
            smtp.send_message(message, from_addr=from_addr, to_addrs=to_addrs)
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            raise DeliveryError(
                f"recipient refused: {_describe(e)}", permanent=bool(codes) and all(c >= 500 for c in codes)
            ) from e
        except smtplib.SMTPResponseException as e:
            if getattr(smtp, "sock", None) is None:  # smtplib closed it (e.g. after a 421)
                self._drop()
            # A 5xx to the message data (too large, rejected content) will not change on retry; a
            # refused sender is usually our configuration, so it is retried until someone fixes it.
            permanent = isinstance(e, smtplib.SMTPDataError) and e.smtp_code >= 500
            raise DeliveryError(_describe(e), permanent=permanent) from e
        except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError) as e:
            # A reused session may have been dropped by the server (idle timeout, per-session
            # limits): reconnect once and try again. A fresh session failing is a real error.
            reused = self._sent > 0
            self._drop()
            if not reused:
                raise DeliveryError(f"connection lost: {_describe(e)}") from e
            self._send_on_new_session(message, from_addr, to_addrs)
        except (smtplib.SMTPException, OSError) as e:
            self._drop()
            raise DeliveryError(_describe(e)) from e
        self._sent += 1

    def _send_on_new_session(self, message: EmailMessage, from_addr: str, to_addrs: list[str]) -> None:
        smtp = self._open()
        try:
            smtp.send_message(message, from_addr=from_addr, to_addrs=to_addrs)
        except (OSError, smtplib.SMTPException) as e:
            self._drop()
            raise DeliveryError(_describe(e)) from e

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.close()
            except Exception:  # noqa: BLE001 - closing a broken socket
                pass

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001 - the server may already be gone
            smtp.close()


def _describe(e: BaseException) -> str:
    if isinstance(e, smtplib.SMTPResponseException):
        text = e.smtp_error.decode("utf-8", "replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        return f"{e.smtp_code} {text}".strip()
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        parts = []
        for addr, (code, msg) in e.recipients.items():
            text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
            parts.append(f"{addr}: {code} {text}")
        return "; ".join(parts)
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


# --- the dev mailbox ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DevMailboxBackend:
    directory: Path
    url: str = "dev://"

    def open(self) -> "DevMailboxConnection":
        return DevMailboxConnection(self.directory)


class DevMailboxConnection:
    def __init__(self, directory: Path):
        self.directory = directory

    def send(self, message: EmailMessage, from_addr: str, to_addrs: list[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{secrets.token_hex(4)}"
        # Written under a temporary name and renamed, so the mailbox page never reads half a file.
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(message.as_bytes(policy=policy.SMTP))
        os.replace(tmp, self.directory / f"{name}.eml")

    def close(self) -> None:
        pass


def dev_mailbox_directory(instance_path: str | os.PathLike) -> Path:
    return Path(instance_path) / "mailbox"


# --- choosing a backend ------------------------------------------------------------------------

def _flag(query: dict[str, list[str]], name: str, url: str) -> bool:
    values = query.get(name)
    if not values:
        return False
    value = values[-1].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise MailConfigError(f"EVENTSITE_MAIL_URL: {name}={values[-1]!r} must be 1 or 0 (in {redact(url)})")


def redact(url: str) -> str:
    """The URL with its password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def backend_from_url(url: str | None, *, instance_path: str | os.PathLike, production: bool = False) -> Backend:
    """Parse EVENTSITE_MAIL_URL; raise MailConfigError with a clear message when it cannot be used."""
    url = (url or "").strip()
    if not url:
        raise MailConfigError("EVENTSITE_MAIL_URL is empty: use smtp://host:port, smtps://host:port or dev://")
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise MailConfigError(f"EVENTSITE_MAIL_URL is not a valid URL: {e}") from e
    scheme = parts.scheme.lower()

    if scheme == "dev":
        if parts.netloc or parts.path.strip("/") or parts.query:
            raise MailConfigError(f"EVENTSITE_MAIL_URL: dev:// takes no host, path or options (got {url!r})")
        if production:
            raise MailConfigError(
                "EVENTSITE_MAIL_URL=dev:// keeps mail on disk for the dev mailbox, which production does not "
                "serve: set an smtp:// or smtps:// URL"
            )
        return DevMailboxBackend(dev_mailbox_directory(instance_path))

    if scheme in ("smtp", "smtps"):
        safe = redact(url)
        try:
            host, port = parts.hostname, parts.port
        except ValueError as e:
            raise MailConfigError(f"EVENTSITE_MAIL_URL: bad port in {safe}") from e
        if not host:
            raise MailConfigError(f"EVENTSITE_MAIL_URL: no host in {safe}")
        if parts.path.strip("/"):
            raise MailConfigError(f"EVENTSITE_MAIL_URL: unexpected path in {safe}")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = set(query) - {"starttls", "timeout"}
        if unknown:
            raise MailConfigError(
                f"EVENTSITE_MAIL_URL: unknown option(s) {', '.join(sorted(unknown))} in {safe} "
                "(known: starttls, timeout)"
            )
        starttls = _flag(query, "starttls", url)
        if starttls and scheme == "smtps":
            raise MailConfigError("EVENTSITE_MAIL_URL: smtps:// is already TLS; starttls=1 is only for smtp://")
        timeout = DEFAULT_TIMEOUT
        if "timeout" in query:
            try:
                timeout = float(query["timeout"][-1])
            except ValueError:
                timeout = -1.0
            if not 0 < timeout <= 600:
                raise MailConfigError(f"EVENTSITE_MAIL_URL: timeout must be a number of seconds (in {safe})")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return SMTPBackend(
            host=host,
            port=port or (465 if scheme == "smtps" else 25),
            username=username,
            password=password,
            starttls=starttls,
            implicit_tls=scheme == "smtps",
            timeout=timeout,
        )

    shown = f"{parts.scheme}://" if parts.scheme else repr(url)
    raise MailConfigError(
        f"EVENTSITE_MAIL_URL: unknown scheme {shown}; "
        "use smtp://host:port (optionally user:password@ and ?starttls=1), smtps://host:port or dev://"
    )


def backend_for_app(app) -> Backend:
    return backend_from_url(
        app.config.get("EVENTSITE_MAIL_URL"),
        instance_path=app.instance_path,
        production=app.config.get("EVENTSITE_ENV") == "production",
    )
