"""The web app: ``create_app`` is the composition root for HTTP."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, request
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.app import Crisis
from engine.kernel import logcontext
from engine.kernel.ports import Clock
from engine.kernel.text import PROBLEM, UNSTORABLE
from engine.updates.locales import name as language_name
from web import logs
from web.config import Config, deployment_secret
from web.errors import ApiError

MAX_BODY_BYTES = 1024 * 1024


class App(Flask):
    """Flask, with static files answered from bytes rather than an open file: a browser that
    drops a request (or gets a 304) never leaves a file handle for the garbage collector."""

    def send_static_file(self, filename: str) -> Response:
        import hashlib
        import mimetypes
        from pathlib import Path

        from werkzeug.exceptions import NotFound
        from werkzeug.security import safe_join

        found = safe_join(str(self.static_folder), filename)
        if found is None or not Path(found).is_file():
            raise NotFound()
        body = Path(found).read_bytes()
        kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        resp = Response(body, mimetype=kind)
        resp.set_etag(hashlib.sha256(body).hexdigest()[:32])
        age = self.get_send_file_max_age(filename)
        if age is None:  # as Flask's own: ask the server again each time (a 304 is cheap)
            resp.cache_control.no_cache = True
        else:
            resp.cache_control.max_age = age
            resp.cache_control.public = True
        resp.make_conditional(request)
        return resp


def create_app(
    config: Config | None = None,
    *,
    crisis: Crisis | None = None,
    clock: Clock | None = None,
    test_config: dict[str, Any] | None = None,
) -> Flask:
    """Build the app: wire the engine, blueprints, auth, errors and security headers."""
    from web import (
        admin,
        api,
        api_calendar,  # noqa: F401 - registers the calendar operations on api.bp
        api_platforms,  # noqa: F401 - registers the freeze connectors operations on api.bp
        api_subscribers,  # noqa: F401 - registers the subscriber list import on api.bp
        api_updates,  # noqa: F401 - registers the update operations on api.bp
        apispec,
        auth,
        callbacks,
        errors,
        hooks,
        kept,
        live,
        localtime,
        logs,
        metrics,
        monitor_hooks,  # noqa: F401 - registers the monitoring hooks on hooks.bp
        ops,
        public,
        slack_hooks,
        ui,
        ui_calendar,  # noqa: F401 - registers the calendar pages on ui.bp
        ui_people,  # noqa: F401 - registers the on-call and profile pages on ui.bp
        ui_updates,  # noqa: F401 - registers the update pages on ui.bp
    )
    from web.bootstrap import build_crisis

    configure_logs = config is None  # gunicorn and `crisis serve`; tests bring their own
    config = config or Config.from_env()
    app = App(__name__)
    app.config.update(
        SECRET_KEY=deployment_secret(config),
        SESSION_COOKIE_NAME="crisis_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.converters["int"] = apispec.IdConverter  # before any route is added
    if test_config:
        app.config.update(test_config)
    core = crisis or build_crisis(config, clock=clock)
    app.extensions["crisis.core"] = core
    app.extensions["crisis.config"] = config
    app.extensions["crisis.metrics"] = metrics.PrometheusMetrics(core)
    app.extensions["crisis.bus"] = live.EventBus(
        str(core.store.engine.url.render_as_string(hide_password=False))
    )
    app.config["TWILIO_TOKEN_ENV"] = hooks.twilio_token_env(core.channels)
    app.config["SLACK_SIGNING_ENV"] = slack_hooks.slack_signing_env(core.channels)
    public_url = config.public_url
    # Links in emails and feeds never come from the Host header: the configured public URL,
    # else the address `crisis serve` listens on. Requests naming any other host are refused.
    app.config["PUBLIC_URL"] = public_url
    app.config["LINK_BASE"] = public_url or f"http://{config.host}:{config.port}"
    app.config["TRUSTED_HOSTS"] = allowed_hosts(config)
    app.config["PUBLIC_FREEZE_STATUS"] = config.public_freeze_status

    errors.init_app(app)
    app.before_request(_refuse_unknown_hosts)  # before anything builds a URL from the Host
    auth.init_app(app)
    localtime.init_app(app)
    kept.init_app(app)
    app.register_blueprint(ops.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(ui.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(hooks.bp)
    public.init_app(app, public.load_status_page(config.status_page_file))
    app.config["ANONYMOUS_ENDPOINTS"] |= hooks.SESSIONLESS
    app.after_request(_security_headers)
    app.before_request(_begin_request)
    app.before_request(_refuse_unstorable_forms)
    app.after_request(_log_request)
    app.teardown_request(_end_request)
    if configure_logs:
        logs.configure(core.channels.values(), fmt=config.log_format, level=config.log_level)
    # The status callbacks of a blast are answered before Flask (see web.callbacks).
    app.wsgi_app = callbacks.StatusCallbacks(  # type: ignore[method-assign]
        app, app.wsgi_app, headers=list(SECURITY_HEADERS)
    )
    proxies = config.proxies
    if proxies > 0:  # behind N reverse proxies: trust their X-Forwarded-For/-Proto/-Host
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    app.jinja_env.globals["freeze_summary"] = ui.active_freeze_summary
    app.jinja_env.globals["waiting_for_me"] = ui.waiting_for_me
    app.jinja_env.filters["places"] = ui.place_names
    app.jinja_env.filters["language"] = language_name
    return app


def allowed_hosts(config: Config) -> list[str]:
    """The Host names this app answers: CRISIS_ALLOWED_HOSTS, the public URL's, loopback."""
    hosts = list(config.allowed_hosts)
    if config.public_url:
        hosts.append(urlsplit(config.public_url).hostname or "")
    if config.host not in ("0.0.0.0", "::", ""):
        hosts.append(config.host)
    hosts += ["localhost", "127.0.0.1", "::1"]
    return list(dict.fromkeys(h for h in hosts if h))


SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)


def _refuse_unknown_hosts() -> Response | None:
    """Answer 400 to a request for a host this app does not serve (TRUSTED_HOSTS)."""
    try:
        request.host  # noqa: B018 - werkzeug checks TRUSTED_HOSTS when it reads the host
    except SecurityError:
        return Response(
            '{"error": "bad_request", "message": "this server does not answer for that host"}\n',
            status=400,
            mimetype="application/json",
        )
    return None


def _refuse_unstorable_forms() -> None:
    """A form field with a NUL or an unpaired surrogate is refused before any view sees it."""
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        if request.mimetype == "application/x-www-form-urlencoded":
            request.get_data(cache=True)  # kept: a signed hook checks the exact bytes (Slack)
        bad = {k: PROBLEM for k, v in request.form.items(multi=True) if UNSTORABLE.search(v)}
        if bad:
            raise ApiError(400, "some text cannot be stored", details=bad)


def _begin_request() -> None:
    """Name the request (X-Request-ID if sane) and the incident it concerns, for log lines."""
    g.request_id = logs.request_id(request.headers.get("X-Request-ID", ""))
    g.started = time.perf_counter()
    incident = (request.view_args or {}).get("incident_id")
    g.incident_token = logcontext.incident_id.set(incident if isinstance(incident, int) else None)


def _log_request(resp: Response) -> Response:
    resp.headers["X-Request-ID"] = g.get("request_id", "")
    if request.endpoint != "static":
        user = g.get("user")
        logs.request_line(
            request.method,
            request.path,
            resp.status_code,
            started=g.get("started", 0),
            user=user.username if user else None,
        )
    return resp


def _end_request(_exc: BaseException | None) -> None:
    token = g.pop("incident_token", None)
    if token is not None:
        logcontext.incident_id.reset(token)


def _security_headers(resp: Response) -> Response:
    for name, value in SECURITY_HEADERS:
        resp.headers.setdefault(name, value)
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp
