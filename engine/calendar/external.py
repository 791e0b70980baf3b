"""Freezes on marketing platforms: scan, pause and restore through connectors, durably.

A freeze starts a *run* per connector its scope can reach. Every call to a platform is an
outbox job (kind ``connector``, the connector's name as channel, the operation as body), so
it is retried with backoff and Retry-After, claimed once across processes, and its failures
recorded; the outbox hands each answer back here (``on_sent``) in the transaction that
records it. A scan lists what is scheduled, keeps what the freeze's scope holds and queues a
pause for each new item, soonest first; scans repeat while the freeze is active, so what
marketing schedules during the freeze is caught too. A run is *confirmed* when everything
found is paused; a run unconfirmed after ``confirm_within`` alerts the comms lead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.calendar._tables import connector_runs, external_items, freezes
from engine.calendar.rules import (
    PostFacts,
    Scope,
    external_after_lift,
    holding,
    progress_line,
)
from engine.delivery import ledger, outbox
from engine.kernel.journal import append_event
from engine.kernel.records import lock_incident
from engine.playbooks.connectors import Connector
from engine.store.queries import insert_ignore

KIND = "connector"  # the outbox kind of every connector job
MEDIUM = "connector"
ATTEMPTS = 40  # transient failures retried (capped backoff) for about three hours
PLATFORM_NAMES = {
    "sendgrid": "SendGrid",
    "klaviyo": "Klaviyo",
    "mailchimp": "Mailchimp",
    "mastodon": "Mastodon",
    "sandbox": "Sandbox platform",
}


def label(c: Connector) -> str:
    return (
        c.name if c.name.lower() == c.kind else f"{c.name} ({PLATFORM_NAMES.get(c.kind, c.kind)})"
    )


def reaches(c: Connector, scope: Scope) -> bool:
    return not scope.channels or c.channel in scope.channels


# --- starting a run ---------------------------------------------------------------------
def start(
    conn: Connection,
    connectors: Mapping[str, Connector],
    *,
    freeze_id: int,
    scope: Scope,
    now: datetime,
) -> list[str]:
    """Open a run per connector the scope reaches: scan now, and check on it in time."""
    started = []
    for c in connectors.values():
        if not reaches(c, scope):
            continue
        insert_ignore(
            conn, connector_runs, freeze_id=freeze_id, connector=c.name, started_at=now,
            updated_at=now,
        )  # fmt: skip
        job(conn, c.name, "scan", freeze_id=freeze_id, key=f"cx:{freeze_id}:{c.name}:scan:0",
             now=now, meta={"scan": 0})  # fmt: skip
        job(conn, c.name, "deadline", freeze_id=freeze_id, key=f"cx:{freeze_id}:{c.name}:due",
             now=now, not_before=now + c.confirm_within)  # fmt: skip
        started.append(c.name)
    return started


def job(
    conn: Connection,
    connector: str,
    op: str,
    *,
    freeze_id: int,
    key: str,
    now: datetime,
    meta: Mapping[str, Any] | None = None,
    not_before: datetime | None = None,
) -> None:
    outbox.enqueue(
        conn,
        kind=KIND,
        channel=connector,
        address=connector,
        body=op,
        now=now,
        not_before=not_before,
        dedupe_key=key,
        meta={"op": op, "freeze_id": freeze_id, **(meta or {})},
        max_attempts=ATTEMPTS,
    )


def item_job(conn: Connection, row: Row[Any], op: str, *, now: datetime, n: int = 0) -> None:
    item = dict(row.item)
    job(
        conn,
        row.connector,
        op,
        freeze_id=row.freeze_id,
        key=f"cx:item:{row.id}:{op}:{n}",
        now=now,
        meta={"item_id": row.id, "item": item},
    )


# --- lifting ----------------------------------------------------------------------------
def after_lift(
    conn: Connection,
    connectors: Mapping[str, Connector],
    *,
    freeze_id: int,
    policy: str,
    remaining: Mapping[int, Scope],
    now: datetime,
) -> dict[str, int]:
    """Apply ``on_lift`` to what the freeze paused on platforms; how many went which way."""
    outcome: dict[str, int] = {}
    rows = conn.execute(
        sa.select(external_items)
        .where(
            external_items.c.freeze_id == freeze_id,
            external_items.c.state.in_(("pausing", "paused", "failed")),
        )
        .order_by(external_items.c.id)
    ).all()
    for row in rows:
        c = connectors.get(row.connector)
        facts = PostFacts(c.channel if c else "", tuple(row.tags), tuple(row.regions))
        still = holding(remaining, facts)
        if row.state != "paused":
            verdict = "keep" if still and row.state == "pausing" else "review"
        else:
            verdict = external_after_lift(policy, send_at=row.send_at, now=now, still_held_by=still)
            if verdict == "restore" and row.note:
                verdict = "review"  # changed during the freeze: a person decides
        if verdict == "keep":
            conn.execute(
                external_items.update()
                .where(external_items.c.id == row.id)
                .values(freeze_id=still[0], updated_at=now)
            )
        elif verdict == "review":
            note = row.note or (
                "the freeze was lifted before the pause was confirmed: check the platform"
                if row.state == "pausing"
                else None
            )
            set_state(conn, row.id, state="review", note=note, now=now)
        else:
            set_state(
                conn, row.id, state="restoring" if verdict == "restore" else "discarding", now=now
            )
            item_job(conn, row, verdict, now=now)
        outcome[verdict] = outcome.get(verdict, 0) + 1
    return outcome


def review(
    conn: Connection, row: Row[Any], *, action: str, send_at: datetime | None, now: datetime
) -> None:
    """A person decides on an item in review: publish (at its time, or now if that passed),
    reschedule to ``send_at``, or cancel it on the platform."""
    if action == "cancel":
        set_state(conn, row.id, state="discarding", now=now)
        item_job(conn, row, "discard", now=now, n=_decision(now))
        return
    item = dict(row.item)
    when = send_at if action == "reschedule" and send_at else max(row.send_at or now, now)
    item["send_at"] = when.isoformat()  # a time already come: the platform sends it now
    conn.execute(
        external_items.update()
        .where(external_items.c.id == row.id)
        .values(state="restoring", item=item, send_at=when, updated_at=now)
    )
    row = conn.execute(sa.select(external_items).where(external_items.c.id == row.id)).one()
    item_job(conn, row, "restore", now=now, n=_decision(now))


def _decision(now: datetime) -> int:
    """A fresh dedupe key per decision (an item is decided once per review, at ``now``)."""
    return int(now.timestamp() * 1_000_000)


# --- reading ------------------------------------------------------------------------------
def item_counts(
    conn: Connection, freeze_ids: Sequence[int]
) -> dict[tuple[int, str], dict[str, int]]:
    """(freeze, connector) → items by state."""
    x = external_items.c
    out: dict[tuple[int, str], dict[str, int]] = {}
    if freeze_ids:
        q = (
            sa.select(x.freeze_id, x.connector, x.state, sa.func.count())
            .where(x.freeze_id.in_(list(freeze_ids)))
            .group_by(x.freeze_id, x.connector, x.state)
        )
        for fid, name, state, n in conn.execute(q).all():
            out.setdefault((int(fid), str(name)), {})[str(state)] = int(n)
    return out


def progress(
    conn: Connection, connectors: Mapping[str, Connector], freeze_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    """Per freeze, each connector's run: counts by state, confirmed or failing, in words."""
    counts = item_counts(conn, freeze_ids)
    out: dict[int, list[dict[str, Any]]] = {fid: [] for fid in freeze_ids}
    if not freeze_ids:
        return out
    runs = conn.execute(
        sa.select(connector_runs)
        .where(connector_runs.c.freeze_id.in_(list(freeze_ids)))
        .order_by(connector_runs.c.connector)
    ).all()
    for r in runs:
        c = connectors.get(r.connector)
        name = label(c) if c else r.connector
        n = counts.get((r.freeze_id, r.connector), {})
        out[r.freeze_id].append(
            {
                "connector": r.connector,
                "kind": c.kind if c else None,
                "items": n,
                "scans": r.scans,
                "last_scan_at": r.last_scan_at,
                "confirmed_at": r.confirmed_at,
                "failing": r.failing,
                "alerted_at": r.alerted_at,
                "text": progress_line(name, n, failing=r.failing)
                if r.scans or r.failing
                else f"{name}: scanning…",
            }
        )
    return out


