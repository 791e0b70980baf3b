"""Use cases of the freeze connectors: what a freeze paused on each platform, the review of
those items after a lift, what a freeze would pause now, and a read-only check of each one."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.calendar import batches, external
from engine.calendar._tables import posts
from engine.calendar.freezes import active_scopes, facts, gate_share
from engine.calendar.rules import Scope, holding, item_facts, matches
from engine.kernel.errors import Conflict, NotFound, SendFailed, ValidationFailed
from engine.kernel.models import Actor
from engine.kernel.ports import MarketingPlatform
from engine.kernel.roles import Perm, require
from engine.kernel.uow import Work
from engine.playbooks.connectors import Connector
from engine.playbooks.places import Places

REVIEW_ACTIONS = ("publish", "reschedule", "cancel")
BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")


class Platforms:
    def __init__(
        self,
        work: Work,
        *,
        connectors: Mapping[str, Connector],
        platforms: Mapping[str, MarketingPlatform] | None = None,
        places: Places | None = None,
    ) -> None:
        self.work = work
        self.places = places or Places()
        self.connectors = connectors
        self.platforms = dict(platforms or {})  # the adapters, for plan and check only

    def items(self, *, freeze_id: int) -> list[dict[str, Any]]:
        """What a freeze found on the platforms, soonest first, with where each stands."""
        with self.work.read() as conn:
            return [external.item_json(r) for r in external.items_of(conn, freeze_id)]

    def in_review(self) -> list[dict[str, Any]]:
        """Items a lift left for a person to decide (or that changed during the freeze)."""
        with self.work.read() as conn:
            return [external.item_json(r) for r in external.in_review(conn)]

    def review_item(
        self, *, actor: Actor, item_id: int, action: str, send_at: datetime | None = None
    ) -> dict[str, Any]:
        """Publish (at its own time, or now if that passed), reschedule, or cancel an item
        waiting in review; the connector carries it out on the platform."""
        require(actor, Perm.REVIEW_POSTS, "review held items")
        if action not in REVIEW_ACTIONS:
            raise ValidationFailed(
                "unknown action", details={"action": "publish | reschedule | cancel"}
            )
        now = self.work.now()
        if action == "reschedule" and (send_at is None or send_at <= now):
            raise ValidationFailed(
                "reschedule to a time in the future", details={"send_at": "a future time"}
            )
        with self.work.transaction() as conn:
            row = external.item_row(conn, item_id, lock=True)
            if row is None:
                raise NotFound(f"no item {item_id}")
            if row.state != "review":
                raise Conflict(f"item {item_id} is {row.state}; only items in review are decided")
            c = self.connectors.get(row.connector)
            if c is None:
                raise Conflict(f"connector {row.connector!r} is no longer configured")
            if action != "cancel":
                gate_share(conn)
                still = holding(active_scopes(conn), item_facts(c, external.stored_labels(row)))
                if still:
                    raise Conflict(
                        f"item {item_id} is still held by freeze(s) "
                        f"{', '.join(map(str, still))}: lift them first, or cancel it"
                    )
            external.review(conn, row, action=action, send_at=send_at, now=now)
            row = external.item_row(conn, item_id, lock=False)
            assert row is not None
            return external.item_json(row)

    def register_batch(
        self,
        *,
        actor: Actor,
        connector: str,
        batch_id: str,
        send_at: datetime,
        title: str = "",
        tags: Sequence[str] = (),
        regions: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Marketing's sender says a send is scheduled that the platform cannot list (a
        SendGrid mail send with this ``batch_id``); an active freeze that holds it pauses it
        at once, and every later freeze will."""
        require(actor, Perm.MANAGE_POSTS, "register scheduled sends")
        c = self.connectors.get(connector)
        if c is None or c.kind != "sendgrid":
            raise NotFound(f"no SendGrid connector {connector!r}")
        problems = {}
        if not BATCH_ID.fullmatch(batch_id or ""):
            problems["batch_id"] = "letters, digits, - and _ (SendGrid's batch id)"
        now = self.work.now()
        if send_at <= now:
            problems["send_at"] = "a future time"
        if problems:
            raise ValidationFailed("this send cannot be registered", details=problems)
        clean = self.places.clean("regions", list(regions), field="regions") if regions else []
        with self.work.transaction() as conn:
            out = batches.register(
                conn, connector=connector, batch_id=batch_id, title=title.strip() or batch_id,
                send_at=send_at, tags=[t.casefold() for t in tags], regions=clean,
                actor=actor.name, now=now,
            )  # fmt: skip
            for fid in external.active_runs(conn, connector):
                external.job(conn, connector, "scan", freeze_id=fid, now=now,
                             key=f"cx:{fid}:{connector}:batch:{batch_id}:{now.isoformat()}",
                             meta={"scan": 0, "once": True})  # fmt: skip
        return out

    def plan(self, *, scope: Scope) -> dict[str, Any]:
        """What a freeze with ``scope`` would hold now: our posts and each platform's items.

        Changes nothing; a platform that cannot be read says why.
        """
        now = self.work.now()
        with self.work.read() as conn:
            rows = conn.execute(
                sa.select(posts)
                .where(posts.c.state == "scheduled", posts.c.publish_at > now)
                .order_by(posts.c.publish_at)
            ).all()
        ours = [
            {"id": r.id, "channel": r.channel, "publish_at": r.publish_at, "body": r.body[:80]}
            for r in rows
            if matches(scope, facts(r))
        ]
        found: dict[str, Any] = {}
        for name, c in self.connectors.items():
            if not external.reaches(c, scope):
                found[name] = {"reached": False, "items": []}
                continue
            try:
                items = self._platform(name).scheduled()
            except SendFailed as exc:
                found[name] = {"reached": True, "error": str(exc), "items": []}
                continue
            held = [i for i in items if i.active and matches(scope, item_facts(c, i.labels))]
            found[name] = {
                "reached": True,
                "items": [
                    {"ref": i.ref, "kind": i.kind, "title": i.title, "send_at": i.send_at}
                    for i in sorted(held, key=lambda i: (i.send_at is not None, i.send_at or now))
                ],
            }
        return {"scope": scope.to_json(), "posts": ours, "connectors": found}

    def check(self) -> list[dict[str, Any]]:
        """A read-only call to each platform: authenticated, and how much is scheduled."""
        out = []
        for name, c in self.connectors.items():
            entry: dict[str, Any] = {"connector": name, "kind": c.kind, "channel": c.channel}
            try:
                items = self._platform(name).scheduled()
            except SendFailed as exc:
                out.append(entry | {"ok": False, "error": str(exc)})
                continue
            active = [i for i in items if i.active]
            mapped = [i for i in active if item_facts(c, i.labels) != item_facts(c, {})]
            out.append(entry | {"ok": True, "scheduled": len(active), "mapped": len(mapped)})
        return out

    def _platform(self, name: str) -> MarketingPlatform:
        platform = self.platforms.get(name)
        if platform is None:
            raise SendFailed(f"no adapter is built for connector {name!r}", permanent=True)
        return platform
