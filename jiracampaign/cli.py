"""The command line: parse options, load config, call one library function, render the result."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import __version__
from .config import Config, config_path, load_config
from .credentials import find_secret, store_secret
from .errors import ConfigError, JiraCampaignError, TrackerError
from .init import detect_flavour, inspect, save_settings
from .trackers.jira_client import JiraClient
from .output import output_options, render_rows
from .plan import build_plan, manifest_tickets, write_plan
from .record import record_campaign
from .trackers import open_tracker
from .spec import load_spec

__all__ = ["cli", "main"]

PLAN_COLUMNS = [("step", "STEP"), ("group", "GROUP"), ("inputs", "INPUTS"), ("data_query", "DATA QUERY"), ("file", "FILE")]


class _State:
    """Global options, with the config loaded on first use."""

    def __init__(self, config_path: str | None, overrides: dict[str, str]):
        self.config_path, self.overrides = config_path, overrides
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        return self.load()

    def load(self, missing_ok: bool = False) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, overrides=self.overrides, missing_ok=missing_ok)
        return self._config


class _Group(click.Group):
    """Renders every `JiraCampaignError` once, as ``Error: ...`` with its exit status."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except JiraCampaignError as exc:
            if ctx.params.get("traceback"):
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(int(exc.exit_status))
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def _parse_sets(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"expected SECTION.KEY=VALUE, got '{item}'")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def campaign_options(fn):
    """SPEC, ``--output-dir`` and ``--force`` (and the output formats), shared by commands that write a campaign folder."""
    fn = output_options(fn)
    fn = click.option("--force", is_flag=True, help="Overwrite submission files edited by hand since the last plan.")(fn)
    fn = click.option("-o", "--output-dir", type=click.Path(file_okay=False),
                      help="Campaign folder to write; default: <campaigns_dir>/<campaign id>.")(fn)
    return click.argument("spec", type=click.Path(dir_okay=False))(fn)


def _folder(state: _State, output_dir: str | None, campaign_id: str) -> Path:
    return Path(output_dir) if output_dir else Path(state.config.get("campaigns_dir")) / campaign_id


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jiracampaign")
@click.option("--config", "config_path", metavar="FILE", type=click.Path(dir_okay=False),
              help="Config file. Precedence: this option, then $JIRACAMPAIGN_CONFIG, then ~/.config/jiracampaign/config.yaml.")
@click.option("--tracker", type=click.Choice(["local", "jira"]),
              help="Where campaigns are recorded. Precedence: this option, then $JIRACAMPAIGN_TRACKER, then the config file, then 'local'.")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", callback=_parse_sets,
              help="Override any setting for this command (highest precedence). Repeatable.")
