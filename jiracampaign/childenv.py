"""The environment given to child processes (``bps``, the stack helper): never a jiracampaign secret.

A child gets this process's environment without any ``JIRACAMPAIGN_*`` setting and without the
variables that may hold a secret (the one named by ``jira.token_env``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config

__all__ = ["child_environment", "secret_variables"]


def secret_variables(config: "Config") -> tuple[str, ...]:
    """Names of environment variables that may hold a jiracampaign secret (the JIRA token's)."""
    try:
        name = config.get("jira.token_env")
    except (KeyError, TypeError):
        return ()
    return (name,) if isinstance(name, str) and name else ()


def child_environment(secret_names: tuple[str, ...] = (), environ: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment, without ``JIRACAMPAIGN_*`` settings or the named secrets."""
    environ = os.environ if environ is None else environ
    hidden = set(secret_names)
    return {k: v for k, v in environ.items() if not k.startswith("JIRACAMPAIGN_") and k not in hidden}
