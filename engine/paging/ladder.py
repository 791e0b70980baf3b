"""Escalation and cadence in the store: start and re-plan ladders, and the timer effects.

Each effect runs inside the timer's claim transaction and first locks the incident row, so
it serialises with acknowledgements: once an acknowledgement commits, no later step of that
ladder writes a page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from engine.delivery import outbox
from engine.kernel.records import unresolved, update_incident
from engine.paging import escalation, state
from engine.paging.rosterdb import Person, people_for
from engine.playbooks.channels import Channel, endpoint, personal_address
from engine.playbooks.playbook import Playbook, Target
from engine.timers import schedule as timers

LADDER_KINDS = ("escalation_step", "escalation_exhausted", "page_deferred")
CADENCE_KINDS = ("cadence",)

PlaybookFor = Callable[[Connection, str], Playbook]


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
    state.started(conn, incident_id, generation=generation, now=now)
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


def tell_stakeholders(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    actor: str,
    channels: dict[str, Channel],
    now: datetime,
) -> dict[str, dict[str, list[str]]]:
    """Tell the playbook's stakeholder roles that the incident was declared (a notice, once);
    who was reached, per role, for the ``declared`` event."""
    told: dict[str, dict[str, list[str]]] = {}
    for role in pb.stakeholders:
        severity = pb.severities.get(inc.severity, inc.severity)
        reached, missing = notify_role(
            conn,
            pb,
            inc,
            role=role,
            channels=channels,
            now=now,
            key=f"declared:{inc.id}:{role}",
            why="declared",
            message=f"declared by {actor} ({severity}). You are told as {role}; "
            "nothing to acknowledge.",
        )
        told[role] = {"to": reached, "unroutable": missing}
    return told


def stop_ladder(conn: Connection, *, incident_id: int, now: datetime) -> None:
    state.stopped(conn, incident_id, now=now)
    timers.cancel_pending(conn, incident_id=incident_id, kinds=LADDER_KINDS)


def replan_ladder(conn: Connection, pb: Playbook, row: Row[Any], *, now: datetime) -> bool:
    """After a severity change: a new generation of the ladder, starting now."""
    lad = state.ladder_of(conn, row.id)
    if pb.escalation is None or lad.stopped_at is not None or row.resolved_at:
        return False
    timers.cancel_pending(conn, incident_id=row.id, kinds=LADDER_KINDS)
    start_ladder(conn, pb, incident_id=row.id, generation=lad.generation + 1, now=now)
    return True


def ladder_is_live(conn: Connection, row: Row[Any], generation: int) -> bool:
    lad = state.ladder_of(conn, row.id)
    return lad.generation == generation and lad.stopped_at is None and row.resolved_at is None


def page_text(pb: Playbook, inc: Row[Any], medium: str) -> tuple[str | None, str]:
    sev = inc.severity.upper()
    if medium == "voice":
        return None, (
            f"This is crisis comms. {pb.severities.get(inc.severity, inc.severity)}. "
            f"Incident {inc.id}: {inc.title}. Press 1 to acknowledge."
        )
    body = f"[{sev}] INC-{inc.id} {inc.title} ({pb.name}). Reply ACK {inc.id} to acknowledge."
    return f"[{sev}] INC-{inc.id} {inc.title}", body


def notice_text(pb: Playbook, inc: Row[Any], medium: str, message: str) -> tuple[str | None, str]:
    """A notice's words: what it is about, never "reply ACK" (it is not a page)."""
    if medium == "voice":
        return None, f"This is crisis comms. Incident {inc.id}: {inc.title}. {message}"
    head = f"[{inc.severity.upper()}] INC-{inc.id} {inc.title}"
    return f"{head}: {message}", f"{head} ({pb.name}): {message}"


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
    message: str | None = None,
) -> tuple[list[str], list[str]]:
    """Queue a page (or, with ``message``, a notice) to each person on each channel; return
    (reached, unroutable) entries."""
    reached: list[str] = []
    missing: list[str] = []
    for person in people:
        for ch_name in via:
            channel = channels.get(ch_name)
            address = address_for(person, channel) if channel else None
            if channel is None or not address:
                missing.append(f"{person.username}/{ch_name}")
                continue
            subject, body = (
                page_text(pb, inc, channel.medium)
                if message is None
                else notice_text(pb, inc, channel.medium, message)
            )
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
    message: str,
) -> tuple[list[str], list[str]]:
    """Queue a notice (not a page) on the first configured channel of ``prefer``: ``message``
    says what it is about (an update overdue, an approval waiting, a ladder spent)."""
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
        message=message,
    )


def notify_role(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    role: str,
    channels: dict[str, Channel],
    now: datetime,
    key: str,
    why: str,
    message: str,
) -> tuple[list[str], list[str]]:
    """Send a notice to whoever holds roster ``role`` now, by SMS (else email)."""
    return send_notice(
        conn,
        pb,
        inc,
        people=people_for(conn, Target("role", role), at=now),
        prefer=("sms", "email"),
        channels=channels,
        now=now,
        key=key,
        why=why,
        message=message,
    )


def notify_role_directly(
    conn: Connection,
    *,
    role: str,
    channels: dict[str, Channel],
    now: datetime,
    key: str,
    why: str,
    subject: str,
    message: str,
) -> list[str]:
    """A notice about no incident (a freeze made by hand) to whoever holds ``role`` now, by
    SMS, else email; who was reached."""
    reached = []
    for person in people_for(conn, Target("role", role), at=now):
        for name in ("sms", "email"):
            channel = channels.get(name)
            address = address_for(person, channel) if channel else None
            if channel is None or not address:
                continue
            outbox.enqueue(
                conn,
                kind="notice",
                user_id=person.id,
                channel=name,
                address=address,
                subject=subject if channel.medium == "email" else None,
                body=f"{subject}: {message}",
                now=now,
                dedupe_key=f"{key}:{person.id}:{name}",
                meta={"why": why, "username": person.username},
            )
            reached.append(f"{person.username}/{name}")
            break
    return reached


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
    update_incident(conn, incident_id, next_update_due_at=due)
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
    update_incident(conn, inc.id, last_public_update_at=at)
    if inc.resolved_at is None:
        plan_cadence(conn, pb, incident_id=inc.id, severity=inc.severity, since=at, now=now)


def moot_pages(conn: Connection, rows: Sequence[Any], now: datetime) -> set[int]:
    """Page deliveries whose incident was acknowledged, stopped or resolved since (outbox)."""
    ids = {r.incident_id for r in rows if r.incident_id is not None}
    if not ids:
        return set()
    stopped = state.stopped_among(conn, ids) | (ids - unresolved(conn, ids))
    return {r.id for r in rows if r.incident_id in stopped}