@click.option("--traceback", is_flag=True, help="Show the full Python traceback of an error.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, tracker: str | None, sets: dict[str, str], traceback: bool) -> None:
    """Generate, record, submit and follow Rubin processing campaigns.

    \b
    Example:
        jiracampaign plan examples/demo/campaign.yaml
    """
    if tracker:
        sets = {**sets, "tracker": tracker}
    ctx.obj = _State(config_path, sets)


@cli.command()
@campaign_options
@click.pass_obj
def plan(state: _State, spec: str, output_dir: str | None, force: bool, fmt: str) -> None:
    """Write one BPS submit YAML per step and group, and print the plan.

    Nothing outside the campaign folder changes; the folder is replaced as a whole,
    so an error leaves the previous one intact.

    \b
    Example:
        jiracampaign plan examples/dp02/campaign.yaml
        jiracampaign plan examples/demo/campaign.yaml --json
    """
    loaded = load_spec(spec)
    folder = _folder(state, output_dir, loaded.campaign.id)
    result = build_plan(loaded, tickets=manifest_tickets(folder))
    write_plan(result, folder, force=force)
    rows = [
        {"id": s.id, "step": s.step, "group": f"{s.group.index}/{s.group.count}", "inputs": s.group.inputs,
         "data_query": s.data_query, "file": s.file, "run_name": s.run_name, "sha256": s.sha256}
        for s in result.submissions
    ]
    click.echo(render_rows(rows, PLAN_COLUMNS, fmt), nl=False)
    click.echo(f"Planned {len(rows)} submissions of campaign {loaded.campaign.id} in {folder}/", err=True)


CREATE_COLUMNS = [("key", "KEY"), ("id", "SUBMISSION"), ("step", "STEP"), ("group", "GROUP"), ("action", "ACTION"),
                  ("changes", "CHANGES")]


@cli.command()
@campaign_options
@click.pass_obj
def create(state: _State, spec: str, output_dir: str | None, force: bool, fmt: str) -> None:
    """Plan the campaign and record it: an epic, and one ticket per submission with its YAML attached.

    Running it again changes nothing; after a spec edit it creates only the missing tickets and
    updates the changed ones, commenting what changed. Without JIRA configured, the campaign
    goes to the embedded local store.

    \b
    Example:
        jiracampaign create examples/dp02/campaign.yaml
        jiracampaign --tracker jira create examples/dp02/campaign.yaml
    """
    loaded = load_spec(spec)
    folder = _folder(state, output_dir, loaded.campaign.id)
    tracker = open_tracker(state.config)
    total = sum(len(g) for g in loaded.groups.values())
    try:
        with click.progressbar(length=total, label="Recording", file=sys.stderr,
                               hidden=not sys.stderr.isatty()) as bar:
            result = record_campaign(loaded, tracker, folder, force=force, progress=bar.update,
                                     step_tickets=getattr(tracker, "step_tickets", False))
    finally:
        tracker.close()
    click.echo(render_rows(result.rows, CREATE_COLUMNS, fmt), nl=False)
    for dup in result.duplicates:
        click.echo(f"Warning: {dup.key} duplicates the ticket of {dup.ident}; it is ignored (close it in the tracker).", err=True)
    for orphan in result.orphans:
        click.echo(f"Warning: {orphan.key} ({orphan.ident}) is no longer in the spec; left as it is.", err=True)
    click.echo(
        f"Campaign {loaded.campaign.id}: epic {result.epic} ({'created' if result.epic_created else 'existing'}) "
        f"in {tracker.describe()}; {result.count('created')} created, {result.count('updated')} updated, "
        f"{result.count('unchanged')} unchanged; files in {folder}/", err=True)


@cli.command()
@click.option("--server", help="JIRA base URL, e.g. https://rubinobs.atlassian.net.")
@click.option("--project", help="Project key for the campaign epics and tickets.")
@click.option("--user", help="Account e-mail (Cloud) or user name.")
@click.option("--auth", type=click.Choice(["basic", "token"]),
              help="basic: e-mail + API token (default on Cloud); token: personal access token (default on Data Center).")
@click.option("--hierarchy", type=click.Choice(["task", "subtask"]), help="Epic -> task per submission, or epic -> task per step -> sub-tasks.")
@click.option("--no-input", is_flag=True, help="Never prompt: take values from options, environment and config; fail if one is missing.")
@click.pass_obj
def init(state: _State, server, project, user, auth, hierarchy, no_input: bool) -> None:
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
    config = state.load(missing_ok=True)
    interactive = not no_input and sys.stdin.isatty()

    def value(given, setting, question, default=None):
        current = given or config.get(setting) or default
        if interactive:
            current = click.prompt(question, default=current or None)
        if not current:
            raise ConfigError("command line", None, setting, f"is needed: pass --{setting.split('.')[-1]}")
        return current

    server = value(server, "jira.server", "JIRA server URL").rstrip("/")
    flavour = detect_flavour(server, config.get("jira.timeout"))
    project = value(project, "jira.project", "Project key")
    user = value(user, "jira.user", "Account e-mail (Cloud) or user name")
    auth = auth or ("basic" if flavour == "cloud" else "token")
    hierarchy = hierarchy or config.get("jira.hierarchy")
    for name, val in (("jira.server", server), ("jira.project", project), ("jira.user", user), ("jira.auth", auth)):
        config.set(name, val, "init")
    secret = find_secret(config, interactive=interactive)
    client = JiraClient(server, auth, user, secret, timeout=config.get("jira.timeout"), max_retries=config.get("jira.max_retries"))
    try:
        report = inspect(client, project, hierarchy)
    finally:
        client.close()
    for fact in report.facts:
        click.echo(f"  {fact}")
    if report.problems:
        for problem in report.problems:
            click.echo(f"Missing: {problem}", err=True)
        raise TrackerError(f"{len(report.problems)} problem(s) stop jiracampaign from using {project}; nothing was saved")
    path = Path(state.config_path or os.environ.get("JIRACAMPAIGN_CONFIG") or config_path())
    save_settings(path, "jira", {"server": server, "project": project, "user": user, "auth": auth, **report.settings})
    click.echo(f"Saved to {path}: tracker jira, {flavour}, project {project}. The token is not saved there; "
               "keep it in the environment or run 'jiracampaign login'.")


@cli.command()
@click.option("--token-stdin", is_flag=True, help="Read the token from standard input instead of prompting.")
@click.pass_obj
def login(state: _State, token_stdin: bool) -> None:
    """Store your JIRA API token (Cloud) or personal access token (Data Center) in the OS keyring.

    The token is never written to a file or shown. Scripts and CI can instead set the
    environment variable named by jira.token_env (default JIRACAMPAIGN_JIRA_TOKEN).

    \b
    Example:
        jiracampaign --set jira.user=jdoe@example.org login
    """
    config = state.config
    if token_stdin:
        secret = sys.stdin.readline().strip()
    elif sys.stdin.isatty():
        secret = click.prompt("JIRA token", hide_input=True)
    else:
        raise JiraCampaignError("no terminal to ask for the token on; pipe it in with --token-stdin")
    account = store_secret(config, secret)
    click.echo(f"Stored the JIRA token for {account} in the OS keyring (service {config.get('jira.keyring_service')}).")


@cli.command("config")
@output_options
@click.pass_obj
def config_cmd(state: _State, fmt: str) -> None:
    """Show every setting, its effective value and where it came from.

    \b
    Example:
        JIRACAMPAIGN_TRACKER=jira jiracampaign config
    """
    config = state.config
    rows = [{"setting": name, "value": config.get(name), "source": source} for name, source in config.sources.items()]
    click.echo(render_rows(rows, [("setting", "SETTING"), ("value", "VALUE"), ("source", "SOURCE")], fmt), nl=False)


from . import cli_runs  # noqa: E402,F401  (registers the run commands on `cli`)


def main() -> None:
    """Console entry point."""
    cli.main(prog_name="jiracampaign")


if __name__ == "__main__":  # pragma: no cover
    main()

