"""Settings of the JIRA tracker (declared apart from the tracker, so reading the config never imports an HTTP client)."""

from __future__ import annotations

from ...schema import Key

__all__ = ["SETTINGS"]

SETTINGS: tuple[Key, ...] = (
    Key("jira", "section", "The JIRA server campaigns are recorded in.", keys=(
        Key("server", "url", "Base URL, e.g. https://rubinobs.atlassian.net."),
        Key("project", "str", "Project key the epics and tickets go in, e.g. PREOPS."),
        Key("flavour", "str", "`cloud`, `datacenter`, or `auto` to ask the server.", choices=("auto", "cloud", "datacenter")),
        Key("auth", "str", "`basic`: e-mail + API token (Cloud); `token`: personal access token sent as Bearer (Data Center).",
            choices=("basic", "token")),
        Key("user", "str", "Account e-mail (Cloud) or user name; also names the keyring entry."),
        Key("token_env", "str", "Name of the environment variable holding the API token or PAT (never the token itself)."),
        Key("keyring_service", "str", "OS keyring service under which `jiracampaign login` stores the token."),
        Key("timeout", "posint", "Seconds before a JIRA request times out."),
        Key("index_lag", "number", "Cloud: seconds a new ticket may take to show in searches; a `create` that was "
            "interrupted, or that finds another's recent create, waits this long before searching."),
        Key("max_retries", "int", "Retries on 429, 5xx, timeouts and lost connections (writes are checked before being repeated)."),
        Key("concurrency", "posint", "Requests to different tickets sent at once (a `create`'s attachments, a "
            "`sync`'s writes); a 429 pauses them all until JIRA's Retry-After has passed."),
        Key("hierarchy", "str", "`task`: epic -> one task per submission; `subtask`: epic -> one task per step -> one sub-task per submission.",
            choices=("task", "subtask")),
        Key("epic_type", "str", "Id of the Epic issue type (found by `jiracampaign init`; empty: found at run time)."),
        Key("task_type", "str", "Id of the issue type of a submission (or step) ticket, e.g. Task."),
        Key("subtask_type", "str", "Id of the sub-task issue type (hierarchy `subtask`)."),
        Key("epic_link_field", "str", "Data Center: id of the Epic Link custom field (found by schema, not by its translated name)."),
        Key("epic_name_field", "str", "Data Center: id of the Epic Name custom field."),
        Key("rescue_link_type", "str", "Name of the issue link type joining a rescue attempt to the attempt it "
            "follows; empty: a type whose outward description is `rescues`, else the type `Rescue` made once "
            "(needs JIRA administration rights), else `Relates`."),
    )),
)
