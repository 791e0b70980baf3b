"""The public face: status page, Atom and CAP feeds, Statuspage-compatible JSON, subscriptions.

Everything here reads only published entries (engine.public.projection), so drafts, rejected
and expired updates cannot appear. Pages and feeds carry a weak ETag derived from what has been
published (and the day, for the 90-day strips) and are cached briefly by browsers and proxies; a
conditional request answers 304 after one small query.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.audience.subscriptions import Pending, Policy
from engine.kernel import addresses
from engine.kernel.errors import NotFound, ValidationFailed
from engine.public.projection import (
    HISTORY_DAYS,
    Component,
    ComponentView,
    PublicIncident,
    component_status,
    day_strip,
    parse_components,
)
from web import badges, feeds
from web.auth import crisis

bp = Blueprint("public", __name__)

CACHE_SECONDS = 15


@dataclass(frozen=True)
class StatusPage:
    """The status page's settings (``config/status.yaml``, or CRISIS_STATUS_PAGE)."""

    name: str = "Service status"
    description: str = ""
    time_zone: str = "UTC"
    language: str = "en"  # the page's; the subscribe form's choice when the browser's is not
    sender: str = "status@crisiscomms.local"
    components: tuple[Component, ...] = ()
    audience: str | None = None  # the audience public subscribers join
    email_channel: str | None = None
    sms_channel: str | None = None
    policy: Policy = field(default_factory=Policy)
    fingerprint: str = field(default="", compare=False)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for c in self.components for r in c.regions))

    @property
    def region_choices(self) -> list[tuple[str, str]]:
        """(region, the name of the component that covers it) for the subscribe form."""
        names = {r: c.name for c in reversed(self.components) for r in c.regions}
        return [(r, names[r]) for r in self.regions]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def load_status_page(path: Path) -> StatusPage:
    """Read the status page's settings; a missing file gives a page with no components."""
    if not path.exists():
        return StatusPage()
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    where = str(path)
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping")
    known = {
        "name", "description", "time_zone", "language", "cap_sender", "subscriptions",
        "components",
    }  # fmt: skip
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    subs = data.get("subscriptions") or {}
    if not isinstance(subs, dict) or set(subs) - SUBSCRIPTION_KEYS:
        raise ValueError(f"{where}: subscriptions takes {', '.join(sorted(SUBSCRIPTION_KEYS))}")
    policy = _policy(subs, where)
    page = StatusPage(
        name=str(data.get("name", StatusPage.name)),
        description=str(data.get("description", "")),
        time_zone=str(data.get("time_zone", "UTC")),
        language=addresses.normalise_language(str(data.get("language") or "en")) or "en",
        sender=str(data.get("cap_sender", StatusPage.sender)),
        components=tuple(parse_components(data.get("components"), where=where)),
        audience=subs.get("audience"),
        email_channel=subs.get("email_channel"),
        sms_channel=subs.get("sms_channel"),
        policy=policy,
        fingerprint=hashlib.sha256(text.encode()).hexdigest()[:12],
    )
    try:
        page.zone  # noqa: B018 - fail at start-up, not on the first visitor
    except ZoneInfoNotFoundError:
        raise ValueError(f"{where}: unknown time_zone {page.time_zone!r}") from None
    if any(ch in page.sender for ch in " ,<&"):
        raise ValueError(f"{where}: cap_sender may not contain spaces, commas, < or &")
    if bad := addresses.language_problem(page.language):
        raise ValueError(f"{where}: language: {bad}")
    return page


SUBSCRIPTION_KEYS = {
    "audience",
    "email_channel",
    "sms_channel",
    "sms_countries",
    "per_client",
    "per_address_per_day",
    "sms_per_hour",
    "email_per_hour",
}


def _policy(subs: Mapping[str, Any], where: str) -> Policy:
    """The subscription limits from status.yaml (defaults: Policy's)."""
    countries = subs.get("sms_countries") or []
    if not isinstance(countries, list) or not all(
        isinstance(c, str) and c.startswith("+") and c[1:].isdigit() for c in countries
    ):
        raise ValueError(f"{where}: subscriptions.sms_countries is a list like ['+44', '+33']")
    defaults = Policy()

    def number(k: str, default: int) -> int:
        v = subs.get(k, default)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{where}: subscriptions.{k} is a whole number of at least 1")
        return v

    return Policy(
        sms_countries=tuple(countries),
        per_client=number("per_client", defaults.per_client),
        per_address_per_day=number("per_address_per_day", defaults.per_address_per_day),
        sms_per_hour=number("sms_per_hour", defaults.sms_per_hour),
        email_per_hour=number("email_per_hour", defaults.email_per_hour),
    )


