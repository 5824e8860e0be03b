"""Contract tests: the requests jiracampaign sends to JIRA Cloud, and the responses the fake serves,
validate against Atlassian's own OpenAPI descriptions in ../shared/data/jira-openapi/ (skipped when absent).

REST v2 traffic is checked against the v2 file; ``/search/jql`` (newer than the v2 file) against
the v3 file, whose only difference for it is the path version; the bulk fetch (v3 only) against v3.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.conftest import REPO, SHARED

SPECS = SHARED / "data" / "jira-openapi"
pytestmark = pytest.mark.skipif(not (SPECS / "cloud-platform-v2.json").exists(), reason="../shared/data absent")
openapi_core = pytest.importorskip("openapi_core")

from openapi_core import Config, OpenAPI  # noqa: E402
from openapi_core.testing import MockRequest, MockResponse  # noqa: E402

from jiracampaign.cli import cli  # noqa: E402
from tests.fakes.jira_server import FakeJira  # noqa: E402

HOST = "https://your-domain.atlassian.net"
NOT_IN_SPEC = ("/rest/api/2/serverInfo",)  # described in the v2 file, but checked below separately


@pytest.fixture(scope="module")
def specs():
    config = Config(spec_validator_cls=None)
    return {v: OpenAPI.from_dict(json.loads((SPECS / f"cloud-platform-v{v}.json").read_text()), config=config)
            for v in (2, 3)}


def header(record: dict, name: str) -> str:
    return next((v for k, v in record["headers"].items() if k.lower() == name.lower()), "")


JIRA_OFFSET = re.compile(rb'(T\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(\d\d)"')


def exchange_to_mock(record: dict) -> tuple[int, MockRequest, MockResponse | None]:
    path = record["path"]
    version = 2
    if path.endswith("/search/jql"):
        path, version = path.replace("/rest/api/2/", "/rest/api/3/"), 3
    elif path.startswith("/rest/api/3/"):  # the bulk fetch: REST v3 only
        version = 3
    args = {k: v[-1] for k, v in record["query"].items()}
    ctype = (header(record, "Content-Type") or "application/json").split(";")[0]
    body = record["body"] or None
    request = MockRequest(HOST, record["method"].lower(), path, args=args, data=body, content_type=ctype)
    status, payload = record.get("status"), record.get("response")
    response = None
    if status is not None and status != 204:
        data = b"" if payload is None else json.dumps(payload).encode()
        # Real JIRA writes offsets as +0000, not RFC 3339's +00:00: a known quirk the fake keeps.
        data = JIRA_OFFSET.sub(rb'\1\2:\3"', data)
        response = MockResponse(data, status_code=status, content_type="application/json")
    return version, request, response


def traffic(monkeypatch, runner, write) -> list[dict]:
    """The canonical flows on Cloud: init, create, re-create after an edit, a transition, a comment,
    submit and sync."""
    monkeypatch.setattr(time, "sleep", lambda s: None)
    fake = FakeJira("cloud").start()
    env = {"JIRACAMPAIGN_JIRA_TOKEN": fake.token}
    config = write("config.yaml", "")
    try:
        args = ["--config", str(config)]
        assert runner.invoke(cli, [*args, "init", "--no-input", "--server", fake.url, "--project", "CAMP",
                                   "--user", fake.user], env=env).exit_code == 0
        demo = (REPO / "examples" / "demo" / "campaign.yaml").read_text()
        spec = write("c.yaml", demo)
        assert runner.invoke(cli, [*args, "create", str(spec), "-o", "camp"], env=env).exit_code == 0
        write("c.yaml", demo.replace("requestMemory: 4096", "requestMemory: 6000"))
        assert runner.invoke(cli, [*args, "create", str(spec), "-o", "camp"], env=env).exit_code == 0
        from tests.conftest import make_jira_tracker
        tracker = make_jira_tracker(fake, [])
        key = json.loads((spec.parent / "camp" / "manifest.json").read_text())["submissions"][0]["ticket"]
        from jiracampaign.core.documents import Document, Paragraph
        from jiracampaign.trackers.jira.workflow import transition
        transition(tracker.client, key, "Blocked")
        transition(tracker.client, key, "done")
        tracker.put_note(key, "status", Document([Paragraph("running")]))
        tracker.put_note(key, "status", Document([Paragraph("done")]))
        tracker.open_campaigns("demo-w47")
        tracker.get_item(key)
        assert [t.key for t in tracker.get_items([key, "CAMP-9999"])] == [key]
        # submit step1 with the stand-in bps, then sync twice against the fake monitor
        import sys

        from tests.fakes.panda_server import FakeBigPanda
        panda = FakeBigPanda().start()
        try:
            log = spec.parent / "bps.log"
            run_args = [*args, "--set", f"panda.monitor_url={panda.url}",
                        "--set", f"bps.command={sys.executable} {REPO / 'tests' / 'fakes' / 'fake_bps.py'}"]
            env_bps = {**env, "FAKE_BPS_LOG": str(log)}
            assert runner.invoke(cli, [*run_args, "submit", str(spec), "--step", "step1", "-o", "camp"],
                                 env=env_bps).exit_code == 0
            for line in log.read_text().splitlines():
                run = json.loads(line)
                panda.add_run(run["run_name"], {"isr": 4}, request_id=run["run_id"])
                panda.progress(run["run_name"], "isr", finished=1, failed=1, error={"piloterrorcode": 1305})
            for _ in range(3):
                assert runner.invoke(cli, [*run_args, "sync"], env=env).exit_code == 0
        finally:
            panda.stop()
        return list(fake.log)
    finally:
        fake.stop()


def test_requests_and_fake_responses_match_atlassian_openapi(specs, monkeypatch, runner, write):
    log = traffic(monkeypatch, runner, write)
    checked, problems = set(), []
    for record in log:
        if record["path"].startswith("/rest/api/2/attachment/content/"):
            continue  # binary download
        version, request, response = exchange_to_mock(record)
        multipart = header(record, "Content-Type").startswith("multipart/")
        where = f"{record['method']} {record['path']}"
        if not multipart:
            try:
                specs[version].validate_request(request)
            except Exception as exc:  # noqa: BLE001 - collect every mismatch
                problems.append(f"request {where}: {exc.__class__.__name__}: {exc}")
        if response is not None and record.get("status", 500) < 400:
            try:
                specs[version].validate_response(request, response)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"response {where}: {exc.__class__.__name__}: {exc}")
        checked.add((record["method"], record["path"].rsplit("/", 1)[0] if record["path"][-1].isdigit() else record["path"]))
    assert problems == []
    assert len(checked) >= 14
    assert ("PUT", "/rest/api/2/issue/CAMP-2/properties/jiracampaign.sync") in checked
    assert ("POST", "/rest/api/3/issue/bulkfetch") in checked


def test_the_validator_rejects_a_wrong_response(specs):
    request = MockRequest(HOST, "post", "/rest/api/3/search/jql", data=b'{"jql": "project = X"}')
    from openapi_core.validation.response.exceptions import InvalidData

    with pytest.raises(InvalidData):
        specs[3].validate_response(request, MockResponse(b'{"issues": "notalist"}'))



def board_traffic(monkeypatch, runner) -> list[dict]:
    """`board` on Cloud: a campaign's board made and found again, the all-campaigns board, whose filter
    is then found by Cloud's filter search (no longer a favourite), and a board deleted and made again."""
    monkeypatch.setattr(time, "sleep", lambda s: None)
    fake = FakeJira("cloud").start()
    env = {"JIRACAMPAIGN_JIRA_TOKEN": fake.token}
    args = ["--tracker", "jira", "--set", f"jira.server={fake.url}", "--set", "jira.project=CAMP",
            "--set", f"jira.user={fake.user}", "--set", "jira.auth=basic"]
    try:
        assert runner.invoke(cli, [*args, "create", str(REPO / "examples" / "demo" / "campaign.yaml")], env=env).exit_code == 0
        start = len(fake.log)
        for extra in (["demo-w47"], ["demo-w47"], [], []):
            assert runner.invoke(cli, [*args, "board", *extra], env=env).exit_code == 0
        for made in fake.filters.values():
            made["favourite"] = False
        del fake.boards[2]
        assert runner.invoke(cli, [*args, "board"], env=env).exit_code == 0
        return fake.log[start:]
    finally:
        fake.stop()


