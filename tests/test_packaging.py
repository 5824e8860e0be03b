"""An installed wheel carries the templates and defaults: `plan` works outside the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import MINIMAL_SPEC, REPO


def test_wheel_ships_templates_and_plans_outside_the_repo(tmp_path, write):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)],
        check=True, capture_output=True,
    )
    (wheel,) = wheels.glob("jiracampaign-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("jiracampaign/templates/panda.yaml.j2", "jiracampaign/templates/htcondor.yaml.j2",
                 "jiracampaign/templates/base.yaml.j2", "jiracampaign/etc/defaults.yaml"):
        assert name in names
    # every module of the source tree is in the wheel (an editable install would otherwise hide a gap)
    modules = {str(p.relative_to(REPO)) for p in (REPO / "jiracampaign").rglob("*.py")}
    assert modules <= set(names), sorted(modules - set(names))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    spec = write("spec.yaml", MINIMAL_SPEC)
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run([sys.executable, "-c", "import jiracampaign; print(jiracampaign.__file__)"],
                           env=env, capture_output=True, text=True, cwd=tmp_path, check=True)
    assert probe.stdout.startswith(str(site))
    done = subprocess.run([sys.executable, "-m", "jiracampaign", "plan", str(spec), "-o", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "step1" / "t1_step1_001.yaml").read_text().startswith("# jiracampaign submission t1_step1_001\n")
    assert Path(tmp_path / "out" / "manifest.json").exists()
