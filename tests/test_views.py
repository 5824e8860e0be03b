"""`status`, `show`, `logs` and `panda` by campaign, ticket or run: the views of a campaign made through the real
commands (`create`, `submit` with the stand-in bps, `sync` against the fake PanDA monitor), read back on the local
store and both fake JIRA flavours, with their exact output in every format and the requests each costs.

The campaign (`follow`): the demo with its step2 at another site, both steps submitted (step2 with --force), six
runs on the fake monitor: step1 group 1 ends partly (2 isr jobs out of memory, their logs served over HTTP), group 2
succeeds, group 3 runs; step2 group 1 fails (5 coadd jobs), group 2 succeeds, group 3 waits.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler

from pathlib import Path

import pytest

from jiracampaign.core.runs import RunStatus
from jiracampaign.core.states import BatchState
from jiracampaign.sources.base import StatusSource
from jiracampaign.sources.bps.provenance import apply_result, result_from_answer
from jiracampaign.cli import cli
from tests.conftest import campaign_fixture
from tests.fakes.loopback import Loopback
from tests.test_cli_sync import DEMO
from tests.test_provenance import STACK, toy_run  # noqa: F401 (the real middleware's Parsl run, a module fixture)

camp = campaign_fixture("local", "cloud", "datacenter")
local_camp = campaign_fixture("local")

RUN = "u_jdoe_demo-w47_{}_group00{}_attempt1"
OOM = {"piloterrorcode": 1305, "piloterrordiag": "Failed to execute payload: killed (out of memory)",
       "transexitcode": "137"}
CRASH = {"exeerrorcode": 65, "exeerrordiag": "coadd: no input images for patch 42"}


class LogServer(Loopback):
    """Serves log files over HTTP on loopback, honouring ``Range: bytes=-N`` (206) as storage servers do."""

    def __init__(self, files: dict[str, bytes], ranges: bool = True):
        self.files, self.ranges, self.log = files, ranges, []

    def start(self) -> "LogServer":
        return self.serve(_LogHandler)


class _LogHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.state.log.append((self.path, self.headers.get("Range")))
        body = self.state.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        wanted = re.fullmatch(r"bytes=-(\d+)", self.headers.get("Range") or "")
        if wanted and self.state.ranges:
            part = body[-int(wanted.group(1)):]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {len(body) - len(part)}-{len(body) - 1}/{len(body)}")
        else:
            part = body
            self.send_response(200)
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        self.wfile.write(part)


def spec(write):
    """The demo campaign with its step2 at CC-IN2P3."""
    text = DEMO.read_text()
    assert "    after: [step1]\n" in text
    return write("demo.yaml", text.replace("    after: [step1]\n", "    after: [step1]\n    site: CC-IN2P3\n"))


def follow(camp, write, logs_url: str = "") -> list[str]:
    """Create, submit both steps, move the six runs on the monitor and sync until the campaign is seen; returns
    the run names (step1 groups 1-3, step2 groups 1-3)."""
    created = camp.run("create", str(spec(write)), "--json")
    assert created.exit_code == 0, created.output
    camp.keys = {row["id"]: row["key"] for row in json.loads(created.stdout)}
    assert camp.run("submit", str(spec(write)), "--step", "step1").exit_code == 0
    second = camp.run("submit", str(spec(write)), "--step", "step2", "--force")
    assert second.exit_code == 0, second.output
    runs = [r["run_name"] for r in camp.submitted()]
    assert runs == [RUN.format(s, g) for s in ("step1", "step2") for g in (1, 2, 3)]
    ids = [r["run_id"] for r in camp.submitted()]
    for name, run_id in zip(runs[:3], ids[:3]):
        camp.panda.add_run(name, {"isr": 10, "calibrate": 10}, request_id=run_id)
    for name, run_id in zip(runs[3:], ids[3:]):
        camp.panda.add_run(name, {"coadd": 5}, request_id=run_id, site="CC-IN2P3_Rubin")
    pilot = {"pilotid": f"{logs_url}/PandaJob/pilotlog.txt|PR|3.7.2"} if logs_url else {}
    camp.panda.progress(runs[0], "isr", finished=8, failed=2, status="finished", error={**OOM, **pilot})
    camp.panda.progress(runs[0], "calibrate", finished=10, status="done")
    camp.panda.set_status(runs[0], "SubFinished")
    for label in ("isr", "calibrate"):
        camp.panda.progress(runs[1], label, finished=10, status="done")
    camp.panda.set_status(runs[1], "Finished")
    camp.panda.progress(runs[2], "isr", finished=2, running=3)
    camp.panda.progress(runs[3], "coadd", failed=5, status="failed", error=CRASH)
    camp.panda.set_status(runs[3], "Failed")
    camp.panda.progress(runs[4], "coadd", finished=5, status="done")
    camp.panda.set_status(runs[4], "Finished")
    for _ in range(3):  # JIRA Cloud's search shows a new epic after a delay: the next sync finds it
        synced = camp.run("sync")
        assert synced.exit_code == 0, synced.output
        if "in 1 campaigns" in synced.stderr:
            return runs
    raise AssertionError("sync never saw the campaign")


def normal(camp, text: str) -> str:
    """Output with what differs between runs and trackers named: times, checksums, servers; JIRA's keys and
    comment links as the local store's."""
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "TIME", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", "ISO", text)
    text = re.sub(r"sha256 [0-9a-f]{64}", "sha256 SHA", text)
    text = re.sub(r"for (\d+ min|under a minute)", "for N min", text)
    text = re.sub(r"in \d+\.\d\d s", "in S s", text)
    text = text.replace(camp.panda.url, "MONITOR")
    if camp.fake:
        text = re.sub(r"\?focusedCommentId=\d+#comment-\d+", "#NOTE", text)
        text = text.replace(f"{camp.fake.url}/browse/", "TICKET/").replace("CAMP-", "JC-")
        text = re.sub(r"JIRA (Cloud|Data Center) http://127\.0\.0\.1:\d+ project CAMP", "TRACKER", text)
    else:
        text = text.replace(f"{camp.tmp}/store.sqlite#", "TICKET/")
        text = text.replace(f"local store {camp.tmp}/store.sqlite", "TRACKER")
    return text


