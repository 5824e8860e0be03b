"""The next attempt's BPS file, derived from the submitted one (`planning.rescue`)."""

from __future__ import annotations

import pytest
import yaml

from jiracampaign.errors import InputError
from jiracampaign.planning.rescue import Overrides, derive_attempt, failed_query, settings_between

SUBMITTED = """\
# jiracampaign submission c_step1_001
# ticket JC-2
wmsServiceClass: lsst.ctrl.bps.parsl.ParslService
computeSite: local
site:
  local:
    class: lsst.ctrl.bps.parsl.sites.Local
    retries: 0
requestMemory: 3000
uniqProcName: "u_x_c_step1_group001_attempt1"
payload:
  payloadName: c_step1_001
  butlerConfig: /repo
  inCollection: Toy/raw/all
  output: u/x/c/step1/group001
  outputRun: u/x/c/step1/group001/attempt1
  dataQuery: "instrument = 'Toy'"
cluster:
  visits:
    pipetasks: isr,calibrateImage
    requestMemory: 5000
extraQgraphOptions: "-C isr:/x/fail.py --skip-existing-in u/x/other"
"""


def derive(overrides=Overrides(), attempt=2, skip=("u/x/c/step1/group001/attempt1",), tasks=("isr",)):
    return derive_attempt(SUBMITTED, "c_step1_001.yaml", attempt, f"c_step1_001-a{attempt}", list(skip), overrides,
                          list(tasks), ["jiracampaign submission c_step1_001-a2"])


def test_names_of_the_next_attempt_and_the_skip_list():
    out = derive()
    data = yaml.safe_load(out.text)
    assert out.text.startswith("# jiracampaign submission c_step1_001-a2\n")
    assert data["payload"]["outputRun"] == out.output_run == "u/x/c/step1/group001/attempt2"
    assert data["payload"]["output"] == "u/x/c/step1/group001"
    assert data["uniqProcName"] == out.run_name == "u_x_c_step1_group001_attempt2"
    assert data["payload"]["payloadName"] == "c_step1_001-a2"
    # the earlier attempts first, then what the file already skipped; other options kept
    assert data["extraQgraphOptions"] == "-C isr:/x/fail.py --skip-existing-in u/x/c/step1/group001/attempt1,u/x/other"
    third = derive(attempt=3, skip=("u/x/c/step1/group001/attempt2", "u/x/c/step1/group001/attempt1"))
    assert yaml.safe_load(third.text)["payload"]["outputRun"] == "u/x/c/step1/group001/attempt3"


def test_memory_for_the_failed_tasks_and_their_clusters():
    out = derive(Overrides(memory="x2"))
    data = yaml.safe_load(out.text)
    assert data["pipetask"]["isr"]["requestMemory"] == 6000  # the file's 3000, doubled
    assert data["cluster"]["visits"]["requestMemory"] == 10000  # a cluster's own value wins in BPS: doubled too
    assert "calibrateImage" not in data.get("pipetask", {})
    fixed = yaml.safe_load(derive(Overrides(memory="8GB", tasks=("calibrateImage",))).text)
    assert fixed["pipetask"] == {"calibrateImage": {"requestMemory": 8192}}
    with pytest.raises(InputError, match="name the tasks"):
        derive(Overrides(memory="x2"), tasks=())


def test_retries_and_set_and_their_checks():
    data = yaml.safe_load(derive(Overrides(retries=3, sets=("extraQgraphOptions=", "pipetask.isr.requestCpus=2",
                                                            "finalJob.requestMemory=4096", "priority=null"))).text)
    assert data["numberOfRetries"] == 3 and data["site"]["local"]["retries"] == 3  # Parsl retries by its site's key
    assert data["extraQgraphOptions"] == "--skip-existing-in u/x/c/step1/group001/attempt1"
    assert data["pipetask"]["isr"]["requestCpus"] == 2 and data["finalJob"]["requestMemory"] == 4096
    for bad, says in [("requestMemroy=1", "did you mean 'requestMemory'"), ("uniqProcName=x", "set by rescue"),
                      ("pipetask.isr.requestMemroy=1", "did you mean"), ("payload.dataQery=x", "unknown BPS key"),
                      ("noequals", "expected key=value"), ("pipetask=1", "is a section")]:
        with pytest.raises(InputError, match=says):
            derive(Overrides(sets=(bad,)))


def test_failed_only_restricts_the_query_by_the_coarsest_shared_dimension():
    query, dim = failed_query("instrument = 'Toy'", [{"visit": 1003, "detector": 2}, {"visit": 1001, "detector": 1}])
    assert (query, dim) == ("(instrument = 'Toy') AND visit IN (1001, 1003)", "visit")
    with pytest.raises(InputError, match="more than a query can list"):
        failed_query("", [{"visit": i} for i in range(901)])
    out = derive(Overrides(failed_ids=[{"exposure": 7}]))
    assert yaml.safe_load(out.text)["payload"]["dataQuery"] == "(instrument = 'Toy') AND exposure IN (7)"


def test_settings_between_ignore_what_rescue_sets():
    attempt2 = derive(Overrides(memory="x2")).text
    planned = SUBMITTED.replace("requestMemory: 3000", "requestMemory: 4000")
    assert settings_between(SUBMITTED, planned) == ["requestMemory=4000"]
    assert "payload.outputRun" not in " ".join(settings_between(attempt2, SUBMITTED))
