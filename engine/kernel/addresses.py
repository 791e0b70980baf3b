"""Phone numbers and email addresses: one normaliser and one check for every entrance.

A subscriber added by an admin, one who subscribed on the status page and a roster person
replying to a page are matched by these forms, so they must be made the same way everywhere.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
PHONE = re.compile(r"^\+[1-9]\d{6,14}$")  # E.164
MAX_EMAIL = 254


def normalise_phone(phone: str | None) -> str | None:
    """Digits and a leading + only (``+44 7700 900123`` → ``+447700900123``); None if empty."""
    kept = "".join(ch for ch in (phone or "") if (ch.isascii() and ch.isdigit()) or ch == "+")
    return kept or None


def normalise_email(email: str | None) -> str | None:
    """One form per mailbox: trimmed and lower-cased (``Ann@Example.org`` is ann@example.org)."""
    return (email or "").strip().lower() or None


def problems(*, email: str | None, phone: str | None) -> dict[str, str]:
    """What is wrong with already-normalised contact details (empty: fine)."""
    found: dict[str, str] = {}
    if email and (len(email) > MAX_EMAIL or not EMAIL.match(email)):
        found["email"] = "that does not look like an email address"
    if phone and not PHONE.match(phone):
        found["phone"] = "give the number in international form, e.g. +447700900123"
    return found


LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,2}$")  # fr, en-GB, zh-Hant-TW


def normalise_language(language: str | None) -> str | None:
    """One form per language tag, as messages are matched to it: ``fr-BE``, ``fr``; None if
    empty (the subscriber gets the update's own language)."""
    tag = (language or "").strip().replace("_", "-")
    if not tag:
        return None
    head, *rest = tag.split("-")
    return "-".join([head.lower(), *(r.upper() if len(r) == 2 else r for r in rest)])


def language_problem(language: str | None) -> str | None:
    """Why an already-normalised language tag is not one (None: it is, or it is empty)."""
    if language and not LANGUAGE.match(language):
        return f"expected a language tag such as fr or en-GB, got {language[:20]!r}"
    return None
