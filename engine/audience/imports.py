"""Subscriber lists as organisations bring them: CSV with a header row, or JSON lines; each
row an ``audience``, a ``phone`` and/or an ``email``, optionally a ``name``, a ``region`` and
a ``language``. Pure: text in, rows or every problem named by its line out."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from engine.kernel import addresses
from engine.kernel.text import UNSTORABLE

COLUMNS = ("audience", "name", "phone", "email", "region", "language")
MAX_PROBLEMS = 50  # named in the answer; the count says how many more


@dataclass(frozen=True)
class Person:
    line: int
    audience: str
    name: str | None
    phone: str | None
    email: str | None
    region: str | None
    language: str | None


def records(text: str, fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line, the row's fields) for each row; (line, why) for a row that cannot be read."""
    if fmt == "jsonl":
        for n, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield n, f"not JSON ({exc.msg})"
                continue
            yield (n, value) if isinstance(value, dict) else (n, "each line must be an object")
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        unknown = set(reader.fieldnames or []) - set(COLUMNS)
        if not reader.fieldnames or unknown or "audience" not in reader.fieldnames:
            named = ", ".join(repr(c)[1:-1][:40] for c in sorted(unknown))
            why = f"unknown columns {named}; " if unknown else ""
            yield 1, f"{why}the header names the columns: {', '.join(COLUMNS)} (audience required)"
            return
        for row in reader:
            extra = row.pop(None, None)
            if extra:
                yield reader.line_num, f"{len(extra)} more value(s) than the header has columns"
                continue
            yield reader.line_num, row
    except csv.Error as exc:  # unreadable from here on (a NUL, a broken quote): say where
        yield max(reader.line_num, 1), f"not CSV: {exc}"


def people(
    text: str,
    fmt: str,
    *,
    audiences: Collection[str],
    region: Callable[[str], str | None],
) -> tuple[list[Person], list[str]]:
    """Every row as a Person, and every problem as ``line N: …`` (all of them, so a file is
    fixed in one pass; the import is all or nothing)."""
    found: list[Person] = []
    problems: list[str] = []
    for line, row in records(text, fmt):
        if isinstance(row, str):
            problems.append(f"line {line}: {row}")
            continue
        why = _check(row, audiences)
        if why:
            problems.append(f"line {line}: {why}")
            continue
        place = None
        if _text(row, "region"):
            place = region(_text(row, "region") or "")
            if place is None:
                problems.append(f"line {line}: unknown region {_text(row, 'region')!r}")
                continue
        found.append(
            Person(
                line,
                _text(row, "audience") or "",
                _text(row, "name"),
                addresses.normalise_phone(_text(row, "phone")),
                addresses.normalise_email(_text(row, "email")),
                place,
                addresses.normalise_language(_text(row, "language")),
            )
        )
    return found, problems


def _check(row: dict[str, Any], audiences: Collection[str]) -> str | None:
    unknown = set(row) - set(COLUMNS)
    if unknown:
        return f"unknown field(s) {', '.join(sorted(map(str, unknown)))}"
    for k, v in row.items():
        if v is not None and not isinstance(v, str):
            return f"{k}: expected text"
        if v and UNSTORABLE.search(v):
            return f"{k}: contains a character that cannot be stored"
    audience = _text(row, "audience")
    if not audience:
        return "audience is required"
    if audiences and audience not in audiences:
        return f"unknown audience {audience!r} (audiences: {', '.join(sorted(audiences))})"
    phone = addresses.normalise_phone(_text(row, "phone"))
    email = addresses.normalise_email(_text(row, "email"))
    if not phone and not email:
        return "a phone number or an email address is required"
    bad = addresses.problems(email=email, phone=phone)
    if bad:
        return "; ".join(f"{k}: {v}" for k, v in bad.items())
    bad_language = addresses.language_problem(addresses.normalise_language(_text(row, "language")))
    return f"language: {bad_language}" if bad_language else None


def _text(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    return value.strip() or None if isinstance(value, str) else None
