"""The audit: verify every incident's hash chain, and sign chains made before the key existed."""

from __future__ import annotations

from engine.kernel import keys
from engine.kernel.journal import chains, rewrite_chain
from engine.kernel.records import event_of
from engine.kernel.timeline import GENESIS, event_hash, verify_chain
from engine.kernel.uow import Work


class Audit:
    def __init__(self, work: Work) -> None:
        self.work = work

    def verify(self) -> list[str]:
        """Check every incident's hash chain; return the findings (empty: all intact)."""
        findings: list[str] = []
        with self.work.read() as conn:
            key = keys.of(conn).audit
            for head, rows in chains(conn):
                findings += verify_chain(
                    head.id,
                    [event_of(r) for r in rows],
                    head_seq=head.last_seq,
                    head_hash=head.last_hash,
                    key=key,
                )
        return findings

    def rekey(self) -> tuple[int, list[str]]:
        """Sign chains recorded before the audit key existed: (chains re-signed, findings).

        Only a chain that verifies intact as an unkeyed chain is re-signed; a chain that is
        broken either way is left as it is and reported.
        """
        signed = 0
        findings: list[str] = []
        with self.work.transaction() as conn:
            key = keys.of(conn).audit
            for head, rows in chains(conn, lock=True):
                evs = [event_of(r) for r in rows]
                kw = {"head_seq": head.last_seq, "head_hash": head.last_hash}
                if not verify_chain(head.id, evs, **kw, key=key):
                    continue  # already signed
                broken = verify_chain(head.id, evs, **kw, key=None)
                if broken:
                    findings += broken
                    continue
                prev = GENESIS
                hashes: list[tuple[int, str, str]] = []
                for r, e in zip(rows, evs, strict=True):
                    h = event_hash(
                        incident_id=head.id,
                        seq=e.seq,
                        type=e.type,
                        actor=e.actor,
                        at=e.at,
                        data=e.data,
                        prev_hash=prev,
                        key=key,
                    )
                    hashes.append((r.id, prev, h))
                    prev = h
                rewrite_chain(conn, head.id, hashes)
                signed += 1
        return signed, findings
