"""Step chaining (`inputs_from`) and per-step overrides that clear or drop campaign keys.

The rendered files are also loaded by the real ctrl_bps (`BpsConfig`, with the defaults `bps submit`
uses) through the stack's own Python 3.12 (.venv-lsst, or env JC_TEST_STACK).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from jiracampaign.cli import cli
from jiracampaign.planning.plan import build_plan
from jiracampaign.planning.spec import load_spec
from tests.conftest import REPO

STACK = Path(os.environ.get("JC_TEST_STACK") or REPO / ".venv-lsst")

HEAD = """\
campaign: t1
operator: jdoe
butler_repo: /repo/main
input_collection: HSC/defaults, HSC/raw/all
pipeline: DRP.yaml
software: w_2026_40
site: SLAC
"""

THREE_STEPS = HEAD + """\
steps:
  - name: step1
    query: "instrument='HSC'"
    split: {rule: ranges, values: [1, 2, 3, 4, 5], size: 2}
  - name: step2
    query: "instrument='HSC' AND skymap='hsc_rings_v1'"
    split: {rule: values, dimension: tract, values: [10, 11], per_group: 1}
    inputs_from: [step1]
  - name: step3
    after: [step2]
    inputs_from: [step1, step2]
"""

STEP1 = ["u/jdoe/t1/step1/group001", "u/jdoe/t1/step1/group002", "u/jdoe/t1/step1/group003"]
STEP2 = ["u/jdoe/t1/step2/group001", "u/jdoe/t1/step2/group002"]
BASE = ["HSC/defaults", "HSC/raw/all"]


def in_collection(plan, step: str) -> list[list[str]]:
    """``payload.inCollection`` of each of the step's rendered files, split at its commas."""
    return [yaml.safe_load(s.yaml_text)["payload"]["inCollection"].split(",") for s in plan.submissions if s.step == step]


def test_a_step_reads_each_group_output_of_earlier_steps_newest_first(write):
    plan = build_plan(load_spec(write("spec.yaml", THREE_STEPS)))
    assert in_collection(plan, "step1") == [BASE] * 3
    assert in_collection(plan, "step2") == [STEP1 + BASE] * 2
    assert in_collection(plan, "step3") == [STEP2 + STEP1 + BASE]  # listed oldest first, searched newest first
    outputs = {s.output for s in plan.submissions}
    assert set(STEP1 + STEP2) <= outputs  # the names chained are the groups' own output collections
    steps = {s.name: s for s in plan.campaign.steps}
    assert steps["step2"].after == ("step1",) and steps["step3"].after == ("step2", "step1")
    assert steps["step3"].inputs_from == ("step1", "step2")


def test_chain_groups_chooses_the_groups_read(write):
    """The plug point for leaving out groups (e.g. rejected ones): only the groups it returns are read."""
    seen = []

    def without_second(step, groups):
        seen.append((step, [g.index for g in groups]))
        return [g for g in groups if g.index != 2]

    spec = load_spec(write("spec.yaml", THREE_STEPS), chain_groups=without_second)
    step3 = spec.campaign.step("step3")
    assert step3.input_collection.split(",") == [STEP2[0], STEP1[0], STEP1[2]] + BASE
    assert ("step2", [1, 2]) in seen and ("step1", [1, 2, 3]) in seen


def test_a_cleared_input_collection_leaves_only_the_outputs(write):
    text = THREE_STEPS.replace("    inputs_from: [step1]\n", "    inputs_from: [step1]\n    input_collection: null\n")
    text = text.replace("    inputs_from: [step1, step2]\n", "    inputs_from: [step1, step2]\n    input_collection: extra/refcats\n")
    plan = build_plan(load_spec(write("spec.yaml", text)))
    assert in_collection(plan, "step2") == [STEP1] * 2
    assert in_collection(plan, "step3") == [STEP2 + STEP1 + ["extra/refcats"]]


OVERRIDES = HEAD + """\
include_configs: [site.yaml, "${CTRL_BPS_PANDA_DIR}/config/bps_usdf.yaml"]
resources: {requestMemory: 4096, numberOfRetries: 3}
bps: {clusterAlgorithm: a.b.c, extraQgraphOptions: "--x", emptyHere: null}
steps:
  - name: keeps
    bps: {}
    resources: {}
  - name: clears
    include_configs: []
    bps: {extraQgraphOptions: null, more: 1}
    resources: {numberOfRetries: null}
  - name: nulls
    include_configs: null
    bps: null
    resources: null
  - name: replaces
    include_configs: [other.yaml]
    site: CC-IN2P3
    template: htcondor
    pipeline: step.yaml
"""


