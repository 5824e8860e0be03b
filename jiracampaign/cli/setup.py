"""Commands that set jiracampaign up: ``init``, ``login`` and ``config``."""

from __future__ import annotations

import os
import sys

import click

from ..errors import ConfigError, JiraCampaignError, TrackerError
from . import State
from .output import output_options, render_rows

__all__ = ["init", "login", "config_cmd"]


def _ask(config, interactive: bool, given, setting: str, question: str) -> str:
    """A value from the option, else the config, else a prompt (on a terminal)."""
    current = given or config.get(setting)
    if interactive:
        current = click.prompt(question, default=current or None)
    if not current:
        raise ConfigError("command line", None, setting, f"is needed: pass --{setting.split('.')[-1]}")
    return current


@click.command()
@click.option("--server", help="JIRA base URL, e.g. https://rubinobs.atlassian.net.")
@click.option("--project", help="Project key for the campaign epics and tickets.")
@click.option("--user", help="Account e-mail (Cloud) or user name.")
@click.option("--auth", type=click.Choice(["basic", "token"]),
              help="basic: e-mail + API token (default on Cloud); token: personal access token (default on Data Center).")
@click.option("--hierarchy", type=click.Choice(["task", "subtask"]), help="Epic -> task per submission, or epic -> task per step -> sub-tasks.")
@click.option("--no-input", is_flag=True, help="Never prompt: take values from options, environment and config; fail if one is missing.")
@click.option("--allow-plaintext-keyring", is_flag=True,
              help="Accept a keyring backend that keeps the token unencrypted in a file (keyrings.alt's PlaintextKeyring).")
@click.pass_obj
def init(state: State, server, project, user, auth, hierarchy, no_input: bool, allow_plaintext_keyring: bool) -> None:
    """Connect to your JIRA, check what jiracampaign needs, and save what it learned in the config file.

    Asks serverInfo whether this is Cloud or Data Center, checks your credentials, the project and
    your permissions, finds the Epic issue type and (Data Center) the Epic Link and Epic Name
    fields by their schema type, and lists the workflow's statuses. It says exactly what is
    missing; nothing is saved then. A token you typed at its prompt is offered for the keyring
    once JIRA has accepted it (never for the config file).

    \b
    Example:
        jiracampaign init
        JIRACAMPAIGN_JIRA_TOKEN=... jiracampaign init --no-input --server https://x.atlassian.net --project PREOPS --user me@x.org
    """
    from ..services.init import init as init_jira

    config = state.load(missing_ok=True)
    interactive = not no_input and sys.stdin.isatty()
    given = {"jira.project": project, "jira.user": user}
    result = init_jira(config, _ask(config, interactive, server, "jira.server", "JIRA server URL"),
                       lambda setting, question: _ask(config, interactive, given[setting], setting, question),
                       auth, hierarchy, interactive, state.config_path,
                       confirm=(lambda question: click.confirm(question, default=True)) if interactive else None,
                       allow_plaintext=allow_plaintext_keyring)
    for fact in result.facts:
        click.echo(f"  {fact}")
    for problem in result.problems:
        click.echo(f"Missing: {problem}", err=True)
    if result.problems:
        raise TrackerError(f"{len(result.problems)} problem(s) stop jiracampaign from using {result.project}; nothing was saved")
    click.echo(f"Saved to {result.path}: tracker jira, {result.flavour}, project {result.project}. {result.token}".rstrip())


@click.command()
@click.option("--token-stdin", is_flag=True, help="Read the token from standard input instead of prompting.")
@click.option("--no-verify", is_flag=True, help="Store the token without first checking it against jira.server.")
@click.option("--allow-plaintext-keyring", is_flag=True,
              help="Accept a keyring backend that keeps the token unencrypted in a file (keyrings.alt's PlaintextKeyring).")
@click.pass_obj
def login(state: State, token_stdin: bool, no_verify: bool, allow_plaintext_keyring: bool) -> None:
    """Check your JIRA API token (Cloud) or personal access token (Data Center), then store it in a keyring.

    The token is first checked against jira.server (GET myself) and stored only if JIRA accepts it.
    It goes to the best keyring backend here, which is named; a backend that would keep it in
    plain text is refused unless you pass --allow-plaintext-keyring. The token is never written
    to the config file or shown. Scripts, CI and headless machines can instead set the
    environment variable named by jira.token_env (default JIRACAMPAIGN_JIRA_TOKEN).

    \b
    Example:
        jiracampaign --set jira.user=jdoe@example.org login
    """
    from ..services.init import login as login_jira

    if token_stdin:
        secret = sys.stdin.readline().strip()
    elif sys.stdin.isatty():
        secret = click.prompt("JIRA token", hide_input=True)
    else:
        raise JiraCampaignError("no terminal to ask for the token on; pipe it in with --token-stdin")
    result = login_jira(state.config, secret, verify=not no_verify, allow_plaintext=allow_plaintext_keyring)
    checked = f"JIRA accepted it (signed in as {result.signed_in_as}). " if result.signed_in_as else "Not checked. "
    click.echo(f"{checked}Stored the JIRA token for {result.account} in the keyring {result.backend} "
               f"(service {state.config.get('jira.keyring_service')}).")
    if result.warning:
        click.echo(f"Warning: this keyring {result.warning}.", err=True)


@click.group("config", invoke_without_command=True)
@output_options
@click.pass_context
def config_cmd(ctx: click.Context, fmt: str) -> None:
    """Show every setting, its effective value and where it came from; 'config set' saves one.

    \b
    Example:
        JIRACAMPAIGN_TRACKER=jira jiracampaign config
        jiracampaign config set panda.monitor_url https://usdf-panda-bigmon.slac.stanford.edu:8443
    """
    if ctx.invoked_subcommand is not None:
        return
    config = ctx.obj.config
    rows = [{"setting": name, "value": config.get(name), "source": source} for name, source in config.sources.items()]
    click.echo(render_rows(rows, [("setting", "SETTING"), ("value", "VALUE"), ("source", "SOURCE")], fmt), nl=False)


@config_cmd.command("set")
@click.argument("key", metavar="SECTION.KEY")
@click.argument("value")
@click.pass_obj
def config_set(state: State, key: str, value: str) -> None:
    """Save one setting in your config file (the one 'init' writes), checked as the file is when loaded.

    VALUE is read as it would be written in the file (30 is a number, true a boolean). Secrets are
    refused: the token belongs in the environment or the keyring ('jiracampaign login'). The file
    is rewritten in place (its comments are not kept) and stays readable only by you.

    \b
    Example:
        jiracampaign config set panda.monitor_url https://usdf-panda-bigmon.slac.stanford.edu:8443
        jiracampaign config set jira.timeout 60
    """
    from ..config import env_var, set_in_file, user_config_file

    path = user_config_file(state.config_path)
    saved = set_in_file(path, key, value)
    click.echo(f"Saved {key.strip()}: {saved!r} in {path}.")
    if key.strip() in state.overrides:
        click.echo(f"Note: --set {key.strip()} on this command line overrides it.", err=True)
    if env_var(key.strip()) in os.environ:
        click.echo(f"Note: the environment variable {env_var(key.strip())} overrides it while it is set.", err=True)
