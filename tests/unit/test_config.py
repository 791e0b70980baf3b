"""Configuration is read once from the environment into one typed object."""

from __future__ import annotations


def test_the_web_settings_are_read_once_into_config() -> None:
    """Issue 21: web read these from the environment itself, around Config."""
    from web.config import Config

    c = Config.from_env(
        {
            "CRISIS_PUBLIC_URL": "https://status.example.org/",
            "CRISIS_ALLOWED_HOSTS": "a.example.org, b.example.org",
            "CRISIS_PUBLIC_FREEZE_STATUS": "1",
            "CRISIS_SECURE_COOKIES": "1",
            "CRISIS_PROXIES": "2",
        }
    )
    assert c.public_url == "https://status.example.org"
    assert c.allowed_hosts == ("a.example.org", "b.example.org")
    assert (c.public_freeze_status, c.secure_cookies, c.proxies) == (True, True, 2)


def test_logging_lease_and_metrics_settings_are_read_into_config() -> None:
    """Issue 21: logs, the outbox lease and the worker's metrics port come from Config."""
    from web.config import Config

    default = Config.from_env({})
    assert (default.log_format, default.log_level, default.outbox_lease_seconds) == (
        "json",
        "INFO",
        60.0,
    )
    assert (default.metrics_port, default.metrics_host) == (None, "127.0.0.1")
    c = Config.from_env(
        {
            "CRISIS_LOG_FORMAT": "text",
            "CRISIS_LOG_LEVEL": "debug",
            "CRISIS_OUTBOX_LEASE_SECONDS": "3",
            "CRISIS_METRICS_PORT": "9464",
            "CRISIS_METRICS_HOST": "0.0.0.0",
        }
    )
    assert (c.log_format, c.log_level, c.outbox_lease_seconds) == ("text", "DEBUG", 3.0)
    assert (c.metrics_port, c.metrics_host) == (9464, "0.0.0.0")


def test_web_reads_the_environment_only_for_secrets_named_in_configuration() -> None:
    """Every other setting goes through Config: the remaining reads are credentials whose
    variable names come from channels.yaml (channels and connectors), the Twilio token, the
    Slack app's signing secret, and `--password-env`."""
    import re
    from pathlib import Path

    allowed = {
        "web/config.py",
        "web/runtime.py",
        "web/connectors.py",
        "web/logs.py",
        "web/hooks.py",
        "web/slack_hooks.py",
        "web/cli/people.py",
    }
    root = Path(__file__).resolve().parents[2]
    readers = {
        str(p.relative_to(root))
        for p in (root / "web").rglob("*.py")
        if re.search(r"os\.environ|os\.getenv", p.read_text())
    }
    assert readers <= allowed, readers - allowed
    literal = re.compile(r"os\.environ(?:\.get)?\(\s*\"CRISIS_|os\.environ\[\"CRISIS_")
    for p in readers - {"web/config.py"}:
        assert not literal.search((root / p).read_text()), f"{p} reads a CRISIS_ setting itself"
