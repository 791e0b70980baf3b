"""Publishing an approved update: one outbox row per (recipient, channel) — one for each
social, webhook or status-page channel in the approving transaction, and one per subscriber of
the audience (in the incident's regions) for SMS, voice and email, written set-based once the
approval has committed; and an update as the API shows it."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.audience import subscriptions
from engine.audience.subscriptions import Speaking
from engine.delivery import outbox
from engine.kernel.errors import NotFound
from engine.kernel.journal import append_event
from engine.kernel.records import find_incident
from engine.kernel.uow import after_commit
from engine.paging import ladder as paging
from engine.playbooks.channels import (
    EDITS_IN_PLACE,
    PERSONAL_MEDIA,
    Channel,
    endpoint,
)
from engine.playbooks.playbook import Audience, Playbook
from engine.store import Store
from engine.timers import schedule as timers
from engine.updates._tables import update_approvals, updates
from engine.updates.reach import split

log = logging.getLogger(__name__)


def load_update(conn: Connection, update_id: int, *, lock: bool) -> Row[Any]:
    q = sa.select(updates).where(updates.c.id == update_id)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(f"no update {update_id}")
    return row


FIRST_SLICE = 1_000  # written and committed first, so the first messages leave at once
SLICE = 25_000  # then the rest, each slice its own short transaction
RECOVER_AFTER = timedelta(seconds=15)  # a publish whose process died is finished by a timer


@dataclass(frozen=True)
class Personal:
    """One personal channel's deliveries: the same message and meta for every subscriber."""

    channel: str
    medium: str
    body: str
    subject: str | None
    meta: Mapping[str, Any]
    speaking: Speaking | None = None  # who reads this language (None: everyone)


@dataclass(frozen=True)
class Fill:
    """What is left to write once the approval commits: the personal deliveries."""

    update_id: int
    incident_id: int
    audience: str
    regions: tuple[str, ...]
    now: datetime
    personal: tuple[Personal, ...]


def publish(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    update_id: int,
    channels: Mapping[str, Channel],
    now: datetime,
) -> None:
    """Queue the update: one outbox row per (recipient, channel).

    In the approving transaction (which holds the incident): the broadcast channels' rows,
    the ``published`` event with the number of deliveries, and the cadence clock. The
    personal channels' rows (one per subscriber) are written after the commit, set-based and
    in slices, so neither the incident nor the outbox is held while 100,000 rows go in and the
    first messages leave while the rest are written; until then the update is ``approved``,
    and a timer finishes the job if this process dies first.
    """
    u = load_update(conn, update_id, lock=True)
    aud = pb.audiences[u.audience]
    fill = _fill(conn, u, inc, aud, channels, now=now)
    queued = _broadcast(conn, u, inc, aud.channels, channels, now=now)
    read: dict[str, int] = {}
    for p in fill.personal:
        n = subscriptions.count_reachable_on(
            conn, p.medium, audience=fill.audience, regions=fill.regions, speaking=p.speaking
        )
        queued += n
        read[p.meta["locale"]] = read.get(p.meta["locale"], 0) + n
    conn.execute(
        updates.update()
        .where(updates.c.id == update_id)
        .values(status="approved" if fill.personal else "sending", published_at=now,
                updated_at=now)
    )  # fmt: skip
    append_event(
        conn,
        incident_id=inc.id,
        type="published",
        actor="outbox",
        at=now,
        data={"update": update_id, "audience": aud.name, "deliveries": queued}
        | ({"languages": read} if len(read) > 1 else {})
        | ({} if u.notify else {"notify": False}),
    )
    if queued == 0:  # never silent: an update that reaches nobody says so
        append_event(
            conn,
            incident_id=inc.id,
            type="no_recipients",
            actor="outbox",
            at=now,
            data={
                "update": update_id,
                "audience": aud.name,
                "hint": "add subscribers to this audience, or channels to it"
                if u.notify
                else "subscribers were not notified, and the audience has no channel that posts",
            },
        )
    if aud.public:
        paging.note_public_update(conn, pb, inc, at=now, now=now)
    if not fill.personal:
        return
    timers.schedule(conn, kind=RECOVER_KIND, incident_id=inc.id, due_at=now + RECOVER_AFTER,
                    now=now, dedupe_key=f"publish:{update_id}",
                    payload={"update_id": update_id})  # fmt: skip
    if not after_commit(conn, lambda store: write_sliced(store, fill)):
        write_all(conn, fill)


