"""Operational updates' use cases: draft, revise, approve, reject; read one or a list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.kernel.errors import Forbidden, NotFound
from engine.kernel.models import Actor
from engine.kernel.records import incident_row
from engine.kernel.roles import Perm, require
from engine.kernel.uow import Work
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.playbooks.places import Places
from engine.playbooks.playbook import DEFAULT_LOCALE, Playbook
from engine.updates import drafting, locales, publishing
from engine.updates import flow as update_flow
from engine.updates._tables import updates
from engine.updates.reach import reach


class Updates:
    def __init__(
        self,
        work: Work,
        *,
        catalog: Catalog,
        channels: Mapping[str, Channel],
        places: Places | None = None,
    ) -> None:
        self.work = work
        self.catalog = catalog
        self.channels = channels
        self.places = places or Places()  # regions' and services' display names

    def draft_update(
        self,
        *,
        actor: Actor,
        incident_id: int,
        audience: str,
        template: str | None = None,
        body: str | None = None,
        locale: str = "en",
        notify: bool = True,
    ) -> dict[str, Any]:
        """Draft an update from a template or free text; pre-approved ones go out at once.
        ``notify`` False posts it (status page, social, chat) without messaging subscribers."""
        require(actor, Perm.DRAFT, "draft updates")
        return self._draft(
            actor, incident_id, audience=audience, template=template, body=body, locale=locale,
            notify=notify,
        )  # fmt: skip

    def preview_update(
        self,
        *,
        actor: Actor,
        incident_id: int,
        audience: str,
        template: str | None = None,
        body: str | None = None,
        locale: str = "en",
        notify: bool = True,
    ) -> dict[str, Any]:
        """What drafting this would send, on which channels, to how many people, and whether
        it would go out at once; nothing is written."""
        require(actor, Perm.DRAFT, "draft updates")
        with self.work.read() as conn:
            row = incident_row(conn, incident_id, lock=False)
            pb = self.catalog.pinned(conn, row.playbook_version)
            return drafting.preview(
                conn, pb, row, audience=audience, template=template, body=body, locale=locale,
                role=actor.role, channels=self.channels, now=self.work.now(),
                places=self.places, notify=notify,
            )  # fmt: skip

    def reach_of(self, *, update_id: int) -> list[dict[str, Any]]:
        """Who an update reaches: its audience's channels with how many people on each (None:
        one post for everyone), for the incident's regions as they are now."""
        with self.work.read() as conn:
            u = conn.execute(sa.select(updates).where(updates.c.id == update_id)).first()
            if u is None:
                raise NotFound(f"no update {update_id}")
            row = incident_row(conn, u.incident_id, lock=False)
            aud = self.catalog.pinned(conn, row.playbook_version).audiences[u.audience]
            return reach(conn, aud, list(row.regions or []), self.channels,
                         locales=[u.locale, *(u.variants or {})], notify=u.notify)  # fmt: skip

    def draft_correction(self, *, actor: Actor, update_id: int, body: str) -> dict[str, Any]:
        """Draft a correction of a published update, for its audience: approved like any
        update; where a platform edits posts (Mastodon, Slack) the post is edited, elsewhere
        the correction goes out as a new message (a reply in the incident's thread)."""
        require(actor, Perm.DRAFT, "draft updates")
        original = self.get_update(update_id=update_id)  # checked again in the transaction
        return self._draft(
            actor, original["incident_id"], audience=original["audience"], template=None,
            body=body, locale=original["locale"], corrects=update_id,
        )  # fmt: skip

    def _draft(self, actor: Actor, incident_id: int, **options: Any) -> dict[str, Any]:
        now = self.work.now()
        with self.work.transaction(rearm=True) as conn:
            row = incident_row(conn, incident_id, lock=True)
            pb = self.catalog.pinned(conn, row.playbook_version)
            uid, _ = update_flow.draft(
                conn, pb, row, actor=actor.name, channels=self.channels, now=now,
                role=actor.role, places=self.places, **options,
            )  # fmt: skip
        return self.get_update(update_id=uid)

    def revise_update(
        self,
        *,
        actor: Actor,
        update_id: int,
        body: str | None = None,
        channel_texts: Mapping[str, str] | None = None,
        variant_texts: Mapping[str, Mapping[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Edit a draft: a new revision, so earlier approvals no longer count
        (``variant_texts``: its other languages' texts, ``{"fr": {"sms": …}}``)."""
        require(actor, Perm.DRAFT, "edit updates")
        with self.work.transaction() as conn:
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
                now=self.work.now(),
                places=self.places,
                variant_texts=variant_texts,
            )
        return self.get_update(update_id=update_id)

    def approve_update(
        self, *, actor: Actor, update_id: int, revision: int, override_reason: str | None = None
    ) -> dict[str, Any]:
        """Approve one exact revision; the update is published when approval lands."""
        if actor.role == "automation":
            raise Forbidden("automation may never approve an update")
        with self.work.transaction(rearm=True) as conn:
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
                now=self.work.now(),
            )
        return self.get_update(update_id=update_id)

    def reject_update(self, *, actor: Actor, update_id: int, reason: str) -> dict[str, Any]:
        require(actor, Perm.APPROVE, "reject updates")
        with self.work.transaction() as conn:
            row, _ = self._update_incident(conn, update_id)
            update_flow.reject(
                conn,
                row,
                update_id=update_id,
                actor=actor.name,
                reason=reason,
                channels=self.channels,
                now=self.work.now(),
            )
        return self.get_update(update_id=update_id)

    def _update_incident(self, conn: Connection, update_id: int) -> tuple[Row[Any], Playbook]:
        found = conn.execute(sa.select(updates.c.incident_id).where(updates.c.id == update_id))
        incident_id = found.scalar()
        if incident_id is None:
            raise NotFound(f"no update {update_id}")
        row = incident_row(conn, incident_id, lock=True)
        return row, self.catalog.pinned(conn, row.playbook_version)

    def get_update(self, *, update_id: int) -> dict[str, Any]:
        with self.work.read() as conn:
            row = conn.execute(sa.select(updates).where(updates.c.id == update_id)).first()
            if row is None:
                raise NotFound(f"no update {update_id}")
            return publishing.update_json(conn, row)

    def languages(self, *, audience: str, first: str = DEFAULT_LOCALE) -> list[tuple[str, str]]:
        """The languages the playbooks in force write ``audience``'s updates in, as (tag, its
        own name), ``first`` first: what its subscribers may choose to read."""
        found: dict[str, None] = {first: None}
        for pb in self.catalog.all():
            for t in pb.templates.values():
                if t.audience == audience:
                    found |= dict.fromkeys(locales.offered(t))
        return [(tag, locales.name(tag, own=True)) for tag in found]

    def count_waiting(self, *, for_user: str) -> int:
        """Drafts waiting for approval that ``for_user`` did not write (the nav's count)."""
        q = sa.select(sa.func.count()).where(
            updates.c.status == "pending_approval", updates.c.author != for_user
        )
        with self.work.read() as conn:
            return int(conn.execute(q).scalar_one())

    def list_updates(
        self, *, status: str | None = None, incident_id: int | None = None
    ) -> list[dict[str, Any]]:
        q = sa.select(updates).order_by(updates.c.id.desc())
        if status:
            q = q.where(updates.c.status == status)
        if incident_id is not None:
            q = q.where(updates.c.incident_id == incident_id)
        with self.work.read() as conn:
            return [publishing.update_json(conn, r) for r in conn.execute(q).all()]
