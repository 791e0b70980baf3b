"""SendGrid through the official ``sendgrid`` client: Single Sends, and scheduled mail sends.

Listing reads ``GET /v3/marketing/singlesends`` (every page) and, for each one scheduled,
``GET /v3/marketing/singlesends/{id}`` for its lists, segments and content. Pausing is
SendGrid's own unschedule (``DELETE …/{id}/schedule``: the Single Send goes back to draft,
keeping everything else); restoring schedules it again at the time it had
(``PUT …/{id}/schedule``; a minute from now when that time has passed and a person chose to
publish).
Discarding leaves it a draft. Labels: ``category`` (its categories), ``list`` and ``segment``
(its recipients), ``all`` when it goes to every contact.

Scheduled mail sends (``batch_id`` + ``send_at``) cannot be listed from SendGrid; marketing's
sender registers them with us (engine.calendar.batches). Pausing one creates SendGrid's
``pause`` for the batch (``POST /v3/user/scheduled_sends``), restoring deletes it, discarding
makes it ``cancel``. SendGrid honours a pause only for batches created with a ``batch_id`` and
no later than ten minutes before the send time.

The API key travels only in the Authorization header; the client library's own DEBUG log
prints headers, so its logger is held at INFO here.
"""

from __future__ import annotations

import logging
import urllib.error
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from engine.kernel.errors import SendFailed
from engine.kernel.ports import ExternalItem
from notifiers.marketing.base import fingerprint, http_failure, parse_time, unreachable

logging.getLogger("python_http_client").setLevel(logging.INFO)  # DEBUG would print the key
PAGE = 100
DETAILS = 8  # Single Sends read at once while scanning
SOON = timedelta(minutes=1)  # a send time closer than this is sent a minute from now


