"""The roster in the database: people, role memberships, rotations and overrides.

Seeded from YAML (``crisis roster load config/roster.yaml``) and edited from the CLI.
People are users: whoever is paged can log in (with a password set later) and acknowledge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import BeforeValidator, Field
from sqlalchemy.engine import Connection, Row

from engine.accounts import people as accounts
from engine.kernel.errors import NotFound, PlaybookInvalid, ValidationFailed
from engine.kernel.roles import ROLES
from engine.paging._tables import overrides, roster_members, rotations
from engine.paging.roster import (
    WEEKDAYS,
    Override,
    Rotation,
    next_handoff,
    on_call,
    parse_handoff,
    parse_quiet_hours,
)
from engine.playbooks.located import Model, Name, Text, load, one_of, schema, valid_if
from engine.playbooks.playbook import Target


@dataclass(frozen=True)
class PersonSeed:
    handle: str
    name: str
    phone: str | None = None
    email: str | None = None
    timezone: str = "UTC"
    quiet_hours: str | None = None
    role: str = "operator"


@dataclass(frozen=True)
class RoleSeed:
    name: str
    members: tuple[str, ...]
    rotation: tuple[int, str, str, date] | None = None  # weekday, "HH:MM", zone, anchor


@dataclass(frozen=True)
class RosterSeed:
    people: dict[str, PersonSeed] = field(default_factory=dict)
    roles: dict[str, RoleSeed] = field(default_factory=dict)


def _zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use e.g. Europe/London)") from None


def _e164(value: str) -> None:
    if not (value.startswith("+") and value[1:].isdigit()):
        raise ValueError("use E.164, e.g. +447700900123")


def _weekly(value: str) -> None:
    if value != "week":
        raise ValueError("only weekly rotations are supported (every: week)")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (use 2026-01-05)") from None


Zone = Annotated[str, BeforeValidator(valid_if(_zone))]


class PersonSpec(Model):
    """Someone the playbooks can page (people become users)."""

    name: Text
    phone: Annotated[str, BeforeValidator(valid_if(_e164))] | None = None
    email: Text | None = None
    timezone: Zone = "UTC"
    quiet_hours: Annotated[str, BeforeValidator(valid_if(parse_quiet_hours))] | None = None
    role: one_of("role", ROLES) = "operator"  # type: ignore[valid-type]


class RotationSpec(Model):
    """A weekly rotation through the role's members, handing off at a weekday and time."""

    handoff: Annotated[str, BeforeValidator(valid_if(parse_handoff))]
    timezone: Zone = "UTC"
    starting: Annotated[str, BeforeValidator(valid_if(_date))] = "2026-01-05"
    every: Annotated[str, BeforeValidator(valid_if(_weekly))] = "week"


class RoleSpec(Model):
    members: Annotated[list[Name], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)]
    rotation: RotationSpec | None = None


class RosterFile(Model):
    """config/roster.yaml: people, the roles they hold, and rotations."""

    people: dict[Name, PersonSpec] = Field(default_factory=dict)
    roles: dict[Name, RoleSpec] = Field(default_factory=dict)


def parse_roster(text: str, *, file: str) -> RosterSeed:
    """Parse a roster file; every problem is located (file:line:col)."""
    spec, located = load(RosterFile, text, file=file)
    r = located.reader
    if spec is None:
        raise PlaybookInvalid(r.problems)
    seed = RosterSeed()
    for handle, p in spec.people.items():
        seed.people[handle] = PersonSeed(
            handle, p.name, p.phone, p.email, p.timezone, p.quiet_hours, p.role
        )
    for role, rs in spec.roles.items():
        for i, m in enumerate(rs.members):
            if m not in seed.people:
                where = located.node(("roles", role, "members", i))
                r.problem(where, f"roles.{role}.members", f"{m!r} is not listed under people")
        rot = None
        if rs.rotation is not None:
            wd, at = parse_handoff(rs.rotation.handoff)
            rot = (wd, at.strftime("%H:%M"), rs.rotation.timezone, _date(rs.rotation.starting))
        seed.roles[role] = RoleSeed(role, tuple(rs.members), rot)
    if r.problems:
        raise PlaybookInvalid(r.problems)
    return seed


