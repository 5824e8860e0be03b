"""Calling the Rubin stack from jiracampaign's own interpreter.

ctrl_bps, its WMS plug-ins and pipe_base need Python >= 3.12 and normally live in the stack's own
environment. `StackBridge` runs the requests of `stack/helper.py`:

- in this process, when ``lsst.ctrl.bps`` is importable here;
- else in a helper process started with the stack's interpreter: ``bps.python`` when set, else the
  interpreter named on the first line of the ``bps`` found on PATH (``bps.command``), which is the
  Python of the environment that owns it.

One helper process answers a whole request (all runs of a sync), so the stack is imported once.
The helper's environment holds no jiracampaign secret.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ...childenv import child_environment
from ...errors import SourceError

__all__ = ["StackBridge", "HELPER", "STACK_HINT", "StackUnavailable"]

log = logging.getLogger(__name__)

HELPER = Path(__file__).resolve().parent / "stack" / "helper.py"
STACK_HINT = ("install the Rubin middleware (lsst-ctrl-bps and its plug-ins, Python >= 3.12) and put its 'bps' on "
              "PATH, or set bps.python to the stack's interpreter")


class StackUnavailable(SourceError):
    """No Rubin stack can be reached from here: the message says how to make one reachable."""


class StackBridge:
    """Runs stack-side operations, in process or through the stack's interpreter.

    Parameters
    ----------
    python : `str`, optional
        The stack's interpreter (``bps.python``); found from ``command`` when not given.
    command : `str`
        The BPS command (``bps.command``), whose first line names its interpreter.
    timeout : `float`
        Seconds one helper call may take.
    secrets : `tuple` [`str`]
        Environment variables to keep from the helper.
    in_process : `bool`, optional
        Force (or forbid) running in this process; default: when ``lsst.ctrl.bps`` is importable here.
    """

    def __init__(self, python: str | None = None, command: str = "bps", timeout: float = 900.0,
                 secrets: tuple[str, ...] = (), in_process: bool | None = None):
        self.python = python or None
        self.command = command or "bps"
        self.timeout = timeout
        self.secrets = secrets
        self._in_process = in_process
        self._resolved: str | None = None
        self.calls = 0

    # -- where the stack is -----------------------------------------------------------------------

    @property
    def in_process(self) -> bool:
        if self._in_process is None:
            self._in_process = self.python is None and _importable("lsst.ctrl.bps")
        return self._in_process

    def interpreter(self) -> str:
        """The stack's interpreter (``sys.executable`` when in process); raises `StackUnavailable`."""
        if self.in_process:
            return sys.executable
        if self._resolved is None:
            self._resolved = self._find()
        return self._resolved

    def _find(self) -> str:
        if self.python:
            found = shutil.which(self.python)
            if not found:
                raise StackUnavailable(f"bps.python is {self.python!r}, which is not an executable; {STACK_HINT}")
            return found
        words = shlex.split(self.command) or ["bps"]
        bps = shutil.which(next((w for w in words if Path(w).name == "bps"), words[0]))
        if not bps:
            raise StackUnavailable(f"no '{words[0]}' on PATH to find the Rubin stack from; {STACK_HINT}")
        python = _shebang_python(Path(bps))
        if not python:
            raise StackUnavailable(f"{bps} does not name its Python on its first line; set bps.python to the "
                                   "stack's interpreter")
        return python

    # -- calls ------------------------------------------------------------------------------------

    def call(self, op: str, **request: Any) -> dict:
        """Run ``op`` with ``request``; the helper's answer without its ``ok`` flag.

        Raises
        ------
        StackUnavailable
            No stack to run it with.
        SourceError
            The helper failed, timed out, or answered with an error.
        """
        payload = {"op": op, **request}
        started = time.perf_counter()
        self.calls += 1
        answer = self._in_process_call(payload) if self.in_process else self._subprocess_call(payload)
        log.debug("stack %s: %.2f s", op, time.perf_counter() - started)
        if not answer.get("ok"):
            raise SourceError(f"the Rubin stack's {op} failed: {answer.get('kind', 'error')}: {answer.get('error', '')}")
        return {k: v for k, v in answer.items() if k != "ok"}

    def _in_process_call(self, payload: dict) -> dict:
        spec = importlib.util.spec_from_file_location("_jiracampaign_stack_helper", HELPER)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.dispatch(json.loads(json.dumps(payload)))

    def _subprocess_call(self, payload: dict) -> dict:
        python = self.interpreter()
        env = child_environment(self.secrets)
        try:
            done = subprocess.run([python, str(HELPER)], input=json.dumps(payload), capture_output=True, text=True,
                                  timeout=self.timeout, env=env)
        except subprocess.TimeoutExpired as exc:
            raise SourceError(f"the Rubin stack's {payload['op']} took longer than {self.timeout:.0f} s "
                              f"({python})") from exc
        except OSError as exc:
            raise StackUnavailable(f"cannot run the stack's interpreter {python}: {exc.strerror or exc}") from exc
        for line in done.stderr.splitlines()[-200:]:
            log.debug("stack: %s", line)
        try:
            return json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
        except ValueError:
            pass
        tail = " | ".join(done.stderr.strip().splitlines()[-3:]) or f"exit {done.returncode}, no answer"
        raise SourceError(f"the Rubin stack helper ({python}) gave no answer: {tail}")


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _shebang_python(script: Path) -> str:
    """The interpreter a console script names on its first line (``#!/env/bin/python3.12``), or ''."""
    try:
        with script.open("rb") as handle:
            first = handle.readline(4096).decode(errors="replace").strip()
    except OSError:
        return ""
    if not first.startswith("#!"):
        return ""
    words = shlex.split(first[2:])
    if not words:
        return ""
    if Path(words[0]).name == "env":  # "#!/usr/bin/env python3": the python beside the script, else PATH's
        name = next((w for w in words[1:] if not w.startswith("-")), "")
        beside = script.parent / name
        return str(beside) if name and beside.exists() else (shutil.which(name) or "")
    return words[0] if Path(words[0]).name.startswith("python") and Path(words[0]).exists() else ""