def same(camp, result, expected: str, stderr: str | None = None) -> None:
    """The exact output on the local store; on JIRA the same cells (its keys are wider, so columns move)."""
    assert result.exit_code == 0, result.output
    got = normal(camp, result.stdout)
    if camp.fake:
        assert [line.split() for line in got.splitlines()] == [line.split() for line in expected.splitlines()]
    else:
        assert got == expected
    if stderr is not None:
        assert normal(camp, result.stderr) == stderr


OVERVIEW = """\
CAMPAIGN  EPIC  SUBMISSIONS  BY STATE                                                FILES DONE  FILES FAILED  STUCK  LAST SYNC
demo-w47  JC-1  6            1 failed, 1 partial, 1 running, 1 pending, 2 succeeded  60%         7             0      TIME
"""
OVERVIEW_CSV = """\
CAMPAIGN,EPIC,CLOSED,SUBMISSIONS,HELD,FAILED,PARTIAL,RUNNING,PENDING,SUBMITTED,UNKNOWN,CANCELLED,SUCCEEDED,NOT SUBMITTED,\
FILES,FILES DONE,FILES FAILED,PERCENT DONE,ATTENTION,STUCK,LAST SYNC,URL,REJECTED,FORCE-COMPLETED,ACCEPTED
demo-w47,JC-1,False,6,0,1,1,1,1,0,0,0,2,0,75,45,7,60.0,2,0,TIME,TICKET/JC-1,0,0,0
"""
CAMPAIGN = """\
STEP   GROUP  TASK       STATE      FILES  DONE  FAILED  DONE%  KEY   RUN                                      SITE      NOTE
step1  1/3               partial    20     18    2       90%    JC-2  u_jdoe_demo-w47_step1_group001_attempt1  SLAC
              isr        partial    10     8     2       80%
              calibrate  succeeded  10     10    0       100%
step1  2/3               succeeded  20     20    0       100%   JC-3  u_jdoe_demo-w47_step1_group002_attempt1  SLAC
              isr        succeeded  10     10    0       100%
              calibrate  succeeded  10     10    0       100%
step1  3/3               running    20     2     0       10%    JC-4  u_jdoe_demo-w47_step1_group003_attempt1  SLAC
              isr        running    10     2     0       20%
              calibrate  pending    10     0     0       0%
step2  1/3               failed     5      0     5       0%     JC-5  u_jdoe_demo-w47_step2_group001_attempt1  CC-IN2P3
              coadd      failed     5      0     5       0%
step2  2/3               succeeded  5      5     0       100%   JC-6  u_jdoe_demo-w47_step2_group002_attempt1  CC-IN2P3
              coadd      succeeded  5      5     0       100%
step2  3/3               pending    5      0     0       0%     JC-7  u_jdoe_demo-w47_step2_group003_attempt1  CC-IN2P3
              coadd      pending    5      0     0       0%
"""
SUMMARY = ("demo-w47 (JC-1): 6 submissions (1 failed, 1 partial, 1 running, 1 pending, 2 succeeded); 45/75 files done "
           "(60%), 7 failed; {stuck} stuck; last sync TIME; {shown} shown; read from TRACKER in S s{live}\n")
FAILED = """\
STEP   GROUP  TASK       STATE      FILES  DONE  FAILED  DONE%  KEY   RUN                                      SITE      NOTE
step1  1/3               partial    20     18    2       90%    JC-2  u_jdoe_demo-w47_step1_group001_attempt1  SLAC
              isr        partial    10     8     2       80%
              calibrate  succeeded  10     10    0       100%
step2  1/3               failed     5      0     5       0%     JC-5  u_jdoe_demo-w47_step2_group001_attempt1  CC-IN2P3
              coadd      failed     5      0     5       0%
"""
SITE = """\
STEP   GROUP  TASK   STATE      FILES  DONE  FAILED  DONE%  KEY   RUN                                      SITE      NOTE
step2  1/3           failed     5      0     5       0%     JC-5  u_jdoe_demo-w47_step2_group001_attempt1  CC-IN2P3
              coadd  failed     5      0     5       0%
step2  2/3           succeeded  5      5     0       100%   JC-6  u_jdoe_demo-w47_step2_group002_attempt1  CC-IN2P3
              coadd  succeeded  5      5     0       100%
step2  3/3           pending    5      0     0       0%     JC-7  u_jdoe_demo-w47_step2_group003_attempt1  CC-IN2P3
              coadd  pending    5      0     0       0%
"""
STUCK = """\
STEP   GROUP  TASK       STATE    FILES  DONE  FAILED  DONE%  KEY   RUN                                      SITE      NOTE
step1  3/3               running  20     2     0       10%    JC-4  u_jdoe_demo-w47_step1_group003_attempt1  SLAC      stuck: no progress for N min
              isr        running  10     2     0       20%
              calibrate  pending  10     0     0       0%
step2  3/3               pending  5      0     0       0%     JC-7  u_jdoe_demo-w47_step2_group003_attempt1  CC-IN2P3  stuck: no progress for N min
              coadd      pending  5      0     0       0%
"""
OVERDUE = """\
STEP   GROUP  TASK   STATE    FILES  DONE  FAILED  DONE%  KEY   RUN                                      SITE      NOTE
step2  3/3           pending  5      0     0       0%     JC-7  u_jdoe_demo-w47_step2_group003_attempt1  CC-IN2P3  stuck: going for N min, step2 expects 0.0001 h
              coadd  pending  5      0     0       0%
"""
SITES = """\
SITE      SUBMISSIONS  RUNS  FILES  DONE  FAILED  FAILURE RATE  ATTENTION  STUCK
CC-IN2P3  3            3     15     5     5       50%           1          0
SLAC      3            3     60     40    2       4.8%          1          0
"""
ONE = """\
STEP   GROUP  TASK       STATE    FILES  DONE  FAILED  DONE%  KEY   RUN                                      SITE  NOTE
step1  3/3               running  20     2     0       10%    JC-4  u_jdoe_demo-w47_step1_group003_attempt1  SLAC
              isr        running  10     2     0       20%
              calibrate  pending  10     0     0       0%
"""


