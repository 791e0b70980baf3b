"""The composition root for marketing platforms: one adapter per configured connector.

Credentials come from the environment variables the channels file names; a connector that
lacks one (or a required option) is refused at start-up with what to set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from engine.kernel.errors import CrisisError
from engine.kernel.ports import MarketingPlatform
from engine.playbooks.connectors import Connector, missing
from notifiers.marketing.klaviyo import KlaviyoPlatform
from notifiers.marketing.mailchimp import MailchimpPlatform
from notifiers.marketing.mastodon import MastodonPlatform
from notifiers.marketing.sandbox import SandboxPlatform
from notifiers.marketing.sendgrid import SendGridPlatform


class ConnectorNotAvailable(CrisisError):
    code = "connector_not_available"


def build_platforms(
    connectors: Mapping[str, Connector], env: Mapping[str, str] | None = None
) -> dict[str, MarketingPlatform]:
    env = os.environ if env is None else env
    problems = [p for c in connectors.values() for p in missing(c, env)]
    if problems:
        raise ConnectorNotAvailable("; ".join(problems))
    return {name: _adapter(c, env) for name, c in connectors.items()}


def _secret(c: Connector, key: str, env: Mapping[str, str]) -> str:
    return env[c.credentials[key]]


def _adapter(c: Connector, env: Mapping[str, str]) -> MarketingPlatform:
    if c.kind == "sandbox":
        platform = SandboxPlatform(c.name)
        if c.options.get("seed") == "demo":
            seed_demo(platform)
        return platform
    if c.kind == "sendgrid":
        return SendGridPlatform(
            api_key=_secret(c, "api_key", env),
            name=c.name,
            host=c.options.get("base_url", "https://api.sendgrid.com"),
        )
    if c.kind == "klaviyo":
        return KlaviyoPlatform(
            api_key=_secret(c, "api_key", env), name=c.name, host=c.options.get("base_url", "")
        )
    if c.kind == "mailchimp":
        return MailchimpPlatform(
            api_key=_secret(c, "api_key", env),
            server=c.options["server"],
            name=c.name,
            host=c.options.get("base_url"),
        )
    if c.kind == "mastodon":
        return MastodonPlatform(
            base_url=c.options["base_url"],
            access_token=_secret(c, "access_token", env),
            name=c.name,
        )
    raise ConnectorNotAvailable(f"connector {c.name!r}: no adapter for kind {c.kind!r}")


def seed_demo(platform: SandboxPlatform, now: datetime | None = None) -> None:
    """What marketing has scheduled in the demo's sandbox platform."""
    now = now or datetime.now(UTC)
    platform.schedule(
        "sandbox-1", title="Christmas in Lille: 2 for 1", send_at=now + timedelta(hours=3),
        labels={"category": ["promo"], "list": ["lille-subscribers"]},
    )  # fmt: skip
    platform.schedule(
        "sandbox-2", title="Winter sale, every route", send_at=now + timedelta(hours=5),
        labels={"category": ["sale"]},
    )  # fmt: skip
    platform.schedule(
        "sandbox-3", title="New timetable from Sunday", send_at=now + timedelta(hours=8),
        labels={"category": ["service-news"]},
    )  # fmt: skip
