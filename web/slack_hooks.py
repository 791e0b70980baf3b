"""Slack's inbound requests: the approval cards' buttons (and the reject dialog) and the
``/incident`` slash command.

Every request is checked before anything in it is read: Slack's ``X-Slack-Signature`` (HMAC
SHA-256 with the app's signing secret over ``v0:<timestamp>:<body>``), a timestamp at most
five minutes old, and a signature never seen before (a replayed request is refused). The
Slack member is mapped to the crisiscomms user linked to it (``crisis users link-slack``);
that user's role decides, through the same use cases as the web and the API — the
two-person rule included. An unlinked member, a refused decision or a bad command gets an
answer only they see.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import time
from typing import Any

from flask import Response, current_app, jsonify, request
from slack_sdk.signature import SignatureVerifier

from engine.kernel.errors import CrisisError, ValidationFailed
from engine.kernel.models import User
from engine.kernel.roles import Perm, may
from notifiers.slack import APPROVE, REJECT, SlackBotNotifier, escape, reject_view
from web.auth import crisis
from web.errors import ApiError
from web.hooks import bp

log = logging.getLogger("crisis.hooks.slack")
MAX_AGE = 300  # seconds: Slack's own advice for refusing replays
USAGE = (
    "Usage: `/incident declare <playbook> <sev1|sev2|sev3> <region[,region]|-> <title…>` — "
    "e.g. `/incident declare rail-disruption sev2 Lille Trains stopped north of Lille`"
)


def slack_signing_env(channels: Any) -> str:
    """The environment variable that holds the Slack app's signing secret."""
    for ch in channels.values():
        if ch.kind == "slack_bot" and "signing_secret" in ch.credentials:
            return str(ch.credentials["signing_secret"])
    return "SLACK_SIGNING_SECRET"


def _verify() -> None:
    name = current_app.config["SLACK_SIGNING_ENV"]
    secret = os.environ.get(name, "")
    if not secret:
        log.error("Slack hook refused: %s is not set", name)
        raise ApiError(403, "this hook is not configured", code="forbidden")
    stamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not stamp.isdigit() or not signature:
        raise ApiError(403, "X-Slack-Signature and X-Slack-Request-Timestamp are required")
    if abs(time.time() - int(stamp)) > MAX_AGE:
        raise ApiError(403, "the request is too old (or the clocks disagree): refused")
    body = request.get_data(cache=True)
    verifier = SignatureVerifier(secret)
    expected = verifier.generate_signature(timestamp=stamp, body=body)
    if expected is None or not _same(expected, signature):
        raise ApiError(403, "X-Slack-Signature does not match")
    digest = hashlib.sha256(signature.encode()).hexdigest()[:40]
    if not crisis().delivery.first_sight(sid=f"slack:{digest}", kind="slack"):
        log.warning("Slack request replayed (same signature); refused")
        raise ApiError(403, "this request was already handled (a replay): refused")


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def _client() -> SlackBotNotifier | None:
    """The bot that answers in Slack (the first slack_bot channel's token)."""
    found = current_app.extensions.get("crisis.slack")
    if found is None:
        from web.runtime import slack_client

        found = slack_client(crisis())
        current_app.extensions["crisis.slack"] = found
    return found or None


def _tell(channel: str, user: str, text: str) -> None:
    client = _client()
    if client is None or not channel:
        log.warning("no Slack bot to answer %s: %s", user, text)
        return
    try:
        client.ephemeral(channel=channel, user=user, text=text)
    except CrisisError as exc:
        log.warning("could not answer in Slack: %s", exc)


def _user(member: str) -> User | None:
    return crisis().accounts.user_by_slack(slack_user=member) if member else None


NOT_LINKED = (
    "Your Slack account is not linked to a crisiscomms user. An admin can link it: "
    "`crisis users link-slack <username> {member}`."
)


