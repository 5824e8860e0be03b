"""Benchmark: requests, seconds and CPU per `sync` for 240 and 10,000 open submissions.

Fake JIRA Cloud and fake PanDA monitor on loopback (with the given latency per request). For 240
open submissions: a sync with 0, 10 and 240 runs changed; for 10,000 (a data-release campaign): 0
and 10 changed. JIRA and PanDA requests are counted at the fake servers; CPU is the sync thread's
own time (there the fake servers run in other threads). The naive approach (page every open ticket, ask
the monitor for each run's tasks and each task's jobs, comment and transition every ticket) is run
for 240, and for 10,000 with ``--naive-big`` (about 70,000 requests one at a time: slow); it is
never extrapolated.

Then the first sync of ``--first`` runs (10,000 by default: every run changes, so every ticket is
written), measured twice on fresh campaigns: one request at a time (``panda.concurrency`` 1, one
writer), and as configured (``panda.concurrency`` 3, the JIRA tracker's ``concurrency`` 8). Both use
the PanDA budget of ``panda.requests_per_hour`` (500): the requests sent are checked against it.
There the fake servers run in a process of their own, as real servers would (in the sync's process
their CPU would bound the concurrent sync, not the sync's own); CPU is the syncing process's.

Usage: python benchmarks/bench_sync.py [--latency 0.01] [--big 10000] [--first 10000] [--naive-big]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jiracampaign.config import load_config  # noqa: E402
from jiracampaign.core.runs import RunRef  # noqa: E402
from jiracampaign.sources.budget import RequestBudget  # noqa: E402
from jiracampaign.sources.panda.source import PandaSource  # noqa: E402
from jiracampaign.sources.panda.client import MonitorClient  # noqa: E402
from jiracampaign.core.documents import Document, Paragraph  # noqa: E402
from jiracampaign.core.ledger import DIGEST_FILE, Entry, SyncState  # noqa: E402
from jiracampaign.core.records import CampaignRecord, RunIdentity, StepInfo, SubmissionRecord  # noqa: E402
from jiracampaign.services.leases import release_lease  # noqa: E402
from jiracampaign.services.sync import Syncer  # noqa: E402
from jiracampaign.trackers.base import NewItem  # noqa: E402
from jiracampaign.trackers.jira.tracker import JiraTracker  # noqa: E402
from jiracampaign.trackers.jira.client import JiraClient  # noqa: E402
from jiracampaign.trackers.jira.workflow import status_targets  # noqa: E402
from tests.fakes.jira_server import FakeJira  # noqa: E402
from tests.fakes.panda_server import FakeBigPanda  # noqa: E402
from summary import summary  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

LABELS = {"isr": 40, "calibrateImage": 40, "transformPreSourceTable": 40, "consolidateVisitSummary": 1}
OOM = {"piloterrorcode": 1305, "piloterrordiag": "Failed to execute payload: killed (out of memory)"}


def tracker_for(url: str, user: str, token: str, config) -> JiraTracker:
    client = JiraClient(url, "basic", user, token, timeout=30, flavour="cloud")
    # flavour known (saved by init): no serverInfo request; workflow statuses from the config, as `sync` does
    return JiraTracker(client, "CAMP", statuses=status_targets(config))


class World:
    """A campaign of ``n`` submitted runs in a fake JIRA and a fake monitor."""

    def __init__(self, n: int, latency: float, tmp: Path):
        self.jira = FakeJira("cloud", lag=0, latency=latency).start()
        self.panda = FakeBigPanda(latency=latency, quota=10**9).start()
        self.config = load_config(overrides={"panda.monitor_url": self.panda.url})
        self.budget = RequestBudget(tmp / "budget.sqlite", "bench", 10**9)
        self.tracker = self._tracker()
        campaign = f"bench{n}"
        self.campaign = campaign
        (self.epic,) = self.tracker.ensure_items([NewItem(
            campaign, campaign, f"Campaign {campaign}", Document([Paragraph("benchmark")]),
            CampaignRecord(campaign=campaign, steps=[StepInfo("step1", (), n)]))])
        if self.epic.lease is not None:  # born under its creator's lease: released, as create does
            release_lease(self.tracker, self.epic.key, self.epic.lease)
        self.names = [f"u_pilot_{campaign}_step1_group{i:05d}_attempt1" for i in range(n)]
        now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        items = [NewItem(ident, campaign, f"{campaign} step1 {i}", Document([Paragraph("submission")]),
                         SubmissionRecord(campaign=campaign, submission=ident, step="step1", group=i, groups=n,
                                          data_query="", inputs=None, output_run="", run_name=name,
                                          file=f"{ident}.yaml", sha256=None,
                                          run=RunIdentity(run_name=name, run_id=str(100000 + i), wms="panda",
                                                          submitted=now)),
                         parent=self.epic.key)
                 for i, name in enumerate(self.names) for ident in [f"{campaign}_step1_{i:05d}"]]
        self.tickets = self.tracker.ensure_items(items)
        for i, name in enumerate(self.names):
            self.panda.add_run(name, LABELS, request_id=100000 + i)
            self.panda.progress(name, "isr", finished=1, running=5)

    def _tracker(self) -> JiraTracker:
        return tracker_for(self.jira.url, self.jira.user, self.jira.token, self.config)

    def source(self, concurrency: int = 3, budget: RequestBudget | None = None) -> PandaSource:
        return PandaSource(MonitorClient(self.panda.url, budget=budget or self.budget), concurrency=concurrency)

    def mark_synced(self) -> None:
        """Write the digest as a completed sync would (without writing every ticket first)."""
        statuses = self.source().statuses([RunRef(t.record.run.run_name, t.record.run.run_id) for t in self.tickets])
        entries = [Entry(key=t.key, ident=t.ident, step="step1", source="panda", run_name=s.name, run_id=s.run_id,
                         wms="panda", submitted=t.record.run.submitted, digest=s.digest, state=s.state.value,
                         status="In Progress", total=s.total, finished=s.finished, failed=s.failed)
                   for t, s in zip(self.tickets, statuses)]
        state = SyncState(self.campaign, entries, checked=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self.tracker.attach(self.epic.key, DIGEST_FILE, state.to_bytes())

    def change(self, count: int, step: int) -> None:
        for i, name in enumerate(self.names[:count]):
            if i % 10 == 0:
                self.panda.progress(name, "isr", finished=1 + step, failed=step, error=OOM)
            else:
                self.panda.progress(name, "isr", finished=1 + step)

    def sync(self) -> tuple[int, int, float, float, int]:
        jira0, panda0 = len(self.jira.log), len(self.panda.log)
        syncer = Syncer(self._tracker(), self.config, sources={"panda": self.source()})
        wall, cpu = time.perf_counter(), time.thread_time()
        report = syncer.run()
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        assert not report.problems, report.problems
        return len(self.jira.log) - jira0, len(self.panda.log) - panda0, wall, cpu, report.changed

    def naive(self) -> tuple[int, int, float]:
        """Poll every open ticket's run in full and comment on (and transition) every ticket."""
        jira0, panda0 = len(self.jira.log), len(self.panda.log)
        tracker, client = self._tracker(), MonitorClient(self.panda.url)
        start = time.perf_counter()
        for ticket in tracker.find_items(self.campaign):  # one paged search by the campaign's label
            if ticket.kind != "submission" or ticket.done:
                continue
            run = ticket.record.run.run_name
            for task in client.get("/tasks/", {"taskname": f"{run}*", "days": 30}):
                client.get("/jobs/", {"jeditaskid": task["jeditaskid"], "mode": "nodrop"})
            tracker.client.raw("POST", f"issue/{ticket.key}/comment", body={"body": f"status of {run}"})
            tracker.client.get("transitions", f"issue/{ticket.key}/transitions")
        return len(self.jira.log) - jira0, len(self.panda.log) - panda0, time.perf_counter() - start

    def close(self) -> None:
        self.jira.stop()
        self.panda.stop()


