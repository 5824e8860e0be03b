"""Commands that set jiracampaign up: ``init``, ``login`` and ``config``."""

from __future__ import annotations

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
@click.pass_obj
def init(state: State, server, project, user, auth, hierarchy, no_input: bool) -> None:
    """Connect to your JIRA, check what jiracampaign needs, and save what it learned in the config file.

    Asks serverInfo whether this is Cloud or Data Center, checks your credentials, the project and
    your permissions, finds the Epic issue type and (Data Center) the Epic Link and Epic Name
    fields by their schema type, and lists the workflow's statuses. It says exactly what is
    missing; nothing is saved then.

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
                       auth, hierarchy, interactive, state.config_path)
    for fact in result.facts:
        click.echo(f"  {fact}")
    for problem in result.problems:
        click.echo(f"Missing: {problem}", err=True)
    if result.problems:
        raise TrackerError(f"{len(result.problems)} problem(s) stop jiracampaign from using {result.project}; nothing was saved")
    click.echo(f"Saved to {result.path}: tracker jira, {result.flavour}, project {result.project}. The token is not "
               "saved there; keep it in the environment or run 'jiracampaign login'.")


@click.command()
@click.option("--token-stdin", is_flag=True, help="Read the token from standard input instead of prompting.")
@click.pass_obj
def login(state: State, token_stdin: bool) -> None:
    """Store your JIRA API token (Cloud) or personal access token (Data Center) in the OS keyring.

    The token is never written to a file or shown. Scripts and CI can instead set the
    environment variable named by jira.token_env (default JIRACAMPAIGN_JIRA_TOKEN).

    \b
    Example:
        jiracampaign --set jira.user=jdoe@example.org login
    """
    from ..trackers.jira.credentials import store_secret

    if token_stdin:
        secret = sys.stdin.readline().strip()
    elif sys.stdin.isatty():
        secret = click.prompt("JIRA token", hide_input=True)
    else:
        raise JiraCampaignError("no terminal to ask for the token on; pipe it in with --token-stdin")
    account = store_secret(state.config, secret)
    click.echo(f"Stored the JIRA token for {account} in the OS keyring (service {state.config.get('jira.keyring_service')}).")


@click.command("config")
@output_options
@click.pass_obj
def config_cmd(state: State, fmt: str) -> None:
    """Show every setting, its effective value and where it came from.

    \b
    Example:
        JIRACAMPAIGN_TRACKER=jira jiracampaign config
    """
    config = state.config
    rows = [{"setting": name, "value": config.get(name), "source": source} for name, source in config.sources.items()]
    click.echo(render_rows(rows, [("setting", "SETTING"), ("value", "VALUE"), ("source", "SOURCE")], fmt), nl=False)
