"""``make demo``: a whole campaign with the real Rubin middleware, on this machine, without network.

Run with jiracampaign's own Python from anywhere (``.venv/bin/python examples/parsl/demo.py``); the
Rubin stack (``.venv-lsst``, ``make stack``) is used only through its own programs:

1. builds a throwaway butler repository for the toy instrument with mock raws
   (``examples/rubin/build_repo.py``, run by the stack's Python), in ``build/demo/repo``;
2. writes the campaign spec it runs (``build/demo/campaign.yaml``, from ``examples/parsl/campaign.yaml``
   with its paths made absolute) and a config of its own (``build/demo/config.yaml``: the embedded
   store ``build/demo/campaigns.sqlite``, the stack's ``bps``);
3. ``jiracampaign create``: the epic and one ticket per submission (step1: one group per night;
   step2: every visit);
4. ``jiracampaign submit --step step1``, one group at a time: the real ``bps submit``, Parsl's local site,
   clustered; it blocks until the run has ended;
5. shows that step2 waits (its earlier step is not synced yet), then ``jiracampaign sync``;
6. ``submit --step step2`` (one quantum fails on purpose: ``fail_summary.py``), ``sync`` again;
7. prints the tickets, their states, and what a pilot reads on the ticket that needs attention: the
   failure summary and the attached failure report, from the store through jiracampaign's own code;
8. ``jiracampaign rescue`` of the partial step2 ticket without the injected failure, ``--submit``: its
   attempt 2 (a new ticket linked to it) runs only the quantum that failed (``--skip-existing-in``
   attempt 1); ``sync``: attempt 2 succeeded, and attempt 1 is closed as rescued.

Every run starts clean: it removes its build folder (``build/demo``, or another one it made: one that holds
``.jiracampaign-demo``).
The ``jiracampaign`` processes get no ``JIRACAMPAIGN_*`` variable of yours and read no config file of
yours; their lock and journal live in the build folder. (``make stack`` mends a zipfile bug of Python
3.12.0-3.12.8 that breaks reading quantum graphs: ``jiracampaign/sources/bps/stack/zipfix.py``.)
Exits non-zero if a stage fails, naming it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent
ROOT = EXAMPLES.parent
MARKER = ".jiracampaign-demo"
DEFAULT_BUILD = ROOT / "build" / "demo"
CAMPAIGN = "demo-parsl"


class DemoError(Exception):
    """A stage failed: the message says which and why."""


class Demo:
    """The demo's stages, their timings, and the environment of the commands it runs.

    Parameters
    ----------
    build : `Path`
        The build folder (removed and made again).
    stack : `Path`
        The Rubin stack's environment (``bin/python``, ``bin/bps``).
    out : file
        Where progress goes.
    """

    def __init__(self, build: Path, stack: Path, out=sys.stdout):
        self.build, self.stack, self.out = build.resolve(), stack.absolute(), out
        self.python, self.bps = self.stack / "bin" / "python", self.stack / "bin" / "bps"
        self.spec = self.build / "campaign.yaml"
        self.config = self.build / "config.yaml"
        self.folder = self.build / CAMPAIGN
        self.store = self.build / "campaigns.sqlite"
        self.timings: list[tuple[str, float]] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIRACAMPAIGN_")}
        env["XDG_DATA_HOME"] = str(self.build / "data")
        self.env = env

    # -- output -----------------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def timed(self, label: str, started: float) -> float:
        took = time.perf_counter() - started
        self.timings.append((label, took))
        return took

    # -- stages -----------------------------------------------------------------------------------

    def check_stack(self) -> None:
        for path in (self.python, self.bps):
            if not path.is_file():
                raise DemoError(f"the Rubin stack is not set up: {path} is missing (run: make stack)")

    def clean(self) -> None:
        """Remove what an earlier demo left in the build folder (never a folder the demo did not make)."""
        if self.build.exists():
            ours = (self.build / MARKER).exists() or self.build == DEFAULT_BUILD  # build/ is the project's scratch
            if any(self.build.iterdir()) and not ours:
                raise DemoError(f"{self.build} exists and was not made by the demo (no {MARKER} in it); "
                                "remove it or choose another --build folder")
            shutil.rmtree(self.build)
        self.build.mkdir(parents=True)
        (self.build / MARKER).write_text("made by examples/parsl/demo.py; removed by its next run\n")

    def build_repo(self, visits: int, detectors: int, nights: int) -> dict:
        command = [str(self.python), str(EXAMPLES / "rubin" / "build_repo.py"), str(self.build / "repo"),
                   "--visits", str(visits), "--detectors", str(detectors), "--nights", str(nights), "-q"]
        proc = subprocess.run(command, capture_output=True, text=True, env=self.env, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise DemoError(f"building the repository failed ({shlex.join(command)}):\n{_tail(proc)}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def write_inputs(self) -> None:
        """The spec with absolute paths, and the demo's own config."""
        text = (HERE / "campaign.yaml").read_text()
        text = text.replace("@BUILD@", str(self.build)).replace("@EXAMPLES@", str(EXAMPLES))
        self.spec.write_text(f"# Written by examples/parsl/demo.py from examples/parsl/campaign.yaml.\n{text}")
        self.config.write_text(
            "# The demo's settings (examples/parsl/demo.py): the embedded store and the stack's bps.\n"
            "tracker: local\n"
            f"campaigns_dir: {json.dumps(str(self.build))}\n"
            f"local:\n  path: {json.dumps(str(self.store))}\n"
            f"bps:\n  command: {json.dumps(str(self.bps))}\n")

    def jiracampaign(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``jiracampaign --config <demo config> ARGS`` with this Python; fail on a non-zero exit when ``check``."""
        command = [sys.executable, "-m", "jiracampaign", "--config", str(self.config), *args]
        proc = subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=self.build,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise DemoError(f"'jiracampaign {shlex.join(args)}' failed with exit status {proc.returncode}:\n"
                            f"{_tail(proc)}")
        return proc

    def submit(self, *selection: str) -> list[dict]:
        proc = self.jiracampaign("submit", str(self.spec), "-o", str(self.folder), *selection, "--json", check=False)
        try:
            rows = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise DemoError(f"'jiracampaign submit {' '.join(selection)}' failed with exit status "
                            f"{proc.returncode}:\n{_tail(proc)}") from None
        return rows

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, visits: int, detectors: int, nights: int) -> int:
        began = time.perf_counter()
        self.check_stack()
        self.clean()
        say = self.say
        say(f"jiracampaign demo in {self.build} (the Rubin stack of {self.stack})")

        say(f"[1/8] Butler repository: toy instrument, {visits} visits x {detectors} detector(s) over {nights} "
            "nights, mock raws ...")
        started = time.perf_counter()
        summary = self.build_repo(visits, detectors, nights)
        say(f"      {summary['repo']}: {summary['raws']} raws in {summary['raw_run']} "
            f"({self.timed('repository', started):.1f} s)")

        self.write_inputs()
        say(f"[2/8] jiracampaign create {self.spec.relative_to(self.build.parent)} (embedded store {self.store.name})")
        started = time.perf_counter()
        created = self.jiracampaign("create", str(self.spec), "--output-dir", str(self.folder))
        say(_indent(created.stdout))
        self.timed("create", started)

        manifest = json.loads((self.folder / "manifest.json").read_text())
        step1 = [s for s in manifest["submissions"] if s["step"] == "step1"]
        for sub in step1:
            group = f"step1 group {sub['group']}/{sub['groups']}"
            say(f"[3/8] bps submit {group} ({sub['label']}): Parsl, local, clustered; it returns when the run "
                "has ended ...")
            started = time.perf_counter()
            self._show_submit(self.submit("--step", "step1", "--group", str(sub["group"])), "submitted")
            say(f"      ({self.timed('submit ' + group, started):.0f} s)")

        say("[4/8] step2 before a sync (dry run): it must wait")
        self._show_submit(self.submit("--step", "step2", "--dry-run"), None)

        say("[5/8] jiracampaign sync")
        self._sync("sync after step1")

        say("[6/8] bps submit step2 (one quantum of consolidateVisitSummary fails on purpose) ...")
        started = time.perf_counter()
        self._show_submit(self.submit("--step", "step2"), "submitted")
        say(f"      ({self.timed('submit step2', started):.0f} s)")
        say("      jiracampaign sync")
        self._sync("sync after step2")

        say("[7/8] The tickets, as a pilot reads them")
        self.show_tickets()

        partial = next(s for s in manifest["submissions"] if s["step"] == "step2")
        key = self.key_of(partial["id"])
        say(f"\n[8/8] jiracampaign rescue {key} --set extraQgraphOptions= --submit (the injected failure removed; "
            "attempt 2 skips what attempt 1 did) ...")
        started = time.perf_counter()
        rescued = self.jiracampaign("rescue", key, "--set", "extraQgraphOptions=", "--submit", "-o", str(self.folder))
        say(_indent(rescued.stdout + rescued.stderr))
        say(f"      ({self.timed('rescue and submit attempt 2', started):.0f} s)")
        say("      jiracampaign sync")
        self._sync("sync after attempt 2")
        self.show_tickets(notes=False)
        total = time.perf_counter() - began
        say("\nTimes: " + ", ".join(f"{label} {took:.1f} s" for label, took in self.timings)
            + f"; total {total:.1f} s")
        say(f"Again by hand: .venv/bin/jiracampaign --config {self.config} sync")
        return 0

    def _show_submit(self, rows: list[dict], wanted: str | None) -> None:
        for row in rows:
            self.say(f"      {row['key']} {row['id']}: {row['action']}"
                     + (f", run {row['run_name']}" if row.get("run_name") else "")
                     + (f"\n        {row['detail']}" if row.get("detail") else ""))
        if wanted and any(row["action"] != wanted for row in rows):
            raise DemoError(f"expected every selected submission to be {wanted}")

    def _sync(self, label: str) -> None:
        started = time.perf_counter()
        proc = self.jiracampaign("sync")
        self.say(_indent(proc.stdout + proc.stderr))
        self.say(f"      ({self.timed(label, started):.1f} s)")

    def key_of(self, ident: str) -> str:
        """The ticket key of a submission, from the store."""
        sys.path.insert(0, str(ROOT))
        from jiracampaign.trackers.local import LocalTracker

        tracker = LocalTracker(self.store)
        try:
            return next(item.key for item in tracker.find_items(CAMPAIGN) if item.ident == ident)
        finally:
            tracker.close()

    def show_tickets(self, notes: bool = True) -> None:
        """Each ticket's key, state and run; with ``notes``, the notes and files of those that need attention."""
        sys.path.insert(0, str(ROOT))
        from jiracampaign.core.records import SubmissionRecord
        from jiracampaign.trackers.local import LocalTracker

        tracker = LocalTracker(self.store)
        try:
            items = tracker.find_items(CAMPAIGN)
            for item in items:
                run = item.record.run.run_name if isinstance(item.record, SubmissionRecord) and item.record.run else ""
                verdict = item.sync.verdict if item.sync and item.sync.verdict else ""
                shown = f"{item.status} ({verdict})" if verdict else item.status
                self.say(f"      {item.key:<6} {shown:<20} {item.ident:<24} {run}")
            for item in items if notes else ():
                if item.status in ("partial", "failed", "unknown", "held") or item.kind == "campaign":
                    self.say(f"\n--- {item.key} ({item.ident}, {item.status}): notes "
                             + "-" * max(0, 60 - len(item.key) - len(item.ident)))
                    for note in tracker.notes(item.key):
                        self.say(note.rstrip() + "\n")
                    files = [name for name in item.attachments if not name.endswith(".yaml")]
                    if files:
                        self.say(f"Attached: {', '.join(files)}")
        finally:
            tracker.close()


def _tail(proc: subprocess.CompletedProcess, lines: int = 25) -> str:
    text = ((proc.stdout or "") + (proc.stderr or "")).rstrip()
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.rstrip().splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, default=DEFAULT_BUILD,
                        help="build folder, removed and made again (default: build/demo)")
    parser.add_argument("--stack", type=Path, default=Path(os.environ.get("JC_TEST_STACK") or ROOT / ".venv-lsst"),
                        help="the Rubin stack's environment (default: $JC_TEST_STACK, else .venv-lsst)")
    parser.add_argument("--visits", type=int, default=200, help="visits in the repository (default 200)")
    parser.add_argument("--detectors", type=int, default=1, help="detectors per visit (default 1)")
    parser.add_argument("--nights", type=int, default=2, help="nights, one step1 group each (default 2)")
    args = parser.parse_args(argv)
    try:
        return Demo(args.build, args.stack).run(args.visits, args.detectors, args.nights)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