class Served:
    """A `World` of ``n`` runs built and served in a process of its own, as real servers are: the fake
    servers' work does not take the syncing process's interpreter lock (with them in the same process,
    the concurrent sync would be bound by their CPU, not by its own). Asked over a pipe for request counts."""

    def __init__(self, n: int, latency: float, tmp: Path):
        ours, theirs = multiprocessing.Pipe()
        self.pipe, self.n = ours, n
        self.process = multiprocessing.get_context("fork").Process(target=_serve, args=(theirs, n, latency, tmp),
                                                                   daemon=True)
        self.process.start()
        jira_url, panda_url, user, token = self.pipe.recv()
        self.config = load_config(overrides={"panda.monitor_url": panda_url})
        self.jira_url, self.panda_url, self.user, self.token = jira_url, panda_url, user, token

    def ask(self, question: str):
        self.pipe.send(question)
        return self.pipe.recv()

    def first(self, sequential: bool, per_hour: int, tmp: Path) -> tuple[int, int, float, float, int, int]:
        """The first sync of every run: one request at a time, or as configured; PanDA within ``per_hour``.
        Returns JIRA and PanDA requests, wall and CPU seconds (of this process), the most JIRA requests
        in flight at once and the PanDA budget used."""
        budget = RequestBudget(tmp / f"first-{sequential}.sqlite", "bench-first", per_hour)
        concurrency = 1 if sequential else self.config.get("panda.concurrency")
        source = PandaSource(MonitorClient(self.panda_url, budget=budget), concurrency=concurrency)
        jira0, panda0 = self.ask("reset")
        tracker = tracker_for(self.jira_url, self.user, self.token, self.config)
        syncer = Syncer(tracker, self.config, sources={"panda": source}, workers=1 if sequential else None)
        wall, cpu = time.perf_counter(), time.process_time()
        report = syncer.run()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert not report.problems, report.problems[:3]
        assert report.changed == self.n, (report.changed, self.n)
        jira, panda, peak = self.ask("counts")
        panda -= panda0
        assert panda <= per_hour - budget.remaining() <= per_hour, (panda, budget.remaining())
        return jira - jira0, panda, wall, cpu, peak, per_hour - budget.remaining()

    def close(self) -> None:
        self.pipe.send("stop")
        self.process.join(30)


