"""One JSON POST, with errors classified the way the outbox needs them."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from engine.kernel.errors import SendFailed


def post_json(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    timeout: float,
    opener: Callable[..., Any] = urllib.request.urlopen,
    what: str = "webhook",
) -> tuple[int, bytes]:
    """POST ``body``; return (status, response body) or raise SendFailed.

    429, 5xx and network errors are transient (Retry-After honoured); other 4xx permanent.
    """
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with opener(req, timeout=timeout) as resp:
            return int(getattr(resp, "status", 200)), resp.read()
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response's socket
        retry = exc.headers.get("Retry-After") if exc.headers else None
        transient = exc.code == 429 or exc.code >= 500
        raise SendFailed(
            f"{what} answered {exc.code}",
            permanent=not transient,
            code=str(exc.code),
            retry_after=float(retry) if retry and retry.isdigit() else None,
            throttled=exc.code == 429,
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise SendFailed(
            f"{what} unreachable: {exc}", permanent=False, code="unreachable"
        ) from None
