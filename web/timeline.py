"""The timeline written for people: one sentence per event ("Paged Dana Duty by SMS (step
1.1, duty-manager)") instead of its data as ``key=value``. The data stays in the API and the
audit chain; this is only how a page (and the live stream) says it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.kernel.models import Event

HOW = {"sms": "SMS", "voice": "voice call", "email": "email", "slack": "Slack", "push": "push"}

Names = Mapping[str, str]


def _people(to: Sequence[str], names: Names) -> str:
    """["dana/sms", "dana/voice", "ed/sms"] → "Dana Duty by SMS and voice call, Ed by SMS"."""
    by: dict[str, list[str]] = {}
    for item in to:
        who, _, how = str(item).partition("/")
        by.setdefault(who, []).append(HOW.get(how, how))
    return ", ".join(
        f"{names.get(who, who)}"
        + (f" by {' and '.join(h for h in hows if h)}" if any(hows) else "")
        for who, hows in by.items()
    )


def _list(values: Any) -> str:
    return ", ".join(str(v) for v in values) if values else ""


def _regions(values: Any, names: Names) -> str:
    """Region ids by the names people know them by (``names["region:lille"]``: "Lille")."""
    return ", ".join(names.get(f"region:{v}", str(v)) for v in values) if values else ""


def _named(field: str, value: Any, names: Names) -> Any:
    """A changed field's value as shown: regions by their names."""
    if field == "regions" and isinstance(value, list):
        return [names.get(f"region:{v}", v) for v in value]
    return value


def _declared(d: Mapping[str, Any], names: Names) -> str:
    where = f" in {_regions(d.get('regions'), names)}" if d.get("regions") else " everywhere"
    told = [
        f"{role}: {_people(t.get('to', []), names) or 'nobody reachable'}"
        for role, t in (d.get("stakeholders") or {}).items()
    ]
    tail = f"; told {'; '.join(told)}" if told else ""
    return f"Declared {d.get('severity', '')}{where}: {d.get('title', '')}{tail}"


def _paged(d: Mapping[str, Any], names: Names) -> str:
    roles = [str(n).removeprefix("role:") for n in d.get("notify", [])]
    who = _people(d.get("to", []), names) or "nobody could be reached"
    extra = []
    if d.get("deferred"):
        extra.append(f"held for quiet hours: {_people(d['deferred'], names)}")
    if d.get("unroutable"):
        extra.append(f"no way to reach {_list(d['unroutable'])}")
    more = f"; {'; '.join(extra)}" if extra else ""
    return f"Paged {who} (step {d.get('step', '?')}, {_list(roles)}){more}"


def _froze(d: Mapping[str, Any], names: Names) -> str:
    scope = d.get("scope") or {}
    what = [
        f"channels {_list(scope['channels'])}" if scope.get("channels") else "every channel",
        f"tags {_list(scope['tags'])}" if scope.get("tags") else "",
        f"regions {_regions(scope['regions'], names)}" if scope.get("regions") else "",
    ]
    platforms = f"; asked {_list(d['connectors'])} to pause" if d.get("connectors") else ""
    return f"Froze promos ({', '.join(w for w in what if w)}){platforms}"


def _approved(d: Mapping[str, Any], names: Names) -> str:
    how = f" (pre-approved at {d.get('severity')})" if d.get("preapproved") else ""
    over = f", overriding the policy: {d['override_reason']}" if d.get("override_reason") else ""
    return f"Approved update #{d.get('update')} revision {d.get('revision')}{how}{over}"


def _transitioned(d: Mapping[str, Any], names: Names) -> str:
    note = f" — {d['note']}" if d.get("note") else ""
    return f"{d.get('from')} → {d.get('to')} ({str(d.get('trigger', '')).replace('_', ' ')}){note}"


SAY: dict[str, Callable[[Mapping[str, Any], Names], str]] = {
    "declared": _declared,
    "paged": _paged,
    "froze": _froze,
    "approved": _approved,
    "transitioned": _transitioned,
    "acknowledged": lambda d, n: f"Acknowledged (via {d.get('via', 'the API')})",
    "drafted": lambda d, n: (
        f"Drafted update #{d.get('update')} for {d.get('audience')}"
        + (f" from {d['template']}" if d.get("template") else "")
        + (f" — {d['violations']} policy problem(s)" if d.get("violations") else "")
    ),
    "revised": lambda d, n: f"Revised update #{d.get('update')} (revision {d.get('revision')})",
    "published": lambda d, n: (
        f"Published update #{d.get('update')} to {d.get('audience')}: "
        f"{d.get('deliveries', 0)} message(s) queued"
    ),
    "no_recipients": lambda d, n: (
        f"Update #{d.get('update')} reached nobody in {d.get('audience')}: {d.get('hint', '')}"
    ),
    "rejected": lambda d, n: f"Rejected update #{d.get('update')}: {d.get('reason', '')}",
    "withdrawn": lambda d, n: f"Withdrew update #{d.get('update')}: {d.get('reason', '')}",
    "update_expired": lambda d, n: f"Update #{d.get('update')} expired unapproved",
    "approval_escalated": lambda d, n: (
        f"Update #{d.get('update')} waited too long: asked {d.get('role', 'the backup approver')}"
    ),
    "cadence_reminder": lambda d, n: (
        f"Public update overdue: reminded {d.get('role', '')} "
        f"({_people(d.get('to', []), n) or 'nobody reachable'})"
    ),
    "escalation_exhausted": lambda d, n: (
        "Every escalation step fired and nobody acknowledged: admins told"
    ),
    "escalation_replanned": lambda d, n: f"Paging re-planned for {d.get('severity')}",
    "amended": lambda d, n: (
        "Changed "
        + ", ".join(
            f"{k} from {_shown(_named(k, (d.get('before') or {}).get(k), n))} "
            f"to {_shown(_named(k, v, n))}"
            for k, v in (d.get("after") or {}).items()
        )
    ),
    "freeze_lifted": lambda d, n: f"Lifted promo freeze {d.get('freeze')}: {d.get('reason', '')}",
    "delivery_failed": lambda d, n: (
        f"A message on {d.get('channel')} failed: {d.get('status', '')}"
        + (f" ({d['code']})" if d.get("code") else "")
    ),
    "alert_joined": lambda d, n: f"Another alert from {d.get('source', 'monitoring')} joined",
    "alert_resolved": lambda d, n: f"An alert from {d.get('source', 'monitoring')} resolved",
    "monitoring_resolved": lambda d, n: "Monitoring reports every alert resolved",
    "resolved": lambda d, n: "Resolved",
}


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return _list(value) or "everywhere"
    return f"“{value}”" if value not in (None, "") else "nothing"


def describe(e: Event, names: Names | None = None) -> str:
    """One sentence for a person; an event this does not know says its own ``text``, or its
    type and data as before."""
    names = names or {}
    data = e.data or {}
    say = SAY.get(e.type)
    if say is not None:
        try:
            return say(data, names)
        except (AttributeError, KeyError, TypeError, ValueError):
            pass  # an older event's shape: fall back to what it holds
    if isinstance(data.get("text"), str):
        return str(data["text"])
    words = e.type.replace("_", " ").capitalize()
    rest = " ".join(f"{k}={v}" for k, v in data.items() if k != "version")
    return f"{words}: {rest}" if rest else words