def test_board_filter_requests_and_fake_responses_match_atlassian_openapi(specs, monkeypatch, runner):
    """The filter, project and issue-property exchanges of `board` (the Agile board API has no OpenAPI
    description here: its shapes are checked in tests/test_board.py)."""
    checked, problems = set(), []
    for record in board_traffic(monkeypatch, runner):
        if not record["path"].startswith("/rest/api/2/") or record["path"] == "/rest/api/2/serverInfo":
            continue
        version, request, response = exchange_to_mock(record)
        where = f"{record['method']} {record['path']}"
        try:
            specs[version].validate_request(request)
        except Exception as exc:  # noqa: BLE001 - collect every mismatch
            problems.append(f"request {where}: {exc.__class__.__name__}: {exc}")
        if response is not None and record.get("status", 500) < 400:
            try:
                specs[version].validate_response(request, response)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"response {where}: {exc.__class__.__name__}: {exc}")
        checked.add((record["method"], re.sub(r"/\d+$", "/{id}", re.sub(r"CAMP-\d+", "{key}", record["path"]))))
    assert problems == []
    assert {("POST", "/rest/api/2/filter"), ("GET", "/rest/api/2/filter/{id}"), ("GET", "/rest/api/2/filter/favourite"),
            ("GET", "/rest/api/2/filter/search"), ("GET", "/rest/api/2/project/CAMP"),
            ("GET", "/rest/api/2/project/CAMP/statuses"),
            ("PUT", "/rest/api/2/issue/{key}/properties/jiracampaign.board"),
            ("GET", "/rest/api/2/issue/{key}/properties/jiracampaign.board")} <= checked
