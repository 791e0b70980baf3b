"""The outbox's answers for connector jobs: what a scan found, a pause or restore done, a
job failing or failed for good, and which queued jobs are moot (see engine.calendar.external).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.calendar import batches
from engine.calendar._tables import connector_runs, external_items, freezes
from engine.calendar.external import (
    event,
    freeze_of,
    item_counts,
    item_job,
    items_of,
    job,
    label,
    last_error,
    lock_run,
    locked_item,
    minutes,
    note_failing,
    note_healthy,
    run_key,
    set_state,
)
from engine.calendar.rules import PostFacts, Scope, item_facts, matches, progress_line
from engine.kernel.errors import SendFailed
from engine.kernel.ports import ExternalItem, OutboundMessage, Receipt
from engine.kernel.records import find_incident
from engine.paging import ladder as paging
from engine.playbooks.channels import Channel
from engine.playbooks.connectors import Connector
from engine.playbooks.playbook import COMMS_LEAD_ROLE


class Results:
    """The connector kind's owner rules for the outbox: sent, failed, retrying, moot."""

    def __init__(self, connectors: Mapping[str, Connector], alert: Any) -> None:
        self.connectors = connectors
        self.alert = alert  # (conn, freeze row, connector, text, now) -> None: tell the comms lead

    def sent(self, conn: Connection, m: OutboundMessage, receipt: Receipt, now: datetime) -> None:
        c = self.connectors.get(m.channel)
        f = freeze_of(conn, m.meta.get("freeze_id"))
        if c is None or f is None:
            return
        # One run's answers are recorded one at a time (the run's row is locked first), so
        # the last pause to commit sees every other and confirms the run, on any backend.
        lock_run(conn, f.id, c.name)
        op = m.meta.get("op")
        if op == "scan":
            found = receipt.data.get("items") or []
            once = bool(m.meta.get("once"))  # a scan out of turn: the periodic one goes on
            self._scanned(conn, c, f, found, int(m.meta["scan"]), now, once)
        elif op == "deadline":
            self._deadline(conn, c, f, now)
        elif op in ("pause", "restore", "discard"):
            row = locked_item(conn, m.meta.get("item_id"))
            if row is not None:
                _settle(conn, row, op, receipt.data, now=now)
            if op == "pause":
                note_healthy(conn, f.id, c.name, now=now)
                self._confirm(conn, c, f, now)

    def _scanned(
        self,
        conn: Connection,
        c: Connector,
        f: Row[Any],
        found: Sequence[Any],
        n: int,
        now: datetime,
        once: bool = False,
    ) -> None:
        scope = Scope.from_json(f.scope)
        items = [ExternalItem.from_json(i) for i in found]
        listed = {i.ref for i in items}
        paused = {r.ref for r in items_of(conn, f.id) if r.state != "pausing"}
        # What the platform cannot list (registered sends), unless this freeze paused it.
        items += [
            i
            for i in batches.items(conn, c.name, now=now)
            if i.ref not in listed and i.ref not in paused
        ]
        held = [(i, item_facts(c, i.labels)) for i in items if i.active]
        held = [(i, facts) for i, facts in held if matches(scope, facts)]
        held.sort(key=lambda p: (p[0].send_at is not None, p[0].send_at or now))  # soonest first
        for item, facts in held:
            _found(conn, c, f.id, item, facts, n=n, now=now)
        conn.execute(
            connector_runs.update()
            .where(run_key(f.id, c.name))
            .values(
                scans=connector_runs.c.scans + 1, last_scan_at=now, failing=None, updated_at=now
            )
        )
        if f.lifted_at is None and not once:
            job(conn, c.name, "scan", freeze_id=f.id, key=f"cx:{f.id}:{c.name}:scan:{n + 1}",
                 now=now, not_before=now + c.rescan_every, meta={"scan": n + 1})  # fmt: skip
        self._confirm(conn, c, f, now)

    def _confirm(self, conn: Connection, c: Connector, f: Row[Any], now: datetime) -> None:
        """Mark the run confirmed once nothing it found is still waiting to be paused."""
        run = conn.execute(sa.select(connector_runs).where(run_key(f.id, c.name))).first()
        if run is None or run.scans == 0 or f.lifted_at is not None:
            return
        counts = item_counts(conn, [f.id]).get((f.id, c.name), {})
        if counts.get("pausing") or counts.get("failed"):
            return
        if run.confirmed_at is None:
            conn.execute(
                connector_runs.update()
                .where(run_key(f.id, c.name))
                .values(confirmed_at=now, updated_at=now)
            )
            event(conn, f, "connector_confirmed", now, connector=c.name,
                   text=progress_line(label(c), counts, failing=None), counts=counts)  # fmt: skip

    def _deadline(self, conn: Connection, c: Connector, f: Row[Any], now: datetime) -> None:
        run = conn.execute(sa.select(connector_runs).where(run_key(f.id, c.name))).first()
        if run is None or run.confirmed_at is not None or f.lifted_at is not None:
            return
        counts = item_counts(conn, [f.id]).get((f.id, c.name), {})
        text = (
            f"{label(c)} has not confirmed freeze {f.id} after {minutes(c.confirm_within)}: "
            + progress_line(label(c), counts, failing=run.failing)
        )
        conn.execute(
            connector_runs.update()
            .where(run_key(f.id, c.name))
            .values(alerted_at=now, updated_at=now)
        )
        event(conn, f, "connector_unconfirmed", now, connector=c.name, text=text, counts=counts)
        self.alert(conn, f, c, text, now)

    def failed(self, conn: Connection, m: OutboundMessage, now: datetime) -> None:
        """A job failed for good (a permanent error, or out of attempts)."""
        c = self.connectors.get(m.channel)
        f = freeze_of(conn, m.meta.get("freeze_id"))
        if c is None or f is None:
            return
        lock_run(conn, f.id, c.name)
        why = last_error(conn, m.delivery_id)
        op = m.meta.get("op")
        if op == "scan" and f.lifted_at is None:  # keep watching: the next scan may work
            n = int(m.meta["scan"]) + 1
            job(conn, c.name, "scan", freeze_id=f.id, key=f"cx:{f.id}:{c.name}:scan:{n}", now=now,
                 not_before=now + c.rescan_every, meta={"scan": n})  # fmt: skip
            note_failing(conn, f, c, f"scan failed: {why}", now=now)
            return
        row = locked_item(conn, m.meta.get("item_id"))
        if row is None:
            return
        if op == "pause":
            set_state(conn, row.id, state="failed", note=f"could not pause: {why}", now=now)
            text = f"{label(c)}: could not pause {row.title!r} ({row.kind}): {why}"
            event(conn, f, "connector_failed", now, connector=c.name, text=text, item=row.id)
            self.alert(conn, f, c, text, now)
        elif op in ("restore", "discard"):
            verb = "restore" if op == "restore" else "cancel"
            set_state(conn, row.id, state="review", note=f"could not {verb}: {why}", now=now)
            text = f"{label(c)}: could not {verb} {row.title!r}: {why}; it waits in review"
            event(conn, f, "connector_failed", now, connector=c.name, text=text, item=row.id)

    def retrying(
        self, conn: Connection, m: OutboundMessage, error: SendFailed, now: datetime
    ) -> None:
        c = self.connectors.get(m.channel)
        f = freeze_of(conn, m.meta.get("freeze_id"))
        if c is not None and f is not None and m.meta.get("op") != "deadline":
            lock_run(conn, f.id, c.name)  # so the timeline hears "failing" once
            note_failing(conn, f, c, str(error)[:300], now=now)

    def moot(self, conn: Connection, rows: Sequence[Any], now: datetime) -> set[int]:
        """Jobs with nothing left to do: a scan or pause after the freeze was lifted, a restore
        of an item someone has since reviewed."""
        out: set[int] = set()
        lifted = {
            r.id
            for r in conn.execute(
                sa.select(freezes.c.id).where(
                    freezes.c.id.in_({r.meta.get("freeze_id") for r in rows}),
                    freezes.c.lifted_at.is_not(None),
                )
            )
        }
        wanted = {"pause": "pausing", "restore": "restoring", "discard": "discarding"}
        ids = {r.meta.get("item_id") for r in rows if r.meta.get("item_id")}
        states = {
            r.id: r.state
            for r in conn.execute(
                sa.select(external_items.c.id, external_items.c.state).where(
                    external_items.c.id.in_(ids)
                )
            )
        }
        for r in rows:
            op = r.meta.get("op")
            if op in ("scan", "deadline") and r.meta.get("freeze_id") in lifted:
                out.add(r.id)
            elif op in wanted and states.get(r.meta.get("item_id")) != wanted[op]:
                out.add(r.id)
        return out


