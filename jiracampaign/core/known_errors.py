"""Known job errors: patterns with a meaning and an advised action, applied to failure groups.

The packaged table (``jiracampaign/etc/known_errors.yaml``) holds common cases; operators add their
own (e.g. "known pipeline bug DM-12345: accept") in the file named by ``sync.known_errors``, whose
entries are tried first. A failure group no entry matches is marked for review.

An entry matches a group by task label, by ``error`` (``kind:code`` as the source writes it: a PanDA
component and code), by ``exception`` (the exception type a quantum raised, from quantum provenance:
the group's kind, matched by its full name or by the part after the last dot) and by ``diagnostic``
(a regular expression searched in the message). Every key given must match.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from ..errors import ConfigError
from ..schema import Key, check_section
from ..yamlsrc import load_located
from .runs import FailureGroup

__all__ = ["KnownError", "KNOWN_ERROR_KEYS", "ACTIONS", "load_known_errors", "classify", "advised_rescue"]

ACTIONS = ("rescue", "retry", "accept", "investigate")

#: PanDA job error components as the monitor writes them (``exe:137``, ``transformation:1``), and the other
#: spellings found in newer monitors and older tables; an entry written either way matches
_KIND_ALIASES = {"dataservice": "ddm", "executor": "exe", "supervisor": "sup", "transform": "transformation",
                 "trans": "transformation"}


def _canonical(error: str) -> str:
    """``transform:137`` -> ``transformation:137`` (patterns too: ``executor:*`` -> ``exe:*``)."""
    kind, sep, code = error.partition(":")
    return _KIND_ALIASES.get(kind.strip().casefold(), kind.strip()) + sep + code

KNOWN_ERROR_KEYS: tuple[Key, ...] = (
    Key("label", "str", "Task label, a glob (`*` for any).", default="*"),
    Key("error", "str", "`kind:code` as the source writes it (`pilot:1305`, `exe:137`, `transformation:1` on "
        "PanDA), a glob (`pilot:*`).", default="*"),
    Key("exception", "str", "Exception type a quantum raised (quantum provenance), a glob matched against its full "
        "and its short name (`MemoryError`, `*NoWorkFound`).", default=""),
    Key("diagnostic", "str", "Regular expression searched in the error message, case-insensitive.", default=""),
    Key("meaning", "str", "What happened.", required=True),
    Key("action", "str", "What kind of action it needs.", required=True, choices=ACTIONS),
    Key("advice", "str", "What to do, in words.", required=True),
    Key("ticket", "str", "A JIRA issue describing it, e.g. DM-12345.", default=""),
    Key("rescue", "str", "For action `rescue`: the options of `jiracampaign rescue` it advises for the failed tasks "
        "(`--memory x2`, `--memory 8GB`, `--retries 3`); `rescue --advised` applies them.", default=""),
)

_RESCUE = re.compile(r"^\s*(--memory\s+(x\d+(\.\d+)?|\d+(\.\d+)?\s*(MB|GB)?)|--retries\s+\d+)"
                     r"(\s+(--memory\s+(x\d+(\.\d+)?|\d+(\.\d+)?\s*(MB|GB)?)|--retries\s+\d+))*\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class KnownError:
    """One row of the table."""

    label: str
    error: str
    diagnostic: re.Pattern | None
    meaning: str
    action: str
    advice: str
    ticket: str = ""
    origin: str = ""
    exception: str = ""
    rescue: str = ""

    def matches(self, group: FailureGroup) -> bool:
        errors = [_canonical(e) for e in [group.error] + [e.strip() for e in group.also.split(",") if e.strip()]]
        pattern = _canonical(self.error)
        return (fnmatch.fnmatchcase(group.label, self.label)
                and any(fnmatch.fnmatchcase(e, pattern) for e in errors)
                and (not self.exception or _exception_matches(group.kind, self.exception))
                and (self.diagnostic is None or bool(self.diagnostic.search(group.message))))


def _exception_matches(kind: str, pattern: str) -> bool:
    """An exception type glob against a group's kind, by its full name or the part after the last dot."""
    names = {kind, kind.rsplit(".", 1)[-1]}
    return any(fnmatch.fnmatchcase(name, pattern) for name in names)


def _load(name: str, text: str | None = None, path: Path | None = None) -> list[KnownError]:
    src = load_located(path or name, ConfigError, text=text)
    if src.data is None:
        return []
    if not isinstance(src.data, list):
        raise src.fail((), "expected a list of known errors")
    out = []
    for i, raw in enumerate(src.data):
        if not isinstance(raw, dict):
            raise src.fail((i,), "expected a mapping with meaning, action and advice")
        row = check_section(src, (i,), raw, KNOWN_ERROR_KEYS)
        try:
            pattern = re.compile(row["diagnostic"], re.IGNORECASE) if row["diagnostic"] else None
        except re.error as exc:
            raise src.fail((i, "diagnostic"), f"is not a valid regular expression: {exc}") from None
        if row["rescue"] and not _RESCUE.match(row["rescue"]):
            raise src.fail((i, "rescue"), f"'{row['rescue']}': expected rescue options --memory x<factor>, "
                           "--memory <MB> or --retries <n>")
        if row["rescue"] and row["action"] != "rescue":
            raise src.fail((i, "rescue"), f"is only for action rescue (this entry's action is {row['action']})")
        out.append(KnownError(row["label"], row["error"], pattern, row["meaning"], row["action"], row["advice"],
                              row["ticket"], f"{src.path}:{src.line((i,))}", row["exception"], row["rescue"]))
    return out


def load_known_errors(user_file: str | Path | None = None) -> list[KnownError]:
    """The user's table (when given) followed by the packaged one."""
    packaged = files("jiracampaign") / "etc" / "known_errors.yaml"
    table = _load("jiracampaign/etc/known_errors.yaml", text=packaged.read_text(encoding="utf-8"))
    if user_file:
        path = Path(user_file).expanduser()
        if not path.exists():
            raise ConfigError("config", None, "sync.known_errors", f"file {path} does not exist")
        table = _load(str(path), path=path) + table
    return table


def classify(group: FailureGroup, table: list[KnownError]) -> KnownError | None:
    """The first known error matching the group, or `None` (to be reviewed)."""
    return next((row for row in table if row.matches(group)), None)


def advised_rescue(groups: list[FailureGroup], table: list[KnownError]) -> str:
    """The rescue options the table advises for a run's failures, for the tasks they concern
    (``--memory x2 --task isr``); empty when no failure has a rescue advice, or one needs review.

    A run with a failure the table does not know, or one it says to investigate, gets no advice:
    a rescue would be a guess.
    """
    options: dict[str, None] = {}
    tasks: dict[str, None] = {}
    for group in groups:
        row = classify(group, table)
        if row is None or row.action == "investigate":
            return ""
        if row.action == "rescue" and row.rescue:
            options.update(dict.fromkeys(row.rescue.split("--")[1:]))
            if "memory" in row.rescue:
                tasks[group.label] = None
    words = ["--" + o.strip() for o in options]
    if len({w.split()[0] for w in words}) != len(words):  # two different amounts for one option: no advice
        return ""
    return " ".join(words + [f"--task {t}" for t in tasks if t])