def write_sliced(store: Store, fill: Fill) -> None:
    """Write the personal deliveries after the approval's commit: a first small slice of
    subscribers, then bigger ones, each slice in its own transaction; then mark the update
    ``sending``. A failure leaves it ``approved`` for the recovery timer (nothing is lost:
    every row is written once per dedupe key, however many times this runs)."""
    try:
        after: int | None = 0
        size = FIRST_SLICE
        while after is not None:
            with store.transaction() as conn:
                after = _write_slice(conn, fill, after=after, size=size)
            size = SLICE
        with store.transaction() as conn:
            _mark_sending(conn, fill.update_id, now=fill.now)
    except Exception:
        log.exception(
            "writing the deliveries of update %s failed; the recovery timer finishes it",
            fill.update_id,
        )


def write_all(conn: Connection, fill: Fill) -> None:
    """Write the personal deliveries in ``conn``'s transaction (a timer's, or a caller that
    is not a use case) and mark the update ``sending``."""
    _write_slice(conn, fill, after=0, size=None)
    _mark_sending(conn, fill.update_id, now=fill.now)


def _write_slice(conn: Connection, fill: Fill, *, after: int, size: int | None) -> int | None:
    """The deliveries of the next ``size`` subscribers after id ``after`` (all, if None), one
    INSERT … SELECT per channel; returns the last id written, or None when none are left."""
    upto = None
    if size is not None:
        upto = subscriptions.boundary(conn, audience=fill.audience, regions=fill.regions,
                                      after=after, size=size)  # fmt: skip
    for p in fill.personal:
        people = subscriptions.reachable_on(
            p.medium, audience=fill.audience, regions=fill.regions, after=after, upto=upto,
            speaking=p.speaking,
        )  # fmt: skip
        outbox.enqueue_select(
            conn, people, kind="update", incident_id=fill.incident_id, ref_id=fill.update_id,
            channel=p.channel, body=p.body, subject=p.subject, now=fill.now, meta=p.meta,
            dedupe_prefix=f"update:{fill.update_id}:{p.channel}:",
        )  # fmt: skip
    return upto


def _mark_sending(conn: Connection, update_id: int, *, now: datetime) -> None:
    conn.execute(
        updates.update()
        .where(updates.c.id == update_id, updates.c.status == "approved")
        .values(status="sending", updated_at=now)
    )


def _broadcast(
    conn: Connection,
    u: Row[Any],
    inc: Row[Any],
    names: Sequence[str],
    channels: Mapping[str, Channel],
    *,
    now: datetime,
) -> int:
    """One row for each of the audience's broadcast channels (social, webhook, status page)."""
    queued = 0
    for ch in names:
        channel = channels.get(ch)
        if channel is None or channel.medium in PERSONAL_MEDIA:
            continue
        r = u.rendered.get(ch) or {}
        outbox.enqueue(
            conn, kind="update", incident_id=inc.id, ref_id=u.id, channel=ch,
            address=endpoint(channel), subject=r.get("subject"), body=r.get("text", ""),
            now=now, meta=_meta(u, inc, channel), dedupe_key=f"update:{u.id}:{ch}",
        )  # fmt: skip
        queued += 1
    return queued


def _fill(
    conn: Connection,
    u: Row[Any],
    inc: Row[Any],
    aud: Audience,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
) -> Fill:
    """The personal deliveries to write: per channel, one text per language of the update,
    each to the subscribers who read it (so each person gets exactly one)."""
    regions = tuple(inc.regions or [])
    if not u.notify:  # posted, not sent: the comms lead unticked "notify subscribers"
        return Fill(u.id, inc.id, aud.name, regions, now, ())
    texts = {u.locale: u.rendered} | {
        loc: v.get("rendered") or {} for loc, v in (u.variants or {}).items()
    }
    who = split(conn, aud.name, regions, list(texts))
    personal = tuple(
        p
        for loc, speaking in who.items()
        for p in _personal(u, inc, aud, channels, loc, texts[loc], speaking)
    )
    return Fill(u.id, inc.id, aud.name, regions, now, personal)


def _personal(
    u: Row[Any],
    inc: Row[Any],
    aud: Audience,
    channels: Mapping[str, Channel],
    locale: str,
    rendered: Mapping[str, Any],
    speaking: Speaking | None,
) -> Iterator[Personal]:
    for ch in aud.channels:
        channel = channels.get(ch)
        if channel is None or channel.medium not in PERSONAL_MEDIA:
            continue
        r = rendered.get(ch) or {}
        meta = (
            _meta(u, inc, channel)
            | {"locale": locale}
            | _fallback(aud.fallback.get(ch), u, channels, rendered)
            | ({"html": r["html"]} if r.get("html") else {})
        )
        yield Personal(ch, channel.medium, r.get("text", ""), r.get("subject"), meta, speaking)


