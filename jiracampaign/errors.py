"""The one error family jiracampaign raises, and the exit statuses the CLI maps it to."""

from __future__ import annotations

import enum

__all__ = [
    "ExitStatus",
    "JiraCampaignError",
    "InputError",
    "SpecError",
    "ConfigError",
    "CredentialError",
    "TemplateError",
    "PlanError",
    "TrackerError",
    "SourceError",
]


class ExitStatus(enum.IntEnum):
    """Process exit statuses; 2 is click's usage error."""

    OK = 0
    ERROR = 1
    USAGE = 2
    BAD_INPUT = 3
    CREDENTIALS = 4
    TRACKER = 5
    SOURCE = 6
    PARTIAL = 7  # what could be read was shown (and, by sync, written); some details were deferred
    INTERRUPTED = 130


class JiraCampaignError(Exception):
    """Base of every error jiracampaign reports to the user as one line.

    Parameters
    ----------
    message : `str`
        The complete sentence shown after ``Error:``; never contains a secret.
    """

    exit_status = ExitStatus.ERROR

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(JiraCampaignError):
    """A file the user wrote is wrong: names the file, line and field.

    Parameters
    ----------
    path : `str`
        The file, as the user named it.
    line : `int` or `None`
        1-based line of the offending key or value, when known.
    field : `str` or `None`
        Dotted path of the field (``steps[0].split.size``).
    problem : `str`
        What was expected and what was found.
    """

    exit_status = ExitStatus.BAD_INPUT

    def __init__(self, path: str, line: int | None, field: str | None, problem: str):
        where = str(path) if line is None else f"{path}:{line}"
        text = f"{where}: {field}: {problem}" if field else f"{where}: {problem}"
        super().__init__(text)
        self.path, self.line, self.field, self.problem = str(path), line, field, problem


class SpecError(InputError):
    """The campaign spec is malformed or inconsistent."""


class ConfigError(InputError):
    """A configuration file or setting is wrong."""


class TemplateError(InputError):
    """A BPS template failed to render (undefined variable, syntax error, invalid YAML)."""


class CredentialError(JiraCampaignError):
    """No secret could be found, or it could not be stored."""

    exit_status = ExitStatus.CREDENTIALS


class PlanError(JiraCampaignError):
    """The campaign folder cannot be written as asked."""


class TrackerError(JiraCampaignError):
    """The tracker (JIRA or the local store) refused or failed an operation; one line, no secrets."""

    exit_status = ExitStatus.TRACKER


class SourceError(JiraCampaignError):
    """A status source (the PanDA monitor, BPS) could not answer at all; one line, what to do next."""

    exit_status = ExitStatus.SOURCE
