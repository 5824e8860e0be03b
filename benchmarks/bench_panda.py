"""Benchmark: monitor requests and seconds to refresh 240 open runs when 0, 10 and 240 of them changed.

jiracampaign reads one wfprogress for all runs, one /tasks/ per 50 changed runs, and /jobs/ only for
runs whose failed-file count changed (10% of the changed runs here). The naive client asks, for
every run, its tasks by name and then every task's jobs: one query per run and per task, whether
anything changed or not. The fake monitor answers with the given latency.

Usage: python benchmarks/bench_panda.py [--runs 240] [--labels 6] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jiracampaign.core.runs import RunRef  # noqa: E402
from jiracampaign.sources.budget import RequestBudget  # noqa: E402
from jiracampaign.sources.panda.source import PandaSource  # noqa: E402
from jiracampaign.sources.panda.client import MonitorClient  # noqa: E402
from tests.fakes.panda_server import FakeBigPanda  # noqa: E402
from summary import summary  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

LABELS = ["isr", "calibrateImage", "transformPreSourceTable", "consolidateVisitSummary", "makeVisitTable",
          "finalizeCharacterization", "writeRecalibratedSourceTable", "transformSourceTable"]
OOM = {"piloterrorcode": 1305, "piloterrordiag": "Failed to execute payload: killed (out of memory)"}


def naive(fake: FakeBigPanda, names: list[str]) -> tuple[int, float]:
    client = MonitorClient(fake.url)
    start = time.perf_counter()
    for name in names:
        for task in client.get("/tasks/", {"taskname": f"{name}*", "days": 30}):
            client.get("/jobs/", {"jeditaskid": task["jeditaskid"], "mode": "nodrop"})
    return client.requests_made, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=240)
    parser.add_argument("--labels", type=int, default=6)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    fake = FakeBigPanda(latency=args.latency, quota=10**7).start()  # the real 1000/h would stop the naive client
    names = [f"u_pilot_DM-47000_step1_{i:04d}_20261124T1010{i % 60:02d}Z" for i in range(args.runs)]
    for name in names:
        fake.add_run(name, {label: 400 for label in LABELS[: args.labels]})
        fake.progress(name, "isr", finished=10, running=20)
    with tempfile.TemporaryDirectory() as tmp:
        budget = RequestBudget(Path(tmp) / "budget.sqlite", "bench", 100000)
        source = PandaSource(MonitorClient(fake.url, budget=budget))
        refs = [RunRef(s.name, s.run_id, s.digest) for s in source.statuses([RunRef(n) for n in names])]
        print(f"{args.runs} open runs x {args.labels} tasks, monitor latency {args.latency * 1000:.0f} ms")
        print(f"{'changed':>8} {'ours req':>9} {'ours s':>8} {'naive req':>10} {'naive s':>8} {'ratio':>7}")
        for changed in (0, 10, args.runs):
            for i, name in enumerate(names[:changed]):
                step = 20 + changed
                if i % 10 == 0:  # one changed run in ten gets new failures
                    fake.progress(name, "isr", finished=step, failed=1 + changed // 10, error=OOM)
                else:
                    fake.progress(name, "isr", finished=step)
            before, start = source.requests_made, time.perf_counter()
            statuses = source.statuses(refs)
            ours_req, ours_s = source.requests_made - before, time.perf_counter() - start
            assert sum(s.changed for s in statuses) == changed
            refs = [RunRef(s.name, s.run_id, s.digest) for s in statuses]
            naive_req, naive_s = naive(fake, names)
            print(f"{changed:>8} {ours_req:>9} {ours_s:>8.2f} {naive_req:>10} {naive_s:>8.2f} {naive_req / ours_req:>6.0f}x")
            summary(f"PanDA status of {args.runs} runs, {changed} changed, requests", ours_req, naive_req, "requests",
                    requests=f"{ours_req} vs {naive_req}", note=f"{ours_s:.2f} s vs {naive_s:.2f} s")
    print("The monitor allows 1000 requests per client and hour (600 until 2021): the naive client exceeds it in "
          "one pass; jiracampaign's default budget is 500.")
    fake.stop()


if __name__ == "__main__":
    main()
