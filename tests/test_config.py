"""Configuration: precedence (command line > environment > file > defaults), sources, and strictness."""

from __future__ import annotations

import json
import stat

import pytest
import yaml

from jiracampaign.cli import cli
from jiracampaign.config import CONFIG_KEYS, env_var, leaf_keys, load_config
from jiracampaign.errors import ConfigError
from tests.conftest import REPO


def settings(runner, *args, env=None):
    result = runner.invoke(cli, [*args, "config", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return {row["setting"]: (row["value"], row["source"]) for row in json.loads(result.stdout)}


def test_defaults_without_any_file(runner):
    got = settings(runner)
    assert got["tracker"] == ("local", "default")
    assert got["jira.token_env"] == ("JIRACAMPAIGN_JIRA_TOKEN", "default")
    assert got["panda.requests_per_hour"] == (500, "default")
    assert set(got) == {name for name, _ in leaf_keys()}


def test_precedence_cli_over_env_over_file_over_default(runner, tmp_config):
    tmp_config.parent.mkdir(parents=True)
    tmp_config.write_text("tracker: jira\njira:\n  server: https://file.example\n  project: FILE\npanda:\n  timeout: 11\n")
    env = {"JIRACAMPAIGN_JIRA_PROJECT": "ENV", "JIRACAMPAIGN_PANDA_TIMEOUT": "22"}
    got = settings(runner, "--tracker", "local", "--set", "panda.timeout=33", env=env)
    assert got["tracker"] == ("local", "command line")
    assert got["jira.server"] == ("https://file.example", f"{tmp_config}:3")
    assert got["jira.project"] == ("ENV", "environment JIRACAMPAIGN_JIRA_PROJECT")
    assert got["panda.timeout"] == (33, "command line")
    assert got["panda.monitor_url"] == ("", "default")


def test_config_file_choice_option_then_env_then_xdg(runner, write, tmp_config):
    a = write("a.yaml", "jira:\n  project: A\n")
    b = write("b.yaml", "jira:\n  project: B\n")
    tmp_config.parent.mkdir(parents=True)
    tmp_config.write_text("jira:\n  project: XDG\n")
    assert settings(runner)["jira.project"][0] == "XDG"
    assert settings(runner, env={"JIRACAMPAIGN_CONFIG": str(b)})["jira.project"][0] == "B"
    assert settings(runner, "--config", str(a), env={"JIRACAMPAIGN_CONFIG": str(b)})["jira.project"][0] == "A"


def test_config_table_output(runner, write):
    cfg = write("c.yaml", "tracker: jira\n")
    result = runner.invoke(cli, ["--config", str(cfg), "config"])
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SETTING", "VALUE", "SOURCE"]
    assert lines[1].split() == ["tracker", "jira", f"{cfg}:1"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("trackr: jira\n", ":1: trackr: unknown setting; did you mean 'tracker'?"),
        ("tracker: both\n", ":1: tracker: expected one of 'local', 'jira', or a dotted module.Class path, got 'both'"),
        ("jira:\n  timeout: 0\n", ":2: jira.timeout: expected a positive integer, got 0"),
        ("jira: [1]\n", ":1: jira: expected a mapping, got a list"),
        ("jira:\n  token: s3cr3t-value\n",
         ":2: jira.token: secrets never go in the config file: put the token in the environment variable named by "
         "jira.token_env, or run 'jiracampaign login' to keep it in the OS keyring"),
        ("jira:\n  api_password: s3cr3t-value\n", ":2: jira.api_password: secrets never go in the config file"),
    ],
)
def test_bad_config_file_names_file_line_and_setting(runner, write, text, message):
    cfg = write("bad.yaml", text)
    result = runner.invoke(cli, ["--config", str(cfg), "config"])
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: {cfg}{message}")
    assert "s3cr3t-value" not in result.output


def test_named_config_file_must_exist(runner):
    result = runner.invoke(cli, ["--config", "nope.yaml", "config"])
    assert (result.exit_code, result.stderr) == (3, "Error: nope.yaml: file not found\n")


def test_bad_environment_and_command_line_values(runner):
    result = runner.invoke(cli, ["config"], env={"JIRACAMPAIGN_PANDA_TIMEOUT": "soon"})
    assert (result.exit_code, result.stderr) == (
        3, "Error: environment: JIRACAMPAIGN_PANDA_TIMEOUT: expected a positive integer, got 'soon'\n")
    result = runner.invoke(cli, ["--set", "jira.flavor=cloud", "config"])
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: command line: jira.flavor: unknown setting; expected one of: tracker, ")
    result = runner.invoke(cli, ["--set", "jira.flavour", "config"])
    assert result.exit_code == 2 and "expected SECTION.KEY=VALUE, got 'jira.flavour'" in result.stderr


def test_env_var_names():
    assert env_var("jira.server") == "JIRACAMPAIGN_JIRA_SERVER"
    assert env_var("tracker") == "JIRACAMPAIGN_TRACKER"


def test_example_config_is_valid_and_sets_every_key():
    config = load_config(REPO / "config.example.yaml", env={})
    assert {name for name, source in config.sources.items() if source != "default"} == {n for n, _ in leaf_keys()}


def test_load_config_rejects_unknown_override_even_from_python():
    with pytest.raises(ConfigError):
        load_config(env={}, overrides={"nope": "1"})


def test_every_section_has_help():
    assert all(key.help for _, key in leaf_keys()) and all(k.help for k in CONFIG_KEYS)


@pytest.mark.parametrize("args, setting, what", [
    (["--tracker", "nosuch.Tracker"], "tracker", "tracker 'nosuch.Tracker': expected one of local, jira"),
    (["--set", "sync.sources=panda,nosuch.Source"], "sync.sources", "status source 'nosuch.Source': expected one of panda, bps"),
])
def test_plugin_that_cannot_be_loaded_names_its_setting(runner, args, setting, what):
    result = runner.invoke(cli, [*args, "config"])
    assert result.exit_code == 3
    assert result.stderr == f"Error: config: {setting}: cannot load {what}, or a dotted module.Class path\n"


def test_misspelt_environment_variable_is_warned_with_a_did_you_mean(runner):
    env = {"JIRACAMPAIGN_PANDA_MONITORURL": "https://bigmon.example", "JIRACAMPAIGN_TRAKER": "jira",
           "JIRACAMPAIGN_JIRA_TOKN": "s3cr3t-value", "JIRACAMPAIGN_SOMETHING_ELSE": "1",
           "JIRACAMPAIGN_JIRA_TOKEN": "tok", "JIRACAMPAIGN_JIRA_PROJECT": "CAMP"}
    result = runner.invoke(cli, ["config", "--json"], env=env)
    assert result.exit_code == 0
    ignored = "is not a jiracampaign setting and is ignored"
    assert result.stderr.splitlines() == [
        f"Warning: the environment variable JIRACAMPAIGN_JIRA_TOKN {ignored}; did you mean JIRACAMPAIGN_JIRA_TOKEN?",
        f"Warning: the environment variable JIRACAMPAIGN_PANDA_MONITORURL {ignored}; did you mean JIRACAMPAIGN_PANDA_MONITOR_URL?",
        f"Warning: the environment variable JIRACAMPAIGN_SOMETHING_ELSE {ignored}; 'jiracampaign config' lists the settings",
        f"Warning: the environment variable JIRACAMPAIGN_TRAKER {ignored}; did you mean JIRACAMPAIGN_TRACKER?",
    ]
    assert "s3cr3t-value" not in result.output
    assert {row["setting"]: row["value"] for row in json.loads(result.stdout)}["jira.project"] == "CAMP"


def test_known_variables_raise_no_warning(runner, write):
    env = {"JIRACAMPAIGN_CONFIG": str(write("c.yaml", "jira:\n  token_env: MY_PAT\n")), "JIRACAMPAIGN_JIRA_TOKEN": "t",
           "JIRACAMPAIGN_PANDA_TIMEOUT": "5"}
    result = runner.invoke(cli, ["config"], env=env)
    assert result.exit_code == 0 and result.stderr == ""
    config = load_config(env={"JIRACAMPAIGN_JIRA_TOKEN_ENV": "MY_PAT", "MY_PAT": "x"})
    assert config.warnings == []


def test_config_set_saves_in_the_file_init_writes_and_is_then_in_effect(runner, tmp_config):
    result = runner.invoke(cli, ["config", "set", "panda.monitor_url", "https://bigmon.example:8443"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Saved panda.monitor_url: 'https://bigmon.example:8443' in {tmp_config}.\n"
    assert runner.invoke(cli, ["config", "set", "jira.timeout", "60"]).exit_code == 0
    got = settings(runner)
    assert got["panda.monitor_url"] == ("https://bigmon.example:8443", f"{tmp_config}:3")
    assert got["jira.timeout"] == (60, f"{tmp_config}:5")  # read as the file reads it: a number
    assert stat.S_IMODE(tmp_config.stat().st_mode) == 0o600


def test_config_set_keeps_other_settings_and_follows_config_option(runner, write):
    cfg = write("mine.yaml", "tracker: jira\njira:\n  project: CAMP\n")
    assert runner.invoke(cli, ["--config", str(cfg), "config", "set", "jira.server", "https://jira.example"]).exit_code == 0
    assert yaml.safe_load(cfg.read_text()) == {"tracker": "jira", "jira": {"project": "CAMP", "server": "https://jira.example"}}


@pytest.mark.parametrize("key, value, message", [
    ("jira.timeout", "0", "jira.timeout: expected a positive integer, got 0"),
    ("jira.timeout", "soon", "jira.timeout: expected a positive integer, got 'soon'"),
    ("panda.monitr_url", "https://x", "panda.monitr_url: unknown setting; did you mean 'monitor_url'?"),
    ("trackr", "jira", "trackr: unknown setting; did you mean 'tracker'?"),
    ("tracker", "both", "tracker: expected one of 'local', 'jira', or a dotted module.Class path, got 'both'"),
    ("jira.server", "jira.example.org", "jira.server: expected a URL starting with https:// or http://, got "
                                        "'jira.example.org' (did you mean 'https://jira.example.org'?)"),
    ("jira.flavour", "onprem", "jira.flavour: expected one of 'auto', 'cloud', 'datacenter', got 'onprem'"),
    ("jira.token", "s3cr3t-value", "jira.token: secrets never go in the config file"),
    ("jira.api_password", "s3cr3t-value", "jira.api_password: secrets never go in the config file"),
])
def test_config_set_validates_like_the_file_and_writes_nothing_when_wrong(runner, tmp_config, key, value, message):
    tmp_config.parent.mkdir(parents=True)
    tmp_config.write_text("jira:\n  project: CAMP\n")
    result = runner.invoke(cli, ["config", "set", key, value])
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: config set: {message}"), result.stderr
    assert tmp_config.read_text() == "jira:\n  project: CAMP\n"
    assert "s3cr3t-value" not in result.output


def test_config_set_says_when_the_environment_overrides_it(runner, tmp_config):
    result = runner.invoke(cli, ["config", "set", "jira.timeout", "60"], env={"JIRACAMPAIGN_JIRA_TIMEOUT": "5"})
    assert result.exit_code == 0
    assert result.stderr == "Note: the environment variable JIRACAMPAIGN_JIRA_TIMEOUT overrides it while it is set.\n"
