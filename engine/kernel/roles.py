"""Roles and what each may do.

Users hold one role. ``viewer < operator < comms_lead < admin`` is a ladder: each role may
do everything the one below it may. ``marketer`` sits beside it (viewer plus the content
calendar) and ``automation`` is for machine tokens only.
"""

from __future__ import annotations

from enum import StrEnum

from engine.kernel.errors import Forbidden
from engine.kernel.models import Actor


class Perm(StrEnum):
    READ = "read"
    DECLARE = "declare"
    TRANSITION = "transition"
    ACKNOWLEDGE = "acknowledge"
    DRAFT = "draft"
    PUBLISH = "publish"  # send to an audience whose playbook asks no approval
    APPROVE = "approve"
    LIFT_FREEZE = "lift_freeze"
    CREATE_FREEZE = "create_freeze"
    MANAGE_POSTS = "manage_posts"
    REVIEW_POSTS = "review_posts"
    MONITORING_HOOK = "monitoring_hook"
    ADMIN = "admin"


ROLES = ("viewer", "operator", "comms_lead", "marketer", "admin", "automation")
LADDER = ("viewer", "operator", "comms_lead", "admin")
GUARD_ROLES = ("operator", "comms_lead", "admin")

_VIEWER = {Perm.READ}
_OPERATOR = _VIEWER | {Perm.DECLARE, Perm.TRANSITION, Perm.ACKNOWLEDGE, Perm.DRAFT, Perm.PUBLISH}
_COMMS = _OPERATOR | {Perm.APPROVE, Perm.LIFT_FREEZE, Perm.CREATE_FREEZE, Perm.REVIEW_POSTS}

PERMISSIONS: dict[str, frozenset[Perm]] = {
    "viewer": frozenset(_VIEWER),
    "operator": frozenset(_OPERATOR),
    "comms_lead": frozenset(_COMMS),
    "marketer": frozenset(_VIEWER | {Perm.MANAGE_POSTS, Perm.REVIEW_POSTS}),
    "admin": frozenset(Perm),
    "automation": frozenset({Perm.READ, Perm.DECLARE, Perm.CREATE_FREEZE, Perm.MONITORING_HOOK}),
}


def may(role: str, perm: Perm) -> bool:
    """Whether ``role`` carries ``perm``."""
    return perm in PERMISSIONS.get(role, frozenset())


def satisfies(role: str, required: str) -> bool:
    """Whether ``role`` meets a guard naming ``required`` (higher rungs of the ladder do)."""
    if role == required:
        return True
    if role in LADDER and required in LADDER:
        return LADDER.index(role) >= LADDER.index(required)
    return False


def require(actor: Actor, perm: Perm, what: str) -> None:
    """Refuse unless the actor's role carries ``perm``: each use case decides this itself."""
    if not may(actor.role, perm):
        raise Forbidden(f"the {actor.role} role may not {what}", required=perm.value)