ANONYMOUS: set[str] = set()  # endpoints whose answer is the same for everyone (cached)
VERSION_SECONDS = 1.0  # how long a process trusts the published version it last read


def anonymous(view: Callable[..., Any]) -> Callable[..., Any]:
    """A public read that is the same for everyone: answered without looking at the session
    (no database lookup of a logged-in user, no ``Vary: Cookie``), so shared caches and CDNs
    may keep it."""
    ANONYMOUS.add(f"{bp.name}.{view.__name__}")
    return view


def init_app(app: Flask, page: StatusPage) -> None:
    app.extensions["crisis.status_page"] = page
    app.extensions["crisis.public_cache"] = _Cache()
    # tests publish and read back at once; a test that wants the memo sets it
    seconds = app.config.setdefault(
        "PUBLIC_VERSION_SECONDS", 0.0 if app.testing else VERSION_SECONDS
    )
    app.extensions["crisis.public_version"] = _Version(float(seconds))
    app.config["ANONYMOUS_ENDPOINTS"] = frozenset(ANONYMOUS)
    app.register_blueprint(bp)


def _page() -> StatusPage:
    page: StatusPage = current_app.extensions["crisis.status_page"]
    return page


def _base_url() -> str:
    return str(current_app.config["LINK_BASE"]).rstrip("/")


def _site() -> feeds.Site:
    page = _page()
    return feeds.Site(name=page.name, base_url=_base_url(), sender=page.sender)


class _Cache:
    """Rendered bodies by ETag: a few entries per process, replaced as versions move on."""

    def __init__(self, size: int = 64) -> None:
        self._items: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.size = size

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, body: bytes) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = body


class _Version:
    """What has been published, as this process last read it: asked of the database at most
    once a second, so a burst of readers costs one query, not one each (a new entry shows
    within a second; browsers and proxies keep pages for CACHE_SECONDS anyway)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.reads = 0
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._value: tuple[int, int] = (0, 0)

    def get(self, read: Callable[[], tuple[int, int]]) -> tuple[int, int]:
        with self._lock:
            now = time.monotonic()
            if now - self._read_at >= self.seconds or self.seconds <= 0:
                self.reads += 1
                self._value, self._read_at = read(), now
            return self._value


def _cached(kind: str, mimetype: str, build: Callable[[], bytes | str]) -> Response:
    """Answer from the ETag (304), the process cache, or by building the body. The key is
    the path, never the query string: ``/status?v=<random>`` is the same page, not a rebuild."""
    core = crisis()
    version = current_app.extensions["crisis.public_version"].get(core.public.version)
    today = core.clock.now().date().isoformat()
    raw = f"{kind}|{version}|{today}|{request.path}|{_base_url()}|{_page().fingerprint}"
    etag = hashlib.sha256(raw.encode()).hexdigest()[:32]
    if request.if_none_match.contains_weak(etag):
        resp = Response(status=304)
    else:
        cache: _Cache = current_app.extensions["crisis.public_cache"]
        body = cache.get(etag)
        if body is None:
            built = build()
            body = built.encode("utf-8") if isinstance(built, str) else built
            cache.put(etag, body)
        resp = Response(body, mimetype=mimetype)
    resp.set_etag(etag, weak=True)
    resp.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


def _view() -> tuple[list[PublicIncident], list[ComponentView]]:
    core = crisis()
    page = _page()
    incidents = core.public.incidents(days=HISTORY_DAYS)
    open_ = [i for i in incidents if not i.resolved]
    today = core.clock.now().astimezone(page.zone).date()
    comps = [
        ComponentView(
            c,
            component_status(c, open_),
            day_strip(c, incidents, today=today, days=HISTORY_DAYS),
        )
        for c in page.components
    ]
    return incidents, comps


def _local(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(_page().zone).strftime("%d %b %Y, %H:%M %Z")


def _where(inc: PublicIncident) -> str:
    """What an incident affects, by the names the page gives its components."""
    names: dict[str, str] = {}
    for c in _page().components:
        for key in (*c.regions, *c.services):
            names.setdefault(key, c.name)
    return ", ".join(dict.fromkeys(names.get(k, k) for k in (*inc.regions, *inc.services)))


def _overall(open_: list[PublicIncident]) -> tuple[str, str]:
    """Statuspage's page indicator and its words."""
    if not open_:
        return "none", "All systems operational"
    worst = min(i.rank for i in open_)
    return (
        ("critical", "Major disruption")
        if worst == 0
        else ("major", "Partial disruption")
        if worst == 1
        else ("minor", "Minor disruption")
    )


