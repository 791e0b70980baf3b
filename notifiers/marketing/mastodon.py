"""Mastodon scheduled statuses through Mastodon.py, for one account (its access token).

Pausing pushes a scheduled status out of the window: it is rescheduled years ahead (a distinct
day per status, under Mastodon's 25-a-day limit), keeping its id, text, media, visibility and
poll; restoring puts its own time back. Both are idempotent. Discarding deletes it. A status
scheduled more than ``PAUSED_AFTER`` ahead reads as paused. Labels: ``hashtag`` (each #tag in
its text, folded), ``visibility``, ``language``.

Mastodon.py is told to raise on rate limits (never to sleep in a worker) and not to check the
server's version; the token is sent only in the Authorization header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
)

from engine.kernel.errors import SendFailed
from engine.kernel.ports import ExternalItem
from notifiers.marketing.base import fingerprint, http_failure, unreachable

PUSH = timedelta(days=3 * 365)  # where a paused status waits
PAUSED_AFTER = timedelta(days=2 * 365)  # further ahead than this: paused by us
HASHTAG = re.compile(r"(?<!\w)#(\w+)")


class MastodonPlatform:
    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        name: str = "mastodon",
        timeout: float = 10.0,
        clock: Any = None,
    ) -> None:
        self.name = name
        self._api = Mastodon(
            access_token=access_token,
            api_base_url=base_url,
            ratelimit_method="throw",
            request_timeout=timeout,
            version_check_mode="none",
        )
        self._now = clock or (lambda: datetime.now(UTC))

    def scheduled(self) -> list[ExternalItem]:
        first = self._call(lambda: self._api.scheduled_statuses(limit=40))
        every = self._call(lambda: self._api.fetch_remaining(first))
        return [i for i in (self._item(s) for s in every if isinstance(s, Mapping)) if i.active]

    def look(self, item: ExternalItem) -> ExternalItem | None:
        try:
            return self._item(self._call(lambda: self._api.scheduled_status(_id(item))))
        except SendFailed as exc:
            if exc.provider_code == "404":
                return None
            raise

    def pause(self, item: ExternalItem) -> Mapping[str, Any]:
        sid = _id(item)
        day = int(re.sub(r"\D", "", sid) or "0") % 300
        far = self._now() + PUSH + timedelta(days=day)
        self._reschedule(sid, far)
        return {"pushed_to": far.isoformat()}

    def restore(self, item: ExternalItem) -> None:
        when = item.send_at
        soonest = self._now() + timedelta(minutes=6)  # Mastodon schedules 5 minutes out at least
        at = when if when and when > soonest else soonest
        self._reschedule(_id(item), at)

    def _reschedule(self, sid: str, when: datetime) -> None:
        """``PUT /api/v1/scheduled_statuses/:id`` with a JSON body, as Mastodon's API
        description gives it (Mastodon.py's own helper sends a form, which the description
        does not list); through the client's request path, so errors and limits are the same.
        """
        at = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        request = getattr(self._api, "_Mastodon__api_request")  # noqa: B009 - the client's own path
        self._call(
            lambda: request(
                "PUT", f"/api/v1/scheduled_statuses/{sid}", {"scheduled_at": at}, use_json=True
            )
        )

    def discard(self, item: ExternalItem) -> None:
        try:
            self._call(lambda: self._api.scheduled_status_delete(_id(item)))
        except SendFailed as exc:
            if exc.provider_code != "404":  # already gone is discarded
                raise

    def _call(self, fn: Any) -> Any:
        return call(self._api, fn, now=self._now)

    def _item(self, s: Any) -> ExternalItem:
        if not isinstance(s, Mapping) or "id" not in s:
            raise SendFailed(
                "Mastodon answered something that is not a scheduled status",
                permanent=False,
                code="bad_answer",
            )
        params = dict(s.get("params") or {})
        text = str(params.get("text") or "")
        when = _aware(s.get("scheduled_at"))
        media = [str(m.get("id")) for m in (s.get("media_attachments") or [])]
        labels = {
            "hashtag": tuple(sorted({t.casefold() for t in HASHTAG.findall(text)})),
            "visibility": (str(params.get("visibility") or "public"),),
            "language": (str(params.get("language") or ""),) if params.get("language") else (),
        }
        content = {
            k: params.get(k) for k in ("text", "spoiler_text", "sensitive", "visibility", "poll")
        }
        return ExternalItem(
            ref=f"status:{s['id']}",
            kind="scheduled_status",
            title=text[:120] or f"scheduled status {s['id']}",
            send_at=when,
            labels={k: v for k, v in labels.items() if v},
            fingerprint=fingerprint(content, sorted(media)),
            state={"id": str(s["id"])},
            active=when is not None and when < self._now() + PAUSED_AFTER,
        )


def call(api: Mastodon, fn: Any, *, now: Any = None) -> Any:
    """Run one Mastodon.py call, its errors as the outbox needs them (429 with Retry-After
    from Mastodon's rate-limit reset, 404, network, any other status)."""
    try:
        return fn()
    except MastodonRatelimitError:
        reset = getattr(api, "ratelimit_reset", None)
        at = (now or (lambda: datetime.now(UTC)))().timestamp()
        headers = {"Retry-After": str(int(max(1.0, float(reset) - at)))} if reset else {}
        raise http_failure("Mastodon", 429, headers=headers) from None
    except MastodonNotFoundError:
        raise http_failure("Mastodon", 404) from None
    except MastodonNetworkError as exc:
        raise unreachable("Mastodon", exc) from None
    except MastodonAPIError as exc:
        status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 500
        detail = exc.args[3] if len(exc.args) > 3 else None
        raise http_failure("Mastodon", status, body={"error": detail}) from None


def _id(item: ExternalItem) -> str:
    return str(item.state.get("id") or item.ref.removeprefix("status:"))


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    when: datetime = value if value.tzinfo else value.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(microsecond=0)
