"""Benchmark: plan 40,000 and 400,000 visits into 1000-visit groups (load + split, render, write).

Prints seconds per phase (best of N runs), groups per second, and the size of the rendered data
queries beside the naive approach of listing every visit (`visit IN (...)`). The phases are timed in
this process with the templates compiled beforehand; the whole command is then timed as a user runs
it, ``jiracampaign plan SPEC`` in a new process (interpreter start-up, imports, config and template
compilation included): wall time and the process's CPU, best of N.

Usage: python benchmarks/bench_plan.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jiracampaign.planning.plan import build_plan, write_plan
from jiracampaign.planning.render import Renderer
from jiracampaign.planning.spec import load_spec

SPEC = """\
campaign: bench
operator: bench
butler_repo: /repo/main
input_collection: 2.2i/defaults
pipeline: DRP.yaml
software: w_2026_47
site: SLAC
steps:
  - name: step1
    query: "instrument='LSSTCam-imSim' AND skymap='DC2'"
    split: {{rule: ranges, dimension: visit, file: visits.txt, size: {size}, complete: true}}
"""


def make_inputs(folder: Path, visits: int, size: int) -> Path:
    rng = random.Random(visits)
    ids, v = [], 159471
    while len(ids) < visits:
        ids.append(v)
        v += rng.choice([1, 1, 1, 2, 3, 7, 20])
    rng.shuffle(ids)
    (folder / "visits.txt").write_text("\n".join(map(str, ids)) + "\n")
    spec = folder / "campaign.yaml"
    spec.write_text(SPEC.format(size=size))
    return spec


def best(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def whole_command(spec: Path, out: Path, home: Path, repeat: int) -> tuple[float, float]:
    """``jiracampaign plan SPEC`` in a new process: best wall time and best CPU (user + system) of ``repeat``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIRACAMPAIGN_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local"))
    for folder in (home / ".config", home / ".local"):
        folder.mkdir(parents=True, exist_ok=True)
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "jiracampaign", "plan", str(spec), "-o", str(out), "--force", "--json"],
                       env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def run(visits: int, size: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec_path = make_inputs(folder, visits, size)
        t_load, spec = best(lambda: load_spec(spec_path), repeat)
        renderer = Renderer()
        build_plan(spec, renderer)  # compile templates once, as a long run would
        t_render, plan = best(lambda: build_plan(spec, renderer), repeat)
        t_write, _ = best(lambda: write_plan(plan, folder / "out", force=True), repeat)
        groups = len(plan.submissions)
        query_bytes = sum(len(s.data_query) for s in plan.submissions)
        naive_bytes = sum(len(f"({spec.campaign.steps[0].query}) AND (visit IN (") + 8 * (g.inputs or 0) for g in spec.groups["step1"])
        total = t_load + t_render + t_write
        print(f"{visits:>7} visits -> {groups:>4} groups of <= {size}: "
              f"load+split {t_load:6.3f} s, render {t_render:6.3f} s, write {t_write:6.3f} s, "
              f"total {total:6.3f} s ({groups / total:,.0f} groups/s); "
              f"data queries {query_bytes / groups:,.0f} B/group vs {naive_bytes / groups:,.0f} B listing every visit "
              f"({naive_bytes / query_bytes:,.0f}x smaller)")
        wall, cpu = whole_command(spec_path, folder / "cli", folder / "home", repeat)
        print(f"{visits:>7} visits, the whole command (jiracampaign plan, new process): {wall:6.3f} s wall, "
              f"{cpu:6.3f} s CPU; in-process phases above: {total:6.3f} s")
        from summary import summary  # benchmarks/ is on sys.path when run as a script

        summary(f"plan {visits:,} visits into {groups} groups, the whole command", wall, unit="s",
                note=f"{cpu:.2f} s CPU; best of {repeat}")
        summary(f"plan {visits:,} visits, data query bytes vs listing every visit", query_bytes, naive_bytes, "bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for visits in (40_000, 400_000):
        run(visits, 1000, args.repeat)


if __name__ == "__main__":
    main()
