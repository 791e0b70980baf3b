"""``crisis db | serve | worker | demo | static-copy``: the processes, the embedded demo and the
static copy of the status page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from engine.delivery.worker import CONCURRENCY
from web.cli.common import _actor, _crisis, handles_errors, main
from web.config import Config
from web.demo import DEMO_POSTS, DEMO_SUBSCRIBERS, DEMO_USERS


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
    config: Config = app.extensions["crisis.config"]
    runtime = Runtime(
        app.extensions["crisis.core"],
        lease=config.outbox_lease_seconds,
        metrics=app.extensions["crisis.metrics"],
    )
    app.extensions["crisis.runtime"] = runtime  # /readyz checks its alarm clock
    copier = _copier(app, config)
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
        if copier is not None:
            copier.stop()


def _copier(app: Any, config: Config) -> Any:
    """The static copy of the status page (CRISIS_STATIC_COPY), kept current; None if unset."""
    if config.static_copy is None:
        return None
    from web.static_copy import Copier

    copier = Copier(app, config.static_copy)
    copier.start()
    click.echo(f"keeping a static copy of the status page in {config.static_copy}")
    return copier


@main.command()
@click.option(
    "--concurrency", default=CONCURRENCY, show_default=True, help="Sends in flight at once."
)
@click.pass_context
@handles_errors
def worker(ctx: click.Context, concurrency: int) -> None:
    """Run timers and the outbox (no web) until SIGTERM; run as many as you like."""
    import signal
    import threading

    from web import logs
    from web.metrics import PrometheusMetrics
    from web.runtime import Runtime

    config = Config.from_env()
    core = _crisis(ctx)
    logs.configure(core.channels.values(), fmt=config.log_format, level=config.log_level)
    metrics = PrometheusMetrics(core)
    runtime = Runtime(
        core, concurrency=concurrency, lease=config.outbox_lease_seconds, metrics=metrics
    )
    if config.metrics_port:  # Prometheus scrapes this worker's own histograms and counters here
        from prometheus_client import start_http_server

        start_http_server(config.metrics_port, addr=config.metrics_host, registry=metrics.registry)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runtime.start()
    copier = None
    if config.static_copy is not None:  # the copy is rendered by the app, so build one
        from web import create_app

        copier = _copier(create_app(config, crisis=core), config)
    click.echo(f"worker {runtime.node} running (SIGTERM to stop)")
    stop.wait()
    click.echo("stopping: finishing in-flight sends")
    runtime.stop()
    if copier is not None:
        copier.stop()


@main.command("static-copy")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
@handles_errors
def static_copy(ctx: click.Context, folder: Path) -> None:
    """Write the status page, its feeds, JSON and badges into FOLDER once, for any web server
    to serve (CRISIS_STATIC_COPY keeps such a copy current from `crisis serve` or a worker)."""
    from web import create_app
    from web.static_copy import write

    copied = write(create_app(Config.from_env(), crisis=_crisis(ctx)), folder)
    click.echo(f"{copied.files} files ({copied.bytes:,} bytes) written to {folder}")


@main.command()
@click.pass_context
@handles_errors
def demo(ctx: click.Context) -> None:
    """Create the demo users (once) and print their logins."""
    core = _crisis(ctx)
    existing = {u.username for u in core.accounts.list_users()}
    me = _actor(core, None)
    for username, role, name, password in DEMO_USERS:
        if username not in existing:
            core.accounts.add_user(
                actor=me,
                username=username,
                role=role,
                name=name,
                password=password,
                email=f"{username}@example.org",
            )
    roster_file = Path("config/roster.yaml")
    if roster_file.exists():
        from engine.paging.rosterdb import load_roster_file

        core.roster.load_roster(actor=me, seed=load_roster_file(roster_file))
        click.echo(f"roster loaded from {roster_file}")
    if not core.audience.list_subscribers():
        for i, (audience, region, language) in enumerate(DEMO_SUBSCRIBERS):
            core.audience.add_subscriber(
                actor=me,
                audience=audience,
                phone=f"+1555555{1000 + i}",
                email=f"{audience}{i}@example.org",
                region=region,
                language=language,
            )
        click.echo(f"demo subscribers: {len(DEMO_SUBSCRIBERS)}")
    if core.calendar.list_posts(per_page=1)[1] == 0:
        now = core.clock.now()
        marketer = core.accounts.find_user(username="marketer").as_actor()
        for minutes, channel, body, tags, regions in DEMO_POSTS:
            core.calendar.create_post(
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
