"""Progress counts the real work: `create`'s bar reaches its end when the last file is attached, not when the last
ticket is created (the files and records are most of the time on JIRA); on the local store and JIRA Cloud."""

from __future__ import annotations

import sqlite3
import time

import pytest

from jiracampaign.config import load_config
from jiracampaign.services.create import create_from_spec
from tests.fakes.jira_server import FakeJira
from tests.test_cli_create import DEMO


@pytest.mark.parametrize("kind", ["local", "cloud"])
def test_create_progress_counts_tickets_and_files_and_ends_with_the_last_file(kind, tmp_path, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # Cloud's index lag is waited out without waiting
    store = tmp_path / "store.sqlite"
    overrides = {"local.path": str(store), "campaigns_dir": str(tmp_path / "camps")}
    fake = FakeJira(flavour="cloud").start() if kind == "cloud" else None
    if fake:
        overrides |= {"tracker": "jira", "jira.server": fake.url, "jira.project": "CAMP", "jira.user": fake.user,
                      "jira.auth": "basic", "jira.flavour": "cloud"}
        monkeypatch.setenv("JIRACAMPAIGN_JIRA_TOKEN", fake.token)

    def files() -> int:
        """YAML files attached so far, as the tracker's own storage says."""
        if fake:
            return len(fake.requests("POST", r"/attachments$"))
        return sqlite3.connect(store).execute("SELECT COUNT(*) FROM attachments").fetchone()[0]

    events: list[tuple[str, int, int]] = []
    try:
        config = load_config(overrides=overrides)
        create_from_spec(config, str(DEMO), start=lambda n: events.append(("start", n, files())),
                         progress=lambda n: events.append(("done", n, files())))
        assert events[0] == ("start", 12, 0)  # 6 tickets to create, then 6 files and records to write
        done = [(n, attached) for what, n, attached in events[1:]]
        assert sum(n for n, _ in done) == 12
        assert done[-1][1] == 6 and all(attached < 6 for _, attached in done[:-1])  # the end comes with the last file
        created = sum(n for n, attached in done if attached == 0)
        assert created == 6  # the tickets are counted as they are created, before any file

        events.clear()
        create_from_spec(load_config(overrides=overrides), str(DEMO), start=lambda n: events.append(("start", n, 0)),
                         progress=lambda n: events.append(("done", n, 0)))
        assert events == [("start", 6, 0)] + [("done", 1, 0)] * 6  # nothing to create: one check per submission
    finally:
        if fake:
            fake.stop()
