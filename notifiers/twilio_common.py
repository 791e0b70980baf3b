"""What Twilio adapters share: the client (aimable at loopback) and error classification."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http import AsyncHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from engine.kernel.errors import SendFailed
from engine.kernel.ports import OutboundMessage, Receipt

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


THROTTLED_CODES = frozenset({20429, 21611})  # too many requests; the sender's queue is full
TRANSIENT_CODES = frozenset(
    {
        20429,  # too many requests
        21611,  # the sender's queue is full
        30001,  # queue overflow
    }
)


def _rebased(url: str, base: str | None) -> str:
    if not base:
        return url
    b, p = urlsplit(base), urlsplit(url)
    return urlunsplit((b.scheme, b.netloc, p.path, p.query, p.fragment))


class CrisisHttpClient(TwilioHttpClient):  # type: ignore[misc]  # untyped base
    """Twilio's HTTP client, keeping each thread's last response headers (for Retry-After),
    and optionally sending every request to ``base`` instead of *.twilio.com (tests)."""

    def __init__(self, base: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._local = threading.local()
        self.base = base

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        url = _rebased(url, self.base)
        self._local.headers = {}
        response = super().request(method, url, *args, **kwargs)
        self._local.headers = dict(getattr(response, "headers", None) or {})
        return response

    def retry_after(self) -> float | None:
        """Retry-After of this thread's last response, in seconds."""
        headers = getattr(self._local, "headers", {}) or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        return float(value) if value is not None and str(value).isdigit() else None


_headers: ContextVar[Mapping[str, str] | None] = ContextVar("twilio_headers", default=None)


class CrisisAsyncHttpClient(AsyncHttpClient):  # type: ignore[misc]  # untyped base
    """Twilio's asynchronous HTTP interface on aiohttp: one session per event loop (made on
    first use inside that loop), with no cap on its connections (the worker's window is the
    cap, and a cap below it would queue sends inside aiohttp), each request's deadline the
    client's timeout, and the last response's headers kept per task (for Retry-After)."""

    def __init__(self, base: str | None = None, *, timeout: float = 15.0) -> None:
        super().__init__(logger=logging.getLogger("twilio.async_http_client"), is_async=True)
        self.base = base
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
            self._loop = loop
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        _headers.set({})
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = aiohttp.encode_basic_auth(*auth)
        body: bytes | None = None
        if data:  # encoded here: aiohttp's FormData costs more CPU than the whole send
            body = urlencode(data, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with self._session_here().request(
            method.upper(),
            _rebased(url, self.base),
            params=params,
            data=body,
            headers=headers,
            allow_redirects=allow_redirects,
            timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
        ) as response:
            text = await response.text()
            _headers.set(dict(response.headers))
            return Response(response.status, text, response.headers)

    async def aclose(self) -> None:
        """Close this loop's session (the worker calls it before its loop ends)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def async_twin(client: Client) -> Client:
    """A twilio Client with the same credentials and aim, on the asynchronous HTTP client."""
    http = getattr(client, "http_client", None)
    return Client(
        client.username,
        client.password,
        client.account_sid,
        http_client=CrisisAsyncHttpClient(
            getattr(http, "base", None), timeout=getattr(http, "timeout", None) or 15.0
        ),
    )


def async_retry_after() -> float | None:
    """Retry-After of the current task's last response, in seconds."""
    headers = _headers.get() or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    return float(value) if value is not None and str(value).isdigit() else None


# What a send can raise besides Twilio's own errors: the network, and the deadline.
NETWORK_ERRORS = (OSError, aiohttp.ClientError, asyncio.TimeoutError)


async def close_async(client: Client) -> None:
    http = getattr(client, "http_client", None)
    if isinstance(http, CrisisAsyncHttpClient):
        await http.aclose()


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
                throttled=status == 429 or code in THROTTLED_CODES,
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


class TwilioCreator:
    """What the SMS and voice notifiers share: one ``create`` on a Twilio list resource per
    message (``messages`` or ``calls``), on the synchronous client for callers in threads and
    on its asynchronous twin for the worker; failures classified the same way; the new
    resource's SID is the receipt. Subclasses give ``RESOURCE``, ``NOUN`` and ``_params``."""

    RESOURCE = ""  # the client's list resource: "messages", "calls"
    NOUN = ""  # what is created, for errors: "message", "call"

    def __init__(self, *, client: Client, status_callback: str | None) -> None:
        self.client = client
        self.status_callback = status_callback
        self.async_client = async_twin(client)
        # twilio imports its API modules on first use: here, not in the middle of a blast
        getattr(self.async_client, self.RESOURCE)

    def _params(self, message: OutboundMessage) -> dict[str, Any]:
        raise NotImplementedError

    def _with_callback(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.status_callback:
            params["status_callback"] = self.status_callback
        return params

    def send(self, message: OutboundMessage) -> Receipt:
        try:
            created = getattr(self.client, self.RESOURCE).create(**self._params(message))
        except (TwilioException, OSError) as exc:
            raise classify(exc, retry_after=retry_after_of(self.client)) from None
        return self._receipt(created.sid)

    async def send_async(self, message: OutboundMessage) -> Receipt:
        resource = getattr(self.async_client, self.RESOURCE)
        try:
            created = await resource.create_async(**self._params(message))
        except (TwilioException, *NETWORK_ERRORS) as exc:
            raise classify(exc, retry_after=async_retry_after()) from None
        return self._receipt(created.sid)

    async def aclose(self) -> None:
        await close_async(self.async_client)

    def _receipt(self, sid: str | None) -> Receipt:
        if not sid:
            raise SendFailed(f"twilio returned no {self.NOUN} sid", permanent=False, code="no_sid")
        return Receipt(provider_id=sid, final=False)
