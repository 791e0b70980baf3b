"""Klaviyo campaigns and flows through the official ``klaviyo-api`` client.

Campaigns (email and SMS) in status ``Scheduled`` are paused by reverting their send job
(``PATCH /api/campaign-send-jobs/{id}`` ``action: revert``: the campaign is a draft again,
its send strategy kept); restoring creates the send job again
(``POST /api/campaign-send-jobs``), so it goes at its own time, after setting the strategy's
time first when a person chose another (or its time has passed: two minutes ahead). Live
flows are set to ``manual`` and back to ``live``. Discarding leaves a campaign a draft and a
flow in manual.
Labels: ``tag`` (tag names), ``list`` (included audiences), ``channel`` (email, sms).

The client builds and sends every request; answers are read as JSON (its typed models lag
the API revisions they are sent under). Its own retries are off: the outbox retries, with
Klaviyo's Retry-After. The key travels only in the Authorization header.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from klaviyo_api import KlaviyoAPI
from openapi_client import rest

from engine.kernel.errors import SendFailed
from engine.kernel.ports import ExternalItem
from notifiers.marketing.base import fingerprint, http_failure, parse_time, split_ref, unreachable

CHANNELS = ("email", "sms")
SOON = timedelta(minutes=2)  # a campaign whose time has passed is sent this far ahead


class KlaviyoPlatform:
    def __init__(
        self,
        *,
        api_key: str,
        name: str = "klaviyo",
        host: str = "",
        clock: Any = None,
        campaigns: bool = True,
        flows: bool = True,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._timeout = timeout
        self._campaigns, self._flows = campaigns, flows
        self._api = KlaviyoAPI(api_key, max_delay=0, max_retries=0, test_host=host)
        # No retries below ours either: urllib3 would retry a timed-out read three times.
        self._api.configuration.retries = 0
        self._api.api_client.rest_client = rest.RESTClientObject(self._api.configuration)
        self._now = clock or (lambda: datetime.now(UTC))

    # --- the port -------------------------------------------------------------------------
    def scheduled(self) -> list[ExternalItem]:
        out: list[ExternalItem] = []
        for channel in CHANNELS if self._campaigns else ():
            filt = f"equals(messages.channel,'{channel}')"
            for doc in self._pages(
                lambda cursor, f=filt: self._api.Campaigns.get_campaigns_without_preload_content(
                    filter=f, include=["tags"], page_cursor=cursor, _request_timeout=self._timeout
                )
            ):
                out += [self._campaign(c, doc, channel) for c in doc.get("data") or []]
        flows = (
            self._pages(
                lambda cursor: self._api.Flows.get_flows_without_preload_content(
                    filter="equals(status,'live')",
                    include=["tags"],
                    page_cursor=cursor,
                    _request_timeout=self._timeout,
                )
            )
            if self._flows
            else []
        )
        for doc in flows:
            out += [self._flow(f, doc) for f in doc.get("data") or []]
        return [i for i in out if i.active]

    def look(self, item: ExternalItem) -> ExternalItem | None:
        kind, iid = split_ref(item)
        try:
            if kind == "flow":
                doc = self._json(
                    lambda: self._api.Flows.get_flow_without_preload_content(
                        iid, include=["tags"], _request_timeout=self._timeout
                    )
                )
                return self._flow(doc["data"], doc)
            doc = self._json(
                lambda: self._api.Campaigns.get_campaign_without_preload_content(
                    iid, include=["tags"], _request_timeout=self._timeout
                )
            )
            return self._campaign(doc["data"], doc, str(item.state.get("channel") or "email"))
        except SendFailed as exc:
            if exc.provider_code == "404":
                return None
            raise

    def pause(self, item: ExternalItem) -> Mapping[str, Any]:
        kind, iid = split_ref(item)
        if kind == "flow":
            self._flow_status(iid, "manual")
            return {}
        try:
            self._json(
                lambda: self._api.Campaigns.update_campaign_send_job_without_preload_content(
                    iid,
                    {
                        "data": {
                            "type": "campaign-send-job",
                            "id": iid,
                            "attributes": {"action": "revert"},
                        }
                    },
                    _request_timeout=self._timeout,
                )
            )
        except SendFailed as exc:  # already a draft (a pause repeated after a crash) is done
            now = self.look(item) if exc.provider_code in ("400", "404", "409") else None
            if now is None or now.active:
                raise
        return {}

    def restore(self, item: ExternalItem) -> None:
        kind, iid = split_ref(item)
        if kind == "flow":
            self._flow_status(iid, "live")
            return
        strategy = dict(item.state.get("send_strategy") or {})
        planned = parse_time(strategy.get("datetime"))
        soonest = self._now() + SOON
        when = item.send_at if item.send_at and item.send_at > soonest else soonest
        if strategy.get("method", "static") == "static" and when != planned:
            self._reschedule(iid, strategy | {"method": "static", "datetime": when.isoformat()})
        self._json(
            lambda: self._api.Campaigns.create_campaign_send_job_without_preload_content(
                {"data": {"type": "campaign-send-job", "id": iid}}, _request_timeout=self._timeout
            )
        )

    def discard(self, item: ExternalItem) -> None:
        """A discarded campaign stays a draft, a discarded flow in manual: nothing to ask."""

    # --- Klaviyo --------------------------------------------------------------------------
    def _reschedule(self, iid: str, strategy: Mapping[str, Any]) -> None:
        """``PATCH /api/campaigns/{id}`` with a new send strategy, as Klaviyo's API describes it.

        Built and sent by the client's own serializer and transport; its public method would
        first validate the body against a newer revision's model, which wants fields this
        change does not touch, so it is not used here.
        """
        api = self._api.Campaigns
        body = {"data": {"type": "campaign", "id": iid, "attributes": {"send_strategy": strategy}}}
        param = api._update_campaign_serialize(
            id=iid,
            campaign_partial_update_query=body,
            fields_campaign=None,
            _request_auth=None,
            _content_type=None,
            _headers=None,
            _host_index=0,
        )
        self._json(lambda: api.api_client.call_api(*param, _request_timeout=self._timeout).response)

    def _flow_status(self, iid: str, status: str) -> None:
        self._json(
            lambda: self._api.Flows.update_flow_without_preload_content(
                iid,
                {"data": {"type": "flow", "id": iid, "attributes": {"status": status}}},
                _request_timeout=self._timeout,
            )
        )

    def _pages(self, fetch: Any) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = []
        cursor = None
        for _ in range(1000):  # a bound, not a limit anyone reaches
            doc = self._json(lambda c=cursor: fetch(c))
            docs.append(doc)
            nxt = (doc.get("links") or {}).get("next")
            cursor = _cursor(nxt)
            if not cursor:
                break
        return docs

    def _json(self, fn: Any) -> dict[str, Any]:
        try:
            resp = fn()
        except (OSError, TimeoutError) as exc:
            raise unreachable("Klaviyo", exc) from None
        except Exception as exc:  # the client's ApiException and urllib3's errors
            status = getattr(exc, "status", None)
            if isinstance(status, int) and status:
                headers = dict(getattr(exc, "headers", None) or {})
                raise http_failure(
                    "Klaviyo", status, headers=headers, body=getattr(exc, "body", None)
                ) from None
            raise unreachable("Klaviyo", exc) from None
        if resp.status >= 400:
            raise http_failure(
                "Klaviyo", int(resp.status), headers=dict(resp.headers), body=resp.data
            )
        if not resp.data:
            return {}
        body = json.loads(resp.data)
        return body if isinstance(body, dict) else {}

    def _campaign(self, c: Mapping[str, Any], doc: Mapping[str, Any], channel: str) -> ExternalItem:
        a = dict(c.get("attributes") or {})
        audiences = a.get("audiences") or {}
        strategy = a.get("send_strategy") or {}
        when = parse_time(strategy.get("datetime") or a.get("scheduled_at") or a.get("send_time"))
        return ExternalItem(
            ref=f"campaign:{c['id']}",
            kind="campaign",
            title=str(a.get("name") or c["id"]),
            send_at=when,
            labels={
                "tag": _tags(c, doc),
                "list": tuple(map(str, audiences.get("included") or ())),
                "channel": (channel,),
            },
            fingerprint=fingerprint(a.get("name"), audiences, a.get("send_options")),
            state={"id": str(c["id"]), "channel": channel, "send_strategy": strategy},
            active=a.get("status") == "Scheduled",
        )

    def _flow(self, f: Mapping[str, Any], doc: Mapping[str, Any]) -> ExternalItem:
        a = dict(f.get("attributes") or {})
        return ExternalItem(
            ref=f"flow:{f['id']}",
            kind="flow",
            title=str(a.get("name") or f["id"]),
            send_at=None,
            labels={"tag": _tags(f, doc), "trigger": (str(a.get("trigger_type") or ""),)},
            fingerprint=fingerprint(a.get("name"), a.get("trigger_type")),
            state={"id": str(f["id"])},
            active=a.get("status") == "live",
        )


def _tags(resource: Mapping[str, Any], doc: Mapping[str, Any]) -> tuple[str, ...]:
    ids = {
        t.get("id")
        for t in ((resource.get("relationships") or {}).get("tags") or {}).get("data") or []
    }
    names = {
        str((t.get("attributes") or {}).get("name") or "").casefold()
        for t in doc.get("included") or []
        if t.get("type") == "tag" and t.get("id") in ids
    }
    return tuple(sorted(n for n in names if n))


def _cursor(link: Any) -> str | None:
    if not link:
        return None
    from urllib.parse import parse_qs, urlparse

    found = parse_qs(urlparse(str(link)).query).get("page[cursor]")
    return found[0] if found else None
