"""Use cases: load → decide → apply → commit, one transaction each.

Every function here takes keyword arguments, checks the actor's role, and writes the state
change together with its timeline events in one transaction, so a process killed at any
instant leaves either both or neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.audience import subscriptions
from engine.calendar import posts as calendar
from engine.calendar.rules import Scope
from engine.delivery import receipts
from engine.incidents import lifecycle
from engine.kernel import addresses, keys, throttle
from engine.kernel.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from engine.kernel.journal import append_event
from engine.kernel.models import Actor, Event, Incident, User
from engine.kernel.ports import Alarm, Clock, SystemClock
from engine.kernel.roles import ROLES, Perm, may
from engine.kernel.security import hash_password, new_token, token_digest, verify_password
from engine.kernel.text import PROBLEM, UNSTORABLE
from engine.kernel.timeline import GENESIS, event_hash, verify_chain
from engine.monitoring import alerts as monitoring
from engine.paging import ladder as paging
from engine.paging import rosterdb
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.playbooks.places import Places
from engine.playbooks.places import key as places_key
from engine.playbooks.playbook import ON_LIFT, Playbook
from engine.public import projection as public
from engine.store import Store
from engine.store.tables import (
    api_tokens,
    deliveries,
    events,
    freezes,
    inbound_seen,
    incidents,
    posts,
    sandbox_messages,
    subscribers,
    updates,
    users,
)
from engine.store.tables import timers as timer_table
from engine.timers import schedule as timers
from engine.timers.schedule import Handler
from engine.updates import flow as update_flow

OPEN, RESOLVED, ALL = "open", "resolved", "all"
TOKEN_SCOPES = ("full", "read", "metrics", "monitoring")
TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most once a minute
MAX_TITLE = 300
MAX_SUMMARY = 5000  # one limit at every entrance: API, form, CLI, alerts (truncated there)
LOGIN_PAIR = throttle.Backoff(5, timedelta(seconds=1), timedelta(minutes=5), timedelta(minutes=15))
LOGIN_CLIENT = throttle.Backoff(
    20, timedelta(seconds=2), timedelta(minutes=15), timedelta(minutes=15)
)
LOGIN_ACCOUNT = throttle.Backoff(
    50, timedelta(seconds=1), timedelta(minutes=1), timedelta(minutes=15)
)


def login_keys(username: str, client: str) -> list[tuple[str, str, throttle.Backoff]]:
    """The three counts a login attempt is throttled by: (bucket, key, rule)."""
    return [
        ("login-pair", f"{username}|{client}", LOGIN_PAIR),
        ("login-client", client or "-", LOGIN_CLIENT),
        ("login-account", username, LOGIN_ACCOUNT),
    ]


@dataclass(frozen=True)
class Page:
    items: list[Incident]
    page: int
    per_page: int
    total: int


class Service:
    """The engine's front door for the CLI, the web app and the workers."""

    def __init__(
        self,
        *,
        store: Store,
        catalog: Catalog,
        clock: Clock | None = None,
        channels: Mapping[str, Channel] | None = None,
        alarm: Alarm | None = None,
        places: Places | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.places = places or Places()
        self.clock = clock or SystemClock()
        self.channels = dict(channels or {})
        self.alarm = alarm

    def timer_handlers(self) -> dict[str, Handler]:
        """The effects of every timer kind, for the alarm clock."""
        return paging.make_handlers(self.catalog.pinned, self.channels) | update_flow.make_handlers(
            self.catalog.pinned, self.channels
        )

    def _rearm(self) -> None:
        """Wake the alarm clock for whatever timer the last transaction added."""
        if self.alarm is None:
            return
        due = [timers.next_due(self.store), calendar.next_post_due(self.store)]
        upcoming = min((d for d in due if d is not None), default=None)
        if upcoming is not None:
            self.alarm.rearm(upcoming)

    # --- incidents --------------------------------------------------------------------
    def declare(
        self,
        *,
        actor: Actor,
        playbook: str,
        severity: str,
        title: str,
        regions: Sequence[str] = (),
        services: Sequence[str] = (),
        summary: str = "",
    ) -> Incident:
        """Declare an incident under the current version of ``playbook``."""
        _require(actor, Perm.DECLARE, "declare incidents")
        pb = self.catalog.current(playbook)
        title, regions, services = _check_declaration(
            pb, severity, title, regions, services, places=self.places, summary=summary
        )
        now = self.clock.now()
        with self.store.transaction() as conn:
            incident_id = self._declare_in(
                conn,
                pb,
                actor=actor,
                severity=severity,
                title=title,
                regions=regions,
                services=services,
                summary=summary,
                now=now,
            )
            inc = Incident.from_row(_load_row(conn, incident_id, lock=False))
        self._rearm()
        return inc

    def _declare_in(
        self,
        conn: Connection,
        pb: Playbook,
        *,
        actor: Actor,
        severity: str,
        title: str,
        regions: Sequence[str],
        services: Sequence[str],
        summary: str,
        now: datetime,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Insert a validated incident: timeline, ladder, freeze and cadence, in ``conn``."""
        self.catalog.record(conn, pb, now=now)
        incident_id = int(
            conn.execute(
                incidents.insert()
                .values(
                    playbook_id=pb.id,
                    playbook_version=pb.version,
                    title=title,
                    severity=severity,
                    state=pb.initial,
                    regions=list(regions),
                    services=list(services),
                    summary=summary,
                    declared_by=actor.name,
                    declared_at=now,
                    updated_at=now,
                )
                .returning(incidents.c.id)
            ).scalar_one()
        )
        append_event(
            conn,
            incident_id=incident_id,
            type="declared",
            actor=actor.name,
            at=now,
            data={
                "playbook": pb.id,
                "version": pb.version,
                "severity": severity,
                "title": title,
                "regions": list(regions),
                "services": list(services),
                "state": pb.initial,
                **(data or {}),
            },
        )
        paging.start_ladder(conn, pb, incident_id=incident_id, generation=1, now=now)
        if pb.freeze is not None and pb.freeze.on == pb.initial:
            self._playbook_freeze(
                conn, pb, incident_id=incident_id, regions=regions, actor=actor, now=now
            )
        paging.plan_cadence(
            conn, pb, incident_id=incident_id, severity=severity, since=now, now=now
        )
        return incident_id

    def ingest_alerts(
        self,
        *,
        actor: Actor,
        source: str,
        group_key: str,
        alerts: Sequence[monitoring.AlertIn],
    ) -> list[monitoring.Outcome]:
        """Apply one monitoring notification: declare, join, deduplicate or note resolution.

        A declaration freezes promos, starts escalation and drafts the trigger's template
        (held for a person, never sent). A resolved alert adds a timeline event; when the last
        alert of an incident resolves, people are offered "resolve", and the playbook resolves
        it only where the trigger says ``auto_resolve: true``.
        """
        _require(actor, Perm.MONITORING_HOOK, "post monitoring alerts")
        now = self.clock.now()
        out: list[monitoring.Outcome] = []
        with self.store.transaction() as conn:
            for alert in alerts:
                out.append(self._ingest_one(conn, actor, source, group_key, alert, now))
        self._rearm()
        return out

    def _ingest_one(
        self,
        conn: Connection,
        actor: Actor,
        source: str,
        group_key: str,
        alert: monitoring.AlertIn,
        now: datetime,
    ) -> monitoring.Outcome:
        fp = alert.fingerprint
        if alert.status == "resolved":
            row = monitoring.seen(conn, source, alert)
            if row is None:
                return monitoring.Outcome(fp, "ignored", reason="resolved alert never seen firing")
            if monitoring.mark_resolved(conn, row, now):
                self._alert_resolved(conn, actor, row, now)
            return monitoring.Outcome(fp, "resolved", row.incident_id)
        found = monitoring.match(self.catalog.all(), source=source, labels=alert.labels)
        if isinstance(found, str):
            return monitoring.Outcome(fp, "unmatched", reason=found)
        pb = found.playbook
        group = monitoring.lock_group(conn, source, group_key, now)
        row = monitoring.seen(conn, source, alert)
        if row is not None:
            monitoring.touch(conn, row, now)
            return monitoring.Outcome(fp, "duplicate", row.incident_id, pb.id)
        incident_id = monitoring.open_incident_of(conn, group, pb.id)
        if incident_id is not None:
            monitoring.record(
                conn,
                source=source,
                group_key=group_key,
                alert=alert,
                incident_id=incident_id,
                now=now,
            )
            append_event(
                conn,
                incident_id=incident_id,
                type="alert_joined",
                actor=actor.name,
                at=now,
                data={"source": source, "fingerprint": fp, "labels": dict(alert.labels)},
            )
            return monitoring.Outcome(fp, "joined", incident_id, pb.id)
        # An alert label naming no known region must not stop the declaration (nor narrow the
        # freeze): the unknown names are recorded, and with none known the freeze is global.
        known, unknown = self.places.resolve("regions", found.regions)
        title, regions, services = _check_declaration(
            pb,
            found.severity,
            monitoring.title_of(alert)[:MAX_TITLE],
            known,
            (),
            places=self.places,
        )
        incident_id = self._declare_in(
            conn,
            pb,
            actor=actor,
            severity=found.severity,
            title=title,
            regions=regions,
            services=services,
            summary=alert.annotations.get("description", "")[:MAX_SUMMARY],
            now=now,
            data={"source": source, "fingerprint": fp, "labels": dict(alert.labels)}
            | ({"unknown_regions": unknown} if unknown else {}),
        )
        monitoring.record(
            conn, source=source, group_key=group_key, alert=alert, incident_id=incident_id, now=now
        )
        monitoring.bind_group(conn, group, incident_id, now)
        template = found.trigger.draft
        if template is not None:
            update_flow.draft(
                conn,
                pb,
                _load_row(conn, incident_id, lock=True),
                actor=actor.name,
                audience=pb.templates[template].audience,
                template=template,
                body=None,
                locale=next(iter(pb.templates[template].body), "en"),
                channels=self.channels,
                now=now,
                hold=True,
            )
        return monitoring.Outcome(fp, "declared", incident_id, pb.id)

    def _alert_resolved(
        self, conn: Connection, actor: Actor, alert: Row[Any], now: datetime
    ) -> None:
        """Note a resolved alert; when none of the incident's alerts fire, offer resolution."""
        inc = _load_row(conn, alert.incident_id, lock=True)
        append_event(
            conn,
            incident_id=inc.id,
            type="alert_resolved",
            actor=actor.name,
            at=now,
            data={"source": alert.source, "fingerprint": alert.fingerprint},
        )
        if inc.resolved_at is not None or monitoring.still_firing(conn, inc.id):
            return
        pb = self.catalog.pinned(conn, inc.playbook_version)
        trigger = monitoring.resolving_trigger(pb, inc.state)
        matched = monitoring.match([pb], source=alert.source, labels=alert.labels)
        auto = isinstance(matched, monitoring.Match) and matched.trigger.auto_resolve
        append_event(
            conn,
            incident_id=inc.id,
            type="monitoring_resolved",
            actor=actor.name,
            at=now,
            data={"offer": trigger, "auto_resolve": auto},
        )
        if auto and trigger is not None:
            guard = next((t.role for t in pb.transitions if t.trigger == trigger), None)
            # The playbook's auto_resolve grants the transition's own guard to monitoring.
            by = Actor(f"{actor.name} (auto_resolve)", guard or "operator")
            self._apply(
                conn, pb, inc, actor=by, trigger=trigger, note="all alerts resolved", now=now
            )

    def fire(
        self,
        *,
        actor: Actor,
        incident_id: int,
        trigger: str,
        note: str | None = None,
    ) -> Incident:
        """Move an incident through its playbook's lifecycle with ``trigger``."""
        _require(actor, Perm.TRANSITION, "move incidents between states")
        now = self.clock.now()
        with self.store.transaction() as conn:
            row = _load_row(conn, incident_id, lock=True)
            pb = self.catalog.pinned(conn, row.playbook_version)
            self._apply(conn, pb, row, actor=actor, trigger=trigger, note=note, now=now)
            inc = Incident.from_row(_load_row(conn, incident_id, lock=False))
        self._rearm()
        return inc

    def acknowledge(self, *, actor: Actor, incident_id: int, via: str = "api") -> Incident:
        """Take ownership of an incident; fires the ladder's stop trigger where it applies.

        Operators may acknowledge any incident; anyone the incident paged may acknowledge it
        (by replying to the page, pressing 1 on the call, or from the UI).
        """
        now = self.clock.now()
        with self.store.transaction() as conn:
            if not _may_acknowledge(conn, actor, incident_id):
                _require(actor, Perm.ACKNOWLEDGE, "acknowledge incidents")
            row = _load_row(conn, incident_id, lock=True)
            pb = self.catalog.pinned(conn, row.playbook_version)
            if row.owner is not None:
                if row.owner == actor.name:
                    return Incident.from_row(row)
                raise Conflict(f"INC-{row.id} is already acknowledged by {row.owner}")
            if row.state in pb.final:
                raise Conflict(f"INC-{row.id} is already {row.state}")
            conn.execute(
                incidents.update()
                .where(incidents.c.id == row.id)
                .values(owner=actor.name, acknowledged_at=now, updated_at=now)
            )
            append_event(
                conn,
                incident_id=row.id,
                type="acknowledged",
                actor=actor.name,
                at=now,
                data={"via": via},
            )
            paging.stop_ladder(conn, incident_id=row.id, now=now)
            until = pb.escalation.until if pb.escalation else "acknowledge"
            if until in pb.allowed_triggers(row.state):
                row = _load_row(conn, incident_id, lock=False)
                self._apply(conn, pb, row, actor=actor, trigger=until, note=None, now=now)
            return Incident.from_row(_load_row(conn, incident_id, lock=False))

    def may_acknowledge(self, *, actor: Actor, incident_id: int) -> bool:
        """The one rule for every route (UI, API, SMS, voice): operators, or anyone paged."""
        with self.store.engine.connect() as conn:
            return _may_acknowledge(conn, actor, incident_id)

    def amend(
        self,
        *,
        actor: Actor,
        incident_id: int,
        severity: str | None = None,
        title: str | None = None,
        regions: Sequence[str] | None = None,
        summary: str | None = None,
    ) -> Incident:
        """Change an incident's severity, title, regions or summary."""
        _require(actor, Perm.TRANSITION, "change incidents")
        now = self.clock.now()
        with self.store.transaction() as conn:
            row = _load_row(conn, incident_id, lock=True)
            pb = self.catalog.pinned(conn, row.playbook_version)
            problems: dict[str, str] = {}
            changes: dict[str, Any] = {}
            if severity is not None and severity != row.severity:
                _check_severity(pb, severity, problems)
                changes["severity"] = severity
            if title is not None:
                title = _clean_title(title, problems)
                if "title" not in problems and title != row.title:
                    changes["title"] = title
            if regions is not None:
                cleaned = _clean_list(self.places, "regions", regions, problems)
                if list(cleaned) != list(row.regions):
                    changes["regions"] = list(cleaned)
            if summary is not None and len(summary) > MAX_SUMMARY:
                problems["summary"] = f"keep the summary under {MAX_SUMMARY} characters"
            elif summary is not None and summary != row.summary:
                changes["summary"] = summary
            if problems:
                raise ValidationFailed("the incident could not be changed", details=problems)
            if changes:
                conn.execute(
                    incidents.update()
                    .where(incidents.c.id == row.id)
                    .values(updated_at=now, **changes)
                )
                before = {k: _json_value(getattr(row, k)) for k in changes}
                append_event(
                    conn,
                    incident_id=row.id,
                    type="amended",
                    actor=actor.name,
                    at=now,
                    data={"before": before, "after": changes},
                )
            if "severity" in changes and row.resolved_at is None:
                if paging.replan_ladder(conn, pb, row, now=now):
                    append_event(
                        conn,
                        incident_id=row.id,
                        type="escalation_replanned",
                        actor=actor.name,
                        at=now,
                        data={"severity": changes["severity"]},
                    )
                paging.plan_cadence(
                    conn,
                    pb,
                    incident_id=row.id,
                    severity=changes["severity"],
                    since=row.last_public_update_at or row.declared_at,
                    now=now,
                )
            inc = Incident.from_row(_load_row(conn, incident_id, lock=False))
        self._rearm()
        return inc

    def _apply(
        self,
        conn: Connection,
        pb: Playbook,
        row: Row[Any],
        *,
        actor: Actor,
        trigger: str,
        note: str | None,
        now: datetime,
    ) -> None:
        dest, guard = lifecycle.next_state(pb, state=row.state, trigger=trigger, role=actor.role)
        values: dict[str, Any] = {"state": dest, "updated_at": now}
        if dest in pb.final:
            values["resolved_at"] = now
        conn.execute(incidents.update().where(incidents.c.id == row.id).values(**values))
        data: dict[str, Any] = {"trigger": trigger, "from": row.state, "to": dest}
        if guard:
            data["guard"] = guard
        if note:
            data["note"] = note
        append_event(
            conn, incident_id=row.id, type="transitioned", actor=actor.name, at=now, data=data
        )
        if pb.freeze is not None and pb.freeze.on == dest and dest != row.state:
            self._playbook_freeze(
                conn, pb, incident_id=row.id, regions=row.regions, actor=actor, now=now
            )
        until = pb.escalation.until if pb.escalation else None
        if trigger == until or dest in pb.final:
            paging.stop_ladder(conn, incident_id=row.id, now=now)
        if dest in pb.final:
            timers.cancel_pending(conn, incident_id=row.id, kinds=paging.CADENCE_KINDS)
            conn.execute(
                incidents.update().where(incidents.c.id == row.id).values(next_update_due_at=None)
            )
            append_event(
                conn,
                incident_id=row.id,
                type="resolved",
                actor=actor.name,
                at=now,
                data={"state": dest},
            )
            update_flow.withdraw_open(conn, pb, row, actor=actor.name, now=now)
            public.announce_resolution(conn, pb, row, state=dest, actor=actor.name, now=now)

    def _playbook_freeze(
        self,
        conn: Connection,
        pb: Playbook,
        *,
        incident_id: int,
        regions: Sequence[str],
        actor: Actor,
        now: datetime,
    ) -> None:
        """Create the playbook's freeze for this incident, once (in the caller's transaction)."""
        rule = pb.freeze
        assert rule is not None
        exists = conn.execute(
            sa.select(freezes.c.id).where(
                freezes.c.incident_id == incident_id, freezes.c.created_by == "playbook"
            )
        ).first()
        if exists:
            return
        scope = Scope(
            rule.scope.channels,
            rule.scope.tags,
            tuple(regions)
            if rule.scope.incident_regions
            else tuple(places_key(r) for r in rule.scope.regions),
        )
        if scope.empty:
            return  # `regions: incident` on an incident without regions and nothing else
        calendar.create_freeze(
            conn,
            scope=scope,
            reason=f"INC-{incident_id} ({pb.name}) — declared by {actor.name}",
            actor="playbook",
            now=now,
            channels=self.channels,
            incident_id=incident_id,
            on_lift=rule.on_lift,
            cooldown=rule.cooldown,
            stamp=self.clock.now,
        )

    # --- content calendar and freezes ------------------------------------------------
    def create_post(self, *, actor: Actor, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Schedule one post on a social or newsletter channel."""
        _require(actor, Perm.MANAGE_POSTS, "manage the content calendar")
        now = self.clock.now()
        post, problems = calendar.check_post(
            fields, channels=self.channels, now=now, places=self.places
        )
        if post is None:
            raise ValidationFailed("the post could not be scheduled", details=problems)
        with self.store.transaction() as conn:
            pid = calendar.insert_post(conn, post, author=actor.name, now=now)
        self._rearm()
        return self.get_post(post_id=pid)

    def import_posts(self, *, actor: Actor, data: bytes | str, content_type: str) -> int:
        """Import a CSV or JSON calendar: every row valid, or nothing imported."""
        _require(actor, Perm.MANAGE_POSTS, "manage the content calendar")
        rows = calendar.parse_import(data, content_type=content_type)
        with self.store.transaction() as conn:
            n = calendar.import_posts(
                conn,
                rows,
                channels=self.channels,
                author=actor.name,
                now=self.clock.now(),
                places=self.places,
            )
        self._rearm()
        return n

    def get_post(self, *, post_id: int) -> dict[str, Any]:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(posts).where(posts.c.id == post_id)).first()
        if row is None:
            raise NotFound(f"no post {post_id}")
        return _post(row)

    def list_posts(
        self,
        *,
        state: str | None = None,
        review: bool | None = None,
        held_by: int | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> tuple[list[dict[str, Any]], int]:
        if state is not None and state not in POST_STATES:
            raise ValidationFailed("unknown post state", details={"state": " | ".join(POST_STATES)})
        q = sa.select(posts)
        if state:
            q = q.where(posts.c.state == state)
        if review is not None:
            q = q.where(posts.c.review.is_(review))
        page, per_page = max(1, page), min(max(1, per_page), 500)
        ordered = q.order_by(posts.c.publish_at, posts.c.id)
        with self.store.engine.connect() as conn:
            if held_by is not None:
                # Held posts only (JSON membership is not portable SQL; the set is small).
                rows = conn.execute(ordered.where(posts.c.state == "held")).all()
                items = [_post(r) for r in rows if held_by in (r.held_by or [])]
                return items[(page - 1) * per_page : page * per_page], len(items)
            total = conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
            rows = conn.execute(ordered.limit(per_page).offset((page - 1) * per_page)).all()
        return [_post(r) for r in rows], int(total)

    def freeze_banner(self) -> tuple[int, int]:
        """(active freezes, posts they hold awaiting no review): two counts, one query."""
        active = (
            sa.select(sa.func.count())
            .select_from(freezes)
            .where(freezes.c.lifted_at.is_(None))
            .scalar_subquery()
        )
        held = (
            sa.select(sa.func.count())
            .select_from(posts)
            .where(posts.c.state == "held", posts.c.review.is_(False))
            .scalar_subquery()
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(active, held)).one()
        return int(row[0]), int(row[1])

    def review_post(
        self, *, actor: Actor, post_id: int, action: str, publish_at: datetime | None = None
    ) -> dict[str, Any]:
        """Publish now, reschedule or cancel a held (or scheduled) post."""
        _require(actor, Perm.REVIEW_POSTS, "review held posts")
        with self.store.transaction() as conn:
            calendar.review_post(
                conn,
                post_id=post_id,
                action=action,
                now=self.clock.now(),
                channels=self.channels,
                publish_at=publish_at,
            )
        self._rearm()
        return self.get_post(post_id=post_id)

    def create_freeze(
        self,
        *,
        actor: Actor,
        scope: Scope,
        reason: str,
        incident_id: int | None = None,
        on_lift: str = "review",
    ) -> dict[str, Any]:
        """Freeze by hand (people, or automation such as a monitoring hook)."""
        _require(actor, Perm.CREATE_FREEZE, "create freezes")
        scope = Scope(
            scope.channels,
            tuple(t.casefold() for t in scope.tags),
            self.places.clean("regions", list(scope.regions), field="scope.regions"),
        )
        if on_lift not in ON_LIFT:
            raise ValidationFailed(
                "unknown on_lift", details={"on_lift": "review | resume | discard"}
            )
        now = self.clock.now()
        with self.store.transaction() as conn:
            if incident_id is not None:
                _load_row(conn, incident_id, lock=True)
            fid = calendar.create_freeze(
                conn,
                scope=scope,
                reason=reason,
                actor=actor.name,
                now=now,
                channels=self.channels,
                incident_id=incident_id,
                on_lift=on_lift,
                stamp=self.clock.now,
            )
        return self.get_freeze(freeze_id=fid)

    def lift_freeze(
        self, *, actor: Actor, freeze_id: int, reason: str, force: bool = False
    ) -> dict[str, Any]:
        """Lift a freeze (a person with a reason; never automation)."""
        _require(actor, Perm.LIFT_FREEZE, "lift freezes")
        with self.store.transaction() as conn:
            outcome = calendar.lift_freeze(
                conn,
                freeze_id=freeze_id,
                actor=actor.name,
                reason=reason,
                now=self.clock.now(),
                channels=self.channels,
                force=force,
            )
        self._rearm()
        return self.get_freeze(freeze_id=freeze_id) | {"posts": outcome}

    def get_freeze(self, *, freeze_id: int) -> dict[str, Any]:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(freezes).where(freezes.c.id == freeze_id)).first()
        if row is None:
            raise NotFound(f"no freeze {freeze_id}")
        return calendar.freeze_json(row)

    def list_freezes(
        self, *, active: bool | None = None, incident_id: int | None = None
    ) -> list[dict[str, Any]]:
        q = sa.select(freezes).order_by(freezes.c.id.desc())
        if active is True:
            q = q.where(freezes.c.lifted_at.is_(None))
        elif active is False:
            q = q.where(freezes.c.lifted_at.is_not(None))
        if incident_id is not None:
            q = q.where(freezes.c.incident_id == incident_id)
        with self.store.engine.connect() as conn:
            return [calendar.freeze_json(r) for r in conn.execute(q)]

    # --- operational updates ------------------------------------------------------------
    def draft_update(
        self,
        *,
        actor: Actor,
        incident_id: int,
        audience: str,
        template: str | None = None,
        body: str | None = None,
        locale: str = "en",
    ) -> dict[str, Any]:
        """Draft an update from a template or free text; pre-approved ones go out at once."""
        _require(actor, Perm.DRAFT, "draft updates")
        now = self.clock.now()
        with self.store.transaction() as conn:
            row = _load_row(conn, incident_id, lock=True)
            pb = self.catalog.pinned(conn, row.playbook_version)
            uid, _ = update_flow.draft(
                conn,
                pb,
                row,
                actor=actor.name,
                audience=audience,
                template=template,
                body=body,
                locale=locale,
                channels=self.channels,
                now=now,
                role=actor.role,
            )
        self._rearm()
        return self.get_update(update_id=uid)

    def revise_update(
        self,
        *,
        actor: Actor,
        update_id: int,
        body: str | None = None,
        channel_texts: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Edit a draft: a new revision, so earlier approvals no longer count."""
        _require(actor, Perm.DRAFT, "edit updates")
        with self.store.transaction() as conn:
            row, pb = self._update_incident(conn, update_id)
            update_flow.revise(
                conn,
                pb,
                row,
                update_id=update_id,
                actor=actor.name,
                body=body,
                channel_texts=dict(channel_texts or {}),
                channels=self.channels,
                now=self.clock.now(),
            )
        return self.get_update(update_id=update_id)

    def approve_update(
        self, *, actor: Actor, update_id: int, revision: int, override_reason: str | None = None
    ) -> dict[str, Any]:
        """Approve one exact revision; the update is published when approval lands."""
        if actor.role == "automation":
            raise Forbidden("automation may never approve an update")
        with self.store.transaction() as conn:
            row, pb = self._update_incident(conn, update_id)
            update_flow.approve(
                conn,
                pb,
                row,
                update_id=update_id,
                actor=actor.name,
                role=actor.role,
                revision=revision,
                override_reason=override_reason,
                channels=self.channels,
                now=self.clock.now(),
            )
        self._rearm()
        return self.get_update(update_id=update_id)

    def reject_update(self, *, actor: Actor, update_id: int, reason: str) -> dict[str, Any]:
        _require(actor, Perm.APPROVE, "reject updates")
        with self.store.transaction() as conn:
            row, _ = self._update_incident(conn, update_id)
            update_flow.reject(
                conn,
                row,
                update_id=update_id,
                actor=actor.name,
                reason=reason,
                now=self.clock.now(),
            )
        return self.get_update(update_id=update_id)

    def _update_incident(self, conn: Connection, update_id: int) -> tuple[Row[Any], Playbook]:
        found = conn.execute(sa.select(updates.c.incident_id).where(updates.c.id == update_id))
        incident_id = found.scalar()
        if incident_id is None:
            raise NotFound(f"no update {update_id}")
        row = _load_row(conn, incident_id, lock=True)
        return row, self.catalog.pinned(conn, row.playbook_version)

    def get_update(self, *, update_id: int) -> dict[str, Any]:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(updates).where(updates.c.id == update_id)).first()
            if row is None:
                raise NotFound(f"no update {update_id}")
            return update_flow.update_json(conn, row)

    def list_updates(
        self, *, status: str | None = None, incident_id: int | None = None
    ) -> list[dict[str, Any]]:
        q = sa.select(updates).order_by(updates.c.id.desc())
        if status:
            q = q.where(updates.c.status == status)
        if incident_id is not None:
            q = q.where(updates.c.incident_id == incident_id)
        with self.store.engine.connect() as conn:
            return [update_flow.update_json(conn, r) for r in conn.execute(q).all()]

    def add_subscriber(
        self,
        *,
        actor: Actor | None,
        audience: str,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        region: str | None = None,
    ) -> int:
        """Opt a recipient in to an audience's updates (SMS and/or email), for a region."""
        if actor is not None:
            _require(actor, Perm.ADMIN, "manage subscribers")
        phone, email = addresses.normalise_phone(phone), addresses.normalise_email(email)
        if not phone and not email:
            raise ValidationFailed(
                "a subscriber needs a phone number or an email address",
                details={"phone": "or email"},
            )
        problems = addresses.problems(email=email, phone=phone)
        if problems:  # the same checks as a subscription from the status page
            raise ValidationFailed("the subscriber could not be added", details=problems)
        if region:
            region = self.places.clean("regions", [region], field="region")[0]
        with self.store.transaction() as conn:
            return int(
                conn.execute(
                    subscribers.insert()
                    .values(
                        audience=audience,
                        name=name,
                        phone=phone,
                        email=email,
                        region=region,
                        opted_in=True,
                        created_at=self.clock.now(),
                        confirmed_at=self.clock.now(),
                    )
                    .returning(subscribers.c.id)
                ).scalar_one()
            )

    def list_subscribers(self, *, audience: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(subscribers).order_by(subscribers.c.id)
        if audience:
            q = q.where(subscribers.c.audience == audience)
        with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def set_subscription(self, *, phone: str, opted_in: bool) -> int:
        """STOP / START (or YES) by SMS: this number, in every audience; YES also confirms."""
        with self.store.transaction() as conn:
            return subscriptions.set_by_phone(
                conn, phone=phone, opted_in=opted_in, now=self.clock.now()
            )

    def request_subscription(
        self,
        *,
        audience: str,
        email: str | None,
        phone: str | None,
        region: str | None,
        regions: tuple[str, ...],
        channel: str,
        message: Callable[[subscriptions.Pending], tuple[str, str]],
        client: str = "",
        policy: subscriptions.Policy | None = None,
    ) -> subscriptions.Pending:
        """Record a public subscription and queue its confirmation on ``channel``.

        ``message`` turns the pending subscription (with its one-time token) into the
        confirmation's subject and body; the web layer knows the links. The policy's limits
        (per client, per address, global, allowed countries) apply; RateLimited past them.
        """
        policy = policy or subscriptions.Policy()
        if channel not in self.channels:
            raise ValidationFailed(
                "subscriptions by this route are not configured",
                details={"channel": f"no channel {channel!r}"},
            )
        now = self.clock.now()
        with self.store.transaction() as conn:
            since = now - subscriptions.CLIENT_WINDOW
            if throttle.count(conn, bucket="subscribe-client", key=client, since=since) >= (
                policy.per_client
            ):
                raise RateLimited(
                    "too many subscription requests from here: try again later",
                    retry_after=subscriptions.CLIENT_WINDOW.total_seconds(),
                )
            throttle.hit(conn, bucket="subscribe-client", key=client, now=now)
        with self.store.transaction() as conn:
            pending = subscriptions.request(
                conn,
                audience=audience,
                email=email,
                phone=phone,
                region=region,
                regions=regions,
                now=now,
                policy=policy,
            )
            if not pending.already_confirmed and subscriptions.may_send_confirmation(
                conn, pending, policy=policy, now=now
            ):
                pending = subscriptions.issue_token(conn, pending, now=now)
                subject, body = message(pending)
                subscriptions.send_confirmation(
                    conn, pending, channel=channel, subject=subject, body=body, now=now
                )
        self._rearm()
        return pending

    def confirm_subscription(self, *, token: str) -> int:
        with self.store.transaction() as conn:
            return subscriptions.confirm(conn, token=token, now=self.clock.now())

    def unsubscribe(self, *, manage_token: str) -> int:
        with self.store.transaction() as conn:
            return subscriptions.unsubscribe(conn, manage_token=manage_token)

    def freeze_ids(self, *, incident_id: int) -> list[int]:
        """The freezes an incident created (active or lifted)."""
        with self.store.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(freezes.c.id)
                    .where(freezes.c.incident_id == incident_id)
                    .order_by(freezes.c.id)
                ).scalars()
            )

    def freeze_status(
        self, *, channel: str | None = None, tag: str | None = None, region: str | None = None
    ) -> dict[str, Any]:
        """Would a post on this channel, with this tag, for this region be held now?"""
        if region:
            region = self.places.clean("regions", [region], field="region")[0]
        tag = tag.casefold() if tag else tag
        with self.store.engine.connect() as conn:
            found = calendar.would_hold(conn, channel=channel, tag=tag, region=region)
        return {"frozen": bool(found), "freezes": found}

    def publish_due(self, *, limit: int = 200) -> int:
        """Publish or hold the posts that are due (the runtime calls this)."""
        return calendar.publish_due(
            self.store,
            now=self.clock.now(),
            channels=self.channels,
            limit=limit,
            stamp=self.clock.now,
        )

    def public_incidents(self, *, days: int = public.HISTORY_DAYS) -> list[public.PublicIncident]:
        """Incidents with a published public entry in the last ``days`` days."""
        since = self.clock.now() - timedelta(days=days)
        with self.store.engine.connect() as conn:
            return public.load_incidents(conn, since=since, playbook_of=self.catalog.pinned)

    def public_version(self) -> tuple[int, int]:
        """Changes whenever something is published: for ETags and caches."""
        with self.store.engine.connect() as conn:
            return public.version(conn)

    def public_entry(self, *, update_id: int) -> tuple[public.Entry, public.Entry | None, Playbook]:
        """One published update's entry, the one before it, and its incident's playbook."""
        with self.store.engine.connect() as conn:
            found = public.load_entry(conn, update_id=update_id)
            if found is None:
                raise NotFound(f"update {update_id} was not published on the status page")
            row = _load_row(conn, found[0].incident_id, lock=False)
            return found[0], found[1], self.catalog.pinned(conn, row.playbook_version)

    def record_public_update(self, *, incident_id: int, at: datetime | None = None) -> Incident:
        """A public update went out: reset the cadence clock from ``at``."""
        now = self.clock.now()
        at = at or now
        with self.store.transaction() as conn:
            row = _load_row(conn, incident_id, lock=True)
            pb = self.catalog.pinned(conn, row.playbook_version)
            paging.note_public_update(conn, pb, row, at=at, now=now)
            inc = Incident.from_row(_load_row(conn, incident_id, lock=False))
        self._rearm()
        return inc

    def escalation_status(self, incident: Incident) -> dict[str, Any] | None:
        """The ladder's step, next wake-up and whether it is spent (None: no ladder)."""
        return self.listing_details([incident])[incident.id][1]

    def listing_details(
        self, items: Sequence[Incident]
    ) -> dict[int, tuple[Playbook, dict[str, Any] | None, list[int]]]:
        """For a page of incidents: each one's playbook, escalation status and freeze ids.

        A fixed number of queries on one connection, however long the page.
        """
        ids = [i.id for i in items]
        t = timer_table.c
        with self.store.engine.connect() as conn:
            pending = conn.execute(
                sa.select(t.incident_id, t.due_at, t.payload)
                .where(t.incident_id.in_(ids), t.state == "pending", t.kind == "escalation_step")
                .order_by(t.due_at)
            ).all()
            frozen = conn.execute(
                sa.select(freezes.c.incident_id, freezes.c.id)
                .where(freezes.c.incident_id.in_(ids))
                .order_by(freezes.c.id)
            ).all()
            books = {v: self.catalog.pinned(conn, v) for v in {i.playbook_version for i in items}}
        out: dict[int, tuple[Playbook, dict[str, Any] | None, list[int]]] = {}
        for inc in items:
            status = None
            if inc.ladder_started_at is not None:
                next_at = next(
                    (
                        r.due_at
                        for r in pending
                        if r.incident_id == inc.id
                        and r.payload.get("generation") == inc.ladder_generation
                    ),
                    None,
                )
                active = inc.ladder_stopped_at is None and inc.resolved_at is None
                status = {
                    "step": inc.escalation_step,
                    "next_at": next_at if active else None,
                    "exhausted": inc.escalation_exhausted,
                    "stopped": not active,
                }
            fids = [r.id for r in frozen if r.incident_id == inc.id]
            out[inc.id] = (books[inc.playbook_version], status, fids)
        return out

    def get(self, *, incident_id: int) -> Incident:
        with self.store.engine.connect() as conn:
            return Incident.from_row(_load_row(conn, incident_id, lock=False))

    def playbook_of(self, incident: Incident) -> Playbook:
        with self.store.engine.connect() as conn:
            return self.catalog.pinned(conn, incident.playbook_version)

    def list_incidents(
        self,
        *,
        state: str = OPEN,
        severity: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> Page:
        """List incidents, most recently declared first."""
        if state not in (OPEN, RESOLVED, ALL):
            raise ValidationFailed(
                "unknown state filter", details={"state": "use open, resolved or all"}
            )
        page, per_page = max(1, page), min(max(1, per_page), 200)
        q = sa.select(incidents)
        if state == OPEN:
            q = q.where(incidents.c.resolved_at.is_(None))
        elif state == RESOLVED:
            q = q.where(incidents.c.resolved_at.is_not(None))
        if severity:
            q = q.where(incidents.c.severity == severity)
        with self.store.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
            rows = conn.execute(
                q.order_by(incidents.c.declared_at.desc(), incidents.c.id.desc())
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
        return Page([Incident.from_row(r) for r in rows], page, per_page, int(total))

    def timeline(self, *, incident_id: int, after_seq: int = 0) -> list[Event]:
        """The incident's events in order (those after ``after_seq``)."""
        with self.store.engine.connect() as conn:
            _load_row(conn, incident_id, lock=False)
            rows = conn.execute(
                sa.select(events)
                .where(
                    events.c.incident_id == incident_id,
                    events.c.seq > after_seq,
                )
                .order_by(events.c.seq)
            ).all()
        return [_event(r) for r in rows]

    def verify_audit(self) -> list[str]:
        """Check every incident's hash chain; return the findings (empty: all intact)."""
        findings: list[str] = []
        with self.store.engine.connect() as conn:
            key = keys.of(conn).audit
            for head, rows in _chains(conn):
                findings += verify_chain(
                    head.id,
                    [_event(r) for r in rows],
                    head_seq=head.last_seq,
                    head_hash=head.last_hash,
                    key=key,
                )
        return findings

    def rekey_audit(self) -> tuple[int, list[str]]:
        """Sign chains recorded before the audit key existed: (chains re-signed, findings).

        Only a chain that verifies intact as an unkeyed chain is re-signed; a chain that is
        broken either way is left as it is and reported.
        """
        signed = 0
        findings: list[str] = []
        with self.store.transaction() as conn:
            key = keys.of(conn).audit
            for head, rows in _chains(conn, lock=True):
                evs = [_event(r) for r in rows]
                kw = {"head_seq": head.last_seq, "head_hash": head.last_hash}
                if not verify_chain(head.id, evs, **kw, key=key):
                    continue  # already signed
                broken = verify_chain(head.id, evs, **kw, key=None)
                if broken:
                    findings += broken
                    continue
                prev = GENESIS
                for r, e in zip(rows, evs, strict=True):
                    h = event_hash(
                        incident_id=head.id,
                        seq=e.seq,
                        type=e.type,
                        actor=e.actor,
                        at=e.at,
                        data=e.data,
                        prev_hash=prev,
                        key=key,
                    )
                    conn.execute(
                        events.update().where(events.c.id == r.id).values(prev_hash=prev, hash=h)
                    )
                    prev = h
                conn.execute(
                    incidents.update().where(incidents.c.id == head.id).values(last_hash=prev)
                )
                signed += 1
        return signed, findings

    # --- roster ------------------------------------------------------------------------
    def load_roster(self, *, seed: rosterdb.RosterSeed) -> dict[str, int]:
        """Upsert people and replace the seeded roles' members and rotations."""
        with self.store.transaction() as conn:
            return rosterdb.apply_seed(conn, seed, now=self.clock.now())

    def roster(self, *, at: datetime | None = None) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            return rosterdb.roles_view(conn, at=at or self.clock.now())

    def roster_add(self, *, role: str, username: str) -> None:
        with self.store.transaction() as conn:
            rosterdb.add_member(conn, role=role, username=username)

    def roster_remove(self, *, role: str, username: str) -> None:
        with self.store.transaction() as conn:
            rosterdb.remove_member(conn, role=role, username=username)

    def roster_override(
        self, *, actor: Actor, role: str, username: str, starts_at: datetime, ends_at: datetime
    ) -> None:
        """Put ``username`` on call for ``role`` between two instants (holidays, swaps)."""
        _require(actor, Perm.ADMIN, "change the roster")
        with self.store.transaction() as conn:
            rosterdb.add_override(
                conn,
                role=role,
                username=username,
                starts_at=starts_at,
                ends_at=ends_at,
                actor=actor.name,
                now=self.clock.now(),
            )

    def sandbox_messages(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """What the sandbox channel would have sent, newest first."""
        m = sandbox_messages.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(sandbox_messages).order_by(m.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    def user_by_phone(self, *, phone: str) -> User | None:
        wanted = addresses.normalise_phone(phone)
        if wanted is None:
            return None
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(users).where(users.c.phone == wanted, users.c.active.is_(True))
            ).first()
        return _user(row) if row else None

    def last_paged_incident(self, *, user: User) -> int | None:
        """The open incident that most recently paged ``user`` (for a bare "ACK" reply)."""
        d = deliveries.c
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(d.incident_id)
                .join(incidents, incidents.c.id == d.incident_id)
                .where(d.user_id == user.id, d.kind == "page", incidents.c.resolved_at.is_(None))
                .order_by(d.id.desc())
                .limit(1)
            ).first()
        return int(row.incident_id) if row else None

    def first_sight(self, *, sid: str, kind: str) -> bool:
        """Remember a signed inbound request's id; False if it was seen before (a replay)."""
        if not sid:
            return False
        try:
            with self.store.transaction() as conn:
                conn.execute(
                    inbound_seen.insert().values(sid=sid[:64], kind=kind, seen_at=self.clock.now())
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def record_receipt(
        self, *, provider_id: str, status: str, code: str | None = None, detail: str | None = None
    ) -> bool:
        """Apply a provider's delivery receipt (a neutral stage: accepted, sending, sent,
        delivered, failed, read) to the outbox row it names; ``detail`` is the provider's word.

        A receipt that arrives before the outbox has stored the message's id is kept and
        applied when the id is stored; returns whether the row was found now.
        """
        with self.store.transaction() as conn:
            return receipts.apply_or_keep(
                conn,
                provider_id=provider_id,
                status=status,
                code=code,
                now=self.clock.now(),
                detail=detail,
            )

    # --- users and tokens -------------------------------------------------------------
    def add_user(
        self,
        *,
        username: str,
        role: str,
        name: str | None = None,
        password: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        timezone: str = "UTC",
        actor: Actor | None = None,
    ) -> User:
        """Create a user. ``actor`` None means the local operator of the CLI."""
        if actor is not None:
            _require(actor, Perm.ADMIN, "manage users")
        problems = _user_problems(role=role, password=password)
        if not username or not all(c.isalnum() or c in "._-@" for c in username):
            problems["username"] = "use letters, digits and . _ - @"
        if problems:
            raise ValidationFailed("the user could not be added", details=problems)
        with self.store.transaction() as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first():
                raise Conflict(f"user {username!r} exists already")
            uid = conn.execute(
                users.insert()
                .values(
                    username=username,
                    name=name or username,
                    role=role,
                    email=email,
                    phone=phone,
                    timezone=timezone,
                    password_hash=hash_password(password) if password else None,
                    active=True,
                    created_at=self.clock.now(),
                )
                .returning(users.c.id)
            ).scalar_one()
            return _user(conn.execute(sa.select(users).where(users.c.id == uid)).one())

    def find_user(self, *, username: str) -> User:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        if row is None:
            raise NotFound(f"no user {username!r}")
        return _user(row)

    def list_users(self) -> list[User]:
        with self.store.engine.connect() as conn:
            return [_user(r) for r in conn.execute(sa.select(users).order_by(users.c.username))]

    def authenticate(self, *, username: str, password: str, client: str = "") -> User | None:
        """Return the active user with this password, or None; RateLimited when throttled.

        No hard lock-out (that would let anyone lock every comms lead out in a crisis): failed
        attempts slow down with backoff per (account, client), per client, and — gently, at
        most a minute — per account across all clients, counted in the database so every
        process agrees. An admin can clear an account's throttle.
        """
        now = self.clock.now()
        keys = login_keys(username, client)
        with self.store.transaction() as conn:
            wait = max(
                throttle.backoff_wait(
                    rule,
                    failures=throttle.times(conn, bucket=b, key=k, since=now - rule.window),
                    now=now,
                )
                for b, k, rule in keys
            )
            if wait > 0:
                raise RateLimited(
                    f"too many failed attempts: try again in {int(wait + 0.999)} s",
                    retry_after=wait,
                )
            q = sa.select(users).where(users.c.username == username)
            row = conn.execute(q).first()
            ok = verify_password(row.password_hash if row else None, password)
            if row is not None and ok and row.active:
                throttle.clear(conn, bucket=keys[0][0], key=keys[0][1])
                return _user(row)
            for b, k, _ in keys:
                throttle.hit(conn, bucket=b, key=k, now=now)
            return None

    def clear_login_throttle(self, *, actor: Actor, username: str) -> int:
        """Let an account log in again at once (from every client)."""
        _require(actor, Perm.ADMIN, "clear login throttles")
        with self.store.transaction() as conn:
            n = throttle.clear(conn, bucket="login-account", key=username)
            return n + throttle.clear_prefix(conn, bucket="login-pair", prefix=f"{username}|")

    def throttles(self, *, hours: int = 24) -> list[dict[str, Any]]:
        """What the shared rate limits have counted lately (the admin's page)."""
        with self.store.engine.connect() as conn:
            return throttle.summary(conn, since=self.clock.now() - timedelta(hours=hours))

    def create_token(
        self, *, username: str, name: str, actor: Actor | None = None, scope: str = "full"
    ) -> tuple[int, str]:
        """Create an API token for a user; the secret is returned once and stored hashed.

        ``scope`` narrows what the token may do below its user's role: ``read`` (GET only),
        ``metrics`` (/metrics only), ``monitoring`` (the monitoring hooks only), or ``full``.
        """
        if actor is not None:
            _require(actor, Perm.ADMIN, "manage API tokens")
        if scope not in TOKEN_SCOPES:
            raise ValidationFailed(
                "unknown token scope", details={"scope": f"one of {', '.join(TOKEN_SCOPES)}"}
            )
        name = name.strip()
        if not name or len(name) > 100:
            raise ValidationFailed(
                "the token needs a name", details={"name": "1 to 100 characters"}
            )
        user = self.find_user(username=username)
        secret = new_token()
        with self.store.transaction() as conn:
            tid = conn.execute(
                api_tokens.insert()
                .values(
                    user_id=user.id,
                    name=name,
                    token_hash=token_digest(secret),
                    created_at=self.clock.now(),
                    scope=scope,
                )
                .returning(api_tokens.c.id)
            ).scalar_one()
        return int(tid), secret

    def update_user(
        self,
        *,
        actor: Actor | None,
        username: str,
        role: str | None = None,
        active: bool | None = None,
        password: str | None = None,
    ) -> User:
        """Change a user's role, deactivate or reactivate them, or set a new password."""
        if actor is not None:
            _require(actor, Perm.ADMIN, "manage users")
        problems = _user_problems(role=role, password=password)
        if (
            actor is not None
            and actor.name == username
            and (active is False or role not in (None, "admin"))
        ):
            problems["username"] = "you cannot demote or deactivate yourself"
        if problems:
            raise ValidationFailed("the user could not be changed", details=problems)
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = role
        if active is not None:
            values["active"] = active
        if password is not None:
            values.update(password_hash=hash_password(password), failed_logins=0, locked_until=None)
        with self.store.transaction() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
            if row is None:
                raise NotFound(f"no user {username!r}")
            if password is not None or role not in (None, row.role) or active is False:
                # A new password, another role or deactivation ends every open session.
                values["session_version"] = users.c.session_version + 1
            if values:
                conn.execute(users.update().where(users.c.id == row.id).values(**values))
            return _user(conn.execute(sa.select(users).where(users.c.id == row.id)).one())

    def end_sessions(self, *, username: str) -> None:
        """Log the user out everywhere: every session cookie issued so far stops working."""
        with self.store.transaction() as conn:
            conn.execute(
                users.update()
                .where(users.c.username == username)
                .values(session_version=users.c.session_version + 1)
            )

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every API token (never its secret): owner, name, when created, last used, revoked."""
        t = api_tokens.c
        q = (
            sa.select(
                t.id,
                t.name,
                t.created_at,
                t.last_used_at,
                t.revoked_at,
                t.scope,
                users.c.username,
                users.c.role,
            )
            .join(users, users.c.id == t.user_id)
            .order_by(t.id.desc())
        )
        with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def revoke_token(self, *, actor: Actor | None, token_id: int) -> None:
        if actor is not None:
            _require(actor, Perm.ADMIN, "manage API tokens")
        with self.store.transaction() as conn:
            result = conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=self.clock.now())
            )
            if not result.rowcount:
                raise NotFound(f"no active token {token_id}")

    def user_for_token(self, *, token: str) -> User | None:
        found = self.token_identity(token=token)
        return found[0] if found else None

    def token_identity(self, *, token: str) -> tuple[User, str] | None:
        """The active user and scope of a token; notes when it was used (once a minute)."""
        t = api_tokens.c
        q = (
            sa.select(users, t.id.label("token_id"), t.scope, t.last_used_at)
            .join(api_tokens, t.user_id == users.c.id)
            .where(
                t.token_hash == token_digest(token),
                t.revoked_at.is_(None),
                users.c.active.is_(True),
            )
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        now = self.clock.now()
        if row.last_used_at is None or now - row.last_used_at > TOKEN_USE_RESOLUTION:
            with self.store.transaction() as conn:
                conn.execute(
                    api_tokens.update().where(t.id == row.token_id).values(last_used_at=now)
                )
        return _user(row), str(row.scope or "full")


# --- helpers shared by the use cases ------------------------------------------------------
POST_STATES = ("scheduled", "held", "published", "cancelled", "failed")


def _post(r: Row[Any]) -> dict[str, Any]:
    return {
        "id": r.id,
        "channel": r.channel,
        "body": r.body,
        "publish_at": r.publish_at,
        "tags": list(r.tags or ()),
        "regions": list(r.regions or ()),
        "author": r.author,
        "state": r.state,
        "held_by": list(r.held_by or ()),
        "review": bool(r.review),
        "published_at": r.published_at,
    }


def _may_acknowledge(conn: Connection, actor: Actor, incident_id: int) -> bool:
    return may(actor.role, Perm.ACKNOWLEDGE) or _was_paged(conn, actor.name, incident_id)


def _was_paged(conn: Connection, username: str, incident_id: int) -> bool:
    d = deliveries.c
    return (
        conn.execute(
            sa.select(d.id)
            .join(users, users.c.id == d.user_id)
            .where(d.incident_id == incident_id, d.kind == "page", users.c.username == username)
            .limit(1)
        ).first()
        is not None
    )


def _require(actor: Actor, perm: Perm, what: str) -> None:
    if not may(actor.role, perm):
        raise Forbidden(f"the {actor.role} role may not {what}", required=perm.value)


def _load_row(conn: Connection, incident_id: int, *, lock: bool) -> Row[Any]:
    q = sa.select(incidents).where(incidents.c.id == incident_id)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    return row


def _user_problems(*, role: str | None, password: str | None) -> dict[str, str]:
    """What is wrong with a role or password given for a user (None: not given)."""
    problems: dict[str, str] = {}
    if role is not None and role not in ROLES:
        problems["role"] = f"unknown role {role!r} (roles: {', '.join(ROLES)})"
    if password is not None and len(password) < 8:
        problems["password"] = "use at least 8 characters"
    return problems


def _check_declaration(
    pb: Playbook,
    severity: str,
    title: str,
    regions: Sequence[str],
    services: Sequence[str],
    *,
    places: Places,
    summary: str = "",
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Validate what a declaration names; return the cleaned title, regions and services."""
    problems: dict[str, str] = {}
    _check_severity(pb, severity, problems)
    title = _clean_title(title, problems)
    if len(summary) > MAX_SUMMARY:
        problems["summary"] = f"keep the summary under {MAX_SUMMARY} characters"
    elif UNSTORABLE.search(summary):
        problems["summary"] = f"the summary {PROBLEM}"
    cleaned_regions = _clean_list(places, "regions", regions, problems)
    cleaned_services = _clean_list(places, "services", services, problems)
    if problems:
        raise ValidationFailed("the incident could not be declared", details=problems)
    return title, cleaned_regions, cleaned_services


def _check_severity(pb: Playbook, severity: str, problems: dict[str, str]) -> None:
    if severity not in pb.severities:
        problems["severity"] = (
            f"unknown severity {severity!r} for {pb.id} (choose {', '.join(pb.severities)})"
        )


def _clean_title(title: str, problems: dict[str, str]) -> str:
    """The one title rule (declare, amend, alerts): spaces folded, 1 to MAX_TITLE characters."""
    title = " ".join(title.split())
    if UNSTORABLE.search(title):
        problems["title"] = f"the title {PROBLEM}"
    elif not title:
        problems["title"] = "give the incident a short title"
    elif len(title) > MAX_TITLE:
        problems["title"] = f"keep the title under {MAX_TITLE} characters"
    return title


def _clean_list(
    places: Places, kind: str, values: Sequence[str], problems: dict[str, str]
) -> tuple[str, ...]:
    """The registry ids of ``values``; a problem naming the known ones for any unknown."""
    if not isinstance(values, str | list | tuple):
        problems[kind] = f"{kind} is a list of names"
        return ()
    ids, unknown = places.resolve(kind, values)
    if unknown:
        problems[kind] = places.problem(kind, unknown)
        return ()
    return tuple(ids)


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | list) else value


def _chains(conn: Connection, *, lock: bool = False) -> Iterator[tuple[Any, list[Row[Any]]]]:
    """Each incident's chain head and its events in order."""
    q = sa.select(incidents.c.id, incidents.c.last_seq, incidents.c.last_hash).order_by(
        incidents.c.id
    )
    for head in conn.execute(q.with_for_update() if lock else q).all():
        rows = conn.execute(
            sa.select(events)
            .where(events.c.incident_id == head.id)
            .order_by(events.c.seq, events.c.id)
        ).all()
        yield head, list(rows)


def _event(r: Row[Any]) -> Event:
    return Event(
        r.incident_id, r.seq, r.type, r.actor, r.at, dict(r.data or {}), r.prev_hash, r.hash
    )


def _user(r: Row[Any]) -> User:
    return User(
        r.id,
        r.username,
        r.name,
        r.role,
        r.email,
        r.phone,
        r.timezone,
        bool(r.active),
        int(r.session_version or 0),
    )
