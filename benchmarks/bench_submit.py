"""Benchmark: `submit` of a campaign's submissions, CPU on the local store and requests on fake JIRA Cloud.

The campaign has one step split into N groups (N submissions); it is made with `create` beforehand
(not timed). `bps submit` is not run as a process: a runner function returns what `bps submit` prints
(``Submit dir``, ``Run Id``, ``Run Name``, the run name read from the file), so the figures are
jiracampaign's own cost. The working folders of the runs are made as usual.

- Local store: CPU seconds of the whole `submit` call (the service, from the spec path: reading the
  campaign's items, the checks, one working folder, record, description and run state per submission,
  the ledger) for 240, 2,000 and 10,000 submissions, and the CPU per submission, which stays flat when
  the growth is linear.
- JIRA Cloud (fake, over real HTTP, with ``--latency`` per request): requests counted at the server
  for ``--jira`` submissions (default 100: 2,000 at 50 ms would take over 6 minutes per client, so
  the 2,000 figures are the per-submission figures times 2,000, shown as such), against the
  requests the code before this change sent for each submission, replayed by a one-by-one client:
  description, record, the status read, the transitions, the transition, the status read back (6;
  measured on that code: 122 requests for 20 submissions, with one search and the ledger).

Usage: python benchmarks/bench_submit.py [--sizes 240,2000,10000] [--jira 100] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from jiracampaign.config import load_config  # noqa: E402
from jiracampaign.core.ledger import DIGEST_FILE  # noqa: E402
from jiracampaign.core.records import RunIdentity, SubmissionRecord  # noqa: E402
from jiracampaign.core.texts import submission_doc  # noqa: E402
from jiracampaign.planning.spec import load_spec  # noqa: E402
from jiracampaign.services.create import create  # noqa: E402
from jiracampaign.services.submit import parse_bps_output, submit  # noqa: E402
from jiracampaign.trackers.jira.client import JiraClient  # noqa: E402
from jiracampaign.trackers.jira.tracker import PROPERTY, JiraTracker  # noqa: E402
from jiracampaign.trackers.jira.wiki import render  # noqa: E402
from jiracampaign.trackers.jira.workflow import status_targets  # noqa: E402
from jiracampaign.trackers.local import LocalTracker  # noqa: E402
from summary import summary  # noqa: E402
from tests.fakes.jira_server import FakeJira  # noqa: E402

NAME = re.compile(r"^uniqProcName:\s*(\S+)", re.MULTILINE)


def write_spec(folder: Path, n: int) -> Path:
    """A campaign of one step split into ``n`` groups of one visit."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "campaign.yaml"
    path.write_text(f"""campaign: bench{n}
description: submit benchmark
operator: jdoe
project: bench
butler_repo: /repo/bench
input_collection: Toy/defaults
pipeline: $DRP_PIPE_DIR/pipelines/LSSTCam-imSim/DRP-test-med-1.yaml
software: w_2026_47
site: SLAC
template: panda
steps:
  - name: step1
    query: "instrument='LSSTCam-imSim'"
    split:
      rule: values
      dimension: visit
      values: [{", ".join(str(100000 + i) for i in range(n))}]
""")
    return path


