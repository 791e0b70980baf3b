"""Bluesky through the real SDK against the reference PDS on loopback (tests/pds.py): a thread
of three updates created and read back from the repository, link facets at the right bytes,
the 300-grapheme limit, a revoked app password; the faults a PDS can answer (429 with its
reset, 5xx, a timeout) from a loopback stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from atproto import Client

from engine.kernel.errors import SendFailed
from engine.kernel.ports import OutboundMessage
from notifiers.bluesky import BlueskyNotifier
from tests.fakes.http import serve, silent
from tests.pds import Pds, pds


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pds]:
    with pds(tmp_path_factory.mktemp("pds") / "pds.log") as p:
        yield p


def msg(body: str, n: int = 1, **meta: Any) -> OutboundMessage:
    return OutboundMessage(
        delivery_id=n, kind="update", channel="bluesky", medium="social", address="@brand",
        body=body, subject="INC-7", meta={"incident_id": 7, "locale": "en-GB"} | meta,
    )  # fmt: skip


def records(p: Pds) -> list[Any]:
    reader = Client(base_url=p.url)
    reader.login(p.handle, p.password, fetch_bsky_profile=False)
    got = reader.com.atproto.repo.list_records(
        {"repo": p.did, "collection": "app.bsky.feed.post", "limit": 100}
    )
    reader.request.close()
    return sorted(got.records, key=lambda r: r.value.created_at)


@pytest.fixture
def brand(server: Pds) -> Iterator[BlueskyNotifier]:
    n = BlueskyNotifier(handle=server.handle, app_password=server.password, base_url=server.url)
    yield n
    n.close()


def test_a_thread_of_three_updates_is_built_and_read_back(
    server: Pds, brand: BlueskyNotifier
) -> None:
    n = brand
    first = n.send(msg("Trains between Lille and London are stopped. Next update by 22:15 GMT."))
    second = n.send(msg("Still stopped. Next update by 22:45 GMT.", 2,
                        thread_root=first.provider_id, reply_to=first.provider_id))  # fmt: skip
    third = n.send(msg("Trains are moving again. Details: https://status.example.org/inc/7", 3,
                       thread_root=first.provider_id, reply_to=second.provider_id))  # fmt: skip
    ids = [r.provider_id.split("|")[0] for r in (first, second, third)]
    posts = {r.uri: r for r in records(server)}
    assert set(ids) <= set(posts)
    a, b, c = (posts[i].value for i in ids)
    assert a.reply is None and a.langs == ["en"]
    assert b.reply.root.uri == ids[0] and b.reply.parent.uri == ids[0]
    assert c.reply.root.uri == ids[0] and c.reply.parent.uri == ids[1]
    assert c.reply.parent.cid == second.provider_id.split("|")[1]
    [facet] = c.facets
    raw = c.text.encode()
    assert raw[facet.index.byte_start : facet.index.byte_end] == b"https://status.example.org/inc/7"
    assert facet.features[0].uri == "https://status.example.org/inc/7"


def test_link_facets_count_bytes_not_characters(server: Pds, brand: BlueskyNotifier) -> None:
    n = brand
    text = "Arrêt à Lille — détails : www.example.org/arrêts 🚆"
    uri = n.send(msg(text, 4)).provider_id.split("|")[0]
    [post] = [r.value for r in records(server) if r.uri == uri]
    [facet] = post.facets
    assert post.text.encode()[facet.index.byte_start : facet.index.byte_end].decode() == (
        "www.example.org/arrêts"
    )
    assert facet.features[0].uri == "https://www.example.org/arrêts"


def test_more_than_300_graphemes_is_refused_before_the_pds(brand: BlueskyNotifier) -> None:
    n = brand
    flag = "\U0001f1eb\U0001f1f7"  # one grapheme, two code points, eight bytes
    n.send(msg(flag * 300, 5))  # 600 code points, 300 graphemes, 2,400 bytes: taken
    with pytest.raises(SendFailed) as info:
        n.send(msg("x" * 301, 6))
    assert info.value.permanent and info.value.provider_code == "too_long"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme of 18 bytes
    with pytest.raises(SendFailed) as heavy:  # 300 graphemes, but 5,400 bytes
        n.send(msg(family * 300, 6))
    assert "5400 bytes; Bluesky takes 3000 bytes" in str(heavy.value)


def test_a_revoked_app_password_is_kept_retrying_and_says_so(server: Pds) -> None:
    n = BlueskyNotifier(handle=server.handle, app_password="revoked", base_url=server.url)
    with pytest.raises(SendFailed) as info:
        n.send(msg("Trains are stopped.", 7))
    assert not info.value.permanent and info.value.provider_code == "401"
    assert "Bluesky (signing in) answered 401 token rejected" in str(info.value)
    assert "revoked" not in repr(n)
    n.close()


class StandIn:
    """A PDS that signs in, then answers createRecord with the queued faults."""

    def __init__(self) -> None:
        self.faults: list[tuple[int, Any, dict[str, str]]] = []
        self.created = 0

    def route(self, method: str, path: str, query: Any, body: Any, headers: Any) -> Any:
        if path == "/xrpc/com.atproto.server.createSession":
            return 200, {"did": "did:plc:brand", "handle": "brand.test", "accessJwt": _jwt(),
                         "refreshJwt": _jwt()}, {}  # fmt: skip
        if path == "/xrpc/com.atproto.server.getSession":
            return 200, {"did": "did:plc:brand", "handle": "brand.test"}, {}
        if path == "/xrpc/com.atproto.repo.createRecord":
            if self.faults:
                return self.faults.pop(0)
            self.created += 1
            return 200, {"uri": f"at://did:plc:brand/app.bsky.feed.post/3k{self.created}",
                         "cid": "bafyreib2rxk3rh6kzwq"}, {}  # fmt: skip
        return 404, {"error": "MethodNotImplemented"}, {}


def _jwt() -> str:
    import base64
    import json
    import time

    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    claims = {"exp": int(time.time()) + 3600, "iat": int(time.time()), "sub": "did:plc:brand"}
    return f"{part({'alg': 'ES256K'})}.{part(claims)}.c2ln"


def test_rate_limits_server_errors_and_timeouts_are_retried() -> None:
    import time

    stand_in = StandIn()
    with serve(stand_in.route) as url:
        n = BlueskyNotifier(handle="brand.test", app_password="pw", base_url=url, timeout=2)
        reset = str(int(time.time()) + 30)
        stand_in.faults.append((429, {"error": "RateLimitExceeded", "message": "slow down"},
                                {"ratelimit-reset": reset}))  # fmt: skip
        with pytest.raises(SendFailed) as limited:
            n.send(msg("Trains are stopped."))
        assert not limited.value.permanent and 25 <= (limited.value.retry_after or 0) <= 31
        stand_in.faults.append((503, {"error": "InternalServerError"}, {}))
        with pytest.raises(SendFailed) as down:
            n.send(msg("Trains are stopped."))
        assert not down.value.permanent
        stand_in.faults.append((400, {"error": "InvalidRequest", "message": "bad record"}, {}))
        with pytest.raises(SendFailed) as bad:
            n.send(msg("Trains are stopped."))
        assert bad.value.permanent and "InvalidRequest" in str(bad.value)
        assert n.send(msg("Trains are stopped.")).provider_id.endswith("|bafyreib2rxk3rh6kzwq")
        n.close()
    with silent() as url:
        n = BlueskyNotifier(handle="brand.test", app_password="pw", base_url=url, timeout=1)
        with pytest.raises(SendFailed) as slow:
            n.send(msg("Trains are stopped."))
        assert not slow.value.permanent and slow.value.provider_code == "unreachable"
        n.close()
