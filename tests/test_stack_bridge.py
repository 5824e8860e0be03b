"""The bridge to the Rubin stack: finding its interpreter, calling the helper, and clear errors.

Runs the real helper with the stack's Python 3.12 environment that `make test` builds (.venv-lsst).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jiracampaign.errors import SourceError
from jiracampaign.sources.bps.bridge import StackBridge, StackUnavailable
from tests.conftest import REPO

STACK = Path(os.environ.get("JC_TEST_STACK") or REPO / ".venv-lsst")


@pytest.fixture(scope="module")
def stack_bin() -> Path:
    if not (STACK / "bin" / "bps").exists():
        pytest.skip(f"no Rubin stack in {STACK}: run 'make stack'")
    return STACK / "bin"


def test_the_stack_is_found_from_the_bps_on_path(stack_bin, monkeypatch):
    monkeypatch.setenv("PATH", f"{stack_bin}:{os.environ['PATH']}")
    monkeypatch.setenv("JIRACAMPAIGN_JIRA_TOKEN", "s3cret-token")
    bridge = StackBridge(secrets=("JIRACAMPAIGN_JIRA_TOKEN",))
    assert not bridge.in_process  # lsst.ctrl.bps is not importable in jiracampaign's own environment
    answer = bridge.call("ping")
    assert Path(answer["python"]).parent == stack_bin and answer["python_version"].startswith("3.12")
    assert "lsst-ctrl-bps" in answer["packages"] and "lsst-ctrl-bps-parsl" in answer["packages"]
    assert bridge.calls == 1


def test_bps_python_wins_over_the_path(stack_bin, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert StackBridge(python=str(stack_bin / "python")).call("ping")["python_version"].startswith("3.12")


def test_a_wrapper_without_a_python_line_is_a_clear_error(tmp_path, monkeypatch):
    wrapper = tmp_path / "bps"
    wrapper.write_text("#!/bin/sh\nexec true\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(StackUnavailable, match="does not name its Python"):
        StackBridge(in_process=False).call("ping")


def test_no_bps_says_how_to_enable_it(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(StackUnavailable) as caught:
        StackBridge(in_process=False).call("ping")
    assert "put its 'bps' on PATH, or set bps.python" in str(caught.value)


def test_the_helper_reports_an_unknown_op(stack_bin):
    with pytest.raises(SourceError, match="unknown op 'nope'"):
        StackBridge(python=str(stack_bin / "python")).call("nope")


def test_the_helper_environment_holds_no_secret(stack_bin, monkeypatch, tmp_path):
    """A stand-in interpreter that records its environment: no JIRACAMPAIGN_* and no token."""
    spy = tmp_path / "python"
    spy.write_text(f"#!/bin/sh\nenv > {tmp_path}/env.txt\nexec {stack_bin}/python \"$@\"\n")
    spy.chmod(spy.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("JIRACAMPAIGN_JIRA_TOKEN", "s3cret-token")
    monkeypatch.setenv("MY_TOKEN", "other-secret")
    StackBridge(python=str(spy), secrets=("MY_TOKEN",)).call("ping")
    seen = (tmp_path / "env.txt").read_text()
    assert "s3cret-token" not in seen and "other-secret" not in seen and "JIRACAMPAIGN_" not in seen