def test_a_step_clears_or_drops_campaign_keys(write):
    spec = write("spec.yaml", OVERRIDES)
    docs = {s.step: yaml.safe_load(s.yaml_text) for s in build_plan(load_spec(spec)).submissions}
    site = str((spec.parent / "site.yaml").resolve())
    keeps, clears, nulls, replaces = (docs[n] for n in ("keeps", "clears", "nulls", "replaces"))
    assert keeps["includeConfigs"] == [site, "${CTRL_BPS_PANDA_DIR}/config/bps_usdf.yaml"]
    assert (keeps["clusterAlgorithm"], keeps["extraQgraphOptions"], keeps["requestMemory"], keeps["numberOfRetries"]) == (
        "a.b.c", "--x", 4096, 3)
    assert "emptyHere" not in keeps  # a null is never written
    assert "includeConfigs" not in clears and "extraQgraphOptions" not in clears and "numberOfRetries" not in clears
    assert (clears["clusterAlgorithm"], clears["more"], clears["requestMemory"]) == ("a.b.c", 1, 4096)
    for key in ("includeConfigs", "clusterAlgorithm", "extraQgraphOptions", "requestMemory", "numberOfRetries"):
        assert key not in nulls, key
    assert replaces["includeConfigs"] == [str((spec.parent / "other.yaml").resolve())]
    assert (replaces["computeSite"], replaces["wmsServiceClass"], replaces["pipelineYaml"]) == (
        "CC-IN2P3", "lsst.ctrl.bps.htcondor.HTCondorService", "step.yaml#replaces")
    assert keeps["pipelineYaml"] == "DRP.yaml#keeps" and keeps["wmsServiceClass"] == "lsst.ctrl.bps.panda.PanDAService"


def test_the_dp02_example_chains_its_steps():
    spec = load_spec(REPO / "examples" / "dp02" / "campaign.yaml")
    root = spec.campaign.output_root
    step2 = spec.campaign.step("step2").input_collection.split(",")
    assert step2 == [f"{root}/step1/group{i:03d}" for i in range(1, 41)] + ["2.2i/defaults/DP0.2"]
    step3 = spec.campaign.step("step3").input_collection.split(",")
    assert step3[:8] == [f"{root}/step2/group{i:03d}" for i in range(1, 9)] and step3[8:] == step2


BAD = [
    ("unknown", "  - name: step2\n    inputs_from: [step0]\n",
     "spec.yaml:11: steps[1].inputs_from[0]: unknown step 'step0' (steps are: step1, step2)"),
    ("itself", "  - name: step2\n    inputs_from: [step1, step2]\n",
     "spec.yaml:11: steps[1].inputs_from[1]: step step2 cannot read its own outputs; name an earlier step"),
    ("twice", "  - name: step2\n    inputs_from: [step1, step1]\n",
     "spec.yaml:11: steps[1].inputs_from[1]: step step1 is listed twice"),
    ("later", "  - name: step2\n  - name: step3\n    inputs_from: [step4]\n  - name: step4\n",
     "spec.yaml:12: steps[2].inputs_from[0]: step step4 comes after step3 in steps; a step can only read the "
     "outputs of a step listed before it"),
    ("cycle", "  - name: step2\n    inputs_from: [step1]\n",
     "spec.yaml:12: steps[1].inputs_from[0]: steps form a cycle: step1 -> step2 -> step1"),
    ("not-a-list", "  - name: step2\n    inputs_from: step1\n",
     "spec.yaml:11: steps[1].inputs_from: expected a list of strings, got 'step1'"),
    ("site", "  - name: step2\n    site: null\n",
     "spec.yaml:11: steps[1].site: cannot be cleared: every submission needs a compute site; leave the key out "
     "to use the campaign's (SLAC)"),
    ("template", "  - name: step2\n    template:\n",
     "spec.yaml:11: steps[1].template: cannot be cleared: every submission needs a template; leave the key out "
     "to use the campaign's (panda)"),
    ("pipeline", "  - name: step2\n    pipeline: ~\n",
     "spec.yaml:11: steps[1].pipeline: cannot be cleared: every submission needs a pipeline; leave the key out "
     "to use the campaign's (DRP.yaml)"),
    ("input-cleared", "  - name: step2\n    input_collection: null\n",
     "spec.yaml:11: steps[1].input_collection: cannot be cleared without inputs_from: the step would read no "
     "collection"),
    ("input-empty", "  - name: step2\n    input_collection: ' , '\n",
     "spec.yaml:11: steps[1].input_collection: expected at least one collection name (comma-separated), got none"),
    ("resource-typo", "  - name: step2\n    resources: {requestMemmory: null}\n",
     "spec.yaml:11: steps[1].resources.requestMemmory: unknown key; did you mean 'requestMemory'?"),
]


