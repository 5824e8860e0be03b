"""The one line a benchmark prints per figure for `make bench`'s table (`benchmarks/all.py` collects them).

A benchmark keeps its own detailed output and adds, per figure worth a row::

    from summary import summary  # benchmarks/ is on sys.path when a benchmark runs as a script
    summary("submit 2,000 on JIRA Cloud, requests", product=8002, baseline=12002, unit="requests",
            requests="8002 vs 12002")

which prints ``BENCH-SUMMARY {"what": ..., "product": ..., "baseline": ..., "ratio": ..., ...}``. The ratio is
baseline / product (how many times better the product is; for figures where more is better, pass
``better="higher"``).
"""

from __future__ import annotations

import json
import logging

__all__ = ["PREFIX", "summary"]

log = logging.getLogger(__name__)

PREFIX = "BENCH-SUMMARY "


def summary(what: str, product: float, baseline: float | None = None, unit: str = "", requests: str = "",
            better: str = "lower", note: str = "") -> dict:
    """Print one summary line and return it as a dict.

    Parameters
    ----------
    what : `str`
        What was measured (one short line).
    product, baseline : `float`
        The product's figure and the baseline's (`None`: no baseline; the ratio is then left out).
    unit : `str`
        The figures' unit (``s``, ``CPU s``, ``requests``, ``ms/submission``).
    requests : `str`
        Requests counted at the server, as text (``"8002 vs 12002"``), if any.
    better : `str`
        ``lower`` (times, requests) or ``higher`` (throughput).
    note : `str`
        How the figure was obtained when it is not plain (``extrapolated from 100``, ``measured``).
    """
    ratio = None
    if baseline is not None and product:
        ratio = baseline / product if better == "lower" else product / baseline
    row = {"what": what, "product": product, "baseline": baseline, "unit": unit, "ratio": ratio,
           "requests": requests, "note": note}
    print(PREFIX + json.dumps(row), flush=True)
    return row
