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
