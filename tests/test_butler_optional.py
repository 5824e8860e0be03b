"""Without the butler extra the core stays light, and the butler options say how to enable them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO

BLOCK_LSST = textwrap.dedent("""
    import sys
    class NoLsst:
        def find_spec(self, name, path=None, target=None):
            if name == "lsst" or name.startswith("lsst."):
                raise ModuleNotFoundError(f"No module named {name!r}")
    sys.meta_path.insert(0, NoLsst())
""")


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_help_and_the_package_import_no_lsst():
    done = run_python(textwrap.dedent("""
        import sys
        from click.testing import CliRunner
        from jiracampaign.cli import cli
        import jiracampaign.sources.butler
        result = CliRunner().invoke(cli, ["--help"])
        assert result.exit_code == 0, result.output
        print(sorted(m for m in sys.modules if m == "lsst" or m.startswith("lsst.")))
    """))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_the_extra_butler_use_names_the_extra():
    done = run_python(BLOCK_LSST + textwrap.dedent("""
        from jiracampaign.errors import JiraCampaignError
        from jiracampaign.sources.butler import available
        from jiracampaign.sources.butler.checks import check_where
        from jiracampaign.sources.butler.inputs import ButlerInputs
        print(available())
        for call in (lambda: ButlerInputs("/repo", ["raw"], "LSSTCam"), lambda: check_where("visit = 3")):
            try:
                call()
            except JiraCampaignError as exc:
                print(int(exc.exit_status), exc)
    """))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "False"
    assert lines[1].startswith("1 reading inputs from a butler needs lsst-daf-butler, which is not installed")
    assert lines[2].startswith("1 checking a butler query needs lsst-daf-butler")
    assert all(line.endswith("install the butler extra: pip install 'jiracampaign[butler]'") for line in lines[1:])
