"""What every HTTP client here needs to wait politely: the server's ``Retry-After``, or jittered backoff."""

from __future__ import annotations

import email.utils
import random
import time

import requests

__all__ = ["retry_after", "backoff"]


def retry_after(response: requests.Response | None) -> float | None:
    """Seconds the server asked to wait (``Retry-After`` as seconds or an HTTP date), or `None`."""
    value = ((response.headers.get("Retry-After") if response is not None else None) or "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff(attempt: int, cap: float) -> float:
    """Capped exponential backoff with jitter: about 1, 2, 4 ... seconds, at most ``cap``."""
    return min(cap, 2.0 ** attempt) * random.uniform(0.5, 1.0)
