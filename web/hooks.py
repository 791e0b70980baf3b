"""Inbound hooks from Twilio: delivery receipts, SMS replies and voice keypresses.

Every request must carry a valid ``X-Twilio-Signature`` (twilio's RequestValidator, over the
public URL and the form parameters), or it is refused with 403 before anything is read.
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import Any, TypedDict
from xml.sax.saxutils import escape

from flask import Blueprint, Flask, Response, current_app, request
from twilio.request_validator import RequestValidator

from engine.kernel.errors import Conflict, Forbidden, NotFound
from engine.kernel.models import User
from notifiers.twilio_common import receipt_stage
from web.auth import crisis
from web.errors import ApiError

log = logging.getLogger("crisis.hooks")
bp = Blueprint("hooks", __name__, url_prefix="/hooks")
# Twilio's hooks carry no cookie credentials: the session is neither read nor written (no
# Set-Cookie on a machine's answer, and no session work on every status callback).
SESSIONLESS = frozenset({"hooks.twilio_status", "hooks.twilio_sms", "hooks.twilio_voice"})

ACK_WORDS = ("ACKNOWLEDGE", "ACK", "OK", "1")  # longest first
MAX_INCIDENT_DIGITS = 10
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_TEXT = (
    "crisiscomms: reply ACK <incident number> to acknowledge a page, "
    "e.g. ACK 12. Reply ACK alone for your most recent page."
)


def twilio_token_env(channels: Any) -> str:
    """The environment variable holding the Twilio auth token (from the channels file)."""
    for ch in channels.values():
        if ch.kind.startswith("twilio") and "auth_token" in ch.credentials:
            return str(ch.credentials["auth_token"])
    return "TWILIO_AUTH_TOKEN"


def twilio_token(app: Flask) -> str:
    """The Twilio auth token that signs the hooks (from the variable configuration names), or
    empty when it is not set."""
    return os.environ.get(app.config["TWILIO_TOKEN_ENV"], "")


def _verify() -> None:
    token = twilio_token(current_app)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token:
        log.error("Twilio hook refused: %s is not set", current_app.config["TWILIO_TOKEN_ENV"])
        raise ApiError(403, "this hook is not configured", code="forbidden")
    public = current_app.config.get("PUBLIC_URL")
    url = (public.rstrip("/") + request.full_path.rstrip("?")) if public else request.url
    if not signature or not _signed(RequestValidator(token), url, signature):
        raise ApiError(403, "X-Twilio-Signature is missing or does not match")


def _signed(validator: RequestValidator, url: str, signature: str) -> bool:
    """The signature over the URL as we see it (one HMAC: every status callback of a blast
    comes here); if that fails, twilio's own check, which also tries the URL with and without
    its port."""
    form = request.form.to_dict()
    if hmac.compare_digest(validator.compute_signature(url, form), signature):
        return True
    return bool(validator.validate(url, form, signature))


def parse_ack(body: str) -> tuple[bool, int | None]:
    """Read an acknowledgement reply: ``ACK``, ``ack 12``, ``OK #12.``, ``1``.

    Plain parsing rather than a regular expression, so a hostile reply costs time linear in
    its length. Returns (is an acknowledgement, the incident number it names or None).
    """
    text = body.strip()
    if text[-1:] in (".", "!"):
        text = text[:-1].rstrip()
    word = next((w for w in ACK_WORDS if text[: len(w)].upper() == w), None)
    if word is None:
        return False, None
    rest = text[len(word) :].strip().removeprefix("#").strip()
    if not rest:
        return True, None
    if rest.isascii() and rest.isdigit() and len(rest) <= MAX_INCIDENT_DIGITS:
        return True, int(rest)
    return False, None


def _once(kind: str) -> Response | None:
    """Refuse a replayed signed request: each MessageSid/CallSid is acted on once."""
    sid = request.form.get("MessageSid") or request.form.get("CallSid") or ""
    if not sid:
        raise ApiError(400, "MessageSid or CallSid is required")
    if crisis().delivery.first_sight(sid=f"{kind}:{sid}", kind=kind):
        return None
    log.warning("Twilio %s hook: %s was already handled; replay ignored", kind, sid)
    return twiml("")


def twiml(inner: str) -> Response:
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>', mimetype="text/xml"
    )


def _ack(user: User | None, incident_id: int | None, via: str) -> str:
    if user is None:
        return "This number is not on the crisiscomms roster."
    core = crisis()
    incident_id = incident_id or core.roster.last_paged_incident(user=user)
    if incident_id is None:
        return "No open incident has paged you. " + HELP_TEXT
    try:
        inc = core.incidents.acknowledge(actor=user.as_actor(), incident_id=incident_id, via=via)
    except Conflict as exc:
        return str(exc)
    except (Forbidden, NotFound):
        return f"You cannot acknowledge INC-{incident_id}."
    return f"Acknowledged {inc.ref}: you own it and paging has stopped."


@bp.post("/twilio/sms")
def twilio_sms() -> Any:
    """Handle an SMS reply: ACK [n] acknowledges a page; anything else gets help."""
    _verify()
    if (replayed := _once("sms")) is not None:
        return replayed
    body = request.form.get("Body", "")
    word = body.strip().upper()
    if word in STOP_WORDS or word in START_WORDS:
        opted_in = word in START_WORDS
        n = crisis().audience.set_subscription(
            phone=request.form.get("From", ""), opted_in=opted_in
        )
        reply = (
            f"You will receive crisiscomms updates again ({n} subscription(s))."
            if opted_in
            else "You will receive no more crisiscomms updates. Reply START to subscribe again."
        )
        return twiml(f"<Message>{escape(reply)}</Message>")
    is_ack, number = parse_ack(body)
    if not is_ack:
        return twiml(f"<Message>{escape(HELP_TEXT)}</Message>")
    user = crisis().accounts.user_by_phone(phone=request.form.get("From", ""))
    return twiml(f"<Message>{escape(_ack(user, number, 'sms'))}</Message>")


@bp.post("/twilio/voice")
def twilio_voice() -> Any:
    """Handle the keypress of a voice page: 1 acknowledges."""
    _verify()
    if (replayed := _once("voice")) is not None:
        return replayed
    digits = request.form.get("Digits", "")
    try:
        incident_id = int(request.args.get("incident", ""))
    except ValueError:
        return twiml("<Say>Sorry, this call is not about an incident.</Say><Hangup/>")
    if digits != "1":
        return twiml("<Say>Not acknowledged. Goodbye.</Say><Hangup/>")
    # On an outbound call the person we called is "To".
    user = crisis().accounts.user_by_phone(phone=request.form.get("To", ""))
    return twiml(f"<Say>{escape(_ack(user, incident_id, 'voice'))}</Say><Hangup/>")


class Receipt(TypedDict):
    """``Delivery.record_receipt``'s arguments, read from a status callback."""

    provider_id: str
    status: str
    code: str | None
    detail: str | None


def receipt_of(form: Any) -> Receipt | None:
    """A status callback's receipt (``Delivery.record_receipt``'s arguments), or None when it
    names no message or call or no status."""
    sid = form.get("MessageSid") or form.get("CallSid") or ""
    status = form.get("MessageStatus") or form.get("CallStatus") or ""
    if not sid or not status:
        return None
    stage = receipt_stage(status)
    return Receipt(
        provider_id=sid,
        status=stage,
        code=form.get("ErrorCode"),
        detail=status if stage != status else None,  # Twilio's own word, for people
    )


@bp.post("/twilio/status")
def twilio_status() -> Any:
    """Keep a message or call status callback; the outbox worker applies it to its row within
    a second, with the others (one INSERT here, so the callbacks of a blast keep up). A
    well-formed, correctly signed callback is answered before Flask (``web.callbacks``); the
    rest come here."""
    _verify()
    receipt = receipt_of(request.form)
    if receipt is None:
        raise ApiError(400, "MessageSid/CallSid and a status are required")
    crisis().delivery.record_receipt(**receipt)
    return Response(status=204)
