"""``crisis connectors check`` and ``crisis freeze plan``: the marketing platforms, read-only."""

from __future__ import annotations

import click

from web.cli.calendar import freeze
from web.cli.common import _crisis, _fail, handles_errors, main


@main.group()
def connectors() -> None:
    """Marketing platforms a freeze reaches."""


@connectors.command("check")
@click.pass_context
@handles_errors
def connectors_check(ctx: click.Context) -> None:
    """A read-only call to each platform: authenticated, and what is scheduled there."""
    found = _crisis(ctx).platforms.check()
    if not found:
        click.echo("no connectors are configured (connectors: in the channels file)")
        return
    failed = False
    for c in found:
        head = f"{c['connector']} ({c['kind']}, counts as channel {c['channel']})"
        if c["ok"]:
            click.echo(
                f"{head}: authenticated; {c['scheduled']} scheduled item(s), "
                f"{c['mapped']} carrying a mapped tag or region"
            )
        else:
            failed = True
            click.echo(f"{head}: FAILED — {c['error']}")
    if failed:
        _fail("a connector could not be read")


@freeze.command("plan")
@click.option("--channel", "channels", multiple=True)
@click.option("--tag", "tags", multiple=True)
@click.option("--region", "regions", multiple=True)
@click.pass_context
@handles_errors
def freeze_plan(
    ctx: click.Context, channels: tuple[str, ...], tags: tuple[str, ...], regions: tuple[str, ...]
) -> None:
    """What a freeze with this scope would hold now, here and on every platform.

    Changes nothing."""
    from engine.calendar.rules import Scope

    core = _crisis(ctx)
    clean = core.places.clean("regions", list(regions), field="region") if regions else []
    plan = core.platforms.plan(
        scope=Scope(channels, tuple(t.casefold() for t in tags), tuple(clean))
    )
    click.echo(f"scope {plan['scope']}")
    click.echo(f"our calendar: {len(plan['posts'])} post(s)")
    for p in plan["posts"]:
        click.echo(
            f"  post {p['id']:>4} {p['channel']:<12} {p['publish_at']:%Y-%m-%d %H:%M}Z  {p['body']}"
        )
    for name, found in plan["connectors"].items():
        if not found["reached"]:
            click.echo(f"{name}: not reached (the scope names other channels)")
        elif "error" in found:
            click.echo(f"{name}: could not be read — {found['error']}")
        else:
            click.echo(f"{name}: {len(found['items'])} item(s)")
            for i in found["items"]:
                when = f"{i['send_at']:%Y-%m-%d %H:%M}Z" if i["send_at"] else "live"
                click.echo(f"  {i['kind']:<14} {when:<18} {i['title']}  [{i['ref']}]")
