"""`jiracampaign plan`: exact output, determinism, and one clear error per bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from jiracampaign.cli import cli
from tests.conftest import MINIMAL_SPEC, REPO

HEAD = """\
campaign: t1
operator: jdoe
butler_repo: /repo/main
input_collection: HSC/defaults
pipeline: DRP.yaml
software: w_2026_40
site: SLAC
"""


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_plan_prints_table_and_writes_folder(runner, write):
    spec = write("spec.yaml", MINIMAL_SPEC)
    result = runner.invoke(cli, ["plan", str(spec)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "STEP   GROUP  INPUTS  DATA QUERY                                         FILE\n"
        "step1  1/3    2       (instrument='HSC') AND (visit >= 1 AND visit < 3)  step1/t1_step1_001.yaml\n"
        "step1  2/3    2       (instrument='HSC') AND (visit >= 3 AND visit < 5)  step1/t1_step1_002.yaml\n"
        "step1  3/3    1       (instrument='HSC') AND (visit >= 5 AND visit < 6)  step1/t1_step1_003.yaml\n"
    )
    assert result.stderr == "Planned 3 submissions of campaign t1 in campaigns/t1/\n"
    folder = Path("campaigns/t1")
    assert sorted(tree_digest(folder)) == [
        "manifest.json", "step1/t1_step1_001.yaml", "step1/t1_step1_002.yaml", "step1/t1_step1_003.yaml",
    ]
    manifest = json.loads((folder / "manifest.json").read_text())
    first = manifest["submissions"][0]
    assert first == {
        "id": "t1_step1_001", "step": "step1", "group": 1, "groups": 3, "label": "visit 1..2",
        "data_query": "(instrument='HSC') AND (visit >= 1 AND visit < 3)", "inputs": 2,
        "run_name": "u_jdoe_t1_step1_group001_attempt1", "output_run": "u/jdoe/t1/step1/group001/attempt1",
        "output": "u/jdoe/t1/step1/group001",
        "file": "step1/t1_step1_001.yaml",
        "sha256": hashlib.sha256((folder / "step1/t1_step1_001.yaml").read_bytes()).hexdigest(),
    }
    rendered = yaml.safe_load((folder / "step1/t1_step1_001.yaml").read_text())
    assert rendered["payload"]["dataQuery"] == first["data_query"]


def test_plan_json_output_has_every_field(runner, write):
    spec = write("spec.yaml", MINIMAL_SPEC)
    result = runner.invoke(cli, ["plan", str(spec), "--json", "-o", "out"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ["t1_step1_001", "t1_step1_002", "t1_step1_003"]
    assert set(rows[0]) == {"id", "step", "group", "inputs", "data_query", "file", "run_name", "sha256"}


def test_plan_twice_gives_identical_files(runner):
    spec = REPO / "examples" / "dp02" / "campaign.yaml"
    assert runner.invoke(cli, ["plan", str(spec), "-o", "a"]).exit_code == 0
    assert runner.invoke(cli, ["plan", str(spec), "-o", "b"]).exit_code == 0
    first, second = tree_digest(Path("a")), tree_digest(Path("b"))
    assert first == second
    assert len(first) == 40 + 8 + 8 + 1
    again = runner.invoke(cli, ["plan", str(spec), "-o", "a"])
    assert again.exit_code == 0 and tree_digest(Path("a")) == first


def test_plan_refuses_to_overwrite_hand_edits(runner, write):
    spec = write("spec.yaml", MINIMAL_SPEC)
    assert runner.invoke(cli, ["plan", str(spec)]).exit_code == 0
    edited = Path("campaigns/t1/step1/t1_step1_002.yaml")
    edited.write_text(edited.read_text() + "requestMemory: 9000\n")
    result = runner.invoke(cli, ["plan", str(spec)])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: 1 file(s) in campaigns/t1 were edited since they were planned (step1/t1_step1_002.yaml); "
        "planning again would overwrite them: submit them as they are, or re-run with --force\n"
    )
    assert edited.read_text().endswith("requestMemory: 9000\n")
    forced = runner.invoke(cli, ["plan", str(spec), "--force"])
    assert forced.exit_code == 0
    assert "9000" not in edited.read_text()


def test_plan_refuses_a_folder_that_is_not_a_campaign(runner, write):
    spec = write("spec.yaml", MINIMAL_SPEC)
    Path("busy").mkdir()
    Path("busy/notes.txt").write_text("mine")
    result = runner.invoke(cli, ["plan", str(spec), "-o", "busy"])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: busy is not empty and is not a jiracampaign campaign folder (no manifest.json); choose another --output-dir\n"
    )
    assert sorted(p.name for p in Path("busy").iterdir()) == ["notes.txt"]


def test_plan_replaces_groups_that_disappeared(runner, write):
    spec = write("spec.yaml", MINIMAL_SPEC)
    assert runner.invoke(cli, ["plan", str(spec)]).exit_code == 0
    write("spec.yaml", MINIMAL_SPEC.replace("size: 2", "size: 5"))
    assert runner.invoke(cli, ["plan", str(spec)]).exit_code == 0
    assert sorted(tree_digest(Path("campaigns/t1"))) == ["manifest.json", "step1/t1_step1_001.yaml"]
    assert [p.name for p in Path("campaigns").iterdir()] == ["t1"]


BAD = [
    ("size0", "steps:\n  - name: step1\n    split: {rule: ranges, values: [1, 2], size: 0}\n",
     "spec.yaml:10: steps[0].split.size: expected a positive integer, got 0"),
    ("unknown-key", "steps:\n  - name: step1\n    color: red\n",
     "spec.yaml:10: steps[0].color: unknown key; expected one of: name, subset, pipeline, after, inputs_from, query, split, "
     "audit, site, template, input_collection, resources, bps, include_configs"),
    ("typo-key", "steps:\n  - name: step1\n    querry: \"a\"\n",
     "spec.yaml:10: steps[0].querry: unknown key; did you mean 'query'?"),
    ("close-key", "steps:\n  - name: step1\n    Input_Collection: x\n",
     "spec.yaml:10: steps[0].Input_Collection: unknown key; did you mean 'input_collection'?"),
    ("missing-key", None, "spec.yaml:1: missing required key 'operator' (a string)"),
    ("overlap", "steps:\n  - name: step1\n    split:\n      rule: values\n      dimension: tract\n      groups:\n"
     "        - [1, 2]\n        - [2, 3]\n",
     "spec.yaml:15: steps[0].split.groups[1][0]: value 2 appears twice (first on line 14); groups would overlap"),
    ("empty-group", "steps:\n  - name: step1\n    split:\n      rule: values\n      dimension: tract\n      groups:\n"
     "        - [1, 2]\n        - []\n",
     "spec.yaml:15: steps[0].split.groups[1]: empty group: every group needs at least one value"),
    ("empty-values", "steps:\n  - name: step1\n    split: {rule: ranges, values: [], size: 3}\n",
     "spec.yaml:10: steps[0].split.values: empty: a split needs at least one input"),
    ("after-unknown", "steps:\n  - name: step1\n    after: [step0]\n",
     "spec.yaml:10: steps[0].after[0]: unknown step 'step0' (steps are: step1)"),
    ("cycle", "steps:\n  - name: step1\n    after: [step2]\n  - name: step2\n    after: [step1]\n",
     "spec.yaml:12: steps[1].after[0]: steps form a cycle: step1 -> step2 -> step1"),
    ("self-cycle", "steps:\n  - name: step1\n    after: [step1]\n",
     "spec.yaml:10: steps[0].after[0]: steps form a cycle: step1 -> step1"),
    ("malformed", "steps:\n  - name: step1\n    split: {rule: ranges\n",
     "spec.yaml:11: not valid YAML: expected ',' or '}', but got '<stream end>'"),
    ("duplicate-key", "site: X\nsteps:\n  - name: step1\n", "spec.yaml:8: site: duplicate key (first defined on line 7)"),
    ("bad-query", "steps:\n  - name: step1\n    query: \"(a = 1\"\n",
     "spec.yaml:10: steps[0].query: unbalanced parentheses: 1 '(' never closed"),
    ("bad-slug", "steps:\n  - name: Step_1\n",
     "spec.yaml:9: steps[0].name: expected a slug (lower-case letters, digits and '-', starting with a letter or "
     "digit, at most 40 characters), got 'Step_1'"),
    ("duplicate-step", "steps:\n  - name: step1\n  - name: step1\n", "spec.yaml:10: steps[1].name: duplicate step name 'step1'"),
    ("unknown-rule", "steps:\n  - name: step1\n    split: {rule: chunks}\n",
     "spec.yaml:10: steps[0].split.rule: expected one of 'none', 'values', 'ranges', 'dates', 'tracts', got 'chunks'"),
    ("no-steps", "steps: []\n", "spec.yaml:8: steps: empty: a campaign needs at least one step"),
    ("resource-type", "resources: {requestMemory: lots}\nsteps:\n  - name: step1\n",
     "spec.yaml:8: resources.requestMemory: expected a positive integer, got 'lots'"),
    ("dates-reversed", "steps:\n  - name: step1\n    split: {rule: dates, start: 2024-03-01, end: 2024-02-01, days: 1}\n",
     "spec.yaml:10: steps[0].split.end: end 2024-02-01 is before start 2024-03-01"),
    ("two-sources", "steps:\n  - name: step1\n    split: {rule: ranges, values: [1], file: ids.txt, size: 1}\n",
     "spec.yaml:10: steps[0].split: the ranges rule needs exactly one source of ids: 'values' or 'file'"),
    ("not-a-mapping", "- just\n- a list\n", None),
]


@pytest.mark.parametrize("name, tail, message", BAD, ids=[b[0] for b in BAD])
def test_plan_bad_spec_one_clear_error_and_nothing_written(runner, write, name, tail, message):
    if name == "missing-key":
        text = HEAD.replace("operator: jdoe\n", "") + "steps:\n  - name: step1\n"
    elif name == "not-a-mapping":
        text, message = tail, "spec.yaml:1: expected a mapping of campaign keys at the top level"
    else:
        text = HEAD + tail
    spec = write("spec.yaml", text)
    result = runner.invoke(cli, ["plan", str(spec)])
    assert result.stderr == f"Error: {spec}{message.removeprefix('spec.yaml')}\n"
    assert result.stdout == ""
    assert result.exit_code == 3
    assert not Path("campaigns").exists()
    assert sorted(p.name for p in spec.parent.iterdir()) == ["spec.yaml"]


def test_plan_bad_id_file_names_its_line(runner, write):
    write("ids.txt", "# visits\n1\n2\nx3\n")
    spec = write("spec.yaml", HEAD + "steps:\n  - name: step1\n    split: {rule: ranges, file: ids.txt, size: 2}\n")
    result = runner.invoke(cli, ["plan", str(spec)])
    assert (result.exit_code, result.stderr) == (3, f"Error: {spec.parent / 'ids.txt'}:4: expected a visit id written with the digits 0-9 only, got 'x3'\n")
    write("ids.txt", "1\n2\n1\n")
    result = runner.invoke(cli, ["plan", str(spec)])
    assert result.stderr == f"Error: {spec.parent / 'ids.txt'}:3: visit 1 is listed twice (first on line 1); groups would overlap\n"
    spec = write("spec.yaml", HEAD + "steps:\n  - name: step1\n    split: {rule: ranges, file: none.txt, size: 2}\n")
    result = runner.invoke(cli, ["plan", str(spec)])
    assert result.stderr == f"Error: {spec}:10: steps[0].split.file: id file {spec.parent / 'none.txt'} not found\n"
    assert not Path("campaigns").exists()


def test_plan_template_undefined_variable_names_template_line(runner, write):
    write("mine.yaml.j2", "project: x\nfoo: {{ campaign.nope }}\n")
    spec = write("spec.yaml", HEAD + "template: mine.yaml.j2\nsteps:\n  - name: step1\n")
    result = runner.invoke(cli, ["plan", str(spec)])
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: {spec.parent / 'mine.yaml.j2'}:2: undefined variable: 'campaign.nope' is undefined "
        "(the variables a template can use are listed in docs/templates.md)\n"
    )
    assert not Path("campaigns").exists()


def test_plan_template_rendering_invalid_yaml_is_reported(runner, write):
    write("dup.yaml.j2", "{% extends 'base.yaml.j2' %}{% block wms %}project: again\n{% endblock %}")
    spec = write("spec.yaml", HEAD + "template: dup.yaml.j2\nsteps:\n  - name: step1\n")
    result = runner.invoke(cli, ["plan", str(spec)])
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: {spec.parent / 'dup.yaml.j2'}: the YAML rendered for t1_step1_001 is invalid at line 4: "
        "project: duplicate key (first defined on line 3)\n"
    )


def test_plan_missing_spec_file(runner):
    result = runner.invoke(cli, ["plan", "nowhere.yaml"])
    assert (result.exit_code, result.stderr) == (3, "Error: nowhere.yaml: file not found\n")
