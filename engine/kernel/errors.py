"""The whole exception tree of the engine.

::

    CrisisError                      base: every error the engine raises on purpose
    ├── PlaybookInvalid              a playbook or config file failed validation (.problems)
    ├── NotFound                     no such incident, playbook, user or token
    ├── Forbidden                    the actor's role may not do this (.required)
    ├── Conflict                     the request clashes with current state
    │   └── InvalidTransition        trigger not allowed from the incident's state
    ├── ValidationFailed             bad field values in a command (.details)
    ├── RateLimited                  too many attempts; try again later (.retry_after)
    └── SendFailed                   a notifier could not send (.permanent, .code, .retry_after)

The web layer maps each class to one HTTP status, once, in ``web/errors.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class CrisisError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "error"


@dataclass(frozen=True)
class Problem:
    """One validation problem, located in its source file."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"


class PlaybookInvalid(CrisisError):
    """A playbook (or the channels/roster config) failed validation."""

    code = "validation_failed"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        first = str(self.problems[0]) if self.problems else "invalid"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(first + more)


class NotFound(CrisisError):
    """The named thing does not exist."""

    code = "not_found"


class Forbidden(CrisisError):
    """The actor's role does not allow the action."""

    code = "forbidden"

    def __init__(self, message: str, *, required: str | None = None) -> None:
        super().__init__(message)
        self.required = required


class Conflict(CrisisError):
    """The request clashes with the current state of the thing."""

    code = "conflict"


class InvalidTransition(Conflict):
    """A trigger that the incident's current state does not allow."""

    code = "invalid_transition"

    def __init__(self, *, trigger: str, state: str, allowed: Sequence[str]) -> None:
        self.trigger = trigger
        self.state = state
        self.allowed = tuple(allowed)
        hint = ", ".join(self.allowed) if self.allowed else "none: the state is final"
        super().__init__(
            f"cannot '{trigger}' an incident in state '{state}' (allowed here: {hint})"
        )


class ValidationFailed(CrisisError):
    """Field values in a command are wrong; ``details`` maps field → problem."""

    code = "validation_failed"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = dict(details or {})


class RateLimited(CrisisError):
    """Too many attempts: try again after ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))


class SendFailed(CrisisError):
    """A notifier could not send a message.

    ``permanent`` errors (invalid number, unsubscribed) are never retried; transient ones
    (timeouts, 5xx, rate limits) are retried with backoff, no sooner than ``retry_after``
    seconds when the provider said so.
    """

    code = "send_failed"

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: str | None = None,
        retry_after: float | None = None,
        unsubscribed: bool = False,
        credentials: bool = False,
        throttled: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.provider_code = code  # the provider's own code, for people and metrics only
        self.retry_after = retry_after
        # The recipient opted out at the provider (e.g. replied STOP): the core opts them out
        # here too. Notifiers translate their provider's codes into this; the core reads no code.
        self.unsubscribed = unsubscribed
        # The provider refused our credentials (a revoked token, a rotated secret, a disabled
        # app): a person must fix the channel's configuration. Shown on the incident page.
        self.credentials = credentials
        # The provider said too many requests (429): the worker slows this sender only.
        self.throttled = throttled
