"""The content calendar: scheduled posts, imports, the publisher and reviews of held posts.

The publisher claims due posts (``FOR UPDATE SKIP LOCKED``), takes the freeze gate FOR
SHARE, reads the active freezes and, in that one transaction, marks each post held or
published (queueing its send through the outbox). Creating a freeze takes the gate
exclusively first. So no post a freeze matches can be published after the freeze commits,
and creating a freeze costs the same however large the calendar is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.calendar._tables import posts
from engine.calendar.freezes import active_scopes, facts, gate_share
from engine.calendar.rules import holding
from engine.delivery import outbox
from engine.kernel.errors import Conflict, NotFound, ValidationFailed
from engine.kernel.text import PROBLEM, UNSTORABLE
from engine.kernel.uow import note_due
from engine.playbooks.channels import Channel, endpoint
from engine.playbooks.places import Places
from engine.store import Store

POST_MEDIA = ("social", "newsletter")
MAX_BODY = 5000
MAX_IMPORT_ROWS = 100_000


# --- posts --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PostIn:
    channel: str
    body: str
    publish_at: datetime
    tags: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


def check_post(
    raw: Mapping[str, Any],
    *,
    channels: Mapping[str, Channel],
    now: datetime,
    places: Places | None = None,
) -> tuple[PostIn | None, dict[str, str]]:
    """Validate one post's fields; return the post or the problems by field."""
    problems: dict[str, str] = {}
    channel = str(raw.get("channel") or "").strip()
    ch = channels.get(channel)
    if ch is None or ch.medium not in POST_MEDIA:
        usable = ", ".join(sorted(n for n, c in channels.items() if c.medium in POST_MEDIA))
        problems["channel"] = (
            f"{channel or '(empty)'!r} is not a social or newsletter channel (use one of: {usable})"
        )
    body = str(raw.get("body") or "").strip()
    if not body:
        problems["body"] = "a post needs a body"
    elif len(body) > MAX_BODY:
        problems["body"] = f"keep the body under {MAX_BODY} characters"
    publish_at = _instant(raw.get("publish_at"))
    if publish_at is None:
        problems["publish_at"] = "give a time with a zone, e.g. 2026-12-18T22:02:00Z"
    tags = _names(raw.get("tags"), "tags", problems)
    regions = _names(raw.get("regions"), "regions", problems)
    if places is not None and regions:
        ids, unknown = places.resolve("regions", list(regions))
        if unknown:
            problems["regions"] = places.problem("regions", unknown)
        regions = tuple(ids)
    if problems or publish_at is None:
        return None, problems
    return PostIn(channel, body, publish_at, tags, regions), {}


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def _names(value: Any, field: str, problems: dict[str, str]) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value if isinstance(value, list) else str(value).replace("|", ";").split(";")
    out = []
    for item in items:
        if not isinstance(item, str) or len(item.strip()) > 64:
            problems[field] = f"{field} are short names separated by ';'"
            return ()
        if item.strip():
            out.append(item.strip().lower())
    return tuple(dict.fromkeys(out))


def insert_post(conn: Connection, post: PostIn, *, author: str, now: datetime) -> int:
    note_due(conn, post.publish_at)
    return int(
        conn.execute(
            posts.insert()
            .values(
                channel=post.channel,
                body=post.body,
                publish_at=post.publish_at,
                tags=list(post.tags),
                regions=list(post.regions),
                author=author,
                state="scheduled",
                held_by=[],
                review=False,
                created_at=now,
                updated_at=now,
            )
            .returning(posts.c.id)
        ).scalar_one()
    )


