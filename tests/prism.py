"""Stoplight Prism for the conformance tests: serve an official API description on loopback,
validating every request against it (a conforming one gets an example answer, a malformed
one 422 or the status the description gives for it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT

HOW = (
    "needs Stoplight Prism: `npm install --prefix .ci/node @stoplight/prism-cli` (as .ci/run "
    "does) or set CRISIS_PRISM"
)
SPECS = ROOT.parent / "shared"


def prism_binary() -> str | None:
    candidates = [
        os.environ.get("CRISIS_PRISM"),
        str(ROOT / ".ci/node/node_modules/.bin/prism"),
        shutil.which("prism"),
    ]
    return next((c for c in candidates if c and Path(c).exists()), None)


@contextmanager
def prism(spec: Path, log: Path, *, errors: bool = False, how: str = HOW) -> Iterator[str]:
    """Prism mocking ``spec``; yields its base URL. Skips (with how to get it) if missing."""
    binary = prism_binary()
    if binary is None or not spec.exists():
        pytest.skip(f"{how}; and the description at {spec}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [binary, "mock", "-h", "127.0.0.1", "-p", str(port)]
    if errors:
        args.append("--errors")
    with log.open("wb") as out:
        proc = subprocess.Popen([*args, str(spec)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "Prism is listening" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Prism did not start:\n" + log.read_text(errors="replace")[-2000:])
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request_violations(log: Path) -> list[str]:
    """The request violations Prism logged (response violations are the description's own)."""
    return [
        line.split("error", 1)[-1].strip()
        for line in log.read_text(errors="replace").splitlines()
        if "[VALIDATOR]" in line and "Violation: request." in line
    ]
