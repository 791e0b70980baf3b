"""What Twilio adapters share: the client (aimable at loopback) and error classification."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from engine.kernel.errors import SendFailed

# Twilio error codes: https://www.twilio.com/docs/api/errors
PERMANENT_CODES = frozenset(
    {
        20003,  # authentication failed: configuration, not a passing fault
        21211,  # invalid 'To' number
        21212,  # invalid 'From' number
        21214,  # 'To' cannot be reached
        21408,  # permission to send to this region not enabled
        21610,  # the recipient replied STOP (unsubscribed)
        21612,  # cannot route to this number
        21614,  # 'To' is not a mobile number
    }
)
UNSUBSCRIBED = 21610
AUTHENTICATION = 20003  # the account SID or auth token is wrong (revoked, rotated)
# Twilio's message and call statuses as provider-neutral receipt stages (engine.delivery.receipts).
RECEIPT_STAGES = {
    "accepted": "accepted",
    "queued": "accepted",
    "scheduled": "accepted",
    "initiated": "accepted",
    "sending": "sending",
    "ringing": "sending",
    "in-progress": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "completed": "delivered",  # a call that was answered and ended
    "undelivered": "failed",
    "failed": "failed",
    "busy": "failed",
    "no-answer": "failed",
    "canceled": "failed",
}


def receipt_stage(status: str) -> str:
    """A Twilio status callback's status in the engine's words (unknown: ``other``)."""
    return RECEIPT_STAGES.get(status, "other")


TRANSIENT_CODES = frozenset(
    {
        20429,  # too many requests
        21611,  # the sender's queue is full
        30001,  # queue overflow
    }
)


class CrisisHttpClient(TwilioHttpClient):  # type: ignore[misc]  # untyped base
    """Twilio's HTTP client, keeping each thread's last response headers (for Retry-After),
    and optionally sending every request to ``base`` instead of *.twilio.com (tests)."""

    def __init__(self, base: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._local = threading.local()
        parts = urlsplit(base) if base else None
        self._rebase = (parts.scheme, parts.netloc) if parts else None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if self._rebase is not None:
            p = urlsplit(url)
            url = urlunsplit((*self._rebase, p.path, p.query, p.fragment))
        self._local.headers = {}
        response = super().request(method, url, *args, **kwargs)
        self._local.headers = dict(getattr(response, "headers", None) or {})
        return response

    def retry_after(self) -> float | None:
        """Retry-After of this thread's last response, in seconds."""
        headers = getattr(self._local, "headers", {}) or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        return float(value) if value is not None and str(value).isdigit() else None


def make_client(
    *, account_sid: str, auth_token: str, base_url: str | None = None, timeout: float = 15.0
) -> Client:
    """The real twilio Client; ``base_url`` aims it at a loopback server in tests."""
    return Client(account_sid, auth_token, http_client=CrisisHttpClient(base_url, timeout=timeout))


def classify(exc: BaseException, *, retry_after: float | None = None) -> SendFailed:
    """Turn a Twilio or network error into a transient or permanent SendFailed."""
    if isinstance(exc, TwilioException):
        status = getattr(exc, "status", None)
        code = getattr(exc, "code", None)
        message = getattr(exc, "msg", None) or str(exc)
        text = f"twilio {status} {code}: {message}"[:500]
        if code in TRANSIENT_CODES or status == 429 or (isinstance(status, int) and status >= 500):
            return SendFailed(
                text,
                permanent=False,
                code=str(code or status),
                retry_after=retry_after or _retry_after(exc),
            )
        if code in PERMANENT_CODES or (isinstance(status, int) and 400 <= status < 500):
            return SendFailed(
                text,
                permanent=True,
                code=str(code or status),
                unsubscribed=code == UNSUBSCRIBED,
                credentials=code == AUTHENTICATION or status == 401,
            )
        return SendFailed(text, permanent=False, code=str(code or status or "twilio"))
    return SendFailed(
        f"twilio unreachable: {type(exc).__name__}: {exc}"[:500],
        permanent=False,
        code="unreachable",
    )


def _retry_after(exc: BaseException) -> float | None:
    details = getattr(exc, "details", None)
    if isinstance(details, dict):
        value = details.get("retry_after") or details.get("Retry-After")
        if isinstance(value, int | float | str) and str(value).replace(".", "").isdigit():
            return float(value)
    return None


def retry_after_of(client: Client) -> float | None:
    http = getattr(client, "http_client", None)
    return http.retry_after() if isinstance(http, CrisisHttpClient) else None