def active_runs(conn: Connection, connector: str) -> list[int]:
    """The active freezes whose runs include ``connector``."""
    q = (
        sa.select(connector_runs.c.freeze_id)
        .join(freezes, freezes.c.id == connector_runs.c.freeze_id)
        .where(connector_runs.c.connector == connector, freezes.c.lifted_at.is_(None))
    )
    return list(conn.execute(q).scalars())


def paused_count() -> Any:
    """A scalar subquery: items paused (or being paused) on platforms right now."""
    return (
        sa.select(sa.func.count())
        .select_from(external_items)
        .where(external_items.c.state.in_(("pausing", "paused")))
        .scalar_subquery()
    )


def items_of(conn: Connection, freeze_id: int) -> list[Row[Any]]:
    q = sa.select(external_items).where(external_items.c.freeze_id == freeze_id)
    return list(conn.execute(q.order_by(external_items.c.send_at, external_items.c.id)).all())


def item_row(conn: Connection, item_id: int, *, lock: bool) -> Row[Any] | None:
    q = sa.select(external_items).where(external_items.c.id == item_id)
    return conn.execute(q.with_for_update() if lock else q).first()


def in_review(conn: Connection) -> list[Row[Any]]:
    q = sa.select(external_items).where(external_items.c.state == "review")
    return list(conn.execute(q.order_by(external_items.c.send_at, external_items.c.id)).all())


