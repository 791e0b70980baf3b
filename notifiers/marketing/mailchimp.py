"""Mailchimp campaigns and automations through the official ``mailchimp-marketing`` client.

Campaigns in status ``schedule`` are paused by Mailchimp's own unschedule
(``POST /campaigns/{id}/actions/unschedule``: back to ``save``, the time remembered here) and
restored by scheduling them again at that time (``…/actions/schedule``; Mailchimp takes only
quarter-hours, so a time that has passed goes to the next quarter-hour at least 15 minutes
ahead). Classic automations that are ``sending`` get ``pause-all-emails`` and, on restore,
``start-all-emails``. Discarding leaves a campaign unscheduled and an automation paused.
Labels: ``list`` (its audience), ``segment`` (a saved segment), ``folder``.

The key travels only in the client's basic-auth header.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import mailchimp_marketing
from mailchimp_marketing.api_client import ApiClientError

from engine.kernel.errors import SendFailed
from engine.kernel.ports import ExternalItem
from notifiers.marketing.base import fingerprint, http_failure, parse_time, split_ref, unreachable

PAGE = 1000
QUARTER = 15  # minutes


class MailchimpPlatform:
    def __init__(
        self,
        *,
        api_key: str,
        server: str,
        name: str = "mailchimp",
        host: str | None = None,
        timeout: float = 10.0,
        clock: Any = None,
    ) -> None:
        self.name = name
        self._api = mailchimp_marketing.Client()
        self._api.set_config({"api_key": api_key, "server": server, "timeout": timeout})
        if host:
            self._api.api_client.host = host.rstrip("/")
        self._now = clock or (lambda: datetime.now(UTC))

    def scheduled(self) -> list[ExternalItem]:
        campaigns = self._call(lambda: self._api.campaigns.list(status="schedule", count=PAGE))
        automations = self._call(lambda: self._api.automations.list(count=PAGE))
        out = [self._campaign(c) for c in campaigns.get("campaigns") or []]
        out += [self._automation(a) for a in automations.get("automations") or []]
        return [i for i in out if i.active]

    def look(self, item: ExternalItem) -> ExternalItem | None:
        kind, iid = split_ref(item)
        try:
            if kind == "automation":
                return self._automation(self._call(lambda: self._api.automations.get(iid)))
            return self._campaign(self._call(lambda: self._api.campaigns.get(iid)))
        except SendFailed as exc:
            if exc.provider_code == "404":
                return None
            raise

    def pause(self, item: ExternalItem) -> Mapping[str, Any]:
        kind, iid = split_ref(item)
        try:
            if kind == "automation":
                self._call(lambda: self._api.automations.pause_all_emails(iid))
            else:
                self._call(lambda: self._api.campaigns.unschedule(iid))
        except SendFailed as exc:  # already paused (a pause repeated after a crash) is done
            now = self.look(item) if exc.provider_code in ("400", "404") else None
            if now is None or now.active:
                raise
        return {}

    def restore(self, item: ExternalItem) -> None:
        kind, iid = split_ref(item)
        if kind == "automation":
            self._call(lambda: self._api.automations.start_all_emails(iid))
            return
        at = quarter_hour(item.send_at, now=self._now())
        body = {"schedule_time": at.strftime("%Y-%m-%dT%H:%M:%S+00:00")}
        self._call(lambda: self._api.campaigns.schedule(iid, body))

    def discard(self, item: ExternalItem) -> None:
        """A discarded campaign stays unscheduled, an automation paused: nothing to ask."""

    def _call(self, fn: Any) -> Any:
        try:
            out = fn()
        except ApiClientError as exc:
            if exc.status_code is None:
                raise unreachable("Mailchimp", Exception(str(exc.text))) from None
            raise http_failure("Mailchimp", int(exc.status_code), body=exc.text) from None
        return out if isinstance(out, dict) else {}

    def _campaign(self, c: Mapping[str, Any]) -> ExternalItem:
        settings = c.get("settings") or {}
        recipients = c.get("recipients") or {}
        segment = (recipients.get("segment_opts") or {}).get("saved_segment_id")
        labels = {
            "list": (str(recipients.get("list_id")),) if recipients.get("list_id") else (),
            "segment": (str(segment),) if segment else (),
            "folder": (str(settings.get("folder_id")),) if settings.get("folder_id") else (),
        }
        return ExternalItem(
            ref=f"campaign:{c['id']}",
            kind="campaign",
            title=str(settings.get("title") or settings.get("subject_line") or c["id"]),
            send_at=parse_time(c.get("send_time")),
            labels={k: v for k, v in labels.items() if v},
            fingerprint=fingerprint(
                {k: settings.get(k) for k in ("subject_line", "title", "from_name", "reply_to")},
                recipients,
            ),
            state={"id": str(c["id"])},
            active=c.get("status") == "schedule",
        )

    def _automation(self, a: Mapping[str, Any]) -> ExternalItem:
        settings = a.get("settings") or {}
        recipients = a.get("recipients") or {}
        return ExternalItem(
            ref=f"automation:{a['id']}",
            kind="automation",
            title=str(settings.get("title") or a["id"]),
            send_at=None,
            labels={"list": (str(recipients.get("list_id")),)} if recipients.get("list_id") else {},
            fingerprint=fingerprint(settings.get("title"), recipients),
            state={"id": str(a["id"])},
            active=a.get("status") == "sending",
        )


def quarter_hour(when: datetime | None, *, now: datetime) -> datetime:
    """``when`` rounded up to a quarter-hour; one 15 minutes ahead at least (Mailchimp's rule)."""
    soonest = now + timedelta(minutes=QUARTER)
    at = when if when and when > soonest else soonest
    at = at.astimezone(UTC)
    if at.second or at.microsecond:  # never earlier than asked: up to the minute, then
        at = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return at + timedelta(minutes=(-at.minute) % QUARTER)
