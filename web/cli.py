"""The ``crisis`` command line."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
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


DEMO_SUBSCRIBERS = (
    ("passengers", "lille"),
    ("passengers", "lille"),
    ("passengers", "calais"),
    ("passengers", None),
    ("staff", None),
    ("merchants", None),
    ("customers", None),
)
DEMO_POSTS: tuple[tuple[int, str, str, list[str], list[str]], ...] = (
    (2, "twitter", "Mince pies in every Business Premier seat this December!", ["promo"], []),
    (20, "newsletter", "Europe: the ideal Christmas gift — fares from £29", ["promo", "xmas"], []),
    (45, "facebook", "Win a weekend in Lille: share your favourite café", ["promo"], ["lille"]),
    (
        60,
        "twitter",
        "Planned engineering works on Sunday: check your journey before you travel",
        ["operational"],
        [],
    ),
    (90, "instagram", "Christmas markets of Brussels, a reel", ["promo"], ["brussels"]),
    (180, "twitter", "Boxing Day sale starts now", ["promo", "sale"], []),
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


@audit.command("rekey")
@click.pass_context
@handles_errors
def audit_rekey(ctx: click.Context) -> None:
    """Sign chains recorded before the audit key was configured (only intact ones)."""
    signed, findings = _service(ctx).rekey_audit()
    for f in findings:
        click.echo(f"BROKEN {f} (left unsigned)")
    click.echo(f"{signed} chain(s) signed with the audit key")
    if findings:
        sys.exit(1)


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
def roster() -> None:
    """Who holds the roles playbooks page, rotations and overrides."""


@roster.command("load")
@click.argument("path", type=click.Path(exists=True, path_type=Path), default="config/roster.yaml")
@click.pass_context
@handles_errors
def roster_load(ctx: click.Context, path: Path) -> None:
    """Load people, roles and rotations from a roster file (people become users)."""
    from engine.rosterdb import load_roster_file

    result = _service(ctx).load_roster(seed=load_roster_file(path))
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
    for r in _service(ctx).roster(at=when):
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
    _service(ctx).roster_add(role=role, username=username)
    click.echo(f"{username} holds {role}")


@roster.command("remove")
@click.argument("role")
@click.argument("username")
@click.pass_context
@handles_errors
def roster_remove(ctx: click.Context, role: str, username: str) -> None:
    """Remove USERNAME from ROLE."""
    _service(ctx).roster_remove(role=role, username=username)
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
    svc = _service(ctx)
    svc.roster_override(
        actor=_actor(svc, as_user),
        role=role,
        username=username,
        starts_at=_parse_instant(start),
        ends_at=_parse_instant(end),
    )
    click.echo(f"{username} covers {role} from {start} until {end}")


def _parse_instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{text!r} is not a time (use 2026-12-24T18:00:00Z)") from None
    if value.tzinfo is None:
        raise ValidationFailed(f"{text!r} has no time zone (add Z or +01:00)")
    return value.astimezone(UTC)


@main.group()
def posts() -> None:
    """The content calendar: scheduled marketing posts."""


@posts.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@as_option
@click.pass_context
@handles_errors
def posts_import(ctx: click.Context, path: Path, as_user: str | None) -> None:
    """Import a calendar (CSV: channel,body,publish_at,tags,regions; or JSON): all or none."""
    svc = _service(ctx)
    ctype = "application/json" if path.suffix.lower() == ".json" else "text/csv"
    try:
        n = svc.import_posts(
            actor=_actor(svc, as_user), data=path.read_text("utf-8-sig"), content_type=ctype
        )
    except ValidationFailed as exc:
        for err in exc.details.get("errors", []):
            where = f" {err['field']}" if "field" in err else ""
            click.echo(f"{path}:{err['line']}:{where} {err['message']}", err=True)
        _fail(str(exc))
        return
    click.echo(f"imported {n} post(s) from {path}")


@posts.command("add")
@click.option("--channel", required=True)
@click.option("--body", required=True)
@click.option("--at", "publish_at", required=True, help="RFC 3339, e.g. 2026-12-18T22:02:00Z")
@click.option("--tag", "tags", multiple=True)
@click.option("--region", "regions", multiple=True)
@as_option
@click.pass_context
@handles_errors
def posts_add(
    ctx: click.Context,
    channel: str,
    body: str,
    publish_at: str,
    tags: tuple[str, ...],
    regions: tuple[str, ...],
    as_user: str | None,
) -> None:
    """Schedule one post."""
    svc = _service(ctx)
    p = svc.create_post(
        actor=_actor(svc, as_user),
        fields={
            "channel": channel,
            "body": body,
            "publish_at": _parse_instant(publish_at),
            "tags": list(tags),
            "regions": list(regions),
        },
    )
    click.echo(f"post {p['id']} scheduled on {p['channel']} for {_when(p['publish_at'])}")


@posts.command("list")
@click.option(
    "--state", type=click.Choice(["scheduled", "held", "published", "cancelled", "failed"])
)
@click.pass_context
@handles_errors
def posts_list(ctx: click.Context, state: str | None) -> None:
    """List posts by publish time."""
    items, _ = _service(ctx).list_posts(state=state, per_page=500)
    for p in items:
        held = f" held by {p['held_by']}" if p["held_by"] else ""
        review = " (to review)" if p["review"] else ""
        click.echo(
            f"{p['id']:>5} {_when(p['publish_at'])} {p['channel']:<11} {p['state']:<10}"
            f"{held}{review}  {p['body'][:60]}"
        )


@main.group()
def subscribers() -> None:
    """Who receives an audience's updates (SMS and/or email, per region)."""


