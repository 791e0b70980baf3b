"""What paging's timers do when they fall due: ladder steps, pages deferred past quiet
hours, the ladder running out, and the cadence reminder when a public update is overdue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from engine.accounts import people as accounts
from engine.kernel.journal import append_event
from engine.kernel.records import find_incident
from engine.paging import escalation, state
from engine.paging.ladder import (
    PlaybookFor,
    ladder_is_live,
    notify_role,
    send_notice,
    send_pages,
)
from engine.paging.roster import quiet_until
from engine.paging.rosterdb import Person, people_for, person_of
from engine.playbooks.channels import Channel
from engine.playbooks.playbook import Escalation, EscalationStep
from engine.timers import schedule as timers


def make_handlers(
    playbook_for: PlaybookFor, channels: dict[str, Channel]
) -> dict[str, timers.Handler]:
    """The timer effects, closed over how to find a pinned playbook and the channels."""
    e = Effects(playbook_for, channels)
    return {
        "escalation_step": e.step,
        "page_deferred": e.deferred_page,
        "escalation_exhausted": e.exhausted,
        "cadence": e.cadence,
    }


class Effects:
    def __init__(self, playbook_for: PlaybookFor, channels: dict[str, Channel]) -> None:
        self.playbook_for = playbook_for
        self.channels = channels

    def step(self, conn: Connection, timer: Row[Any], now: datetime) -> str:
        p = timer.payload
        inc = find_incident(conn, timer.incident_id, lock=True)
        if inc is None or not ladder_is_live(conn, inc, p["generation"]):
            return "skipped"
        pb = self.playbook_for(conn, inc.playbook_version)
        ladder: Escalation | None = pb.escalation
        if ladder is None or p["step"] >= len(ladder.steps):
            return "skipped"
        s = ladder.steps[p["step"]]
        ref = escalation.StepRef(p["round"], p["step"])
        now_people, deferred = self._now_or_later(conn, inc, ladder, s, p, ref, now)
        unique = list({pp.id: pp for pp in now_people}.values())
        reached, missing = send_pages(
            conn,
            pb,
            inc,
            people=unique,
            via=s.via,
            channels=self.channels,
            now=now,
            key=timer.dedupe_key,
            why=f"step {ref.label}",
        )
        state.reached(conn, inc.id, step=ref.label)
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

    def deferred_page(self, conn: Connection, timer: Row[Any], now: datetime) -> str:
        p = timer.payload
        inc = find_incident(conn, timer.incident_id, lock=True)
        if inc is None or not ladder_is_live(conn, inc, p["generation"]):
            return "skipped"
        row = accounts.user_by_id(conn, p["user_id"])
        if row is None:
            return "skipped"
        pb = self.playbook_for(conn, inc.playbook_version)
        reached, missing = send_pages(
            conn,
            pb,
            inc,
            people=[person_of(row)],
            via=p["via"],
            channels=self.channels,
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

    def exhausted(self, conn: Connection, timer: Row[Any], now: datetime) -> str:
        inc = find_incident(conn, timer.incident_id, lock=True)
        if inc is None or not ladder_is_live(conn, inc, timer.payload["generation"]):
            return "skipped"
        state.spent(conn, inc.id)
        pb = self.playbook_for(conn, inc.playbook_version)
        admins = [person_of(r) for r in accounts.active_admins(conn)]
        reached, _ = send_notice(
            conn,
            pb,
            inc,
            people=admins,
            prefer=("email", "sms"),
            channels=self.channels,
            now=now,
            key=timer.dedupe_key,
            why="escalation exhausted",
            message="nobody has acknowledged it after every escalation step: it needs an owner.",
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

    def cadence(self, conn: Connection, timer: Row[Any], now: datetime) -> str:
        p = timer.payload
        inc = find_incident(conn, timer.incident_id, lock=True)
        if inc is None or inc.resolved_at is not None:
            return "skipped"
        due = inc.next_update_due_at
        if due is None or due.isoformat() != p["due"]:
            return "skipped"  # an update was published, or severity changed: re-planned
        pb = self.playbook_for(conn, inc.playbook_version)
        level = int(p["level"])
        roles = pb.cadence_remind
        role = roles[min(level - 1, len(roles) - 1)]
        message = (
            f"a public update was due at {due:%H:%M} UTC and none has gone out."
            if level == 1
            else f"a public update is overdue since {due:%H:%M} UTC and {roles[0]} has not "
            "published one."
        )
        reached, missing = notify_role(
            conn,
            pb,
            inc,
            role=role,
            channels=self.channels,
            now=now,
            key=timer.dedupe_key,
            why="update overdue",
            message=message,
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

    def _now_or_later(
        self,
        conn: Connection,
        inc: Row[Any],
        ladder: Escalation,
        s: EscalationStep,
        p: dict[str, Any],
        ref: escalation.StepRef,
        now: datetime,
    ) -> tuple[list[Person], list[str]]:
        """Who this step pages now, and who waits out their quiet hours (a timer each)."""
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
        return now_people, deferred
