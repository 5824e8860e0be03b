"""The PanDA source against the fake monitor: states, request planning, quirks, retries and the shared budget."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest
import requests

from jiracampaign.errors import SourceError
from jiracampaign.core.runs import RunRef
from jiracampaign.sources.budget import BudgetExhausted
from jiracampaign.sources.panda.client import NOT_FOUND
from jiracampaign.core.states import BatchState
from tests.conftest import REPO, make_panda_source
from tests.fakes.panda_server import FakeBigPanda

RUN = "u_jdoe_DM-4242_step1_20261124T101010Z"
OOM = {"piloterrorcode": 1305, "piloterrordiag": "Failed to execute payload: killed (out of memory)",
       "transexitcode": "137"}


@pytest.fixture(params=["current", "legacy"])
def monitor(request):
    fake = FakeBigPanda(shape=request.param).start()
    yield fake
    fake.stop()


def paths(fake) -> list[str]:
    return [r["path"] for r in fake.log]


# ---- states --------------------------------------------------------------------------------------
@pytest.mark.parametrize("request_status, task_status, expected", [
    ("New", None, BatchState.PENDING),
    ("Transforming", "defined", BatchState.PENDING),
    ("Transforming", "running", BatchState.RUNNING),
    ("Transforming", "exhausted", BatchState.HELD),
    ("Suspended", "paused", BatchState.HELD),
    ("Finished", "done", BatchState.SUCCEEDED),
    ("SubFinished", "finished", BatchState.PARTIAL),
    ("Failed", "failed", BatchState.FAILED),
    ("Expired", "running", BatchState.FAILED),
    ("Cancelled", "aborted", BatchState.CANCELLED),
])
def test_run_state_from_request_and_tasks(monitor, sleeps, request_status, task_status, expected):
    monitor.add_run(RUN, {"isr": 10, "calibrate": 10}, status=request_status)
    if task_status:
        monitor.progress(RUN, "isr", status=task_status)
        monitor.progress(RUN, "calibrate", status="defined" if task_status == "defined" else "running")
    [status] = make_panda_source(monitor, sleeps).statuses([RunRef(RUN.upper())], detail="all")
    assert status.state is expected
    assert status.raw_state.casefold() == request_status.casefold()


def test_progress_counts_per_label_and_failures_with_links(monitor, sleeps):
    monitor.add_run(RUN, {"isr": 100, "calibrate": 50})
    monitor.progress(RUN, "isr", finished=90, failed=4, running=6, error=OOM)
    monitor.progress(RUN, "calibrate", finished=10, running=5)
    [status] = make_panda_source(monitor, sleeps).statuses([RunRef(RUN)], detail="all")
    tasks = {t.label: t for t in status.tasks}
    assert (tasks["isr"].finished, tasks["isr"].failed, tasks["isr"].running, tasks["isr"].remaining) == (90, 4, 6, 6)
    assert (tasks["calibrate"].finished, tasks["calibrate"].remaining) == (10, 40)
    assert (status.total, status.finished, status.failed, status.running) == (150, 100, 4, 11)
    [group] = status.failures
    assert (group.label, group.error, group.also, group.count) == ("isr", "pilot:1305", "transformation:137", 4)
    assert "out of memory" in group.message
    job = group.examples[0]
    assert job.url == f"{monitor.url}/job?pandaid={job.id}"
    assert job.stdout.endswith(f"PandaJob_{job.id}/payload.stdout")
    # the links lead to the right objects on the monitor
    assert requests.get(job.url + "&json").json()["job"]["pandaid"] == int(job.id)
    assert requests.get(tasks["isr"].url + "?json").json()["task"]["jeditaskid"] == tasks["isr"].task_id
    assert {t["reqid"] for t in requests.get(status.url + "&json").json()} == {int(status.run_id)}


def test_harvester_batch_log_is_read_from_the_job_page_when_pilotid_has_no_url(fake_panda, sleeps):
    fake_panda.add_run(RUN, {"isr": 10})
    fake_panda.progress(RUN, "isr", failed=2, error=OOM, logs="harvester")
    [status] = make_panda_source(fake_panda, sleeps).statuses([RunRef(RUN)], detail="all")
    examples = status.failures[0].examples
    assert all(e.stdout.endswith(f"/{e.id}/job.log") and e.stderr.endswith("job.err") for e in examples)
    assert sum(p.startswith("/job/") for p in paths(fake_panda)) == len(examples)


def test_retried_attempts_are_reported_apart_from_final_failures(fake_panda, sleeps):
    fake_panda.add_run(RUN, {"isr": 10})
    fake_panda.progress(RUN, "isr", finished=2, failed=1, error=OOM, retried=2)
    [status] = make_panda_source(fake_panda, sleeps).statuses([RunRef(RUN)], detail="all")
    assert status.failed_jobs == 1 and sum(g.count for g in status.failures) == 1  # the one final failure
    assert status.retried_jobs == 2 and sum(g.count for g in status.retried) == 2  # attempts retried with success
    assert [r["query"].get("mode") for r in fake_panda.requests("/jobs/")] == [None, "nodrop"]


# ---- planning: requests only where something changed ----------------------------------------------
def test_unchanged_runs_cost_one_request_and_changes_read_only_what_moved(fake_panda, sleeps):
    names = [f"{RUN}_{i}" for i in range(5)]
    for name in names:
        fake_panda.add_run(name, {"isr": 10, "calibrate": 10})
    source = make_panda_source(fake_panda, sleeps)
    first = source.statuses([RunRef(n) for n in names])
    assert paths(fake_panda) == ["/idds/wfprogress/", "/tasks/"]  # one tasks request covers all five runs
    refs = [RunRef(s.name, s.run_id, s.digest) for s in first]

    fake_panda.log.clear()
    again = source.statuses(refs)
    assert paths(fake_panda) == ["/idds/wfprogress/"]
    assert [s.changed for s in again] == [False] * 5 and [s.digest for s in again] == [r.digest for r in refs]

    fake_panda.log.clear()
    fake_panda.progress(names[1], "isr", finished=3, running=2)
    fake_panda.progress(names[3], "calibrate", failed=1, error=OOM)
    moved = source.statuses(refs)
    assert paths(fake_panda) == ["/idds/wfprogress/", "/tasks/", "/jobs/", "/jobs/"]  # only the run with new failures
    assert fake_panda.requests("/tasks/")[0]["query"]["reqid"] == f"{moved[1].run_id}|{moved[3].run_id}"
    assert [s.changed for s in moved] == [False, True, False, True, False]
    assert moved[3].failures and moved[3].failures_read and not moved[1].failures_read


def test_old_runs_are_found_by_widening_the_window(fake_panda, sleeps):
    old = datetime.now(timezone.utc) - timedelta(days=45)
    fake_panda.add_run(RUN, {"isr": 4}, created=old)
    fake_panda.add_run("someone_else_20261124T000000Z", {"isr": 4})
    source = make_panda_source(fake_panda, sleeps, days=30)
    [lost] = source.statuses([RunRef(RUN)])
    assert lost.state is BatchState.UNKNOWN and "last 30 days" in lost.message
    [found] = source.statuses([RunRef(RUN, submitted=old)])
    assert found.state is BatchState.PENDING and [t.label for t in found.tasks] == ["isr"]
    assert fake_panda.requests("/idds/wfprogress/")[-1]["query"]["days"] == "47"
    assert fake_panda.requests("/tasks/")[-1]["query"]["date_from"] == (
        datetime.now(timezone.utc) - timedelta(days=47)).strftime("%Y-%m-%dT%H:%M")


# ---- the monitor's odd answers ----------------------------------------------------------------------
def test_empty_wfprogress_means_unknown_not_no_runs(fake_panda, sleeps):
    fake_panda.add_run(RUN, {"isr": 4})
    fake_panda.inject("/idds/wfprogress/", "dbfail")
    [status] = make_panda_source(fake_panda, sleeps).statuses([RunRef(RUN, digest="p1:abc:0")])
    assert status.state is BatchState.UNKNOWN and "database" in status.message and status.digest is None


def test_unknown_ids_answer_html_with_status_200(fake_panda, sleeps):
    client = make_panda_source(fake_panda, sleeps).client
    assert client.get("/job/123/", html_means_missing=True) is NOT_FOUND
    with pytest.raises(SourceError, match="text/html.* instead of JSON"):
        client.get("/task/123/")


def test_login_redirect_is_reported_not_followed(fake_panda, sleeps):
    raw = requests.get(f"{fake_panda.url}/idds/wfprogress/", allow_redirects=False)
    assert raw.status_code == 302 and raw.headers["Location"].startswith("/login/")  # the fake does as the monitor
    fake_panda.inject("/idds/wfprogress/", "302")
    with pytest.raises(SourceError, match="redirected .* login page"):
        make_panda_source(fake_panda, sleeps).statuses([RunRef(RUN)])


def test_bad_parameter_is_reported_once_without_retry(fake_panda, sleeps):
    client = make_panda_source(fake_panda, sleeps).client
    with pytest.raises(SourceError, match=r"HTTP 400\): Illegal value 'abc' for jeditaskid"):
        client.get("/tasks/", {"jeditaskid": "abc"})
    assert len(fake_panda.log) == 1 and sleeps == []


def test_no_credentials_are_sent_even_from_netrc(fake_panda, sleeps, tmp_path):
    netrc = tmp_path / "home" / ".netrc"
    netrc.write_text("machine 127.0.0.1 login jdoe password hunter2\n")
    netrc.chmod(0o600)
    make_panda_source(fake_panda, sleeps).statuses([RunRef(RUN)])
    assert all("Authorization" not in r["headers"] for r in fake_panda.log)


@pytest.mark.parametrize("kind", ["429", "429-message", "500", "503", "lost"])
def test_transient_failures_are_retried(fake_panda, sleeps, kind):
    fake_panda.add_run(RUN, {"isr": 4})
    fake_panda.inject("/idds/wfprogress/", kind, times=2, retry_after="7")
    [status] = make_panda_source(fake_panda, sleeps).statuses([RunRef(RUN)])
    assert status.state is BatchState.PENDING  # nothing started yet
    assert len(fake_panda.requests("/idds/wfprogress/")) == 3
    if kind.startswith("429"):
        assert sleeps == [7.0, 7.0]  # as the server asked
    else:
        assert len(sleeps) == 2 and all(0 < s <= 2 for s in sleeps)


@pytest.mark.parametrize("kind", ["429", "429-message"])
def test_quota_refusal_after_retries_blocks_every_process_for_a_while(fake_panda, sleeps, kind):
    fake_panda.inject("/idds/wfprogress/", kind, times=9, retry_after="30")
    source = make_panda_source(fake_panda, sleeps, retries=1)
    with pytest.raises(SourceError, match="HTTP 429 .*too many requests per hour"):
        source.statuses([RunRef(RUN)])
    other = make_panda_source(fake_panda, sleeps)  # another client sharing the budget file
    with pytest.raises(BudgetExhausted, match="asked this machine to slow down"):
        other.statuses([RunRef(RUN)])
    assert len(fake_panda.log) == 2


def test_real_quota_of_the_monitor_is_recognised(sleeps):
    fake = FakeBigPanda(quota=2).start()
    try:
        source = make_panda_source(fake, sleeps, retries=0)
        source.client.get("/idds/wfprogress/")
        source.client.get("/idds/wfprogress/")
        with pytest.raises(SourceError, match="429"):
            source.client.get("/idds/wfprogress/")
    finally:
        fake.stop()


# ---- the budget ------------------------------------------------------------------------------------
def test_budget_stops_before_the_monitor_would(fake_panda, sleeps):
    fake_panda.add_run(RUN, {"isr": 4})
    source = make_panda_source(fake_panda, sleeps, per_hour=3)
    source.statuses([RunRef(RUN)])
    source.statuses([RunRef(RUN)])
    with pytest.raises(BudgetExhausted, match=r"used up \(3 of 3 in the last hour.*panda.requests_per_hour"):
        source.statuses([RunRef(RUN)])
    assert len(fake_panda.log) == 3


def test_details_beyond_the_budget_are_deferred_not_guessed(fake_panda, sleeps):
    fake_panda.add_run(RUN, {"isr": 4})
    fake_panda.progress(RUN, "isr", failed=1, error=OOM)
    [status] = make_panda_source(fake_panda, sleeps, per_hour=2).statuses([RunRef(RUN)])
    assert status.tasks and not status.failures_read
    assert status.digest is None and "deferred" in status.message
    assert paths(fake_panda) == ["/idds/wfprogress/", "/tasks/"]


BURST = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from jiracampaign.errors import SourceError
    from jiracampaign.sources.panda.client import MonitorClient
    from jiracampaign.sources.budget import RequestBudget
    from jiracampaign.config import data_dir
    client = MonitorClient({url!r}, budget=RequestBudget(data_dir() / "panda-budget.sqlite", "fake", 8))
    sent = 0
    try:
        for _ in range(6):
            client.get("/idds/wfprogress/")
            sent += 1
    except SourceError as exc:
        print(sent, "stopped:", exc)
    else:
        print(sent, "done")
""")


def test_budget_holds_across_processes(fake_panda):
    script = BURST.format(repo=str(REPO), url=fake_panda.url)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert len(fake_panda.log) == 8
    assert sorted(int(o.split()[0]) for o in outputs) in ([2, 6], [3, 5], [4, 4])
    assert any("used up (8 of 8" in o for o in outputs)