def item_json(r: Row[Any]) -> dict[str, Any]:
    return {
        "id": r.id,
        "freeze_id": r.freeze_id,
        "connector": r.connector,
        "ref": r.ref,
        "kind": r.kind,
        "title": r.title,
        "send_at": r.send_at,
        "tags": list(r.tags),
        "regions": list(r.regions),
        "state": r.state,
        "note": r.note,
        "paused_at": r.paused_at,
    }


# --- small helpers ------------------------------------------------------------------------
def run_key(freeze_id: int, connector: str) -> Any:
    return sa.and_(connector_runs.c.freeze_id == freeze_id, connector_runs.c.connector == connector)


def lock_run(conn: Connection, freeze_id: int, connector: str) -> None:
    """Hold the run's row until commit (``FOR UPDATE``; SQLite's write lock already does)."""
    conn.execute(
        sa.select(connector_runs.c.freeze_id).where(run_key(freeze_id, connector)).with_for_update()
    )


def freeze_of(conn: Connection, freeze_id: Any) -> Row[Any] | None:
    if not isinstance(freeze_id, int):
        return None
    return conn.execute(sa.select(freezes).where(freezes.c.id == freeze_id)).first()


def locked_item(conn: Connection, item_id: Any) -> Row[Any] | None:
    return item_row(conn, item_id, lock=True) if isinstance(item_id, int) else None


def set_state(
    conn: Connection, item_id: int, *, state: str, now: datetime, note: str | None = None,
    settled: bool = False,
) -> None:  # fmt: skip
    values: dict[str, Any] = {"state": state, "updated_at": now}
    if note is not None:
        values["note"] = note
    if settled:
        values["settled_at"] = now
    conn.execute(external_items.update().where(external_items.c.id == item_id).values(**values))


def note_healthy(conn: Connection, freeze_id: int, connector: str, *, now: datetime) -> None:
    conn.execute(
        connector_runs.update()
        .where(run_key(freeze_id, connector), connector_runs.c.failing.is_not(None))
        .values(failing=None, updated_at=now)
    )


def note_failing(conn: Connection, f: Row[Any], c: Connector, why: str, *, now: datetime) -> None:
    """Note the run as failing; the timeline hears of it once, when it starts failing."""
    run = conn.execute(sa.select(connector_runs).where(run_key(f.id, c.name))).first()
    if run is None:
        return
    conn.execute(
        connector_runs.update().where(run_key(f.id, c.name)).values(failing=why, updated_at=now)
    )
    if run.failing is None:
        event(conn, f, "connector_failing", now, connector=c.name,
               text=f"{label(c)}: failing — {why}, retrying")  # fmt: skip


def event(conn: Connection, f: Row[Any], type: str, now: datetime, **data: Any) -> None:
    if f.incident_id is None or not lock_incident(conn, f.incident_id):
        return
    append_event(
        conn,
        incident_id=f.incident_id,
        type=type,
        actor="connectors",
        at=now,
        data={"freeze": f.id, **data},
    )


def last_error(conn: Connection, delivery_id: int) -> str:
    return ledger.last_error(conn, delivery_id) or "unknown error"


def minutes(delta: Any) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes else f"{int(delta.total_seconds())} s"


def stored_labels(row: Row[Any]) -> dict[str, tuple[str, ...]]:
    """The platform labels an item carried when it was found."""
    labels = (row.item or {}).get("labels") or {}
    return {str(k): tuple(map(str, v)) for k, v in labels.items()}