def _found(
    conn: Connection, c: Connector, freeze_id: int, item: ExternalItem, facts: PostFacts, *,
    n: int, now: datetime,
) -> None:  # fmt: skip
    x = external_items.c
    row = conn.execute(
        sa.select(external_items).where(
            x.freeze_id == freeze_id, x.connector == c.name, x.ref == item.ref
        )
    ).first()
    if row is None:
        conn.execute(
            external_items.insert().values(
                freeze_id=freeze_id,
                connector=c.name,
                ref=item.ref,
                kind=item.kind,
                title=item.title[:500],
                send_at=item.send_at,
                item=item.to_json(),
                tags=list(facts.tags),
                regions=list(facts.regions),
                state="pausing",
                found_at=now,
                updated_at=now,
            )  # fmt: skip
        )
        row = conn.execute(
            sa.select(external_items).where(
                x.freeze_id == freeze_id, x.connector == c.name, x.ref == item.ref
            )
        ).one()
        item_job(conn, row, "pause", now=now)
    elif row.state in ("paused", "failed"):  # active again: put back in the schedule, or
        # a pause that failed for good: try once more
        note = (
            "put back in the schedule on the platform during the freeze; paused again"
            if row.state == "paused"
            else row.note
        )
        set_state(conn, row.id, state="pausing", note=note, now=now)
        item_job(conn, row, "pause", now=now, n=n)


