"""Accounts: users, logins (with backoff, never a lock-out), sessions and API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from engine.accounts._tables import api_tokens, users
from engine.accounts.rules import (
    SLACK_MEMBER,
    TOKEN_SCOPES,
    TOKEN_USE_RESOLUTION,
    login_keys,
    user_problems,
    zone_problem,
)
from engine.kernel import addresses, throttle
from engine.kernel.backoff import backoff_wait
from engine.kernel.errors import Conflict, NotFound, RateLimited, ValidationFailed
from engine.kernel.models import Actor, User
from engine.kernel.records import user_of
from engine.kernel.roles import Perm, require
from engine.kernel.security import hash_password, new_token, token_digest, verify_password
from engine.kernel.uow import Work

# Built once, run with the digest: every API request with a token asks it.
_TOKEN = (
    sa.select(
        users, api_tokens.c.id.label("token_id"), api_tokens.c.scope, api_tokens.c.last_used_at
    )
    .join(api_tokens, api_tokens.c.user_id == users.c.id)
    .where(
        api_tokens.c.token_hash == sa.bindparam("digest"),
        api_tokens.c.revoked_at.is_(None),
        users.c.active.is_(True),
    )
)


class Accounts:
    def __init__(self, work: Work) -> None:
        self.work = work

    def add_user(
        self,
        *,
        username: str,
        role: str,
        name: str | None = None,
        password: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        timezone: str = "",
        actor: Actor,
    ) -> User:
        """Create a user (an admin's decision; the CLI acts as its shell user, an admin)."""
        require(actor, Perm.ADMIN, "manage users")
        problems = user_problems(role=role, password=password)
        if (zone := zone_problem(timezone)) is not None:
            problems["timezone"] = zone
        if not username or not all(c.isalnum() or c in "._-@" for c in username):
            problems["username"] = "use letters, digits and . _ - @"
        if problems:
            raise ValidationFailed("the user could not be added", details=problems)
        with self.work.transaction() as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first():
                raise Conflict(f"user {username!r} exists already")
            uid = conn.execute(
                users.insert()
                .values(
                    username=username,
                    name=name or username,
                    role=role,
                    email=email,
                    phone=phone,
                    timezone=timezone,
                    password_hash=hash_password(password) if password else None,
                    active=True,
                    created_at=self.work.now(),
                )
                .returning(users.c.id)
            ).scalar_one()
            return user_of(conn.execute(sa.select(users).where(users.c.id == uid)).one())

    def find_user(self, *, username: str) -> User:
        with self.work.read() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        if row is None:
            raise NotFound(f"no user {username!r}")
        return user_of(row)

    def list_users(self) -> list[User]:
        with self.work.read() as conn:
            return [user_of(r) for r in conn.execute(sa.select(users).order_by(users.c.username))]

    def authenticate(self, *, username: str, password: str, client: str = "") -> User | None:
        """Return the active user with this password, or None; RateLimited when throttled.

        No hard lock-out (that would let anyone lock every comms lead out in a crisis): failed
        attempts slow down with backoff per (account, client), per client, and — gently, at
        most a minute — per account across all clients, counted in the database so every
        process agrees. An admin can clear an account's throttle.
        """
        now = self.work.now()
        keys = login_keys(username, client)
        with self.work.transaction() as conn:
            wait = max(
                backoff_wait(
                    rule,
                    failures=throttle.times(conn, bucket=b, key=k, since=now - rule.window),
                    now=now,
                )
                for b, k, rule in keys
            )
            if wait > 0:
                raise RateLimited(
                    f"too many failed attempts: try again in {int(wait + 0.999)} s",
                    retry_after=wait,
                )
            q = sa.select(users).where(users.c.username == username)
            row = conn.execute(q).first()
            ok = verify_password(row.password_hash if row else None, password)
            if row is not None and ok and row.active:
                throttle.clear(conn, bucket=keys[0][0], key=keys[0][1])
                return user_of(row)
            for b, k, _ in keys:
                throttle.hit(conn, bucket=b, key=k, now=now)
            return None

    def clear_login_throttle(self, *, actor: Actor, username: str) -> int:
        """Let an account log in again at once (from every client)."""
        require(actor, Perm.ADMIN, "clear login throttles")
        with self.work.transaction() as conn:
            n = throttle.clear(conn, bucket="login-account", key=username)
            return n + throttle.clear_prefix(conn, bucket="login-pair", prefix=f"{username}|")

    def throttles(self, *, hours: int = 24) -> list[dict[str, Any]]:
        """What the shared rate limits have counted lately (the admin's page)."""
        with self.work.read() as conn:
            return throttle.summary(conn, since=self.work.now() - timedelta(hours=hours))

    def create_token(
        self, *, username: str, name: str, actor: Actor, scope: str = "full"
    ) -> tuple[int, str]:
        """Create an API token for a user; the secret is returned once and stored hashed.

        ``scope`` narrows what the token may do below its user's role: ``read`` (GET only),
        ``metrics`` (/metrics only), ``monitoring`` (the monitoring hooks only), or ``full``.
        """
        require(actor, Perm.ADMIN, "manage API tokens")
        if scope not in TOKEN_SCOPES:
            raise ValidationFailed(
                "unknown token scope", details={"scope": f"one of {', '.join(TOKEN_SCOPES)}"}
            )
        name = name.strip()
        if not name or len(name) > 100:
            raise ValidationFailed(
                "the token needs a name", details={"name": "1 to 100 characters"}
            )
        user = self.find_user(username=username)
        secret = new_token()
        with self.work.transaction() as conn:
            tid = conn.execute(
                api_tokens.insert()
                .values(
                    user_id=user.id,
                    name=name,
                    token_hash=token_digest(secret),
                    created_at=self.work.now(),
                    scope=scope,
                )
                .returning(api_tokens.c.id)
            ).scalar_one()
        return int(tid), secret

    def update_user(
        self,
        *,
        actor: Actor,
        username: str,
        role: str | None = None,
        active: bool | None = None,
        password: str | None = None,
        slack_user: str | None = None,
    ) -> User:
        """Change a user's role, deactivate or reactivate them, set a new password, or link
        their Slack member id (``""`` unlinks)."""
        require(actor, Perm.ADMIN, "manage users")
        problems = user_problems(role=role, password=password)
        if slack_user and not SLACK_MEMBER.fullmatch(slack_user):
            problems["slack_user"] = (
                "a Slack member id, e.g. U024BE7LH (Slack: profile → ⋮ → Copy member ID)"
            )
        if actor.name == username and (active is False or role not in (None, "admin")):
            problems["username"] = "you cannot demote or deactivate yourself"
        if problems:
            raise ValidationFailed("the user could not be changed", details=problems)
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = role
        if active is not None:
            values["active"] = active
        if password is not None:
            values.update(password_hash=hash_password(password), failed_logins=0, locked_until=None)
        if slack_user is not None:
            values["slack_user"] = slack_user or None
        with self.work.transaction() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
            if row is None:
                raise NotFound(f"no user {username!r}")
            if slack_user:
                other = conn.execute(
                    sa.select(users.c.username).where(
                        users.c.slack_user == slack_user, users.c.id != row.id
                    )
                ).scalar()
                if other:
                    raise Conflict(f"Slack member {slack_user} is already linked to {other}")
            if password is not None or role not in (None, row.role) or active is False:
                # A new password, another role or deactivation ends every open session.
                values["session_version"] = users.c.session_version + 1
            if values:
                conn.execute(users.update().where(users.c.id == row.id).values(**values))
            return user_of(conn.execute(sa.select(users).where(users.c.id == row.id)).one())

    def set_time_zone(self, *, actor: Actor, timezone: str) -> User:
        """Set the zone the caller reads times in (``""``: follow their browser)."""
        timezone = timezone.strip()
        if (problem := zone_problem(timezone)) is not None:
            raise ValidationFailed("the time zone was not changed", details={"timezone": problem})
        with self.work.transaction() as conn:
            conn.execute(
                users.update().where(users.c.username == actor.name).values(timezone=timezone)
            )
            row = conn.execute(sa.select(users).where(users.c.username == actor.name)).first()
        if row is None:
            raise NotFound(f"no user {actor.name!r}")
        return user_of(row)

    def end_sessions(self, *, username: str) -> None:
        """Log the user out everywhere: every session cookie issued so far stops working."""
        with self.work.transaction() as conn:
            conn.execute(
                users.update()
                .where(users.c.username == username)
                .values(session_version=users.c.session_version + 1)
            )

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every API token (never its secret): owner, name, when created, last used, revoked."""
        t = api_tokens.c
        q = (
            sa.select(
                t.id,
                t.name,
                t.created_at,
                t.last_used_at,
                t.revoked_at,
                t.scope,
                users.c.username,
                users.c.role,
            )
            .join(users, users.c.id == t.user_id)
            .order_by(t.id.desc())
        )
        with self.work.read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def revoke_token(self, *, actor: Actor, token_id: int) -> None:
        require(actor, Perm.ADMIN, "manage API tokens")
        with self.work.transaction() as conn:
            result = conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=self.work.now())
            )
            if not result.rowcount:
                raise NotFound(f"no active token {token_id}")

    def user_for_token(self, *, token: str) -> User | None:
        found = self.token_identity(token=token)
        return found[0] if found else None

    def token_identity(self, *, token: str) -> tuple[User, str] | None:
        """The active user and scope of a token; notes when it was used (once a minute)."""
        with self.work.read() as conn:
            row = conn.execute(_TOKEN, {"digest": token_digest(token)}).first()
        if row is None:
            return None
        now = self.work.now()
        if row.last_used_at is None or now - row.last_used_at > TOKEN_USE_RESOLUTION:
            with self.work.transaction() as conn:
                conn.execute(
                    api_tokens.update()
                    .where(api_tokens.c.id == row.token_id)
                    .values(last_used_at=now)
                )
        return user_of(row), str(row.scope or "full")

    def user_by_slack(self, *, slack_user: str) -> User | None:
        """The active user linked to a Slack member id (approvals and commands from Slack)."""
        return self._active_user(users.c.slack_user == slack_user) if slack_user else None

    def slack_links(self) -> dict[str, str]:
        """username → Slack member id, for the users that have one."""
        with self.work.read() as conn:
            rows = conn.execute(
                sa.select(users.c.username, users.c.slack_user).where(
                    users.c.slack_user.is_not(None)
                )
            ).all()
        return {r.username: r.slack_user for r in rows}

    def user_by_phone(self, *, phone: str) -> User | None:
        wanted = addresses.normalise_phone(phone)
        return None if wanted is None else self._active_user(users.c.phone == wanted)

    def _active_user(self, where: Any) -> User | None:
        with self.work.read() as conn:
            row = conn.execute(sa.select(users).where(where, users.c.active.is_(True))).first()
        return user_of(row) if row else None
