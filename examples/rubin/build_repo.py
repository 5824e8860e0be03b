"""Build a throwaway Butler repository for the toy instrument, with mock raws.

Run with the Rubin stack's Python (standard library and ``lsst`` only)::

    .venv-lsst/bin/python examples/rubin/build_repo.py build/rubin/repo --visits 200 --detectors 2 --nights 3

What it makes (SQLite registry, local datastore):

* the ``Toy`` instrument (``toy_instrument.py``): filters toy_g/r/i (bands g, r, i), detectors 1..D;
* K nights, ``day_obs`` 20261201, 20261202, ...; the visits are spread evenly over them and
  numbered per night: night n (from 1) has visits ``n * 1000 + seq`` (seq from 1), so
  ``visit >= 2000 AND visit < 3000`` is the second night (the multiplier grows to 10000, ... when
  a night has 1000 visits or more). One exposure per visit, with the same id;
* the ``visit`` records with their definition, visit-system membership and one
  ``visit_detector_region`` per visit x detector (the graph builder needs them);
* dataset type ``raw`` (instrument, exposure, detector) with the mock storage class of
  ``StructuredDataDict``, one mock dataset per exposure x detector in RUN ``Toy/raw/all``
  (about 16 ms each: 200 visits x 2 detectors take some 7 s).

The repository must not exist yet (the script refuses, exit 2, rather than mixing two builds).
Prints progress and timings on stderr and a one-line JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

log = logging.getLogger("build_repo")

RAW_RUN = "Toy/raw/all"
FIRST_NIGHT = (2026, 12, 1)
EXPOSURE_TIME = 30.0


def night_layout(visits: int, nights: int) -> list[tuple[int, int, int]]:
    """Spread ``visits`` over ``nights``: ``(day_obs, visit id, seq_num)`` per visit, in order.

    Parameters
    ----------
    visits : `int`
        Number of visits (>= 1).
    nights : `int`
        Number of nights (1 <= nights <= visits).

    Returns
    -------
    layout : `list` [`tuple` [`int`, `int`, `int`]]
        One entry per visit; visit ids are ``night * multiplier + seq``.
    """
    per_night = math.ceil(visits / nights)
    multiplier = 10 ** max(3, len(str(per_night)))
    import datetime

    start = datetime.date(*FIRST_NIGHT)
    layout = []
    remaining = visits
    for night in range(nights):
        count = math.ceil(remaining / (nights - night))
        remaining -= count
        day = start + datetime.timedelta(days=night)
        day_obs = int(day.strftime("%Y%m%d"))
        for seq in range(1, count + 1):
            layout.append((day_obs, (night + 1) * multiplier + seq, seq))
    return layout


def _square(ra: float, dec: float, half: float):
    from lsst.sphgeom import ConvexPolygon, LonLat, UnitVector3d

    corners = [(ra - half, dec - half), (ra + half, dec - half), (ra + half, dec + half), (ra - half, dec + half)]
    return ConvexPolygon([UnitVector3d(LonLat.fromDegrees(x, y)) for x, y in corners])


def build(repo: str, *, visits: int, detectors: int, nights: int) -> dict:
    """Create the repository and fill it; see the module docstring.

    Parameters
    ----------
    repo : `str`
        Path of the new repository (must not exist, or be an empty folder).
    visits, detectors, nights : `int`
        Sizes.

    Returns
    -------
    summary : `dict`
        Repository path, counts, the raw run, the visit id range per night and timings.
    """
    import astropy.time
    from lsst.daf.butler import Butler, DatasetRef, DatasetType, Timespan
    from lsst.pipe.base.tests.mocks import MockDataset, MockStorageClass
    from toy_instrument import FILTERS, ToyInstrument

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    Butler.makeRepo(repo)
    butler = Butler.from_config(repo, writeable=True, run=RAW_RUN)
    timings["create"] = time.perf_counter() - t0
    instrument = ToyInstrument(detectors=detectors)
    instrument.register(butler.registry)
    name = instrument.getName()

    t1 = time.perf_counter()
    layout = night_layout(visits, nights)
    filters = list(FILTERS)
    day_rows, group_rows, exposure_rows, visit_rows = [], [], [], []
    definition_rows, membership_rows, region_rows = [], [], []
    seen_days = set()
    night_ranges: dict[int, list[int]] = {}
    for index, (day_obs, visit, seq) in enumerate(layout):
        night_start = astropy.time.Time(f"{str(day_obs)[:4]}-{str(day_obs)[4:6]}-{str(day_obs)[6:]}T12:00:00",
                                        scale="tai")
        if day_obs not in seen_days:
            seen_days.add(day_obs)
            day_rows.append({"instrument": name, "id": day_obs,
                             "timespan": Timespan(night_start, night_start + astropy.time.TimeDelta(1, format="jd"))})
        night_ranges.setdefault(day_obs, []).append(visit)
        begin = night_start + astropy.time.TimeDelta(8 * 3600 + seq * 40, format="sec")
        timespan = Timespan(begin, begin + astropy.time.TimeDelta(EXPOSURE_TIME, format="sec"))
        physical_filter = filters[index % len(filters)]
        ra, dec = (10.0 + 0.5 * seq) % 360.0, -30.0 + 2.0 * (len(seen_days) - 1)
        group = str(visit)
        group_rows.append({"instrument": name, "name": group})
        exposure_rows.append({
            "instrument": name, "id": visit, "day_obs": day_obs, "group": group,
            "physical_filter": physical_filter, "obs_id": f"TOY_{day_obs}_{seq:06d}",
            "exposure_time": EXPOSURE_TIME, "dark_time": EXPOSURE_TIME, "observation_type": "science",
            "observation_reason": "science", "seq_num": seq, "seq_start": seq, "seq_end": seq,
            "target_name": "toy_field", "science_program": "toy", "tracking_ra": ra, "tracking_dec": dec,
            "sky_angle": 0.0, "azimuth": 180.0, "zenith_angle": 30.0, "has_simulated": True,
            "can_see_sky": True, "timespan": timespan,
        })
        visit_rows.append({
            "instrument": name, "id": visit, "day_obs": day_obs, "physical_filter": physical_filter,
            "name": f"TOY_{day_obs}_{seq:06d}", "seq_num": seq, "exposure_time": EXPOSURE_TIME,
            "target_name": "toy_field", "observation_reason": "science", "science_program": "toy",
            "azimuth": 180.0, "zenith_angle": 30.0, "timespan": timespan,
            "region": _square(ra, dec, 0.1 * detectors + 0.1),
        })
        definition_rows.append({"instrument": name, "exposure": visit, "visit": visit})
        membership_rows.append({"instrument": name, "visit_system": 0, "visit": visit})
        for detector in range(1, detectors + 1):
            region_rows.append({"instrument": name, "visit": visit, "detector": detector,
                                "region": _square(ra + 0.2 * (detector - 1), dec, 0.09)})
    registry = butler.registry
    with registry.transaction():
        registry.insertDimensionData("day_obs", *day_rows, skip_existing=True)
        registry.insertDimensionData("group", *group_rows, skip_existing=True)
        registry.insertDimensionData("exposure", *exposure_rows)
        registry.insertDimensionData("visit", *visit_rows)
        registry.insertDimensionData("visit_definition", *definition_rows)
        registry.insertDimensionData("visit_system_membership", *membership_rows)
        registry.insertDimensionData("visit_detector_region", *region_rows)
    timings["dimensions"] = time.perf_counter() - t1
    log.info("inserted %d nights, %d visits, %d visit x detector regions in %.1f s",
             len(day_rows), len(visit_rows), len(region_rows), timings["dimensions"])

    t2 = time.perf_counter()
    storage_class = MockStorageClass.get_or_register_mock("StructuredDataDict")
    raw = DatasetType("raw", butler.dimensions.conform(["instrument", "exposure", "detector"]), storage_class)
    butler.registry.registerDatasetType(raw)
    data_ids = butler.query_data_ids(["exposure", "detector"], instrument=name, with_dimension_records=True,
                                     limit=None, explain=False)
    total = len(data_ids)
    for done, data_id in enumerate(data_ids, start=1):
        ref = DatasetRef(raw, data_id, run=RAW_RUN)
        butler.put(MockDataset(dataset_id=ref.id, dataset_type=raw.to_simple(), data_id=dict(data_id.mapping),
                               run=RAW_RUN), ref)
        if done % 100 == 0 or done == total:
            log.info("raws: %d/%d (%.1f s)", done, total, time.perf_counter() - t2)
    timings["raws"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    return {
        "repo": str(Path(repo).resolve()), "instrument": name, "visits": len(visit_rows), "detectors": detectors,
        "nights": {str(day): [min(ids), max(ids)] for day, ids in night_ranges.items()},
        "raw_run": RAW_RUN, "raws": total, "timings": {k: round(v, 2) for k, v in timings.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a throwaway Butler repository for the toy instrument.")
    parser.add_argument("repo", help="path of the new repository (must not exist)")
    parser.add_argument("--visits", type=int, default=200, help="number of visits (default 200)")
    parser.add_argument("--detectors", type=int, default=2, help="detectors per visit (default 2)")
    parser.add_argument("--nights", type=int, default=3, help="nights the visits are spread over (default 3)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="%(name)s: %(message)s")
    if args.visits < 1 or args.detectors < 1 or not 1 <= args.nights <= args.visits:
        parser.error("need --visits >= 1, --detectors >= 1 and 1 <= --nights <= --visits")
    target = Path(args.repo)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        print(f"build_repo: {target} exists and is not empty; remove it or pick another path", file=sys.stderr)
        return 2
    summary = build(str(target), visits=args.visits, detectors=args.detectors, nights=args.nights)
    log.info("repository %s ready in %.1f s", summary["repo"], summary["timings"]["total"])
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
