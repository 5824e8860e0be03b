"""Benchmark: read a DP0.2-sized repository's inputs with the butler source (the ``butler`` extra).

Builds a SQLite butler repository with about 40,000 visits (the irregular set of tests/butler_repo.py
scaled up; without visit regions unless --regions), then prints the seconds to import daf_butler,
open the repository, list every visit, list them per night, find the visits with raws (by
exposure, mapped through visit_definition), count a band, and check a 900-value IN clause; then
the time of a butler-sourced split as `plan` does it (`services.inputs.load_spec`: open the
repository, read the inputs, make the groups, check every group's query with our checks and the
butler's): ranges of 100 visits, ranges of the g-band visits with raws, and nights capped at 250.
Each query is the best of --repeat runs.

Usage: python benchmarks/bench_butler.py [--scale 19] [--regions] [--keep DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from summary import summary  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


def best(repeat: int, call):
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=19.0, help="times the test repository's 2,111 visits")
    parser.add_argument("--regions", action="store_true", help="insert visit regions too (slower to build)")
    parser.add_argument("--keep", type=Path, help="build the repository here (reused when it exists)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    import lsst.daf.butler  # noqa: F401

    print(f"import lsst.daf.butler: {time.perf_counter() - started:.2f} s")
    from jiracampaign.sources.butler.inputs import ButlerInputs
    from tests.butler_repo import INSTRUMENT, RAW_RUN, build_repo, plan_visits

    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch) / "repo"
        if not (root / "butler.yaml").exists():
            repo = build_repo(root, scale=args.scale, regions=args.regions)
            print(f"built {root}: {len(repo.visits):,} visits in {repo.build_seconds:.1f} s")
        visits = len(plan_visits(scale=args.scale)[0])

        started = time.perf_counter()
        inputs = ButlerInputs(str(root), [RAW_RUN], INSTRUMENT)
        print(f"open: {time.perf_counter() - started:.2f} s (collections and instrument checked)")
        seconds, ids = best(args.repeat, inputs.ids)
        assert len(ids) == visits
        print(f"ids(visit): {len(ids):,} visits in {seconds:.3f} s")
        seconds, nights = best(args.repeat, inputs.ids_by_night)
        print(f"ids_by_night(visit): {len(nights)} nights in {seconds:.3f} s")
        seconds, count = best(args.repeat, lambda: inputs.count(where="band = 'g'"))
        print(f"count(band = 'g'): {count:,} in {seconds:.3f} s")
        seconds, raws = best(args.repeat, lambda: inputs.dataset_ids("raw"))
        print(f"dataset_ids(raw -> visit): {len(raws):,} visits in {seconds:.3f} s")
        where = f"visit IN ({', '.join(map(str, ids[:900]))})"
        seconds, problems = best(args.repeat, lambda: inputs.check_query(where))
        assert problems == []
        print(f"check_query(900-value IN): {seconds:.3f} s")
        inputs.close()

        from jiracampaign.services.inputs import load_spec

        head = (f"campaign: bench\noperator: ops\nbutler_repo: {root}\ninput_collection: {RAW_RUN}\n"
                f"pipeline: DRP.yaml\nsoftware: w_2026_40\nsite: SLAC\nsteps:\n  - name: step1\n"
                f"    query: \"instrument = '{INSTRUMENT}'\"\n    split: ")
        splits = {
            "ranges, size 100": "{rule: ranges, butler: {}, size: 100}",
            "ranges, g band with raws, size 100": "{rule: ranges, butler: {dataset: raw, where: \"band = 'g'\"}, size: 100}",
            "dates, max_per_group 250": "{rule: dates, butler: {}, max_per_group: 250}",
        }
        spec = Path(scratch) / "spec.yaml"
        for name, split in splits.items():
            spec.write_text(head + split + "\n")
            seconds, loaded = best(args.repeat, lambda: load_spec(spec))
            groups = loaded.groups["step1"]
            print(f"plan split ({name}): {sum(g.inputs for g in groups):,} visits in {len(groups)} groups, "
                  f"{seconds:.2f} s (open, read, group, check every query)")
            summary(f"butler split {name}: {len(groups)} groups", seconds, unit="s", note=f"best of {args.repeat}")


if __name__ == "__main__":
    main()
