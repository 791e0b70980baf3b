"""Operational updates as Mastodon statuses, through Mastodon.py, on the brand's account.

Each update is one status: public (or the channel's ``visibility``), never behind a content
warning (people stuck on a train must read it at a glance), in the update's language, and a
reply to the incident's previous post when there is one (``reply_to`` in the message's meta:
one thread per incident). Its length is checked against the instance's own limit, read once
from ``/api/v2/instance`` (500 if the instance does not say) and counted as Mastodon counts
(URLs as 23, graphemes): a post over it is refused, not cut. ``Idempotency-Key`` is the
delivery's id, so a retry after a lost answer posts once. A correction edits the published
status in place (``PUT /api/v1/statuses/:id``; Mastodon marks it edited and keeps its history).
"""

from __future__ import annotations

import threading
from typing import Any

from mastodon import Mastodon

from engine.kernel.errors import SendFailed
from engine.kernel.lengths import mastodon as mastodon_length
from engine.kernel.ports import OutboundMessage, Receipt
from notifiers.marketing.mastodon import call

DEFAULT_LIMIT = 500
VISIBILITIES = ("public", "unlisted", "private", "direct")


class MastodonNotifier:
    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        visibility: str = "public",
        timeout: float = 15.0,
    ) -> None:
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
        self.base_url = base_url
        self.visibility = visibility
        self._api = Mastodon(
            access_token=access_token,
            api_base_url=base_url,
            ratelimit_method="throw",
            request_timeout=timeout,
            version_check_mode="none",
        )
        self._limit: int | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MastodonNotifier(base_url={self.base_url!r}, token='****')"

    def limit(self) -> int:
        """The instance's character limit for a status (read once)."""
        with self._lock:
            if self._limit is None:
                # the path as Mastodon's API describes it (Mastodon.py adds a trailing slash)
                request = getattr(self._api, "_Mastodon__api_request")  # noqa: B009
                info = self._call(lambda: request("GET", "/api/v2/instance"))
                cfg = (info or {}).get("configuration") or {}
                value = (cfg.get("statuses") or {}).get("max_characters")
                self._limit = int(value) if isinstance(value, int) and value > 0 else DEFAULT_LIMIT
            return self._limit

    def send(self, message: OutboundMessage) -> Receipt:
        text = message.body
        limit = self.limit()
        if (n := mastodon_length(text)) > limit:
            raise SendFailed(
                f"the post has {n} characters; this Mastodon instance takes {limit}",
                permanent=True,
                code="too_long",
            )
        request = getattr(self._api, "_Mastodon__api_request")  # noqa: B009
        edit = message.meta.get("edit_of")
        if edit:  # a correction: the published status is edited (Mastodon shows "edited")
            changes: dict[str, Any] = {"status": text}
            if language := str(message.meta.get("locale") or "")[:2]:
                changes["language"] = language
            status = self._call(
                lambda: request("PUT", f"/api/v1/statuses/{edit}", changes, use_json=True)
            )
            return Receipt(provider_id=str(status["id"]), final=True)
        reply_to = message.meta.get("reply_to")
        params: dict[str, Any] = {"status": text, "visibility": self.visibility}
        if reply_to:
            params["in_reply_to_id"] = str(reply_to)
        language = str(message.meta.get("locale") or "")[:2]
        if language:
            params["language"] = language
        # JSON, as Mastodon's API description lists it (Mastodon.py's helper sends a form);
        # through the client's own request path, so errors and limits are the same.
        key = f"crisiscomms-{message.delivery_id}"
        status = self._call(
            lambda: request(
                "POST", "/api/v1/statuses", params, headers={"Idempotency-Key": key}, use_json=True
            )
        )
        return Receipt(provider_id=str(status["id"]), final=True)

    def _call(self, fn: Any) -> Any:
        return call(self._api, fn)
