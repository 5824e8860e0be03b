"""Find the JIRA secret (API token or personal access token): environment, then OS keyring, then a prompt.

A secret is never written to a file, a log or an error message by this module.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from ...config import Config
from ...errors import CredentialError

__all__ = ["keyring_account", "find_secret", "find_secret_and_origin", "store_secret", "keyring_choice", "KeyringChoice"]


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
    return find_secret_and_origin(config, env, prompt, interactive)[0]


def find_secret_and_origin(
    config: Config,
    env: Mapping[str, str] = os.environ,
    prompt: Callable[[str], str] | None = None,
    interactive: bool | None = None,
) -> tuple[str, str]:
    """`find_secret`, and where the secret came from: ``environment``, ``keyring`` or ``prompt``."""
    var = config.get("jira.token_env")
    if env.get(var):
        return env[var], "environment"
    service, account = config.get("jira.keyring_service"), keyring_account(config)
    stored = _keyring_get(service, account)
    if stored:
        return stored, "keyring"
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if interactive:
        if prompt is None:
            import click

            def prompt(text: str) -> str:
                return click.prompt(text, hide_input=True)

        secret = prompt(f"JIRA token for {account}")
        if secret:
            return secret, "prompt"
    raise CredentialError(
        f"no JIRA token found: set the environment variable {var}, "
        f"or run 'jiracampaign login' to store one in the OS keyring (service {service}, account {account})"
    )


# Backends that do not keep a secret at all, or keep it readable by anyone who can read a file.
_NOT_STORING = ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring")
_PLAINTEXT = ("keyrings.alt.file.PlaintextKeyring",)


@dataclass(frozen=True)
class KeyringChoice:
    """The keyring backend a token would be stored in, and what kind of protection it gives."""

    backend: Any
    name: str  # e.g. "SecretService Keyring (keyring.backends.SecretService.Keyring)"
    problem: str | None  # why it is unsafe (plaintext, not storing), or None


def _qualified(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _problem(backend: Any) -> str | None:
    qualified = _qualified(backend)
    if qualified in _NOT_STORING or qualified.startswith("keyring.backends.fail.") \
            or qualified.startswith("keyring.backends.null."):
        return "stores nothing (no usable keyring on this machine)"
    scheme = str(getattr(backend, "scheme", "") or "").lower()
    if qualified in _PLAINTEXT or "plaintext" in qualified.lower() or "no enc" in scheme:
        path = getattr(backend, "file_path", None)
        return f"keeps the token unencrypted in a file{f' ({path})' if path else ''}"
    if "encrypted" in type(backend).__name__.lower():
        try:  # keyrings.alt's EncryptedKeyring is only viable with its cipher library installed
            viable = getattr(backend, "viable", True) and float(type(backend).priority) > 0
        except Exception:  # noqa: BLE001 - a backend's priority check raises when its requirements are missing
            viable = False
        if not viable:
            return "cannot encrypt here (its cipher library is missing), so the token would not be protected"
    return None


def keyring_choice(allow_plaintext: bool = False) -> KeyringChoice:
    """The backend `store_secret` would use: the best safe one, else (only when allowed) a plaintext one."""
    import keyring

    current = keyring.get_keyring()
    candidates = list(getattr(current, "backends", None) or [current]) \
        if _qualified(current).startswith("keyring.backends.chainer.") else [current]
    choices = [KeyringChoice(b, f"{getattr(b, 'name', type(b).__name__)} ({_qualified(b)})", _problem(b))
               for b in candidates] or [KeyringChoice(current, _qualified(current), _problem(current))]
    safe = [c for c in choices if c.problem is None]
    if safe:
        return safe[0]
    usable = [c for c in choices if not c.problem.startswith("stores nothing")]
    if allow_plaintext and usable:
        return usable[0]
    return (usable or choices)[0]


def store_secret(config: Config, secret: str, allow_plaintext: bool = False) -> tuple[str, KeyringChoice]:
    """Store the secret in the OS keyring; return the account it is stored under and the backend used.

    Raises
    ------
    CredentialError
        No usable keyring on this machine, or only a plaintext one and ``allow_plaintext`` is false
        (the message names the alternatives); nothing is stored then.
    """
    if not secret or not secret.strip():
        raise CredentialError("the token is empty; nothing was stored")
    from keyring.errors import KeyringError

    var = config.get("jira.token_env")
    choice = keyring_choice(allow_plaintext)
    service, account = config.get("jira.keyring_service"), keyring_account(config)
    if choice.problem is not None and (not allow_plaintext or choice.problem.startswith("stores nothing")):
        allow = "" if choice.problem.startswith("stores nothing") else ", or accept it with --allow-plaintext-keyring"
        raise CredentialError(
            f"the keyring backend here, {choice.name}, {choice.problem}; nothing was stored. Set the environment "
            f"variable {var} instead, or install an encrypted backend (keyrings.cryptfile, or SecretService over "
            f"D-Bus; see docs/config.md, 'Headless machines'){allow}")
    try:
        choice.backend.set_password(service, account, secret.strip())
    except (KeyringError, RuntimeError, OSError) as exc:
        raise CredentialError(
            f"cannot store the token in the keyring {choice.name} ({exc.__class__.__name__}); "
            f"set the environment variable {var} instead"
        ) from None
    return account, choice
