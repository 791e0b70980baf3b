"""The content calendar's use cases: schedule, import and review posts; create and lift freezes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from engine.calendar import external, freezes, review
from engine.calendar import posts as posts_
from engine.calendar._tables import freezes as freeze_table
from engine.calendar._tables import posts
from engine.calendar.rules import PostFacts, Scope, holding
from engine.kernel.errors import NotFound, ValidationFailed
from engine.kernel.models import Actor
from engine.kernel.records import incident_row
from engine.kernel.roles import Perm, require
from engine.kernel.uow import Work
from engine.playbooks.channels import Channel
from engine.playbooks.connectors import Connector
from engine.playbooks.places import Places
from engine.playbooks.playbook import ON_LIFT

POST_STATES = ("scheduled", "held", "published", "cancelled", "failed")


class Calendar:
    def __init__(
        self,
        work: Work,
        *,
        channels: Mapping[str, Channel],
        places: Places,
        connectors: Mapping[str, Connector] | None = None,
    ) -> None:
        self.work = work
        self.channels = channels
        self.places = places
        self.connectors = dict(connectors or {})

    def create_post(self, *, actor: Actor, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Schedule one post on a social or newsletter channel."""
        require(actor, Perm.MANAGE_POSTS, "manage the content calendar")
        now = self.work.now()
        post, problems = posts_.check_post(
            fields, channels=self.channels, now=now, places=self.places
        )
        if post is None:
            raise ValidationFailed("the post could not be scheduled", details=problems)
        with self.work.transaction(rearm=True) as conn:
            pid = posts_.insert_post(conn, post, author=actor.name, now=now)
            caught = holding(
                freezes.active_scopes(conn), PostFacts(post.channel, post.tags, post.regions)
            )
        return self.get_post(post_id=pid) | {"would_be_held_by": caught}

    def import_posts(self, *, actor: Actor, data: bytes | str, content_type: str) -> int:
        """Import a CSV or JSON calendar: every row valid, or nothing imported."""
        require(actor, Perm.MANAGE_POSTS, "manage the content calendar")
        rows = posts_.parse_import(data, content_type=content_type)
        with self.work.transaction(rearm=True) as conn:
            n = posts_.import_posts(
                conn,
                rows,
                channels=self.channels,
                author=actor.name,
                now=self.work.now(),
                places=self.places,
            )
        return n

    def get_post(self, *, post_id: int) -> dict[str, Any]:
        with self.work.read() as conn:
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
        with self.work.read() as conn:
            if held_by is not None:
                # Held posts only (JSON membership is not portable SQL; the set is small).
                rows = conn.execute(ordered.where(posts.c.state == "held")).all()
                items = [_post(r) for r in rows if held_by in (r.held_by or [])]
                return items[(page - 1) * per_page : page * per_page], len(items)
            total = conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
            rows = conn.execute(ordered.limit(per_page).offset((page - 1) * per_page)).all()
        return [_post(r) for r in rows], int(total)

    def freeze_banner(self) -> tuple[int, int, int]:
        """(active freezes, posts they hold awaiting no review, items they keep paused on
        marketing platforms): three counts, one query."""
        active = (
            sa.select(sa.func.count())
            .select_from(freeze_table)
            .where(freeze_table.c.lifted_at.is_(None))
            .scalar_subquery()
        )
        held = (
            sa.select(sa.func.count())
            .select_from(posts)
            .where(posts.c.state == "held", posts.c.review.is_(False))
            .scalar_subquery()
        )
        paused = external.paused_count()
        with self.work.read() as conn:
            row = conn.execute(sa.select(active, held, paused)).one()
        return int(row[0]), int(row[1]), int(row[2])

    def review_post(
        self, *, actor: Actor, post_id: int, action: str, publish_at: datetime | None = None
    ) -> dict[str, Any]:
        """Publish now, reschedule or cancel a held (or scheduled) post."""
        require(actor, Perm.REVIEW_POSTS, "review held posts")
        with self.work.transaction(rearm=True) as conn:
            posts_.review_post(
                conn,
                post_id=post_id,
                action=action,
                now=self.work.now(),
                channels=self.channels,
                publish_at=publish_at,
            )
        return self.get_post(post_id=post_id)

    def review_posts(self, *, actor: Actor, post_ids: list[int], action: str) -> review.Bulk:
        """Publish (a minute from now, so it can be undone) or cancel many posts at once."""
        require(actor, Perm.REVIEW_POSTS, "review held posts")
        with self.work.transaction(rearm=True) as conn:
            return review.decide(conn, post_ids=post_ids, action=action, now=self.work.now())

    def undo_review(
        self, *, actor: Actor, post_ids: list[int], action: str, stamp: datetime
    ) -> list[int]:
        """Take back a bulk decision while its window lasts; the posts return to review."""
        require(actor, Perm.REVIEW_POSTS, "review held posts")
        with self.work.transaction() as conn:
            return review.undo(
                conn, post_ids=post_ids, action=action, stamp=stamp, now=self.work.now()
            )

    def caught_by_freezes(self) -> dict[int, list[int]]:
        """Scheduled posts an active freeze will hold when they come due (post → freezes)."""
        with self.work.read() as conn:
            return review.caught(conn)

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
        require(actor, Perm.CREATE_FREEZE, "create freezes")
        scope = Scope(
            scope.channels,
            tuple(t.casefold() for t in scope.tags),
            self.places.clean("regions", list(scope.regions), field="scope.regions"),
        )
        if on_lift not in ON_LIFT:
            raise ValidationFailed(
                "unknown on_lift", details={"on_lift": "review | resume | discard"}
            )
        now = self.work.now()
        with self.work.transaction() as conn:
            if incident_id is not None:
                incident_row(conn, incident_id, lock=True)
            fid = freezes.create_freeze(
                conn,
                scope=scope,
                reason=reason,
                actor=actor.name,
                now=now,
                channels=self.channels,
                incident_id=incident_id,
                on_lift=on_lift,
                stamp=self.work.clock.now,
                connectors=self.connectors,
            )
        return self.get_freeze(freeze_id=fid)

    def lift_freeze(
        self, *, actor: Actor, freeze_id: int, reason: str, force: bool = False
    ) -> dict[str, Any]:
        """Lift a freeze (a person with a reason; never automation)."""
        require(actor, Perm.LIFT_FREEZE, "lift freezes")
        with self.work.transaction(rearm=True) as conn:
            outcome = freezes.lift_freeze(
                conn,
                freeze_id=freeze_id,
                actor=actor.name,
                reason=reason,
                now=self.work.now(),
                channels=self.channels,
                force=force,
                connectors=self.connectors,
            )
        return self.get_freeze(freeze_id=freeze_id) | {"posts": outcome}

    def get_freeze(self, *, freeze_id: int) -> dict[str, Any]:
        with self.work.read() as conn:
            row = conn.execute(
                sa.select(freeze_table).where(freeze_table.c.id == freeze_id)
            ).first()
            if row is None:
                raise NotFound(f"no freeze {freeze_id}")
            reach = external.progress(conn, self.connectors, [row.id])
        return freezes.freeze_json(row) | {"connectors": reach[row.id]}

    def list_freezes(
        self, *, active: bool | None = None, incident_id: int | None = None
    ) -> list[dict[str, Any]]:
        q = sa.select(freeze_table).order_by(freeze_table.c.id.desc())
        if active is True:
            q = q.where(freeze_table.c.lifted_at.is_(None))
        elif active is False:
            q = q.where(freeze_table.c.lifted_at.is_not(None))
        if incident_id is not None:
            q = q.where(freeze_table.c.incident_id == incident_id)
        with self.work.read() as conn:
            rows = conn.execute(q).all()
            reach = external.progress(conn, self.connectors, [r.id for r in rows])
        return [freezes.freeze_json(r) | {"connectors": reach[r.id]} for r in rows]

    def freeze_ids(self, *, incident_id: int) -> list[int]:
        """The freezes an incident created (active or lifted)."""
        with self.work.read() as conn:
            return list(
                conn.execute(
                    sa.select(freeze_table.c.id)
                    .where(freeze_table.c.incident_id == incident_id)
                    .order_by(freeze_table.c.id)
                ).scalars()
            )

    def freeze_status(
        self, *, channel: str | None = None, tag: str | None = None, region: str | None = None
    ) -> dict[str, Any]:
        """Would a post on this channel, with this tag, for this region be held now?"""
        if region:
            region = self.places.clean("regions", [region], field="region")[0]
        tag = tag.casefold() if tag else tag
        with self.work.read() as conn:
            found = freezes.would_hold(conn, channel=channel, tag=tag, region=region)
        return {"frozen": bool(found), "freezes": found}

    def publish_due(self, *, limit: int = 200) -> int:
        """Publish or hold the posts that are due (the runtime calls this)."""
        return posts_.publish_due(
            self.work.store,
            now=self.work.now(),
            channels=self.channels,
            limit=limit,
            stamp=self.work.clock.now,
        )


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