@pytest.mark.parametrize("name, tail, message", BAD, ids=[b[0] for b in BAD])
def test_bad_chaining_or_override_is_one_clear_error_and_nothing_written(runner, write, name, tail, message):
    first = "  - name: step1\n" + ("    after: [step2]\n" if name == "cycle" else "")
    spec = write("spec.yaml", HEAD + "steps:\n" + first + tail)
    result = runner.invoke(cli, ["plan", str(spec)])
    assert result.exit_code == 3
    assert result.stderr == f"Error: {spec}{message.removeprefix('spec.yaml')}\n"
    assert result.stdout == "" and not Path("campaigns").exists()


LOAD_IN_BPS = """
import json, sys
from lsst.ctrl.bps import BPS_DEFAULTS, BPS_SEARCH_ORDER, BpsConfig
out = {}
for name in sys.argv[1:]:
    config = BpsConfig(name, search_order=BPS_SEARCH_ORDER, defaults=BPS_DEFAULTS)
    values = {key: config.search(key, opt={"replaceVars": True, "default": None})[1]
              for key in ("inCollection", "pipetaskInput", "siteMarker", "extraQgraphOptions", "numberOfRetries",
                          "requestMemory", "output", "outputRun", "wmsServiceClass")}
    out[name] = values
print(json.dumps(out))
"""

CHAINED = HEAD + """\
template: htcondor
include_configs: [site/bps_site.yaml]
resources: {requestMemory: 4096, numberOfRetries: 3}
bps: {extraQgraphOptions: "--skip-existing-in x"}
steps:
  - name: step1
    query: "instrument='HSC'"
    split: {rule: ranges, values: [1, 2, 3], size: 2}
  - name: step2
    inputs_from: [step1]
    include_configs: []
    bps: {extraQgraphOptions: null}
    resources: {numberOfRetries: null}
"""


def test_the_rendered_chain_loads_in_the_real_ctrl_bps(runner, write, tmp_path):
    python = STACK / "bin" / "python"
    if not (STACK / "bin" / "bps").exists():
        pytest.skip(f"no Rubin stack in {STACK}: run 'make stack'")
    write("site/bps_site.yaml", "siteMarker: from-the-site-file\nrequestMemory: 1024\n")
    spec = write("spec.yaml", CHAINED)
    result = runner.invoke(cli, ["plan", str(spec), "-o", "out"])
    assert result.exit_code == 0, result.output
    files = sorted(str(p.resolve()) for p in Path("out").rglob("*.yaml"))
    assert [Path(f).name for f in files] == ["t1_step1_001.yaml", "t1_step1_002.yaml", "t1_step2_001.yaml"]
    elsewhere = tmp_path / "elsewhere"  # bps runs in the attempt's working folder, not beside the spec
    elsewhere.mkdir()
    done = subprocess.run([str(python), "-c", LOAD_IN_BPS, *files], cwd=elsewhere, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout)
    one, two, chained = (loaded[f] for f in files)
    assert "includeConfigs" in Path(files[0]).read_text() and "includeConfigs" not in Path(files[2]).read_text()
    for step1 in (one, two):
        assert step1["inCollection"] == "HSC/defaults,HSC/raw/all"
        assert step1["pipetaskInput"] == "-i HSC/defaults,HSC/raw/all"  # one argument, no space after the comma
        assert step1["siteMarker"] == "from-the-site-file"  # the include was found from another folder
        assert (step1["extraQgraphOptions"], step1["numberOfRetries"], step1["requestMemory"]) == (
            "--skip-existing-in x", 3, 4096)  # the submit file wins over its include
    assert chained["inCollection"] == "u/jdoe/t1/step1/group001,u/jdoe/t1/step1/group002,HSC/defaults,HSC/raw/all"
    assert chained["inCollection"].split(",")[:2] == [one["output"], two["output"]]
    assert chained["pipetaskInput"] == "-i " + chained["inCollection"]
    assert chained["siteMarker"] is None  # includeConfigs cleared: the site file is not read
    assert chained["extraQgraphOptions"] is None  # dropped, and BPS has no default for it
    assert chained["numberOfRetries"] == 5  # dropped: BPS's own default applies
    assert chained["requestMemory"] == 4096
    assert chained["wmsServiceClass"] == "lsst.ctrl.bps.htcondor.HTCondorService"
    assert chained["outputRun"] == "u/jdoe/t1/step2/group001/attempt1"
