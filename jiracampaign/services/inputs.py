"""Load a campaign spec with the data butler at hand: the splits that read their inputs from it.

`load_spec` is `planning.spec.load_spec` given an opener of `sources.butler.inputs.ButlerInputs`
when the butler extra is installed (each repository, collections and instrument opened once and
closed at the end); without the extra, a split that asks for a butler is an error naming it.
Planning sees only the plain lists the butler answers with.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..planning.spec import LoadedSpec
from ..planning.spec import load_spec as _load_spec
from ..sources.butler import available

__all__ = ["ButlerOpener", "load_spec"]

log = logging.getLogger(__name__)


class ButlerOpener:
    """Open each (repository, collections, instrument) once; `close` closes them all."""

    def __init__(self) -> None:
        self._open: dict[tuple, Any] = {}

    def __call__(self, repo: str, collections: list[str], instrument: str) -> Any:
        key = (repo, tuple(collections), instrument)
        if key not in self._open:
            from ..sources.butler.inputs import ButlerInputs

            self._open[key] = ButlerInputs(repo, list(collections), instrument)
        return self._open[key]

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()


PIPELINE_INSTRUMENT = "instrument-of-the-pipeline"
"""Stands for the instrument a query gets from its pipeline when the query does not name one."""


def parse_query(where: str) -> list[str]:
    """Every reason daf_butler's parser and default dimension universe reject ``where``; empty when none.

    Governors other than the instrument (``skymap`` for a tract) must be in the query itself: the
    pipeline supplies only the instrument.
    """
    from ..sources.butler.checks import check_where

    return check_where(where, data_id={"instrument": PIPELINE_INSTRUMENT})


def load_spec(path: str | Path, text: str | None = None) -> LoadedSpec:
    """Read and check a campaign spec, asking the butler for the inputs of the splits that read it.

    With the butler extra, every group's data query is also checked by daf_butler's own parser.
    """
    opener = ButlerOpener()
    with_butler = available()
    try:
        return _load_spec(path, text, open_butler=opener if with_butler else None,
                          parse_query=parse_query if with_butler else None)
    finally:
        opener.close()
