"""A JIRA connection through the `jira` library's public HTTP layer, with one retry policy and one-line errors.

The library's `~jira.resilientsession.ResilientSession` (with `~jira.client.TokenAuth` for personal
access tokens) carries the authentication, JIRA's headers and its error type `~jira.exceptions.JIRAError`;
its own retries are switched off (``max_retries=0``): they repeat a POST blindly, which can duplicate
a ticket when a response is lost. Here every request is retried on 429, 5xx, timeouts and lost
connections, honouring ``Retry-After``; a write that may have been carried out is first checked
(by the caller's ``verify``) before it is repeated.

The client may be used by several threads at once (``jira.concurrency`` workers). A 429 (or a 503
with ``Retry-After``) closes a gate shared by all of them: no request is sent until the server's
wait is over, so every worker slows down together instead of each one hammering on until its own
429. A wait longer than `MAX_DELAY` (Cloud's hourly cost-based limit) stops the run with a message
saying when the budget comes back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from jira.client import TokenAuth
from jira.exceptions import JIRAError
from jira.resilientsession import ResilientSession

from ...errors import CredentialError, TrackerError
from ...netfaults import describe, permanent
from ...retry import backoff, retry_after

__all__ = ["JiraClient"]

RETRY_STATUSES = {429, 500, 502, 503, 504}
NOT_CARRIED_OUT = {429, 503}  # the server says it did not do the work
BULK_FETCH = 100  # issues per Cloud bulk fetch (its limit)
MAX_DELAY = 600.0  # the longest wait a server may ask for; longer (Cloud's hourly budget) stops the run
POOL_SIZE = 10  # connections the session keeps per host unless more workers need one each
KNOWN_FLAVOURS = ("cloud", "datacenter")
JIRA_HEADERS = {"Cache-Control": "no-cache", "Content-Type": "application/json", "X-Atlassian-Token": "no-check"}

log = logging.getLogger(__name__)


@dataclass
class Transient(Exception):
    """A failure worth retrying: how long to wait, and whether the request may have been carried out."""

    delay: float | None  # from Retry-After; None: back off
    maybe_done: bool
    error: Exception
    throttled: bool = False  # the server asked every client to slow down (429, or 503 with Retry-After)


def _retry_after(response: requests.Response | None) -> float | None:
    return retry_after(response)


def _limit_text(response: requests.Response | None) -> str:
    """What a 429 says of the limit hit (``RateLimit-Reason``, ``X-RateLimit-Reset``), for messages."""
    if response is None:
        return ""
    parts = [f"{name} {response.headers[name]}" for name in ("RateLimit-Reason", "X-RateLimit-Reset")
             if response.headers.get(name)]
    return f" ({', '.join(parts)})" if parts else ""


def _jira_messages(response: requests.Response | None) -> str:
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = list(body.get("errorMessages") or [])
    parts += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
    for key in ("message", "error"):  # Cloud's gateway answers {"error": ...} (e.g. to a Bearer API token)
        if not parts and isinstance(body.get(key), str) and body[key]:
            parts.append(body[key])
    return "; ".join(str(p) for p in parts)[:500]


class JiraClient:
    """One authenticated connection to a JIRA server.

    Parameters
    ----------
    server : `str`
        Base URL.
    auth : `str`
        ``basic`` (user + API token) or ``token`` (personal access token as Bearer).
    user, secret : `str`
        Account and secret; the secret is handed to the library and never kept in messages.
    timeout : `float`
        Seconds per request.
    max_retries : `int`
        Retries per request.
    sleep : callable
        Used between retries (tests pass a recorder).
    flavour : `str`
        ``cloud`` or ``datacenter`` when known (saved by ``init``): saves the serverInfo request on
        every connection; ``auto`` asks the server.
    concurrency : `int`
        Threads that may use this client at once (``jira.concurrency``): the session keeps at least
        that many connections open.
    """

    def __init__(self, server: str, auth: str, user: str, secret: str, timeout: float = 30, max_retries: int = 3,
                 sleep: Callable[[float], None] | None = None, flavour: str = "auto", concurrency: int = 1):
        self.server = server.rstrip("/")
        self.retries = max_retries
        self.sleep = sleep or (lambda seconds: time.sleep(seconds))
        self.user, self.auth, self.configured, self.timeout = user, auth, flavour, timeout
        self._server_says: str | None = None  # the server's own flavour, from serverInfo, once asked
        self.session = ResilientSession(timeout=timeout, max_retries=0)
        self.concurrency = max(1, int(concurrency or 1))
        if self.concurrency > POOL_SIZE:
            for prefix in ("https://", "http://"):
                self.session.mount(prefix, HTTPAdapter(pool_connections=POOL_SIZE, pool_maxsize=self.concurrency))
        self._gate = threading.Lock()
        self._resume = 0.0  # time.monotonic() before which no request is sent (a 429's Retry-After)
        self._waited = threading.local()  # .until: the closing of the gate this thread has waited for
        self.throttled = 0  # 429s (and 503s with Retry-After) met: each closed the gate
        self.session.headers.update(JIRA_HEADERS)
        self.session.auth = (user, secret) if auth == "basic" else TokenAuth(secret)
        if flavour in KNOWN_FLAVOURS:
            self.cloud = flavour == "cloud"
        else:
            info = self.call("connect", lambda: self.raw("GET", "serverInfo").json())
            self.cloud = isinstance(info, dict) and info.get("deploymentType") == "Cloud"
            self._server_says = self.flavour
        log.debug("JIRA %s at %s", self.flavour, self.server)

    @property
    def flavour(self) -> str:
        return "cloud" if self.cloud else "datacenter"

    # ---- errors and retries -------------------------------------------------------------------------
    def server_flavour(self) -> str | None:
        """``cloud`` or ``datacenter`` as the server's public serverInfo says (asked once, without credentials)."""
        if self._server_says is None:
            self._server_says = ""
            try:
                response = requests.get(self.url("serverInfo"), timeout=self.timeout,
                                        headers={"Accept": "application/json"})
                info = response.json() if response.ok else None
            except (requests.RequestException, ValueError):
                info = None
            if isinstance(info, dict) and ("deploymentType" in info or "versionNumbers" in info):
                self._server_says = "cloud" if info.get("deploymentType") == "Cloud" else "datacenter"
        return self._server_says or None

    def mismatch(self, status: int, where: str, text: str) -> Exception | None:
        """The error naming a flavour or authentication mismatch behind a refusal, or `None` if there is none.

        A Data Center server configured as Cloud (or the reverse) answers 401, 403, 404 ("null for uri")
        or 410 instead of saying so; the public serverInfo tells which flavour the server really is.
        """
        actual = self.server_flavour()
        if actual is None:
            return None
        name = {"cloud": "JIRA Cloud", "datacenter": "JIRA Data Center"}[actual]
        answer = f"HTTP {status} {where}" + (f": {text}" if text else "")
        auth_fix = {"datacenter": "Data Center takes a personal access token sent as Bearer (jira.auth: token; "
                                  "Data Center 11 refuses basic authentication by default)",
                    "cloud": "Cloud takes your account e-mail (jira.user) and an API token (jira.auth: basic)"}[actual]
        auth_wrong = (actual == "datacenter" and self.auth == "basic") or (actual == "cloud" and self.auth == "token")
        if self.configured in KNOWN_FLAVOURS and self.configured != actual:
            return CredentialError(
                f"{self.server} is {name} but jira.flavour is '{self.configured}' ({answer}): set jira.flavour to "
                f"'{actual}' or 'auto'" + (f", and jira.auth: {auth_fix}" if auth_wrong else "")
                + "; 'jiracampaign init' finds both")
        if auth_wrong and status in (401, 403):
            return CredentialError(
                f"{name} at {self.server} refused jira.auth '{self.auth}' ({answer}): {auth_fix}; "
                "'jiracampaign init' sets it")
        return None

    def error(self, op: str, exc: Exception) -> Exception:
        """One line for the user: operation, status, method and path, JIRA's own messages."""
        if isinstance(exc, JIRAError):
            response = exc.response
            request = getattr(response, "request", None)
            where = f"{request.method} {urlsplit(request.url).path}" if request is not None else self.server
            text = _jira_messages(response)
            if exc.status_code in (401, 403, 410) or exc.status_code == 404 and text.startswith("null for uri"):
                found = self.mismatch(exc.status_code, where, text)
                if found is not None:
                    return found
            if exc.status_code == 401:
                return CredentialError(
                    f"JIRA rejected the credentials of {self.user or 'the token'} at {self.server} (HTTP 401 {where}): "
                    "check jira.user, jira.auth and the token (environment variable or keyring)")
            return TrackerError(f"JIRA {op} failed: HTTP {exc.status_code} {where}" + (f": {text}" if text else ""))
        attempts = 1 if permanent(exc) else self.retries + 1
        return TrackerError(f"JIRA {op} at {self.server} failed after {attempts} attempt{'s' if attempts > 1 else ''}: "
                            f"{describe(exc, self.server, 'jira.server')}")

    def _backoff(self, attempt: int) -> float:
        return backoff(attempt, 30.0)

    def once(self, op: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` once; a retryable failure becomes `Transient`, others a one-line error."""
        try:
            return fn()
        except JIRAError as exc:
            if exc.status_code in RETRY_STATUSES:
                delay = _retry_after(exc.response)
                throttled = exc.status_code == 429 or (exc.status_code == 503 and delay is not None)
                if delay is not None and delay > MAX_DELAY:
                    raise TrackerError(
                        f"JIRA {op}: the server asks to wait {delay / 60:.0f} minutes before any further request "
                        f"(HTTP {exc.status_code}{_limit_text(exc.response)}), longer than the {MAX_DELAY / 60:.0f} "
                        "minutes jiracampaign waits: run the command again then (what was done is kept)") from None
                raise Transient(delay, exc.status_code not in NOT_CARRIED_OUT, self.error(op, exc),
                                throttled) from None
            raise self.error(op, exc) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            if permanent(exc):  # TLS against a plain port, an untrusted certificate: waiting cannot help
                raise self.error(op, exc) from None
            raise Transient(None, True, self.error(op, exc)) from None

    def wait(self, transient: Transient, attempt: int) -> None:
        """Sleep as the server asked (Retry-After), else with capped, jittered exponential backoff.

        When the server asked to slow down (`Transient.throttled`), the wait closes the gate every
        thread passes before sending (`pause`), so all of them wait together.
        """
        delay = transient.delay if transient.delay is not None else self._backoff(attempt)
        if not transient.throttled:
            log.info("retrying in %.1f s after: %s", delay, transient.error)
            self.sleep(delay)
            return
        with self._gate:
            self.throttled += 1
            resume = time.monotonic() + delay
            closing = resume > self._resume
            self._resume = max(self._resume, resume)
        if closing:
            log.info("JIRA asks to slow down: no request for %.1f s%s after: %s", delay,
                     f" (all {self.concurrency} workers)" if self.concurrency > 1 else "", transient.error)
        self.sleep(delay)
        self._waited.until = max(getattr(self._waited, "until", 0.0), resume)
        self.pause()

    def pause(self) -> None:
        """Wait while the gate a 429 closed is shut (returns at once when it is open, or when this thread
        has waited for this closing already)."""
        while True:
            with self._gate:
                resume = self._resume
            left = resume - time.monotonic()
            if left <= 0 or resume <= getattr(self._waited, "until", 0.0):
                return
            self.sleep(left)
            self._waited.until = resume

    def call(self, op: str, fn: Callable[[], Any], idempotent: bool = True,
             verify: Callable[[], Any] | None = None) -> Any:
        """Run ``fn`` with retries; for a write that may have happened, ``verify()`` is asked first.

        ``verify`` returns the write's result if it finds the write was carried out, else `None`.
        """
        attempt = 0
        while True:
            self.pause()
            try:
                return self.once(op, fn)
            except Transient as transient:
                if attempt >= self.retries:
                    raise transient.error from None
                self.wait(transient, attempt)
                attempt += 1
                if transient.maybe_done and not idempotent and verify is not None:
                    found = verify()
                    if found is not None:
                        return found

    # ---- requests ---------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.server}/rest/api/2/{path.lstrip('/')}"

    def raw(self, method: str, path: str, params: dict | None = None, body: Any = None,
            headers: dict | None = None, **kwargs) -> requests.Response:
        """One request through the library's authenticated session (raises `JIRAError` on 4xx/5xx)."""
        data = json.dumps(body) if body is not None else kwargs.pop("data", None)
        log.debug("%s %s", method, path)
        return self.session.request(method, self.url(path), params=params, data=data, headers=headers or {}, **kwargs)

    def upload(self, path: str, filename: str, content: bytes) -> Any:
        """Send a file as ``multipart/form-data`` (JIRA's attachment upload); returns the JSON answer."""
        files = {"file": (filename, content, "application/octet-stream")}
        return self.raw("POST", path, files=files, headers={"Content-Type": None}).json()

    def get(self, op: str, path: str, params: dict | None = None) -> Any:
        return self.call(op, lambda: self.raw("GET", path, params).json())

    def put(self, op: str, path: str, body: Any) -> None:
        self.call(op, lambda: self.raw("PUT", path, body=body))

    def delete(self, op: str, path: str) -> None:
        def run():
            try:
                self.raw("DELETE", path)
            except JIRAError as exc:
                if exc.status_code != 404:  # already gone: a retried delete succeeded before
                    raise
        self.call(op, run)

    def bulk_fetch(self, keys: Sequence[str], fields: list[str], properties: list[str] = ()) -> list[dict]:
        """Issues by key or id with Cloud's bulk fetch (``POST /rest/api/3/issue/bulkfetch``, at most
        `BULK_FETCH` per request): read from the issues themselves, so never behind a write as search
        can be. Keys JIRA does not find are left out (as it leaves them out); issues it reports it could
        not read this time (``issueErrors``) are asked for again, up to ``max_retries`` times. In id order.
        ``fields`` must not name rich-text fields (description, comments): v3 returns those as ADF."""
        found: list[dict] = []
        for start in range(0, len(keys), BULK_FETCH):
            wanted = [str(k) for k in keys[start:start + BULK_FETCH]]
            for attempt in range(self.retries + 1):
                body = {"issueIdsOrKeys": wanted, "fields": list(fields), "properties": list(properties)}
                page = self.call("read tickets", lambda b=body: self.raw("POST", f"{self.server}/rest/api/3/issue/bulkfetch",
                                                                         body=b).json())
                found += page.get("issues") or []
                errors = page.get("issueErrors") or []
                wanted = [str(e.get("id")) for e in errors if e.get("id")]
                if not wanted:
                    break
                if attempt < self.retries:
                    log.info("JIRA could not read %d of the tickets asked for (%s): asking again", len(wanted),
                             errors[0].get("errorMessage", ""))
                    self.sleep(self._backoff(attempt))
            else:
                raise TrackerError(f"JIRA read tickets at {self.server}: {len(wanted)} could not be read after "
                                   f"{self.retries + 1} attempts: {errors[0].get('errorMessage', '')}")
        return sorted(found, key=lambda raw: int(raw.get("id") or 0))  # in id order, as each answer is

    def search(self, jql: str, fields: list[str], properties: list[str] = (), reconcile: list[int] = (),
               page_size: int = 100) -> Iterator[dict]:
        """Every issue matching ``jql``: Cloud ``/search/jql`` with ``nextPageToken``, DC ``/search`` with ``startAt``."""
        if self.cloud:
            token = None
            while True:
                body = {"jql": jql, "fields": list(fields), "maxResults": page_size, "properties": list(properties),
                        "reconcileIssues": [int(i) for i in list(reconcile)[-50:]]}
                if token:
                    body["nextPageToken"] = token
                page = self.call("search", lambda b=body: self.raw("POST", "search/jql", body=b).json())
                yield from page.get("issues", [])
                token = page.get("nextPageToken")
                if page.get("isLast", True) or not token:
                    return
        start = 0
        while True:
            params = {"jql": jql, "fields": ",".join(fields), "startAt": start, "maxResults": page_size}
            if properties:
                params["properties"] = ",".join(properties)
            page = self.get("search", "search", params)
            issues = page.get("issues", [])
            yield from issues
            start += len(issues)
            if not issues or start >= page.get("total", 0):
                return

    def close(self) -> None:
        self.session.close()
