"""The command line: the group, its global options, logging, and the one place errors are rendered.

Commands live in `campaign` (plan, create), `runs` (submit, record, sync, panda), `status` (status, show,
logs), `audit` and `setup` (init, login, config), among others; each parses its options, calls one service
and renders the result. They are
imported only when named, and import their services only when run, so ``--help`` stays light.
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback as tb

import click

from .. import __version__
from ..errors import ExitStatus, JiraCampaignError

__all__ = ["cli", "main", "State", "fail"]

COMMANDS = {
    "accept": "attempts:accept",
    "audit": "audit:audit",
    "board": "board:board",
    "config": "setup:config_cmd",
    "create": "campaign:create",
    "force-complete": "attempts:force_complete",
    "init": "setup:init",
    "login": "setup:login",
    "logs": "status:logs",
    "panda": "runs:panda",
    "plan": "campaign:plan",
    "record": "runs:record",
    "reject": "attempts:reject",
    "report": "report:report",
    "rescue": "attempts:rescue",
    "show": "status:show",
    "status": "status:status",
    "submit": "runs:submit",
    "sync": "runs:sync",
}
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("debug", "info", "warning", "error")


class State:
    """Global options, with the config loaded on first use."""

    def __init__(self, config_path: str | None, overrides: dict[str, str]):
        self.config_path, self.overrides = config_path, overrides
        self._config = None

    @property
    def config(self):
        return self.load()

    def load(self, missing_ok: bool = False):
        if self._config is None:
            from ..config import load_config

            self._config = load_config(self.config_path, overrides=self.overrides, missing_ok=missing_ok)
            for warning in self._config.warnings:
                click.echo(f"Warning: {warning}", err=True)
        return self._config


def fail(status: ExitStatus) -> None:
    """Leave with ``status`` (an outcome the command already reported, such as a refused submission)."""
    click.get_current_context().exit(int(status))


class _Group(click.Group):
    """Loads commands on demand; renders every `JiraCampaignError` once, as ``Error: ...`` with its exit status."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except JiraCampaignError as exc:
            if ctx.params.get("traceback"):
                click.echo(tb.format_exc(), err=True, nl=False)
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(int(exc.exit_status))
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(int(ExitStatus.INTERRUPTED))


def _parse_sets(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"expected SECTION.KEY=VALUE, got '{item}'")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def setup_logging(level: str, log_file: str | None) -> None:
    """Send jiracampaign's log records to standard error at ``level``, and to ``log_file`` at INFO or finer."""
    logger = logging.getLogger("jiracampaign")
    for handler in [h for h in logger.handlers if getattr(h, "_jiracampaign", False)]:
        logger.removeHandler(handler)
        handler.close()
    threshold = getattr(logging, level.upper())
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    handlers[0].setLevel(threshold)
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        handlers[1].setLevel(min(threshold, logging.INFO))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._jiracampaign = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(min(h.level for h in handlers))
    logger.propagate = False


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jiracampaign")
@click.option("--config", "config_path", metavar="FILE", type=click.Path(dir_okay=False),
              help="Config file. Precedence: this option, then $JIRACAMPAIGN_CONFIG, then ~/.config/jiracampaign/config.yaml.")
@click.option("--tracker", metavar="NAME",
              help="Where campaigns are recorded: local, jira, or a dotted module.Class path. Precedence: this option, "
                   "then $JIRACAMPAIGN_TRACKER, then the config file, then 'local'.")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", callback=_parse_sets,
              help="Override any setting for this command (highest precedence). Repeatable.")
@click.option("--log-level", type=click.Choice(LEVELS), default="error", show_default=True,
              help="Log messages of this level and above to standard error.")
@click.option("--debug", is_flag=True, help="Log everything to standard error (--log-level debug).")
@click.option("--log-file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Append one line per action, retry and wait (INFO and above) to FILE, e.g. for a cron sync.")
@click.option("--traceback", is_flag=True, help="Also show the full Python traceback of an error (the exit status stays).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, tracker: str | None, sets: dict[str, str], log_level: str,
        debug: bool, log_file: str | None, traceback: bool) -> None:
    """Generate, record, submit and follow Rubin processing campaigns.

    \b
    Example:
        jiracampaign plan examples/demo/campaign.yaml
    """
    setup_logging("debug" if debug else log_level, log_file)
    if tracker:
        sets = {**sets, "tracker": tracker}
    ctx.obj = State(config_path, sets)


def main() -> None:
    """Console entry point."""
    cli.main(prog_name="jiracampaign")


if __name__ == "__main__":  # pragma: no cover
    main()