def _settle(
    conn: Connection, row: Row[Any], op: str, data: Mapping[str, Any], *, now: datetime
) -> None:
    """Record a pause, restore or discard the platform confirmed."""
    if op == "pause":
        if row.state != "pausing":
            return
        item = dict(row.item)
        item["state"] = {**item.get("state", {}), **dict(data.get("state") or {})}
        conn.execute(
            external_items.update()
            .where(external_items.c.id == row.id)
            .values(state="paused", item=item, paused_at=now, updated_at=now)
        )
        return
    outcome = str(data.get("outcome") or "")
    changes = "; ".join(data.get("changes") or [])
    if outcome in ("changed", "gone"):
        set_state(conn, row.id, state="review" if outcome == "changed" else "gone", note=changes,
             now=now, settled=outcome == "gone")  # fmt: skip
    else:
        set_state(conn, row.id, state="restored" if op == "restore" else "discarded", now=now,
             settled=True)  # fmt: skip


def alerting(playbook_for: Any, channels: Mapping[str, Channel]) -> Any:
    """The alert of an unconfirmed or failed freeze: the comms lead, by the paging path (a
    notice by SMS, else email) — the incident's, or for a freeze made by hand whoever holds
    the comms-lead role now."""

    def alert(conn: Connection, f: Row[Any], c: Connector, text: str, now: datetime) -> None:
        key = f"cx-alert:{f.id}:{c.name}:{now.isoformat()}"
        if f.incident_id is None:
            paging.notify_role_directly(
                conn, role=COMMS_LEAD_ROLE, channels=dict(channels), now=now, key=key,
                why="freeze not confirmed", subject=f"Freeze {f.id} ({f.reason})", message=text,
            )  # fmt: skip
            return
        inc = find_incident(conn, f.incident_id, lock=True)
        if inc is None:
            return
        pb = playbook_for(conn, inc.playbook_version)
        paging.notify_role(
            conn,
            pb,
            inc,
            role=COMMS_LEAD_ROLE,
            channels=dict(channels),
            now=now,
            key=key,
            why="freeze not confirmed",
            message=text,
        )

    return alert
