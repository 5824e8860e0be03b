"""Two machines syncing one campaign at once, and a later sync correcting what a race left behind:
the lease on the campaign ticket keeps the second sync out (it says whose lease it met); a ticket whose
status does not show its run's state is moved, and a status note or digest written twice is folded,
while an idle sync still costs 3 requests."""

from __future__ import annotations

import copy
import os
import sys
import time

import pytest

from jiracampaign.cli import cli
from jiracampaign.core.ledger import DIGEST_FILE
from tests.conftest import campaign_fixture
from tests.test_cli_create import DEMO

REAL_SLEEP = time.sleep  # the CLI tests record sleeps instead; racing processes need real ones


camp = campaign_fixture("cloud", "datacenter")


def submitted(camp) -> list[str]:
    """The demo campaign created and step1 submitted: 3 runs, two running, one failed (Cloud's search
    shows new tickets at once here: the syncs below must find the new epic)."""
    camp.fake.lag = 0
    camp.create()
    assert camp.run("submit", str(DEMO), "--step", "step1").exit_code == 0
    runs = camp.submitted()
    for run in runs:
        camp.panda.add_run(run["run_name"], {"isr": 10}, request_id=run["run_id"])
        camp.panda.progress(run["run_name"], "isr", finished=2, running=3)
    camp.panda.progress(runs[1]["run_name"], "isr", failed=10, finished=0, running=0, status="failed",
                        error={"exeerrorcode": 65, "exeerrordiag": "pipetask failed"})
    camp.panda.set_status(runs[1]["run_name"], "Failed")
    return [camp.keys[f"demo-w47_step1_00{i}"] for i in (1, 2, 3)]


def epic_of(camp):
    return next(i for i in camp.fake.issues.values() if "jc-epic" in i.fields.get("labels", []))


def digests(camp) -> int:
    return sum(1 for a in epic_of(camp).attachments if a["filename"] == DIGEST_FILE)


def two_syncs_at_once(camp, tmp_path) -> list[int]:
    """Two processes, each with its own state folder (two machines), run `sync` at the same moment."""
    pids = []
    for name in ("a", "b"):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                time.sleep = REAL_SLEEP
                os.environ.update({**camp.env, "XDG_DATA_HOME": str(tmp_path / name)})
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                cli.main([*camp.args, "sync"], standalone_mode=False)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                code = 3
            finally:
                os._exit(code)
        pids.append(pid)
    return [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to run two syncs at once")
def test_two_machines_syncing_at_once_write_each_thing_once(camp, tmp_path):
    keys = submitted(camp)
    assert two_syncs_at_once(camp, tmp_path) == [0, 0]
    for key in keys:
        assert len(camp.comments(key, "status")) == 1, key
    assert digests(camp) == 1
    assert [camp.ticket(k)[0] for k in keys] == ["In Progress", "Blocked", "In Progress"]
    assert len(camp.comments(keys[1], "failures")) == 1
    lease = epic_of(camp).properties["jiracampaign.lease"]
    assert lease["purpose"] == "sync" and lease["released"], "the winner released its lease"


def test_a_live_lease_makes_another_sync_skip_and_say_whose(camp):
    keys = submitted(camp)
    epic = epic_of(camp)
    now = time.time()
    epic.properties["jiracampaign.lease"] = {"purpose": "sync", "owner": "x", "host": "pilot-node-7", "pid": 4242,
                                             "user": "rubin", "taken": now, "expires": now + 600, "released": None}
    result = camp.run("sync")
    assert result.exit_code == 0, result.output
    assert f"Skipped: {epic.key} (campaign demo-w47): another sync holds its lease: sync by rubin@pilot-node-7 " \
           "(pid 4242)" in result.stderr
    assert all(not camp.comments(k, "status") for k in keys)  # nothing written under another's lease
    epic.properties["jiracampaign.lease"]["expires"] = now - 1  # expired: the next sync goes ahead
    assert camp.run("sync").exit_code == 0
    assert all(len(camp.comments(k, "status")) == 1 for k in keys)


def test_a_later_sync_corrects_the_status_and_folds_doubles(camp):
    keys = submitted(camp)
    first = camp.run("sync")
    assert first.exit_code == 0, first.output
    assert camp.ticket(keys[1])[0] == "Blocked", first.output  # failed: "Failed, Blocked", the fake has no Failed

    # what a race left: a wrong status, a second status comment, a second digest
    failed = camp.fake.issue(keys[1])
    failed.status = "3"
    status_comment = next(c for c in failed.comments if "jiracampaign:status" in c["body"])
    failed.comments.append(dict(copy.deepcopy(status_comment), id="39999"))
    epic = epic_of(camp)
    digest = next(a for a in epic.attachments if a["filename"] == DIGEST_FILE)
    epic.attachments.insert(0, dict(copy.deepcopy(digest), id="19999"))

    mark = len(camp.fake.log)
    idle = camp.run("sync")  # within sync.check_minutes: nothing is read but the epic and its digest
    assert idle.exit_code == 0 and len(camp.fake.log) - mark == 2 and len(camp.panda.log) > 0

    checked = camp.run("--set", "sync.check_minutes=0.0001", "sync")
    assert checked.exit_code == 0, checked.output
    assert camp.ticket(keys[1])[0] == "Blocked"
    assert f"{keys[1]}: shows In Progress, its run is failed" in checked.stdout
    assert len(camp.comments(keys[1], "status")) == 1
    assert digests(camp) == 1, (checked.output, [r["method"] + " " + r["path"] for r in camp.fake.log[mark:]])
    assert "Folded:" in checked.stderr

    mark, monitor = len(camp.fake.log), len(camp.panda.log)
    idle = camp.run("sync")  # the check is done for this hour: an idle sync is 3 requests again
    assert idle.exit_code == 0 and len(camp.fake.log) - mark == 2 and len(camp.panda.log) - monitor == 1