def _serve(pipe, n: int, latency: float, tmp: Path) -> None:
    world = World(n, latency, tmp)
    pipe.send((world.jira.url, world.panda.url, world.jira.user, world.jira.token))
    while (question := pipe.recv()) != "stop":
        if question == "reset":
            world.jira.peak_in_flight = 0
            pipe.send((len(world.jira.log), len(world.panda.log)))
        else:
            pipe.send((len(world.jira.log), len(world.panda.log), world.jira.peak_in_flight))
    world.close()


def row(label: str, jira: int, panda: int, wall: float, cpu: float | None, naive: tuple | None = None) -> None:
    cpu_text = f"{cpu:8.2f}" if cpu is not None else f"{'':>8}"
    text = f"{label:<26} {jira:>6} {panda:>6} {jira + panda:>6} {wall:>8.2f} {cpu_text}"
    if naive:
        total = naive[0] + naive[1]
        text += f"   {naive[0]:>7} {naive[1]:>7} {total:>7}  {total / max(1, jira + panda):>6.0f}x"
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.01)
    parser.add_argument("--big", type=int, default=10000)
    parser.add_argument("--first", type=int, default=10000, help="runs of the first-sync comparison (0: skip)")
    parser.add_argument("--naive-big", action="store_true", help="measure the naive approach at --big too (slow)")
    args = parser.parse_args()
    print(f"latency {args.latency * 1000:.0f} ms per request; {len(LABELS)} tasks per run; 1 changed run in 10 gets new "
          "failures")
    print(f"{'sync':<26} {'JIRA':>6} {'PanDA':>6} {'total':>6} {'wall s':>8} {'CPU s':>8}   "
          f"{'naive J':>7} {'naive P':>7} {'naive':>7}  {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        world = World(240, args.latency, Path(tmp))
        row("240 open, first sync", *world.sync()[:4])
        naive = world.naive()
        for count, step in ((0, 0), (10, 2), (240, 4)):
            world.change(count, step)
            jira, panda, wall, cpu, changed = world.sync()
            assert changed == count, (changed, count)
            row(f"240 open, {count} changed", jira, panda, wall, cpu, naive)
        world.config.set("sync.check_minutes", 1e-6, "benchmark")  # the check a sync makes once an hour
        jira, panda, wall, cpu, _ = world.sync()
        row("240 open, hourly check", jira, panda, wall, cpu, naive)
        world.config.set("sync.check_minutes", 60, "benchmark")
        world.close()

        big = World(args.big, args.latency, Path(tmp))
        big.mark_synced()
        naive_big = big.naive() if args.naive_big else None  # measured, or not shown
        for count, step in ((0, 0), (10, 2)):
            big.change(count, step)
            jira, panda, wall, cpu, changed = big.sync()
            assert changed == count, (changed, count)
            row(f"{args.big} open, {count} changed", jira, panda, wall, cpu, naive_big)
        big.close()

        if args.first:
            per_hour = int(world.config.get("panda.requests_per_hour"))
            print(f"\nfirst sync of {args.first} runs (every ticket written); PanDA budget {per_hour} requests an hour")
            print(f"{'first sync':<30} {'JIRA':>6} {'PanDA':>6} {'total':>6} {'wall s':>8} {'CPU s':>8}   "
                  f"{'in flight':>9} {'budget used':>11}")
            walls = {}
            for sequential in (True, False):
                fresh = Served(args.first, args.latency, Path(tmp))
                jira, panda, wall, cpu, peak, used = fresh.first(sequential, per_hour, Path(tmp))
                fresh.close()
                label = "one at a time" if sequential else "concurrent (3 PanDA, 8 JIRA)"
                walls[sequential] = wall
                print(f"{label:<30} {jira:>6} {panda:>6} {jira + panda:>6} {wall:>8.2f} {cpu:>8.2f}   "
                      f"{peak:>9} {used:>7}/{per_hour}")
            print(f"first sync: {walls[True] / walls[False]:.1f}x lower wall time concurrent than one at a time")
            summary(f"sync: first sync of {args.first:,} runs, wall", product=round(walls[False], 1),
                    baseline=round(walls[True], 1), unit="s", requests=f"{jira + panda} both ways",
                    note=f"PanDA {used} of {per_hour} budget; baseline: one request at a time")
    print("Targets: idle sync of 240 open <= 3 requests; of 10,000 open <= 15 requests and < 10 s CPU; "
          "first sync of 10,000 >= 3x lower wall time than one at a time, never over the PanDA budget.")


if __name__ == "__main__":
    main()
