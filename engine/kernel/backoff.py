"""Backoff after failed attempts: free attempts, then doubling waits up to a cap (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Backoff:
    """Free attempts, then waits doubling from ``first`` up to ``cap``."""

    free: int
    first: timedelta
    cap: timedelta
    window: timedelta


def backoff_wait(rule: Backoff, *, failures: Sequence[datetime], now: datetime) -> float:
    """Seconds still to wait before another attempt, given the failures in the window."""
    recent = sorted(f for f in failures if f > now - rule.window)
    if len(recent) < rule.free:
        return 0.0
    wait = min(rule.first * 2 ** (len(recent) - rule.free), rule.cap)
    return float(max(0.0, (recent[-1] + wait - now).total_seconds()))
