"""Text no database will store: NUL bytes (PostgreSQL refuses them) and unpaired surrogates
(not encodable as UTF-8). Everything else in Unicode is welcome."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
PROBLEM = "contains a NUL character or an unpaired surrogate"


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
