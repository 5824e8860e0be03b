"""Secrets: environment, then keyring, then a prompt on a terminal only; never shown or written."""

from __future__ import annotations

import logging
import secrets

import keyring
import pytest
from keyring.backends import fail

from jiracampaign.cli import cli
from jiracampaign.config import load_config
from jiracampaign.trackers.jira.credentials import find_secret, keyring_account, store_secret
from jiracampaign.errors import CredentialError


@pytest.fixture
def config():
    return load_config(env={}, overrides={"jira.server": "https://rubin.example.net", "jira.user": "jdoe@example.org"})


def test_environment_wins_over_keyring(config, memory_keyring):
    memory_keyring.set_password("jiracampaign", "jdoe@example.org@rubin.example.net", "from-keyring")
    assert find_secret(config, env={"JIRACAMPAIGN_JIRA_TOKEN": "from-env"}, interactive=False) == "from-env"
    assert find_secret(config, env={}, interactive=False) == "from-keyring"


def test_token_env_names_another_variable(memory_keyring):
    config = load_config(env={}, overrides={"jira.token_env": "MY_PAT"})
    assert find_secret(config, env={"MY_PAT": "pat-1", "JIRACAMPAIGN_JIRA_TOKEN": "other"}, interactive=False) == "pat-1"


def test_prompt_only_on_a_terminal(config, memory_keyring):
    asked = []
    assert find_secret(config, env={}, prompt=lambda text: asked.append(text) or "typed", interactive=True) == "typed"
    assert asked == ["JIRA token for jdoe@example.org@rubin.example.net"]
    with pytest.raises(CredentialError) as err:
        find_secret(config, env={}, prompt=lambda text: pytest.fail("prompted without a terminal"), interactive=False)
    assert str(err.value) == (
        "no JIRA token found: set the environment variable JIRACAMPAIGN_JIRA_TOKEN, or run 'jiracampaign login' "
        "to store one in the OS keyring (service jiracampaign, account jdoe@example.org@rubin.example.net)"
    )


def test_keyring_account_without_user(memory_keyring):
    assert keyring_account(load_config(env={}, overrides={"jira.server": "https://x.example:8443/jira"})) == "x.example:8443"


def test_login_stores_token_from_stdin(runner, memory_keyring):
    result = runner.invoke(cli, ["--set", "jira.server=https://rubin.example.net", "--set", "jira.user=jdoe",
                                 "login", "--token-stdin"], input="tok-123\n")
    assert result.exit_code == 0
    assert result.stdout == "Stored the JIRA token for jdoe@rubin.example.net in the OS keyring (service jiracampaign).\n"
    assert memory_keyring.store == {("jiracampaign", "jdoe@rubin.example.net"): "tok-123"}


def test_login_without_terminal_or_stdin_flag_refuses(runner, memory_keyring):
    result = runner.invoke(cli, ["login"], input="")
    assert (result.exit_code, result.stderr) == (
        1, "Error: no terminal to ask for the token on; pipe it in with --token-stdin\n")
    assert memory_keyring.store == {}


def test_login_without_usable_keyring_names_the_environment_variable(runner):
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        result = runner.invoke(cli, ["login", "--token-stdin"], input="tok\n")
    finally:
        keyring.set_keyring(previous)
    assert result.exit_code == 4
    assert result.stderr == (
        "Error: cannot store the token in the OS keyring (NoKeyringError); "
        "set the environment variable JIRACAMPAIGN_JIRA_TOKEN instead\n"
    )


def test_empty_token_is_not_stored(config, memory_keyring):
    with pytest.raises(CredentialError, match="the token is empty"):
        store_secret(config, "  ")


def test_secret_witness_never_appears_in_output_logs_or_files(runner, memory_keyring, caplog, tmp_path, write):
    witness = "witness-" + secrets.token_hex(16)
    caplog.set_level(logging.DEBUG)
    env = {"JIRACAMPAIGN_JIRA_TOKEN": witness}
    outputs = [
        runner.invoke(cli, ["config"], env=env).output,
        runner.invoke(cli, ["config", "--json"], env=env).output,
        runner.invoke(cli, ["login", "--token-stdin"], input=witness + "\n").output,
        runner.invoke(cli, ["--config", str(write("bad.yaml", f"jira:\n  token: {witness}\n")), "config"]).output,
    ]
    config = load_config(env={})
    assert find_secret(config, env=env, interactive=False) == witness
    for text in outputs + [caplog.text]:
        assert witness not in text
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "bad.yaml":
            assert witness.encode() not in path.read_bytes(), path
