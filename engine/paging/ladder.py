"""Escalation and cadence in the store: start and re-plan ladders, and the timer effects.

Each effect runs inside the timer's claim transaction and first locks the incident row, so
it serialises with acknowledgements: once an acknowledgement commits, no later step of that
ladder writes a page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.delivery import outbox
from engine.kernel.journal import append_event
from engine.paging import escalation
from engine.paging.roster import Override, Rotation, on_call, quiet_until
from engine.playbooks.channels import Channel, endpoint, personal_address
from engine.playbooks.playbook import Escalation, Playbook, Target
from engine.store.tables import incidents, overrides, roster_members, rotations, users
from engine.timers import schedule as timers

LADDER_KINDS = ("escalation_step", "escalation_exhausted", "page_deferred")
CADENCE_KINDS = ("cadence",)

PlaybookFor = Callable[[Connection, str], Playbook]


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    name: str
    phone: str | None
    email: str | None
    timezone: str
    quiet_hours: str | None


# --- roster queries ---------------------------------------------------------------------
def people_for(conn: Connection, target: Target, *, at: datetime) -> list[Person]:
    """The people a target names at ``at``: the on-call holders of a role, or one person."""
    if target.kind == "person":
        row = conn.execute(
            sa.select(users).where(users.c.username == target.name, users.c.active.is_(True))
        ).first()
        return [_person(row)] if row else []
    m = roster_members.c
    rows = conn.execute(
        sa.select(users)
        .join(roster_members, m.user_id == users.c.id)
        .where(m.role == target.name, users.c.active.is_(True))
        .order_by(m.position, users.c.username)
    ).all()
    by_name = {r.username: r for r in rows}
    rot_row = conn.execute(sa.select(rotations).where(rotations.c.role == target.name)).first()
    rotation = None
    if rot_row is not None:
        hh, mm = rot_row.handoff_time.split(":")
        rotation = Rotation(
            rot_row.handoff_weekday,
            time(int(hh), int(mm)),
            rot_row.timezone,
            _as_date(rot_row.anchor_date),
        )
    o = overrides.c
    over_rows = conn.execute(
        sa.select(o.starts_at, o.ends_at, users.c.username, users)
        .join(users, users.c.id == o.user_id)
        .where(o.role == target.name, o.starts_at <= at, o.ends_at > at)
        .order_by(o.created_at, o.id)
    ).all()
    for r in over_rows:
        by_name.setdefault(r.username, r)
    names = on_call(
        [r.username for r in rows],
        rotation=rotation,
        overrides=[Override(r.username, r.starts_at, r.ends_at) for r in over_rows],
        at=at,
    )
    return [_person(by_name[n]) for n in names if n in by_name]


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _person(r: Row[Any]) -> Person:
    return Person(r.id, r.username, r.name, r.phone, r.email, r.timezone or "UTC", r.quiet_hours)


def address_for(person: Person, channel: Channel) -> str | None:
    if channel.medium == "webhook":
        return endpoint(channel)
    return personal_address(channel, phone=person.phone, email=person.email)


# --- ladders --------------------------------------------------------------------------------
def start_ladder(
    conn: Connection, pb: Playbook, *, incident_id: int, generation: int, now: datetime
) -> None:
    """Plan every step of the ladder (and its exhaustion) as timers from ``now``."""
    ladder = pb.escalation
    if ladder is None or not ladder.steps:
        return
    conn.execute(
        incidents.update()
        .where(incidents.c.id == incident_id)
        .values(ladder_generation=generation, ladder_started_at=now, escalation_exhausted=False)
    )
    steps = [
        {
            "kind": "escalation_step",
            "incident_id": incident_id,
            "due_at": p.due_at,
            "dedupe_key": f"esc:{incident_id}:{generation}:{p.ref.round}:{p.ref.step}",
            "payload": {"generation": generation, "round": p.ref.round, "step": p.ref.step},
        }
        for p in escalation.plan(ladder, now)
    ]
    exhausted = {
        "kind": "escalation_exhausted",
        "incident_id": incident_id,
        "due_at": escalation.exhausted_at(ladder, now),
        "dedupe_key": f"esc:{incident_id}:{generation}:exhausted",
        "payload": {"generation": generation},
    }
    timers.schedule_many(conn, [*steps, exhausted], now=now)  # one round trip for the ladder


def stop_ladder(conn: Connection, *, incident_id: int, now: datetime) -> None:
    conn.execute(
        incidents.update()
        .where(incidents.c.id == incident_id, incidents.c.ladder_stopped_at.is_(None))
        .values(ladder_stopped_at=now)
    )
    timers.cancel_pending(conn, incident_id=incident_id, kinds=LADDER_KINDS)


def replan_ladder(conn: Connection, pb: Playbook, row: Row[Any], *, now: datetime) -> bool:
    """After a severity change: a new generation of the ladder, starting now."""
    if pb.escalation is None or row.ladder_stopped_at is not None or row.resolved_at:
        return False
    timers.cancel_pending(conn, incident_id=row.id, kinds=LADDER_KINDS)
    start_ladder(conn, pb, incident_id=row.id, generation=row.ladder_generation + 1, now=now)
    return True


def _ladder_is_live(row: Row[Any], generation: int) -> bool:
    return (
        row.ladder_generation == generation
        and row.ladder_stopped_at is None
        and row.resolved_at is None
    )


def page_text(pb: Playbook, inc: Row[Any], medium: str) -> tuple[str | None, str]:
    sev = inc.severity.upper()
    if medium == "voice":
        return None, (
            f"This is crisis comms. {pb.severities.get(inc.severity, inc.severity)}. "
            f"Incident {inc.id}: {inc.title}. Press 1 to acknowledge."
        )
    body = f"[{sev}] INC-{inc.id} {inc.title} ({pb.name}). Reply ACK {inc.id} to acknowledge."
    return f"[{sev}] INC-{inc.id} {inc.title}", body


def send_pages(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    people: Sequence[Person],
    via: Sequence[str],
    channels: dict[str, Channel],
    now: datetime,
    key: str,
    why: str,
    kind: str = "page",
) -> tuple[list[str], list[str]]:
    """Queue a page to each person on each channel; return (reached, unroutable) entries."""
    reached: list[str] = []
    missing: list[str] = []
    for person in people:
        for ch_name in via:
            channel = channels.get(ch_name)
            address = address_for(person, channel) if channel else None
            if channel is None or not address:
                missing.append(f"{person.username}/{ch_name}")
                continue
            subject, body = page_text(pb, inc, channel.medium)
            outbox.enqueue(
                conn,
                kind=kind,
                incident_id=inc.id,
                user_id=person.id,
                channel=ch_name,
                address=address,
                subject=subject,
                body=body,
                now=now,
                dedupe_key=f"{key}:{person.id}:{ch_name}",
                meta={"incident_id": inc.id, "why": why, "username": person.username},
            )
            reached.append(f"{person.username}/{ch_name}")
    return reached, missing


def send_notice(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    people: Sequence[Person],
    prefer: Sequence[str],
    channels: dict[str, Channel],
    now: datetime,
    key: str,
    why: str,
) -> tuple[list[str], list[str]]:
    """Queue a notice (not a page) on the first configured channel of ``prefer``."""
    via = [c for c in prefer if c in channels][:1]
    return send_pages(
        conn,
        pb,
        inc,
        people=people,
        via=via,
        channels=channels,
        now=now,
        key=key,
        why=why,
        kind="notice",
    )


def _lock(conn: Connection, incident_id: int) -> Row[Any] | None:
    return conn.execute(
        sa.select(incidents).where(incidents.c.id == incident_id).with_for_update()
    ).first()


def make_handlers(
    playbook_for: PlaybookFor, channels: dict[str, Channel]
) -> dict[str, timers.Handler]:
    """The timer effects, closed over how to find a pinned playbook and the channels."""

    def step(conn: Connection, timer: Row[Any], now: datetime) -> str:
        p = timer.payload
        inc = _lock(conn, timer.incident_id)
        if inc is None or not _ladder_is_live(inc, p["generation"]):
            return "skipped"
        pb = playbook_for(conn, inc.playbook_version)
        ladder: Escalation | None = pb.escalation
        if ladder is None or p["step"] >= len(ladder.steps):
            return "skipped"
        s = ladder.steps[p["step"]]
        ref = escalation.StepRef(p["round"], p["step"])
        now_people: list[Person] = []
        deferred: list[str] = []
        for target in s.notify:
            for person in people_for(conn, target, at=now):
                urgent = ladder.urgent is None or inc.severity in ladder.urgent
                until = (
                    None
                    if urgent
                    else quiet_until(person.quiet_hours, timezone=person.timezone, at=now)
                )
                if until is None:
                    now_people.append(person)
                    continue
                deferred.append(person.username)
                timers.schedule(
                    conn,
                    kind="page_deferred",
                    incident_id=inc.id,
                    due_at=until,
                    now=now,
                    dedupe_key=f"defer:{inc.id}:{p['generation']}:{person.id}",
                    payload={
                        "generation": p["generation"],
                        "user_id": person.id,
                        "via": list(s.via),
                        "step": ref.label,
                    },
                )
        unique = list({pp.id: pp for pp in now_people}.values())
        reached, missing = send_pages(
            conn,
            pb,
            inc,
            people=unique,
            via=s.via,
            channels=channels,
            now=now,
            key=timer.dedupe_key,
            why=f"step {ref.label}",
        )
        conn.execute(
            incidents.update().where(incidents.c.id == inc.id).values(escalation_step=ref.label)
        )
        append_event(
            conn,
            incident_id=inc.id,
            type="paged",
            actor="escalation",
            at=now,
            data={
                "step": ref.label,
                "notify": [f"{t.kind}:{t.name}" for t in s.notify],
                "to": reached,
                "unroutable": missing,
                "deferred": deferred,
            },
        )
        return "paged" if reached else "unroutable"

    def deferred_page(conn: Connection, timer: Row[Any], now: datetime) -> str:
        p = timer.payload
        inc = _lock(conn, timer.incident_id)
        if inc is None or not _ladder_is_live(inc, p["generation"]):
            return "skipped"
        row = conn.execute(sa.select(users).where(users.c.id == p["user_id"])).first()
        if row is None:
            return "skipped"
        pb = playbook_for(conn, inc.playbook_version)
        reached, missing = send_pages(
            conn,
            pb,
            inc,
            people=[_person(row)],
            via=p["via"],
            channels=channels,
            now=now,
            key=timer.dedupe_key,
            why=f"step {p['step']} after quiet hours",
        )
        append_event(
            conn,
            incident_id=inc.id,
            type="paged",
            actor="escalation",
            at=now,
            data={
                "step": p["step"],
                "to": reached,
                "unroutable": missing,
                "after_quiet_hours": True,
            },
        )
        return "paged"

    def exhausted(conn: Connection, timer: Row[Any], now: datetime) -> str:
        inc = _lock(conn, timer.incident_id)
        if inc is None or not _ladder_is_live(inc, timer.payload["generation"]):
            return "skipped"
        conn.execute(
            incidents.update().where(incidents.c.id == inc.id).values(escalation_exhausted=True)
        )
        pb = playbook_for(conn, inc.playbook_version)
        admins = [
            _person(r)
            for r in conn.execute(
                sa.select(users).where(users.c.role == "admin", users.c.active.is_(True))
            )
        ]
        reached, _ = send_notice(
            conn,
            pb,
            inc,
            people=admins,
            prefer=("email", "sms"),
            channels=channels,
            now=now,
            key=timer.dedupe_key,
            why="escalation exhausted",
        )
        append_event(
            conn,
            incident_id=inc.id,
            type="escalation_exhausted",
            actor="escalation",
            at=now,
            data={"notified": reached},
        )
        return "exhausted"

    def cadence(conn: Connection, timer: Row[Any], now: datetime) -> str:
        p = timer.payload
        inc = _lock(conn, timer.incident_id)
        if inc is None or inc.resolved_at is not None:
            return "skipped"
        due = inc.next_update_due_at
        if due is None or due.isoformat() != p["due"]:
            return "skipped"  # an update was published, or severity changed: re-planned
        pb = playbook_for(conn, inc.playbook_version)
        level = int(p["level"])
        roles = pb.cadence_remind
        role = roles[min(level - 1, len(roles) - 1)]
        people = people_for(conn, Target("role", role), at=now)
        reached, missing = send_notice(
            conn,
            pb,
            inc,
            people=people,
            prefer=("sms", "email"),
            channels=channels,
            now=now,
            key=timer.dedupe_key,
            why="update overdue",
        )
        append_event(
            conn,
            incident_id=inc.id,
            type="cadence_reminder" if level == 1 else "cadence_escalated",
            actor="cadence",
            at=now,
            data={"due": p["due"], "role": role, "to": reached, "unroutable": missing},
        )
        interval = pb.cadence.get(inc.severity)
        if level == 1 and interval is not None and len(roles) > 1:
            timers.schedule(
                conn,
                kind="cadence",
                incident_id=inc.id,
                now=now,
                due_at=due + interval,
                dedupe_key=f"cad:{inc.id}:{p['due']}:2",
                payload={"due": p["due"], "level": 2},
            )
        return "reminded"

    return {
        "escalation_step": step,
        "page_deferred": deferred_page,
        "escalation_exhausted": exhausted,
        "cadence": cadence,
    }


def plan_cadence(
    conn: Connection,
    pb: Playbook,
    *,
    incident_id: int,
    severity: str,
    since: datetime,
    now: datetime,
) -> datetime | None:
    """Set the next update due time from ``since`` and a reminder timer for it."""
    interval = pb.cadence.get(severity)
    due = since + interval if interval is not None else None
    conn.execute(
        incidents.update().where(incidents.c.id == incident_id).values(next_update_due_at=due)
    )
    timers.cancel_pending(conn, incident_id=incident_id, kinds=CADENCE_KINDS)
    if due is not None:
        timers.schedule(
            conn,
            kind="cadence",
            incident_id=incident_id,
            due_at=due,
            now=now,
            dedupe_key=f"cad:{incident_id}:{due.isoformat()}:1",
            payload={"due": due.isoformat(), "level": 1},
        )
    return due


def note_public_update(
    conn: Connection, pb: Playbook, inc: Row[Any], *, at: datetime, now: datetime
) -> None:
    """A public update went out at ``at``: the cadence clock restarts from it."""
    conn.execute(
        incidents.update().where(incidents.c.id == inc.id).values(last_public_update_at=at)
    )
    if inc.resolved_at is None:
        plan_cadence(conn, pb, incident_id=inc.id, severity=inc.severity, since=at, now=now)
