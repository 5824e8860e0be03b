"""``init``: connect to a JIRA, check what jiracampaign needs, and save what was learned in the config file."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Config, user_config_file
from ..errors import ConfigError
from ..schema import url_problem
from ..trackers.jira.client import JiraClient
from ..trackers.jira.credentials import find_secret
from ..trackers.jira.setup import detect_flavour, inspect, save_settings

__all__ = ["InitResult", "init"]

log = logging.getLogger(__name__)


@dataclass
class InitResult:
    path: Path
    flavour: str
    project: str
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def init(config: Config, server: str, ask: Callable[[str, str], str], auth: str | None, hierarchy: str | None,
         interactive: bool, config_file: str | None = None) -> InitResult:
    """Inspect the JIRA project and save the settings; nothing is saved when something is missing.

    ``ask(setting, question)`` gives the project and user (from options, config or a prompt), asked
    once the server answered like JIRA.

    Raises
    ------
    TrackerError
        Something jiracampaign needs is missing (the result's problems, listed before, say what).
    """
    server = server.strip().rstrip("/")
    if problem := url_problem(server):
        raise ConfigError("command line", None, "jira.server", problem)
    flavour = detect_flavour(server, config.get("jira.timeout"))
    project = ask("jira.project", "Project key")
    user = ask("jira.user", "Account e-mail (Cloud) or user name")
    auth = auth or ("basic" if flavour == "cloud" else "token")
    hierarchy = hierarchy or config.get("jira.hierarchy")
    for name, value in (("jira.server", server), ("jira.project", project), ("jira.user", user), ("jira.auth", auth)):
        config.set(name, value, "init")
    secret = find_secret(config, interactive=interactive)
    client = JiraClient(server, auth, user, secret, timeout=config.get("jira.timeout"),
                        max_retries=config.get("jira.max_retries"))
    try:
        report = inspect(client, project, hierarchy)
    finally:
        client.close()
    path = user_config_file(config_file)
    result = InitResult(path, flavour, project, report.facts, report.problems)
    if not report.problems:
        save_settings(path, "jira", {"server": server, "project": project, "user": user, "auth": auth,
                                     **report.settings})
        log.info("saved the JIRA settings to %s", path)
    return result
