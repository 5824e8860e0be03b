"""Docs that cannot drift: generated reference blocks are current; every command has help and an example."""

from __future__ import annotations

import importlib.util

import click
import pytest

from jiracampaign.cli import cli
from tests.conftest import REPO


def _reference():
    spec = importlib.util.spec_from_file_location("docs_reference", REPO / "docs" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_blocks_are_current():
    assert _reference().stale() == [], "run: .venv/bin/python docs/reference.py --write"


COMMANDS = sorted(cli.list_commands(click.Context(cli)))  # the commands load lazily: ask the group


def test_every_command_is_listed():
    assert {"plan", "create", "submit", "record", "sync", "panda", "init", "login", "config"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name):
    command = cli.get_command(click.Context(cli), name)
    assert command.help and "Example:" in command.help
    assert f"jiracampaign {name}" in (REPO / "docs" / "cli.md").read_text()


def test_readme_starts_with_the_two_commands():
    text = (REPO / "README.md").read_text()
    first_block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()] == ["make demo", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()
