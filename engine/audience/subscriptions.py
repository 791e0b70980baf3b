"""Self-service subscriptions from the public status page: double opt-in, and opting out.

An email subscription waits for the link in its confirmation email; an SMS subscription waits
for the reply YES (or START). Until then it receives nothing. Every subscriber has a manage
token that unsubscribes in one step from the link in each email. STOP by SMS opts a number out
of everything. Confirmation messages leave through the outbox like every other message.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.audience._tables import subscribers
from engine.delivery import outbox
from engine.kernel import addresses, keys, throttle
from engine.kernel.errors import NotFound, RateLimited, ValidationFailed
from engine.kernel.security import token_digest
from engine.playbooks.channels import personal_field
from engine.playbooks.places import key as places_key

RESEND_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Pending:
    """A subscription waiting for its confirmation; ``token`` is None if none was (re)sent."""

    subscriber_id: int
    medium: str  # email or sms
    address: str
    token: str | None
    already_confirmed: bool = False


@dataclass(frozen=True)
class Policy:
    """Who may subscribe from the public page, and how many confirmations may go out.

    SMS pumping (bots subscribing premium-rate numbers to run up the sender's bill) and email
    bombing are stopped here: texts only to the configured country codes; one confirmation per
    address per ``resend_after`` and at most ``per_address_per_day``, whatever the regions asked
    for; global caps per hour; a per-client limit. Counted in the database, so every process
    shares them.
    """

    sms_countries: tuple[str, ...] = ()  # E.164 prefixes such as "+44"; none: no SMS here
    per_client: int = 5  # requests per client per 10 minutes
    per_address_per_day: int = 3
    sms_per_hour: int = 200
    email_per_hour: int = 1000
    resend_after: timedelta = RESEND_AFTER


CLIENT_WINDOW = timedelta(minutes=10)


def request(
    conn: Connection,
    *,
    audience: str,
    email: str | None,
    phone: str | None,
    region: str | None,
    regions: tuple[str, ...],
    now: datetime,
    policy: Policy | None = None,
    language: str | None = None,
) -> Pending:
    """Record a pending subscription (or find the existing one) for one email or phone.

    The returned Pending carries no token: ``issue_token`` makes one when a confirmation is
    really to be sent, so a request that sends nothing never invalidates a link already sent.
    """
    email = addresses.normalise_email(email)
    phone = addresses.normalise_phone(phone)
    problems = addresses.problems(email=email, phone=phone)
    if bool(email) == bool(phone):
        problems["contact"] = "give an email address or a mobile number (not both)"
    countries = policy.sms_countries if policy is not None else None
    if (
        phone
        and "phone" not in problems
        and countries is not None
        and not (countries and phone.startswith(countries))
    ):
        problems["phone"] = (
            f"we send texts to numbers starting {', '.join(countries)} only"
            if countries
            else "subscriptions by text are not offered here"
        )
    region = places_key(region or "") or None
    if region is not None and regions and region not in regions:
        problems["region"] = f"choose one of: {', '.join(regions)}, or all regions"
    language = addresses.normalise_language(language)
    if bad := addresses.language_problem(language):
        problems["language"] = bad
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
                    language=language,
                    created_at=now,
                    opted_in=True,
                    confirmed_at=None,
                )
                .returning(subscribers.c.id)
            ).scalar_one()
        )
    else:
        sid = row.id
        conn.execute(
            subscribers.update()
            .where(c.id == sid)
            .values(opted_in=True, confirmed_at=None, language=language or row.language)
        )
    return Pending(sid, medium, address, None)


def may_send_confirmation(
    conn: Connection, pending: Pending, *, policy: Policy, now: datetime
) -> bool:
    """Whether a confirmation may go to this address now; RateLimited past a global cap.

    One per address per ``resend_after`` and ``per_address_per_day`` across regions; the
    person's one confirmation then confirms every region they asked for.
    """
    key = f"{pending.medium}:{pending.address}"
    if throttle.count(conn, bucket="confirm-address", key=key, since=now - policy.resend_after):
        return False
    if (
        throttle.count(conn, bucket="confirm-address", key=key, since=now - timedelta(days=1))
        >= policy.per_address_per_day
    ):
        return False
    cap = policy.sms_per_hour if pending.medium == "sms" else policy.email_per_hour
    if (
        throttle.count(conn, bucket=f"confirm-{pending.medium}", since=now - timedelta(hours=1))
        >= cap
    ):
        raise RateLimited(
            "subscriptions are paused for a while (too many at once): please try again later",
            retry_after=600,
        )
    return True


def issue_token(conn: Connection, pending: Pending, *, now: datetime) -> Pending:
    """Make the one-time confirmation token (only its digest is stored) and count the send."""
    token = secrets.token_urlsafe(24)
    conn.execute(
        subscribers.update()
        .where(subscribers.c.id == pending.subscriber_id)
        .values(confirm_hash=token_digest(token))
    )
    throttle.hit(conn, bucket="confirm-address", key=f"{pending.medium}:{pending.address}", now=now)
    throttle.hit(conn, bucket=f"confirm-{pending.medium}", key="-", now=now)
    return Pending(pending.subscriber_id, pending.medium, pending.address, token)


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
    # One confirmation covers every region the person asked for meanwhile.
    same = (c.email == row.email) if row.email else (c.phone == row.phone)
    conn.execute(
        subscribers.update()
        .where(c.audience == row.audience, same, sa.or_(c.id == row.id, c.confirmed_at.is_(None)))
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
    wanted = addresses.normalise_phone(phone)
    if wanted is None:
        return 0
    values: dict[str, Any] = {"opted_in": opted_in}
    result = conn.execute(subscribers.update().where(c.phone == wanted).values(**values))
    if opted_in:
        conn.execute(
            subscribers.update()
            .where(c.phone == wanted, c.confirmed_at.is_(None))
            .values(confirmed_at=now, confirm_hash=None)
        )
    return int(result.rowcount or 0)


def opt_out(conn: Connection, subscriber_id: int) -> None:
    """The provider says this recipient unsubscribed (replied STOP): no more messages."""
    conn.execute(
        subscribers.update().where(subscribers.c.id == subscriber_id).values(opted_in=False)
    )


def address_of(conn: Connection, subscriber_id: int, medium: str) -> str | None:
    """Where to reach a subscriber on ``medium`` (their phone or email), if they are still
    confirmed and opted in; None otherwise."""
    field = personal_field(medium)
    if field is None:
        return None
    sub = subscribers.c
    found = conn.execute(
        sa.select(sub[field]).where(
            sub.id == subscriber_id, sub.opted_in.is_(True), sub.confirmed_at.is_not(None)
        )
    ).scalar()
    return str(found) if found else None


def reachable_on(
    medium: str,
    *,
    audience: str,
    regions: Sequence[str],
    after: int = 0,
    upto: int | None = None,
    speaking: Speaking | None = None,
) -> sa.Select[Any]:
    """The audience's confirmed, opted-in subscribers in ``regions`` (all, if none given; a
    subscriber without a region hears about every region) who have an address on ``medium``
    (and, given ``speaking``, whose language it takes), as a query of ``id`` and ``address``
    (ids in ``(after, upto]``), for a set-based insert."""
    field = personal_field(medium)
    if field is None:
        raise ValueError(f"{medium!r} does not reach one person")
    sub = subscribers.c
    q = sa.select(sub.id, sub[field].label("address")).where(
        *_reached(audience, regions), sub[field].is_not(None), sub[field] != "", sub.id > after
    )
    if speaking is not None:
        q = q.where(speaking.where())
    return q if upto is None else q.where(sub.id <= upto)


@dataclass(frozen=True)
class Speaking:
    """Which subscribers one language of an update goes to: those whose language (lower case)
    is one of ``languages``; or, with ``rest``, everyone else — no language, or one not in
    ``languages`` (the update's own language, for those its other languages do not serve)."""

    languages: tuple[str, ...]
    rest: bool = False

    def where(self) -> sa.ColumnElement[bool]:
        lang = sa.func.lower(subscribers.c.language)
        if not self.rest:
            return lang.in_(self.languages) if self.languages else sa.false()
        if not self.languages:
            return sa.true()
        return sa.or_(subscribers.c.language.is_(None), lang.not_in(self.languages))


def languages_of(conn: Connection, *, audience: str, regions: Sequence[str]) -> list[str]:
    """The languages (lower case) the audience's reachable subscribers in ``regions`` have."""
    lang = sa.func.lower(subscribers.c.language)
    q = sa.select(lang).where(*_reached(audience, regions), subscribers.c.language.is_not(None))
    return sorted({str(x) for x in conn.execute(q.distinct()).scalars() if x})


def count_reachable_on(
    conn: Connection,
    medium: str,
    *,
    audience: str,
    regions: Sequence[str],
    speaking: Speaking | None = None,
) -> int:
    """How many subscribers ``reachable_on`` finds."""
    people = reachable_on(medium, audience=audience, regions=regions, speaking=speaking)
    found = sa.select(sa.func.count()).select_from(people.subquery())
    return int(conn.execute(found).scalar_one())


def boundary(
    conn: Connection, *, audience: str, regions: Sequence[str], after: int, size: int
) -> int | None:
    """The id of the ``size``-th reachable subscriber (any address) after ``after`` (None:
    fewer are left), so a big audience is written in slices that each commit quickly."""
    sub = subscribers.c
    q = (
        sa.select(sub.id)
        .where(*_reached(audience, regions), sub.id > after)
        .order_by(sub.id)
        .offset(size - 1)
        .limit(1)
    )
    found = conn.execute(q).scalar()
    return int(found) if found is not None else None


def _reached(audience: str, regions: Sequence[str]) -> list[sa.ColumnElement[bool]]:
    sub = subscribers.c
    where = [sub.audience == audience, sub.opted_in.is_(True), sub.confirmed_at.is_not(None)]
    if regions:
        where.append(sa.or_(sub.region.is_(None), sub.region.in_(list(regions))))
    return where


def add_many(conn: Connection, found: Sequence[Any], *, now: datetime) -> int:
    """Subscribe each imported person (``imports.Person``) unless they already are — the
    same audience and phone, or audience and email, in the database or earlier in the list;
    returns how many were added. One query reads who is there; inserts go in batches."""
    sub = subscribers.c
    audiences = {p.audience for p in found}
    known: set[tuple[str, str]] = set()
    if audiences:
        for a, phone, email in conn.execute(
            sa.select(sub.audience, sub.phone, sub.email).where(sub.audience.in_(audiences))
        ):
            known |= {(a, x) for x in (phone, email) if x}
    rows = []
    for p in found:
        keys_ = {(p.audience, x) for x in (p.phone, p.email) if x}
        if keys_ & known:
            continue
        known |= keys_
        rows.append({"audience": p.audience, "name": p.name, "phone": p.phone, "email": p.email,
                     "region": p.region, "language": p.language, "opted_in": True,
                     "created_at": now, "confirmed_at": now, "source": "import"})  # fmt: skip
    if rows:
        conn.execute(subscribers.insert(), rows)
    return len(rows)