def test_status_overview_campaign_sites_and_stuck_runs_read_from_the_tracker(camp, write):
    runs = follow(camp, write)
    before, monitor = len(camp.fake.log) if camp.fake else 0, len(camp.panda.log)

    overview = camp.run("status")
    same(camp, overview, OVERVIEW, "1 campaign (open campaigns, and those closed within 7 days) from TRACKER in S s\n")
    if camp.fake:  # the open and the closed epics (2 searches) and the campaign's digest: per campaign, not per ticket
        paths = [r["path"] for r in camp.fake.log[before:]]
        assert len(paths) == 3 and "attachment" in paths[2], paths
    same(camp, camp.run("status", "--csv"), OVERVIEW_CSV)
    [line] = json.loads(camp.run("status", "--json").stdout)
    assert line["by_state"] == {"held": 0, "failed": 1, "partial": 1, "running": 1, "pending": 1, "submitted": 0,
                                "unknown": 0, "cancelled": 0, "rejected": 0, "force-completed": 0, "accepted": 0,
                                "succeeded": 2, "not submitted": 0}
    assert (line["campaign"], line["files"], line["done"], line["failed"], line["percent"], line["attention"]) == (
        "demo-w47", 75, 45, 7, 60.0, 2)

    before = len(camp.fake.log) if camp.fake else 0
    same(camp, camp.run("status", "demo-w47"), CAMPAIGN, SUMMARY.format(stuck=0, shown=6, live=""))
    if camp.fake:  # the campaign by name (open, closed), its tickets, their status notes, the digest (last sync)
        assert len(camp.fake.log) - before == 5, [r["path"] for r in camp.fake.log[before:]]
    same(camp, camp.run("status", "demo-w47", "--failed"), FAILED, SUMMARY.format(stuck=0, shown=2, live=""))
    same(camp, camp.run("status", "demo-w47", "--site", "cc-in2p3"), SITE)
    same(camp, camp.run("--set", "status.stuck_hours=0.00001", "status", "demo-w47", "--stuck"), STUCK,
         SUMMARY.format(stuck=2, shown=2, live=""))
    threading.Event().wait(0.5)  # past the 0.36 s step2 expects, however fast the run went (time.sleep is a no-op)
    same(camp, camp.run("--set", "status.expected_hours=step2=0.0001", "status", "demo-w47", "--stuck"), OVERDUE)
    same(camp, camp.run("status", "--by-site"), SITES, "2 sites of the campaigns, 6 submissions, read in S s\n")
    same(camp, camp.run("status", "demo-w47", "--by-site"), SITES)
    # a ticket key or a run name stands for its submission
    same(camp, camp.run("status", camp.keys["demo-w47_step1_003"]), ONE)
    same(camp, camp.run("status", runs[2].upper()), ONE)
    assert len(camp.panda.log) == monitor  # the tracker alone: the monitor was never asked

    rows = list(csv.DictReader(io.StringIO(camp.run("status", "demo-w47", "--csv").stdout)))
    assert [(r["STEP"], r["GROUP"], r["TASK"], r["STATE"], r["FILES"], r["DONE"], r["FAILED"]) for r in rows[:3]] == [
        ("step1", "1/3", "", "partial", "20", "18", "2"), ("step1", "1/3", "isr", "partial", "10", "8", "2"),
        ("step1", "1/3", "calibrate", "succeeded", "10", "10", "0")]
    assert {r["KEY"] for r in rows[:3]} == {camp.keys["demo-w47_step1_001"]} and rows[0]["RUN"] == runs[0]
    assert list(rows[0]) == ["CAMPAIGN", "STEP", "GROUP", "TASK", "STATE", "FILES", "DONE", "FAILED", "RUNNING",
                             "PERCENT", "KEY", "RUN", "RUN ID", "WMS", "SITE", "STUCK", "CHANGED", "LIVE", "NOTE", "URL",
                             "ATTEMPT", "ATTEMPTS", "VERDICT"]
    assert (rows[0]["ATTEMPT"], rows[0]["ATTEMPTS"], rows[0]["VERDICT"]) == ("1", camp.keys["demo-w47_step1_001"], "")
    groups = json.loads(camp.run("status", "demo-w47", "--json").stdout)
    assert [(g["group"], g["state"], [t["task"] for t in g["tasks"]]) for g in groups if g["step"] == "step2"] == [
        ("1/3", "failed", ["coadd"]), ("2/3", "succeeded", ["coadd"]), ("3/3", "pending", ["coadd"])]