def bps(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """What `bps` prints, without a process: usage for ``--help``, else a submitted run named as the file says."""
    if command[-1] == "--help":
        return subprocess.CompletedProcess(command, 0, "Usage: bps [OPTIONS] COMMAND [ARGS]...", "")
    name = NAME.search(Path(command[-1]).read_text()).group(1)
    out = f"Submit dir: /sdf/submit/{name}\nRun Id: 6000\nRun Name: {name}\n"
    return subprocess.CompletedProcess(command, 0, out, "")


def config():
    return load_config(overrides={"bps.command": sys.executable}, missing_ok=True)


def local(tmp: Path, n: int) -> tuple[float, float]:
    """CPU and wall seconds of `submit` of ``n`` submissions on a local store."""
    spec = write_spec(tmp / f"local{n}", n)
    tracker = LocalTracker(tmp / f"local{n}" / "store.sqlite")
    create(load_spec(spec), tracker, tmp / f"local{n}" / "camp")
    cpu, wall = time.process_time(), time.perf_counter()
    report = submit(tracker, config(), (str(spec),), output_dir=str(tmp / f"local{n}" / "camp"), run=bps)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert report.count("submitted") == n, report.results[:3]
    tracker.close()
    return cpu, wall


def jira_world(tmp: Path, n: int, name: str) -> tuple[FakeJira, Path, callable]:
    """A fake JIRA Cloud holding a created campaign of ``n`` submissions (made without latency)."""
    fake = FakeJira("cloud", lag=0).start()
    spec = write_spec(tmp / name, n)
    cfg = config()

    def tracker() -> JiraTracker:
        client = JiraClient(fake.url, "basic", fake.user, fake.token, timeout=30, flavour="cloud")
        return JiraTracker(client, fake.project_key, statuses=status_targets(cfg))

    create(load_spec(spec), tracker(), tmp / name / "camp")
    return fake, spec, tracker


def jira_ours(tmp: Path, n: int, latency: float) -> tuple[int, float]:
    fake, spec, tracker = jira_world(tmp, n, "jira-ours")
    fake.latency, mark, wall = latency, len(fake.log), time.perf_counter()
    report = submit(tracker(), config(), (str(spec),), output_dir=str(tmp / "jira-ours" / "camp"), run=bps)
    wall = time.perf_counter() - wall
    assert report.count("submitted") == n
    count = len(fake.log) - mark
    fake.stop()
    return count, wall


def jira_before(tmp: Path, n: int, latency: float) -> tuple[int, float]:
    """The requests the code before this change sent, one submission after the other."""
    fake, spec, tracker = jira_world(tmp, n, "jira-before")
    fake.latency, mark, wall = latency, len(fake.log), time.perf_counter()
    jira = tracker()
    client = jira.client
    found = jira.find_items(f"bench{n}")
    epic = next(t for t in found if t.kind == "campaign")
    for item in (t for t in found if isinstance(t.record, SubmissionRecord)):
        path = tmp / "jira-before" / "camp" / "step1" / item.record.file
        out = parse_bps_output(bps(["bps", "submit", str(path)]).stdout)
        record = dataclasses.replace(item.record, run=RunIdentity(run_name=out["run_name"], run_id=out["run_id"],
                                                                  submit_dir=out["submit_dir"], wms="panda"))
        client.put("update ticket", f"issue/{item.key}", {"fields": {"description": render(submission_doc(record))}})
        client.put("set metadata", f"issue/{item.key}/properties/{PROPERTY}", record.to_json())
        client.get("read status", f"issue/{item.key}", {"fields": "status"})
        options = client.get("read transitions", f"issue/{item.key}/transitions", {"expand": "transitions.fields"})
        choice = next(t for t in options["transitions"] if t["to"]["name"] == "In Progress")
        client.raw("POST", f"issue/{item.key}/transitions", body={"transition": {"id": choice["id"]}})
        client.get("read status", f"issue/{item.key}", {"fields": "status"})
    client.upload(f"issue/{epic.key}/attachments", DIGEST_FILE, b"{}")  # the ledger, once, as before
    wall = time.perf_counter() - wall
    count = len(fake.log) - mark
    fake.stop()
    return count, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="240,2000,10000", help="local-store campaign sizes")
    parser.add_argument("--jira", type=int, default=100, help="submissions measured on fake JIRA")
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    os.environ.setdefault("XDG_DATA_HOME", tempfile.mkdtemp(prefix="bench-submit-"))  # the submit lock's folder
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print("submit, local store (runner function instead of a bps process; setup by create, not timed):")
        print(f"  {'submissions':>11} {'CPU s':>8} {'wall s':>8} {'CPU ms/sub':>11} {'vs smallest':>11}")
        first = None
        rows = []
        for n in sizes:
            cpu, wall = local(tmp, n)
            per = cpu / n * 1000
            first = first or per
            rows.append((n, cpu, per))
            print(f"  {n:>11,} {cpu:>8.2f} {wall:>8.2f} {per:>11.3f} {per / first:>10.2f}x", flush=True)
        for n, cpu, per in rows:
            summary(f"submit {n:,} on the local store, CPU", cpu, unit="CPU s")
        if len(rows) > 1:
            (n0, _, p0), (n1, _, p1) = rows[0], rows[-1]
            summary(f"submit local CPU/submission, {n1:,} vs {n0:,} (1.0 = linear)", p1, p0, unit="CPU ms/sub")

        n = args.jira
        ours, t_ours = jira_ours(tmp, n, args.latency)
        before, t_before = jira_before(tmp, n, args.latency)
        print(f"\nsubmit, fake JIRA Cloud at {args.latency * 1000:.0f} ms per request, {n} submissions "
              "(requests counted at the server):")
        print(f"  jiracampaign submit        : {ours:6d} requests ({ours / n:.2f} per submission), {t_ours:7.2f} s")
        print(f"  before (one by one, 6 each): {before:6d} requests ({before / n:.2f} per submission), "
              f"{t_before:7.2f} s"
              f"   -> {before / ours:.2f}x the requests, {t_before / t_ours:.2f}x the time")
        scale = 2000 / n
        if n != 2000:
            print(f"  2,000 submissions, per-submission figures x {scale:g} (extrapolated, not measured): "
                  f"{ours * scale:,.0f} requests, {t_ours * scale / 60:.1f} min vs {before * scale:,.0f} requests, "
                  f"{t_before * scale / 60:.1f} min")
        summary(f"submit {n} on JIRA Cloud {args.latency * 1000:.0f} ms, requests/submission", ours / n, before / n,
                unit="requests", requests=f"{ours} vs {before}")
        summary(f"submit {n} on JIRA Cloud {args.latency * 1000:.0f} ms, wall", t_ours, t_before, unit="s",
                requests=f"{ours} vs {before}")


if __name__ == "__main__":
    main()
