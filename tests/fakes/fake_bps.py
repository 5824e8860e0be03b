"""A stand-in for `bps submit FILE`: prints what the real one prints, without the middleware.

    Submit dir: /…/submit/<outputRun>/<timestamp>
    Run Id: <iDDS request id>
    Run Name: <uniqProcName>

Environment: FAKE_BPS_LOG (a file getting one JSON line per call: file, cwd, run id, run name),
FAKE_BPS_FIRST_ID (first Run Id, default 6000; then one more per call), FAKE_BPS_FAIL (fail when
the file name contains this text, as bps does on a bad config: a traceback and exit status 1).
"""

import json
import os
import sys
from pathlib import Path

import yaml


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] != "submit":
        print("Usage: bps submit [OPTIONS] FILE", file=sys.stderr)
        return 2
    path = Path(sys.argv[2])
    config = yaml.safe_load(path.read_text())
    fail = os.environ.get("FAKE_BPS_FAIL")
    if fail and fail in path.name:
        print("lsst.ctrl.bps.drivers INFO: Starting submission process", file=sys.stderr)
        print("Traceback (most recent call last):\n  File \"bps\", line 1, in <module>\n"
              "lsst.daf.butler.registry.MissingCollectionError: Collection 'Toy/defaults' not found", file=sys.stderr)
        return 1
    log = os.environ.get("FAKE_BPS_LOG")
    calls = Path(log).read_text().count("\n") if log and Path(log).exists() else 0
    run_id = int(os.environ.get("FAKE_BPS_FIRST_ID", "6000")) + calls
    name = config["uniqProcName"]
    submit_dir = f"/sdf/home/j/jdoe/submit/{config['payload']['outputRun']}/20261124T101010Z"
    if log:
        with open(log, "a") as out:
            out.write(json.dumps({"file": str(path), "cwd": os.getcwd(), "run_id": run_id, "run_name": name}) + "\n")
    print("lsst.ctrl.bps.drivers INFO: Starting submission process")
    print(f"Submit dir: {submit_dir}")
    print(f"Run Id: {run_id}")
    print(f"Run Name: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
