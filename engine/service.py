"""Use cases: load → decide → apply → commit, one transaction each.

Every function here takes keyword arguments, checks the actor's role, and writes the state
change together with its timeline events in one transaction, so a process killed at any
instant leaves either both or neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine import lifecycle
from engine.catalog import Catalog
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.models import Actor, Event, Incident, User
from engine.playbook import Playbook
from engine.ports import Clock, SystemClock
from engine.roles import ROLES, Perm, may
from engine.security import hash_password, new_token, token_digest, verify_password
from engine.store import Store
from engine.store.tables import api_tokens, events, incidents, users
from engine.timeline import GENESIS, canonical_data, event_hash, verify_chain

OPEN, RESOLVED, ALL = "open", "resolved", "all"
MAX_TITLE = 300
MAX_LOGIN_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class Page:
    items: list[Incident]
    page: int
    per_page: int
    total: int


class Service:
    """The engine's front door for the CLI, the web app and the workers."""

    def __init__(self, *, store: Store, catalog: Catalog, clock: Clock | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock or SystemClock()

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
        problems: dict[str, str] = {}
        if severity not in pb.severities:
            problems["severity"] = (
                f"unknown severity {severity!r} for {pb.id} (choose {', '.join(pb.severities)})"
            )
        title = " ".join(title.split())
        if not title:
            problems["title"] = "give the incident a short title"
        elif len(title) > MAX_TITLE:
            problems["title"] = f"keep the title under {MAX_TITLE} characters"
        regions = _clean_list(regions, "regions", problems)
        services = _clean_list(services, "services", problems)
        if problems:
            raise ValidationFailed("the incident could not be declared", details=problems)
        now = self.clock.now()
        with self.store.transaction() as conn:
            self.catalog.record(conn, pb, now=now)
            incident_id = conn.execute(
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
                },
            )
            return _incident(_load_row(conn, incident_id, lock=False))

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
            return _incident(_load_row(conn, incident_id, lock=False))

    def acknowledge(self, *, actor: Actor, incident_id: int, via: str = "api") -> Incident:
        """Take ownership of an incident; fires the ladder's stop trigger where it applies."""
        _require(actor, Perm.ACKNOWLEDGE, "acknowledge incidents")
        now = self.clock.now()
        with self.store.transaction() as conn:
            row = _load_row(conn, incident_id, lock=True)
            pb = self.catalog.pinned(conn, row.playbook_version)
            if row.owner is not None:
                if row.owner == actor.name:
                    return _incident(row)
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
            until = pb.escalation.until if pb.escalation else "acknowledge"
            if until in pb.allowed_triggers(row.state):
                row = _load_row(conn, incident_id, lock=False)
                self._apply(conn, pb, row, actor=actor, trigger=until, note=None, now=now)
            return _incident(_load_row(conn, incident_id, lock=False))

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
                if severity not in pb.severities:
                    problems["severity"] = f"unknown severity {severity!r} for {pb.id}"
                changes["severity"] = severity
            if title is not None:
                title = " ".join(title.split())
                if not title or len(title) > MAX_TITLE:
                    problems["title"] = f"a title has 1 to {MAX_TITLE} characters"
                elif title != row.title:
                    changes["title"] = title
            if regions is not None:
                cleaned = _clean_list(regions, "regions", problems)
                if list(cleaned) != list(row.regions):
                    changes["regions"] = list(cleaned)
            if summary is not None and summary != row.summary:
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
            return _incident(_load_row(conn, incident_id, lock=False))

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
        dest, t = lifecycle.next_state(pb, state=row.state, trigger=trigger, role=actor.role)
        values: dict[str, Any] = {"state": dest, "updated_at": now}
        if dest in pb.final:
            values["resolved_at"] = now
        conn.execute(incidents.update().where(incidents.c.id == row.id).values(**values))
        data: dict[str, Any] = {"trigger": trigger, "from": row.state, "to": dest}
        if t.role:
            data["guard"] = t.role
        if note:
            data["note"] = note
        append_event(
            conn, incident_id=row.id, type="transitioned", actor=actor.name, at=now, data=data
        )
        if dest in pb.final:
            append_event(
                conn,
                incident_id=row.id,
                type="resolved",
                actor=actor.name,
                at=now,
                data={"state": dest},
            )

    def get(self, *, incident_id: int) -> Incident:
        with self.store.engine.connect() as conn:
            return _incident(_load_row(conn, incident_id, lock=False))

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
        return Page([_incident(r) for r in rows], page, per_page, int(total))

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
            heads = conn.execute(
                sa.select(incidents.c.id, incidents.c.last_seq, incidents.c.last_hash).order_by(
                    incidents.c.id
                )
            ).all()
            for head in heads:
                rows = conn.execute(
                    sa.select(events)
                    .where(events.c.incident_id == head.id)
                    .order_by(events.c.seq, events.c.id)
                ).all()
                findings += verify_chain(
                    head.id,
                    [_event(r) for r in rows],
                    head_seq=head.last_seq,
                    head_hash=head.last_hash,
                )
        return findings

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
        problems: dict[str, str] = {}
        if not username or not all(c.isalnum() or c in "._-@" for c in username):
            problems["username"] = "use letters, digits and . _ - @"
        if role not in ROLES:
            problems["role"] = f"unknown role {role!r} (roles: {', '.join(ROLES)})"
        if password is not None and len(password) < 8:
            problems["password"] = "use at least 8 characters"
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

    def authenticate(self, *, username: str, password: str) -> User | None:
        """Return the active user with this password, or None.

        Five failures in a row lock the account for 15 minutes (kept in the database, so
        every process agrees); a locked account refuses even the right password.
        """
        now = self.clock.now()
        with self.store.transaction() as conn:
            q = sa.select(users).where(users.c.username == username)
            row = conn.execute(q.with_for_update()).first()
            ok = verify_password(row.password_hash if row else None, password)
            if row is None:
                return None
            if row.locked_until is not None and row.locked_until > now:
                return None
            if ok and row.active:
                if row.failed_logins:
                    conn.execute(
                        users.update()
                        .where(users.c.id == row.id)
                        .values(failed_logins=0, locked_until=None)
                    )
                return _user(row)
            failures = row.failed_logins + 1
            values: dict[str, Any] = {"failed_logins": failures}
            if failures >= MAX_LOGIN_FAILURES:
                values = {"failed_logins": 0, "locked_until": now + LOCKOUT}
            conn.execute(users.update().where(users.c.id == row.id).values(**values))
            return None

    def create_token(self, *, username: str, name: str) -> tuple[int, str]:
        """Create an API token for a user; the secret is returned once and stored hashed."""
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
                )
                .returning(api_tokens.c.id)
            ).scalar_one()
        return int(tid), secret

    def user_for_token(self, *, token: str) -> User | None:
        q = (
            sa.select(users)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(
                api_tokens.c.token_hash == token_digest(token),
                api_tokens.c.revoked_at.is_(None),
                users.c.active.is_(True),
            )
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(q).first()
        return _user(row) if row else None


# --- helpers shared by the use cases ------------------------------------------------------
def append_event(
    conn: Connection,
    *,
    incident_id: int,
    type: str,
    actor: str,
    at: datetime,
    data: Mapping[str, Any],
) -> Event:
    """Append one event to an incident's hash chain and move the chain's head.

    The caller holds the incident row (``FOR UPDATE`` on PostgreSQL, the write lock on
    SQLite), so two appends to one incident cannot interleave.
    """
    head = conn.execute(
        sa.select(incidents.c.last_seq, incidents.c.last_hash).where(incidents.c.id == incident_id)
    ).one()
    seq = head.last_seq + 1
    prev = head.last_hash or GENESIS
    clean = canonical_data(data)
    digest = event_hash(
        incident_id=incident_id, seq=seq, type=type, actor=actor, at=at, data=clean, prev_hash=prev
    )
    conn.execute(
        events.insert().values(
            incident_id=incident_id,
            seq=seq,
            type=type,
            actor=actor,
            at=at,
            data=clean,
            prev_hash=prev,
            hash=digest,
        )
    )
    conn.execute(
        incidents.update()
        .where(incidents.c.id == incident_id)
        .values(last_seq=seq, last_hash=digest)
    )
    return Event(incident_id, seq, type, actor, at, clean, prev, digest)


def _require(actor: Actor, perm: Perm, what: str) -> None:
    if not may(actor.role, perm):
        raise Forbidden(f"the {actor.role} role may not {what}", required=perm.value)


def _load_row(conn: Connection, incident_id: int, *, lock: bool) -> Row[Any]:
    q = sa.select(incidents).where(incidents.c.id == incident_id)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    return row


def _clean_list(values: Sequence[str], field: str, problems: dict[str, str]) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values:
        if not isinstance(v, str) or not v.strip() or len(v) > 100:
            problems[field] = f"each of {field} is a name of 1 to 100 characters"
            return ()
        out.append(v.strip())
    return tuple(dict.fromkeys(out))


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | list) else value


def _incident(r: Row[Any]) -> Incident:
    return Incident(
        id=r.id,
        playbook_id=r.playbook_id,
        playbook_version=r.playbook_version,
        title=r.title,
        severity=r.severity,
        state=r.state,
        regions=tuple(r.regions or ()),
        services=tuple(r.services or ()),
        summary=r.summary or "",
        declared_by=r.declared_by,
        declared_at=r.declared_at,
        updated_at=r.updated_at,
        owner=r.owner,
        acknowledged_at=r.acknowledged_at,
        resolved_at=r.resolved_at,
    )


def _event(r: Row[Any]) -> Event:
    return Event(
        r.incident_id, r.seq, r.type, r.actor, r.at, dict(r.data or {}), r.prev_hash, r.hash
    )


def _user(r: Row[Any]) -> User:
    return User(r.id, r.username, r.name, r.role, r.email, r.phone, r.timezone, bool(r.active))