SHOW = """\
JC-2  demo-w47_step1_001
  ticket:            TICKET/JC-2  (shows {shows})
  campaign:          demo-w47  JC-1  TICKET/JC-1
  step:              step1, group 1 of 3 (visit 100..107)
  data query:        (instrument='LSSTCam-imSim') AND (visit >= 100 AND visit < 108)
  inputs:            8
  pipeline:          $DRP_PIPE_DIR/pipelines/LSSTCam-imSim/DRP-test-med-1.yaml#step1
  input collection:  Toy/defaults
  site:              SLAC
  BPS file:          demo-w47_step1_001.yaml  sha256 SHA  (attached)
  output run:        u/jdoe/demo-w47/step1/group001/attempt1
  attempt:           1
  run:               u_jdoe_demo-w47_step1_group001_attempt1  run id 6000  on panda
  submit dir:        /sdf/home/j/jdoe/submit/u/jdoe/demo-w47/step1/group001/attempt1/20261124T101010Z
  submitted:         ISO
  returned:          ISO
  state:             partial: 20 files, 18 done, 2 failed; sync saw it change TIME
  monitor:           MONITOR/tasks/?reqid=6000&days=30
  status note:       {note}
  tasks:
    TASK       STATE      FILES  DONE  FAILED  RUNNING
    isr        partial    10     8     2       0
    calibrate  succeeded  10     10    0       0
  failures: 2 failed jobs, 1 distinct errors{failures}
    2 x isr pilot:1305 (also transformation:137): Failed to execute payload: killed (out of memory)
"""
LOGS = """\
JC-2  u_jdoe_demo-w47_step1_group001_attempt1 (panda): 2 failed jobs listed, from the failure summary on JC-2

isr  job 7000001 at SLAC_Rubin, attempt 1
  pilot:1305: Failed to execute payload: killed (out of memory)
  job page:  MONITOR/job?pandaid=7000001
  stdout:    LOGS/PandaJob/payload.stdout
  stderr:    LOGS/PandaJob/payload.stderr
  log:       LOGS/PandaJob/pilotlog.txt{tail}

isr  job 7000000 at SLAC_Rubin, attempt 1
  pilot:1305: Failed to execute payload: killed (out of memory)
  job page:  MONITOR/job?pandaid=7000000
  stdout:    LOGS/PandaJob/payload.stdout
  stderr:    LOGS/PandaJob/payload.stderr
  log:       LOGS/PandaJob/pilotlog.txt{tail}
"""
PAYLOAD = "".join(f"line {n} of the payload\n" for n in range(1, 2001)).encode() + b"MemoryError: killed\n"


def test_show_and_logs_of_one_submission_by_key_or_run_name(camp, write):
    server = LogServer({"/PandaJob/payload.stdout": PAYLOAD}).start()
    try:
        runs = follow(camp, write, server.url)
        key = camp.keys["demo-w47_step1_001"]
        before = len(camp.fake.log) if camp.fake else 0
        shown = camp.run("show", key)
        if camp.fake:  # the ticket, its campaign's tickets (its epic and its group's attempts), its two comments
            paths = [r["path"] for r in camp.fake.log[before:]]
            assert len(paths) == 4 and paths[0].endswith("/issue/CAMP-2"), paths
        note = "TICKET/JC-2#NOTE" if camp.fake else "on the ticket"
        shows = "Blocked" if camp.fake else "partial"
        same(camp, shown, SHOW.format(shows=shows, note=note, failures="  TICKET/JC-2#NOTE" if camp.fake else ""))
        assert camp.run("show", runs[0].upper()).stdout == shown.stdout  # the run name, in any case
        data = json.loads(camp.run("show", key, "--json").stdout)
        assert (data["key"], data["state"], data["record"]["step"], data["file_attached"]) == (key, "partial", "step1", True)
        assert data["failures"]["groups"] == [{"count": 2, "task": "isr", "error": "pilot:1305",
                                               "message": "Failed to execute payload: killed (out of memory)",
                                               "also": "transformation:137", "data_ids": [], "more_ids": 0}]
        assert [t["label"] for t in data["tasks"]] == ["isr", "calibrate"] and "live" not in data

        def logs_out(result):
            return normal(camp, result.stdout).replace(server.url, "LOGS")

        listed = camp.run("logs", key)
        assert listed.exit_code == 0 and logs_out(listed) == LOGS.format(tail="")
        tail = "\n  --- last 2 lines of LOGS/PandaJob/payload.stdout ---\n  line 2000 of the payload\n  MemoryError: killed"
        tailed = camp.run("logs", key, "--tail", "2")
        assert tailed.exit_code == 0, tailed.output
        assert logs_out(tailed) == LOGS.format(tail=tail)
        assert server.log[-1] == ("/PandaJob/payload.stdout", "bytes=-65536")  # only the end is asked for
        small = camp.run("--set", "status.tail_bytes=1000", "logs", key, "--tail", "1")
        assert small.exit_code == 0, small.output  # a large log: its end, and which part of it that is
        assert small.stdout.count(f"last 1 line of {server.url}/PandaJob/payload.stdout (from the last 1 KiB of 48 KiB) "
                                  "---\n  MemoryError: killed\n") == 2
        rows = list(csv.DictReader(io.StringIO(camp.run("logs", key, "--csv", "--tail", "1").stdout)))
        assert [(r["TASK"], r["JOB"], r["ERROR"], r["TAIL"]) for r in rows] == [
            ("isr", "7000001", "pilot:1305", "MemoryError: killed"), ("isr", "7000000", "pilot:1305", "MemoryError: killed")]
        other = camp.run("logs", key, "--task", "calibrate")
        assert other.exit_code == 0
        assert "Note: no failed job of task calibrate; failed tasks: isr" in other.stderr
        assert "0 failed jobs listed of 2" in other.stdout
    finally:
        server.stop()
    gone = camp.run("logs", key, "--tail", "2")  # the log server is down: each log says so, exit 7
    assert gone.exit_code == 7
    assert gone.stdout.count(f"  log not reachable: {server.url}/PandaJob/payload.stdout: cannot connect to "
                             f"{server.url[len('http://'):]}\n") == 2
    assert "2 of 2 logs could not be read" in gone.stderr


