"""The audience's use cases: add subscribers, public subscriptions, confirm, STOP/START, leave."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import sqlalchemy as sa

from engine.audience import imports, subscriptions
from engine.audience._tables import subscribers
from engine.kernel import addresses, throttle
from engine.kernel.errors import RateLimited, ValidationFailed
from engine.kernel.models import Actor
from engine.kernel.roles import Perm, require
from engine.kernel.uow import Work
from engine.playbooks.channels import Channel
from engine.playbooks.places import Places


class Audience:
    def __init__(
        self,
        work: Work,
        *,
        places: Places,
        channels: Mapping[str, Channel],
        audiences: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self.work = work
        self.places = places
        self.channels = channels
        self.audiences = audiences  # the names the playbooks define (checked on import)

    def import_subscribers(self, *, actor: Actor, text: str, fmt: str = "csv") -> dict[str, int]:
        """Add a list of subscribers (CSV with a header, or JSON lines), all or nothing: any
        bad row refuses the whole file, each problem named by its line. Someone already
        subscribed to that audience (same phone or email) is kept as they are."""
        require(actor, Perm.ADMIN, "manage subscribers")
        if fmt not in ("csv", "jsonl"):
            raise ValidationFailed("unknown format", details={"format": "csv or jsonl"})

        def region(raw: str) -> str | None:
            ids, unknown = self.places.resolve("regions", [raw])
            return None if unknown or not ids else ids[0]

        found, problems = imports.people(text, fmt, audiences=set(self.audiences()), region=region)
        if problems:
            shown = problems[: imports.MAX_PROBLEMS]
            more = len(problems) - len(shown)
            raise ValidationFailed(
                f"{len(problems)} row(s) cannot be imported; nothing was added"
                + (f" (the first {len(shown)} are listed)" if more else ""),
                details={p.split(":", 1)[0]: p.split(":", 1)[1].strip() for p in shown},
            )
        now = self.work.now()
        with self.work.transaction() as conn:
            added = subscriptions.add_many(conn, found, now=now)
        return {"rows": len(found), "added": added, "already": len(found) - added}

    def add_subscriber(
        self,
        *,
        actor: Actor,
        audience: str,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        region: str | None = None,
        language: str | None = None,
    ) -> int:
        """Opt a recipient in to an audience's updates (SMS and/or email), for a region, in
        a language (none: each update's own)."""
        require(actor, Perm.ADMIN, "manage subscribers")
        phone, email = addresses.normalise_phone(phone), addresses.normalise_email(email)
        language = addresses.normalise_language(language)
        if not phone and not email:
            raise ValidationFailed(
                "a subscriber needs a phone number or an email address",
                details={"phone": "or email"},
            )
        problems = addresses.problems(email=email, phone=phone)
        if bad := addresses.language_problem(language):
            problems["language"] = bad
        if problems:  # the same checks as a subscription from the status page
            raise ValidationFailed("the subscriber could not be added", details=problems)
        if region:
            region = self.places.clean("regions", [region], field="region")[0]
        with self.work.transaction() as conn:
            return int(
                conn.execute(
                    subscribers.insert()
                    .values(
                        audience=audience,
                        name=name,
                        phone=phone,
                        email=email,
                        region=region,
                        language=language,
                        opted_in=True,
                        created_at=self.work.now(),
                        confirmed_at=self.work.now(),
                    )
                    .returning(subscribers.c.id)
                ).scalar_one()
            )

    def list_subscribers(self, *, audience: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(subscribers).order_by(subscribers.c.id)
        if audience:
            q = q.where(subscribers.c.audience == audience)
        with self.work.read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def set_subscription(self, *, phone: str, opted_in: bool) -> int:
        """STOP / START (or YES) by SMS: this number, in every audience; YES also confirms."""
        with self.work.transaction() as conn:
            return subscriptions.set_by_phone(
                conn, phone=phone, opted_in=opted_in, now=self.work.now()
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
        language: str | None = None,
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
        now = self.work.now()
        with self.work.transaction() as conn:
            since = now - subscriptions.CLIENT_WINDOW
            if throttle.count(conn, bucket="subscribe-client", key=client, since=since) >= (
                policy.per_client
            ):
                raise RateLimited(
                    "too many subscription requests from here: try again later",
                    retry_after=subscriptions.CLIENT_WINDOW.total_seconds(),
                )
            throttle.hit(conn, bucket="subscribe-client", key=client, now=now)
        with self.work.transaction(rearm=True) as conn:
            pending = subscriptions.request(
                conn,
                audience=audience,
                email=email,
                phone=phone,
                region=region,
                regions=regions,
                now=now,
                policy=policy,
                language=language,
            )
            if not pending.already_confirmed and subscriptions.may_send_confirmation(
                conn, pending, policy=policy, now=now
            ):
                pending = subscriptions.issue_token(conn, pending, now=now)
                subject, body = message(pending)
                subscriptions.send_confirmation(
                    conn, pending, channel=channel, subject=subject, body=body, now=now
                )
        return pending

    def confirm_subscription(self, *, token: str) -> int:
        with self.work.transaction() as conn:
            return subscriptions.confirm(conn, token=token, now=self.work.now())

    def unsubscribe(self, *, manage_token: str) -> int:
        with self.work.transaction() as conn:
            return subscriptions.unsubscribe(conn, manage_token=manage_token)
