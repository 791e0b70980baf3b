"""Operational updates as posts on X, through tweepy (API v2 ``POST /2/tweets``).

Posting needs user context: OAuth 1.0a with the app's consumer key and secret and the brand
account's access token and secret (an app with "Read and write" permission), each from the
environment. The first post of an incident starts a thread; later ones reply to the newest
(``reply.in_reply_to_tweet_id``, from the outbox's ``reply_to``). A post over X's 280
weighted characters is refused here, not cut (drafting refuses it first).

Faults: 429 is retried after X's ``x-rate-limit-reset`` (or Retry-After); 5xx and network
errors retried; 401 (a revoked or rotated token) retried and shown so a person can fix it;
403 and other 4xx (e.g. duplicate content, a reply to a deleted post) are permanent. X has no
idempotency key: a retry after an answer lost on the way back may meet "duplicate content",
which says so (the post is probably up; look at the account).

``base_url`` sends the same requests (signed for api.twitter.com, as X checks them) to another
host: a loopback stand-in in tests, or an egress proxy.
"""

from __future__ import annotations

import time
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from engine.kernel.errors import SendFailed
from engine.kernel.lengths import x_weighted
from engine.kernel.ports import OutboundMessage, Receipt
from notifiers.marketing.base import http_failure, unreachable

HOST = "https://api.twitter.com"
LIMIT = 280


class _Rebase(HTTPAdapter):
    """Send requests for X's host to ``base`` instead (the signature stays X's)."""

    def __init__(self, base: str, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.base = base.rstrip("/")
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        request.url = self.base + str(request.url)[len(HOST) :]
        kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


class _Timeout(HTTPAdapter):
    def __init__(self, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


class XNotifier:
    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        base_url: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        self._client = tweepy.Client(
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
            wait_on_rate_limit=False,  # the outbox waits, and does other work meanwhile
        )
        adapter = _Rebase(base_url, timeout) if base_url else _Timeout(timeout)
        self._client.session.mount(HOST + "/", adapter)

    def __repr__(self) -> str:
        return "XNotifier(consumer_key='****', access_token='****')"

    def send(self, message: OutboundMessage) -> Receipt:
        text = message.body
        if (n := x_weighted(text)) > LIMIT:
            raise SendFailed(
                f"the post weighs {n} characters; X takes {LIMIT}", permanent=True, code="too_long"
            )
        reply_to = message.meta.get("reply_to")
        try:
            resp = self._client.create_tweet(
                text=text, in_reply_to_tweet_id=str(reply_to) if reply_to else None, user_auth=True
            )
        except tweepy.TweepyException as exc:
            raise _failure(exc) from None
        except (requests.ConnectionError, requests.Timeout, OSError) as exc:
            raise unreachable("X", exc) from None
        data = getattr(resp, "data", None) or {}
        post_id = str(data.get("id") or "")
        if not post_id:
            raise SendFailed("X answered without a post id", permanent=False, code="bad_answer")
        return Receipt(provider_id=post_id, final=True)


def _failure(exc: tweepy.TweepyException) -> SendFailed:
    if not isinstance(exc, tweepy.HTTPException):
        return SendFailed(f"X: {exc}", permanent=False, code="unreachable")
    resp = exc.response
    headers = {str(k): str(v) for k, v in resp.headers.items()}
    reset = headers.get("x-rate-limit-reset", "")
    if resp.status_code == 429 and reset.isdigit() and "Retry-After" not in headers:
        headers["Retry-After"] = str(max(1, int(reset) - int(time.time())))
    words = " ".join(str(m) for m in exc.api_messages)[:200]
    if resp.status_code == 403 and "duplicate" in words.lower():
        return SendFailed(
            "X refused a duplicate post (an earlier attempt probably posted it: look at the "
            "account before sending again)",
            permanent=True,
            code="duplicate",
        )
    return http_failure("X", resp.status_code, headers=headers, body={"detail": words})
