"""The butler source on a real daf_butler repository with an irregular visit set (tests/butler_repo.py).

Every answer is compared with what was inserted; every query check is compared with what the real
butler does when the query runs.
"""

from __future__ import annotations

import pytest

pytest.importorskip("lsst.daf.butler")

from jiracampaign.errors import ExitStatus, SourceError  # noqa: E402
from jiracampaign.sources.butler import ButlerQueryError  # noqa: E402
from jiracampaign.sources.butler.checks import MAX_TERMS, check_where  # noqa: E402
from jiracampaign.sources.butler.inputs import ButlerInputs  # noqa: E402
from tests.butler_repo import EMPTY_NIGHTS, INSTRUMENT, OUTPUT_RUN, RAW_RUN, SKYMAP, build_repo  # noqa: E402


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    return build_repo(tmp_path_factory.mktemp("butler") / "repo")


@pytest.fixture(scope="module")
def inputs(toy):
    with ButlerInputs(str(toy.root), [RAW_RUN], INSTRUMENT) as source:
        yield source


def butler_selects(inputs, where, dimensions=("visit",)):
    """What the real butler returns for ``where`` (no check of ours in between)."""
    rows = inputs.butler.query_data_ids(list(dimensions), where=where, instrument=INSTRUMENT, limit=None, explain=False)
    return sorted(row[dimensions[0]] for row in rows)


# -- the repository is as irregular as it claims ---------------------------------------------------

def test_the_repository_is_irregular(toy):
    counts = [len(ids) for ids in toy.ids_by_night().values()]
    assert min(counts) <= 3 and max(counts) >= 297
    assert set(toy.nights) - set(toy.ids_by_night()) == EMPTY_NIGHTS
    ids = toy.visit_ids()
    steps = {b - a for a, b in zip(ids, ids[1:])}
    assert any(50 <= s < 100 for s in steps) and any(s >= 50_000 for s in steps)  # jumps of 50 .. 50,000
    assert any(1 < s <= 31 for s in steps)  # gaps inside nights
    assert ids[0] == 12_345 and toy.visits[ids[0]].night == sorted(toy.ids_by_night())[-2]  # an outlier on a late night
    assert len({len(v.tracts) for v in toy.visits.values()}) == 3  # no tract, one tract, two tracts
    assert toy.calibration_exposures and not set(toy.calibration_exposures) & set(ids)


# -- answers equal what was inserted ---------------------------------------------------------------

def test_ids_are_every_visit_and_the_selected_ones(inputs, toy):
    assert inputs.ids() == toy.visit_ids()
    assert inputs.ids(where="band = 'g'") == toy.visit_ids("g")
    assert inputs.ids("exposure") == sorted(toy.visit_ids() + toy.calibration_exposures)
    assert inputs.count(where="band = 'g'") == len(toy.visit_ids("g"))


def test_nights_are_those_with_data(inputs, toy):
    assert inputs.ids_by_night() == toy.ids_by_night()
    assert inputs.ids_by_night(where="band = 'r'") == toy.ids_by_night("r")
    assert not set(inputs.nights()) & EMPTY_NIGHTS
    assert inputs.counts_per_night(where="band = 'i'") == {n: len(ids) for n, ids in toy.ids_by_night("i").items()}


def test_tracts_are_those_the_regions_overlap(inputs, toy):
    assert inputs.ids_by_tract(SKYMAP) == toy.ids_by_tract()
    assert inputs.ids_by_tract(SKYMAP, where="band = 'g'") == toy.ids_by_tract("g")
    assert inputs.tracts(SKYMAP) == [0, 1, 2, 57]
    in_none = [v.id for v in toy.visits.values() if not v.tracts]
    assert in_none and not set(in_none) & {i for ids in inputs.ids_by_tract(SKYMAP).values() for i in ids}


def test_datasets_are_found_on_their_own_dimensions(inputs, toy, toy_outputs):
    with_raw = sorted(v.id for v in toy.visits.values() if v.has_raw)
    assert len(with_raw) < len(toy.visits)
    assert inputs.dataset_ids("raw") == with_raw  # calibration exposures have raws but are no visits
    assert inputs.dataset_ids("raw", where="band = 'g'") == sorted(set(with_raw) & set(toy.visit_ids("g")))
    assert toy_outputs.dataset_ids("visit_summary") == sorted(v.id for v in toy.visits.values() if v.has_summary)


@pytest.fixture(scope="module")
def toy_outputs(toy):
    with ButlerInputs(str(toy.root), OUTPUT_RUN, INSTRUMENT) as source:
        yield source


# -- query checks agree with the real butler ---------------------------------------------------