def test_live_detail_shows_what_moved_since_the_last_sync_and_writes_nothing(local_camp, write):
    camp = local_camp
    runs = follow(camp, write)
    writes, monitor = camp.tracker_writes(), len(camp.panda.log)
    live = camp.run("status", "demo-w47", "--live")
    assert live.exit_code == 0, live.output
    assert normal(camp, live.stdout) == CAMPAIGN  # nothing moved: the digests sync stored say so
    assert re.sub(r"\d+\.\d s$", "T s", normal(camp, live.stderr)) == SUMMARY.format(
        stuck=0, shown=6, live="; live panda: 2 runs, 1 request, T s")
    assert [r["path"] for r in camp.panda.log[monitor:]] == ["/idds/wfprogress/"]  # one bulk request

    camp.panda.progress(runs[2], "isr", finished=6, running=4)  # not synced: only a live read sees it
    monitor = len(camp.panda.log)
    moved = camp.run("--set", "status.stuck_hours=0.00001", "status", "demo-w47", "--live", "--site", "slac", "--stuck")
    assert moved.exit_code == 0
    assert moved.stdout == "" and "; 0 shown;" in moved.stderr  # it moved just now: not stuck
    moved = camp.run("--set", "status.stuck_hours=0.00001", "status", runs[2], "--live")
    assert normal(camp, moved.stdout) == """\
STEP   GROUP  TASK       STATE    FILES  DONE  FAILED  DONE%  KEY   RUN                                      SITE  NOTE
step1  3/3               running  20     6     0       30%    JC-4  u_jdoe_demo-w47_step1_group003_attempt1  SLAC  moved since the last sync
              isr        running  10     6     0       60%
              calibrate  pending  10     0     0       0%
"""
    assert [r["path"] for r in camp.panda.log[monitor:]] == ["/idds/wfprogress/", "/tasks/"] * 2  # details once moved
    assert normal(camp, camp.run("status", runs[2]).stdout) == ONE  # the tracker still says what sync wrote
    assert camp.tracker_writes() == writes

    overview = camp.run("status", "--live")
    assert "demo-w47  JC-1  6            1 failed, 1 partial, 1 running, 1 pending, 2 succeeded  65.3%" in overview.stdout
    camp.panda.inject("/idds/wfprogress/", "503", times=5)
    down = camp.run("--set", "panda.max_retries=0", "status", "demo-w47", "--live")
    assert down.exit_code == 7  # the tracker's view, and what could not be read
    assert normal(camp, down.stdout) == CAMPAIGN
    assert "Problem: panda: PanDA monitor failed on GET /idds/wfprogress/ with HTTP 503" in down.stderr


def test_panda_and_the_views_take_a_campaign_a_ticket_or_a_run_name(local_camp, write):
    camp = local_camp
    runs = follow(camp, write)
    by_campaign = camp.run("panda", "demo-w47", "--csv")
    assert by_campaign.exit_code == 0, by_campaign.output
    assert sorted({row["RUN"] for row in csv.DictReader(io.StringIO(by_campaign.stdout))}) == runs
    assert "6 runs, " in by_campaign.stderr
    [one] = json.loads(camp.run("panda", camp.keys["demo-w47_step2_001"], "--json").stdout)
    assert (one["name"], one["state"], one["failures"][0]["count"]) == (runs[3], "failed", 5)
    by_name = camp.run("panda", runs[1], "--json")
    assert [r["state"] for r in json.loads(by_name.stdout)] == ["succeeded"]
    parsl = camp.run("record", camp.keys["demo-w47_step2_003"], "--run-name", "u_jdoe_parsl_1", "--wms", "parsl",
                     "--submit-dir", "/tmp/none", "--force")
    assert parsl.exit_code == 0, parsl.output
    mixed = camp.run("panda", "demo-w47", "--json")
    assert len(json.loads(mixed.stdout)) == 5
    assert ("Note: demo-w47: 1 run not on PanDA left out (parsl: 'jiracampaign show KEY --live' asks their status "
            "source)") in mixed.stderr

    for args, message in (
            (["panda", "JC-99"], "Error: RUN: no ticket JC-99 in TRACKER\n"),
            (["show", "demo-w47"], "Error: KEY|RUN: demo-w47 is a campaign (demo-w47), not a submission: name a "
                                   "submission's ticket key or its run name, or use 'jiracampaign status demo-w47'\n"),
            (["logs", "JC-1"], "Error: KEY|RUN: JC-1 is a campaign (demo-w47), not a submission: name a submission's "
                               "ticket key or its run name, or use 'jiracampaign status JC-1'\n"),
            (["status", "dp02"], "Error: CAMPAIGN|KEY|RUN: no campaign, ticket or run named 'dp02' in TRACKER; "
                                 "campaigns there: demo-w47\n"),
            (["--set", "status.expected_hours=step1=soon", "status"],
             "Error: command line: status.expected_hours: expected step=hours pairs separated by commas, such as "
             "'step1=6, step2=24' (or one number of hours for every step), got 'step1=soon'\n")):
        result = camp.run(*args)
        assert (result.exit_code, normal(camp, result.stderr)) == (3, message), args


class ProvenanceFiles(StatusSource):
    """A status source plug-in (named in ``sync.sources``) for Parsl runs whose quantum provenance the test wrote
    as the stack helper's ``provenance`` op answers it (``<submit dir>/answer.json``), converted by the BPS source's
    own conversion (`result_from_answer`, `apply_result`)."""

    name, label, handles = "provenance-files", "Provenance", ("parsl",)

    @classmethod
    def from_config(cls, config, **kwargs):
        return cls()

    def statuses(self, runs, detail="changed"):
        out = []
        for ref in runs:
            status = RunStatus(ref.name, self.name, BatchState.UNKNOWN, source_label=self.label, run_id=ref.run_id)
            result = result_from_answer(ref.name, json.loads((Path(ref.submit_dir) / "answer.json").read_text()),
                                        ended=True)
            apply_result(status, result, set_state=True)
            status.digest = result.digest
            out.append(status)
        return out

    def ping(self):
        return "files"


def _quantum(submit: Path, task: str, exposure: int, kind: str, message: str, lines: int | None) -> dict:
    base = submit / "logs" / task / str(exposure) / f"q{exposure}_{task}_{exposure}_1"
    err, out = base.with_suffix(".stderr"), base.with_suffix(".stdout")
    if lines is not None:
        base.parent.mkdir(parents=True, exist_ok=True)
        err.write_text("".join(f"{task} {exposure}: step {n}\n" for n in range(1, lines + 1)) + f"{kind}: {message}\n")
        out.write_text("")
    return {"quantum_id": f"q{exposure}-{task}", "task": task, "status": "FAILED",
            "data_id": {"instrument": "Toy", "exposure": exposure, "detector": 1}, "logs": [str(err), str(out)],
            "attempts": [{"attempt": 0, "status": "FAILED", "exception": {"type": kind, "message": message},
                          "stdout": str(out), "stderr": str(err), "log": str(err)}]}


