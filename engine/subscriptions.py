"""Self-service subscriptions from the public status page: double opt-in, and opting out.

An email subscription waits for the link in its confirmation email; an SMS subscription waits
for the reply YES (or START). Until then it receives nothing. Every subscriber has a manage
token that unsubscribes in one step from the link in each email. STOP by SMS opts a number out
of everything. Confirmation messages leave through the outbox like every other message.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine import keys, outbox
from engine.errors import NotFound, ValidationFailed
from engine.security import token_digest
from engine.store.tables import subscribers

EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
PHONE = re.compile(r"^\+[1-9]\d{6,14}$")  # E.164
RESEND_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Pending:
    """A subscription waiting for its confirmation; ``token`` is None if none was (re)sent."""

    subscriber_id: int
    medium: str  # email or sms
    address: str
    token: str | None
    already_confirmed: bool = False


def normalise_phone(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit() or ch == "+")


def request(
    conn: Connection,
    *,
    audience: str,
    email: str | None,
    phone: str | None,
    region: str | None,
    regions: tuple[str, ...],
    now: datetime,
) -> Pending:
    """Record a pending subscription (or find the existing one) for one email or phone."""
    problems: dict[str, str] = {}
    email = (email or "").strip() or None
    phone = normalise_phone(phone or "") or None
    if bool(email) == bool(phone):
        problems["contact"] = "give an email address or a mobile number (not both)"
    if email and (len(email) > 254 or not EMAIL.match(email)):
        problems["email"] = "that does not look like an email address"
    if phone and not PHONE.match(phone):
        problems["phone"] = "give the number in international form, e.g. +447700900123"
    region = (region or "").strip() or None
    if region is not None and regions and region not in regions:
        problems["region"] = f"choose one of: {', '.join(regions)}, or all regions"
    if problems:
        raise ValidationFailed("the subscription could not be recorded", details=problems)
    medium = "email" if email else "sms"
    c = subscribers.c
    match = (c.email == email) if email else (c.phone == phone)
    row = conn.execute(
        sa.select(subscribers).where(
            c.audience == audience,
            match,
            (c.region == region) if region else c.region.is_(None),
        )
    ).first()
    address = email or phone or ""
    if row is not None and row.confirmed_at is not None and row.opted_in:
        return Pending(row.id, medium, address, None, already_confirmed=True)
    if row is not None and row.created_at > now - RESEND_AFTER and row.confirmed_at is None:
        return Pending(row.id, medium, address, None)  # sent recently: do not send again
    token = secrets.token_urlsafe(24)
    values: dict[str, Any] = {
        "confirm_hash": token_digest(token),
        "created_at": now,
        "opted_in": True,
        "confirmed_at": None,
    }
    if row is None:
        sid = int(
            conn.execute(
                subscribers.insert()
                .values(
                    audience=audience,
                    email=email,
                    phone=phone,
                    region=region,
                    source="public",
                    **values,
                )
                .returning(subscribers.c.id)
            ).scalar_one()
        )
    else:
        sid = row.id
        conn.execute(subscribers.update().where(c.id == sid).values(**values))
    return Pending(sid, medium, address, token)


def send_confirmation(
    conn: Connection,
    pending: Pending,
    *,
    channel: str,
    subject: str,
    body: str,
    now: datetime,
) -> None:
    """Queue the confirmation message for a pending subscription."""
    outbox.enqueue(
        conn,
        kind="notice",
        channel=channel,
        address=pending.address,
        subject=subject,
        body=body,
        now=now,
        dedupe_key=f"subscribe:{pending.subscriber_id}:{token_digest(pending.token or '')[:16]}",
    )


def confirm(conn: Connection, *, token: str, now: datetime) -> int:
    """Confirm the subscription whose email link carried ``token``."""
    c = subscribers.c
    row = conn.execute(
        sa.select(subscribers).where(c.confirm_hash == token_digest(token.strip()))
    ).first()
    if row is None:
        raise NotFound("that confirmation link is unknown or was already used")
    conn.execute(
        subscribers.update()
        .where(c.id == row.id)
        .values(confirmed_at=now, confirm_hash=None, opted_in=True)
    )
    return int(row.id)


def unsubscribe(conn: Connection, *, manage_token: str) -> int:
    """Opt out the subscriber whose email carried ``manage_token``.

    Links are HMACs of the subscriber's id under a key outside the database (nothing to steal
    from a copy of it); links sent before that are still honoured through their stored digest.
    """
    c = subscribers.c
    sid = keys.of(conn).read_link_token("unsubscribe", manage_token)
    if sid is not None:
        row = conn.execute(sa.select(c.id).where(c.id == sid)).first()
    else:
        legacy = hashlib.sha256(manage_token.encode()).hexdigest()
        row = conn.execute(sa.select(c.id).where(c.manage_token == legacy)).first()
    if row is None:
        raise NotFound("that unsubscribe link is unknown")
    conn.execute(subscribers.update().where(c.id == row.id).values(opted_in=False))
    return int(row.id)


def set_by_phone(conn: Connection, *, phone: str, opted_in: bool, now: datetime) -> int:
    """STOP / START (or YES) by SMS: every subscription of this number, in every audience.

    Opting in also confirms a pending SMS subscription: the reply is the confirmation.
    """
    c = subscribers.c
    wanted = normalise_phone(phone)
    values: dict[str, Any] = {"opted_in": opted_in}
    result = conn.execute(subscribers.update().where(c.phone == wanted).values(**values))
    if opted_in:
        conn.execute(
            subscribers.update()
            .where(c.phone == wanted, c.confirmed_at.is_(None))
            .values(confirmed_at=now, confirm_hash=None)
        )
    return int(result.rowcount or 0)
