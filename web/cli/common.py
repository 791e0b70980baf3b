"""What every ``crisis`` command shares: the group, error handling, the engine, the actor."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import click

from engine.app import Crisis
from engine.kernel.errors import CrisisError, PlaybookInvalid, ValidationFailed
from engine.kernel.models import Actor
from web.bootstrap import build_crisis
from web.config import Config

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handles_errors(fn: F) -> F:
    """Turn engine errors into one clear line on stderr and exit status 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PlaybookInvalid as exc:
            for p in exc.problems:
                click.echo(str(p), err=True)
            sys.exit(1)
        except ValidationFailed as exc:
            details = "; ".join(f"{k}: {v}" for k, v in exc.details.items())
            _fail(f"{exc}: {details}" if details else str(exc))
        except CrisisError as exc:
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _crisis(ctx: click.Context) -> Crisis:
    obj = ctx.ensure_object(dict)
    if "crisis" not in obj:
        obj["crisis"] = build_crisis(Config.from_env())
    crisis: Crisis = obj["crisis"]
    return crisis


def _actor(crisis: Crisis, as_user: str | None) -> Actor:
    """The named user, or the local operator of this shell (admin: it holds the database)."""
    if as_user:
        return crisis.accounts.find_user(username=as_user).as_actor()
    return Actor(f"local:{getpass.getuser()}", "admin")


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


as_option = click.option(
    "--as",
    "as_user",
    envvar="CRISIS_USER",
    help="Act as this user (default: the local operator). Env CRISIS_USER.",
)


@click.group()
@click.version_option(package_name="crisiscomms")
def main() -> None:
    """crisiscomms: declare incidents, freeze promos, escalate, approve and deliver updates."""


def _parse_instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{text!r} is not a time (use 2026-12-24T18:00:00Z)") from None
    if value.tzinfo is None:
        raise ValidationFailed(f"{text!r} has no time zone (add Z or +01:00)")
    return value.astimezone(UTC)
