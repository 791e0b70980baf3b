"""The reference atproto PDS (``@atproto/pds``) on loopback, beside an in-memory PLC directory,
for the Bluesky tests: ``tests/bluesky/pds.js`` starts both and creates the brand's account."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

MODULES = ROOT / ".ci/pds/node_modules"
HOW = (
    "needs the reference Bluesky PDS: `npm install --prefix .ci/pds @atproto/pds@0.4.217 "
    "@did-plc/server@0.0.1` (as .ci/run does) and Node.js 20"
)


@dataclass(frozen=True)
class Pds:
    url: str
    handle: str
    password: str
    did: str


@contextmanager
def pds(log: Path) -> Iterator[Pds]:
    """A PDS with one account (``brand.test``); skips, saying how to get it, when missing."""
    node = shutil.which("node")
    if node is None or not (MODULES / "@atproto/pds").is_dir():
        pytest.skip(HOW)
    env = dict(os.environ, NODE_PATH=str(MODULES), LOG_ENABLED="false")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [node, str(ROOT / "tests/bluesky/pds.js")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=err, env=env, text=True,
        )  # fmt: skip
    out = proc.stdout
    assert out is not None
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(out.readline()), daemon=True)
    reader.start()
    reader.join(timeout=90)
    try:
        if not line or not line[0].strip():
            proc.kill()
            pytest.fail("the PDS did not start:\n" + log.read_text(errors="replace")[-3000:])
        info = json.loads(line[0])
        yield Pds(info["url"], info["handle"], info["password"], info["did"])
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the script stops when its stdin ends
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()
