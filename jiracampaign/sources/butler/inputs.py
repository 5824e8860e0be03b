"""A campaign's inputs as the butler knows them: ids, nights, tracts, datasets, and query checks.

`ButlerInputs` opens a repository once (about 0.1 s after a 1-2 s import) and answers with plain
Python values (sorted ``int`` lists, ``{night: [ids]}``), so that planning never sees a butler type.
Datasets are queried on their own dimensions (raws by exposure) and mapped to visits through
``visit_definition``; a dataset search joined with ``visit`` can run for minutes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from jiracampaign.errors import SourceError
from jiracampaign.sources.butler import ButlerQueryError, require_butler
from jiracampaign.sources.butler.checks import MAX_TERMS, check_where

log = logging.getLogger(__name__)

__all__ = ["ButlerInputs"]


class ButlerInputs:
    """Read what a repository holds for one instrument and some input collections.

    Parameters
    ----------
    repo : `str`
        Repository path, URI or label, as ``butlerConfig`` names it.
    collections : sequence of `str`
        Input collections (``inCollection``); needed only by `dataset_ids`.
    instrument : `str`
        The instrument every query is constrained to.

    Raises
    ------
    SourceError
        The repository cannot be opened, a collection does not exist, or the instrument is unknown.
    ButlerMissingError
        ``lsst-daf-butler`` is not installed (the ``butler`` extra).
    """

    def __init__(self, repo: str, collections: Sequence[str] | str = (), instrument: str = ""):
        daf_butler = require_butler("reading inputs from a butler")
        self.repo = str(repo)
        self.collections = [collections] if isinstance(collections, str) else list(collections)
        self.instrument = instrument
        started = time.perf_counter()
        try:
            self.butler = daf_butler.Butler.from_config(self.repo, collections=self.collections or None)
        except Exception as exc:  # the butler raises FileNotFoundError, ValueError, RuntimeError, its own...
            raise SourceError(f"cannot open the butler repository {self.repo}: {_reason(exc)}; "
                              "check the path (butlerConfig) and that it is a butler repository") from None
        try:
            self._check_collections()
            self._check_instrument()
        except BaseException:
            self.butler.close()
            raise
        self.open_seconds = time.perf_counter() - started
        log.info("opened butler %s in %.2f s", self.repo, self.open_seconds)

    # -- life cycle -----------------------------------------------------------------------------

    def close(self) -> None:
        self.butler.close()

    def __enter__(self) -> ButlerInputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def universe(self) -> Any:
        """The repository's dimension universe."""
        return self.butler.dimensions

    def _check_collections(self) -> None:
        from lsst.daf.butler import MissingCollectionError

        for name in self.collections:
            try:
                self.butler.collections.get_info(name)
            except MissingCollectionError:
                raise SourceError(f"butler repository {self.repo} has no collection {name!r} "
                                  "(inCollection)") from None

    def _check_instrument(self) -> None:
        if not self.instrument:
            raise SourceError(f"butler repository {self.repo}: no instrument given")
        known = sorted(r.name for r in self.butler.query_dimension_records("instrument", limit=None, explain=False))
        if self.instrument not in known:
            raise SourceError(f"butler repository {self.repo} has no instrument {self.instrument!r}; "
                              f"it has {', '.join(known) or 'none'}")

    # -- queries --------------------------------------------------------------------------------

    def _data_ids(self, dimensions: list[str], where: str, **governors: Any) -> list[Any]:
        self._require_valid(where, dimensions, governors)
        started = time.perf_counter()
        rows = self.butler.query_data_ids(dimensions, where=where, instrument=self.instrument, limit=None,
                                          explain=False, **governors)
        log.debug("%s where %r: %d rows in %.3f s", dimensions, where, len(rows), time.perf_counter() - started)
        return rows

    def _require_valid(self, where: str, dimensions: Iterable[str], governors: dict[str, Any]) -> None:
        problems = self.check_query(where, dimensions, **governors)
        if problems:
            raise ButlerQueryError(where, problems)

    def check_query(self, where: str, dimensions: Iterable[str] = ("visit",), **governors: Any) -> list[str]:
        """Every reason the repository's butler would reject ``where``; empty when it would run.

        Checked with daf_butler's parser against this repository's dimension universe; the query
        gets ``instrument`` (and any ``governors`` given) besides the clause, as `ids` does.
        """
        return check_where(where, universe=self.universe, dimensions=dimensions,
                           data_id={"instrument": self.instrument, **governors}, max_terms=MAX_TERMS)

    def ids(self, dimension: str = "visit", where: str = "") -> list[int]:
        """Sorted ids of ``dimension`` (``visit``, ``exposure``, ``tract``...) selected by ``where``."""
        return sorted({row[dimension] for row in self._data_ids([dimension], where)})

    def count(self, dimension: str = "visit", where: str = "") -> int:
        """How many ``dimension`` ids ``where`` selects (an exact count, without reading them)."""
        self._require_valid(where, [dimension], {})
        with self.butler.query() as query:
            return query.data_ids([dimension]).where(where, instrument=self.instrument).count(exact=True)

    def ids_by_night(self, dimension: str = "visit", where: str = "") -> dict[int, list[int]]:
        """``{day_obs: sorted ids}`` for the nights that have data, in night order (``exposure`` or ``visit``)."""
        nights: dict[int, set[int]] = {}
        for row in self._data_ids([dimension, "day_obs"], where):
            nights.setdefault(int(row["day_obs"]), set()).add(int(row[dimension]))
        return {night: sorted(ids) for night, ids in sorted(nights.items())}

    def nights(self, dimension: str = "visit", where: str = "") -> list[int]:
        """The nights (``day_obs``) with at least one selected id; nights without data never appear."""
        return list(self.ids_by_night(dimension, where))

    def counts_per_night(self, dimension: str = "visit", where: str = "") -> dict[int, int]:
        """``{day_obs: number of selected ids}``, nights with data only."""
        return {night: len(ids) for night, ids in self.ids_by_night(dimension, where).items()}

    def ids_by_tract(self, skymap: str, dimension: str = "visit", where: str = "") -> dict[int, list[int]]:
        """``{tract: sorted ids}`` of the tracts of ``skymap`` whose regions overlap each selected id's region.

        An id whose region overlaps two tracts is in both; an id in no tract is in none.
        """
        tracts: dict[int, set[int]] = {}
        for row in self._data_ids([dimension, "tract"], where, skymap=skymap):
            tracts.setdefault(int(row["tract"]), set()).add(int(row[dimension]))
        return {tract: sorted(ids) for tract, ids in sorted(tracts.items())}

    def tracts(self, skymap: str, dimension: str = "visit", where: str = "") -> list[int]:
        """Sorted tracts of ``skymap`` overlapping at least one selected id."""
        return list(self.ids_by_tract(skymap, dimension, where))

    def dataset_ids(self, dataset_type: str, dimension: str = "visit", where: str = "") -> list[int]:
        """Sorted ``dimension`` ids that have a ``dataset_type`` in the input collections.

        The datasets are found on their own dimensions: a dataset type with ``dimension`` among its
        dimensions is queried directly; raws (on ``exposure``) wanted as visits are found by exposure
        and mapped through ``visit_definition``. ``where`` selects among the ``dimension`` ids.
        """
        if not self.collections:
            raise SourceError(f"butler repository {self.repo}: finding {dataset_type} needs input collections "
                              "(inCollection)")
        try:
            dataset = self.butler.get_dataset_type(dataset_type)
        except Exception:
            raise SourceError(f"butler repository {self.repo} has no dataset type {dataset_type!r}") from None
        own = set(dataset.dimensions.names)
        wanted = set(self.ids(dimension, where))
        if dimension in own:
            found = self._ids_with_dataset(dataset_type, dimension)
        elif dimension == "visit" and "exposure" in own:
            exposures = self._ids_with_dataset(dataset_type, "exposure")
            found = {int(row["visit"]) for row in self._data_ids(["exposure", "visit"], where)
                     if int(row["exposure"]) in exposures}
        else:
            raise SourceError(f"{dataset_type} has dimensions {sorted(own)}: it cannot be mapped to {dimension}")
        return sorted(wanted & found)

    def existing_collections(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` the repository holds (a run not yet submitted has no output collection)."""
        from lsst.daf.butler import MissingCollectionError

        found = []
        for name in names:
            try:
                self.butler.collections.get_info(name)
            except MissingCollectionError:
                continue
            found.append(name)
        return found

    def output_ids(self, dataset_type: str, collections: Sequence[str], dimension: str = "visit") -> set[int]:
        """``dimension`` ids with a ``dataset_type`` in any of ``collections`` that exist (`audit`'s outputs).

        The dataset must have ``dimension`` among its own dimensions (``visit_summary`` on ``visit``);
        an empty set when none of the collections exists yet.
        """
        try:
            dataset = self.butler.get_dataset_type(dataset_type)
        except Exception:
            raise SourceError(f"butler repository {self.repo} has no dataset type {dataset_type!r}") from None
        if dimension not in dataset.dimensions.names:
            raise SourceError(f"{dataset_type} has dimensions {sorted(dataset.dimensions.names)}: it cannot be "
                              f"counted per {dimension}")
        existing = self.existing_collections(collections)
        return self._ids_with_dataset(dataset_type, dimension, existing) if existing else set()

    def _ids_with_dataset(self, dataset_type: str, dimension: str, collections: Sequence[str] | None = None) -> set[int]:
        started = time.perf_counter()
        with self.butler.query() as query:
            rows = (query.join_dataset_search(dataset_type, list(collections or self.collections))
                    .data_ids([dimension]).where(instrument=self.instrument))
            ids = {int(row[dimension]) for row in rows}
        log.debug("%s with %s: %d in %.3f s", dimension, dataset_type, len(ids), time.perf_counter() - started)
        return ids


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