def test_logs_of_a_parsl_run_come_from_its_provenance_report_and_submit_directory(local_camp, write, tmp_path):
    camp = local_camp
    submit = tmp_path / "submit" / "u_jdoe_parsl_1"
    answer = {"ok": True, "final_job": {"state": "succeeded"}, "recovered": [], "caveats": [], "unknown": [],
              "tasks": [{"label": "isr", "expected": 4, "successful": 3, "failed": 1},
                        {"label": "calibrateImage", "expected": 4, "successful": 2, "failed": 1, "blocked": 1}],
              "failed": [_quantum(submit, "isr", 2002, "MemoryError", "std::bad_alloc", 30),
                         _quantum(submit, "calibrateImage", 1003, "ValueError", "Simulated failure", None)],
              "blocked": [{"quantum_id": "q3", "task": "calibrateImage", "status": "BLOCKED",
                           "data_id": {"instrument": "Toy", "exposure": 2002, "detector": 1}}]}
    (submit / "answer.json").write_text(json.dumps(answer))
    camp.args += ["--set", "sync.sources=panda, tests.test_views.ProvenanceFiles"]
    assert camp.run("create", str(spec(write)), "--json").exit_code == 0
    key = "JC-2"
    recorded = camp.run("record", key, "--run-name", "u_jdoe_parsl_1", "--wms", "parsl", "--submit-dir", str(submit))
    assert recorded.exit_code == 0, recorded.output
    assert camp.run("sync").exit_code == 0

    listed = camp.run("logs", "u_jdoe_parsl_1", "--tail", "2")
    assert listed.exit_code == 7  # one log is not there
    assert listed.stdout.replace(str(submit), "SUBMIT") == """\
JC-2  u_jdoe_parsl_1 (parsl): 2 failed jobs listed, from the failure report attached to JC-2 (provenance-u_jdoe_parsl_1.json)

isr  quantum exposure=2002 detector=1, attempt 1
  MemoryError: std::bad_alloc
  stderr:  SUBMIT/logs/isr/2002/q2002_isr_2002_1.stderr
  stdout:  SUBMIT/logs/isr/2002/q2002_isr_2002_1.stdout
  --- last 2 lines of SUBMIT/logs/isr/2002/q2002_isr_2002_1.stderr ---
  isr 2002: step 30
  MemoryError: std::bad_alloc

calibrateImage  quantum exposure=1003 detector=1, attempt 1
  ValueError: Simulated failure
  stderr:  SUBMIT/logs/calibrateImage/1003/q1003_calibrateImage_1003_1.stderr
  stdout:  SUBMIT/logs/calibrateImage/1003/q1003_calibrateImage_1003_1.stdout
  log not reachable: SUBMIT/logs/calibrateImage/1003/q1003_calibrateImage_1003_1.stderr: No such file or directory
"""
    assert listed.stderr == "1 of 2 logs could not be read\n"
    only = camp.run("logs", key, "--task", "isr", "--json")
    assert [(j["task"], j["data_id"], j["error"]) for j in json.loads(only.stdout)] == [
        ("isr", "exposure=2002 detector=1", "MemoryError")]
    shown = camp.run("show", key)
    assert "  reports:           provenance-u_jdoe_parsl_1.json (attached)\n" in shown.stdout
    assert "  state:             partial: 8 quanta, 5 done, 2 failed;" in shown.stdout
    assert ("    TASK            STATE    QUANTA  DONE  FAILED  RUNNING\n"
            "    isr             partial  4       3     1       -\n"
            "    calibrateImage  partial  4       2     1       -\n") in shown.stdout


class Terminal:
    """A real terminal: a tmux server of its own (socket under the test's folder), one 160x40 pane running bash."""

    def __init__(self, folder: Path):
        self.socket = str(folder / "tmux.sock")
        self.tmux("new-session", "-d", "-s", "w", "-x", "160", "-y", "40", "env", "PS1=$ ", "bash", "--norc",
                  "--noprofile")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=True).stdout

    def type(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "w", *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "w")

    def wait_for(self, pattern: str, seconds: float = 60) -> str:
        """The screen once ``pattern`` shows on it (polled; fails after ``seconds``)."""
        deadline = time.monotonic() + seconds
        while True:
            text = self.screen()
            if re.search(pattern, text, re.MULTILINE):
                return text
            assert time.monotonic() < deadline, f"{pattern!r} never showed; the screen:\n{text}"
            threading.Event().wait(0.2)  # time.sleep is a no-op in these tests (the CLI's waits are skipped)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