@subscribers.command("add")
@click.argument("audience")
@click.option("--phone")
@click.option("--email")
@click.option("--region")
@click.option("--name")
@click.pass_context
@handles_errors
def subscribers_add(
    ctx: click.Context,
    audience: str,
    phone: str | None,
    email: str | None,
    region: str | None,
    name: str | None,
) -> None:
    """Opt a recipient in to AUDIENCE's updates."""
    sid = _service(ctx).add_subscriber(
        actor=None, audience=audience, phone=phone, email=email, region=region, name=name
    )
    click.echo(f"subscriber {sid} receives {audience} updates")


@subscribers.command("list")
@click.option("--audience")
@click.pass_context
@handles_errors
def subscribers_list(ctx: click.Context, audience: str | None) -> None:
    """List subscribers."""
    for s in _service(ctx).list_subscribers(audience=audience):
        state = "" if s["opted_in"] else "  (opted out: STOP)"
        click.echo(
            f"{s['id']:>5} {s['audience']:<12} {s['phone'] or '-':<16} "
            f"{s['email'] or '-':<28} {s['region'] or 'all regions'}{state}"
        )


@main.group()
def freeze() -> None:
    """Promo freezes."""


@freeze.command("status")
@click.option("--channel")
@click.option("--tag")
@click.option("--region")
@click.pass_context
@handles_errors
def freeze_status(
    ctx: click.Context, channel: str | None, tag: str | None, region: str | None
) -> None:
    """Would a post on this channel, with this tag, for this region be held now?"""
    status = _service(ctx).freeze_status(channel=channel, tag=tag, region=region)
    if not status["frozen"]:
        click.echo("not frozen")
        return
    for f in status["freezes"]:
        click.echo(f"FROZEN by freeze {f['id']}: {f['scope']} — {f['reason']}")


@freeze.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include lifted freezes.")
@click.pass_context
@handles_errors
def freeze_list(ctx: click.Context, show_all: bool) -> None:
    """List active freezes (or all)."""
    for f in _service(ctx).list_freezes(active=None if show_all else True):
        state = f"lifted by {f['lifted_by']}" if f["lifted_at"] else "ACTIVE"
        click.echo(f"{f['id']:>4} {state:<20} {f['scope']}  {f['reason']}")


@freeze.command("create")
@click.option("--channel", "channels", multiple=True)
@click.option("--tag", "tags", multiple=True)
@click.option("--region", "regions", multiple=True)
@click.option("--reason", required=True)
@as_option
@click.pass_context
@handles_errors
def freeze_create(
    ctx: click.Context,
    channels: tuple[str, ...],
    tags: tuple[str, ...],
    regions: tuple[str, ...],
    reason: str,
    as_user: str | None,
) -> None:
    """Freeze matching posts now."""
    from engine.freeze import Scope

    svc = _service(ctx)
    f = svc.create_freeze(
        actor=_actor(svc, as_user), scope=Scope(channels, tags, regions), reason=reason
    )
    click.echo(f"freeze {f['id']} active: {f['scope']}")


