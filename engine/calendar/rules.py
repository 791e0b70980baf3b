"""Which posts a freeze holds, and what lifting does to them (pure).

A post matches a freeze's scope when every dimension the scope names matches: its channel is
one of the scope's channels, it carries one of the scope's tags, and it targets one of the
scope's regions (a post with no regions is global and matches any region). A post tagged
``operational`` is never held: operational notices must keep flowing on the same accounts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

OPERATIONAL_TAG = "operational"


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