@pytest.mark.skipif(not shutil.which("tmux"), reason="tmux is not installed")
def test_watch_refreshes_in_place_as_the_runs_progress_and_ctrl_c_leaves_a_clean_terminal(local_camp, write, tmp_path):
    camp = local_camp
    runs = follow(camp, write)
    term = Terminal(tmp_path)
    try:
        command = [sys.executable, "-m", "jiracampaign", *camp.args, "--set", "panda.requests_per_hour=100000",
                   "status", "demo-w47", "--site", "SLAC", "--watch", "2"]
        term.type(shlex.join(command), "Enter")
        first = term.wait_for(r"refresh 1 at")
        assert term.tmux("display-message", "-p", "-t", "w", "#{alternate_on}").strip() == "1"  # drawn in place
        row = r"^step1\s+3/3\s+running\s+20\s+{done}\s+0\s+{percent}\s+JC-4\s+u_jdoe_demo-w47_step1_group003_attempt1"
        assert re.search(row.format(done=2, percent="10%"), first, re.MULTILINE), first
        assert "demo-w47 (JC-1)  ·  refresh 1 at" in first and "Ctrl-C to stop" in first
        assert re.search(r"next in 2 s  ·  Ctrl-C to stop\n\d+ PanDA requests left this hour\n", first), first
        assert not re.search(r"^step2", first, re.MULTILINE)  # --site SLAC

        camp.panda.progress(runs[2], "isr", finished=6, running=4)
        second = term.wait_for(row.format(done=6, percent="30%"))
        assert "moved since the last sync" in second
        assert re.search(r"^\s+isr\s+running\s+10\s+6\s+0\s+60%", second, re.MULTILINE)

        camp.panda.progress(runs[2], "isr", finished=10, running=0, status="done")
        camp.panda.progress(runs[2], "calibrate", finished=10, status="done")
        camp.panda.set_status(runs[2], "Finished")
        third = term.wait_for(r"^step1\s+3/3\s+succeeded\s+20\s+20\s+0\s+100%")
        refreshes = int(re.search(r"refresh (\d+) at", third).group(1))
        assert refreshes >= 3
        asked = len(camp.panda.log)
        term.wait_for(rf"refresh {refreshes + 1} at")
        assert len(camp.panda.log) == asked  # every run has ended: nothing more to ask the monitor

        term.type("C-c")
        done = term.wait_for(r"^Stopped watching after \d+ refreshes\.$")
        term.wait_for(r"^\$ ?$")  # the shell's prompt again
        assert term.tmux("display-message", "-p", "-t", "w", "#{alternate_on} #{cursor_flag}").strip() == "0 1"
        assert "Traceback" not in done and "Interrupted" not in done
        assert "demo-w47 (JC-1): 6 submissions" in done  # the last refresh's summary stays on the screen
        assert "; live (no run going)" in done
    finally:
        term.close()
    assert camp.ticket(camp.keys["demo-w47_step1_003"])[0] == "In Progress"  # a view writes nothing


def test_a_watch_uses_at_most_half_the_panda_budget_and_leaves_the_bps_helper_idle_twice_as_long():
    from jiracampaign.config import load_config
    from jiracampaign.services.status import Live, SourceCost, watch_interval

    live = Live(load_config(env={}))
    assert watch_interval(5, None, 500) == (5, "")
    live.costs = {"panda": SourceCost(requests=1, seconds=0.2, runs=3)}
    assert watch_interval(5, live, 500) == (14.4, "1 PanDA request a refresh, at most 50% of "
                                                   "panda.requests_per_hour (500)")
    assert watch_interval(30, live, 500) == (30, "")
    live.costs = {"panda": SourceCost(requests=2), "bps": SourceCost(seconds=11.0, runs=1)}
    assert watch_interval(5, live, 500) == (33.0, "the bps source took 11.0 s")
    live.costs["bps"].seconds = 1.0
    assert watch_interval(5, live, 500) == (28.8, "2 PanDA requests a refresh, at most 50% of "
                                                   "panda.requests_per_hour (500)")


jira_camp = campaign_fixture("cloud", "datacenter")


def test_status_costs_requests_per_campaign_not_per_ticket(jira_camp, write):
    camp = jira_camp
    follow(camp, write)
    dp02 = camp.run("create", str(DEMO.parent.parent / "dp02" / "campaign.yaml"), "-o", "dp02")
    assert dp02.exit_code == 0, dp02.output
    for _ in range(3):  # Cloud's search shows the new epic after a delay
        before = len(camp.fake.log)
        overview = camp.run("status")
        if "dp02-w38" in overview.stdout:
            break
    paths = [(r["method"], r["path"]) for r in camp.fake.log[before:]]
    # 2 searches (open and closed epics); demo-w47's digest (1 download); dp02-w38 has none yet (nothing
    # submitted): its 57 tickets are read in 1 search
    assert len(paths) == 4, paths
    assert sum("attachment" in path for _, path in paths) == 1
    lines = [line.split("  ")[0] for line in overview.stdout.splitlines()[1:]]
    assert lines == ["demo-w47", "dp02-w38"]
    assert "56 not submitted" in overview.stdout


def test_closed_campaigns_show_within_the_window_or_with_all(local_camp, write):
    from jiracampaign.trackers.local import LocalTracker

    camp = local_camp
    follow(camp, write)
    other = write("w48.yaml", spec(write).read_text().replace("demo-w47", "demo-w48"))
    assert camp.run("create", str(other), "-o", "w48").exit_code == 0
    tracker = LocalTracker(camp.tmp / "store.sqlite")
    tracker.close_item(tracker.open_campaigns("demo-w47")[0].key)
    tracker.close()
    shown = camp.run("status")
    assert [line.split("  ")[0] for line in shown.stdout.splitlines()[1:]] == ["demo-w48", "demo-w47 (closed)"]
    assert "6 not submitted" in shown.stdout.splitlines()[1]
    failing = camp.run("status", "--failed")  # only campaigns with something to look at
    assert [line.split("  ")[0] for line in failing.stdout.splitlines()[1:]] == ["demo-w47 (closed)"]

    db = sqlite3.connect(camp.tmp / "store.sqlite")  # as if it had been closed ten days ago
    with db:
        db.execute("UPDATE tickets SET updated = ? WHERE ident = 'demo-w47'",
                   ((datetime.now(timezone.utc) - timedelta(days=10)).isoformat(timespec="seconds"),))
    db.close()
    assert [line.split("  ")[0] for line in camp.run("status").stdout.splitlines()[1:]] == ["demo-w48"]
    assert [line.split("  ")[0] for line in camp.run("status", "--since", "11").stdout.splitlines()[1:]] == [
        "demo-w48", "demo-w47 (closed)"]
    assert [row["CAMPAIGN"] for row in csv.DictReader(io.StringIO(camp.run("status", "--all", "--csv").stdout))] == [
        "demo-w48", "demo-w47"]
    named = camp.run("status", "demo-w47")  # named, a closed campaign is shown whenever it was closed
    assert named.exit_code == 0 and normal(camp, named.stdout) == CAMPAIGN


