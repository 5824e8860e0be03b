"""Benchmark: record the DP0.2 example campaign (epic + 56 tickets) in a fake JIRA with 50 ms latency.

Compares jiracampaign's `create` (search first, bulk create, one attach and one property write per
new ticket) with a naive client that sends one request per field (create, then description,
labels, metadata, attachment) and cannot re-run without duplicating. Prints requests and seconds.

Usage: python benchmarks/bench_create.py [--latency 0.05] [--flavour cloud|datacenter]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jiracampaign.planning.plan import build_plan  # noqa: E402
from jiracampaign.core.texts import submission_doc  # noqa: E402
from jiracampaign.services.create import create, submission_record  # noqa: E402
from jiracampaign.planning.spec import load_spec  # noqa: E402
from jiracampaign.trackers.jira.tracker import JiraTracker  # noqa: E402
from jiracampaign.trackers.jira.client import JiraClient  # noqa: E402
from jiracampaign.trackers.jira.wiki import render  # noqa: E402
from tests.fakes.jira_server import EPIC_LINK, EPIC_NAME, FakeJira  # noqa: E402

SPEC = ROOT / "examples" / "dp02" / "campaign.yaml"


def client_for(fake: FakeJira) -> JiraClient:
    return JiraClient(fake.url, "basic" if fake.cloud else "token", fake.user, fake.token, timeout=10)


def ours(fake: FakeJira, folder: Path) -> tuple[int, float, int, float]:
    spec = load_spec(SPEC)
    start = time.perf_counter()
    tracker = JiraTracker(client_for(fake), fake.project_key)
    create(spec, tracker, folder)
    first = (len(fake.log), time.perf_counter() - start)
    mark, start = len(fake.log), time.perf_counter()
    tracker = JiraTracker(client_for(fake), fake.project_key)
    create(spec, tracker, folder)
    return first[0], first[1], len(fake.log) - mark, time.perf_counter() - start


def naive(fake: FakeJira) -> tuple[int, float]:
    spec = load_spec(SPEC)
    plan = build_plan(spec)
    start = time.perf_counter()
    client = client_for(fake)
    epic_fields = {"project": {"key": fake.project_key}, "issuetype": {"id": "10000"}, "summary": "Campaign dp02-w38"}
    if not fake.cloud:
        epic_fields[EPIC_NAME] = "dp02-w38"
    epic = client.raw("POST", "issue", body={"fields": epic_fields}).json()["key"]
    for sub in plan.submissions:
        fields = {"project": {"key": fake.project_key}, "issuetype": {"id": "10001"}, "summary": sub.title}
        fields.update({"parent": {"key": epic}} if fake.cloud else {EPIC_LINK: epic})
        key = client.raw("POST", "issue", body={"fields": fields}).json()["key"]
        text, sha = plan.file_text(sub), plan.file_sha(sub)
        record = submission_record(sub, spec.campaign, sha)
        client.raw("PUT", f"issue/{key}", body={"fields": {"description": render(submission_doc(record))}})
        client.raw("PUT", f"issue/{key}", body={"fields": {"labels": ["jiracampaign", "jc-dp02-w38"]}})
        client.raw("PUT", f"issue/{key}/properties/jiracampaign", body=record.to_json())
        client.upload(f"issue/{key}/attachments", f"{sub.id}.yaml", text.encode())
    return len(fake.log), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--flavour", choices=("cloud", "datacenter"), default="cloud")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeJira(flavour=args.flavour, latency=args.latency, lag=0).start()
        n1, t1, n2, t2 = ours(fake, Path(tmp) / "camp")
        fake.stop()
        fake = FakeJira(flavour=args.flavour, latency=args.latency, lag=0).start()
        m, tm = naive(fake)
        fake.stop()
    print(f"JIRA {args.flavour}, {args.latency * 1000:.0f} ms per request, DP0.2 example (epic + 56 submissions):")
    print(f"  jiracampaign create : {n1:4d} requests, {t1:6.2f} s")
    print(f"  naive per field     : {m:4d} requests, {tm:6.2f} s   -> {m / n1:.1f}x the requests, {tm / t1:.1f}x the time")
    print(f"  re-run (no change)  : {n2:4d} requests, {t2:6.2f} s   (the naive client would create 57 more tickets)")


if __name__ == "__main__":
    main()
