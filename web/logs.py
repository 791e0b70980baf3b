"""Structured logs: one JSON object a line, with the request and incident they belong to.

Every line carries ``request_id`` (from X-Request-ID, or made up) inside a request and
``incident_id`` when the work concerns an incident (a request for one, a delivery, a timer).
Secrets never reach the output: the values of every credential variable the channels name,
CRISIS_SECRET_KEY, TWILIO_AUTH_TOKEN and CRISIS_METRICS_TOKEN, database passwords in URLs,
our API tokens, bearer credentials and unsubscribe tokens in paths are replaced with ``****``
after formatting, whatever
the message or traceback contained.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from engine.kernel import linear, logcontext

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # an X-Request-ID we keep as sent (whole)
request_log = logging.getLogger("crisis.request")

# RE2 (linear time): a log line can carry a 100 KB path or alert label from anyone.
# (pattern, replacement with \\1 for the part kept)
PATTERNS = (
    (linear.pattern(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ****"),
    (linear.pattern(r"cc_[A-Za-z0-9_-]{16,}"), "cc_****"),  # our API tokens
    (linear.pattern(r"(://[^:/@\s]+):[^@\s]+@"), r"\1:****@"),  # user:password@ in URLs
    (linear.pattern(r"(/status/unsubscribe/)[^/\s\"?]+"), r"\1****"),  # a capability
)
SECRET_VARIABLES = (
    "CRISIS_SECRET_KEY",
    "CRISIS_AUDIT_KEY",
    "TWILIO_AUTH_TOKEN",
    "CRISIS_METRICS_TOKEN",
)


def secret_values(channels: Iterable[Any] = (), env: Mapping[str, str] | None = None) -> set[str]:
    """The secret values to hide: whatever the credential variables hold now."""
    env = os.environ if env is None else env
    names = set(SECRET_VARIABLES)
    for ch in channels:
        names.update(getattr(ch, "credentials", {}).values())
    return {env[n] for n in names if len(env.get(n, "")) >= 6}


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "****")
        text = linear.safe_text(text)
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def request_id(sent: str) -> str:
    """The request's id: the caller's X-Request-ID if sane, else a new one."""
    return sent if REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


def request_line(
    method: str, path: str, status: int, *, started: float, user: str | None, **extra: Any
) -> None:
    """The one line at INFO a request leaves (``started``: its ``perf_counter``)."""
    request_log.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "user": user,
            **extra,
        },
    )


class ContextFilter(logging.Filter):
    """Attach request_id and incident_id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id()
        if getattr(record, "incident_id", None) is None:
            record.incident_id = logcontext.incident_id.get()
        return True


def _request_id() -> str | None:
    try:
        from flask import g, has_request_context

        return g.get("request_id") if has_request_context() else None
    except RuntimeError:
        return None


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "incident_id"):
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        for key in ("method", "path", "status", "duration_ms", "user"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(out, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def handler(stream: Any, *, fmt: str = "json", secrets: Iterable[str] = ()) -> logging.Handler:
    """A handler writing ``fmt`` (json or text) lines, context attached, secrets removed."""
    h = logging.StreamHandler(stream)
    redact = Redactor(secrets)
    h.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    h.addFilter(ContextFilter())
    return h


def configure(channels: Iterable[Any] = (), *, fmt: str = "json", level: str = "INFO") -> None:
    """Send every log line to stderr (``fmt``: json | text; from Config's log settings)."""
    root = logging.getLogger()
    if any(getattr(h, "crisis", False) for h in root.handlers):
        return
    h = handler(
        sys.stderr,
        fmt=fmt,
        secrets=secret_values(channels),
    )
    h.crisis = True  # type: ignore[attr-defined]
    root.addHandler(h)
    root.setLevel(level.upper())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # we write our own request lines
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # /readyz asks it every probe
    quiet(level)


# Provider clients that log every request at INFO (twilio: 11 lines an SMS; httpx, under
# atproto: one a post). The outbox records each outcome and /metrics counts them; the
# clients' per-request detail is for DEBUG.
CHATTY = ("twilio", "httpx", "httpcore", "slack_sdk", "tweepy", "urllib3", "mastodon")


def quiet(level: str) -> None:
    """Provider clients speak at WARNING unless the level is DEBUG."""
    for name in CHATTY:
        logging.getLogger(name).setLevel(
            logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
        )
