"""Layered configuration: packaged defaults, then the config file, then environment, then command line."""

from __future__ import annotations

import copy
import difflib
import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError
from .plugins import TRACKERS, builtin_settings, plugin_settings
from .schema import Key, check_section, describe_kind, url_problem
from .yamlsrc import load_located

__all__ = ["CONFIG_KEYS", "Config", "load_config", "config_path", "data_dir", "env_var", "leaf_keys",
           "user_config_file", "read_config_file", "check_config_data", "write_config_file", "set_in_file"]

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
    Key("tracker", "str", "Where campaigns are recorded: `local` (embedded SQLite store), `jira`, or the dotted "
        "`module.Class` path of a tracker of your own."),
    Key("campaigns_dir", "str", "Folder under which `plan` writes campaign folders (relative to the working directory)."),
    *builtin_settings(),
    Key("sync", "section", "What `sync` writes to tickets.", keys=(
        Key("sources", "str", "Status sources to ask, comma-separated: `panda` (the PanDA monitor), `bps` (HTCondor "
            "and Parsl runs through the Rubin stack), or the dotted `module.Class` path of a source of your own; each "
            "follows the workload systems it declares."),
        *(Key(f"{state}_status", "str", f"Ticket status(es) for a run {meaning}; comma-separated, the first reachable wins.")
          for state, meaning in _RUN_STATES),
        Key("verdict_status", "str", "Ticket status(es) for a submission settled by a verdict (accepted, rejected, "
            "force-completed, rescued by a later attempt); comma-separated, the first reachable wins (else any status "
            "in the Done category). The verdict is also a label, `jc-<verdict>`."),
        Key("known_errors", "str", "YAML file of your own known errors, tried before the packaged ones (see docs/sync.md)."),
        Key("check_minutes", "number", "How often (at most) a sync reads every ticket of a campaign to correct a status "
            "that does not show its run's state and fold notes or digests written twice; in between, an idle sync "
            "reads only the campaign ticket and its digest."),
        Key("lease_minutes", "number", "How long a sync's lease on a campaign lasts at most: another machine's sync skips "
            "the campaign while it is live (a finished sync releases it at once)."),
    )),
    Key("status", "section", "What `status`, `show` and `logs` show.", keys=(
        Key("stuck_hours", "number", "A run that has not ended is shown as stuck when sync has seen no progress in "
            "it (state or counts) for longer than this many hours."),
        Key("expected_hours", "str", "How long each step's runs are expected to take, in hours: `step1=6, step2=24` "
            "(`*=48` for the steps not named), or one number for every step; a run still going past it is shown as "
            "stuck. Empty: no expectation."),
        Key("tail_bytes", "posint", "`logs --tail` reads at most this many bytes from the end of each log (a web "
            "server that ignores range requests: at most 16 times as many from its start)."),
    )),
    Key("bps", "section", "The BPS command line.", keys=(
        Key("command", "str", "Command used to submit: `bps`, or a path or wrapper."),
        Key("python", "str", "The Rubin stack's Python (>= 3.12, with lsst-ctrl-bps), used to read BPS runs and "
            "quantum provenance; default: the interpreter named on the first line of `bps.command`, or this "
            "Python when it can import lsst.ctrl.bps."),
        Key("helper_timeout", "number", "Seconds one call of the stack's helper may take."),
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
    warnings: list[str] = field(default_factory=list)  # for the user, e.g. a misspelt JIRACAMPAIGN_* variable

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
    elif key.kind == "number":
        try:
            value = float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise ConfigError(where, None, field_name, f"expected {describe_kind(key.kind)}, got '{text}'")
    elif key.kind == "url" and (problem := url_problem(text)):
        raise ConfigError(where, None, field_name, problem)
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


def _plugin_name(src, path: tuple, name: object, aliases: dict, where: str) -> None:
    """A plug-in is named by alias or dotted ``module.Class`` path."""
    if name in aliases or (isinstance(name, str) and "." in name.strip(".")):
        return
    problem = f"expected one of {', '.join(repr(a) for a in aliases)}, or a dotted module.Class path, got '{name}'"
    if src is not None:
        raise src.fail(path, problem)
    raise ConfigError(where, None, ".".join(path), problem)


def _declared_by_plugins(src, data: dict, env: Mapping[str, str], overrides: Mapping[str, str]) -> tuple[Key, ...]:
    """Setting sections of the plug-ins named by dotted path (the tracker, the status sources)."""
    tracker, where = next(((value, where) for where, value in (
        ("command line", overrides.get("tracker")), ("environment", env.get(env_var("tracker"))),
        ("file", data.get("tracker"))) if value), ("", ""))
    if tracker:
        _plugin_name(src if where == "file" else None, ("tracker",), tracker, TRACKERS, where)
    sync = data.get("sync") if isinstance(data.get("sync"), dict) else {}
    sources = overrides.get("sync.sources") or env.get(env_var("sync.sources")) or sync.get("sources") or ""
    named = [(str(tracker), "tracker")] + [(part.strip(), "sync.sources") for part in str(sources).split(",")]
    return plugin_settings([(name, setting) for name, setting in named if name])


# JIRACAMPAIGN_* variables that are not settings: the config file's name, the token's default variable (even
# when jira.token_env names another), and the test suite's own switches
_OTHER_VARIABLES = ("JIRACAMPAIGN_CONFIG", "JIRACAMPAIGN_JIRA_TOKEN")
_OTHER_PREFIXES = ("JIRACAMPAIGN_LIVE_", "JIRACAMPAIGN_RECORD_")


def _unknown_variables(env: Mapping[str, str], leaves: Mapping[str, Key], config: Config) -> list[str]:
    """A warning for each ``JIRACAMPAIGN_*`` variable that sets nothing (a misspelt name is otherwise silently ignored)."""
    known = {env_var(name) for name in leaves} | set(_OTHER_VARIABLES)
    if "jira.token_env" in leaves:  # the token's own variable (JIRACAMPAIGN_JIRA_TOKEN unless renamed)
        known.add(str(config.get("jira.token_env") or ""))
    out = []
    for var in sorted(env):
        if not var.startswith("JIRACAMPAIGN_") or var in known or var.startswith(_OTHER_PREFIXES):
            continue
        suffixes = {name[len("JIRACAMPAIGN_"):]: name for name in known if name.startswith("JIRACAMPAIGN_")}
        close = difflib.get_close_matches(var[len("JIRACAMPAIGN_"):], sorted(suffixes), n=1, cutoff=0.75)
        hint = f"did you mean {suffixes[close[0]]}?" if close else "'jiracampaign config' lists the settings"
        out.append(f"the environment variable {var} is not a jiracampaign setting and is ignored; {hint}")
    return out


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
    overrides = dict(overrides or {})
    explicit = path or env.get("JIRACAMPAIGN_CONFIG")
    file = Path(explicit) if explicit else config_path(env)
    src = load_located(file, ConfigError) if file.exists() or (explicit and not missing_ok) else None
    data = src.data if src is not None else None
    if src is not None and data is not None and not isinstance(data, dict):
        raise src.fail((), "expected a mapping of settings")
    keys = CONFIG_KEYS + _declared_by_plugins(src, data or {}, env, overrides)

    defaults_file = files("jiracampaign") / "etc" / "defaults.yaml"
    defaults = load_located("jiracampaign/etc/defaults.yaml", ConfigError, text=defaults_file.read_text(encoding="utf-8"))
    config = Config(check_section(defaults, (), defaults.data, keys, "setting"))
    leaves = dict(leaf_keys(keys))
    config.sources = {name: "default" for name in leaves}

    if src is not None:
        if data is not None:
            _reject_secrets(src, data)
            check_section(src, (), data, keys, "setting")
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
    for name, text in overrides.items():
        if name not in leaves:
            raise ConfigError("command line", None, name, f"unknown setting; expected one of: {', '.join(leaves)}")
        config.set(name, _parse_text(name, leaves[name], text, "command line", name), "command line")
    config.warnings += _unknown_variables(env, leaves, config)
    return config


# ---- the user's config file, as `init` and `config set` write it ------------------------------------------

FILE_HEADER = "# Written by 'jiracampaign init' / 'jiracampaign config set'; see config.example.yaml for every setting.\n"


def user_config_file(explicit: str | Path | None = None, env: Mapping[str, str] = os.environ) -> Path:
    """The file ``init`` and ``config set`` write: ``--config``, else ``JIRACAMPAIGN_CONFIG``, else the XDG default."""
    return Path(explicit or env.get("JIRACAMPAIGN_CONFIG") or config_path(env))


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_WORDS or any(lowered.endswith("_" + word) for word in _SECRET_WORDS)


def read_config_file(path: Path) -> dict:
    """The settings mapping of an existing config file (empty when there is none); bad YAML is a `ConfigError`."""
    if not Path(path).exists():
        return {}
    src = load_located(path, ConfigError)
    if src.data is not None and not isinstance(src.data, dict):
        raise src.fail((), "expected a mapping of settings")
    return src.data or {}


def check_config_data(data: dict, error) -> None:
    """Validate settings exactly as `load_config` validates a file (same checks, same messages).

    ``error(path, line, field, problem)`` builds the error, so a caller can say where the data came from.
    """
    import yaml

    src = load_located("config", error, text=yaml.safe_dump(data, sort_keys=False))
    _reject_secrets(src, src.data)
    keys = CONFIG_KEYS + _declared_by_plugins(src, src.data or {}, {}, {})
    check_section(src, (), src.data, keys, "setting")


def write_config_file(path: Path, data: dict) -> None:
    """Write settings atomically, readable only by you (the token never goes there: `check_config_data` refuses it)."""
    import tempfile

    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(FILE_HEADER)
            yaml.safe_dump(data, out, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def set_in_file(path: Path, dotted: str, text: str) -> Any:
    """Save one setting in the config file, validated as the file is when loaded; return the value saved.

    ``text`` is read as a YAML value, as it would be written in the file (``30`` is a number, ``true`` a boolean).

    Raises
    ------
    ConfigError
        An unknown or mistyped setting, a secret, or a config file that is already invalid; nothing is written.
    """
    import yaml

    where = "config set"
    parts = [p for p in dotted.strip().split(".")]
    if not all(parts):
        raise ConfigError(where, None, dotted, "expected SECTION.KEY, e.g. panda.monitor_url")
    if any(_is_secret_name(p) for p in parts):
        raise ConfigError(where, None, dotted, _SECRET_HINT)
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except (yaml.YAMLError, ValueError):
        value = text
    if value is None:
        value = ""
    data = read_config_file(path)
    merged = copy.deepcopy(data)
    node = merged
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {} if node.get(part) is None else node[part]
        node = node[part]
        if not isinstance(node, dict):
            break
    else:
        node[parts[-1]] = value
    check_config_data(merged, lambda _path, _line, field, problem: ConfigError(where, None, field or dotted, problem))
    if not isinstance(node, dict):  # an existing non-mapping in the way (check_config_data reports it first)
        raise ConfigError(where, None, dotted, "cannot be set: its section is not a mapping in the file")
    write_config_file(path, merged)
    return value
