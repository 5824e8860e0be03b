"""`create` at the fewest requests: counted at the fake JIRA server, with attachments sent several at once
(seen in flight at the server), a 429 pausing every worker, the journal exact when written from threads,
records whose checksum does not depend on the ticket key, and campaigns made by earlier versions left
as they are."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
from click.testing import CliRunner

from jiracampaign.cli import cli
from jiracampaign.planning.render import file_sha, same_file, stamp, unstamp
from jiracampaign.pool import run_bounded
from jiracampaign.services.journal import Journal
from jiracampaign.trackers.base import Item
from jiracampaign.trackers.jira.client import JiraClient
from tests.conftest import REPO
from tests.fakes.jira_server import EPIC_LINK, EPIC_NAME, FakeJira

DP02 = REPO / "examples" / "dp02" / "campaign.yaml"
SUBMISSIONS = 56


def cli_args(fake: FakeJira, folder, *extra: str) -> list[str]:
    """The CLI on ``fake``, configured as `init` leaves it (flavour and ids known)."""
    ids = {"epic_type": "10000", "task_type": "10001", "subtask_type": "10002", "epic_link_field": EPIC_LINK,
           "epic_name_field": EPIC_NAME}
    args = ["--tracker", "jira", "--set", f"jira.server={fake.url}", "--set", "jira.project=CAMP",
            "--set", f"jira.user={fake.user}", "--set", f"jira.auth={'basic' if fake.cloud else 'token'}",
            "--set", f"jira.flavour={fake.flavour}", "--set", "jira.index_lag=0.01"]
    for name, value in ids.items():
        args += ["--set", f"jira.{name}={value}"]
    return [*args, *extra, "create", str(DP02), "-o", str(folder)]


def run(fake: FakeJira, folder, *extra: str):
    result = CliRunner().invoke(cli, cli_args(fake, folder, *extra), env={"JIRACAMPAIGN_JIRA_TOKEN": fake.token})
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(params=["cloud", "datacenter"])
def fake(request):
    server = FakeJira(flavour=request.param, lag=0, latency=0.01).start()
    yield server
    server.stop()


def count(fake: FakeJira, since: int, method: str, pattern: str) -> int:
    return len([r for r in fake.requests(method, pattern) if r["n"] > since])


def test_dp02_create_makes_the_minimum_requests_and_a_rerun_at_most_three(fake, tmp_path):
    run(fake, tmp_path / "camp")
    log = fake.log
    # 1 search, the epic, its read-back (no other create made it), 2 bulk creates, 56 attachments, the lease released
    assert len(log) <= 62, [(r["method"], r["path"]) for r in log]
    assert count(fake, 0, "POST", r"/issue/bulk$") == 3
    assert count(fake, 0, "POST", r"/attachments$") == SUBMISSIONS
    assert count(fake, 0, "PUT", r"/properties/jiracampaign$") == 0, "the record goes with the create"
    assert count(fake, 0, "PUT", r"/properties/jiracampaign\.lease$") == 1, "the epic is born leased: released once"
    assert count(fake, 0, "GET", r"/properties/") == 0
    assert fake.peak_in_flight > 1, "the attachments were sent one at a time"
    for issue in fake.issues.values():  # each record names the file it carries, checksum included
        meta = issue.properties["jiracampaign"]
        if meta["type"] == "submission":
            (att,) = issue.attachments
            assert same_file(meta["sha256"], att["data"]) and meta["sha256"] == file_sha(att["data"])
            assert f"# ticket {issue.key}\n".encode() in att["data"]
    mark = len(fake.log)
    result = run(fake, tmp_path / "camp")
    assert len(fake.log) - mark <= 3
    assert [r for r in fake.writes() if r["n"] > mark] == [], result.output


def test_one_worker_sends_one_request_at_a_time(fake, tmp_path):
    run(fake, tmp_path / "camp", "--set", "jira.concurrency=1")
    assert fake.peak_in_flight == 1
    assert count(fake, 0, "POST", r"/attachments$") == SUBMISSIONS


def test_campaign_made_by_an_earlier_version_is_not_rewritten(fake, tmp_path):
    """Records written before the checksum left out the ticket line keep the sha256 of the stamped file."""
    run(fake, tmp_path / "camp")
    for issue in fake.issues.values():
        meta = issue.properties["jiracampaign"]
        if meta["type"] == "submission":
            meta["sha256"] = hashlib.sha256(issue.attachments[0]["data"]).hexdigest()
    mark = len(fake.log)
    run(fake, tmp_path / "camp")
    assert [(r["method"], r["path"]) for r in fake.log[mark:]
            if r["method"] in ("POST", "PUT", "DELETE") and not r["path"].endswith(("/search/jql", "/issue/bulkfetch"))] == []
    assert len(fake.log) - mark <= 3


def test_a_429_pauses_every_worker_until_retry_after(tmp_path):
    """One attachment is refused with 429 and Retry-After: 1; no request reaches the server until it passed."""
    fake = FakeJira(flavour="cloud", lag=0, latency=0.02).start()
    try:
        times: list[tuple[float, str]] = []

        class Stamped(list):
            def append(self, record):  # when each request arrived at the server
                times.append((time.monotonic(), record["path"]))
                super().append(record)

        fake.log = Stamped()
        fake.inject("POST", r"/attachments$", "429", times=1, skip=20, retry_after="1")
        result = CliRunner().invoke(cli, cli_args(fake, tmp_path / "camp"), env={"JIRACAMPAIGN_JIRA_TOKEN": fake.token})
        assert result.exit_code == 0, result.output
        refused = next(r for r in fake.log if r.get("status") == 429)
        at = times[refused["n"] - 1][0]
        after = [t - at for t, _ in times[refused["n"]:]]
        # requests already in flight when the 429 was sent may land a moment later; then nothing for the wait
        late = [d for d in after if d > 0.15]
        assert late and min(late) >= 0.9, f"a worker went on during the pause: {sorted(after)[:12]}"
        assert len([r for r in fake.requests("POST", r"/attachments$") if r.get("status") != 429]) == SUBMISSIONS
    finally:
        fake.stop()


def test_client_gate_is_shared_by_threads():
    """Every thread that meets the closed gate waits; the one that met the 429 waits Retry-After itself."""
    fake = FakeJira(flavour="cloud", lag=0, latency=0.05).start()
    try:
        slept: list[float] = []
        lock = threading.Lock()

        def sleep(seconds: float) -> None:
            with lock:
                slept.append(seconds)
            time.sleep(seconds)

        client = JiraClient(fake.url, "basic", fake.user, fake.token, timeout=5, flavour="cloud", concurrency=8,
                            sleep=sleep)
        fake.inject("GET", r"/myself$", "429", times=1, retry_after="1")
        run_bounded(lambda _: client.get("who", "myself"), list(range(16)), 8)
        assert client.throttled == 1
        assert 1.0 in slept
        assert len(slept) > 1, "the other workers did not wait at the gate"
    finally:
        fake.stop()


def test_journal_is_exact_when_told_from_threads(tmp_path):
    journal = Journal(tmp_path / "j.json", "camp", "JIRA Cloud x")
    chunks = [[f"s{c}_{n}" for n in range(10)] for c in range(8)]

    def one(chunk: list[str]) -> None:
        journal.pending(chunk)
        journal.created([Item(f"CAMP-{ident}", ident, "", None, id=ident) for ident in chunk])  # type: ignore[arg-type]

    run_bounded(one, chunks, 8)
    again = Journal(tmp_path / "j.json", "camp", "JIRA Cloud x")
    assert sorted(again.refs) == sorted(i for c in chunks for i in c)
    assert again.pending_since is None


def test_journal_keeps_concurrent_creates_pending_together(tmp_path):
    journal = Journal(tmp_path / "j.json", "camp", "JIRA Cloud x")
    journal.pending(["a", "b"])
    first = journal.pending_since
    journal.pending(["c"])
    assert journal.pending_since == first
    made = [Item("CAMP-1", "a", "", None, id="1"), Item("CAMP-2", "b", "", None, id="2")]  # type: ignore[arg-type]
    journal.created(made)
    assert journal.pending_since == first, "c is still in flight"
    journal.created([Item("CAMP-3", "c", "", None, id="3")])  # type: ignore[arg-type]
    assert journal.pending_since is None


def test_file_checksum_leaves_out_the_ticket_line_only():
    text = "# jiracampaign submission s1\n# campaign c, step step1, group 1/2 (a)\npipelineYaml: x\n"
    stamped = stamp(text, "CAMP-7")
    assert unstamp(stamped) == text
    assert file_sha(stamped) == file_sha(text) == file_sha(stamp(text, "CAMP-8"))
    assert file_sha(stamped.replace("x\n", "y\n")) != file_sha(stamped)
    assert same_file(hashlib.sha256(stamped.encode()).hexdigest(), stamped)  # records of earlier versions
    assert not same_file(hashlib.sha256(stamped.encode()).hexdigest(), stamp(text, "CAMP-8"))
    assert unstamp("# ticket X\nplain: file\n") == "# ticket X\nplain: file\n"
