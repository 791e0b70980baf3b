"""Configuration: read once from the environment, typed, with secrets masked in ``repr``."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DB = "sqlite:///var/crisis.db"


class Secret(str):
    """A string that never shows itself in logs or reprs."""

    def __repr__(self) -> str:
        return "Secret('****')" if self else "Secret('')"


@dataclass(frozen=True)
class Config:
    database_url: str = DEFAULT_DB
    playbooks: tuple[Path, ...] = (Path("playbooks"),)
    channels_file: Path = Path("config/channels.yaml")
    status_page_file: Path = Path("config/status.yaml")
    secret_key: Secret = field(default_factory=lambda: Secret(""))
    audit_key: Secret = field(default_factory=lambda: Secret(""))
    host: str = "127.0.0.1"
    port: int = 8080
    auto_migrate: bool = True
    public_url: str = ""  # CRISIS_PUBLIC_URL: links in emails and feeds, Twilio signatures
    allowed_hosts: tuple[str, ...] = ()  # CRISIS_ALLOWED_HOSTS, beside the public URL's host
    public_freeze_status: bool = False  # CRISIS_PUBLIC_FREEZE_STATUS=1: anonymous GET /freeze
    secure_cookies: bool = False  # CRISIS_SECURE_COOKIES=1 behind HTTPS
    proxies: int = 0  # CRISIS_PROXIES: reverse proxies whose X-Forwarded-* headers we trust
    log_format: str = "json"  # CRISIS_LOG_FORMAT: json | text
    log_level: str = "INFO"  # CRISIS_LOG_LEVEL
    outbox_lease_seconds: float = 60.0  # CRISIS_OUTBOX_LEASE_SECONDS
    metrics_port: int | None = None  # CRISIS_METRICS_PORT: `crisis worker`'s own /metrics
    metrics_host: str = "127.0.0.1"  # CRISIS_METRICS_HOST
    static_copy: Path | None = None  # CRISIS_STATIC_COPY: keep a static copy of /status here

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        db = env.get("CRISIS_DATABASE_URL", DEFAULT_DB)
        books = tuple(
            Path(p) for p in env.get("CRISIS_PLAYBOOKS", "playbooks").split(os.pathsep) if p
        )
        return cls(
            database_url=db,
            playbooks=books or (Path("playbooks"),),
            channels_file=Path(env.get("CRISIS_CHANNELS", "config/channels.yaml")),
            status_page_file=Path(env.get("CRISIS_STATUS_PAGE", "config/status.yaml")),
            secret_key=Secret(env.get("CRISIS_SECRET_KEY", "")),
            audit_key=Secret(env.get("CRISIS_AUDIT_KEY", "")),
            host=env.get("CRISIS_HOST", "127.0.0.1"),
            port=int(env.get("CRISIS_PORT", "8080")),
            auto_migrate=env.get("CRISIS_AUTO_MIGRATE", "1" if db.startswith("sqlite") else "0")
            not in ("0", "false", "no"),
            public_url=env.get("CRISIS_PUBLIC_URL", "").rstrip("/"),
            allowed_hosts=tuple(
                h.strip() for h in env.get("CRISIS_ALLOWED_HOSTS", "").split(",") if h.strip()
            ),
            public_freeze_status=env.get("CRISIS_PUBLIC_FREEZE_STATUS") == "1",
            secure_cookies=env.get("CRISIS_SECURE_COOKIES", "0") == "1",
            proxies=int(env.get("CRISIS_PROXIES", "0") or 0),
            log_format=env.get("CRISIS_LOG_FORMAT", "json"),
            log_level=env.get("CRISIS_LOG_LEVEL", "INFO").upper(),
            outbox_lease_seconds=float(env.get("CRISIS_OUTBOX_LEASE_SECONDS", "60")),
            metrics_port=int(env["CRISIS_METRICS_PORT"])
            if env.get("CRISIS_METRICS_PORT")
            else None,
            metrics_host=env.get("CRISIS_METRICS_HOST", "127.0.0.1"),
            static_copy=Path(env["CRISIS_STATIC_COPY"]) if env.get("CRISIS_STATIC_COPY") else None,
        )

    def __repr__(self) -> str:
        return (
            f"Config(database_url={_mask_url(self.database_url)!r}, "
            f"playbooks={[str(p) for p in self.playbooks]}, channels={str(self.channels_file)!r}, "
            f"secret_key={self.secret_key!r}, host={self.host!r}, port={self.port})"
        )


def _mask_url(url: str) -> str:
    """Hide a password in a database URL (``postgresql://u:****@host/db``)."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":****"
    return f"{scheme}://{creds}@{host}"


def deployment_secret(config: Config) -> str:
    """CRISIS_SECRET_KEY; for the embedded default only, a random key kept in ./var.

    Sessions, the audit chain's key and subscribers' links all derive from it, so the web
    processes and the CLI must share it: a production deployment sets it explicitly.
    """
    if config.secret_key:
        return str(config.secret_key)
    if not config.database_url.startswith("sqlite"):
        raise RuntimeError("set CRISIS_SECRET_KEY: a production deployment needs its own key")
    path = Path("var") / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
