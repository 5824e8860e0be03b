"""A minimal instrument, "Toy", for throwaway Butler repositories.

Run with the Rubin stack's Python (standard library and ``lsst`` only). Three physical filters
(bands g, r, i), detectors numbered from 1, and one visit system (one exposure per visit). There
are no raw files to read: `ToyInstrument.getRawFormatter` raises, the repository's raws are mock
datasets (see ``build_repo.py``).

Register it by hand with ``butler register-instrument REPO toy_instrument.ToyInstrument``
(this folder on ``PYTHONPATH``); ``build_repo.py`` does it for you.
"""

from __future__ import annotations

import logging

from lsst.pipe.base import Instrument

log = logging.getLogger(__name__)

#: physical filter -> band
FILTERS = {"toy_g": "g", "toy_r": "r", "toy_i": "i"}

#: the one visit system: one exposure per visit
VISIT_SYSTEM = {"id": 0, "name": "one-to-one"}

#: visit and exposure ids stay below this; detectors below ``DETECTOR_MAX``
VISIT_MAX = 2**40
DETECTOR_MAX = 1000


class ToyInstrument(Instrument):
    """The toy instrument.

    Parameters
    ----------
    collection_prefix : `str`, optional
        Prefix of the instrument's collections (default ``Toy``).
    detectors : `int`, optional
        How many detectors `register` creates (ids 1..detectors; default 4).
    """

    def __init__(self, collection_prefix: str | None = None, *, detectors: int = 4):
        super().__init__(collection_prefix)
        if not 1 <= detectors < DETECTOR_MAX:
            raise ValueError(f"detectors must be between 1 and {DETECTOR_MAX - 1}, got {detectors}")
        self.detectors = detectors

    @classmethod
    def getName(cls) -> str:
        """The instrument's dimension name, ``Toy``."""
        return "Toy"

    def register(self, registry, *, update: bool = False) -> None:
        """Sync the instrument, its filters, detectors and visit system into ``registry``.

        Idempotent: records that exist unchanged are left alone; more detectors can be added later.

        Parameters
        ----------
        registry : `lsst.daf.butler.Registry`
            Registry of the repository to modify.
        update : `bool`, optional
            Update existing records that differ (default: a difference is an error).
        """
        name = self.getName()
        with registry.transaction():
            registry.syncDimensionData(
                "instrument",
                {"name": name, "visit_max": VISIT_MAX, "exposure_max": VISIT_MAX,
                 "detector_max": DETECTOR_MAX, "visit_system": VISIT_SYSTEM["id"],
                 "class_name": f"{type(self).__module__}.{type(self).__qualname__}"},
                update=update,
            )
            for physical_filter, band in FILTERS.items():
                registry.syncDimensionData(
                    "physical_filter", {"instrument": name, "name": physical_filter, "band": band}, update=update
                )
            for detector in range(1, self.detectors + 1):
                registry.syncDimensionData(
                    "detector",
                    {"instrument": name, "id": detector, "full_name": f"D{detector:02d}",
                     "name_in_raft": f"S{detector:02d}", "raft": "R00", "purpose": "SCIENCE"},
                    update=update,
                )
            registry.syncDimensionData("visit_system", {"instrument": name, **VISIT_SYSTEM}, update=update)
        log.debug("registered %s with %d detectors", name, self.detectors)

    def getRawFormatter(self, dataId):
        """The toy instrument has no raw files; its raws are mock datasets."""
        raise NotImplementedError("the Toy instrument has no raw files (its raws are mock datasets)")