class HtcondorFiles(ProvenanceFiles):
    """The same for HTCondor runs, whose report the test wrote as the stack helper's ``status`` op gives it
    (``<submit dir>/report.json``), read by the BPS source's own conversion."""

    name, label, handles = "htcondor-files", "BPS", ("htcondor",)

    def statuses(self, runs, detail="changed"):
        from jiracampaign.sources.bps.source import _from_report

        out = []
        for ref in runs:
            status = RunStatus(ref.name, self.name, BatchState.UNKNOWN, source_label=self.label, run_id=ref.run_id)
            _from_report(status, json.loads((Path(ref.submit_dir) / "report.json").read_text()))
            status.detail, status.digest = True, "d1"
            out.append(status)
        return out


def test_logs_of_an_htcondor_run_come_from_its_attached_report(local_camp, write, tmp_path):
    camp = local_camp
    submit = tmp_path / "submit" / "u_jdoe_condor_1"
    jobs = submit / "jobs" / "label1"
    jobs.mkdir(parents=True)
    (jobs / "job3.9230.err").write_text("Traceback (most recent call last):\nRuntimeError: exploded\n")
    report = {"found": True, "wms_id": "9228.0", "state": "FAILED", "run_summary": "label1:3;finalJob:1",
              "total_jobs": 4, "final_job": "SUCCEEDED",
              "job_state_counts": {"SUCCEEDED": 3, "FAILED": 1},
              "job_summary": {"label1": {"SUCCEEDED": 2, "FAILED": 1}, "finalJob": {"SUCCEEDED": 1}},
              "exit_code_summary": {"label1": [1]}, "problem_jobs_total": 1,
              "problem_jobs": [{"name": "job3", "label": "label1", "wms_id": "9230.0", "state": "FAILED",
                                "stderr": str(jobs / "job3.9230.err"), "stdout": str(jobs / "job3.9230.out"),
                                "log": str(jobs / "job3.9230.log")}]}
    (submit / "report.json").write_text(json.dumps(report))
    camp.args += ["--set", "sync.sources=panda, tests.test_views.HtcondorFiles"]
    assert camp.run("create", str(spec(write))).exit_code == 0
    assert camp.run("record", "JC-3", "--run-name", "u_jdoe_condor_1", "--run-id", "9228.0", "--wms", "htcondor",
                    "--submit-dir", str(submit)).exit_code == 0
    assert camp.run("sync").exit_code == 0
    listed = camp.run("logs", "JC-3", "--tail", "1")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.replace(str(jobs), "JOBS") == """\
JC-3  u_jdoe_condor_1 (htcondor): 1 failed job listed, from the failure report attached to JC-3 \
(u_jdoe_condor_1.bps-report.json)

label1  job job3
  failed: the job failed; see its output
  stderr:  JOBS/job3.9230.err
  stdout:  JOBS/job3.9230.out
  log:     JOBS/job3.9230.log
  --- last 1 line of JOBS/job3.9230.err ---
  RuntimeError: exploded
"""


def test_logs_and_views_of_a_real_parsl_run_through_the_bps_source(toy_run, runner, tmp_path):
    """The real middleware (`tests.test_provenance.toy_run`: a Parsl run of the toy pipeline with two injected
    failures), recorded on a ticket, synced by the real BPS source through the stack's helper; `logs` then tails
    the quanta's own log files in its submit directory."""
    submit, name, _ = toy_run
    base = ["--set", f"local.path={tmp_path / 'store.sqlite'}", "--set", f"bps.python={STACK / 'bin' / 'python'}",
            "--set", "sync.sources=bps"]
    created = runner.invoke(cli, [*base, "create", str(DEMO), "--json"])
    assert created.exit_code == 0, created.output
    key = next(row["key"] for row in json.loads(created.stdout) if row["id"].endswith("step1_001"))
    recorded = runner.invoke(cli, [*base, "record", key, "--run-name", name, "--wms", "parsl", "--submit-dir",
                                   str(submit)])
    assert recorded.exit_code == 0, recorded.output
    synced = runner.invoke(cli, [*base, "sync"])
    assert synced.exit_code == 0, synced.output

    listed = runner.invoke(cli, [*base, "logs", name, "--tail", "3"])
    assert listed.exit_code == 0, listed.output
    head, *jobs = listed.stdout.split("\n\n")
    assert head == (f"{key}  {name} (parsl): 2 failed jobs listed, from the failure report attached to {key} "
                    f"(provenance-{name}.json)")
    # Parsl ran each failed quantum twice (its site retries once): the second attempt's failure is the run's
    assert [job.splitlines()[0] for job in jobs] == ["isr  quantum exposure=2002 detector=1, attempt 2",
                                                     "calibrateImage  quantum visit=1003 detector=2, attempt 2"]
    for job, error in zip(jobs, ("MemoryError", "ValueError")):
        lines = job.splitlines()
        assert lines[1].startswith(f"  {error}: ")
        log_file = next(line.split(":  ", 1)[1] for line in lines if line.startswith("  stderr:"))
        assert log_file.startswith(str(submit)) and Path(log_file).is_file()
        tail = lines[lines.index(f"  --- last 3 lines of {log_file} ---") + 1:]
        assert tail == ["  " + line for line in Path(log_file).read_text().splitlines()[-3:]]

    table = runner.invoke(cli, [*base, "status", key])
    assert table.exit_code == 0, table.output
    assert re.match(rf"step1\s+1/3\s+partial\s+30\s+25\s+2\s+83\.3%\s+{key}\s+{name}\s+", table.stdout.splitlines()[1])
    assert re.search(r"^\s+isr\s+partial\s+12\s+11\s+1\s+91\.7%$", table.stdout, re.MULTILINE)
    shown = runner.invoke(cli, [*base, "show", key])
    assert "  state:             partial: 30 quanta, 25 done, 2 failed;" in shown.stdout
    assert f"  reports:           provenance-{name}.json (attached)\n" in shown.stdout
