"""One normaliser and one check for phone numbers and email addresses (issue 21)."""

from __future__ import annotations

from engine.addresses import normalise_email, normalise_phone, problems


def test_phones_and_emails_take_one_form() -> None:
    assert normalise_phone("+44 7700 900-123") == "+447700900123"
    assert normalise_phone("+44 ٧٧٠٠") == "+44"  # other scripts' digits are not kept
    assert normalise_phone("  ") is None
    assert normalise_email("  Ann@Example.ORG ") == "ann@example.org"
    assert normalise_email("") is None


def test_the_one_check() -> None:
    assert problems(email="ann@example.org", phone="+447700900123") == {}
    assert set(problems(email="not-an-address", phone="07700900123")) == {"email", "phone"}
    assert "email" in problems(email="a" * 250 + "@example.org", phone=None)


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
