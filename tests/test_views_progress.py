"""Progress counts the real work: `create`'s bar reaches its end when the last file is attached, not when the last
ticket is created (the files and records are most of the time on JIRA), on the local store and JIRA Cloud; `submit`
prints each row as its bps returns."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from jiracampaign.cli import cli
from jiracampaign.config import load_config
from jiracampaign.services.create import create_from_spec
from tests.fakes.jira_server import FakeJira
from tests.test_cli_create import DEMO
from tests.test_cli_sync import FAKE_BPS


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
        assert done[-1][1] == 6  # the end comes with the last file
        counted = 0
        for n, attached in done:  # never ahead of the work: a file counts once it is attached (several go at once)
            counted += n
            assert counted - 6 <= attached, done
        created = sum(n for n, attached in done if attached == 0)
        assert created == 6  # the tickets are counted as they are created, before any file

        events.clear()
        create_from_spec(load_config(overrides=overrides), str(DEMO), start=lambda n: events.append(("start", n, 0)),
                         progress=lambda n: events.append(("done", n, 0)))
        assert events == [("start", 6, 0)] + [("done", 1, 0)] * 6  # nothing to create: one check per submission
    finally:
        if fake:
            fake.stop()


def test_submit_prints_each_row_as_its_bps_returns(tmp_path, runner):
    """`submit` run as a process with its output going to a file; each bps call notes how many lines that file has
    when it starts: the header, then one more row per earlier submission."""
    out, calls = tmp_path / "out.txt", tmp_path / "calls.txt"
    wrapper = tmp_path / "bps_wrapper.py"
    wrapper.write_text(
        "import os, sys\n"
        f"lines = open({str(out)!r}).read().count('\\n')\n"
        f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:2]) + f' {{lines}}\\n')\n"
        f"os.execv(sys.executable, [sys.executable, {str(FAKE_BPS)!r}, *sys.argv[1:]])\n")
    base = ["--set", f"local.path={tmp_path / 'store.sqlite'}", "--set", f"campaigns_dir={tmp_path / 'camps'}",
            "--set", f"bps.command={sys.executable} {wrapper}"]
    assert runner.invoke(cli, [*base, "create", str(DEMO)]).exit_code == 0
    with out.open("w") as handle:
        done = subprocess.run([sys.executable, "-m", "jiracampaign", *base, "submit", str(DEMO), "--step", "step1"],
                              stdout=handle, stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == ["--help 0", "submit 1", "submit 2", "submit 3"]
    lines = out.read_text().splitlines()
    assert lines[0].split() == ["KEY", "SUBMISSION", "ACTION", "RUN", "DETAIL"]
    assert [line.split()[:4] for line in lines[1:]] == [
        [f"JC-{n + 1}", f"demo-w47_step1_00{n}", "submitted", f"u_jdoe_demo-w47_step1_group00{n}_attempt1"]
        for n in (1, 2, 3)]
    assert len({line.index("submitted") for line in lines[1:]}) == 1  # aligned as a table
    assert done.stderr.endswith("3 submitted\n")
