"""X's API v2 ``POST /2/tweets`` on loopback: checks what X documents for it — user context
by OAuth 1.0a (HMAC-SHA1 over X's own URL, a fresh timestamp, a nonce used once, the app's
consumer key and the account's access token), a JSON body with ``text`` of at most 280
weighted characters and an optional ``reply.in_reply_to_tweet_id`` naming an existing post —
and answers as X does: 201 ``{"data": {"id", "text"}}``; 401 for a bad signature; 403 for
duplicate content; 400 for a malformed body; 429 with ``x-rate-limit-reset``."""

from __future__ import annotations

import threading
import time
import urllib.parse
from types import SimpleNamespace
from typing import Any

from oauthlib.oauth1.rfc5849 import signature as oauth

from engine.kernel.lengths import x_weighted
from tests.fakes.http import Answer

CONSUMER = ("consumer-key", "consumer-secret")
ACCESS = ("1500-access-token", "access-secret")
URL = "https://api.twitter.com/2/tweets"


class FakeX:
    def __init__(self) -> None:
        self.posts: dict[str, dict[str, Any]] = {}  # id → {"text", "reply_to"}
        self.faults: list[Answer] = []
        self.nonces: set[str] = set()
        self._n = 1_860_000_000_000_000_000
        self._lock = threading.Lock()

    def fail_next(self, status: int, *, reset_in: int | None = None) -> None:
        headers = {"x-rate-limit-reset": str(int(time.time()) + reset_in)} if reset_in else {}
        title = {429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "Error")
        self.faults.append((status, {"title": title, "detail": title, "status": status}, headers))

    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts.values()]

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any,
              headers: dict[str, str]) -> Answer:  # fmt: skip
        with self._lock:
            if method != "POST" or path != "/2/tweets":
                return 404, {"title": "Not Found Error", "status": 404}, {}
            problem = self._auth(headers.get("Authorization", ""))
            if problem:
                return 401, {"title": "Unauthorized", "detail": problem, "status": 401}, {}
            if self.faults:
                return self.faults.pop(0)
            if not headers.get("Content-Type", "").startswith("application/json"):
                return _invalid("the body must be JSON")
            problem = self._check(body)
            if problem:
                return _invalid(problem)
            if any(p["text"] == body["text"] for p in self.posts.values()):
                return 403, {"detail": "You are not allowed to create a Tweet with duplicate "
                             "content.", "title": "Forbidden", "status": 403}, {}  # fmt: skip
            self._n += 1
            post_id = str(self._n)
            reply = (body.get("reply") or {}).get("in_reply_to_tweet_id")
            self.posts[post_id] = {"text": body["text"], "reply_to": reply}
            return 201, {"data": {"id": post_id, "text": body["text"],
                                  "edit_history_tweet_ids": [post_id]}}, {}  # fmt: skip

    def _auth(self, header: str) -> str | None:
        if not header.startswith("OAuth "):
            return "OAuth 1.0a user context expected"
        fields = {
            k.strip(): urllib.parse.unquote(v.strip().strip('"'))
            for k, _, v in (p.partition("=") for p in header[6:].split(","))
        }
        if (
            fields.get("oauth_signature_method") != "HMAC-SHA1"
            or fields.get("oauth_version", "1.0") != "1.0"
        ):
            return "HMAC-SHA1 expected"
        if fields.get("oauth_consumer_key") != CONSUMER[0]:
            return "unknown consumer key"
        if fields.get("oauth_token") != ACCESS[0]:
            return "unknown access token"
        if abs(int(fields.get("oauth_timestamp", "0")) - time.time()) > 300:
            return "stale timestamp"
        nonce = fields.get("oauth_nonce", "")
        if not nonce or nonce in self.nonces:
            return "nonce used before"
        params = oauth.collect_parameters(headers={"Authorization": header},
                                          exclude_oauth_signature=True)  # fmt: skip
        base = oauth.signature_base_string(
            "POST", oauth.base_string_uri(URL), oauth.normalize_parameters(params)
        )
        keys = SimpleNamespace(client_secret=CONSUMER[1], resource_owner_secret=ACCESS[1])
        if fields.get("oauth_signature") != oauth.sign_hmac_sha1_with_client(base, keys):
            return "signature mismatch"
        self.nonces.add(nonce)
        return None

    def _check(self, body: Any) -> str | None:
        if not isinstance(body, dict) or set(body) - {"text", "reply"}:
            return "unexpected fields"
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return "text is required"
        if x_weighted(text) > 280:
            return "text is too long"
        reply = body.get("reply")
        if reply is not None:
            target = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
            if not isinstance(target, str) or target not in self.posts:
                return "the post replied to does not exist"
        return None


def _invalid(message: str) -> Answer:
    detail = "One or more parameters to your request was invalid."
    body = {"errors": [{"message": message}], "title": "Invalid Request", "detail": detail}
    return 400, body | {"status": 400}, {}