@bp.get("/status")
@anonymous
def status() -> Any:
    """Show current incidents, each component's status and the last 90 days."""

    def build() -> str:
        incidents, comps = _view()
        open_ = sorted((i for i in incidents if not i.resolved), key=lambda i: i.rank)
        past = [i for i in incidents if i.resolved]
        days: dict[str, list[PublicIncident]] = {}
        for inc in past:
            key = inc.started_at.astimezone(_page().zone).strftime("%d %B %Y")
            days.setdefault(key, []).append(inc)
        return render_template(
            "status.html",
            page=_page(),
            open_incidents=open_,
            past_days=days,
            components=comps,
            overall=_overall(open_),
            local=_local,
            where=_where,
        )

    return _cached("status", "text/html", build)


@bp.get("/status/incidents/<int:incident_id>")
@anonymous
def status_incident(incident_id: int) -> Any:
    """Show one public incident with every update published about it."""

    def build() -> str:
        incidents, _ = _view()
        found = next((i for i in incidents if i.id == incident_id), None)
        if found is None:
            raise NotFound("no public incident with that number")
        return render_template(
            "status_incident.html", page=_page(), inc=found, local=_local, where=_where
        )

    return _cached(f"incident:{incident_id}", "text/html", build)


def _for_a_person() -> bool:
    """A browser opening the feed's address (HTML preferred to any feed type), not a reader.

    Browsers ask for ``text/html`` first and get everything else through ``*/*``; feed readers
    name Atom, or take anything (``*/*``) and get the feed.
    """
    accept = request.accept_mimetypes
    return accept["text/html"] > max(accept["application/atom+xml"], accept["application/xml"])


def _feed(kind: str, title: str, cap: bool) -> Any:
    """The feed itself, or — for a person in a browser — a page saying what it is, with its
    entries and the address to give a feed reader (the same URL, so one link serves both)."""
    build_feed = feeds.cap_feed if cap else feeds.status_feed

    def build() -> bytes:
        incidents, _ = _view()
        return feeds.to_xml(build_feed(_site(), incidents, now=crisis().clock.now()))

    def build_page() -> str:
        incidents, _ = _view()
        pairs = [(inc, e) for inc in incidents for e in inc.entries]
        pairs.sort(key=lambda p: (p[1].published_at, p[1].id), reverse=True)
        return render_template(
            "status_feed.html",
            page=_page(),
            title=title,
            cap=cap,
            address=_base_url() + request.path,
            entries=pairs[:100],
            local=_local,
        )

    if _for_a_person():
        resp = _cached(f"{kind}-page", "text/html", build_page)
    else:
        resp = _cached(kind, "application/atom+xml", build)
    resp.vary.add("Accept")
    return resp


@bp.get("/status/feed.atom")
@anonymous
def status_feed() -> Any:
    """Atom: one entry per published public update (a readable page in a browser)."""
    return _feed("atom", "Updates feed", cap=False)


@bp.get("/status/cap.atom")
@anonymous
def cap_feed() -> Any:
    """Atom index of the CAP 1.2 alerts (a readable page in a browser)."""
    return _feed("cap-atom", "CAP alerts feed", cap=True)


@bp.get("/status/cap/<int:update_id>.xml")
@anonymous
def cap_alert(update_id: int) -> Any:
    """The CAP 1.2 alert of one published public update."""

    def build() -> bytes:
        entry, previous, pb = crisis().public.entry(update_id=update_id)
        return feeds.to_xml(feeds.cap_alert(_site(), entry, previous, pb))

    return _cached(f"cap:{update_id}", "application/cap+xml", build)


# --- Statuspage-compatible JSON (/api/v2) -------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _page_id() -> str:
    return _page().fingerprint or "crisiscomms"


def _sp_page() -> dict[str, Any]:
    return {
        "id": _page_id(),
        "name": _page().name,
        "url": f"{_base_url()}/status",
        "time_zone": _page().time_zone,
        "updated_at": _iso(crisis().clock.now()),
    }