BAD = {
    "tract without skymap": ("tract = 1", "without constraining it directly"),
    "'3' beside 3": ("visit IN (100050, '100051')", "do not agree (int, string)"),
    "day_obs as strings": ("day_obs IN ('20260101')", "do not agree (int, string)"),
    "AND AND": ("band = 'g' AND AND visit > 3", "does not parse: Syntax error at or near 'AND'"),
    "id beyond 64 bits": ("visit = 18446744073709551616", "beyond the 64-bit integer range"),
    "id just beyond int64": ("visit >= 9223372036854775808", "beyond the 64-bit integer range"),
    "unknown dimension": ("visti = 100050", "Unrecognized identifier 'visti'"),
    "band as a number": ("band = 3", "do not agree (string, int)"),
    "unbalanced parenthesis": ("(visit > 3", "does not parse"),
}

GOOD = [
    "",
    "band = 'g'",
    "visit >= 100050 AND visit < 100200",
    "skymap = 'toy' AND tract = 1",
    "day_obs = 20260102 AND band IN ('g', 'r')",
    "visit IN (100050..100060) OR visit = 9000000",
    "exposure.observation_type = 'science'",
]


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_query_rejects_what_the_butler_rejects(inputs, case):
    where, reason = BAD[case]
    problems = inputs.check_query(where)
    assert problems and reason in problems[0], problems
    with pytest.raises(Exception):  # the real butler refuses it too (InvalidQueryError, OverflowError, ...)
        butler_selects(inputs, where)
    with pytest.raises(ButlerQueryError) as caught:  # and our queries refuse it before the butler sees it
        inputs.ids(where=where)
    assert caught.value.exit_status == ExitStatus.BAD_INPUT and reason in str(caught.value)
    assert check_where(where, data_id={"instrument": INSTRUMENT}) == problems  # the same without a repository


@pytest.mark.parametrize("where", GOOD)
def test_check_query_accepts_what_the_butler_runs(inputs, where):
    assert inputs.check_query(where) == []
    butler_selects(inputs, where)  # runs


def test_check_query_names_the_governor_for_a_tract_query(inputs):
    assert inputs.check_query("tract = 1", ["tract"]) != []
    assert inputs.check_query("tract = 1", ["tract"], skymap=SKYMAP) == []


# -- the splitting facts the planner must respect ----------------------------------------------

def test_half_open_ranges_over_a_sparse_list_select_unlisted_visits(inputs, toy):
    wanted = toy.visit_ids("g")
    chunks = [wanted[i:i + 100] for i in range(0, len(wanted), 100)]
    extra = 0
    for chunk in chunks:
        selected = butler_selects(inputs, f"visit >= {chunk[0]} AND visit < {chunk[-1] + 1}")
        assert set(chunk) <= set(selected)
        extra += len(set(selected) - set(chunk))
    assert extra > len(wanted)  # more unlisted visits than listed ones were selected
    # exact IN lists select exactly their chunk, every wanted visit once
    seen = []
    for chunk in chunks:
        where = f"visit IN ({', '.join(map(str, chunk))})"
        assert inputs.check_query(where) == []
        selected = butler_selects(inputs, where)
        assert selected == chunk
        seen += selected
    assert seen == wanted


def test_long_in_lists_fail_on_sqlite_and_are_refused_above_the_limit(inputs, toy):
    ids = toy.visit_ids()
    at_limit = f"visit IN ({', '.join(map(str, ids[:MAX_TERMS]))})"
    assert inputs.check_query(at_limit) == []
    assert butler_selects(inputs, at_limit, ("visit", "detector"))  # runs even with detector joined
    too_long = f"visit IN ({', '.join(map(str, ids[:996]))})"
    with pytest.raises(Exception, match="Expression tree is too large"):
        butler_selects(inputs, too_long, ("visit", "detector"))
    assert "996 IN values" in inputs.check_query(too_long)[0]
    assert "901 IN values" in inputs.check_query(f"visit IN ({', '.join(map(str, ids[:901]))})")[0]


# -- opening ------------------------------------------------------------------------------------

def test_a_repository_that_cannot_be_opened_is_a_source_error(tmp_path, toy):
    cases = {
        str(tmp_path / "nowhere"): ([], INSTRUMENT, "cannot open the butler repository"),
        str(tmp_path): ([], INSTRUMENT, "cannot open the butler repository"),
        str(toy.root): (["Toy/raw/none"], INSTRUMENT, "has no collection 'Toy/raw/none'"),
        str(toy.root) + " ": ([RAW_RUN], "LSSTCam", "has no instrument 'LSSTCam'; it has Toy"),
    }
    for repo, (collections, instrument, message) in cases.items():
        with pytest.raises(SourceError) as caught:
            ButlerInputs(repo.strip(), collections, instrument)
        assert message in str(caught.value) and "\n" not in str(caught.value)
        assert caught.value.exit_status == ExitStatus.SOURCE


def test_unknown_dataset_type_is_a_source_error(inputs):
    with pytest.raises(SourceError, match="no dataset type 'rwa'"):
        inputs.dataset_ids("rwa")