def parse_import(data: bytes | str, *, content_type: str) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a CSV (header: channel,body,publish_at,tags,regions) or a JSON list.

    Returns (line or item number, fields); raises ValidationFailed for an unreadable file.
    """
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"the file is not UTF-8 (byte {exc.start})",
            details={"errors": [{"line": 1, "message": "not UTF-8"}]},
        ) from None
    bad = UNSTORABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise ValidationFailed(
            f"line {line} {PROBLEM}", details={"errors": [{"line": line, "message": PROBLEM}]}
        )
    if "json" in content_type or text.lstrip().startswith(("[", "{")):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(
                f"the JSON does not parse: {exc.msg} at line {exc.lineno}",
                details={"errors": [{"line": exc.lineno, "message": exc.msg}]},
            ) from None
        items = parsed.get("posts") if isinstance(parsed, dict) else parsed
        if not isinstance(items, list):
            raise ValidationFailed('send a JSON list of posts (or {"posts": [...]})')
        return [
            (i + 1, item if isinstance(item, dict) else {"_": item}) for i, item in enumerate(items)
        ]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        missing = {"channel", "body", "publish_at"} - set(reader.fieldnames or ())
        if missing:
            raise ValidationFailed(
                f"the CSV header must name channel, body and publish_at (missing: "
                f"{', '.join(sorted(missing))})",
                details={"errors": [{"line": 1, "message": "header incomplete"}]},
            )
        return [(reader.line_num, dict(row)) for row in reader]
    except csv.Error as exc:
        raise ValidationFailed(
            f"the CSV does not parse at line {reader.line_num}: {exc}",
            details={"errors": [{"line": reader.line_num, "message": str(exc)}]},
        ) from None


def import_posts(
    conn: Connection,
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    channels: Mapping[str, Channel],
    author: str,
    now: datetime,
    places: Places | None = None,
) -> int:
    """Validate every row, then insert all of them, or none (errors name their line)."""
    if len(rows) > MAX_IMPORT_ROWS:
        raise ValidationFailed(f"import at most {MAX_IMPORT_ROWS} posts at once")
    good: list[PostIn] = []
    errors: list[dict[str, Any]] = []
    for line, raw in rows:
        post, problems = check_post(raw, channels=channels, now=now, places=places)
        if post is None:
            errors += [{"line": line, "field": f, "message": m} for f, m in problems.items()]
        else:
            good.append(post)
    if errors:
        raise ValidationFailed(
            f"{len(errors)} problem(s); nothing was imported", details={"errors": errors}
        )
    for post in good:
        insert_post(conn, post, author=author, now=now)
    return len(good)


def _send_post(
    conn: Connection, row: Row[Any], channels: Mapping[str, Channel], now: datetime
) -> None:
    channel = channels.get(row.channel)
    outbox.enqueue(
        conn,
        kind="post",
        ref_id=row.id,
        channel=row.channel,
        address=endpoint(channel) if channel else f"sandbox:{row.channel}",
        subject=row.body.splitlines()[0][:120]
        if channel and channel.medium == "newsletter"
        else None,
        body=row.body,
        now=now,
        dedupe_key=f"post:{row.id}:{now.isoformat()}",
        meta={"post_id": row.id, "tags": list(row.tags or ())},
    )


def publish_due(
    store: Store,
    *,
    now: datetime,
    channels: Mapping[str, Channel],
    limit: int = 200,
    stamp: Callable[[], datetime] | None = None,
) -> int:
    """Publish or hold every due post (one transaction per batch); return how many.

    ``stamp`` reads the clock for ``published_at`` once the freeze gate is held, so a post
    never carries an earlier time than a freeze that committed before it (nor a later one
    than a freeze that followed it).
    """
    p = posts.c
    with store.transaction() as conn:
        rows = conn.execute(
            sa.select(posts)
            .where(p.state == "scheduled", p.publish_at <= now)
            .order_by(p.publish_at, p.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return 0
        gate_share(conn)
        now = stamp() if stamp else now
        scopes = active_scopes(conn)
        for row in rows:
            held = holding(scopes, facts(row))
            if held:
                conn.execute(
                    posts.update()
                    .where(p.id == row.id)
                    .values(state="held", held_by=held, review=False, updated_at=now)
                )
                continue
            conn.execute(
                posts.update()
                .where(p.id == row.id)
                .values(state="published", published_at=now, updated_at=now)
            )
            _send_post(conn, row, channels, now)
    return len(rows)


def next_post_due(store: Store) -> datetime | None:
    with store.engine.connect() as conn:
        value: datetime | None = conn.execute(
            sa.select(sa.func.min(posts.c.publish_at)).where(posts.c.state == "scheduled")
        ).scalar()
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def review_post(
    conn: Connection,
    *,
    post_id: int,
    action: str,
    now: datetime,
    channels: Mapping[str, Channel],
    publish_at: datetime | None = None,
) -> None:
    """A person decides on a held post: publish now, reschedule, or cancel."""
    p = posts.c
    row = conn.execute(sa.select(posts).where(p.id == post_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no post {post_id}")
    if row.state not in ("held", "scheduled"):
        raise Conflict(
            f"post {post_id} is {row.state}; only held or scheduled posts can be reviewed"
        )
    if action == "cancel":
        conn.execute(
            posts.update()
            .where(p.id == post_id)
            .values(state="cancelled", review=False, updated_at=now)
        )
        return
    gate_share(conn)
    still = holding(active_scopes(conn), facts(row))
    if still:
        raise Conflict(
            f"post {post_id} is still held by freeze(s) "
            f"{', '.join(map(str, still))}: lift them first, or cancel it"
        )
    if action == "publish":
        conn.execute(
            posts.update()
            .where(p.id == post_id)
            .values(state="published", published_at=now, review=False, held_by=[], updated_at=now)
        )
        _send_post(conn, row, channels, now)
    elif action == "reschedule":
        if publish_at is None or publish_at <= now:
            raise ValidationFailed(
                "reschedule to a time in the future",
                details={"publish_at": "a future time with a zone"},
            )
        conn.execute(
            posts.update()
            .where(p.id == post_id)
            .values(
                state="scheduled", publish_at=publish_at, review=False, held_by=[], updated_at=now
            )
        )
        note_due(conn, publish_at)
    else:
        raise ValidationFailed(
            "action must be publish, reschedule or cancel",
            details={"action": "publish | reschedule | cancel"},
        )