def _sp_component(view: ComponentView, position: int) -> dict[str, Any]:
    c = view.component
    return {
        "id": c.id,
        "name": c.name,
        "status": view.status,
        "created_at": None,
        "updated_at": None,
        "position": position,
        "description": c.description or None,
        "showcase": True,
        "start_date": None,
        "group_id": None,
        "page_id": _page_id(),
        "group": False,
        "only_show_if_degraded": False,
    }


def _sp_incident(inc: PublicIncident, comps: list[ComponentView]) -> dict[str, Any]:
    affected = [
        _sp_component(v, i + 1) for i, v in enumerate(comps) if v.component.affected_by(inc)
    ]
    monitoring = next((e.published_at for e in inc.entries if e.state == "monitoring"), None)
    return {
        "id": str(inc.id),
        "name": inc.title,
        "status": inc.status,
        "created_at": _iso(inc.started_at),
        "updated_at": _iso(inc.latest.published_at),
        "monitoring_at": _iso(monitoring),
        "resolved_at": _iso(inc.resolved_at),
        "impact": inc.impact,
        "shortlink": f"{_base_url()}/status/incidents/{inc.id}",
        "started_at": _iso(inc.started_at),
        "page_id": _page_id(),
        "incident_updates": [
            {
                "id": str(e.update_id),
                "status": e.status,
                "body": e.body,
                "incident_id": str(inc.id),
                "created_at": _iso(e.published_at),
                "updated_at": _iso(e.published_at),
                "display_at": _iso(e.published_at),
                "affected_components": None,
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
            for e in reversed(inc.entries)
        ],
        "components": affected,
    }


def _sp_json(kind: str, build: Callable[[list[PublicIncident], list[ComponentView]], Any]) -> Any:
    def body() -> bytes:
        incidents, comps = _view()
        return current_app.json.dumps(build(incidents, comps)).encode()

    return _cached(f"sp:{kind}", "application/json", body)


def _status_block(incidents: list[PublicIncident]) -> dict[str, str]:
    indicator, words = _overall([i for i in incidents if not i.resolved])
    return {"indicator": indicator, "description": words}


@bp.get("/api/v2/summary.json")
@anonymous
def sp_summary() -> Any:
    """Statuspage-compatible summary: page, components, unresolved incidents, status."""
    return _sp_json(
        "summary",
        lambda incs, comps: {
            "page": _sp_page(),
            "components": [_sp_component(v, i + 1) for i, v in enumerate(comps)],
            "incidents": [_sp_incident(i, comps) for i in incs if not i.resolved],
            "scheduled_maintenances": [],
            "status": _status_block(incs),
        },
    )


@bp.get("/api/v2/status.json")
@anonymous
def sp_status() -> Any:
    """Statuspage-compatible page status indicator."""
    return _sp_json("status", lambda incs, _: {"page": _sp_page(), "status": _status_block(incs)})


@bp.get("/api/v2/components.json")
@anonymous
def sp_components() -> Any:
    """Statuspage-compatible component list."""
    return _sp_json(
        "components",
        lambda _, comps: {
            "page": _sp_page(),
            "components": [_sp_component(v, i + 1) for i, v in enumerate(comps)],
        },
    )


@bp.get("/api/v2/incidents.json")
@anonymous
def sp_incidents() -> Any:
    """Statuspage-compatible incident list (the last 90 days, newest first)."""
    return _sp_json(
        "incidents",
        lambda incs, comps: {
            "page": _sp_page(),
            "incidents": [_sp_incident(i, comps) for i in incs],
        },
    )


@bp.get("/api/v2/incidents/unresolved.json")
@anonymous
def sp_unresolved() -> Any:
    """Statuspage-compatible list of unresolved incidents."""
    return _sp_json(
        "unresolved",
        lambda incs, comps: {
            "page": _sp_page(),
            "incidents": [_sp_incident(i, comps) for i in incs if not i.resolved],
        },
    )


# --- embeds: a badge and a banner for the organisation's own site --------------------------
@bp.get("/status/badge.svg")
@anonymous
def page_badge() -> Any:
    """The page's status as a shields-style SVG badge ("status | operational")."""

    def build() -> str:
        incidents, _ = _view()
        indicator, _words = _overall([i for i in incidents if not i.resolved])
        return badges.badge("status", indicator)

    return _cached("badge", "image/svg+xml", build)


@bp.get("/status/badge/<component_id>.svg")
@anonymous
def component_badge(component_id: str) -> Any:
    """One component's status as a badge ("Lille | partial outage")."""
    if not any(c.id == component_id for c in _page().components):
        raise NotFound(f"no component {component_id!r} on this page")

    def build() -> str:
        _, comps = _view()
        view = next(v for v in comps if v.component.id == component_id)
        return badges.badge(view.component.name, view.status)

    return _cached(f"badge:{component_id}", "image/svg+xml", build)


@bp.get("/status/embed.js")
@anonymous
def embed_script() -> Any:
    """The banner script for the organisation's own pages (it reads summary.json)."""
    script = Path(str(current_app.static_folder)) / "embed.js"
    resp = Response(script.read_bytes(), mimetype="text/javascript")
    resp.headers["Cache-Control"] = "public, max-age=300"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


# --- subscriptions -----------------------------------------------------------------------
def _no_store(resp: Any) -> Any:
    resp = current_app.make_response(resp)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/status/subscribe", methods=["GET", "POST"])
def subscribe() -> Any:
    """Subscribe to updates by email (double opt-in) or SMS (confirmed by reply)."""
    page = _page()
    if not page.audience:
        raise NotFound("this status page takes no subscriptions")
    errors: dict[str, str] = {}
    form = request.form
    languages = crisis().updates.languages(audience=page.audience, first=page.language)
    spoken = request.accept_languages.best_match([tag for tag, _ in languages]) or page.language
    if request.method == "POST":
        by_sms = form.get("via") == "sms"
        channel = page.sms_channel if by_sms else page.email_channel
        if not channel:
            raise ValidationFailed(
                "that kind of subscription is not offered here",
                details={"via": "not configured"},
            )
        try:
            pending = crisis().audience.request_subscription(
                audience=page.audience,
                email=None if by_sms else form.get("email"),
                phone=form.get("phone") if by_sms else None,
                region=form.get("region") or None,
                regions=page.regions,
                channel=channel,
                message=_confirmation_message,
                client=request.remote_addr or "?",
                policy=page.policy,
                language=form.get("language") or None,
            )
        except ValidationFailed as exc:
            errors = {k: str(v) for k, v in exc.details.items()}
        else:
            # The same words whether or not the address is subscribed already: this page must
            # not tell anyone who is on the list.
            if pending.medium == "email":
                flash(
                    "Check your inbox: unless this address is subscribed already, our email "
                    "has a link to confirm."
                )
            else:
                flash(
                    "Check your phone: unless this number is subscribed already, reply YES to "
                    "our text to confirm."
                )
            return redirect(url_for("public.subscribe"), code=303)
    return _no_store(
        (
            render_template(
                "subscribe.html",
                page=page,
                errors=errors,
                form=form,
                languages=languages,
                language=form.get("language") or spoken,
            ),
            422 if errors else 200,
        )
    )


def _confirmation_message(pending: Pending) -> tuple[str, str]:
    page = _page()
    if pending.medium == "sms":
        return (
            "",
            f"{page.name}: reply YES to get status updates by text. "
            "Reply STOP at any time to stop. Ignore this if you did not ask.",
        )
    link = f"{_base_url()}{url_for('public.confirm')}?token={pending.token}"
    return (
        f"Confirm your subscription to {page.name}",
        f"Someone (we hope you) asked for {page.name} updates at this address.\n\n"
        f"Confirm: {link}\n\nIf it was not you, ignore this email: nothing more will come.",
    )


@bp.route("/status/subscribe/confirm", methods=["GET", "POST"])
def confirm() -> Any:
    """Confirm an email subscription (a button, so link scanners cannot confirm for people)."""
    token = request.values.get("token", "")
    if request.method == "POST":
        crisis().audience.confirm_subscription(token=token)
        return _no_store(render_template("subscribed.html", page=_page()))
    return _no_store(render_template("subscribe_confirm.html", page=_page(), token=token))


@bp.route("/status/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    """Unsubscribe from the link in an email (POST: RFC 8058 one-click)."""
    if request.method == "POST":
        crisis().audience.unsubscribe(manage_token=token)
        return _no_store(render_template("unsubscribed.html", page=_page(), done=True))
    return _no_store(render_template("unsubscribed.html", page=_page(), done=False, token=token))
