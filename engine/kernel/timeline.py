"""The tamper-evident timeline: how an event's hash is made and how a chain is checked.

Each event's hash covers its incident, sequence number, type, actor, time, data and the
previous event's hash; the incident row keeps the newest (seq, hash) as the chain's head.
Editing, deleting or reordering any row therefore breaks the chain at that row, and deleting
the newest row disagrees with the head. The hash is an HMAC under the deployment's audit key
(kept outside the database), so someone who can write to the database cannot recompute it.
Events recorded before the key existed carry plain SHA-256 hashes: the verifier names them, and
``crisis audit rekey`` re-signs chains it has found intact.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from engine.kernel.models import Event

GENESIS = "0" * 64


def canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data as it will read back from a JSON column (tuples become lists, and so on)."""
    result: dict[str, Any] = json.loads(json.dumps(dict(data), default=_default))
    return result


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return canonical_time(value)
    raise TypeError(f"cannot record {type(value).__name__} in the timeline")


def event_hash(
    *,
    incident_id: int,
    seq: int,
    type: str,
    actor: str,
    at: datetime,
    data: Mapping[str, Any],
    prev_hash: str,
    key: bytes | None,
) -> str:
    """The event's hash: HMAC-SHA256 under ``key`` (None: the old, unkeyed SHA-256)."""
    body = json.dumps(
        {
            "incident": incident_id,
            "seq": seq,
            "type": type,
            "actor": actor,
            "at": canonical_time(at),
            "data": dict(data),
            "prev": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    if key is None:
        return hashlib.sha256(body.encode("utf-8")).hexdigest()
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_chain(
    incident_id: int,
    events: Sequence[Event],
    *,
    head_seq: int,
    head_hash: str,
    key: bytes | None,
) -> list[str]:
    """Return what is wrong with one incident's chain, first break first (empty: intact)."""
    findings: list[str] = []
    prev = GENESIS
    expected_seq = 1
    where = f"incident {incident_id}"
    for e in sorted(events, key=lambda e: e.seq):
        if e.seq != expected_seq:
            findings.append(
                f"{where}: event seq {expected_seq} is missing (the chain jumps to seq {e.seq})"
            )
            return findings
        if e.prev_hash != prev:
            findings.append(
                f"{where}: event seq {e.seq} ({e.type}) does not follow seq "
                f"{e.seq - 1}: rows were deleted, reordered or replaced"
            )
            return findings
        fields: dict[str, Any] = {
            "incident_id": incident_id,
            "seq": e.seq,
            "type": e.type,
            "actor": e.actor,
            "at": e.at,
            "data": e.data,
            "prev_hash": e.prev_hash,
        }
        if not hmac.compare_digest(event_hash(**fields, key=key), e.hash):
            if key is not None and event_hash(**fields, key=None) == e.hash:
                findings.append(
                    f"{where}: event seq {e.seq} ({e.type}) is not signed with the audit key "
                    "(recorded before it was configured, or recomputed by someone without it): "
                    "check it, then run `crisis audit rekey`"
                )
            else:
                findings.append(
                    f"{where}: event seq {e.seq} ({e.type}) was edited: "
                    "its content no longer matches its hash"
                )
            return findings
        prev = e.hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if last_seq != head_seq or (head_seq and prev != head_hash):
        findings.append(
            f"{where}: the newest event is seq {last_seq} but the incident's chain "
            f"head says seq {head_seq}: the newest events were deleted or altered"
        )
    return findings
