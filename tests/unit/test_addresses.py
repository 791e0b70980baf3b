"""One normaliser and one check for phone numbers and email addresses (issue 21)."""

from __future__ import annotations

from engine.kernel.addresses import normalise_email, normalise_phone, problems


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


def test_a_language_tag_takes_one_form_and_is_checked() -> None:
    from engine.kernel.addresses import language_problem, normalise_language

    assert normalise_language(" FR_be ") == "fr-BE"
    assert normalise_language("en-gb") == "en-GB"
    assert normalise_language("zh-Hant-tw") == "zh-Hant-TW"
    assert normalise_language("") is None and normalise_language(None) is None
    assert language_problem("fr-BE") is None and language_problem(None) is None
    assert language_problem("x<y") and language_problem("français") and language_problem("f")
