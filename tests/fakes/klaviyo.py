"""A stateful Klaviyo (campaigns and flows, JSON:API) on loopback for the round trips.

It answers the paths and bodies the connector sends (the same requests Prism validates
against Klaviyo's own descriptions in test_klaviyo_prism.py) and refuses others."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http import Answer

KEY = "pk_test"


class FakeKlaviyo:
    def __init__(self) -> None:
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.flows: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, str] = {}  # id → name
        self.requests: list[tuple[str, str, Any]] = []
        self._n = 0
        self._lock = threading.Lock()

    def _id(self) -> str:
        self._n += 1
        return f"K{self._n:05d}"

    def _tag(self, name: str) -> str:
        for tid, n in self.tags.items():
            if n == name:
                return tid
        tid = self._id()
        self.tags[tid] = name
        return tid

    # --- marketing's hands ------------------------------------------------------------------
    def campaign(self, name: str, *, send_at: datetime, tags: list[str] = (),  # type: ignore[assignment]
                 lists: list[str] = (), channel: str = "email") -> str:  # type: ignore[assignment]  # fmt: skip
        with self._lock:
            cid = self._id()
            self.campaigns[cid] = {
                "name": name, "status": "Scheduled", "channel": channel,
                "audiences": {"included": list(lists), "excluded": []},
                "send_strategy": {"method": "static", "datetime": _iso(send_at)},
                "send_options": {"use_smart_sending": True},
                "tags": [self._tag(t) for t in tags],
            }  # fmt: skip
            return cid

    def flow(self, name: str, *, tags: list[str] = ()) -> str:  # type: ignore[assignment]
        with self._lock:
            fid = self._id()
            self.flows[fid] = {"name": name, "status": "live", "trigger_type": "Added to List",
                               "tags": [self._tag(t) for t in tags]}  # fmt: skip
            return fid

    def rename(self, cid: str, name: str) -> None:
        with self._lock:
            self.campaigns[cid]["name"] = name

    def delete(self, cid: str) -> None:
        with self._lock:
            self.campaigns.pop(cid, None)
            self.flows.pop(cid, None)

    # --- the API ----------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any,
              headers: dict[str, str]) -> Answer:  # fmt: skip
        with self._lock:
            self.requests.append((method, path, body))
            if headers.get("Authorization") != f"Klaviyo-API-Key {KEY}":
                return 401, _err(401, "not_authenticated"), {}
            if not headers.get("revision"):
                return 400, _err(400, "revision header required"), {}
            parts = path.strip("/").split("/")
            if parts == ["api", "campaigns"] and method == "GET":
                flt = (query.get("filter") or [""])[0]
                channel = flt.split("'")[1] if "'" in flt else None
                rows = {k: v for k, v in self.campaigns.items() if v["channel"] == channel}
                return 200, self._doc("campaign", rows), {}
            if parts[:2] == ["api", "campaigns"] and len(parts) == 3 and method == "PATCH":
                return self._patch_campaign(parts[2], body)
            if parts[:2] == ["api", "campaigns"] and len(parts) == 3 and method == "GET":
                c = self.campaigns.get(parts[2])
                return (
                    (200, self._one("campaign", parts[2], c), {})
                    if c
                    else (404, _err(404, "not found"), {})
                )
            if parts[:2] == ["api", "campaign-send-jobs"]:
                return self._send_job(method, parts, body)
            if parts == ["api", "flows"] and method == "GET":
                rows = {k: v for k, v in self.flows.items() if v["status"] == "live"}
                return 200, self._doc("flow", rows), {}
            if parts[:2] == ["api", "flows"] and len(parts) == 3:
                f = self.flows.get(parts[2])
                if f is None:
                    return 404, _err(404, "not found"), {}
                if method == "PATCH":
                    status = ((body or {}).get("data") or {}).get("attributes", {}).get("status")
                    if status not in ("draft", "manual", "live"):
                        return 400, _err(400, "invalid status"), {}
                    f["status"] = status
                return 200, self._one("flow", parts[2], f), {}
            return 404, _err(404, "no such path"), {}

    def _patch_campaign(self, cid: str, body: Any) -> Answer:
        c = self.campaigns.get(cid)
        data = (body or {}).get("data") or {}
        attrs = data.get("attributes") or {}
        if c is None:
            return 404, _err(404, "not found"), {}
        if (
            data.get("type") != "campaign"
            or data.get("id") != cid
            or set(attrs) - {"send_strategy", "name"}
        ):
            return 400, _err(400, "invalid campaign update"), {}
        if c["status"] != "Draft":
            return 400, _err(400, "only a draft campaign can be changed"), {}
        strategy = attrs.get("send_strategy") or {}
        if strategy and (strategy.get("method") != "static" or not strategy.get("datetime")):
            return 400, _err(400, "a static send strategy needs its datetime"), {}
        c.update({k: v for k, v in attrs.items()})
        return 200, self._one("campaign", cid, c), {}

    def _send_job(self, method: str, parts: list[str], body: Any) -> Answer:
        data = (body or {}).get("data") or {}
        if method == "POST" and len(parts) == 2:
            c = self.campaigns.get(str(data.get("id")))
            if data.get("type") != "campaign-send-job" or c is None:
                return 400, _err(400, "no such campaign"), {}
            if c["status"] != "Draft":
                return 400, _err(400, "campaign is not a draft"), {}
            c["status"] = "Scheduled"
            return 202, {"data": {"type": "campaign-send-job", "id": data["id"],
                                  "attributes": {"status": "queued"}}}, {}  # fmt: skip
        if method == "PATCH" and len(parts) == 3:
            c = self.campaigns.get(parts[2])
            action = (data.get("attributes") or {}).get("action")
            if c is None:
                return 404, _err(404, "not found"), {}
            if action not in ("cancel", "revert") or c["status"] != "Scheduled":
                return 400, _err(400, "the campaign is not scheduled"), {}
            c["status"] = "Draft" if action == "revert" else "Cancelled"
            return 204, None, {}
        return 404, _err(404, "no such path"), {}

    def _resource(self, kind: str, rid: str, r: dict[str, Any]) -> dict[str, Any]:
        attrs = {k: v for k, v in r.items() if k not in ("tags", "channel")}
        tags = [{"type": "tag", "id": t} for t in r["tags"]]
        return {
            "type": kind,
            "id": rid,
            "attributes": attrs,
            "relationships": {"tags": {"data": tags}},
        }

    def _included(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = sorted({t for r in rows for t in r["tags"]})
        return [{"type": "tag", "id": t, "attributes": {"name": self.tags[t]}} for t in ids]

    def _doc(self, kind: str, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {
            "data": [self._resource(kind, k, v) for k, v in rows.items()],
            "included": self._included(list(rows.values())),
            "links": {"next": None},
        }

    def _one(self, kind: str, rid: str, r: dict[str, Any]) -> dict[str, Any]:
        return {"data": self._resource(kind, rid, r), "included": self._included([r])}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def _err(status: int, detail: str) -> dict[str, Any]:
    return {"errors": [{"status": status, "code": "error", "title": detail, "detail": detail}]}
