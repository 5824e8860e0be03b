"""The spec model: defaults, per-step overrides and merges, and line tracking."""

from __future__ import annotations

import pytest

from jiracampaign.errors import SpecError
from jiracampaign.planning.spec import load_spec
from jiracampaign.yamlsrc import load_located
from tests.conftest import MINIMAL_SPEC, REPO


def test_defaults(write):
    campaign = load_spec(write("spec.yaml", MINIMAL_SPEC)).campaign
    assert campaign.output_root == "u/jdoe/t1"
    step = campaign.steps[0]
    assert step.pipeline_yaml == "$DRP_PIPE_DIR/pipelines/HSC/DRP-RC2.yaml#step1"
    assert (step.template, step.site, step.input_collection, step.after) == ("panda", "SLAC", "HSC/defaults", ())
    assert len(campaign.spec_sha256) == 64


def test_step_overrides_and_merges(write):
    text = MINIMAL_SPEC.replace("steps:\n", "resources: {requestMemory: 2048, numberOfRetries: 3}\nbps: {a: 1, b: 2}\nsteps:\n")
    text += """
  - name: step2
    subset: step2a
    pipeline: other.yaml
    after: [step1]
    site: CC-IN2P3
    template: custom.yaml.j2
    input_collection: other/input
    resources: {requestMemory: 8192}
    bps: {b: 3}
    include_configs: [site.yaml]
"""
    spec = write("spec.yaml", text)
    campaign = load_spec(spec).campaign
    one, two = campaign.steps
    assert one.resources == {"requestMemory": 2048, "numberOfRetries": 3} and one.bps == {"a": 1, "b": 2}
    assert two.resources == {"requestMemory": 8192, "numberOfRetries": 3}
    assert two.bps == {"a": 1, "b": 3}
    assert two.pipeline_yaml == "other.yaml#step2a"
    assert (two.site, two.input_collection, two.after) == ("CC-IN2P3", "other/input", ("step1",))
    assert two.include_configs == (str((spec.parent / "site.yaml").resolve()),)  # bps reads it from elsewhere
    assert two.template == str(spec.parent / "custom.yaml.j2")


def test_subset_with_hash_is_rejected(write):
    spec = write("spec.yaml", MINIMAL_SPEC.replace("  - name: step1\n", "  - name: step1\n    subset: DRP.yaml#step1\n"))
    with pytest.raises(SpecError, match=r"spec.yaml:10: steps\[0\].subset: expected a subset label without '#'"):
        load_spec(spec)


def test_examples_load():
    dp02 = load_spec(REPO / "examples" / "dp02" / "campaign.yaml")
    assert [len(dp02.groups[s]) for s in ("step1", "step2", "step3")] == [40, 8, 8]
    assert sum(g.inputs for g in dp02.groups["step1"]) == 40_000
    assert max(g.inputs for g in dp02.groups["step1"]) == 1000
    demo = load_spec(REPO / "examples" / "demo" / "campaign.yaml")
    assert [s.name for s in demo.campaign.steps] == ["step1", "step2"]


def test_located_lines_and_duplicate_keys():
    src = load_located("x.yaml", SpecError, text="a: 1\nb:\n  - c: 2\n    d: 3\n")
    assert src.line(("b", 0, "d")) == 4
    assert src.line(("b", 0, "missing")) == 3
    with pytest.raises(SpecError, match=r"x.yaml:3: a: duplicate key \(first defined on line 1\)"):
        load_located("x.yaml", SpecError, text="a: 1\nb: 2\na: 3\n")
