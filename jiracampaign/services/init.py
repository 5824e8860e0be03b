"""``init`` and ``login``: connect to a JIRA, check what jiracampaign needs, save what was learned in the config
file, and keep the token in a keyring once the server has accepted it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Config, user_config_file
from ..errors import ConfigError, CredentialError
from ..schema import url_problem
from ..trackers.jira.client import JiraClient
from ..trackers.jira.credentials import find_secret_and_origin, keyring_choice, store_secret
from ..trackers.jira.setup import detect_flavour, inspect, save_settings

__all__ = ["InitResult", "init", "LoginResult", "login", "check_token"]

log = logging.getLogger(__name__)


@dataclass
class InitResult:
    path: Path
    flavour: str
    project: str
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    token: str = ""  # where the token is kept afterwards, for the closing line (never the token itself)


def init(config: Config, server: str, ask: Callable[[str, str], str], auth: str | None, hierarchy: str | None,
         interactive: bool, config_file: str | None = None,
         confirm: Callable[[str], bool] | None = None, allow_plaintext: bool = False) -> InitResult:
    """Inspect the JIRA project and save the settings; nothing is saved when something is missing.

    ``ask(setting, question)`` gives the project and user (from options, config or a prompt), asked
    once the server answered like JIRA. A token typed at the prompt is offered for the keyring
    (``confirm(question)``) once JIRA has accepted it and the settings are saved.

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
    secret, origin = find_secret_and_origin(config, interactive=interactive)
    client = JiraClient(server, auth, user, secret, timeout=config.get("jira.timeout"),
                        max_retries=config.get("jira.max_retries"))
    try:
        report = inspect(client, project, hierarchy)
    finally:
        client.close()
    path = user_config_file(config_file)
    result = InitResult(path, flavour, project, report.facts, report.problems)
    if report.problems:
        return result
    save_settings(path, "jira", {"server": server, "project": project, "user": user, "auth": auth,
                                 **report.settings})
    log.info("saved the JIRA settings to %s", path)
    var = config.get("jira.token_env")
    result.token = {"environment": f"The token stays in the environment variable {var}, not in the file.",
                    "keyring": "The token stays in the keyring, not in the file."}.get(origin, "")
    if origin == "prompt":
        choice = keyring_choice(allow_plaintext)
        storable = choice.problem is None or allow_plaintext and not choice.problem.startswith("stores nothing")
        if not storable:
            result.token = (f"The token is not saved: the keyring backend here, {choice.name}, {choice.problem}; "
                            f"keep it in the environment variable {var} (see docs/config.md, 'Headless machines').")
        elif confirm is not None and confirm(f"JIRA accepted the token. Store it in the keyring {choice.name}?"):
            try:
                account, used = store_secret(config, secret, allow_plaintext)
            except CredentialError as exc:
                result.token = f"The token was not stored: {exc}"
            else:
                result.token = f"Stored the JIRA token for {account} in the keyring {used.name}."
        else:
            result.token = (f"The token is not saved; keep it in the environment variable {var} "
                            "or run 'jiracampaign login'.")
    return result


@dataclass
class LoginResult:
    account: str
    backend: str  # the keyring backend the token went to
    warning: str | None  # why that backend is unsafe, when the user allowed it anyway
    signed_in_as: str | None  # None: not checked (--no-verify)


def check_token(config: Config, secret: str) -> str:
    """Ask the configured JIRA who the token belongs to (``GET myself``); return the display name.

    Raises
    ------
    ConfigError
        No server configured to check against.
    CredentialError
        JIRA refused the token (the message names a flavour or auth mismatch when there is one).
    """
    server = config.get("jira.server")
    if not server:
        raise ConfigError("config", None, "jira.server", "is empty, so the token cannot be checked: run "
                          "'jiracampaign init' (it can store the token too), set jira.server, or pass --no-verify")
    client = JiraClient(server, config.get("jira.auth"), config.get("jira.user"), secret,
                        timeout=config.get("jira.timeout"), max_retries=config.get("jira.max_retries"),
                        flavour=config.get("jira.flavour"))
    try:
        me = client.get("check the token", "myself")
    finally:
        client.close()
    return str(me.get("displayName") or me.get("name") or me.get("accountId") or config.get("jira.user"))


def login(config: Config, secret: str, verify: bool = True, allow_plaintext: bool = False) -> LoginResult:
    """Check the token against JIRA (unless ``verify`` is false), then store it in the keyring.

    Nothing is stored when JIRA refuses the token or when the only keyring here keeps it in plain
    text (unless ``allow_plaintext``).
    """
    if not secret or not secret.strip():
        raise CredentialError("the token is empty; nothing was stored")
    who = check_token(config, secret.strip()) if verify else None
    account, choice = store_secret(config, secret, allow_plaintext)
    log.info("stored the JIRA token for %s in %s", account, choice.name)
    return LoginResult(account, choice.name, choice.problem, who)
