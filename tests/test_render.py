"""Rendering: the built-in templates produce valid, complete BPS submit YAML with the header first."""

from __future__ import annotations

import pytest
import yaml

from jiracampaign.planning.plan import build_plan
from jiracampaign.planning.render import Renderer, stamp, template_dir
from jiracampaign.planning.spec import load_spec

SPEC = """
campaign: dp02-w38
description: test
operator: huanlin
project: DP0.2
butler_repo: s3://bucket/dc2/butler.yaml
input_collection: 2.2i/defaults/DP0.2
pipeline: $OBS_LSST_DIR/pipelines/imsim/DRP.yaml
software: w_2021_38
site: SLAC
template: {template}
include_configs: ["${{CTRL_BPS_PANDA_DIR}}/config/bps_usdf.yaml"]
resources: {{requestMemory: 4096, numberOfRetries: 3}}
bps: {{clusterAlgorithm: lsst.ctrl.bps.quantum_clustering_funcs.dimension_clustering}}
steps:
  - name: step1
    query: "instrument='LSSTCam-imSim' AND skymap='DC2'"
    split: {{rule: ranges, values: [10, 11, 12], size: 2}}
    resources: {{requestMemory: 8192}}
"""

PANDA_FIRST = '''\
# jiracampaign submission dp02-w38_step1_001
# campaign dp02-w38, step step1, group 1/2 (visit 10..11)
includeConfigs:
  - "${CTRL_BPS_PANDA_DIR}/config/bps_usdf.yaml"
wmsServiceClass: lsst.ctrl.bps.panda.PanDAService
computeSite: "SLAC"
computeCloud: "US"
project: "DP0.2"
campaign: "dp02-w38"
operator: "huanlin"
LSST_VERSION: "w_2021_38"
pipelineYaml: "$OBS_LSST_DIR/pipelines/imsim/DRP.yaml#step1"
uniqProcName: "u_huanlin_dp02-w38_step1_group001_attempt1"
payload:
  payloadName: "dp02-w38_step1_001"
  butlerConfig: "s3://bucket/dc2/butler.yaml"
  inCollection: "2.2i/defaults/DP0.2"
  output: "u/huanlin/dp02-w38/step1/group001"
  outputRun: "u/huanlin/dp02-w38/step1/group001/attempt1"
  dataQuery: "(instrument='LSSTCam-imSim' AND skymap='DC2') AND (visit >= 10 AND visit < 12)"
numberOfRetries: 3
requestMemory: 8192
clusterAlgorithm: lsst.ctrl.bps.quantum_clustering_funcs.dimension_clustering
'''


def plan_for(write, template="panda", extra=""):
    spec = write("spec.yaml", SPEC.format(template=template) + extra)
    return build_plan(load_spec(spec))


def test_panda_template_exact_text(write):
    plan = plan_for(write)
    assert plan.submissions[0].yaml_text == PANDA_FIRST


@pytest.mark.parametrize("template, wms", [("panda", "lsst.ctrl.bps.panda.PanDAService"),
                                           ("htcondor", "lsst.ctrl.bps.htcondor.HTCondorService")])
def test_builtin_templates_render_valid_complete_yaml(write, template, wms):
    plan = plan_for(write, template)
    for sub in plan.submissions:
        assert sub.yaml_text.startswith(f"# jiracampaign submission {sub.id}\n# campaign dp02-w38, step step1, group ")
        doc = yaml.safe_load(sub.yaml_text)
        assert doc["wmsServiceClass"] == wms
        assert doc["computeSite"] == "SLAC"
        assert doc["pipelineYaml"] == "$OBS_LSST_DIR/pipelines/imsim/DRP.yaml#step1"
        assert doc["payload"] == {
            "payloadName": sub.id,
            "butlerConfig": "s3://bucket/dc2/butler.yaml",
            "inCollection": "2.2i/defaults/DP0.2",
            "output": sub.output,
            "outputRun": sub.output_run,
            "dataQuery": sub.data_query,
        }
        assert doc["uniqProcName"] == sub.run_name == sub.output_run.replace("/", "_")
        assert (doc["requestMemory"], doc["numberOfRetries"]) == (8192, 3)
        assert doc["operator"] == "huanlin" and doc["campaign"] == "dp02-w38" and doc["LSST_VERSION"] == "w_2021_38"
        assert ("computeCloud" in doc) == (template == "panda")


def test_untrusted_looking_values_round_trip_exactly(write):
    query = "band = 'g' AND note = 'a: b # c\\\\d \"q\"' AND x = 1"
    text = SPEC.format(template="htcondor").replace(
        "query: \"instrument='LSSTCam-imSim' AND skymap='DC2'\"", "query: " + yaml.safe_dump(query, default_style='"').strip()
    ).replace("operator: huanlin", "operator: \"o'neil: {x}\"")
    plan = build_plan(load_spec(write("spec.yaml", text)))
    doc = yaml.safe_load(plan.submissions[0].yaml_text)
    assert doc["payload"]["dataQuery"] == f"({query}) AND (visit >= 10 AND visit < 12)"
    assert doc["operator"] == "o'neil: {x}"


def test_ticket_goes_in_the_header(write):
    plan = plan_for(write)
    spec = load_spec(write("spec.yaml", SPEC.format(template="panda")))
    sub = plan.submissions[1]
    rendered = Renderer().render(spec.campaign, spec.campaign.steps[0], sub)
    assert stamp(rendered, None) == rendered and "# ticket" not in rendered
    text = stamp(rendered, "PREOPS-1234")
    assert text.splitlines()[3:] == rendered.splitlines()[2:]
    assert text.splitlines()[:3] == [
        "# jiracampaign submission dp02-w38_step1_002",
        "# campaign dp02-w38, step step1, group 2/2 (visit 12..12)",
        "# ticket PREOPS-1234",
    ]


def test_custom_template_can_extend_the_base(write):
    write("site.yaml.j2", "{% extends 'base.yaml.j2' %}\n{% block wms %}\nwmsServiceClass: my.Service\n"
                          "site_note: {{ step.site | q }}\n{% endblock %}\n")
    plan = plan_for(write, "site.yaml.j2")
    doc = yaml.safe_load(plan.submissions[0].yaml_text)
    assert doc["wmsServiceClass"] == "my.Service" and doc["site_note"] == "SLAC"
    assert doc["payload"]["payloadName"] == "dp02-w38_step1_001"


def test_templates_ship_with_the_package():
    names = sorted(p.name for p in template_dir().iterdir())
    assert names == ["base.yaml.j2", "htcondor.yaml.j2", "panda.yaml.j2"]
