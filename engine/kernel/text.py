"""Text we refuse at every entrance: what no database stores — NUL bytes (PostgreSQL refuses
them) and unpaired surrogates (not encodable as UTF-8) — and the other characters XML 1.0
forbids (C0 controls but tab, newline and carriage return; U+FFFE, U+FFFF), which once made
every feed invalid for 90 days. Everything else in Unicode is welcome."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
PROBLEM = "contains a control character (or an unpaired surrogate) that cannot be stored"


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids: feeds stay valid whatever is stored."""
    return UNSTORABLE.sub("", text) if UNSTORABLE.search(text) else text


def unstorable(value: Any, path: str = "") -> Iterator[str]:
    """The paths (a.b.0) of strings in ``value`` that cannot be stored."""
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            yield path or "(body)"
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from unstorable(str(k), f"{path}.{k}".lstrip("."))
            yield from unstorable(v, f"{path}.{k}".lstrip("."))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from unstorable(v, f"{path}.{i}".lstrip("."))
