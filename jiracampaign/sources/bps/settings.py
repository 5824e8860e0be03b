"""Settings of the BPS status source (declared apart from the source, as every built-in plug-in's are).

The source reads the ``bps`` section that the command line's settings already declare in
`jiracampaign.config` (``bps.command``, ``bps.python``, ``bps.helper_timeout``: how to reach the
Rubin stack) and declares no section of its own; new settings of the source go here.
"""

from __future__ import annotations

from ...schema import Key

__all__ = ["SETTINGS", "USES", "WMS_CLASSES", "PROVENANCE_ONLY"]

SETTINGS: tuple[Key, ...] = ()

#: the settings the source is built from (declared with the command line's, in `jiracampaign.config`)
USES = ("bps.command", "bps.python", "bps.helper_timeout")

#: workload-system short name (as `services.submit.wms_of` derives it from ``wmsServiceClass``) -> plug-in class
WMS_CLASSES: dict[str, str] = {
    "htcondor": "lsst.ctrl.bps.htcondor.HTCondorService",
    "parsl": "lsst.ctrl.bps.parsl.ParslService",
}

#: plug-ins without ``get_status``/``report``: their runs are followed through quantum provenance only
PROVENANCE_ONLY = frozenset({"parsl"})
