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