@bp.post("/slack/interactions")
def slack_interactions() -> Any:
    """Handle a button on an approval card, or the reject dialog's submission."""
    _verify()
    try:
        payload = json.loads(request.form.get("payload", ""))
    except ValueError:
        raise ApiError(400, "payload must be JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "payload must be a JSON object")
    kind = payload.get("type")
    if kind == "block_actions":
        _button(payload)
        return Response(status=200)
    if kind == "view_submission":
        return _rejection(payload)
    return Response(status=200)  # other interactions: nothing to do


def _button(payload: dict[str, Any]) -> None:
    member = str((payload.get("user") or {}).get("id", ""))
    channel = str((payload.get("channel") or {}).get("id", ""))
    actions = payload.get("actions") or [{}]
    action = actions[0] if isinstance(actions[0], dict) else {}
    update_id, revision = _ids(str(action.get("value", "")))
    user = _user(member)
    if user is None:
        _tell(channel, member, NOT_LINKED.format(member=member))
        return
    if action.get("action_id") == APPROVE:
        try:
            crisis().updates.approve_update(
                actor=user.as_actor(), update_id=update_id, revision=revision
            )
        except CrisisError as exc:
            _tell(channel, member, f"Update #{update_id} was not approved: {exc}")
        else:
            log.info("update %s approved from Slack by %s", update_id, user.username)
        return
    if action.get("action_id") == REJECT:
        if not may(user.role, Perm.APPROVE):
            _tell(channel, member, f"The {user.role} role may not reject updates.")
            return
        client = _client()
        if client is not None:
            view = reject_view(update_id, revision, channel=channel)
            try:
                client.open_view(trigger_id=str(payload.get("trigger_id", "")), view=view)
            except CrisisError as exc:
                _tell(channel, member, f"Could not open the reject dialog: {exc}")


def _rejection(payload: dict[str, Any]) -> Any:
    view = payload.get("view") or {}
    if view.get("callback_id") != REJECT:
        return Response(status=200)
    member = str((payload.get("user") or {}).get("id", ""))
    update_id, revision = _ids(str(view.get("private_metadata", "")))
    values = (view.get("state") or {}).get("values") or {}
    reason = str(((values.get("reason") or {}).get("reason") or {}).get("value") or "")
    user = _user(member)
    if user is None:
        return _field_error(NOT_LINKED.format(member=member))
    try:
        current = crisis().updates.get_update(update_id=update_id)
        if current["revision"] != revision:
            return _field_error(
                f"Update #{update_id} was revised (now revision {current['revision']}): "
                "look at it again before rejecting."
            )
        crisis().updates.reject_update(actor=user.as_actor(), update_id=update_id, reason=reason)
    except ValidationFailed as exc:
        return _field_error("; ".join(str(v) for v in exc.details.values()) or str(exc))
    except CrisisError as exc:
        return _field_error(str(exc))
    log.info("update %s rejected from Slack by %s", update_id, user.username)
    return Response(status=200)  # closes the dialog; the card shows the rejection


def _field_error(text: str) -> Any:
    return jsonify(response_action="errors", errors={"reason": text[:300]})


def _ids(value: str) -> tuple[int, int]:
    parts = value.split(":")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        raise ApiError(400, "the action does not name an update and a revision")
    return int(parts[0]), int(parts[1])


@bp.post("/slack/commands")
def slack_command() -> Any:
    """Handle ``/incident declare …`` (and ``/incident help``)."""
    _verify()
    form = request.form
    member = form.get("user_id", "")
    try:
        words = shlex.split(form.get("text", ""))
    except ValueError:
        return _private("That command has an unclosed quote. " + USAGE)
    if not words or words[0] in ("help", "?"):
        return _private(USAGE)
    if words[0] != "declare" or len(words) < 5:
        return _private(USAGE)
    user = _user(member)
    if user is None:
        return _private(NOT_LINKED.format(member=member))
    playbook, severity, where, title = words[1], words[2].lower(), words[3], " ".join(words[4:])
    regions = [] if where == "-" else [r.strip() for r in where.split(",") if r.strip()]
    try:
        inc = crisis().incidents.declare(
            actor=user.as_actor(), playbook=playbook, severity=severity, title=title,
            regions=regions,
        )  # fmt: skip
    except ValidationFailed as exc:
        why = "; ".join(f"{k}: {v}" for k, v in exc.details.items()) or str(exc)
        return _private(f"Not declared: {why}")
    except CrisisError as exc:
        return _private(f"Not declared: {exc}")
    log.info("INC-%s declared from Slack by %s", inc.id, user.username)
    link = current_app.config.get("LINK_BASE", "").rstrip("/") + f"/incidents/{inc.id}"
    text = (
        f":rotating_light: *INC-{inc.id}* declared by {escape(user.name or user.username)}: "
        f"{inc.severity.upper()} {escape(inc.title)} ({escape(playbook)}"
        + (f", {escape(', '.join(inc.regions))}" if inc.regions else "")
        + f") — <{link}|open it>"
    )
    return jsonify(response_type="in_channel", text=text)


def _private(text: str) -> Any:
    return jsonify(response_type="ephemeral", text=text)
