"""HTTP to the PanDA monitor (BigPanDA): JSON only, within the request budget, its odd error answers decoded.

The monitor signals errors in its own ways (``docs/panda.md`` lists them): an HTML page with status
200 for an unknown id, a 302 to a login page for a non-JSON request, 400 with ``{"error": ...}``,
429 with ``{"error"|"message": ...}`` past the hourly quota, 500 with an HTML page. Each becomes
either a retry (429, 5xx, timeouts, lost connections; honouring ``Retry-After``) or one clear
`~jiracampaign.errors.SourceError`.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

import requests

from ...errors import SourceError
from ...netfaults import describe, permanent
from ...retry import backoff, retry_after
from ..budget import RequestBudget

__all__ = ["MonitorClient", "NOT_FOUND"]

NOT_FOUND = object()  # a detail page answered HTML: the id is unknown to the monitor
MAX_WAIT = 300.0  # longest Retry-After honoured by sleeping; longer ones end the run with a clear error
DEFAULT_429_BLOCK = 60.0


def _json_error(response: requests.Response) -> str:
    """The monitor's own error text: ``{"error": ...}`` (since 2025-10), ``{"message": ...}`` or ``{"detail": ...}``."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if body.get(key):
                return str(body[key])[:300]
    return ""


def _is_json(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower() == "application/json"


class MonitorClient:
    """GET requests to one monitor, each counted against the shared budget.

    Parameters
    ----------
    url : `str`
        Monitor base URL.
    timeout : `float`
        Seconds per request.
    max_retries : `int`
        Retries on 429, 5xx, timeouts and lost connections.
    budget : `RequestBudget`, optional
        Shared hourly allowance; every attempt takes one request from it.
    sleep : callable
        Used between retries (tests pass a recorder).
    """

    def __init__(self, url: str, timeout: float = 30, max_retries: int = 3, budget: RequestBudget | None = None,
                 sleep: Callable[[float], None] | None = None):
        self.base = url.rstrip("/")
        self.host = urlsplit(self.base).netloc or self.base
        self.timeout, self.retries, self.budget = timeout, max_retries, budget
        self.sleep = sleep or (lambda seconds: time.sleep(seconds))
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "jiracampaign"})
        self.requests_made = 0
        self._count = threading.Lock()  # several threads may send at once (`PandaSource` concurrency)

    def link(self, path: str, params: dict[str, Any] | None = None) -> str:
        """A human page on the monitor (no ``json`` key), for tickets and terminals."""
        query = urlencode(params or {}, safe="|*")
        return f"{self.base}{path}" + (f"?{query}" if query else "")

    def remaining(self) -> int | None:
        """Requests the budget still allows this hour (`None`: no budget kept)."""
        return self.budget.remaining() if self.budget else None

    def get(self, path: str, params: dict[str, Any] | None = None, html_means_missing: bool = False) -> Any:
        """The decoded JSON of ``path`` (``json`` is always added); `NOT_FOUND` for an unknown id when
        ``html_means_missing`` (detail pages answer HTML with status 200 for ids they do not know)."""
        query = urlencode(params or {}, safe="|*,:")
        url = f"{self.base}{path}?" + (f"{query}&json" if query else "json")
        attempt = 0
        while True:
            if self.budget is not None:
                self.budget.take()  # one SQLite transaction: exact across threads and processes
            with self._count:
                self.requests_made += 1
            try:
                # auth=no-op: the JSON views are anonymous and reject an invalid header, so never send
                # credentials requests might pick up from ~/.netrc
                response = self.session.get(url, timeout=self.timeout, allow_redirects=False, auth=lambda r: r)
            except (requests.ConnectionError, requests.Timeout) as exc:
                error, delay, status = SourceError(
                    f"PanDA monitor GET {path} at {self.base} failed after {attempt + 1} attempt{'s' if attempt else ''}: "
                    f"{describe(exc, self.base, 'panda.monitor_url')}"), None, 0
                if permanent(exc):  # TLS against a plain port, an untrusted certificate: waiting cannot help
                    raise error from None
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    return self._decode(response, path, html_means_missing)
                delay = retry_after(response)
                said = _json_error(response)
                if status == 429:
                    error = SourceError(f"PanDA monitor at {self.base} refused GET {path} with HTTP 429 (hourly request "
                                        f"quota exceeded{': ' + said if said else ''}); lower panda.requests_per_hour")
                else:
                    error = SourceError(f"PanDA monitor failed on GET {path} with HTTP {status} "
                                        f"after {attempt + 1} attempts")
            wait = delay if delay is not None else backoff(attempt, 60.0)
            if attempt >= self.retries or wait > MAX_WAIT:
                if status == 429 and self.budget is not None:
                    self.budget.block(max(wait, DEFAULT_429_BLOCK))
                raise error
            self.sleep(wait)
            attempt += 1

    def _decode(self, response: requests.Response, path: str, html_means_missing: bool) -> Any:
        status = response.status_code
        where = f"GET {path} at {self.base}"
        if 300 <= status < 400:
            target = response.headers.get("Location", "")
            if "login" in target:
                raise SourceError(f"PanDA monitor redirected {where} to its login page ({target}): it serves anonymous "
                                  "JSON only; check that panda.monitor_url is the monitor's base URL")
            raise SourceError(f"PanDA monitor redirected {where} to {target}: check panda.monitor_url")
        if status == 400:
            raise SourceError(f"PanDA monitor rejected {where} (HTTP 400): {_json_error(response) or 'bad parameter'}")
        if status == 401:
            raise SourceError(f"PanDA monitor rejected {where} (HTTP 401: {_json_error(response) or 'bad credentials'}); "
                              "its JSON is anonymous: remove any Authorization header a proxy adds")
        if status == 403:
            raise SourceError(f"PanDA monitor refuses this machine on {where} (HTTP 403: address blocked); "
                              "stop polling and contact the monitor's operators")
        if status != 200:
            raise SourceError(f"PanDA monitor answered {where} with HTTP {status}"
                              + (f": {_json_error(response)}" if _json_error(response) else ""))
        if not _is_json(response):
            if html_means_missing:
                return NOT_FOUND
            raise SourceError(f"PanDA monitor answered {where} with a {response.headers.get('Content-Type') or 'non-JSON'} "
                              "page instead of JSON: check panda.monitor_url")
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"PanDA monitor sent malformed JSON for {where}") from None

    def close(self) -> None:
        self.session.close()
