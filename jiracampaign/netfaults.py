"""Naming what went wrong on the network, for the JIRA and PanDA clients alike.

A refused connection, a host name that does not resolve, TLS spoken to a plain-HTTP port, an
untrusted certificate, a timeout and a connection dropped mid-answer each call for a different fix;
`describe` says which one it was (and which setting to check), and `permanent` tells a retry loop
whether waiting can help.
"""

from __future__ import annotations

import errno
import socket
import ssl
from urllib.parse import urlsplit

import requests

__all__ = ["describe", "permanent"]

_NOT_TLS = ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
            "HTTP_REQUEST", "record layer failure", "wrong version number")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (``__cause__``, ``__context__``, urllib3's ``reason``, ``args``)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen) or len(seen) > 20:
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__, getattr(item, "reason", None) if isinstance(
            getattr(item, "reason", None), BaseException) else None]
        todo += [a for a in getattr(item, "args", ()) if isinstance(a, BaseException)]
    return seen


def _where(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = parts.hostname or url
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 443 if parts.scheme == "https" else 80
    return host, f"{host}:{port}"


def _kind(exc: BaseException) -> str:
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain)
    if any(isinstance(e, (requests.exceptions.SSLError, ssl.SSLError)) for e in chain):
        if "CERTIFICATE_VERIFY_FAILED" in text or any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
            return "certificate"
        if any(marker in text for marker in _NOT_TLS):
            return "not-tls"
        return "tls"
    if any(isinstance(e, requests.exceptions.ConnectTimeout) for e in chain):
        return "connect-timeout"
    if any(isinstance(e, requests.Timeout) for e in chain):
        return "read-timeout"
    if any(isinstance(e, socket.gaierror) for e in chain) or "NameResolutionError" in repr(chain) \
            or "Failed to resolve" in text:
        return "unknown-host"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "refused"
    if any(isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) for e in chain):
        return "unreachable"
    return "lost"


def permanent(exc: BaseException) -> bool:
    """Whether retrying cannot help: TLS spoken to a plain port, an untrusted certificate, another TLS failure."""
    return _kind(exc) in ("certificate", "not-tls", "tls")


def describe(exc: BaseException, url: str, setting: str) -> str:
    """A phrase naming the fault and its likely fix, e.g. ``connection refused by 127.0.0.1:9: nothing listens on that
    port (check the host and port in jira.server)``.

    Parameters
    ----------
    exc : `BaseException`
        What ``requests`` raised.
    url : `str`
        The base URL that was asked (the host and port are named from it).
    setting : `str`
        The setting that holds the URL, named in the advice.
    """
    host, hostport = _where(url)
    kind = _kind(exc)
    if kind == "certificate":
        return (f"the TLS certificate of {hostport} is not trusted by this machine (check the host name in {setting}; "
                "for a site certificate authority, point REQUESTS_CA_BUNDLE at its bundle)")
    if kind == "not-tls":
        return (f"TLS handshake failed: {hostport} does not speak TLS (an https:// URL for a plain-HTTP port? "
                f"check the scheme and port in {setting})")
    if kind == "tls":
        reason = next((str(e) for e in _chain(exc) if isinstance(e, ssl.SSLError)), "")
        return f"TLS handshake with {hostport} failed ({reason or 'no reason given'}; check {setting})"
    if kind == "connect-timeout":
        return f"timed out connecting to {hostport} (a firewall, a VPN that is off, or a wrong port in {setting}?)"
    if kind == "read-timeout":
        return f"timed out waiting for {hostport} to answer"
    if kind == "unknown-host":
        return f"unknown host {host}: the name does not resolve (check {setting} for a typo, or your DNS or VPN)"
    if kind == "refused":
        return f"connection refused by {hostport}: nothing listens on that port (check the host and port in {setting})"
    if kind == "unreachable":
        return f"no route to {hostport} (check your network or VPN)"
    return f"lost the connection to {hostport} before an answer came"
