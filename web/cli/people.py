"""``crisis users | roster | tokens``: people, roles, rotations and API tokens."""

from __future__ import annotations

import os
from pathlib import Path

import click

from web.cli.common import _actor, _crisis, _fail, _parse_instant, as_option, handles_errors, main


@main.group()
def users() -> None:
    """People who can log in, and their roles."""


@users.command("add")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["viewer", "operator", "comms_lead", "marketer", "admin", "automation"]),
)
@click.option("--name")
@click.option("--email")
@click.option("--phone")
@click.option("--timezone", "tz", default="UTC", show_default=True)
@click.option(
    "--password-env",
    help="Read the password from this environment variable "
    "(otherwise you are prompted; automation users need none).",
)
@click.pass_context
@handles_errors
def users_add(
    ctx: click.Context,
    username: str,
    role: str,
    name: str | None,
    email: str | None,
    phone: str | None,
    tz: str,
    password_env: str | None,
) -> None:
    """Add a user with a role."""
    password: str | None
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            _fail(f"environment variable {password_env} is empty")
    elif role == "automation":
        password = None
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    core = _crisis(ctx)
    user = core.accounts.add_user(
        actor=_actor(core, None),
        username=username,
        role=role,
        name=name,
        password=password,
        email=email,
        phone=phone,
        timezone=tz,
    )
    click.echo(f"added {user.username} ({user.role})")


@users.command("link-slack")
@click.argument("username")
@click.argument("member_id", required=False, default="")
@click.option("--unlink", is_flag=True, help="Forget the user's Slack member id.")
@click.pass_context
@handles_errors
def users_link_slack(ctx: click.Context, username: str, member_id: str, unlink: bool) -> None:
    """Link a user to their Slack member id (Slack: profile → ⋮ → Copy member ID), so their
    buttons and /incident commands in Slack act as them."""
    if not unlink and not member_id:
        _fail("give the Slack member id (e.g. U024BE7LH), or --unlink")
    core = _crisis(ctx)
    user = core.accounts.update_user(
        actor=_actor(core, None), username=username, slack_user="" if unlink else member_id
    )
    click.echo(f"{user.username}: " + ("unlinked from Slack" if unlink else f"Slack {member_id}"))


@users.command("list")
@click.pass_context
@handles_errors
def users_list(ctx: click.Context) -> None:
    """List users and roles."""
    for u in _crisis(ctx).accounts.list_users():
        click.echo(f"{u.username:<16} {u.role:<11} {u.name}")


@main.group()
def roster() -> None:
    """Who holds the roles playbooks page, rotations and overrides."""


@roster.command("load")
@click.argument("path", type=click.Path(exists=True, path_type=Path), default="config/roster.yaml")
@click.pass_context
@handles_errors
def roster_load(ctx: click.Context, path: Path) -> None:
    """Load people, roles and rotations from a roster file (people become users)."""
    from engine.paging.rosterdb import load_roster_file

    core = _crisis(ctx)
    result = core.roster.load_roster(actor=_actor(core, None), seed=load_roster_file(path))
    click.echo(
        f"roster: {result['people']} people ({result['created']} new), {result['roles']} roles"
    )


@roster.command("show")
@click.option("--at", "at", help="Instant to evaluate (RFC 3339, default now).")
@click.pass_context
@handles_errors
def roster_show(ctx: click.Context, at: str | None) -> None:
    """Show each role's members, rotation and who is on call."""
    when = _parse_instant(at) if at else None
    for r in _crisis(ctx).roster.roster(at=when):
        rotation = f"  [{r['rotation']}]" if r["rotation"] else ""
        click.echo(
            f"{r['role']:<22} on call: {', '.join(r['on_call']) or 'NOBODY':<18} "
            f"members: {', '.join(r['members'])}{rotation}"
        )


@roster.command("add")
@click.argument("role")
@click.argument("username")
@click.pass_context
@handles_errors
def roster_add(ctx: click.Context, role: str, username: str) -> None:
    """Add USERNAME to ROLE."""
    core = _crisis(ctx)
    core.roster.roster_add(actor=_actor(core, None), role=role, username=username)
    click.echo(f"{username} holds {role}")


@roster.command("remove")
@click.argument("role")
@click.argument("username")
@click.pass_context
@handles_errors
def roster_remove(ctx: click.Context, role: str, username: str) -> None:
    """Remove USERNAME from ROLE."""
    core = _crisis(ctx)
    core.roster.roster_remove(actor=_actor(core, None), role=role, username=username)
    click.echo(f"{username} no longer holds {role}")


@roster.command("override")
@click.argument("role")
@click.argument("username")
@click.option("--from", "start", required=True, help="RFC 3339, e.g. 2026-12-24T18:00:00Z")
@click.option("--until", "end", required=True, help="RFC 3339")
@as_option
@click.pass_context
@handles_errors
def roster_override(
    ctx: click.Context, role: str, username: str, start: str, end: str, as_user: str | None
) -> None:
    """Put USERNAME on call for ROLE between two instants."""
    core = _crisis(ctx)
    core.roster.roster_override(
        actor=_actor(core, as_user),
        role=role,
        username=username,
        starts_at=_parse_instant(start),
        ends_at=_parse_instant(end),
    )
    click.echo(f"{username} covers {role} from {start} until {end}")


@main.group()
def tokens() -> None:
    """API tokens for scripts and monitoring."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option(
    "--scope",
    type=click.Choice(["full", "read", "metrics", "monitoring"]),
    default="full",
    show_default=True,
    help="Narrow the token: read-only, /metrics only, monitoring hooks only.",
)
@click.pass_context
@handles_errors
def tokens_create(ctx: click.Context, username: str, name: str, scope: str) -> None:
    """Create an API token for USERNAME; it is printed once and stored hashed."""
    core = _crisis(ctx)
    tid, secret = core.accounts.create_token(
        actor=_actor(core, None), username=username, name=name, scope=scope
    )
    click.echo(f"token {tid} for {username} (shown once, keep it safe):")
    click.echo(secret)
