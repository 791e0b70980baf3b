"""Issue 17, a copy that stays up: the status page, its feeds, CAP alerts, JSON and badges are
written to a folder on every public change, byte for byte what the application serves, and a
plain web server (Debian's nginx) serves them while the application and its database are
stopped."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from tests.integration.test_public import app, declare, publish
from web.static_copy import Copier, file_for, paths, write

__all__ = ["app"]  # the fixture this module uses
HOW = "needs nginx: `apt-get install nginx` (as .ci/run does)"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """nginx serving a folder as the README says; (its URL, the folder)."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip(HOW)
    # nginx's workers run as another user: the folder must be readable by all, as a real
    # deployment's would be (pytest's own temporary folders are not).
    root = Path(tempfile.mkdtemp(prefix="crisis-static-copy-"))
    root.chmod(0o755)
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
daemon off;
events {{ worker_connections 64; }}
http {{
  include /etc/nginx/mime.types;
  types {{ application/atom+xml atom; }}
  access_log off;
  client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;
  fastcgi_temp_path {tmp_path}/fastcgi; uwsgi_temp_path {tmp_path}/uwsgi;
  scgi_temp_path {tmp_path}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location / {{ try_files $uri $uri/index.html $uri.html =404; }}
  }}
}}
""")
    proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(tmp_path)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", root
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def get(url: str, accept: str = "*/*") -> tuple[bytes, str]:
    req = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.read(), resp.headers.get_content_type()


def test_the_copy_is_what_the_application_serves_and_nginx_serves_it_without_it(
    app: Flask, service: Crisis, clock: FakeClock, nginx: tuple[str, Path]
) -> None:
    from werkzeug.serving import make_server

    iid = declare(service, severity="sev2")
    publish(service, clock, iid, "Trains are held near Lille. Next update by 10:00 GMT.")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    wanted = list(paths(app))
    assert f"/status/incidents/{iid}" in wanted and "/status/badge/lille.svg" in wanted
    served = {p: get(base + p, "application/atom+xml" if p.endswith(".atom") else "*/*")
              for p in wanted}  # fmt: skip
    url, root = nginx
    copied = write(app, root)
    assert copied.files == len(wanted)
    # The application and its database stop; the plain web server goes on.
    server.shutdown()
    server.server_close()
    service.store.dispose()
    types = {}
    for p in wanted:
        body, kind = get(url + p)
        assert body == served[p][0], p  # byte for byte
        types[p] = kind
    assert types["/status"] == "text/html"
    assert types[f"/status/incidents/{iid}"] == "text/html"
    assert types["/status/feed.atom"] == "application/atom+xml"
    assert types["/api/v2/summary.json"] == "application/json"
    assert types["/status/badge.svg"] == "image/svg+xml"
    assert b"Trains are held near Lille" in get(url + "/status")[0]


def test_the_copy_follows_each_public_change_and_only_then(
    app: Flask, service: Crisis, clock: FakeClock, tmp_path: Path
) -> None:
    copier = Copier(app, tmp_path / "copy")
    assert copier.once() is True  # the first look writes it
    page = file_for(tmp_path / "copy", "/status")
    assert page.exists() and b"Trains are held" not in page.read_bytes()
    assert copier.once() is False  # nothing published since: nothing written
    iid = declare(service, severity="sev2")
    publish(service, clock, iid, "Trains are held near Lille. Next update by 10:00 GMT.")
    assert copier.once() is True
    assert b"Trains are held near Lille" in page.read_bytes()
    assert file_for(tmp_path / "copy", f"/status/incidents/{iid}").exists()
    assert copier.written == 2


def test_where_each_url_is_kept(tmp_path: Path) -> None:
    assert file_for(tmp_path, "/status") == tmp_path / "status" / "index.html"
    assert file_for(tmp_path, "/status/incidents/7") == tmp_path / "status/incidents/7.html"
    assert file_for(tmp_path, "/status/feed.atom") == tmp_path / "status/feed.atom"
    assert file_for(tmp_path, "/api/v2/summary.json") == tmp_path / "api/v2/summary.json"
