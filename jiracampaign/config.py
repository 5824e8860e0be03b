"""Layered configuration: packaged defaults, then the config file, then environment, then command line."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError
from .schema import Key, check_section, describe_kind
from .yamlsrc import load_located

__all__ = ["CONFIG_KEYS", "Config", "load_config", "config_path", "data_dir", "env_var", "leaf_keys"]

_RUN_STATES = (  # BatchState values and what they mean for the ticket (see docs/states.md)
    ("pending", "accepted but not started"),
    ("running", "running (also set by `submit` and `record`)"),
    ("succeeded", "that succeeded"),
    ("partial", "that ended with some inputs failed (to review)"),
    ("failed", "that failed"),
    ("held", "held or suspended (an operator must act)"),
    ("cancelled", "that was cancelled"),
)

CONFIG_KEYS: tuple[Key, ...] = (
    Key("tracker", "str", "Where campaigns are recorded: `local` (embedded SQLite store) or `jira`.",
        choices=("local", "jira")),
    Key("campaigns_dir", "str", "Folder under which `plan` writes campaign folders (relative to the working directory)."),
    Key("local", "section", "The embedded local store.", keys=(
        Key("path", "str", "SQLite file; empty means `$XDG_DATA_HOME/jiracampaign/campaigns.sqlite`."),
    )),
    Key("jira", "section", "The JIRA server campaigns are recorded in.", keys=(
        Key("server", "str", "Base URL, e.g. https://rubinobs.atlassian.net."),
        Key("project", "str", "Project key the epics and tickets go in, e.g. PREOPS."),
        Key("flavour", "str", "`cloud`, `datacenter`, or `auto` to ask the server.", choices=("auto", "cloud", "datacenter")),
        Key("auth", "str", "`basic`: e-mail + API token (Cloud); `token`: personal access token sent as Bearer (Data Center).",
            choices=("basic", "token")),
        Key("user", "str", "Account e-mail (Cloud) or user name; also names the keyring entry."),
        Key("token_env", "str", "Name of the environment variable holding the API token or PAT (never the token itself)."),
        Key("keyring_service", "str", "OS keyring service under which `jiracampaign login` stores the token."),
        Key("timeout", "posint", "Seconds before a JIRA request times out."),
        Key("max_retries", "int", "Retries on 429, 5xx, timeouts and lost connections (writes are checked before being repeated)."),
        Key("hierarchy", "str", "`task`: epic -> one task per submission; `subtask`: epic -> one task per step -> one sub-task per submission.",
            choices=("task", "subtask")),
        Key("epic_type", "str", "Id of the Epic issue type (found by `jiracampaign init`; empty: found at run time)."),
        Key("task_type", "str", "Id of the issue type of a submission (or step) ticket, e.g. Task."),
        Key("subtask_type", "str", "Id of the sub-task issue type (hierarchy `subtask`)."),
        Key("epic_link_field", "str", "Data Center: id of the Epic Link custom field (found by schema, not by its translated name)."),
        Key("epic_name_field", "str", "Data Center: id of the Epic Name custom field."),
    )),
    Key("panda", "section", "The PanDA monitor (BigPanDA) runs are followed on.", keys=(
        Key("monitor_url", "str", "Monitor base URL, e.g. https://usdf-panda-bigmon.slac.stanford.edu:8443."),
        Key("requests_per_hour", "posint", "Request budget shared by every jiracampaign process on this machine."),
        Key("timeout", "posint", "Seconds before a monitor request times out."),
        Key("max_retries", "int", "Retries on 429 (after its Retry-After), 5xx, timeouts and lost connections."),
        Key("days", "posint", "Smallest look-back window in days; widened automatically to reach the oldest open run."),
        Key("max_failed_jobs", "posint", "Failed jobs read per run for the failure summary."),
        Key("username", "str", "Only runs submitted by this PanDA user (empty: any user)."),
    )),
    Key("sync", "section", "What `sync` writes to tickets.", keys=(
        *(Key(f"{state}_status", "str", f"Ticket status(es) for a run {meaning}; comma-separated, the first reachable wins.")
          for state, meaning in _RUN_STATES),
        Key("known_errors", "str", "YAML file of your own known errors, tried before the packaged ones (see docs/sync.md)."),
    )),
    Key("bps", "section", "The BPS command line.", keys=(
        Key("command", "str", "Command used to submit: `bps`, or a path or wrapper."),
    )),
)

_SECRET_WORDS = ("token", "password", "secret", "apikey", "api_key", "pat")
_SECRET_HINT = (
    "secrets never go in the config file: put the token in the environment variable named by "
    "jira.token_env, or run 'jiracampaign login' to keep it in the OS keyring"
)


def leaf_keys(keys: tuple[Key, ...] = CONFIG_KEYS, prefix: str = "") -> list[tuple[str, Key]]:
    """Every setting as ``(dotted.name, Key)``."""
    out = []
    for key in keys:
        name = f"{prefix}{key.name}"
        if key.kind == "section":
            out.extend(leaf_keys(key.keys, name + "."))
        else:
            out.append((name, key))
    return out


def env_var(dotted: str) -> str:
    """Environment variable that overrides a setting: ``jira.server`` -> ``JIRACAMPAIGN_JIRA_SERVER``."""
    return "JIRACAMPAIGN_" + dotted.replace(".", "_").upper()


def _xdg(var: str, fallback: str, env: Mapping[str, str]) -> Path:
    value = env.get(var)
    return Path(value) if value else Path(env.get("HOME", str(Path.home()))) / fallback


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    """Default config file: ``$XDG_CONFIG_HOME/jiracampaign/config.yaml``."""
    return _xdg("XDG_CONFIG_HOME", ".config", env) / "jiracampaign" / "config.yaml"


def data_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Per-user data folder: ``$XDG_DATA_HOME/jiracampaign``."""
    return _xdg("XDG_DATA_HOME", ".local/share", env) / "jiracampaign"


