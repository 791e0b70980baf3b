"""The roster in the database: people, role memberships, rotations and overrides.

Seeded from YAML (``crisis roster load config/roster.yaml``) and edited from the CLI.
People are users: whoever is paged can log in (with a password set later) and acknowledge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.kernel.errors import NotFound, PlaybookInvalid, ValidationFailed
from engine.kernel.roles import ROLES
from engine.paging.roster import WEEKDAYS, parse_handoff, parse_quiet_hours
from engine.playbooks.playbook import Target
from engine.playbooks.yamlsrc import Reader
from engine.store.tables import overrides, roster_members, rotations, users


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


def parse_roster(text: str, *, file: str) -> RosterSeed:
    """Parse a roster file; every problem is located (file:line:col)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    r = Reader(file)
    root = r.compose(text)
    top = r.keys(root, "", optional=("people", "roles")) if root is not None else None
    seed = RosterSeed()

    def zone(node: Any, path: str) -> str | None:
        z = r.string(node, path)
        try:
            if z is not None:
                ZoneInfo(z)
        except (ZoneInfoNotFoundError, ValueError):
            r.problem(node, path, f"unknown time zone {z!r} (use e.g. Europe/London)")
            return None
        return z

    for handle, (kn, vn) in (
        (r.mapping(top["people"][1], "people") or {}).items() if top and "people" in top else ()
    ):
        path = f"people.{handle}"
        if r.name(kn, path) is None:
            continue
        spec = r.keys(
            vn,
            path,
            required=("name",),
            optional=("phone", "email", "timezone", "quiet_hours", "role"),
        )
        if spec is None:
            continue
        get = {k: r.string(v[1], f"{path}.{k}") for k, v in spec.items()}
        if "timezone" in spec:
            get["timezone"] = zone(spec["timezone"][1], f"{path}.timezone")
        if get.get("quiet_hours"):
            r.convert(spec["quiet_hours"][1], f"{path}.quiet_hours", parse_quiet_hours)
        if get.get("role") and get["role"] not in ROLES:
            r.problem(spec["role"][1], f"{path}.role", f"unknown role (roles: {', '.join(ROLES)})")
        phone = get.get("phone")
        if phone and not (phone.startswith("+") and phone[1:].isdigit()):
            r.problem(spec["phone"][1], f"{path}.phone", "use E.164, e.g. +447700900123")
        seed.people[handle] = PersonSeed(
            handle,
            get.get("name") or handle,
            phone,
            get.get("email"),
            get.get("timezone") or "UTC",
            get.get("quiet_hours"),
            get.get("role") or "operator",
        )
    for role, (kn, vn) in (
        (r.mapping(top["roles"][1], "roles") or {}).items() if top and "roles" in top else ()
    ):
        path = f"roles.{role}"
        if r.name(kn, path) is None:
            continue
        spec = r.keys(vn, path, required=("members",), optional=("rotation",))
        if spec is None:
            continue
        members = []
        for m, mn in r.names(spec["members"][1], f"{path}.members"):
            if m not in seed.people:
                r.problem(mn, f"{path}.members", f"{m!r} is not listed under people")
            members.append(m)
        rot = None
        if "rotation" in spec:
            rs = r.keys(
                spec["rotation"][1],
                f"{path}.rotation",
                required=("handoff",),
                optional=("timezone", "starting", "every"),
            )
            if rs is not None:
                handoff = r.convert(rs["handoff"][1], f"{path}.rotation.handoff", parse_handoff)
                z = (
                    zone(rs["timezone"][1], f"{path}.rotation.timezone")
                    if "timezone" in rs
                    else "UTC"
                )
                start = (
                    r.convert(rs["starting"][1], f"{path}.rotation.starting", _parse_date)
                    if "starting" in rs
                    else date(2026, 1, 5)
                )
                if "every" in rs and r.string(rs["every"][1], f"{path}.rotation.every") != "week":
                    r.problem(
                        rs["every"][1],
                        f"{path}.rotation.every",
                        "only weekly rotations are supported (every: week)",
                    )
                if handoff is not None and z is not None and start is not None:
                    wd, at = handoff
                    rot = (wd, at.strftime("%H:%M"), z, start)
        seed.roles[role] = RoleSeed(role, tuple(members), rot)
    if r.problems:
        raise PlaybookInvalid(r.problems)
    return seed


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (use 2026-01-05)") from None


def load_roster_file(path: Path) -> RosterSeed:
    return parse_roster(path.read_text(encoding="utf-8"), file=str(path))


def apply_seed(conn: Connection, seed: RosterSeed, *, now: datetime) -> dict[str, int]:
    """Upsert the people and replace each seeded role's members and rotation."""
    ids: dict[str, int] = {}
    created = 0
    for p in seed.people.values():
        row = conn.execute(sa.select(users.c.id).where(users.c.username == p.handle)).first()
        contact = {
            "name": p.name,
            "phone": p.phone,
            "email": p.email,
            "timezone": p.timezone,
            "quiet_hours": p.quiet_hours,
        }
        if row is None:
            ids[p.handle] = conn.execute(
                users.insert()
                .values(
                    username=p.handle,
                    role=p.role,
                    active=True,
                    created_at=now,
                    **contact,
                )
                .returning(users.c.id)
            ).scalar_one()
            created += 1
        else:  # keep an existing user's role and password; refresh contact details
            conn.execute(users.update().where(users.c.id == row.id).values(**contact))
            ids[p.handle] = row.id
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


def roles_view(conn: Connection, *, at: datetime) -> list[dict[str, Any]]:
    """Each role: its members, rotation, and who is on call at ``at``."""
    from engine.paging.ladder import people_for

    names = sorted(
        {r.role for r in conn.execute(sa.select(roster_members.c.role))}
        | {r.role for r in conn.execute(sa.select(rotations.c.role))}
    )
    out = []
    for role in names:
        members = [
            r.username
            for r in conn.execute(
                sa.select(users.c.username)
                .join(roster_members, roster_members.c.user_id == users.c.id)
                .where(roster_members.c.role == role)
                .order_by(roster_members.c.position)
            )
        ]
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
            }
        )
    return out


def _user_id(conn: Connection, username: str) -> int:
    row = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
    if row is None:
        raise NotFound(f"no user {username!r}")
    return int(row.id)
