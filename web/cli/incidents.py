"""``crisis validate | declare | incidents | show | transition | ack | audit``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from engine.kernel.errors import PlaybookInvalid
from engine.playbooks.channels import load_channels
from engine.playbooks.loading import load_many
from web.cli.common import _actor, _crisis, _when, as_option, handles_errors, main
from web.present import event_json, incident_json


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
    core = _crisis(ctx)
    inc = core.incidents.declare(
        actor=_actor(core, as_user),
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
    page = _crisis(ctx).incidents.list_incidents(state=state, severity=severity, per_page=200)
    if as_json:
        core = _crisis(ctx)
        items = [incident_json(i, core.incidents.playbook_of(i)) for i in page.items]
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
    core = _crisis(ctx)
    inc = core.incidents.get(incident_id=incident_id)
    pb = core.incidents.playbook_of(inc)
    events = core.incidents.timeline(incident_id=incident_id)
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
    core = _crisis(ctx)
    inc = core.incidents.fire(
        actor=_actor(core, as_user), incident_id=incident_id, trigger=trigger, note=note
    )
    click.echo(f"{inc.ref} is now {inc.state}")


@main.command()
@click.argument("incident_id", type=int)
@as_option
@click.pass_context
@handles_errors
def ack(ctx: click.Context, incident_id: int, as_user: str | None) -> None:
    """Acknowledge an incident: you own it and paging stops."""
    core = _crisis(ctx)
    inc = core.incidents.acknowledge(
        actor=_actor(core, as_user), incident_id=incident_id, via="cli"
    )
    click.echo(f"{inc.ref} acknowledged by {inc.owner}; state {inc.state}")


@main.group()
def audit() -> None:
    """The tamper-evident timeline."""


@audit.command("verify")
@click.pass_context
@handles_errors
def audit_verify(ctx: click.Context) -> None:
    """Check every incident's hash chain; name the first broken event."""
    findings = _crisis(ctx).audit.verify()
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
    signed, findings = _crisis(ctx).audit.rekey()
    for f in findings:
        click.echo(f"BROKEN {f} (left unsigned)")
    click.echo(f"{signed} chain(s) signed with the audit key")
    if findings:
        sys.exit(1)
