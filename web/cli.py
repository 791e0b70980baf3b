"""The ``crisis`` command line."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from engine.channels import load_channels
from engine.errors import CrisisError, PlaybookInvalid, ValidationFailed
from engine.models import Actor
from engine.playbook import load_many
from engine.service import Service
from web.bootstrap import build_service
from web.config import Config
from web.present import event_json, incident_json

F = TypeVar("F", bound=Callable[..., Any])

DEMO_USERS = (
    ("viewer", "viewer", "Vic Viewer", "viewer-demo-pass"),
    ("operator", "operator", "Olu Operator", "operator-demo-pass"),
    ("comms", "comms_lead", "Cam Comms-Lead", "comms-demo-pass"),
    ("comms2", "comms_lead", "Chris Second-Approver", "comms2-demo-pass"),
    ("marketer", "marketer", "Mia Marketer", "marketer-demo-pass"),
    ("admin", "admin", "Ada Admin", "admin-demo-pass"),
)


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


def _service(ctx: click.Context) -> Service:
    obj = ctx.ensure_object(dict)
    if "service" not in obj:
        obj["service"] = build_service(Config.from_env())
    service: Service = obj["service"]
    return service


def _actor(service: Service, as_user: str | None) -> Actor:
    """The named user, or the local operator of this shell (admin: it holds the database)."""
    if as_user:
        return service.find_user(username=as_user).as_actor()
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


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--channels",
    "channels_file",
    type=click.Path(path_type=Path),
    envvar="CRISIS_CHANNELS",
    default="config/channels.yaml",
    show_default=True,
    help="Channels file the playbooks' audiences are checked against.",
)
def validate(paths: tuple[Path, ...], channels_file: Path) -> None:
    """Check playbooks; print every problem as path:line:col: key: message."""
    try:
        channels = load_channels(channels_file) if channels_file.exists() else None
        books = load_many(list(paths) or [Path("playbooks")], channels=channels)
    except PlaybookInvalid as exc:
        for p in exc.problems:
            click.echo(str(p))
        click.echo(f"{len(exc.problems)} problem(s)", err=True)
        sys.exit(1)
    if channels is None:
        click.echo(f"note: {channels_file} not found; channel names were not checked", err=True)
    for pb in books.values():
        click.echo(f"ok  {pb.id:<24} {pb.short_version}  {pb.source}")
    click.echo(f"{len(books)} playbook(s) valid")


@main.command()
@click.argument("playbook")
@click.option("--severity", "-s", required=True)
@click.option("--title", "-t", required=True)
@click.option("--region", "-r", "regions", multiple=True, help="Affected region (repeatable).")
@click.option("--service", "services", multiple=True, help="Affected service (repeatable).")
@click.option("--summary", default="")
@as_option
@click.pass_context
@handles_errors
def declare(
    ctx: click.Context,
    playbook: str,
    severity: str,
    title: str,
    regions: tuple[str, ...],
    services: tuple[str, ...],
    summary: str,
    as_user: str | None,
) -> None:
    """Declare an incident under PLAYBOOK."""
    svc = _service(ctx)
    inc = svc.declare(
        actor=_actor(svc, as_user),
        playbook=playbook,
        severity=severity,
        title=title,
        regions=regions,
        services=services,
        summary=summary,
    )
    click.echo(f"declared {inc.ref} [{inc.severity}] {inc.title} — state {inc.state}")


@main.command()
@click.option(
    "--state", type=click.Choice(["open", "resolved", "all"]), default="open", show_default=True
)
@click.option("--severity")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handles_errors
def incidents(ctx: click.Context, state: str, severity: str | None, as_json: bool) -> None:
    """List incidents, newest first."""
    page = _service(ctx).list_incidents(state=state, severity=severity, per_page=200)
    if as_json:
        svc = _service(ctx)
        items = [incident_json(i, svc.playbook_of(i)) for i in page.items]
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    if not page.items:
        click.echo(f"no {state} incidents")
    for i in page.items:
        owner = i.owner or "unowned"
        click.echo(
            f"{i.ref:<8} {i.severity:<5} {i.state:<14} {owner:<12} "
            f"{_when(i.declared_at)}  {i.title}"
        )


@main.command()
@click.argument("incident_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handles_errors
def show(ctx: click.Context, incident_id: int, as_json: bool) -> None:
    """Show an incident: its state, what can happen next, and its timeline."""
    svc = _service(ctx)
    inc = svc.get(incident_id=incident_id)
    pb = svc.playbook_of(inc)
    events = svc.timeline(incident_id=incident_id)
    if as_json:
        out = incident_json(inc, pb) | {"timeline": [event_json(e) for e in events]}
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    click.echo(f"{inc.ref}  {inc.title}")
    click.echo(f"  playbook   {pb.id} @ {pb.short_version}")
    click.echo(f"  severity   {inc.severity} ({pb.severities.get(inc.severity, '')})")
    click.echo(f"  state      {inc.state}")
    click.echo(f"  next       {', '.join(pb.allowed_triggers(inc.state)) or '(final)'}")
    click.echo(f"  regions    {', '.join(inc.regions) or '-'}")
    click.echo(f"  owner      {inc.owner or 'unowned'}")
    click.echo(f"  declared   {_when(inc.declared_at)} by {inc.declared_by}")
    click.echo("timeline:")
    for e in events:
        detail = ", ".join(f"{k}={v}" for k, v in e.data.items() if k != "version")
        click.echo(f"  {e.seq:>3} {_when(e.at)} {e.type:<13} {e.actor:<16} {detail}")


@main.command()
@click.argument("incident_id", type=int)
@click.argument("trigger")
@click.option("--note")
@as_option
@click.pass_context
@handles_errors
def transition(
    ctx: click.Context, incident_id: int, trigger: str, note: str | None, as_user: str | None
) -> None:
    """Fire TRIGGER on an incident (e.g. identify, mitigate, resolve)."""
    svc = _service(ctx)
    inc = svc.fire(actor=_actor(svc, as_user), incident_id=incident_id, trigger=trigger, note=note)
    click.echo(f"{inc.ref} is now {inc.state}")


@main.command()
@click.argument("incident_id", type=int)
@as_option
@click.pass_context
@handles_errors
def ack(ctx: click.Context, incident_id: int, as_user: str | None) -> None:
    """Acknowledge an incident: you own it and paging stops."""
    svc = _service(ctx)
    inc = svc.acknowledge(actor=_actor(svc, as_user), incident_id=incident_id, via="cli")
    click.echo(f"{inc.ref} acknowledged by {inc.owner}; state {inc.state}")


@main.group()
def audit() -> None:
    """The tamper-evident timeline."""


@audit.command("verify")
@click.pass_context
@handles_errors
def audit_verify(ctx: click.Context) -> None:
    """Check every incident's hash chain; name the first broken event."""
    findings = _service(ctx).verify_audit()
    if findings:
        for f in findings:
            click.echo(f"BROKEN {f}")
        sys.exit(1)
    click.echo("timeline intact")


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
    user = _service(ctx).add_user(
        username=username,
        role=role,
        name=name,
        password=password,
        email=email,
        phone=phone,
        timezone=tz,
    )
    click.echo(f"added {user.username} ({user.role})")


