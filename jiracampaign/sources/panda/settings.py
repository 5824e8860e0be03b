"""Settings of the PanDA monitor source (declared apart from the source, so reading the config never imports an HTTP client)."""

from __future__ import annotations

from ...schema import Key

__all__ = ["SETTINGS"]

SETTINGS: tuple[Key, ...] = (
    Key("panda", "section", "The PanDA monitor (BigPanDA) runs are followed on.", keys=(
        Key("monitor_url", "url", "Monitor base URL, e.g. https://usdf-panda-bigmon.slac.stanford.edu:8443."),
        Key("requests_per_hour", "posint", "Request budget shared by every jiracampaign process on this machine."),
        Key("timeout", "posint", "Seconds before a monitor request times out."),
        Key("max_retries", "int", "Retries on 429 (after its Retry-After), 5xx, timeouts and lost connections."),
        Key("days", "posint", "Smallest look-back window in days; widened automatically to reach the oldest open run."),
        Key("max_failed_jobs", "posint", "Failed jobs read per run for the failure summary."),
        Key("concurrency", "posint", "Detail requests (tasks, failed jobs) a sync keeps in flight at once, within "
            "the hourly budget (2 to 4 suit the monitor).", default=3),
        Key("username", "str", "Only runs submitted by this PanDA user (empty: any user)."),
    )),
)
