"""Regular expressions that run in linear time, for every pattern that sees outside input.

Python's ``re`` backtracks: a pattern such as ``\\s*#?\\s*(\\d+)?\\s*$`` takes seconds on a few
hundred spaces, and an SMS, a log line, an alert label or a playbook author's ``policy.forbid``
rule can all be written to hit that. RE2 (``google-re2``) guarantees time linear in the input,
at the cost of the features that need backtracking (backreferences, lookaround); a pattern
using one is refused when it is compiled, not run slowly later.
"""

from __future__ import annotations

from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported to the author, not to stderr


class PatternError(ValueError):
    """A pattern RE2 cannot run (bad syntax, or a backtracking-only feature)."""


def pattern(source: str) -> Any:
    """Compile ``source`` for RE2, or raise PatternError saying why not."""
    try:
        return re2.compile(source, options=_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(str(reason)) from None


def safe_text(text: str) -> str:
    """``text`` encodable as UTF-8 (RE2's input): lone surrogates become escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