@dataclass
class Config:
    """Effective settings and where each came from."""

    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    file: Path | None = None

    def get(self, dotted: str) -> Any:
        """Value of ``section.key``."""
        node: Any = self.values
        for part in dotted.split("."):
            node = node[part]
        return node

    def set(self, dotted: str, value: Any, source: str) -> None:
        """Override one setting."""
        *parents, last = dotted.split(".")
        node = self.values
        for part in parents:
            node = node[part]
        node[last] = value
        self.sources[dotted] = source


def _parse_text(dotted: str, key: Key, text: str, where: str, field_name: str) -> Any:
    value: Any = text
    if key.kind in ("int", "posint"):
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(where, None, field_name, f"expected {describe_kind(key.kind)}, got '{text}'") from None
        if key.kind == "posint" and value <= 0:
            raise ConfigError(where, None, field_name, f"expected {describe_kind(key.kind)}, got '{text}'")
    if key.choices and value not in key.choices:
        allowed = ", ".join(repr(c) for c in key.choices)
        raise ConfigError(where, None, field_name, f"expected one of {allowed}, got '{text}'")
    return value


def _reject_secrets(src, node: Any, path: tuple = ()) -> None:
    if isinstance(node, dict):
        for name, value in node.items():
            lowered = str(name).lower()
            if lowered in _SECRET_WORDS or any(lowered.endswith("_" + word) for word in _SECRET_WORDS):
                raise src.fail(path + (name,), _SECRET_HINT)
            _reject_secrets(src, value, path + (name,))


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] = os.environ,
    overrides: Mapping[str, str] | None = None,
    missing_ok: bool = False,
) -> Config:
    """Build the effective configuration.

    Parameters
    ----------
    path : `str` or `pathlib.Path`, optional
        Config file from ``--config``; else ``JIRACAMPAIGN_CONFIG``; else the XDG default.
        A file named explicitly must exist; the default one may be absent.
    env : mapping
        Environment to read ``JIRACAMPAIGN_*`` overrides from.
    overrides : mapping, optional
        ``section.key`` to text, from the command line (highest precedence).
    missing_ok : `bool`
        Accept an explicitly named file that does not exist yet (``init`` creates it).

    Returns
    -------
    config : `Config`

    Raises
    ------
    ConfigError
        Unknown or mistyped setting, a secret in the file, or a named file that is missing.
    """
    defaults_file = files("jiracampaign") / "etc" / "defaults.yaml"
    defaults = load_located("jiracampaign/etc/defaults.yaml", ConfigError, text=defaults_file.read_text(encoding="utf-8"))
    config = Config(check_section(defaults, (), defaults.data, CONFIG_KEYS, "setting"))
    leaves = dict(leaf_keys())
    config.sources = {name: "default" for name in leaves}

    explicit = path or env.get("JIRACAMPAIGN_CONFIG")
    file = Path(explicit) if explicit else config_path(env)
    if file.exists() or (explicit and not missing_ok):
        src = load_located(file, ConfigError)
        if src.data is not None:
            if not isinstance(src.data, dict):
                raise src.fail((), "expected a mapping of settings")
            _reject_secrets(src, src.data)
            check_section(src, (), src.data, CONFIG_KEYS, "setting")
            for name in leaves:
                node: Any = src.data
                for part in name.split("."):
                    node = node.get(part) if isinstance(node, dict) else None
                if node is not None:
                    parts = tuple(name.split("."))
                    config.set(name, node, f"{file}:{src.line(parts)}")
        config.file = file

    for name, key in leaves.items():
        var = env_var(name)
        if var in env:
            config.set(name, _parse_text(name, key, env[var], "environment", var), f"environment {var}")
    for name, text in (overrides or {}).items():
        if name not in leaves:
            raise ConfigError("command line", None, name, f"unknown setting; expected one of: {', '.join(leaves)}")
        config.set(name, _parse_text(name, leaves[name], text, "command line", name), "command line")
    return config
