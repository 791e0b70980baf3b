"""Subscriber lists as organisations bring them (CSV with a header, or JSON lines), all or
nothing: a bad row refuses the whole file, every problem named by its line; someone already
subscribed is kept; regions by any name the places registry knows; the CLI says the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.app import Crisis
from engine.kernel.errors import ValidationFailed
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.store import Store
from tests.conftest import ADMIN, OPERATOR
from tests.integration.test_cli import crisis as run_cli
from tests.integration.test_cli import workdir  # noqa: F401 - the CLI's fixture
from tests.integration.test_hardening_regions import PLACES

GOOD = """audience,name,phone,email,region,language
passengers,Ann,+44 7700 900123,,Lille,fr
passengers,,,Bob@Example.org,,en-GB
staff,Cam,+447700900124,cam@example.org,,
passengers,Ann again,+447700900123,,lille,fr
"""


def test_a_csv_list_is_added_once_per_person(placed: Crisis) -> None:
    service = placed
    service.audience.add_subscriber(actor=ADMIN, audience="staff", phone="+447700900124")
    result = service.audience.import_subscribers(actor=ADMIN, text=GOOD)
    # Ann is twice in the file, Cam was already a staff subscriber
    assert result == {"rows": 4, "added": 2, "already": 2}
    people = {(p["audience"], p["phone"] or p["email"]): p for p in
              service.audience.list_subscribers()}  # fmt: skip
    ann = people[("passengers", "+447700900123")]
    assert (ann["name"], ann["region"], ann["language"], ann["source"]) == ("Ann", "lille", "fr",
                                                                           "import")  # fmt: skip
    assert people[("passengers", "bob@example.org")]["language"] == "en-GB"
    assert ann["confirmed_at"] is not None and ann["opted_in"]


@pytest.fixture
def placed(
    store: Store, catalog: Catalog, clock: FakeClock, channel_map: dict[str, Channel]
) -> Crisis:
    """The service with the status page's places (regions by id or display name)."""
    return Crisis(store=store, catalog=catalog, clock=clock, channels=channel_map, places=PLACES)


def test_one_bad_row_refuses_the_file_naming_every_line(placed: Crisis) -> None:
    service = placed
    text = """audience,phone,email,region
passengers,+447700900123,,lille
passangers,+447700900125,,
passengers,07700 900126,,
passengers,+447700900127,,Atlantis
passengers,,,
staff,,not-an-address,
"""
    with pytest.raises(ValidationFailed) as info:
        service.audience.import_subscribers(actor=ADMIN, text=text)
    d = info.value.details
    assert "unknown audience 'passangers'" in d["line 3"]
    assert "international form" in d["line 4"]
    assert d["line 5"] == "unknown region 'Atlantis'"
    assert "a phone number or an email address" in d["line 6"]
    assert "email" in d["line 7"]
    assert "line 2" not in d and "5 row(s) cannot be imported; nothing was added" in str(info.value)
    assert service.audience.list_subscribers() == []


def test_json_lines_a_bad_header_and_who_may_import(service: Crisis) -> None:
    lines = (
        '{"audience": "passengers", "phone": "+447700900123"}\n\n'
        '{"audience": "staff", "email": 3}\n[1]\n{oops\n'
    )
    with pytest.raises(ValidationFailed) as info:
        service.audience.import_subscribers(actor=ADMIN, text=lines, fmt="jsonl")
    assert set(info.value.details) == {"line 3", "line 4", "line 5"}
    assert info.value.details["line 5"].startswith("not JSON")
    ok = service.audience.import_subscribers(actor=ADMIN, text=lines.split("\n")[0], fmt="jsonl")
    assert ok["added"] == 1
    with pytest.raises(ValidationFailed) as header:
        service.audience.import_subscribers(actor=ADMIN, text="who,phone\nx,+447700900123\n")
    assert "unknown columns who" in header.value.details["line 1"]
    from engine.kernel.errors import Forbidden

    with pytest.raises(Forbidden):
        service.audience.import_subscribers(actor=OPERATOR, text=GOOD)


def test_the_cli_imports_and_names_bad_lines(workdir: Path) -> None:  # noqa: F811
    good = workdir / "people.csv"
    good.write_text(GOOD, encoding="utf-8")
    run_cli(workdir, "demo")
    out = run_cli(workdir, "subscribers", "import", str(good)).stdout
    assert "4 row(s): 2 subscriber(s) added, 2 already subscribed" in out or "added" in out
    bad = workdir / "bad.csv"
    bad.write_text("audience,phone\npassengers,+447700900199\nnobody,+447700900198\n")
    proc = run_cli(workdir, "subscribers", "import", str(bad), ok=False)
    assert proc.returncode != 0
    assert "line 3: unknown audience 'nobody'" in proc.stderr + proc.stdout


def test_the_api_imports_a_list_bigger_than_other_bodies(
    app: Any, svc: Crisis, tokens: dict[str, str]
) -> None:
    from tests.integration.test_web import bearer

    client = app.test_client()
    rows = "".join(f"passengers,Person {i},+4477009{i:05d},,,en\n" for i in range(40_000))
    body = ("audience,name,phone,email,region,language\n" + rows).encode()
    assert len(body) > 1024 * 1024  # more than any other request may send
    made = client.post("/api/v1/subscribers/import", data=body, content_type="text/csv",
                       headers=bearer(tokens["admin"]))  # fmt: skip
    assert made.status_code == 201, made.get_data(as_text=True)[:300]
    assert made.get_json() == {"rows": 40_000, "added": 40_000, "already": 0}
    bad = client.post("/api/v1/subscribers/import", content_type="application/x-ndjson",
                      data='{"audience": "nobody", "phone": "+447700900123"}\n',
                      headers=bearer(tokens["admin"]))  # fmt: skip
    assert bad.status_code == 422 and "unknown audience" in bad.get_json()["details"]["line 1"]
    refused = client.post("/api/v1/subscribers/import", data=GOOD, content_type="text/csv",
                          headers=bearer(tokens["operator"]))  # fmt: skip
    assert refused.status_code == 403
    wrong = client.post("/api/v1/subscribers/import", data=GOOD, content_type="text/plain",
                        headers=bearer(tokens["admin"]))  # fmt: skip
    assert wrong.status_code == 400


@pytest.mark.parametrize(
    "text",
    [
        '\x08\xa6kJ\xf1\xa2\xbf\x83\xf2\x8d\x96\x95>\x05I\rl\xc2\x8f8\r\x11\n2"',  # schemathesis
        "audience\x00,phone\nstaff,+447700900123\n",
    ],
)
def test_text_that_is_not_csv_is_refused_by_line(service: Crisis, text: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        service.audience.import_subscribers(actor=ADMIN, text=text)
    assert list(info.value.details)[0].startswith("line ")
