"""Which posts a freeze holds, and what lifting does to them (pure).

A post matches a freeze's scope when every dimension the scope names matches: its channel is
one of the scope's channels, it carries one of the scope's tags, and it targets one of the
scope's regions (a post with no regions is global and matches any region). A post tagged
``operational`` is never held: operational notices must keep flowing on the same accounts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from engine.playbooks.connectors import Connector

OPERATIONAL_TAG = "operational"
RELEASE_DELAY = timedelta(minutes=1)  # a bulk publish goes out this long after the click
CANCEL_UNDO = timedelta(minutes=10)  # a bulk cancel can be undone for this long


def undo_window(action: str) -> timedelta:
    """How long a bulk ``publish`` (until it goes out) or ``cancel`` can be taken back."""
    return RELEASE_DELAY if action == "publish" else CANCEL_UNDO


@dataclass(frozen=True)
class Scope:
    channels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scope:
        return cls(
            tuple(data.get("channels") or ()),
            tuple(data.get("tags") or ()),
            tuple(data.get("regions") or ()),
        )

    def to_json(self) -> dict[str, list[str]]:
        return {
            "channels": list(self.channels),
            "tags": list(self.tags),
            "regions": list(self.regions),
        }

    @property
    def empty(self) -> bool:
        return not (self.channels or self.tags or self.regions)


@dataclass(frozen=True)
class PostFacts:
    channel: str
    tags: tuple[str, ...]
    regions: tuple[str, ...]


def matches(scope: Scope, post: PostFacts) -> bool:
    """Whether a freeze with ``scope`` holds ``post``."""
    if OPERATIONAL_TAG in post.tags:
        return False
    if scope.channels and post.channel not in scope.channels:
        return False
    if scope.tags and not set(scope.tags) & set(post.tags):
        return False
    return not (scope.regions and post.regions and not set(scope.regions) & set(post.regions))


def holding(scopes: Mapping[int, Scope], post: PostFacts) -> list[int]:
    """The ids of the freezes (by id → scope) that hold ``post``."""
    return sorted(fid for fid, scope in scopes.items() if matches(scope, post))


@dataclass(frozen=True)
class LiftDecision:
    state: str  # scheduled | held | cancelled
    review: bool


def after_lift(
    policy: str, *, publish_at: datetime, now: datetime, still_held_by: Sequence[int]
) -> LiftDecision:
    """What happens to one held post when a freeze holding it is lifted.

    Another active freeze that still holds it keeps it held. Otherwise ``review`` puts it in
    the review queue, ``resume`` reschedules it if its time is still ahead (else review), and
    ``discard`` cancels it.
    """
    if still_held_by:
        return LiftDecision("held", False)
    if policy == "discard":
        return LiftDecision("cancelled", False)
    if policy == "resume" and publish_at > now:
        return LiftDecision("scheduled", False)
    return LiftDecision("held", True)


# --- items waiting on marketing platforms (connectors) -------------------------------------
def item_facts(connector: Connector, labels: Mapping[str, Sequence[str]]) -> PostFacts:
    """What a platform's item is in our terms: the connector's channel, and the tags and
    regions whose mapped labels the item carries (plus the connector's default tags)."""

    def hits(mapping: Mapping[str, Mapping[str, Sequence[str]]]) -> tuple[str, ...]:
        return tuple(
            sorted(
                ours
                for ours, theirs in mapping.items()
                if any(set(labels.get(kind, ())) & set(vals) for kind, vals in theirs.items())
            )
        )

    ours_tags = set(labels.get("ours:tag", ()))  # a registered send: already our names
    tags = tuple(sorted(set(connector.default_tags) | set(hits(connector.tags)) | ours_tags))
    regions = tuple(sorted(set(hits(connector.regions)) | set(labels.get("ours:region", ()))))
    return PostFacts(connector.channel, tags, regions)


class Seen(Protocol):
    """An item as the platform shows it now (engine.kernel.ports.ExternalItem)."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def send_at(self) -> datetime | None: ...


def restore_verdict(
    *, fingerprint: str, send_at: datetime | None, seen: Seen | None
) -> tuple[str, list[str]]:
    """Whether a paused item may be put back: ``restore``, ``already`` (it is back exactly as
    it was: a restore repeated after a crash), ``changed`` or ``gone``, and what changed.

    An item changed or deleted during the freeze is never restored blindly: it goes to review
    with these words.
    """
    if seen is None:
        return "gone", ["deleted on the platform during the freeze"]
    changes = []
    if seen.fingerprint != fingerprint:
        changes.append("content or audience edited on the platform during the freeze")
    if seen.active and not changes and seen.send_at == send_at:
        return "already", []
    if seen.active:
        when = f" for {seen.send_at:%Y-%m-%d %H:%M}Z" if seen.send_at else ""
        changes.append(f"put back in the schedule on the platform during the freeze{when}")
    return ("changed", changes) if changes else ("restore", [])


def external_after_lift(
    policy: str, *, send_at: datetime | None, now: datetime, still_held_by: Sequence[int]
) -> str:
    """What lifting does to one paused item: keep (another freeze holds it), restore,
    review or discard. An item without a send time (a flow, an automation) resumes."""
    if still_held_by:
        return "keep"
    if policy == "discard":
        return "discard"
    if policy == "resume" and (send_at is None or send_at > now):
        return "restore"
    return "review"


def progress_line(platform: str, counts: Mapping[str, int], *, failing: str | None) -> str:
    """One connector's progress in words: "SendGrid: 3 of 3 scheduled items paused"."""
    found = sum(counts.values())
    paused = counts.get("paused", 0)
    parts = [f"{paused} of {found} scheduled item{'s' if found != 1 else ''} paused"]
    for state, words in (("restored", "restored"), ("review", "in review"), ("gone", "gone")):
        if counts.get(state):
            parts.append(f"{counts[state]} {words}")
    if counts.get("failed"):
        parts.append(f"{counts['failed']} could not be paused")
    line = f"{platform}: " + ", ".join(parts)
    return f"{line} · failing — {failing}, retrying" if failing else line
