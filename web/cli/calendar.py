"""``crisis posts | subscribers | freeze | sandbox``: the content calendar and audiences."""

from __future__ import annotations

from pathlib import Path

import click

from engine.kernel.errors import ValidationFailed
from web.cli.common import (
    _actor,
    _crisis,
    _fail,
    _parse_instant,
    _when,
    as_option,
    handles_errors,
    main,
)


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
    core = _crisis(ctx)
    ctype = "application/json" if path.suffix.lower() == ".json" else "text/csv"
    try:
        n = core.calendar.import_posts(
            actor=_actor(core, as_user), data=path.read_text("utf-8-sig"), content_type=ctype
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
    core = _crisis(ctx)
    p = core.calendar.create_post(
        actor=_actor(core, as_user),
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
    items, _ = _crisis(ctx).calendar.list_posts(state=state, per_page=500)
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
@click.option("--language", help="the language they read (fr, en-GB); none: each update's own")
@click.pass_context
@handles_errors
def subscribers_add(
    ctx: click.Context,
    audience: str,
    phone: str | None,
    email: str | None,
    region: str | None,
    name: str | None,
    language: str | None,
) -> None:
    """Opt a recipient in to AUDIENCE's updates."""
    core = _crisis(ctx)
    sid = core.audience.add_subscriber(
        actor=_actor(core, None),
        audience=audience,
        phone=phone,
        email=email,
        region=region,
        name=name,
        language=language,
    )
    click.echo(f"subscriber {sid} receives {audience} updates")


@subscribers.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    help="Default: from the file's extension (.jsonl or .ndjson: JSON lines).",
)
@click.pass_context
@handles_errors
def subscribers_import(ctx: click.Context, path: Path, fmt: str | None) -> None:
    """Add the subscribers in a CSV file (header: audience,name,phone,email,region,language)
    or JSON lines, all or nothing: a bad row refuses the file, naming its line."""
    fmt = fmt or ("jsonl" if path.suffix in (".jsonl", ".ndjson") else "csv")
    core = _crisis(ctx)
    try:
        result = core.audience.import_subscribers(
            actor=_actor(core, None), text=path.read_text(encoding="utf-8-sig"), fmt=fmt
        )
    except ValidationFailed as exc:  # one problem a line: a file is fixed in one pass
        _fail("\n".join([f"{path}: {exc}", *(f"  {k}: {v}" for k, v in exc.details.items())]))
    click.echo(
        f"{result['rows']} row(s): {result['added']} subscriber(s) added, "
        f"{result['already']} already subscribed"
    )


@subscribers.command("list")
@click.option("--audience")
@click.pass_context
@handles_errors
def subscribers_list(ctx: click.Context, audience: str | None) -> None:
    """List subscribers."""
    for s in _crisis(ctx).audience.list_subscribers(audience=audience):
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
    status = _crisis(ctx).calendar.freeze_status(channel=channel, tag=tag, region=region)
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
    for f in _crisis(ctx).calendar.list_freezes(active=None if show_all else True):
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
    from engine.calendar.rules import Scope

    core = _crisis(ctx)
    f = core.calendar.create_freeze(
        actor=_actor(core, as_user), scope=Scope(channels, tags, regions), reason=reason
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
    core = _crisis(ctx)
    out = core.calendar.lift_freeze(
        actor=_actor(core, as_user), freeze_id=freeze_id, reason=reason, force=force
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
    rows = _crisis(ctx).delivery.sandbox_messages(limit=limit)
    if not rows:
        click.echo(
            "the sandbox has sent nothing yet (is `crisis serve` or `crisis worker` running?)"
        )
    for r in rows:
        click.echo(f"{_when(r['sent_at'])}  {r['channel']:<11} → {r['address']:<22} {r['body']}")
