"""A copy of the status page that stays up when we are down (issue 17).

On every public change (a published entry, a resolution) and once a day (the 90-day strips
move), the page, each incident's page, the feeds, every CAP alert, the Statuspage JSON, the
badges, the banner script and the stylesheet are rendered by the application itself — the same
bytes it serves — and written into a folder (``CRISIS_STATIC_COPY``) that any web server or CDN
can serve while the application or its database is down. Each file is written to a temporary
name and renamed, so a reader never sees half a file; several processes may write the same
copy. The subscribe form needs the application and is not copied.

The folder mirrors the URLs: ``/status`` is ``status/index.html``, ``/status/incidents/7`` is
``status/incidents/7.html``; nginx serves it with ``try_files $uri $uri/index.html $uri.html
=404`` (the README has the whole server block).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FIXED = (
    "/status",
    "/status/feed.atom",
    "/status/cap.atom",
    "/status/badge.svg",
    "/status/embed.js",
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/static/status.css",
)
FEED = "application/atom+xml"  # the feeds as a feed reader asks for them, not the HTML view


@dataclass(frozen=True)
class Copied:
    files: int
    bytes: int
    folder: Path


def paths(app: Any) -> Iterator[str]:
    """Every public URL the copy holds."""
    core = app.extensions["crisis.core"]
    page = app.extensions["crisis.status_page"]
    yield from FIXED
    for c in page.components:
        yield f"/status/badge/{c.id}.svg"
    for inc in core.public.incidents():
        yield f"/status/incidents/{inc.id}"
        for e in inc.entries:
            if e.update_id is not None:
                yield f"/status/cap/{e.update_id}.xml"


def file_for(folder: Path, path: str) -> Path:
    """Where the copy keeps ``path``: a URL without a file extension is a page."""
    rel = path.lstrip("/")
    last = rel.rsplit("/", 1)[-1]
    if "." not in last:
        rel = f"{rel}/index.html" if rel == "status" else f"{rel}.html"
    return folder / rel


def write(app: Any, folder: Path) -> Copied:
    """Render every public URL through the application and write it into ``folder``."""
    client = app.test_client()
    files = size = 0
    for path in paths(app):
        accept = FEED if path.endswith(".atom") else "*/*"
        resp = client.get(path, headers={"Accept": accept})
        body = resp.get_data()
        resp.close()
        if resp.status_code != 200:
            log.warning("static copy: %s answered %s; the copy keeps the last one",
                        path, resp.status_code)  # fmt: skip
            continue
        _atomic(file_for(folder, path), body)
        files, size = files + 1, size + len(body)
    return Copied(files, size, folder)


def _atomic(target: Path, body: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and target.read_bytes() == body:
        return  # unchanged: a CDN's validators stay as they are
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Copier:
    """Keeps the copy current in a background thread: it looks at what is published once a
    second (one small query) and writes the copy when that, or the day, has changed."""

    def __init__(self, app: Any, folder: Path, *, every: float = 1.0) -> None:
        self.app, self.folder, self.every = app, folder, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0  # how many times the copy was written, for tests and logs
        self._seen: tuple[Any, ...] | None = None

    def once(self) -> bool:
        """Write the copy if what is published (or the day) changed; whether it did."""
        core = self.app.extensions["crisis.core"]
        now = (core.public.version(), core.clock.now().date())
        if now == self._seen:
            return False
        copied = write(self.app, self.folder)
        self._seen = now
        self.written += 1
        log.info("static copy written: %s files, %s bytes, in %s",
                 copied.files, copied.bytes, copied.folder)  # fmt: skip
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.once()
            except Exception:  # the database may be down: the copy keeps the last one
                log.exception("static copy: not written this time")
            self._stop.wait(self.every)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="static-copy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
