"""A throwaway SQLite data butler with an irregular visit set, built with the real ``lsst-daf-butler``.

`build_repo(root)` makes the repository and returns a `ToyRepo`: where it is and the truth about
what was inserted, for tests to compare every butler answer with. No pipe_base, no files: dimension
records go in with ``insertDimensionData`` and datasets with ``registry.insertDatasets`` (registry
rows only, nothing in the datastore), which is all a data-ID or dataset query needs.

The visit set is irregular on purpose (seeded, so every build is the same):

- 30 nights, 2026-01-01 .. 2026-01-30; the nights in `EMPTY_NIGHTS` have a ``day_obs`` record but
  no exposure, the others from a few visits to several hundred (`NIGHT_COUNTS`);
- visit ids rise within a night with gaps (1-30 ids skipped now and then), jump by 50 to 50,000
  between nights, and a few isolated outliers sit far from every other id (one far below, on a
  late night);
- calibration exposures (no visit) take ids inside the visits' gaps, and have raws too;
- each visit is one exposure with the same id (``visit_definition``), in band g, r or i;
- visit regions are 1-degree boxes in four tracts of skymap ``toy`` (ids 0, 1, 2 and 57, each a
  10x10-degree box), some straddling two tracts, a few in no tract;
- ``raw`` (instrument, exposure, detector; 2 detectors) exists for most exposures, not all, in RUN
  ``Toy/raw/all``; ``visit_summary`` (instrument, visit) for some visits in ``u/ops/step1/run1``.

``python -m tests.butler_repo DIR [N]`` builds one to look at (N visits scaled like DP0.2 when given).
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTRUMENT = "Toy"
SKYMAP = "toy"
RAW_RUN = "Toy/raw/all"
OUTPUT_RUN = "u/ops/step1/run1"
BANDS = ("g", "r", "i")
DETECTORS = (0, 1)
FIRST_NIGHT = 20260101
EMPTY_NIGHTS = frozenset({20260104, 20260105, 20260111, 20260118, 20260119, 20260126, 20260129})
# visits per night with data, in night order (a few to hundreds; two nights above 250)
NIGHT_COUNTS = (3, 120, 387, 2, 60, 297, 15, 9, 41, 210, 1, 75, 130, 6, 33, 180, 4, 260, 12, 90, 25, 8, 140)
# tract id -> (ra_min, ra_max); every tract spans dec -5 .. +5
TRACTS = {0: (0.0, 10.0), 1: (10.0, 20.0), 2: (20.0, 30.0), 57: (90.0, 100.0)}
VISIT_HALF_WIDTH = 0.5  # degrees


@dataclass(frozen=True)
class Visit:
    id: int
    night: int
    band: str
    ra: float
    tracts: frozenset[int]
    has_raw: bool
    has_summary: bool


@dataclass
class ToyRepo:
    """Where the repository is and what it holds."""

    root: Path
    visits: dict[int, Visit] = field(default_factory=dict)
    calibration_exposures: list[int] = field(default_factory=list)
    nights: list[int] = field(default_factory=list)  # every day_obs record, empty nights included
    build_seconds: float = 0.0

    instrument = INSTRUMENT
    skymap = SKYMAP
    raw_run = RAW_RUN
    output_run = OUTPUT_RUN

    def visit_ids(self, band: str | None = None) -> list[int]:
        return sorted(v.id for v in self.visits.values() if band is None or v.band == band)

    def ids_by_night(self, band: str | None = None) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for vid in self.visit_ids(band):
            out.setdefault(self.visits[vid].night, []).append(vid)
        return dict(sorted(out.items()))

    def ids_by_tract(self, band: str | None = None) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for vid in self.visit_ids(band):
            for tract in self.visits[vid].tracts:
                out.setdefault(tract, []).append(vid)
        return {t: sorted(ids) for t, ids in sorted(out.items())}


def _night_list() -> list[int]:
    return [FIRST_NIGHT + n for n in range(30)]


def plan_visits(seed: int = 11, scale: float = 1.0) -> tuple[list[Visit], list[tuple[int, int]]]:
    """The visit set and the calibration exposures ``(id, night)``, without any butler."""
    rnd = random.Random(seed)
    data_nights = [n for n in _night_list() if n not in EMPTY_NIGHTS]
    counts = [max(1, round(c * scale)) for c in NIGHT_COUNTS]
    assert len(counts) == len(data_nights)
    visits: list[Visit] = []
    calibs: list[tuple[int, int]] = []
    next_id = 100_000
    jumps = (50, 137, 1_000, 4_999, 50_000)
    for n, (night, count) in enumerate(zip(data_nights, counts)):
        next_id += jumps[n % len(jumps)]
        for _ in range(count):
            if rnd.random() < 0.08:  # a gap inside the night; sometimes a calibration exposure in it
                gap = rnd.randint(1, 30)
                if rnd.random() < 0.5:
                    calibs.append((next_id, night))
                next_id += gap
            visits.append(_visit(rnd, next_id, night))
            next_id += 1
    # isolated outliers: far above everything, and one far below on a late night
    for vid, night in ((9_000_000, data_nights[5]), (9_000_500, data_nights[6]), (12_345, data_nights[-2])):
        visits.append(_visit(rnd, vid, night))
    return visits, calibs


def _visit(rnd: random.Random, vid: int, night: int) -> Visit:
    where = rnd.random()
    if where < 0.04:
        ra = 200.0 + rnd.uniform(-3, 3)  # in no tract
    else:
        ra_min, ra_max = TRACTS[rnd.choice(sorted(TRACTS))]
        ra = rnd.uniform(ra_min + 0.1, ra_max - 0.1)
        # keep clear of a border by 0.05 degree, so overlap is never a matter of rounding
        for edge in (ra_min, ra_max):
            if abs(abs(ra - edge) - VISIT_HALF_WIDTH) < 0.05:
                ra += 0.1
    tracts = frozenset(t for t, (lo, hi) in TRACTS.items()
                       if ra + VISIT_HALF_WIDTH > lo and ra - VISIT_HALF_WIDTH < hi)
    has_raw = rnd.random() > 0.05
    return Visit(vid, night, rnd.choice(BANDS), ra, tracts, has_raw, has_raw and rnd.random() > 0.2)


def _box(ra_min: float, ra_max: float, dec_min: float, dec_max: float):
    from lsst.sphgeom import ConvexPolygon, LonLat, UnitVector3d

    corners = ((ra_min, dec_min), (ra_max, dec_min), (ra_max, dec_max), (ra_min, dec_max))
    return ConvexPolygon([UnitVector3d(LonLat.fromDegrees(ra, dec)) for ra, dec in corners])


def build_repo(root: Path, *, seed: int = 11, scale: float = 1.0, regions: bool = True) -> ToyRepo:
    """Make a SQLite butler repository at ``root`` and fill it; a few seconds at scale 1."""
    import astropy.time
    from lsst.daf.butler import Butler, DatasetType, Timespan

    started = time.perf_counter()
    visits, calibs = plan_visits(seed, scale)
    config = Butler.makeRepo(str(root))
    butler = Butler.from_config(config, writeable=True)
    reg = butler.registry
    reg.insertDimensionData("instrument", {"name": INSTRUMENT, "visit_max": 2**40, "exposure_max": 2**40,
                                           "detector_max": len(DETECTORS), "class_name": "tests.butler_repo.Toy"})
    reg.insertDimensionData("physical_filter", *[{"instrument": INSTRUMENT, "name": f"{b}_01", "band": b} for b in BANDS])
    reg.insertDimensionData("detector", *[{"instrument": INSTRUMENT, "id": d, "full_name": f"D{d}"} for d in DETECTORS])
    reg.insertDimensionData("visit_system", {"instrument": INSTRUMENT, "id": 0, "name": "one-to-one"})
    day = astropy.time.TimeDelta(1, format="jd")
    days = []
    for night in _night_list():
        begin = astropy.time.Time(f"{night // 10000}-{night // 100 % 100:02d}-{night % 100:02d}T12:00:00", scale="tai")
        days.append({"instrument": INSTRUMENT, "id": night, "timespan": Timespan(begin, begin + day)})
    reg.insertDimensionData("day_obs", *days)
    groups, exposures, visit_rows, definitions, memberships = [], [], [], [], []
    seq: dict[int, int] = {}
    for vid, night, band, kind in sorted([(v.id, v.night, v.band, "science") for v in visits]
                                         + [(c, night, "r", "bias") for c, night in calibs]):
        seq[night] = seq.get(night, 0) + 1
        groups.append({"instrument": INSTRUMENT, "name": f"g{vid}"})
        exposures.append({"instrument": INSTRUMENT, "id": vid, "obs_id": f"TOY_{vid}", "physical_filter": f"{band}_01",
                          "group": f"g{vid}", "day_obs": night, "seq_num": seq[night], "exposure_time": 30.0,
                          "observation_type": kind, "can_see_sky": kind == "science"})
    for v in visits:
        row = {"instrument": INSTRUMENT, "id": v.id, "name": f"v{v.id}", "physical_filter": f"{v.band}_01",
               "day_obs": v.night, "exposure_time": 30.0}
        if regions:
            row["region"] = _box(v.ra - VISIT_HALF_WIDTH, v.ra + VISIT_HALF_WIDTH, -VISIT_HALF_WIDTH, VISIT_HALF_WIDTH)
        visit_rows.append(row)
        definitions.append({"instrument": INSTRUMENT, "exposure": v.id, "visit": v.id})
        memberships.append({"instrument": INSTRUMENT, "visit_system": 0, "visit": v.id})
    reg.insertDimensionData("group", *groups)
    reg.insertDimensionData("exposure", *exposures)
    reg.insertDimensionData("visit", *visit_rows)
    reg.insertDimensionData("visit_definition", *definitions)
    reg.insertDimensionData("visit_system_membership", *memberships)
    reg.insertDimensionData("skymap", {"name": SKYMAP, "hash": b"toy", "tract_max": 100, "patch_nx_max": 1, "patch_ny_max": 1})
    reg.insertDimensionData("tract", *[{"skymap": SKYMAP, "id": t, "region": _box(lo, hi, -5.0, 5.0)}
                                       for t, (lo, hi) in TRACTS.items()])
    raw = DatasetType("raw", ["instrument", "exposure", "detector"], "StructuredDataDict", universe=butler.dimensions)
    summary = DatasetType("visit_summary", ["instrument", "visit"], "StructuredDataDict", universe=butler.dimensions)
    reg.registerDatasetType(raw)
    reg.registerDatasetType(summary)
    reg.registerRun(RAW_RUN)
    reg.registerRun(OUTPUT_RUN)
    with_raw = [v.id for v in visits if v.has_raw] + [c for c, _ in calibs]
    reg.insertDatasets("raw", [{"instrument": INSTRUMENT, "exposure": e, "detector": d}
                               for e in with_raw for d in DETECTORS], run=RAW_RUN)
    reg.insertDatasets("visit_summary", [{"instrument": INSTRUMENT, "visit": v.id} for v in visits if v.has_summary],
                       run=OUTPUT_RUN)
    butler.close()
    return ToyRepo(root=Path(root), visits={v.id: v for v in visits}, calibration_exposures=sorted(c for c, _ in calibs),
                   nights=_night_list(), build_seconds=time.perf_counter() - started)


if __name__ == "__main__":
    repo = build_repo(Path(sys.argv[1]), scale=float(sys.argv[2]) if len(sys.argv) > 2 else 1.0)
    print(f"{repo.root}: {len(repo.visits)} visits, {len(repo.calibration_exposures)} calibration exposures, "
          f"{len(repo.ids_by_night())} nights with data of {len(repo.nights)}, built in {repo.build_seconds:.1f} s")
