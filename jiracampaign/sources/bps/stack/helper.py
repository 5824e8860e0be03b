"""The stack helper: read one JSON request on stdin, write one JSON answer on stdout.

Run as ``<stack python> helper.py`` by `jiracampaign.sources.bps.bridge` (or loaded in-process when
the stack is importable). A request is ``{"op": NAME, ...}``; the answer is ``{"ok": true, ...}`` or
``{"ok": false, "error": TEXT, "kind": EXCEPTION TYPE}``. Anything the stack prints goes to stderr,
so stdout holds the answer only. Standard library and ``lsst`` only: jiracampaign is not installed
in the stack's environment.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import zipfix  # noqa: E402,F401  (mends zipfile on Pythons whose bug breaks reading quantum graphs)

log = logging.getLogger("jiracampaign.stack")

#: op name -> (module in this folder, function): each function takes the request and returns a dict
OPS = {
    "ping": ("stack_ping", "ping"),
    "status": ("stack_wms", "status"),            # WMS plug-ins' get_status/report (HTCondor, ...)
    "provenance": ("stack_provenance", "provenance"),  # quantum provenance of finished runs
}


def dispatch(request: dict) -> dict:
    """Run one request; never raises (a failure is an answer with ``ok: false``)."""
    op = request.get("op")
    if op not in OPS:
        return {"ok": False, "kind": "UnknownOp", "error": f"unknown op {op!r}; known: {', '.join(sorted(OPS))}"}
    module, name = OPS[op]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            answer = getattr(importlib.import_module(module), name)(request)
    except Exception as exc:  # reported to the caller, who decides
        log.debug("op %s failed", op, exc_info=True)
        return {"ok": False, "kind": type(exc).__name__, "error": str(exc).strip().splitlines()[0] if str(exc) else ""}
    return {"ok": True, **answer}


def main() -> int:
    logging.basicConfig(level=logging.INFO if "-v" in sys.argv else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        request = json.load(sys.stdin)
    except ValueError as exc:
        answer = {"ok": False, "kind": "BadRequest", "error": f"request is not JSON: {exc}"}
    else:
        answer = dispatch(request)
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
