"""A JIRA workflow, walked: from where a ticket is to the first reachable of the statuses configured for
a run state (``sync.<state>_status``), one available transition at a time."""

from __future__ import annotations

import logging
from typing import Any

from ...core.states import BatchState
from ...errors import TrackerError
from .client import JiraClient

__all__ = ["CATEGORIES", "status_targets", "current_status", "transition", "move_to_first"]

log = logging.getLogger(__name__)

CATEGORIES = ("new", "indeterminate", "done")  # JIRA status categories, in workflow order
MAX_STEPS = 6


def status_targets(config) -> dict[BatchState, list[str]]:
    """Statuses to try, in order, for each run state (``sync.<state>_status``, comma-separated)."""
    out = {}
    for state in BatchState:
        if state is BatchState.UNKNOWN:  # the ticket is left alone while the source cannot tell
            continue
        text = config.get(f"sync.{state.value}_status") or ""
        out[state] = [part.strip() for part in text.split(",") if part.strip()]
    return out


def current_status(client: JiraClient, key: str) -> dict:
    """The ticket's status as JIRA shows it (``name``, ``statusCategory``...), read now."""
    return client.get("read status", f"issue/{key}", {"fields": "status"})["fields"]["status"]



def transition(client: JiraClient, key: str, target: str) -> bool:
    """Walk the workflow's available transitions toward ``target`` (a status name or category).

    Returns `False` when the ticket is already there.
    """
    wanted = target.casefold()
    by_category = wanted in CATEGORIES
    seen: set[str] = set()
    moved = False
    for _ in range(MAX_STEPS):
        status = current_status(client, key)
        here, here_cat = status["name"], status["statusCategory"]["key"]
        if (here_cat if by_category else here.casefold()) == wanted:
            return moved
        seen.add(here.casefold())
        options = client.get("read transitions", f"issue/{key}/transitions",
                             {"expand": "transitions.fields"}).get("transitions") or []
        choice = _choose(options, wanted, by_category, here_cat, seen)
        if choice is None:
            names = ", ".join(f"{t['name']} -> {t['to']['name']}" for t in options) or "none"
            raise TrackerError(f"{key}: cannot reach status '{target}' from '{here}' (available transitions: {names})")
        body: dict[str, Any] = {"transition": {"id": choice["id"]}}
        required = {name: f for name, f in (choice.get("fields") or {}).items() if f.get("required")}
        if "resolution" in required:
            values = required["resolution"].get("allowedValues") or [{"name": "Done"}]
            body["fields"] = {"resolution": {"name": values[0]["name"]}}
        log.info("%s: %s -> %s", key, here, choice["to"]["name"])
        client.call("transition", lambda b=body: client.raw("POST", f"issue/{key}/transitions", body=b),
                    idempotent=False, verify=lambda c=choice: _arrived(client, key, c))
        moved = True
    raise TrackerError(f"{key}: status '{target}' not reached after {MAX_STEPS} transitions")


def _arrived(client: JiraClient, key: str, choice: dict) -> bool | None:
    return True if current_status(client, key)["name"] == choice["to"]["name"] else None


def _choose(options: list[dict], wanted: str, by_category: bool, here_cat: str, seen: set[str]) -> dict | None:
    def cat(t):
        return t["to"]["statusCategory"]["key"]

    direct = [t for t in options if (cat(t) if by_category else t["to"]["name"].casefold()) == wanted]
    if direct:
        return direct[0]
    fresh = [t for t in options if t["to"]["name"].casefold() not in seen]
    if by_category:  # closer to the wanted category, else sideways within this one; never away
        goal = CATEGORIES.index(wanted)
        distance = lambda c: abs(CATEGORIES.index(c) - goal)  # noqa: E731
        fresh = [t for t in fresh if distance(cat(t)) <= distance(here_cat)]
        return min(fresh, key=lambda t: distance(cat(t)), default=None)
    # toward a named status: prefer staying in work (indeterminate) over finishing or restarting
    return min(fresh, key=lambda t: {"indeterminate": 0, "new": 1, "done": 2}[cat(t)], default=None)


def move_to_first(client: JiraClient, key: str, targets: list[str]) -> str:
    """Move a ticket to the first of ``targets`` its workflow can reach; returns that status."""
    errors = []
    for target in targets:
        try:
            transition(client, key, target)
            return target
        except TrackerError as exc:
            errors.append(str(exc))
    raise TrackerError(f"{key}: could not move to any of {', '.join(targets)}: {'; '.join(errors)}")
