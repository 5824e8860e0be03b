"""Find the JIRA secret (API token or personal access token): environment, then OS keyring, then a prompt.

A secret is never written to a file, a log or an error message by this module.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Mapping
from urllib.parse import urlsplit

from ...config import Config
from ...errors import CredentialError

__all__ = ["keyring_account", "find_secret", "store_secret"]


def keyring_account(config: Config) -> str:
    """Keyring user name for the configured account: ``user@host`` (or the host alone)."""
    host = urlsplit(config.get("jira.server")).netloc or config.get("jira.server") or "jira"
    user = config.get("jira.user")
    return f"{user}@{host}" if user else host


def _keyring_get(service: str, account: str) -> str | None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:  # pragma: no cover - keyring is a declared dependency
        return None
    try:
        return keyring.get_password(service, account)
    except (KeyringError, RuntimeError, OSError):
        return None


def find_secret(
    config: Config,
    env: Mapping[str, str] = os.environ,
    prompt: Callable[[str], str] | None = None,
    interactive: bool | None = None,
) -> str:
    """Return the JIRA secret.

    Parameters
    ----------
    config : `Config`
        Names the environment variable, keyring service and account.
    env : mapping
        Environment to read.
    prompt : callable, optional
        Asks for the secret with hidden input; default `click.prompt`.
    interactive : `bool`, optional
        Whether standard input is a terminal; default: ask ``sys.stdin``.

    Returns
    -------
    secret : `str`

    Raises
    ------
    CredentialError
        No secret in the environment or keyring, and no terminal to ask on.
    """
    var = config.get("jira.token_env")
    if env.get(var):
        return env[var]
    service, account = config.get("jira.keyring_service"), keyring_account(config)
    stored = _keyring_get(service, account)
    if stored:
        return stored
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if interactive:
        if prompt is None:
            import click

            def prompt(text: str) -> str:
                return click.prompt(text, hide_input=True)

        secret = prompt(f"JIRA token for {account}")
        if secret:
            return secret
    raise CredentialError(
        f"no JIRA token found: set the environment variable {var}, "
        f"or run 'jiracampaign login' to store one in the OS keyring (service {service}, account {account})"
    )


def store_secret(config: Config, secret: str) -> str:
    """Store the secret in the OS keyring; return the account it is stored under.

    Raises
    ------
    CredentialError
        No usable keyring on this machine (the message names the environment variable to use instead).
    """
    if not secret or not secret.strip():
        raise CredentialError("the token is empty; nothing was stored")
    import keyring
    from keyring.errors import KeyringError

    service, account = config.get("jira.keyring_service"), keyring_account(config)
    try:
        keyring.set_password(service, account, secret.strip())
    except (KeyringError, RuntimeError, OSError) as exc:
        raise CredentialError(
            f"cannot store the token in the OS keyring ({exc.__class__.__name__}); "
            f"set the environment variable {config.get('jira.token_env')} instead"
        ) from None
    return account
