"""``ping``: which Python and which Rubin middleware packages the helper runs with."""

from __future__ import annotations

import importlib
import platform
import sys
from importlib import metadata

PACKAGES = ("lsst-ctrl-bps", "lsst-ctrl-bps-parsl", "lsst-ctrl-bps-htcondor", "lsst-ctrl-bps-panda",
            "lsst-pipe-base", "lsst-ctrl-mpexec", "lsst-daf-butler")


def ping(request: dict) -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # an EUPS-set-up stack has no distribution metadata
            try:
                module = importlib.import_module(name.replace("-", "."))
            except ImportError:
                continue
            versions[name] = str(getattr(module, "__version__", "unknown"))
    return {"python": sys.executable, "python_version": platform.python_version(), "packages": versions}