@freeze.command("lift")
@click.argument("freeze_id", type=int)
@click.option("--reason", required=True)
@click.option("--force", is_flag=True, help="Override the playbook's cool-down.")
@as_option
@click.pass_context
@handles_errors
def freeze_lift(
    ctx: click.Context, freeze_id: int, reason: str, force: bool, as_user: str | None
) -> None:
    """Lift a freeze (its playbook's on_lift policy decides what happens to held posts)."""
    svc = _service(ctx)
    out = svc.lift_freeze(
        actor=_actor(svc, as_user), freeze_id=freeze_id, reason=reason, force=force
    )
    counts = out["posts"]
    click.echo(
        f"freeze {freeze_id} lifted: {counts['review']} to review, "
        f"{counts['scheduled']} rescheduled, {counts['cancelled']} cancelled, "
        f"{counts['still_held']} still held by other freezes"
    )


@main.command()
@click.option("--limit", default=20, show_default=True)
@click.pass_context
@handles_errors
def sandbox(ctx: click.Context, limit: int) -> None:
    """Show what the sandbox channel would have sent (newest first)."""
    rows = _service(ctx).sandbox_messages(limit=limit)
    if not rows:
        click.echo(
            "the sandbox has sent nothing yet (is `crisis serve` or `crisis worker` running?)"
        )
    for r in rows:
        click.echo(f"{_when(r['sent_at'])}  {r['channel']:<11} → {r['address']:<22} {r['body']}")


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
    tid, secret = _service(ctx).create_token(username=username, name=name, scope=scope)
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
    from web.runtime import Runtime

    app = create_app()
    runtime = Runtime(app.extensions["crisis.service"], metrics=app.extensions["crisis.metrics"])
    app.extensions["crisis.runtime"] = runtime  # /readyz checks its alarm clock
    server = make_server(host, port, app, threaded=True)

    def _stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    runtime.start()
    click.echo(f"crisiscomms is serving on http://{host}:{port}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopping: finishing in-flight sends")
    finally:
        server.server_close()
        runtime.stop()


@main.command()
@click.option("--concurrency", default=8, show_default=True, help="Sends in flight at once.")
@click.pass_context
@handles_errors
def worker(ctx: click.Context, concurrency: int) -> None:
    """Run timers and the outbox (no web) until SIGTERM; run as many as you like."""
    import signal
    import threading

    from web import logs
    from web.metrics import PrometheusMetrics
    from web.runtime import Runtime

    svc = _service(ctx)
    logs.configure(svc.channels.values())
    metrics = PrometheusMetrics(svc)
    runtime = Runtime(svc, concurrency=concurrency, metrics=metrics)
    port = os.environ.get("CRISIS_METRICS_PORT")
    if port:  # Prometheus scrapes this worker's own histograms and counters here
        from prometheus_client import start_http_server

        start_http_server(
            int(port),
            addr=os.environ.get("CRISIS_METRICS_HOST", "127.0.0.1"),
            registry=metrics.registry,
        )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runtime.start()
    click.echo(f"worker {runtime.node} running (SIGTERM to stop)")
    stop.wait()
    click.echo("stopping: finishing in-flight sends")
    runtime.stop()


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
    roster_file = Path("config/roster.yaml")
    if roster_file.exists():
        from engine.rosterdb import load_roster_file

        svc.load_roster(seed=load_roster_file(roster_file))
        click.echo(f"roster loaded from {roster_file}")
    if not svc.list_subscribers():
        for i, (audience, region) in enumerate(DEMO_SUBSCRIBERS):
            svc.add_subscriber(
                actor=None,
                audience=audience,
                phone=f"+1555555{1000 + i}",
                email=f"{audience}{i}@example.org",
                region=region,
            )
        click.echo(f"demo subscribers: {len(DEMO_SUBSCRIBERS)}")
    if svc.list_posts(per_page=1)[1] == 0:
        now = svc.clock.now()
        marketer = svc.find_user(username="marketer").as_actor()
        for minutes, channel, body, tags, regions in DEMO_POSTS:
            svc.create_post(
                actor=marketer,
                fields={
                    "channel": channel,
                    "body": body,
                    "tags": tags,
                    "regions": regions,
                    "publish_at": (now + timedelta(minutes=minutes)).isoformat(),
                },
            )
        click.echo(f"demo calendar: {len(DEMO_POSTS)} posts scheduled over the next 3 hours")
    click.echo("demo logins (user / password / role):")
    for username, role, _, password in DEMO_USERS:
        click.echo(f"  {username:<10} {password:<20} {role}")
