"""`jiracampaign init --no-input` against both fake JIRA flavours: what it finds, saves and reports missing."""

from __future__ import annotations

import stat

import yaml

from jiracampaign.cli import cli
from tests.fakes.jira_server import EPIC_LINK, EPIC_NAME


def run_init(runner, fake, config, *extra):
    args = ["--config", str(config), "init", "--no-input", "--server", fake.url, "--project", "CAMP",
            "--user", fake.user, *extra]
    return runner.invoke(cli, args, env={"JIRACAMPAIGN_JIRA_TOKEN": fake.token})


def test_init_discovers_and_saves(runner, fake_jira, tmp_path):
    config = tmp_path / "cfg" / "config.yaml"
    result = run_init(runner, fake_jira, config)
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load(config.read_text())
    flavour = "cloud" if fake_jira.cloud else "datacenter"
    expected = {"server": fake_jira.url, "project": "CAMP", "user": fake_jira.user,
                "auth": "basic" if fake_jira.cloud else "token", "flavour": flavour, "hierarchy": "task",
                "epic_type": "10000", "task_type": "10001", "subtask_type": "10002"}
    if not fake_jira.cloud:  # found by schema type although the fake names them in German
        expected.update(epic_link_field=EPIC_LINK, epic_name_field=EPIC_NAME)
    assert saved == {"tracker": "jira", "jira": expected}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert fake_jira.token not in config.read_text()
    assert "  workflow statuses: To Do (new), In Progress (indeterminate), Blocked (indeterminate), Done (done)" in result.stdout
    assert result.stdout.splitlines()[-1].startswith(f"Saved to {config}: tracker jira, {flavour}, project CAMP.")


def test_init_keeps_other_settings(runner, fake_jira, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("campaigns_dir: /data/campaigns\npanda:\n  timeout: 9\n")
    assert run_init(runner, fake_jira, config).exit_code == 0
    saved = yaml.safe_load(config.read_text())
    assert saved["campaigns_dir"] == "/data/campaigns" and saved["panda"] == {"timeout": 9}


def test_init_names_what_is_missing_and_saves_nothing(runner, fake_jira, tmp_path):
    fake_jira.permissions -= {"CREATE_ISSUES", "CREATE_ATTACHMENTS"}
    del fake_jira.types["10000"]
    config = tmp_path / "config.yaml"
    result = run_init(runner, fake_jira, config)
    assert result.exit_code == 5
    missing = [line for line in result.stderr.splitlines() if line.startswith("Missing:")]
    expected = ["Missing: you have no permission to create issues in CAMP (CREATE_ISSUES)",
                "Missing: you have no permission to attach files in CAMP (CREATE_ATTACHMENTS)",
                "Missing: no Epic issue type in project CAMP"]
    assert missing == expected
    assert result.stderr.splitlines()[-1] == "Error: 3 problem(s) stop jiracampaign from using CAMP; nothing was saved"
    assert not config.exists()


def test_init_unknown_project_and_bad_token(runner, fake_jira, tmp_path):
    config = tmp_path / "config.yaml"
    result = runner.invoke(cli, ["--config", str(config), "init", "--no-input", "--server", fake_jira.url,
                                 "--project", "NOPE", "--user", fake_jira.user],
                           env={"JIRACAMPAIGN_JIRA_TOKEN": fake_jira.token})
    assert result.exit_code == 5 and "Missing: project NOPE does not exist or is not visible to you" in result.stderr
    result = runner.invoke(
        cli, ["--config", str(config), "init", "--no-input", "--server", fake_jira.url, "--project", "CAMP",
              "--user", fake_jira.user], env={"JIRACAMPAIGN_JIRA_TOKEN": "not-the-token"})
    assert result.exit_code == 4 and "JIRA rejected the credentials" in result.stderr
    assert "not-the-token" not in result.output


def test_init_needs_values_without_input(runner, tmp_path):
    result = runner.invoke(cli, ["--config", str(tmp_path / "c.yaml"), "init", "--no-input"])
    assert (result.exit_code, result.stderr) == (3, "Error: command line: jira.server: is needed: pass --server\n")


def test_init_on_something_that_is_not_jira(runner, tmp_path):
    result = runner.invoke(cli, ["--config", str(tmp_path / "c.yaml"), "init", "--no-input", "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 5 and result.stderr.startswith("Error: cannot reach JIRA at http://127.0.0.1:9: connection refused")


def terminal(monkeypatch):
    """Make the test runner's standard input look like a terminal, so init asks (input comes from the runner)."""
    from click.testing import _NamedTextIOWrapper

    monkeypatch.setattr(_NamedTextIOWrapper, "isatty", lambda self: True, raising=False)


def test_init_offers_to_store_the_token_it_was_given(runner, fake_jira, tmp_path, memory_keyring, monkeypatch):
    terminal(monkeypatch)
    config = tmp_path / "config.yaml"
    args = ["--config", str(config), "init", "--server", fake_jira.url, "--project", "CAMP", "--user", fake_jira.user]
    # server, project and user are offered as defaults (Enter); then the token; then "store it?" (Enter = yes)
    result = runner.invoke(cli, args, input=f"\n\n\n{fake_jira.token}\n\n")
    assert result.exit_code == 0, result.output
    account = f"{fake_jira.user}@{fake_jira.url.split('//')[1]}"
    assert memory_keyring.store == {("jiracampaign", account): fake_jira.token}
    assert "JIRA accepted the token. Store it in the keyring keyring backend MemoryKeyring" in result.output
    assert result.stdout.splitlines()[-1].endswith(
        f"Stored the JIRA token for {account} in the keyring keyring backend MemoryKeyring "
        "(tests.fakes.keyring_backend.MemoryKeyring).")
    assert fake_jira.token not in config.read_text() and fake_jira.token not in result.output
    # the next command finds it without asking
    again = runner.invoke(cli, ["--config", str(config), "init", "--no-input"])
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[-1].endswith("The token stays in the keyring, not in the file.")


def test_init_stores_nothing_when_declined_or_refused_by_jira(runner, fake_jira, tmp_path, memory_keyring, monkeypatch):
    terminal(monkeypatch)
    config = tmp_path / "config.yaml"
    args = ["--config", str(config), "init", "--server", fake_jira.url, "--project", "CAMP", "--user", fake_jira.user]
    result = runner.invoke(cli, args, input=f"\n\n\n{fake_jira.token}\nn\n")
    assert result.exit_code == 0, result.output
    assert memory_keyring.store == {}
    assert result.stdout.splitlines()[-1].endswith(
        "The token is not saved; keep it in the environment variable JIRACAMPAIGN_JIRA_TOKEN or run 'jiracampaign login'.")
    result = runner.invoke(cli, args, input="\n\n\nnot-the-token\n\n")
    assert result.exit_code == 4 and "Store it in the keyring" not in result.output
    assert memory_keyring.store == {}
