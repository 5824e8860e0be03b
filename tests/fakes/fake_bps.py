"""A stand-in for `bps submit FILE`: prints what the real one prints, without the middleware.

    Submit dir: /…/submit/<outputRun>/<timestamp>
    Run Id: <iDDS request id>
    Run Name: <uniqProcName>

`bps restart --id ID` restarts the logged run of that id or submit folder (a new Run Id, the same Run Name).
`bps --help` prints a usage text and exits 0 (what `submit` runs once to check that bps works).

Environment: FAKE_BPS_LOG (a file getting one JSON line per submit: file, cwd, run id, run name, `at`
(when it ran, UTC) and `env`, the environment bps was given), FAKE_BPS_FIRST_ID (first Run Id, default 6000; then one more
per call), FAKE_BPS_FAIL (fail when the file name contains this text, as bps does on a bad config: a
traceback and exit status 1), FAKE_BPS_CALLS (a file getting every command line, one JSON list a
line), FAKE_BPS_BROKEN (every call fails as bps does without the stack set up: exit status 1),
FAKE_BPS_PARSL (print `Run Id: None` as the Parsl plugin does), FAKE_BPS_SUBMIT_DIR (write a
`submit/<outputRun>` folder in the working folder, as BPS's default `submitPath` does, and stop when
it exists already).
"""

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml


def main() -> int:
    calls_file = os.environ.get("FAKE_BPS_CALLS")
    if calls_file:
        with open(calls_file, "a") as out:
            out.write(json.dumps(sys.argv[1:]) + "\n")
    if os.environ.get("FAKE_BPS_BROKEN"):
        print("Traceback (most recent call last):\n  File \"bps\", line 5, in <module>\n"
              "ModuleNotFoundError: No module named 'lsst'", file=sys.stderr)
        return 1
    if sys.argv[1:] == ["--help"]:
        print("Usage: bps [OPTIONS] COMMAND [ARGS]...\n\nCommands:\n  submit  Submit a workflow.")
        return 0
    if sys.argv[1:2] == ["restart"]:
        return restart(sys.argv[2:])
    if len(sys.argv) != 3 or sys.argv[1] != "submit":
        print("Usage: bps submit [OPTIONS] FILE", file=sys.stderr)
        return 2
    path = Path(sys.argv[2])
    config = yaml.safe_load(path.read_text())
    submit_dir = f"/sdf/home/j/jdoe/submit/{config['payload']['outputRun']}/20261124T101010Z"
    if os.environ.get("FAKE_BPS_SUBMIT_DIR"):  # BPS's default submitPath: ${PWD}/submit/{outputRun}
        folder = Path.cwd() / "submit" / config["payload"]["outputRun"]
        if folder.exists():
            print(f"RuntimeError: Submit directory {folder} already exists", file=sys.stderr)
            return 1
        folder.mkdir(parents=True)
        (folder / "quantumGraphGeneration.out").write_text("qgraph\n")
        submit_dir = str(folder)
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
    if log:
        with open(log, "a") as out:
            out.write(json.dumps({"file": str(path), "cwd": os.getcwd(), "run_id": run_id, "run_name": name,
                                  "submit_dir": submit_dir,
                                  "at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
                                  "env": dict(os.environ)}) + "\n")
    print("lsst.ctrl.bps.drivers INFO: Starting submission process")
    print(f"Submit dir: {submit_dir}")
    print(f"Run Id: {'None' if os.environ.get('FAKE_BPS_PARSL') else run_id}")
    print(f"Run Name: {name}")
    return 0


def restart(args: list[str]) -> int:
    """``bps restart --id ID [--wms-service-class CLASS]``: the run of that id or submit folder, with a new id
    (what ctrl_bps prints); ``Restart failed: ...`` (and exit status 0, as bps does) for an unknown one."""
    if "--id" not in args:
        print("Usage: bps restart [OPTIONS]\nError: Missing option '--id'.", file=sys.stderr)
        return 2
    wanted = args[args.index("--id") + 1]
    log = os.environ.get("FAKE_BPS_LOG")
    runs = [json.loads(line) for line in Path(log).read_text().splitlines()] if log and Path(log).exists() else []
    found = next((r for r in runs if wanted in (str(r["run_id"]), r.get("submit_dir"))), None)
    if found is None:
        print(f"Restart failed: no workflow found for {wanted}")
        return 0
    new_id = int(os.environ.get("FAKE_BPS_FIRST_ID", "6000")) + len(runs)
    with open(log, "a") as out:
        out.write(json.dumps({**found, "restart": True, "run_id": new_id, "cwd": os.getcwd(), "args": args,
                              "env": dict(os.environ)}) + "\n")
    print(f"Run Id: {new_id}")
    print(f"Run Name: {found['run_name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