class SendGridPlatform:
    def __init__(
        self,
        *,
        api_key: str,
        name: str = "sendgrid",
        host: str = "https://api.sendgrid.com",
        timeout: float = 10.0,
        clock: Any = None,
    ) -> None:
        self.name = name
        self._api = SendGridAPIClient(api_key=api_key, host=host)
        self._api.client.timeout = timeout
        self._now = clock or (lambda: datetime.now(UTC))

    # --- the port -------------------------------------------------------------------------
    def scheduled(self) -> list[ExternalItem]:
        ids = [str(s["id"]) for s in self._pages() if s.get("status") == "scheduled"]
        # The details, a few at a time (bench/connectors.py: one by one, 100 Single Sends at
        # 100 ms each took ten seconds before the first pause).
        with ThreadPoolExecutor(max_workers=DETAILS) as pool:
            found = list(pool.map(self._get, ids))
        return [self._item(f) for f in found if f is not None and f.get("status") == "scheduled"]

    def look(self, item: ExternalItem) -> ExternalItem | None:
        if item.kind == "scheduled_send":
            status = self._batch_status(_batch(item))
            return replace(item, active=status is None)  # SendGrid says no more of a batch
        full = self._get(_id(item))
        return None if full is None else self._item(full)

    def pause(self, item: ExternalItem) -> Mapping[str, Any]:
        if item.kind == "scheduled_send":
            self._batch(_batch(item), "pause")
            return {}
        try:
            self._call(lambda c: c.marketing.singlesends._(_id(item)).schedule.delete())
        except SendFailed as exc:
            # Already unscheduled (a pause repeated after a crash) is done, not an error.
            now = self.look(item) if exc.provider_code == "404" else None
            if now is None or now.active:
                raise
        return {}

    def restore(self, item: ExternalItem) -> None:
        if item.kind == "scheduled_send":  # deleting the pause lets the batch go at its time
            try:
                self._call(lambda c: c.user.scheduled_sends._(_batch(item)).delete())
            except SendFailed as exc:
                if exc.provider_code != "404":  # no pause left: already resumed
                    raise
            return
        # SendGrid's description wants a date-time (its prose also allows "now"): a time that
        # has come is sent a minute from now.
        soonest = self._now() + SOON
        send_at = _iso(item.send_at if item.send_at and item.send_at > soonest else soonest)
        self._call(
            lambda c: c.marketing.singlesends._(_id(item)).schedule.put(
                request_body={"send_at": send_at}
            )
        )

    def discard(self, item: ExternalItem) -> None:
        """A discarded batch is cancelled; a discarded Single Send stays a draft."""
        if item.kind == "scheduled_send":
            self._batch(_batch(item), "cancel")

    # --- scheduled mail sends (batch_id) ---------------------------------------------------
    def _batch_status(self, batch: str) -> str | None:
        """``pause`` or ``cancel`` if the batch has one; None if it goes ahead."""
        try:
            resp = self._api.client.user.scheduled_sends._(batch).get()
        except HTTPError as exc:
            if int(exc.status_code) == 404:
                return None
            raise http_failure(
                "SendGrid", int(exc.status_code), headers=_headers(exc), body=exc.body
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise unreachable("SendGrid", exc) from None
        rows = resp.to_dict if resp.body else []
        found = (
            [r.get("status") for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
        )
        return str(found[0]) if found else None

    def _batch(self, batch: str, status: str) -> None:
        current = self._batch_status(batch)
        if current == status:
            return  # repeated after a crash: done already
        body = {"batch_id": batch, "status": status}
        if current is None:
            self._call(lambda c: c.user.scheduled_sends.post(request_body=body))
        else:
            self._call(
                lambda c: c.user.scheduled_sends._(batch).patch(request_body={"status": status})
            )

    # --- SendGrid -------------------------------------------------------------------------
    def _pages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(1000):  # a bound, not a limit anyone reaches
            body = self._call(_page_of(token))
            out += list(body.get("result") or [])
            nxt = (body.get("_metadata") or {}).get("next")
            tokens = parse_qs(urlparse(str(nxt)).query).get("page_token") if nxt else None
            token = tokens[0] if tokens else None
            if not token:
                break
        return out

    def _get(self, sid: str) -> dict[str, Any] | None:
        try:
            return self._call(lambda c: c.marketing.singlesends._(sid).get())
        except SendFailed as exc:
            if exc.provider_code == "404":
                return None
            raise

    def _call(self, fn: Any) -> dict[str, Any]:
        try:
            resp = fn(self._api.client)
        except HTTPError as exc:
            raise http_failure(
                "SendGrid", int(exc.status_code), headers=_headers(exc), body=exc.body
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise unreachable("SendGrid", exc) from None
        body = resp.to_dict if resp.body else {}
        return body if isinstance(body, dict) else {}

    def _item(self, s: Mapping[str, Any]) -> ExternalItem:
        send_to = s.get("send_to") or {}
        email = s.get("email_config") or {}
        labels = {
            "category": tuple(map(str, s.get("categories") or ())),
            "list": tuple(map(str, send_to.get("list_ids") or ())),
            "segment": tuple(map(str, send_to.get("segment_ids") or ())),
        }
        if send_to.get("all"):
            labels["all"] = ("true",)
        content = {
            k: email.get(k)
            for k in ("subject", "html_content", "plain_content", "design_id", "sender_id")
        }
        return ExternalItem(
            ref=f"singlesend:{s['id']}",
            kind="single_send",
            title=str(s.get("name") or s["id"]),
            send_at=parse_time(s.get("send_at")),
            labels=labels,
            fingerprint=fingerprint(s.get("name"), s.get("categories"), send_to, content),
            state={"id": str(s["id"])},
            active=s.get("status") == "scheduled",
        )


def _batch(item: ExternalItem) -> str:
    return str(item.state.get("batch_id") or item.ref.removeprefix("batch:"))


def _page_of(token: str | None) -> Any:
    params: dict[str, Any] = {"page_size": PAGE} | ({"page_token": token} if token else {})
    return lambda c: c.marketing.singlesends.get(query_params=params)


def _id(item: ExternalItem) -> str:
    return str(item.state.get("id") or item.ref.removeprefix("singlesend:"))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _headers(exc: HTTPError) -> dict[str, str]:
    raw = getattr(exc, "headers", None)
    try:
        return {str(k): str(v) for k, v in (raw.items() if raw is not None else [])}
    except AttributeError:
        return {}
