"""Twilio's status callbacks at volume: a WSGI layer in front of Flask for one route.

Every message sent produces two or three status callbacks, so ``POST /hooks/twilio/status``
carries most of a blast's inbound traffic, and its view needs none of Flask's machinery: no
session, no user, no template, no URL building. Half of a callback's CPU went to that machinery
(the request context, nine before/after hooks, the form parser, the response object), so the
common case is answered here: a small form from a host we serve, signed with one HMAC over the
URL as we see it, naming a message and a status, kept with ``record_receipt`` (one group
commit) and answered 204, with the same headers and log line as the Flask view.

Anything else goes to the Flask view untouched, body included, and is answered there as before:
a missing or wrong signature (twilio's full check, with and without the port), an unknown host,
a body that is not a small urlencoded form, a field that cannot be stored, a missing field, a
failed write (the view tries once more and answers with the usual JSON error). So this layer
can only accept what the view would accept, and never answers an error itself.
"""

from __future__ import annotations

import hmac
import io
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import SecurityError
from werkzeug.wsgi import get_current_url

from engine.kernel.text import UNSTORABLE
from web import logs
from web.hooks import receipt_of, twilio_token

PATH = "/hooks/twilio/status"
FORM = "application/x-www-form-urlencoded"
MOST = 64 * 1024  # a callback is a few hundred bytes; anything bigger takes the long way
MOST_FIELDS = 100
MOST_URLS = 64
# What the signed URL is made of (werkzeug's get_current_url, behind any ProxyFix).
_URL_PARTS = (
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "SCRIPT_NAME",
    "QUERY_STRING",
)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class StatusCallbacks:
    """Answer well-formed, correctly signed status callbacks without entering Flask."""

    def __init__(self, app: Flask, inner: WsgiApp, *, headers: list[tuple[str, str]]) -> None:
        self._app = app
        self._inner = inner
        self._headers = headers  # the security headers every answer carries
        self._urls: dict[tuple[Any, ...], str | None] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != PATH:
            return self._inner(environ, start_response)
        started = time.perf_counter()
        body = self._body(environ)
        if body is not None:
            environ["wsgi.input"] = io.BytesIO(body)  # the view reads it if we pass it on
            try:
                kept = self._keep(environ, body)
            except Exception:  # the view tries again, and answers and logs the error
                kept = False
            if kept:
                return self._answer(environ, start_response, started)
        return self._inner(environ, start_response)

    def _body(self, environ: dict[str, Any]) -> bytes | None:
        """The request's body if it is a small urlencoded form of stated length, else None
        (the stream untouched)."""
        kind = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if kind != FORM or not 0 < length <= MOST:
            return None
        body: bytes = environ["wsgi.input"].read(length)
        return body

    def _keep(self, environ: dict[str, Any], body: bytes) -> bool:
        """Keep the receipt if the callback is signed and complete; False leaves it to the
        view (nothing kept)."""
        signature = environ.get("HTTP_X_TWILIO_SIGNATURE", "")
        token = twilio_token(self._app)
        if not signature or not token:
            return False
        pairs = parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
        form = dict(pairs)
        if len(form) != len(pairs) or len(pairs) > MOST_FIELDS:
            return False  # a repeated field (the view signs the first value) or a flood
        if any(UNSTORABLE.search(v) for v in form.values()):
            return False
        url = self._url(environ)
        if url is None:
            return False
        if not hmac.compare_digest(RequestValidator(token).compute_signature(url, form), signature):
            return False
        receipt = receipt_of(form)
        if receipt is None:
            return False
        self._app.extensions["crisis.core"].delivery.record_receipt(**receipt)
        return True

    def _url(self, environ: dict[str, Any]) -> str | None:
        """The URL Twilio signed, as the view sees it (the public URL when one is set); None
        for a host this app does not answer. Remembered per scheme, host and query (a few:
        Twilio calls back on the URLs we gave it)."""
        key = tuple(environ.get(k) for k in _URL_PARTS)
        if key not in self._urls:
            if len(self._urls) >= MOST_URLS:  # Host headers are the caller's: stay small
                self._urls.clear()
            self._urls[key] = self._url_of(environ)
        return self._urls[key]

    def _url_of(self, environ: dict[str, Any]) -> str | None:
        try:
            here = get_current_url(environ, trusted_hosts=self._app.config["TRUSTED_HOSTS"])
        except SecurityError:
            return None
        public: str | None = self._app.config.get("PUBLIC_URL")
        if not public:
            return str(here)
        query = environ.get("QUERY_STRING", "")
        return public.rstrip("/") + PATH + (f"?{query}" if query else "")

    def _answer(
        self, environ: dict[str, Any], start_response: StartResponse, started: float
    ) -> Iterable[bytes]:
        request_id = logs.request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response("204 NO CONTENT", [*self._headers, ("X-Request-ID", request_id)])
        logs.request_line("POST", PATH, 204, started=started, user=None, request_id=request_id)
        return []
