"""Benchmark: record the DP0.2 example campaign (epic + 56 tickets) in a fake JIRA with 50 ms latency.

jiracampaign's `create` (one search, the epic, bulk creates carrying each ticket's final record, the
attachments ``jira.concurrency`` at a time) against two fair one-by-one clients that know the ids
(as `init` saves them) and never search:

- one-by-one: per ticket one create with every field (summary, description, labels, parent), one
  attachment and one issue-property write, one request at a time;
- one-by-one, record in the create: the same with the property in the create body (one request less
  per ticket).

Requests are counted at the server (the fake's log); times are wall seconds of one run each. Neither
baseline can run twice without duplicating every ticket; `create` is re-run to show what a run with
nothing to do costs. The fake's search index has no lag here, and the tracker is told so
(``jira.index_lag`` 0): on JIRA Cloud a create that makes a new epic also waits ``jira.index_lag``
(5 s) once, to make sure no other create made the same epic at the same moment.

Usage: python benchmarks/bench_create.py [--latency 0.05] [--flavour cloud|datacenter] [--concurrency 8]
"""

from __future__ import annotations

import argparse
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


def client_for(fake: FakeJira, concurrency: int = 1) -> JiraClient:
    return JiraClient(fake.url, "basic" if fake.cloud else "token", fake.user, fake.token, timeout=10,
                      flavour=fake.flavour, concurrency=concurrency)


def ours(fake: FakeJira, folder: Path, concurrency: int) -> tuple[int, float, int, float]:
    """`create`, then the same `create` again (nothing to do): requests and seconds of each."""
    spec = load_spec(SPEC)
    runs = []
    for _ in range(2):
        mark, start = len(fake.log), time.perf_counter()
        tracker = JiraTracker(client_for(fake, concurrency), fake.project_key, ids=IDS, index_lag=0)
        tracker.concurrency = concurrency
        create(spec, tracker, folder)
        runs.append((len(fake.log) - mark, time.perf_counter() - start))
    return runs[0][0], runs[0][1], runs[1][0], runs[1][1]


def one_by_one(fake: FakeJira, record_in_create: bool) -> tuple[int, float]:
    """The fair baseline: each ticket created with every field, its file attached, its record written."""
    spec = load_spec(SPEC)
    plan = build_plan(spec)
    campaign = spec.campaign.id
    labels = ["jiracampaign", f"jc-{campaign}"]
    start = time.perf_counter()
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
    return len(fake.log), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--flavour", choices=("cloud", "datacenter"), default="cloud")
    parser.add_argument("--concurrency", type=int, default=8, help="jira.concurrency for create (default 8)")
    args = parser.parse_args()

    def fake() -> FakeJira:
        return FakeJira(flavour=args.flavour, latency=args.latency, lag=0).start()

    with tempfile.TemporaryDirectory() as tmp:
        server = fake()
        n1, t1, n2, t2 = ours(server, Path(tmp) / "camp", args.concurrency)
        server.stop()
        server = fake()
        m, tm = one_by_one(server, record_in_create=False)
        server.stop()
        server = fake()
        k, tk = one_by_one(server, record_in_create=True)
        server.stop()
    print(f"JIRA {args.flavour} (fake), {args.latency * 1000:.0f} ms per request, DP0.2 example (epic + 56 submissions),"
          f" requests counted at the server:")
    print(f"  jiracampaign create ({args.concurrency} at once)    : {n1:4d} requests, {t1:6.2f} s")
    print(f"  one-by-one, create + attach + property  : {m:4d} requests, {tm:6.2f} s   "
          f"-> {m / n1:.1f}x the requests, {tm / t1:.1f}x the time")
    print(f"  one-by-one, record in the create        : {k:4d} requests, {tk:6.2f} s   "
          f"-> {k / n1:.1f}x the requests, {tk / t1:.1f}x the time")
    print(f"  create re-run (nothing to do)           : {n2:4d} requests, {t2:6.2f} s   "
          "(either baseline would create 57 more tickets)")


if __name__ == "__main__":
    main()
