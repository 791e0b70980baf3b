"""What the outbox hands out and whom it asks: a claimed row, and the contexts that own rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from engine.kernel.errors import SendFailed
from engine.kernel.ports import OutboundMessage, Receipt


@dataclass(frozen=True)
class Claimed:
    message: OutboundMessage
    attempts: int
    max_attempts: int
    incident_id: int | None
    queued_at: datetime | None = None


MootRule = Callable[[Connection, Sequence[Any], datetime], set[int]]
FailRule = Callable[[Connection, OutboundMessage, datetime], None]
SentRule = Callable[[Connection, OutboundMessage, Receipt, datetime], None]
RetryRule = Callable[[Connection, OutboundMessage, SendFailed, datetime], None]
ContextRule = Callable[[Connection, OutboundMessage], Mapping[str, Any]]


@dataclass(frozen=True)
class Owners:
    """The contexts behind the messages delivery sends; delivery never touches their tables.

    ``moot``: per kind, which claimed delivery rows are moot now, and the reason recorded
    (pages of an acknowledged incident: paging; posts a freeze now holds: the calendar);
    ``failed``: per kind, what a final failure means to the owner (a post marked failed);
    ``opt_out``: a subscriber the provider says has unsubscribed (the audience);
    ``address_of``: a subscriber's address for a medium, if they still want messages (the
    audience; a fallback channel's address is looked up when the fallback is needed);
    ``sent``: per kind, what the provider's answer means to the owner, in the transaction that
    records the success (a connector's scan result, a pause done);
    ``retrying``: per kind, told of each transient failure before the retry (a connector's
    progress says "failing, retrying");
    ``context``: per kind, what the owner adds to a message's meta just before it is sent (the
    post an update replies to, known only once the thread's earlier post went out);
    ``context_media``: per kind, the only media whose messages need that context (an SMS
    update replies to nothing, so it costs no database round trip before its send);
    ``sent_media``: per kind, the only media whose successes the ``sent`` rule acts on (an
    SMS update starts no thread: a blast's outcomes are written hundreds at a time, not in the
    short transactions kept for rows an owner acts on).
    """

    moot: Mapping[str, tuple[MootRule, str]] = field(default_factory=dict)
    failed: Mapping[str, FailRule] = field(default_factory=dict)
    sent: Mapping[str, SentRule] = field(default_factory=dict)
    retrying: Mapping[str, RetryRule] = field(default_factory=dict)
    context: Mapping[str, ContextRule] = field(default_factory=dict)
    context_media: Mapping[str, frozenset[str]] = field(default_factory=dict)
    sent_media: Mapping[str, frozenset[str]] = field(default_factory=dict)
    opt_out: Callable[[Connection, int], None] | None = None
    address_of: Callable[[Connection, int, str], str | None] | None = None

    def acts_on_sent(self, message: OutboundMessage) -> bool:
        """Whether the owner's ``sent`` rule does anything with this message's success."""
        media = self.sent_media.get(message.kind)
        return message.kind in self.sent and (media is None or message.medium in media)

    def needs_context(self, message: OutboundMessage) -> bool:
        media = self.context_media.get(message.kind)
        return message.kind in self.context and (media is None or message.medium in media)