def roster_schema() -> dict[str, Any]:
    """The JSON Schema of roster files (``crisis schema roster``)."""
    return schema(RosterFile, title="crisiscomms roster")


def load_roster_file(path: Path) -> RosterSeed:
    return parse_roster(path.read_text(encoding="utf-8"), file=str(path))


def apply_seed(conn: Connection, seed: RosterSeed, *, now: datetime) -> dict[str, int]:
    """Upsert the people and replace each seeded role's members and rotation."""
    ids: dict[str, int] = {}
    created = 0
    for p in seed.people.values():
        contact = {
            "name": p.name,
            "phone": p.phone,
            "email": p.email,
            "timezone": p.timezone,
            "quiet_hours": p.quiet_hours,
        }
        ids[p.handle], new = accounts.seed_person(
            conn, username=p.handle, role=p.role, contact=contact, now=now
        )
        created += new
    for role in seed.roles.values():
        conn.execute(roster_members.delete().where(roster_members.c.role == role.name))
        for position, handle in enumerate(role.members):
            conn.execute(
                roster_members.insert().values(
                    role=role.name, user_id=ids[handle], position=position
                )
            )
        conn.execute(rotations.delete().where(rotations.c.role == role.name))
        if role.rotation is not None:
            wd, at, tz, anchor = role.rotation
            conn.execute(
                rotations.insert().values(
                    role=role.name,
                    handoff_weekday=wd,
                    handoff_time=at,
                    timezone=tz,
                    anchor_date=anchor,
                )
            )
    return {"people": len(seed.people), "created": created, "roles": len(seed.roles)}


def add_member(conn: Connection, *, role: str, username: str) -> None:
    uid = _user_id(conn, username)
    m = roster_members.c
    if conn.execute(sa.select(m.id).where(m.role == role, m.user_id == uid)).first():
        return
    position = conn.execute(sa.select(sa.func.count()).where(m.role == role)).scalar_one()
    conn.execute(roster_members.insert().values(role=role, user_id=uid, position=position))


def remove_member(conn: Connection, *, role: str, username: str) -> None:
    uid = _user_id(conn, username)
    conn.execute(
        roster_members.delete().where(
            roster_members.c.role == role, roster_members.c.user_id == uid
        )
    )


def add_override(
    conn: Connection,
    *,
    role: str,
    username: str,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
    now: datetime,
) -> None:
    if ends_at <= starts_at:
        raise ValidationFailed(
            "an override must end after it starts", details={"until": "after --from"}
        )
    conn.execute(
        overrides.insert().values(
            role=role,
            user_id=_user_id(conn, username),
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=actor,
            created_at=now,
        )
    )


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    name: str
    phone: str | None
    email: str | None
    timezone: str
    quiet_hours: str | None


# Built once, run with parameters: every page and every escalation step asks them.
_MEMBERS = (
    sa.select(roster_members.c.user_id)
    .where(roster_members.c.role == sa.bindparam("role"))
    .order_by(roster_members.c.position, roster_members.c.id)
)
_ROTATION = sa.select(rotations).where(rotations.c.role == sa.bindparam("role"))
_OVERRIDES = (
    sa.select(overrides.c.starts_at, overrides.c.ends_at, overrides.c.user_id)
    .where(
        overrides.c.role == sa.bindparam("role"),
        overrides.c.starts_at <= sa.bindparam("at"),
        overrides.c.ends_at > sa.bindparam("at"),
    )
    .order_by(overrides.c.created_at, overrides.c.id)
)


