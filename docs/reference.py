"""Generate the reference blocks of docs/*.md from the code; `--write` updates them, tests check them.

Usage: python docs/reference.py [--write]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from jiracampaign.cli import cli
from jiracampaign.config import CONFIG_KEYS, env_var, leaf_keys
from jiracampaign.schema import Key, describe_kind
from jiracampaign.planning.spec import CAMPAIGN_KEYS, RESOURCE_KEYS, STEP_KEYS
from jiracampaign.planning.split import RULE_KEYS

DOCS = Path(__file__).resolve().parent


def _kind(key: Key) -> str:
    text = describe_kind(key.kind) if key.kind != "section" else "a mapping"
    if key.choices:
        text = "one of " + ", ".join(f"`{c}`" for c in key.choices)
    return text


def _table(keys: tuple[Key, ...], prefix: str = "") -> str:
    rows = ["| key | required | value | meaning |", "|---|---|---|---|"]
    for key in keys:
        required = "yes" if key.required else ("" if key.default in (None, [], "") else f"default `{key.default}`")
        rows.append(f"| `{prefix}{key.name}` | {required} | {_kind(key)} | {key.help} |")
    return "\n".join(rows)


def spec_blocks() -> dict[str, str]:
    blocks = {"campaign-keys": _table(CAMPAIGN_KEYS), "step-keys": _table(STEP_KEYS), "resource-keys": _table(RESOURCE_KEYS)}
    for rule, keys in RULE_KEYS.items():
        blocks[f"rule-{rule}"] = _table(keys)
    return blocks


def config_blocks() -> dict[str, str]:
    rows = ["| setting | environment variable | value | meaning |", "|---|---|---|---|"]
    for name, key in leaf_keys(CONFIG_KEYS):
        rows.append(f"| `{name}` | `{env_var(name)}` | {_kind(key)} | {key.help} |")
    return {"config-keys": "\n".join(rows)}


def cli_blocks() -> dict[str, str]:
    ctx = click.Context(cli, info_name="jiracampaign", terminal_width=100, max_content_width=100, **cli.context_settings)
    parts = ["```text\n" + cli.get_help(ctx).rstrip() + "\n```"]
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        sub = click.Context(command, info_name=name, parent=ctx, terminal_width=100, max_content_width=100)
        parts.append(f"### `jiracampaign {name}`\n\n```text\n" + command.get_help(sub).rstrip() + "\n```")
        for child in command.list_commands(sub) if isinstance(command, click.Group) else ():  # e.g. config set
            leaf = command.get_command(sub, child)
            leaf_ctx = click.Context(leaf, info_name=child, parent=sub, terminal_width=100, max_content_width=100)
            parts.append(f"### `jiracampaign {name} {child}`\n\n```text\n" + leaf.get_help(leaf_ctx).rstrip() + "\n```")
    return {"cli-help": "\n\n".join(parts)}


def states_blocks() -> dict[str, str]:
    from jiracampaign.sources.panda import states

    def grouped(table: dict) -> str:
        rows = ["| state | from |", "|---|---|"]
        for state in states.BatchState:
            names = [f"`{name}`" for name, value in table.items() if value is state]
            if names:
                rows.append(f"| `{state}` | {', '.join(names)} |")
        return "\n".join(rows)

    model = ["| state | final | meaning |", "|---|---|---|"]
    for state in states.BatchState:
        model.append(f"| `{state}` | {'yes' if state.final else ''} | {_STATE_MEANING[state.value]} |")
    jobs = ["| counted as | PanDA job states |", "|---|---|"]
    for bucket in states.JOB_BUCKETS:
        jobs.append(f"| {bucket} | " + ", ".join(f"`{n}`" for n, b in states.PANDA_JOB_STATES.items() if b == bucket) + " |")
    return {"batch-states": "\n".join(model), "idds-request": grouped(states.IDDS_REQUEST_STATES),
            "idds-processing": grouped(states.IDDS_PROCESSING_STATES), "jedi-task": grouped(states.JEDI_TASK_STATES),
            "panda-job": "\n".join(jobs)}


_STATE_MEANING = {
    "pending": "accepted, nothing running yet",
    "running": "work in progress, possibly with failures so far",
    "succeeded": "every input processed",
    "partial": "ended with some inputs failed: needs review (rescue, or accept)",
    "failed": "ended without a usable result",
    "held": "suspended or stuck: an operator must act",
    "cancelled": "aborted by someone",
    "unknown": "the source could not say: run not found, unrecognised state, or monitor outage",
}

FILES = {"spec.md": spec_blocks, "config.md": config_blocks, "cli.md": cli_blocks, "states.md": states_blocks}
_BLOCK = re.compile(r"(<!-- BEGIN (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END (?P=name) -->)", re.S)


def refresh(text: str, blocks: dict[str, str]) -> str:
    """Replace every marked block of ``text`` with its generated content."""
    return _BLOCK.sub(lambda m: m.group(1) + blocks[m.group("name")] + "\n" + m.group(4), text)


def stale() -> list[str]:
    """Doc files whose generated blocks are out of date, or missing a block."""
    out = []
    for name, make in FILES.items():
        text = (DOCS / name).read_text()
        blocks = make()
        found = {m.group("name") for m in _BLOCK.finditer(text)}
        if refresh(text, blocks) != text or found != set(blocks):
            out.append(name)
    return out


if __name__ == "__main__":
    if "--write" in sys.argv:
        for name, make in FILES.items():
            path = DOCS / name
            path.write_text(refresh(path.read_text(), make()))
    bad = stale()
    print("stale: " + ", ".join(bad) if bad else "docs are current")
    sys.exit(1 if bad else 0)
