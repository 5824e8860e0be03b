"""Fixtures shared by the test suite: isolation from the user's home, config, keyring and environment."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import keyring
import pytest
from click.testing import CliRunner

from tests.fakes.keyring_backend import MemoryKeyring

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def tmp_config(tmp_path, monkeypatch):
    """Isolate HOME, XDG folders, the working directory and JIRACAMPAIGN_* variables."""
    for name in list(os.environ):
        if name.startswith("JIRACAMPAIGN_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home / ".config" / "jiracampaign" / "config.yaml"


@pytest.fixture
def memory_keyring():
    """Replace the OS keyring by an in-memory one for the test."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def write(tmp_path):
    """Write a dedented text file under the test's folder and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / "work" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


MINIMAL_SPEC = """
campaign: t1
operator: jdoe
butler_repo: /repo/main
input_collection: HSC/defaults
pipeline: $DRP_PIPE_DIR/pipelines/HSC/DRP-RC2.yaml
software: w_2026_40
site: SLAC
steps:
  - name: step1
    query: "instrument='HSC'"
    split:
      rule: ranges
      values: [1, 2, 3, 4, 5]
      size: 2
"""


@pytest.fixture
def sleeps():
    """Records the delays a client asked to sleep, instead of sleeping."""
    return []


@pytest.fixture(params=["cloud", "datacenter"])
def fake_jira(request):
    from tests.fakes.jira_server import FakeJira

    fake = FakeJira(flavour=request.param).start()
    yield fake
    fake.stop()


def make_jira_tracker(fake, sleeps, hierarchy="task", retries=3):
    from jiracampaign.config import load_config
    from jiracampaign.trackers.jira.client import JiraClient
    from jiracampaign.trackers.jira.tracker import JiraTracker
    from jiracampaign.trackers.jira.workflow import status_targets

    auth = "basic" if fake.cloud else "token"
    client = JiraClient(fake.url, auth, fake.user, fake.token, timeout=5, max_retries=retries, sleep=sleeps.append)
    return JiraTracker(client, fake.project_key, hierarchy, statuses=status_targets(load_config()))


@pytest.fixture(params=["local", "cloud", "datacenter"])
def any_tracker(request, tmp_path, sleeps):
    """The same behavioural tests run against every tracker."""
    if request.param == "local":
        from jiracampaign.trackers.local import LocalTracker

        tracker = LocalTracker(tmp_path / "store.sqlite")
        yield tracker
        tracker.close()
        return
    from tests.fakes.jira_server import FakeJira

    fake = FakeJira(flavour=request.param).start()
    tracker = make_jira_tracker(fake, sleeps)
    tracker.fake = fake
    yield tracker
    tracker.close()
    fake.stop()


@pytest.fixture
def fake_panda():
    """A fake BigPanDA monitor (current wfprogress shape) on loopback."""
    from tests.fakes.panda_server import FakeBigPanda

    fake = FakeBigPanda().start()
    yield fake
    fake.stop()


def make_panda_source(fake, sleeps, per_hour: int = 500, retries: int = 3, **kwargs):
    """A PandaSource on the fake monitor with a budget file under the test's XDG data folder."""
    from jiracampaign.config import data_dir
    from jiracampaign.sources.budget import RequestBudget
    from jiracampaign.sources.panda.source import PandaSource
    from jiracampaign.sources.panda.client import MonitorClient

    budget = RequestBudget(data_dir() / "panda-budget.sqlite", "fake", per_hour)
    client = MonitorClient(fake.url, timeout=5, max_retries=retries, budget=budget, sleep=sleeps.append)
    return PandaSource(client, **kwargs)


def campaign_fixture(*kinds: str):
    """A fixture giving the demo campaign's CLI wired to each of ``kinds`` of tracker (``local``,
    ``cloud``, ``datacenter``), with the fake monitor and the stand-in bps (`tests.test_cli_sync.Campaign`)."""

    @pytest.fixture(params=list(kinds))
    def fixture(request, runner, tmp_path, monkeypatch):
        from tests.test_cli_sync import Campaign

        camp = Campaign(request.param, runner, tmp_path, monkeypatch)
        yield camp
        camp.close()

    return fixture
