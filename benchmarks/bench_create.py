"""Benchmark: record the DP0.2 example campaign (epic + 56 tickets) in a fake JIRA with 50 ms latency.

jiracampaign's `create` (one search, the epic, bulk creates carrying each ticket's final record, the
attachments ``jira.concurrency`` at a time) against two fair one-by-one clients that know the ids
(as `init` saves them) and never search:

- one-by-one: per ticket one create with every field (summary, description, labels, parent), one
  attachment and one issue-property write, one request at a time;
- one-by-one, record in the create: the same with the property in the create body (one request less
  per ticket).

Requests are counted at the server (the fake's log; the fake runs in a process of its own, as a real
server would, so that its work does not slow the client's threads). Times are wall seconds, rendering
the files included, the median of ``--repeat`` runs of each client on a fresh server (the machine may
be shared: the runs are interleaved). Neither baseline can run twice without duplicating every
ticket; `create` is re-run to show what a run with nothing to do costs. The fake's search index has
no lag here, and the tracker is told so (``jira.index_lag`` 0): on JIRA Cloud a create that makes a
new epic also waits ``jira.index_lag`` (5 s) once, to make sure no other create made the same epic.

Usage: python benchmarks/bench_create.py [--latency 0.05] [--flavour cloud|datacenter] [--concurrency 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jiracampaign.core.texts import submission_doc  # noqa: E402
from jiracampaign.planning.plan import build_plan  # noqa: E402
from jiracampaign.planning.spec import load_spec  # noqa: E402
from jiracampaign.services.create import create, submission_record  # noqa: E402
from jiracampaign.trackers.jira.client import JiraClient  # noqa: E402
from jiracampaign.trackers.jira.labels import PROPERTY  # noqa: E402
from jiracampaign.trackers.jira.tracker import JiraTracker  # noqa: E402
from jiracampaign.trackers.jira.wiki import render  # noqa: E402
from tests.fakes.jira_server import EPIC_LINK, EPIC_NAME, FakeJira  # noqa: E402

SPEC = ROOT / "examples" / "dp02" / "campaign.yaml"
IDS = {"epic_type": "10000", "task_type": "10001", "subtask_type": "10002", "epic_link_field": EPIC_LINK,
       "epic_name_field": EPIC_NAME}  # what `init` saves in the config


class Served:
    """A fake JIRA in a process of its own (as a real server is: its work does not take this process's
    interpreter lock), with what the benchmark needs of it here: url, flavour, credentials, request count."""

    def __init__(self, flavour: str, latency: float):
        self.flavour, self.cloud = flavour, flavour == "cloud"
        probe = FakeJira(flavour=flavour)
        self.user, self.token, self.project_key = probe.user, probe.token, probe.project_key
        ours, theirs = multiprocessing.Pipe()
        self.pipe = ours
        self.process = multiprocessing.get_context("fork").Process(target=_serve, args=(theirs, flavour, latency),
                                                                   daemon=True)
        self.process.start()
        self.url = self.pipe.recv()

    @property
    def requests(self) -> int:
        """Requests the server has received so far."""
        self.pipe.send("count")
        return self.pipe.recv()

    def stop(self) -> None:
        self.pipe.send("stop")
        self.process.join(10)


def _serve(pipe, flavour: str, latency: float) -> None:
    fake = FakeJira(flavour=flavour, latency=latency, lag=0).start()
    pipe.send(fake.url)
    while pipe.recv() == "count":
        pipe.send(len(fake.log))
    fake.stop()


def client_for(fake: FakeJira | Served, concurrency: int = 1) -> JiraClient:
    return JiraClient(fake.url, "basic" if fake.cloud else "token", fake.user, fake.token, timeout=10,
                      flavour=fake.flavour, concurrency=concurrency)


def ours(fake: Served, folder: Path, concurrency: int) -> list[tuple[int, float, float]]:
    """`create`, then the same `create` again (nothing to do): requests, wall and CPU seconds of each."""
    spec = load_spec(SPEC)
    runs = []
    for _ in range(2):
        mark, start, cpu = fake.requests, time.perf_counter(), time.process_time()
        tracker = JiraTracker(client_for(fake, concurrency), fake.project_key, ids=IDS, index_lag=0)
        tracker.concurrency = concurrency
        create(spec, tracker, folder)
        runs.append((fake.requests - mark, time.perf_counter() - start, time.process_time() - cpu))
    return runs


def one_by_one(fake: Served, record_in_create: bool) -> tuple[int, float]:
    """The fair baseline: each ticket created with every field, its file attached, its record written."""
    spec = load_spec(SPEC)
    start = time.perf_counter()  # the files are rendered in the time, as `create` renders them in its time
    plan = build_plan(spec)
    campaign = spec.campaign.id
    labels = ["jiracampaign", f"jc-{campaign}"]
    client = client_for(fake)
    epic_fields = {"project": {"key": fake.project_key}, "issuetype": {"id": IDS["epic_type"]},
                   "summary": f"Campaign {campaign}", "labels": labels + ["jc-epic", f"jcid-{campaign}"]}
    if not fake.cloud:
        epic_fields[EPIC_NAME] = campaign
    epic = client.raw("POST", "issue", body={"fields": epic_fields}).json()["key"]
    for sub in plan.submissions:
        record = submission_record(sub, spec.campaign, plan.file_sha(sub))
        fields = {"project": {"key": fake.project_key}, "issuetype": {"id": IDS["task_type"]}, "summary": sub.title,
                  "description": render(submission_doc(record)), "labels": labels + [f"jcid-{sub.id}"]}
        fields.update({"parent": {"key": epic}} if fake.cloud else {EPIC_LINK: epic})
        body: dict = {"fields": fields}
        if record_in_create:
            body["properties"] = [{"key": PROPERTY, "value": record.to_json()}]
        key = client.raw("POST", "issue", body=body).json()["key"]
        client.upload(f"issue/{key}/attachments", Path(sub.file).name, plan.file_text(sub).encode())
        if not record_in_create:
            client.raw("PUT", f"issue/{key}/properties/{PROPERTY}", body=record.to_json())
    return fake.requests, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--flavour", choices=("cloud", "datacenter"), default="cloud")
    parser.add_argument("--concurrency", type=int, default=8, help="jira.concurrency for create (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each client, on a fresh server each; the "
                        "median time is shown (default 3)")
    args = parser.parse_args()

    def fake() -> Served:
        return Served(args.flavour, args.latency)

    def median(runs: list[tuple]) -> tuple:
        """The run of median wall time (its request count and times)."""
        return sorted(runs, key=lambda r: r[1])[len(runs) // 2]

    mine, again, fair, fairer = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.repeat):
            server = fake()
            first, second = ours(server, Path(tmp) / f"camp{n}", args.concurrency)
            server.stop()
            mine.append(first)
            again.append(second)
            for runs, in_create in ((fair, False), (fairer, True)):
                server = fake()
                runs.append(one_by_one(server, record_in_create=in_create))
                server.stop()
    (n1, t1, c1), (n2, t2, c2), (m, tm), (k, tk) = median(mine), median(again), median(fair), median(fairer)
    print(f"JIRA {args.flavour} (fake), {args.latency * 1000:.0f} ms per request, DP0.2 example (epic + 56 "
          f"submissions), requests counted at the server, median of {args.repeat} runs (create: "
          f"{', '.join(f'{r[1]:.2f}' for r in mine)} s; one-by-one: {', '.join(f'{r[1]:.2f}' for r in fair)} s):")
    print(f"  jiracampaign create ({args.concurrency} at once)       : {n1:4d} requests, {t1:6.2f} s   "
          f"({c1:.2f} s CPU in this process)")
    print(f"  one-by-one, create + attach + property  : {m:4d} requests, {tm:6.2f} s   "
          f"-> {m / n1:.1f}x the requests, {tm / t1:.1f}x the time")
    print(f"  one-by-one, record in the create        : {k:4d} requests, {tk:6.2f} s   "
          f"-> {k / n1:.1f}x the requests, {tk / t1:.1f}x the time")
    print(f"  create re-run (nothing to do)           : {n2:4d} requests, {t2:6.2f} s   "
          f"({c2:.2f} s CPU; either baseline would create 57 more tickets)")
    from summary import summary  # benchmarks/ is on sys.path when run as a script

    summary(f"create DP0.2 on {args.flavour}, {args.latency * 1000:.0f} ms, wall vs one-by-one", t1, tm, "s",
            f"{n1} vs {m}", note=f"median of {args.repeat}")
    summary("create DP0.2, requests at the server", n1, m, "requests")
    summary("create DP0.2 re-run, requests", n2, None, "requests")


if __name__ == "__main__":
    main()
