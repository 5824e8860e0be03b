"""Secrets: environment, then keyring, then a prompt on a terminal only; never shown or written."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from jiracampaign.cli import cli
from jiracampaign.config import load_config
from jiracampaign.trackers.jira.credentials import find_secret, keyring_account, store_secret
from jiracampaign.errors import CredentialError
from tests.fakes.keyring_backend import PlaintextFileKeyring


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


def login_args(fake, *extra):
    auth = "basic" if fake.cloud else "token"
    return ["--set", f"jira.server={fake.url}", "--set", f"jira.user={fake.user}", "--set", f"jira.auth={auth}",
            *extra, "login", "--token-stdin"]


def test_login_checks_the_token_against_jira_then_stores_it_naming_the_backend(runner, memory_keyring, fake_jira):
    result = runner.invoke(cli, login_args(fake_jira), input=fake_jira.token + "\n")
    assert result.exit_code == 0, result.output
    account = f"{fake_jira.user}@{fake_jira.url.split('//')[1]}"
    assert result.stdout == (
        f"JIRA accepted it (signed in as J. Doe). Stored the JIRA token for {account} in the keyring "
        "keyring backend MemoryKeyring (tests.fakes.keyring_backend.MemoryKeyring) (service jiracampaign).\n")
    assert memory_keyring.store == {("jiracampaign", account): fake_jira.token}
    assert [r["path"] for r in fake_jira.log][-1] == "/rest/api/2/myself"


def test_login_stores_nothing_when_jira_refuses_the_token(runner, memory_keyring, fake_jira):
    result = runner.invoke(cli, login_args(fake_jira), input="not-the-token\n")
    assert result.exit_code == 4
    assert result.stderr.startswith("Error: JIRA rejected the credentials of jdoe@example.org")
    assert "not-the-token" not in result.output
    assert memory_keyring.store == {}


def test_login_without_a_server_says_how_to_go_on_and_no_verify_skips_the_check(runner, memory_keyring):
    result = runner.invoke(cli, ["--set", "jira.user=jdoe", "login", "--token-stdin"], input="tok-123\n")
    assert (result.exit_code, result.stderr) == (3, (
        "Error: config: jira.server: is empty, so the token cannot be checked: run 'jiracampaign init' (it can store "
        "the token too), set jira.server, or pass --no-verify\n"))
    assert memory_keyring.store == {}
    result = runner.invoke(cli, ["--set", "jira.server=https://rubin.example.net", "--set", "jira.user=jdoe",
                                 "login", "--token-stdin", "--no-verify"], input="tok-123\n")
    assert result.exit_code == 0
    assert result.stdout.startswith("Not checked. Stored the JIRA token for jdoe@rubin.example.net in the keyring ")
    assert memory_keyring.store == {("jiracampaign", "jdoe@rubin.example.net"): "tok-123"}


@pytest.fixture
def plaintext_keyring(tmp_path):
    previous = keyring.get_keyring()
    backend = PlaintextFileKeyring(tmp_path / "keyring_pass.cfg")
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_a_plaintext_keyring_is_refused_unless_allowed(runner, plaintext_keyring, fake_jira):
    result = runner.invoke(cli, login_args(fake_jira), input=fake_jira.token + "\n")
    assert result.exit_code == 4
    path = plaintext_keyring.file_path
    assert result.stderr == (
        "Error: the keyring backend here, keyring backend PlaintextFileKeyring "
        f"(tests.fakes.keyring_backend.PlaintextFileKeyring), keeps the token unencrypted in a file ({path}); nothing "
        "was stored. Set the environment variable JIRACAMPAIGN_JIRA_TOKEN instead, or install an encrypted backend "
        "(keyrings.cryptfile, or SecretService over D-Bus; see docs/config.md, 'Headless machines'), or accept it "
        "with --allow-plaintext-keyring\n")
    assert not Path(path).exists()
    result = runner.invoke(cli, login_args(fake_jira, ) + ["--allow-plaintext-keyring"], input=fake_jira.token + "\n")
    assert result.exit_code == 0, result.output
    assert "in the keyring keyring backend PlaintextFileKeyring" in result.stdout
    assert result.stderr == f"Warning: this keyring keeps the token unencrypted in a file ({path}).\n"
    assert Path(path).exists()


def test_no_keyring_at_all_is_refused_even_when_plaintext_is_allowed(runner):
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        result = runner.invoke(cli, ["--set", "jira.server=https://rubin.example.net", "login", "--token-stdin",
                                     "--no-verify", "--allow-plaintext-keyring"], input="tok\n")
    finally:
        keyring.set_keyring(previous)
    assert result.exit_code == 4
    assert result.stderr == (
        "Error: the keyring backend here, fail Keyring (keyring.backends.fail.Keyring), stores nothing (no usable "
        "keyring on this machine); nothing was stored. Set the environment variable JIRACAMPAIGN_JIRA_TOKEN instead, "
        "or install an encrypted backend (keyrings.cryptfile, or SecretService over D-Bus; see docs/config.md, "
        "'Headless machines')\n")


def test_login_without_terminal_or_stdin_flag_refuses(runner, memory_keyring):
    result = runner.invoke(cli, ["login"], input="")
    assert (result.exit_code, result.stderr) == (
        1, "Error: no terminal to ask for the token on; pipe it in with --token-stdin\n")
    assert memory_keyring.store == {}


def test_empty_token_is_not_stored(config, memory_keyring):
    with pytest.raises(CredentialError, match="the token is empty"):
        store_secret(config, "  ")
    assert memory_keyring.store == {}


def test_secret_witness_never_appears_in_output_logs_or_files(runner, memory_keyring, caplog, tmp_path, write):
    witness = "witness-" + secrets.token_hex(16)
    caplog.set_level(logging.DEBUG)
    env = {"JIRACAMPAIGN_JIRA_TOKEN": witness}
    outputs = [
        runner.invoke(cli, ["config"], env=env).output,
        runner.invoke(cli, ["config", "--json"], env=env).output,
        runner.invoke(cli, ["login", "--token-stdin"], input=witness + "\n").output,
        runner.invoke(cli, ["--set", "jira.server=https://rubin.example.net", "login", "--token-stdin", "--no-verify"],
                      input=witness + "\n").output,
        runner.invoke(cli, ["--config", str(write("bad.yaml", f"jira:\n  token: {witness}\n")), "config"]).output,
    ]
    config = load_config(env={})
    assert find_secret(config, env=env, interactive=False) == witness
    for text in outputs + [caplog.text]:
        assert witness not in text
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "bad.yaml":
            assert witness.encode() not in path.read_bytes(), path
