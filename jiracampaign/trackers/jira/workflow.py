"""A JIRA workflow, walked: from where a ticket is to the first reachable of the statuses configured for
a run state (``sync.<state>_status``), one available transition at a time."""

from __future__ import annotations

import logging
from typing import Any

from ...core.states import BatchState
from ...errors import TrackerError
from .client import JiraClient

__all__ = ["CATEGORIES", "status_targets", "current_status", "transition", "walk", "move", "move_to_first"]

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


def transition(client: JiraClient, key: str, target: str, status: dict | None = None) -> bool:
    """Walk the workflow's available transitions toward ``target`` (a status name or category).

    Returns `False` when the ticket is already there. See `walk`.
    """
    return walk(client, key, target, status)[0]


def walk(client: JiraClient, key: str, target: str, status: dict | None = None) -> tuple[bool, dict]:
    """Walk the workflow's available transitions toward ``target`` (a status name or category).

    Each step costs two requests: the transitions available, then the one chosen. The status a
    transition leads to is the one its ``to`` names, so nothing is read back after it.

    Parameters
    ----------
    client : `JiraClient`
    key : `str`
        The ticket.
    target : `str`
        A status name, or a status category (``new``, ``indeterminate``, ``done``).
    status : `dict`, optional
        The ticket's status as last read (``name``, and ``statusCategory`` when known), e.g. by the search
        that found it: spares reading it. Should it be stale (no available transition leads to ``target``),
        the status is read once and the walk goes on from there.

    Returns
    -------
    moved : `bool`
        Whether a transition was made (`False`: the ticket was there already).
    status : `dict`
        The status the ticket shows now.

    Raises
    ------
    TrackerError
        No available transition gets closer, or ``target`` is not reached in `MAX_STEPS` transitions.
    """
    wanted = target.casefold()
    by_category = wanted in CATEGORIES
    seen: set[str] = set()
    moved = False
    given = status is not None and bool(status.get("name"))
    if given and by_category and not (status.get("statusCategory") or {}).get("key"):
        given = False  # a category target needs the category
    if not given:
        status = None
    for _ in range(MAX_STEPS + 1):
        if status is None:
            status = current_status(client, key)
        here, here_cat = status["name"], (status.get("statusCategory") or {}).get("key", "")
        if (here_cat if by_category else here.casefold()) == wanted:
            return moved, status
        options = client.get("read transitions", f"issue/{key}/transitions",
                             {"expand": "transitions.fields"}).get("transitions") or []
        if given and not any((_category(t) if by_category else t["to"]["name"].casefold()) == wanted
                             for t in options):
            log.debug("%s: no transition to %s from '%s' as last read: reading its status", key, target, here)
            given, status = False, None  # perhaps stale: read it and go on from where it is
            continue
        given = False
        seen.add(here.casefold())
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
        moved, status = True, choice["to"]  # where the transition leads: not read back
    raise TrackerError(f"{key}: status '{target}' not reached after {MAX_STEPS} transitions")


def _category(option: dict) -> str:
    return ((option.get("to") or {}).get("statusCategory") or {}).get("key", "")


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


def move_to_first(client: JiraClient, key: str, targets: list[str], status: dict | None = None) -> str:
    """Move a ticket to the first of ``targets`` its workflow can reach; returns that target (see `move`)."""
    return move(client, key, targets, status)[0]


def move(client: JiraClient, key: str, targets: list[str], status: dict | None = None) -> tuple[str, dict]:
    """Move a ticket to the first of ``targets`` its workflow can reach.

    ``status`` is the ticket's status as last read, if known (see `walk`). Returns the target reached
    and the status the ticket shows now.

    Raises
    ------
    TrackerError
        None of ``targets`` can be reached; names what went wrong for each.
    """
    errors = []
    for target in targets:
        try:
            return target, walk(client, key, target, status)[1]
        except TrackerError as exc:
            errors.append(str(exc))
            status = None  # a failed walk may have moved the ticket: read it afresh
    raise TrackerError(f"{key}: could not move to any of {', '.join(targets)}: {'; '.join(errors)}")
