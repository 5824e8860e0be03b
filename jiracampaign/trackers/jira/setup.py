"""Learning how a JIRA is set up (flavour, issue types, epic fields, workflow, permissions), saying exactly
what is missing, and saving what was learned in the config file (``jiracampaign init``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ...config import read_config_file, write_config_file
from ...errors import ConfigError, TrackerError
from ...netfaults import describe
from .client import JiraClient

__all__ = ["detect_flavour", "InitReport", "inspect", "save_settings", "PERMISSIONS", "issue_types", "type_fields",
           "discover"]

PERMISSIONS = {
    "BROWSE_PROJECTS": "see the project",
    "CREATE_ISSUES": "create issues",
    "EDIT_ISSUES": "edit issues",
    "CREATE_ATTACHMENTS": "attach files",
    "DELETE_OWN_ATTACHMENTS": "replace its own attachments",
    "ADD_COMMENTS": "comment",
    "EDIT_OWN_COMMENTS": "edit its own comments",
    "TRANSITION_ISSUES": "transition issues",
}


def detect_flavour(server: str, timeout: float = 30) -> str:
    """Ask the public ``serverInfo``: ``cloud`` or ``datacenter``.

    Raises
    ------
    TrackerError
        The server cannot be reached or does not answer like JIRA.
    """
    url = server.rstrip("/") + "/rest/api/2/serverInfo"
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TrackerError(f"cannot reach JIRA at {server}: {describe(exc, server, '--server')}") from None
    except requests.RequestException as exc:
        raise TrackerError(f"cannot reach JIRA at {server}: {exc}") from None
    try:
        info = response.json() if response.ok else None
    except ValueError:
        info = None
    if not isinstance(info, dict) or "deploymentType" not in info and "versionNumbers" not in info:
        status = response.status_code
        raise TrackerError(f"{server} does not answer like JIRA (GET /rest/api/2/serverInfo gave HTTP {status})")
    return "cloud" if info.get("deploymentType") == "Cloud" else "datacenter"


def issue_types(client: JiraClient, project: str) -> list[dict]:
    body = client.get("read issue types", f"issue/createmeta/{project}/issuetypes", {"maxResults": 100})
    return body.get("issueTypes") or body.get("values") or []


def type_fields(client: JiraClient, project: str, type_id: str) -> list[dict]:
    body = client.get("read create fields", f"issue/createmeta/{project}/issuetypes/{type_id}", {"maxResults": 200})
    return body.get("fields") or body.get("values") or []


def discover(client: JiraClient, project: str) -> dict[str, str]:
    """Find the issue type and field ids by hierarchy level and field schema (never by translated names)."""
    types = issue_types(client, project)
    found: dict[str, str] = {}
    subtasks = [t for t in types if t.get("subtask")]
    standard = [t for t in types if not t.get("subtask")]
    if client.cloud:
        epics = [t for t in standard if t.get("hierarchyLevel") == 1]
        standard = [t for t in standard if t.get("hierarchyLevel", 0) == 0]
    else:
        fields = client.get("read fields", "field")
        by_custom = {(f.get("schema") or {}).get("custom", "").rsplit(":", 1)[-1]: f["id"] for f in fields}
        if "gh-epic-link" in by_custom:
            found["epic_link_field"] = by_custom["gh-epic-link"]
        if "gh-epic-label" in by_custom:
            found["epic_name_field"] = by_custom["gh-epic-label"]
        epics = [t for t in standard if any(f.get("fieldId") == found.get("epic_name_field")
                                            for f in type_fields(client, project, t["id"]))] \
            if "epic_name_field" in found else []
        standard = [t for t in standard if t not in epics]
    if epics:
        found["epic_type"] = epics[0]["id"]
    tasks = sorted(standard, key=lambda t: t.get("name") != "Task")
    if tasks:
        found["task_type"] = tasks[0]["id"]
    if subtasks:
        found["subtask_type"] = subtasks[0]["id"]
    return found


@dataclass
class InitReport:
    """What `inspect` learned: settings to save, facts to show, and problems that block use."""

    settings: dict[str, Any] = field(default_factory=dict)
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def inspect(client: JiraClient, project: str, hierarchy: str) -> InitReport:
    """Check everything jiracampaign needs from a JIRA project.

    Parameters
    ----------
    client : `JiraClient`
        An authenticated connection.
    project : `str`
        Project key.
    hierarchy : `str`
        ``task`` or ``subtask``.

    Returns
    -------
    report : `InitReport`
    """
    report = InitReport()
    me = client.get("check the credentials", "myself")
    report.facts.append(f"JIRA {'Cloud' if client.cloud else 'Data Center'} at {client.server}, "
                        f"signed in as {me.get('displayName') or me.get('name') or me.get('accountId')}")
    try:
        info = client.get("read the project", f"project/{project}")
    except TrackerError as exc:
        if "HTTP 404" in str(exc):
            report.problems.append(f"project {project} does not exist or is not visible to you")
            return report
        raise
    report.facts.append(f"project {info.get('key')} ({info.get('name')})")
    perms = client.get("read permissions", "mypermissions",
                       {"projectKey": project, "permissions": ",".join(PERMISSIONS)}).get("permissions") or {}
    for name, what in PERMISSIONS.items():
        if not (perms.get(name) or {}).get("havePermission"):
            report.problems.append(f"you have no permission to {what} in {project} ({name})")
    found = discover(client, project)
    need = ["epic_type", "task_type"] + (["subtask_type"] if hierarchy == "subtask" else [])
    need += [] if client.cloud else ["epic_link_field", "epic_name_field"]
    missing = {"epic_type": f"no Epic issue type in project {project}",
               "task_type": f"no standard issue type (such as Task) in project {project}",
               "subtask_type": f"no sub-task issue type in project {project} (needed by hierarchy 'subtask')",
               "epic_link_field": "no Epic Link field (custom field type gh-epic-link)",
               "epic_name_field": "no Epic Name field (custom field type gh-epic-label)"}
    for name in need:
        if name not in found:
            report.problems.append(missing[name])
    if "task_type" in found:
        known = {"summary", "description", "labels", "issuetype", "project", "parent", found.get("epic_link_field")}
        for meta in type_fields(client, project, found["task_type"]):
            if meta.get("required") and meta.get("fieldId") not in known:
                report.problems.append(f"issue type {found['task_type']} requires field {meta.get('name')} "
                                       f"({meta.get('fieldId')}), which jiracampaign does not fill")
    types = {t["id"]: t["name"] for t in issue_types(client, project)}
    for name in ("epic_type", "task_type", "subtask_type"):
        if name in found:
            report.facts.append(f"{name.replace('_', ' ')}: {types.get(found[name], '?')} (id {found[name]})")
    for name in ("epic_link_field", "epic_name_field"):
        if name in found:
            report.facts.append(f"{name.replace('_', ' ')}: {found[name]}")
    statuses = client.get("read workflow statuses", f"project/{project}/statuses")
    task_statuses = next((t["statuses"] for t in statuses if t.get("id") == found.get("task_type")), [])
    if task_statuses:
        report.facts.append("workflow statuses: " + ", ".join(
            f"{s['name']} ({s['statusCategory']['key']})" for s in task_statuses))
    report.settings = {"flavour": client.flavour, "hierarchy": hierarchy, **found}
    return report


def save_settings(path: Path, tracker: str, jira: dict[str, Any]) -> None:
    """Merge settings into the config file (created if missing), atomically and readable only by you."""
    try:
        data = read_config_file(Path(path))
    except ConfigError as exc:
        raise ConfigError(str(path), exc.line, exc.field, f"{exc.problem}; fix or move it before running init") from None
    data["tracker"] = tracker
    if not isinstance(data.get("jira"), dict):
        data["jira"] = {}
    data["jira"].update({k: v for k, v in jira.items() if v is not None})
    write_config_file(Path(path), data)