def _meta(u: Row[Any], inc: Row[Any], channel: Channel) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "incident_id": inc.id,
        "update_id": u.id,
        "audience": u.audience,
        "locale": u.locale,
        # what a chat message shows beside the text (Slack's blocks)
        "title": inc.title,
        "severity": inc.severity,
        "state": inc.state,
    }
    if u.corrects is not None:  # a correction: edit the published post where it can be
        meta["corrects"] = u.corrects
        if channel.kind in EDITS_IN_PLACE:
            meta["edit_update"] = u.corrects
    return meta


def _fallback(
    fb: str | None, u: Row[Any], channels: Mapping[str, Channel], rendered: Mapping[str, Any]
) -> dict[str, Any]:
    """What to send instead if a delivery fails for good (none: an empty dict). A personal
    fallback names the medium (the subscriber's address on it is looked up when needed) and
    is in the delivery's language (``rendered``); a post (one for everyone) is in the
    update's own."""
    channel = channels.get(fb) if fb else None
    if channel is None or fb is None:
        return {}
    texts = rendered if channel.medium in PERSONAL_MEDIA else u.rendered
    r: dict[str, Any] = texts.get(fb) or next(iter(texts.values()), {})
    where: dict[str, Any] = (
        {"medium": channel.medium, "dedupe_key": f"update:{u.id}:{fb}:"}
        if channel.medium in PERSONAL_MEDIA
        else {"address": endpoint(channel), "dedupe_key": f"update:{u.id}:{fb}"}
    )
    return {
        "fallback": {"channel": fb, "body": r.get("text", ""), "subject": r.get("subject")} | where
    }


RECOVER_KIND = "publish_due"


def make_handlers(playbook_for: Any, channels: Mapping[str, Channel]) -> dict[str, Any]:
    """The recovery timer: an update still ``approved`` (its process died while writing its
    deliveries) gets the rest of them written now."""

    def publish_due(conn: Connection, timer: Row[Any], now: datetime) -> str:
        inc = find_incident(conn, timer.incident_id, lock=True)
        u = load_update(conn, timer.payload["update_id"], lock=True)
        if inc is None or u.status != "approved":
            return "skipped"
        aud = playbook_for(conn, inc.playbook_version).audiences[u.audience]
        write_all(conn, _fill(conn, u, inc, aud, channels, now=u.published_at))
        return "published"

    return {RECOVER_KIND: publish_due}


def update_json(conn: Connection, u: Row[Any]) -> dict[str, Any]:
    counts = outbox.counts(conn, kind="update", ref_id=u.id)
    progress = {
        "pending": counts.get("pending", 0) + counts.get("sending", 0) + counts.get("sent", 0),
        "delivered": counts.get("delivered", 0),
        "failed": counts.get("failed", 0),
        "dead": counts.get("dead", 0),
    }
    status = u.status
    if status == "sending" and progress["pending"] == 0:
        reached = progress["delivered"] > 0
        failures = progress["failed"] or progress["dead"]
        status = "sent" if reached and not failures else "partially_failed"
    approvals = [
        {"by": a.by, "at": a.at, "revision": a.revision, "override_reason": a.override_reason}
        for a in conn.execute(
            sa.select(update_approvals)
            .where(update_approvals.c.update_id == u.id)
            .order_by(update_approvals.c.id)
        )
    ]
    return {
        "id": u.id,
        "incident_id": u.incident_id,
        "audience": u.audience,
        "template": u.template,
        "locale": u.locale,
        "locales": [u.locale, *(u.variants or {})],
        "variants": {
            loc: {ch: r.get("text", "") for ch, r in (v.get("rendered") or {}).items()}
            for loc, v in (u.variants or {}).items()
        },
        "notify_subscribers": bool(u.notify),
        "status": status,
        "revision": u.revision,
        "author": u.author,
        "channels": list(u.rendered),
        "rendered": {k: v["text"] for k, v in u.rendered.items()},
        "subjects": {k: v.get("subject") for k, v in u.rendered.items()},
        "segments": {
            k: v["segments"] for k, v in u.rendered.items() if v.get("segments") is not None
        },
        "policy_violations": list(u.violations),
        "approvals": approvals,
        "deliveries": progress,
        "created_at": u.created_at,
        "published_at": u.published_at,
        "reject_reason": u.reject_reason,
        "corrects": u.corrects,
    }