def people_for(conn: Connection, target: Target, *, at: datetime) -> list[Person]:
    """The people a target names at ``at``: the on-call holders of a role, or one person."""
    if target.kind == "person":
        row = accounts.user_by_name(conn, target.name, active_only=True)
        return [person_of(row)] if row else []
    members = conn.execute(_MEMBERS, {"role": target.name}).all()
    found = accounts.users_by_ids(conn, [r.user_id for r in members], active_only=True)
    rows = [found[r.user_id] for r in members if r.user_id in found]
    by_name = {r.username: r for r in rows}
    rot_row = conn.execute(_ROTATION, {"role": target.name}).first()
    rotation = None
    if rot_row is not None:
        hh, mm = rot_row.handoff_time.split(":")
        rotation = Rotation(
            rot_row.handoff_weekday,
            time(int(hh), int(mm)),
            rot_row.timezone,
            _as_date(rot_row.anchor_date),
        )
    over = conn.execute(_OVERRIDES, {"role": target.name, "at": at}).all()
    holders = accounts.users_by_ids(conn, [r.user_id for r in over], active_only=False)
    over_rows = [(holders[r.user_id], r.starts_at, r.ends_at) for r in over if r.user_id in holders]
    for u, _, _ in over_rows:
        by_name.setdefault(u.username, u)
    names = on_call(
        [r.username for r in rows],
        rotation=rotation,
        overrides=[Override(u.username, start, end) for u, start, end in over_rows],
        at=at,
    )
    return [person_of(by_name[n]) for n in names if n in by_name]


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def person_of(r: Row[Any]) -> Person:
    return Person(r.id, r.username, r.name, r.phone, r.email, r.timezone or "UTC", r.quiet_hours)


def roles_view(conn: Connection, *, at: datetime) -> list[dict[str, Any]]:
    """Each role: its members, rotation, and who is on call at ``at``."""
    names = sorted(
        {r.role for r in conn.execute(sa.select(roster_members.c.role))}
        | {r.role for r in conn.execute(sa.select(rotations.c.role))}
    )
    out = []
    for role in names:
        ids = list(
            conn.execute(
                sa.select(roster_members.c.user_id)
                .where(roster_members.c.role == role)
                .order_by(roster_members.c.position)
            ).scalars()
        )
        found = accounts.users_by_ids(conn, ids, active_only=False)
        members = [found[i].username for i in ids if i in found]
        rot = conn.execute(sa.select(rotations).where(rotations.c.role == role)).first()
        out.append(
            {
                "role": role,
                "members": members,
                "rotation": (
                    f"weekly, {WEEKDAYS[rot.handoff_weekday]} {rot.handoff_time} {rot.timezone}"
                )
                if rot
                else None,
                "on_call": [p.username for p in people_for(conn, Target("role", role), at=at)],
                "next": _next_change(conn, role, at=at),
            }
        )
    return out


def _next_change(conn: Connection, role: str, *, at: datetime) -> dict[str, Any] | None:
    """When the holders of ``role`` next change, and who holds it then (within 5 weeks)."""
    horizon = at + timedelta(weeks=5)
    instants = set(
        conn.execute(
            sa.select(overrides.c.starts_at).where(
                overrides.c.role == role,
                overrides.c.starts_at > at,
                overrides.c.starts_at < horizon,
            )
        ).scalars()
    ) | set(
        conn.execute(
            sa.select(overrides.c.ends_at).where(
                overrides.c.role == role, overrides.c.ends_at > at, overrides.c.ends_at < horizon
            )
        ).scalars()
    )
    rot = conn.execute(_ROTATION, {"role": role}).first()
    if rot is not None:
        hh, mm = rot.handoff_time.split(":")
        rotation = Rotation(
            rot.handoff_weekday, time(int(hh), int(mm)), rot.timezone, _as_date(rot.anchor_date)
        )
        after = at
        for _ in range(5):
            after = next_handoff(rotation, after=after)
            instants.add(after)
    now = [p.username for p in people_for(conn, Target("role", role), at=at)]
    for when in sorted(instants):
        then = [p.username for p in people_for(conn, Target("role", role), at=when)]
        if then != now:
            return {"at": when, "on_call": then}
    return None


def roles_of(conn: Connection, username: str) -> list[str]:
    """The roster roles ``username`` is a member of."""
    uid = accounts.user_id(conn, username)
    if uid is None:
        return []
    q = sa.select(roster_members.c.role).where(roster_members.c.user_id == uid)
    return list(conn.execute(q).scalars())


def _user_id(conn: Connection, username: str) -> int:
    uid = accounts.user_id(conn, username)
    if uid is None:
        raise NotFound(f"no user {username!r}")
    return uid
