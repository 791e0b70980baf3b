"""Operational updates as Bluesky posts, through the AT Protocol SDK (``atproto``).

The brand's account signs in to its PDS with an app password (Settings → Privacy and
security → App passwords) from the environment; the session is opened on the first send and
refreshed by the client; a refused refresh signs in again. Each update is one
``app.bsky.feed.post`` record: the text (at most 300 graphemes and 3,000 bytes — refused
here, not cut; drafting refuses it first), its language, a link facet for every URL (byte
offsets in UTF-8, as the lexicon says, so links are clickable), and for every post after an
incident's first a reply reference to the thread's root and to the newest post (one thread
per incident).

A post's provider id is its AT URI and CID (``at://…|bafy…``): a reply needs both.
Faults: 429 is retried after the PDS's ``ratelimit-reset``; 5xx and network errors retried;
401 (a revoked app password) retried and shown so a person can fix it; other 4xx permanent.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from atproto import Client, models
from atproto_client import exceptions as atx
from atproto_client.request import Request

from engine.kernel.errors import SendFailed
from engine.kernel.lengths import URL, TextLimit
from engine.kernel.ports import OutboundMessage, Receipt
from notifiers.marketing.base import http_failure, unreachable

LIMIT = TextLimit(300, "Bluesky", "graphemes", max_bytes=3000)
SEP = "|"


class BlueskyNotifier:
    def __init__(
        self, *, handle: str, app_password: str, base_url: str = "https://bsky.social",
        timeout: float = 15.0,
    ) -> None:  # fmt: skip
        self.handle = handle
        self.base_url = base_url.rstrip("/")
        self._password = app_password
        self._timeout = timeout
        self._client: Client | None = None
        self._did = ""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BlueskyNotifier(handle={self.handle!r}, app_password='****')"

    def send(self, message: OutboundMessage) -> Receipt:
        text = message.body
        if problem := LIMIT.problem(text):
            raise SendFailed(f"the post is too long: {problem}", permanent=True, code="too_long")
        reply = _reply(message.meta.get("thread_root"), message.meta.get("reply_to"))
        language = str(message.meta.get("locale") or "")[:2]
        client, did = self._session()
        try:
            created = client.send_post(
                text, profile_identify=did, reply_to=reply, facets=link_facets(text) or None,
                langs=[language] if language else None,
            )  # fmt: skip
        except atx.UnauthorizedError as exc:
            self.close()  # sign in again on the next attempt
            raise _failure(exc) from None
        except atx.AtProtocolError as exc:
            raise _failure(exc) from None
        return Receipt(provider_id=f"{created.uri}{SEP}{created.cid}", final=True)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.request.close()
                self._client = None

    def _session(self) -> tuple[Client, str]:
        with self._lock:
            if self._client is None:
                client = Client(base_url=self.base_url, request=Request(timeout=self._timeout))
                try:
                    client.login(self.handle, self._password, fetch_bsky_profile=False)
                    did = client.com.atproto.server.get_session().did
                except atx.AtProtocolError as exc:
                    client.request.close()
                    raise _failure(exc, signing_in=True) from None
                self._client, self._did = client, did
            return self._client, self._did


def link_facets(text: str) -> list[models.AppBskyRichtextFacet.Main]:
    """A link facet for each URL in ``text`` (UTF-8 byte offsets)."""
    out = []
    for m in URL.finditer(text):
        start = len(text[: m.start()].encode())
        end = start + len(m.group(0).encode())
        uri = m.group(0) if "://" in m.group(0) else f"https://{m.group(0)}"
        out.append(
            models.AppBskyRichtextFacet.Main(
                index=models.AppBskyRichtextFacet.ByteSlice(byte_start=start, byte_end=end),
                features=[models.AppBskyRichtextFacet.Link(uri=uri)],
            )
        )
    return out


def _reply(root: Any, parent: Any) -> models.AppBskyFeedPost.ReplyRef | None:
    if not root or not parent:
        return None
    return models.AppBskyFeedPost.ReplyRef(root=_ref(str(root)), parent=_ref(str(parent)))


def _ref(provider_id: str) -> models.ComAtprotoRepoStrongRef.Main:
    uri, _, cid = provider_id.partition(SEP)
    return models.ComAtprotoRepoStrongRef.Main(uri=uri, cid=cid)


def _failure(exc: atx.AtProtocolError, *, signing_in: bool = False) -> SendFailed:
    what = "Bluesky (signing in)" if signing_in else "Bluesky"
    resp = exc.response if isinstance(exc, atx.RequestErrorBase) else None
    if resp is None:  # no answer: the network, a timeout
        return unreachable(what, exc)
    headers = {str(k): str(v) for k, v in (resp.headers or {}).items()}
    reset = headers.get("ratelimit-reset", "")
    if resp.status_code == 429 and reset.isdigit():
        headers["Retry-After"] = str(max(1, int(reset) - int(time.time())))
    content = resp.content
    body: Any = None
    if content is not None and hasattr(content, "error"):
        body = {"error": f"{content.error}: {content.message or ''}".strip(": ")}
    return http_failure(what, resp.status_code, headers=headers, body=body)
