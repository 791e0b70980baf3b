"""Keys kept outside the database: what makes the audit chain and unsubscribe links unforgeable.

Someone with write access to the database could otherwise recompute an unkeyed hash chain
after changing an approver, or read every subscriber's unsubscribe capability. Both are now
HMACs under keys derived from the deployment's secret (``CRISIS_SECRET_KEY``, or its own
``CRISIS_AUDIT_KEY``), which the database never holds. The composition root builds ``Keys``
and hands them to the store; code that appends events or builds links asks the connection.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from engine.store.db import KEYS_OPTION


@dataclass(frozen=True)
class Keys:
    audit: bytes = field(repr=False)
    links: bytes = field(repr=False)
    development: bool = False

    def __repr__(self) -> str:
        return f"Keys(development={self.development})"

    @classmethod
    def derive(cls, secret: str, *, audit: str = "") -> Keys:
        """Keys from the deployment secret (an explicit audit key wins for the chain)."""
        if not secret:
            raise ValueError("a secret is needed to derive keys")
        master = secret.encode()
        return cls(
            audit=audit.encode() if audit else _sub(master, "audit-chain"),
            links=_sub(master, "subscriber-links"),
        )

    def link_token(self, kind: str, ident: int) -> str:
        """A capability for one subscriber (``kind`` e.g. unsubscribe): id and its HMAC."""
        mac = hmac.new(self.links, f"{kind}:{ident}".encode(), hashlib.sha256).digest()
        return f"{ident}.{base64.urlsafe_b64encode(mac[:18]).decode()}"

    def read_link_token(self, kind: str, token: str) -> int | None:
        """The subscriber id a capability names, if it is genuine."""
        ident, _, _ = token.partition(".")
        if not (ident.isascii() and ident.isdigit()) or len(ident) > 12:
            return None
        expected = self.link_token(kind, int(ident))
        return int(ident) if hmac.compare_digest(expected, token) else None


# For tests and a development checkout without configuration: never for a deployment, which
# always has a secret (the embedded default makes one in ./var, PostgreSQL requires one).
# Processes a test starts get CRISIS_SECRET_KEY=DEVELOPMENT_SECRET, so they share these keys.
DEVELOPMENT_SECRET = "crisiscomms-development-secret-never-for-a-deployment"


def _sub(master: bytes, purpose: str) -> bytes:
    return hmac.new(master, purpose.encode(), hashlib.sha256).digest()


DEVELOPMENT = dataclasses.replace(Keys.derive(DEVELOPMENT_SECRET), development=True)


def of(conn: Connection) -> Keys:
    """The keys of the store this connection belongs to."""
    found = conn.get_execution_options().get(KEYS_OPTION)
    return found if isinstance(found, Keys) else DEVELOPMENT
