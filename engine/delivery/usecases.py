"""Delivery's use cases: receipts from providers, replay protection, the sandbox's messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from engine.delivery import ledger, receipts
from engine.delivery._tables import inbound_seen, sandbox_messages
from engine.kernel.groupcommit import GroupCommit
from engine.kernel.uow import Work


class Delivery:
    def __init__(self, work: Work) -> None:
        self.work = work
        self._receipts: GroupCommit[receipts.Kept] = GroupCommit(self._keep)

    def sandbox_messages(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """What the sandbox channel would have sent, newest first."""
        m = sandbox_messages.c
        with self.work.read() as conn:
            rows = conn.execute(sa.select(sandbox_messages).order_by(m.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    def credential_problems(self, *, incident_id: int) -> list[dict[str, Any]]:
        """Channels whose provider refuses our credentials for this incident's messages."""
        with self.work.read() as conn:
            return ledger.credential_problems(conn, incident_id=incident_id)

    def first_sight(self, *, sid: str, kind: str) -> bool:
        """Remember a signed inbound request's id; False if it was seen before (a replay)."""
        if not sid:
            return False
        try:
            with self.work.transaction() as conn:
                conn.execute(
                    inbound_seen.insert().values(sid=sid[:64], kind=kind, seen_at=self.work.now())
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def record_receipt(
        self, *, provider_id: str, status: str, code: str | None = None, detail: str | None = None
    ) -> None:
        """Keep a provider's delivery receipt (a neutral stage: accepted, sending, sent,
        delivered, failed, read; ``detail`` is the provider's word) for the outbox worker to
        apply with the others in its next batch (``apply_receipts``). Returns once it is
        committed; receipts arriving together share one INSERT and one commit, and nothing is
        locked."""
        now = self.work.now()
        self._receipts.submit(receipts.Kept(provider_id, status, code, now, detail))

    def _keep(self, kept: Sequence[receipts.Kept]) -> None:
        store = self.work.store
        if store.dialect == "postgresql":
            receipts.keep_postgres(store, kept)
            return
        with self.work.transaction() as conn:
            receipts.keep(conn, kept)

    def apply_receipts(self) -> int:
        """Apply the receipts kept so far whose rows are known (the worker does this every
        second); how many were applied."""
        applied = 0
        while True:
            with self.work.transaction() as conn:
                n = receipts.sweep(conn, now=self.work.now())
            applied += n
            if n < receipts.BATCH:
                return applied