@users.command("list")
@click.pass_context
@handles_errors
def users_list(ctx: click.Context) -> None:
    """List users and roles."""
    for u in _service(ctx).list_users():
        click.echo(f"{u.username:<16} {u.role:<11} {u.name}")


@main.group()
def tokens() -> None:
    """API tokens for scripts and monitoring."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.pass_context
@handles_errors
def tokens_create(ctx: click.Context, username: str, name: str) -> None:
    """Create an API token for USERNAME; it is printed once and stored hashed."""
    tid, secret = _service(ctx).create_token(username=username, name=name)
    click.echo(f"token {tid} for {username} (shown once, keep it safe):")
    click.echo(secret)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations to CRISIS_DATABASE_URL."""
    from engine.store import Store

    store = Store.from_url(Config.from_env().database_url)
    store.upgrade()
    click.echo(f"schema at {store.current_revision()}")


@main.command()
@click.option("--host", envvar="CRISIS_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="CRISIS_PORT", default=8080, show_default=True, type=int)
@handles_errors
def serve(host: str, port: int) -> None:
    """Run the web app (threaded) in this process, on the embedded default or PostgreSQL."""
    import signal

    from werkzeug.serving import make_server

    from web import create_app

    app = create_app()
    server = make_server(host, port, app, threaded=True)

    def _stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    click.echo(f"crisiscomms is serving on http://{host}:{port}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        server.server_close()


@main.command()
@click.pass_context
@handles_errors
def demo(ctx: click.Context) -> None:
    """Create the demo users (once) and print their logins."""
    svc = _service(ctx)
    existing = {u.username for u in svc.list_users()}
    for username, role, name, password in DEMO_USERS:
        if username not in existing:
            svc.add_user(
                username=username,
                role=role,
                name=name,
                password=password,
                email=f"{username}@example.org",
            )
    click.echo("demo logins (user / password / role):")
    for username, role, _, password in DEMO_USERS:
        click.echo(f"  {username:<10} {password:<20} {role}")
