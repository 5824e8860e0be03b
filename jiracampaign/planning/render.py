"""Render BPS submit YAML from Jinja2 templates, strictly, and check the result is valid YAML."""

from __future__ import annotations

import hashlib
import json
import re
import traceback
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
import yaml

from ..errors import TemplateError
from ..core.model import Campaign, Step, Submission
from ..yamlsrc import load_located

__all__ = ["BUILTIN_TEMPLATES", "Renderer", "template_dir", "header", "stamp", "unstamp", "file_sha", "same_file",
           "template_context"]

BUILTIN_TEMPLATES = ("panda", "htcondor")
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def template_dir() -> Path:
    """Folder of the packaged templates (inside the installed package, or the source tree's ``templates/``)."""
    packaged = files("jiracampaign") / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "templates"


def _quote(value: Any) -> str:
    """A YAML double-quoted scalar (JSON string syntax is a subset of it)."""
    return json.dumps("" if value is None else str(value), ensure_ascii=False)


def _to_yaml(value: dict) -> str:
    if not value:
        return ""
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False, allow_unicode=True).rstrip("\n")


def header(sub: Submission) -> str:
    """The comment block every rendered file starts with (`stamp` adds the ticket key once it is known)."""
    return (f"# jiracampaign submission {sub.id}\n"
            f"# campaign {sub.campaign}, step {sub.step}, group {sub.group.index}/{sub.group.count} ({sub.group.label})\n")


def stamp(text: str, ticket: str | None) -> str:
    """A rendered file with the tracker key added to its header (the text itself when there is none yet)."""
    if not ticket:
        return text
    first, second, rest = text.split("\n", 2)
    return f"{first}\n{second}\n# ticket {ticket}\n{rest}"


def unstamp(text: str) -> str:
    """A rendered file without the ticket line `stamp` added (any other text as it is)."""
    first, nl1, rest = text.partition("\n")
    second, nl2, rest = rest.partition("\n")
    third, nl3, rest = rest.partition("\n")
    if first.startswith("# jiracampaign submission ") and second.startswith("# campaign ") and nl3 \
            and third.startswith("# ticket "):
        return f"{first}\n{second}\n{rest}"
    return text


def file_sha(content: str | bytes) -> str:
    """The checksum a submission's record keeps of its file: sha256 of the file without its ticket line.

    It does not depend on the ticket key, so it is known before the ticket exists and the record can be
    sent with the create. Records written by earlier versions keep the sha256 of the stamped file (`same_file`).
    """
    text = content.decode("utf-8", "surrogateescape") if isinstance(content, bytes) else content
    return hashlib.sha256(unstamp(text).encode("utf-8", "surrogateescape")).hexdigest()


def same_file(sha: str | None, content: str | bytes) -> bool:
    """Whether a record's checksum ``sha`` is that of ``content``: as `file_sha` makes it, or (records
    written before it) the sha256 of the whole file."""
    if not sha:
        return False
    raw = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
    return sha in (file_sha(content), hashlib.sha256(raw).hexdigest())


def template_context(campaign: Campaign, step: Step, sub: Submission) -> dict[str, Any]:
    """Every variable a template may use (documented in docs/templates.md)."""
    return {
        "campaign": {
            "id": campaign.id,
            "description": campaign.description,
            "operator": campaign.operator,
            "project": campaign.project,
            "butler_repo": campaign.butler_repo,
            "software": campaign.software,
            "output_root": campaign.output_root,
        },
        "step": {
            "name": step.name,
            "pipeline_yaml": step.pipeline_yaml,
            "site": step.site,
            "input_collection": step.input_collection,
            "after": list(step.after),
            "inputs_from": list(step.inputs_from),
        },
        "group": {
            "index": sub.group.index,
            "count": sub.group.count,
            "clause": sub.group.clause,
            "inputs": sub.group.inputs,
            "label": sub.group.label,
        },
        "submission": {
            "id": sub.id,
            "data_query": sub.data_query,
            "output": sub.output,
            "output_run": sub.output_run,
            "run_name": sub.run_name,
        },
        "resources": dict(step.resources),
        "bps": dict(step.bps),
        "include_configs": list(step.include_configs),
    }


class Renderer:
    """Renders submissions with a strict Jinja2 environment; caches compiled templates."""

    def __init__(self) -> None:
        self._builtin = template_dir()
        self._cache: dict[str, tuple[jinja2.Template, str]] = {}

    def _template(self, name: str) -> tuple[jinja2.Template, str]:
        if name in self._cache:
            return self._cache[name]
        if name in BUILTIN_TEMPLATES:
            folder, file, shown = self._builtin, f"{name}.yaml.j2", f"{name} (built-in template)"
        else:
            path = Path(name)
            folder, file, shown = path.parent, path.name, str(path)
            if not path.is_file():
                raise TemplateError(shown, None, None, "template file not found")
        env = jinja2.Environment(
            loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(folder)), jinja2.FileSystemLoader(str(self._builtin))]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
        )
        env.filters["q"] = _quote
        env.filters["to_yaml"] = _to_yaml
        try:
            template = env.get_template(file)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(exc.filename or shown, exc.lineno, None, f"template syntax error: {exc.message}") from None
        self._cache[name] = (template, shown)
        return self._cache[name]

    def render(self, campaign: Campaign, step: Step, sub: Submission) -> str:
        """Render one submission's YAML (header included) and check it parses to a mapping.

        Parameters
        ----------
        campaign, step : `Campaign`, `Step`
            What the submission belongs to.
        sub : `Submission`
            The submission (names, query, group).

        Returns
        -------
        text : `str`
            The complete file content, but for the ticket key (see `stamp`).

        Raises
        ------
        TemplateError
            An undefined variable (with the template line), a syntax error, or invalid YAML.
        """
        template, shown = self._template(step.template)
        try:
            body = template.render(template_context(campaign, step, sub))
        except jinja2.UndefinedError as exc:
            file, line = _template_position(exc, template)
            raise TemplateError(file or shown, line, None, _undefined_message(exc.message or "", file, line)) from None
        except jinja2.TemplateError as exc:
            raise TemplateError(shown, None, None, f"cannot render for {sub.id}: {exc}") from None
        text = header(sub) + body
        if not text.endswith("\n"):
            text += "\n"
        if _plain_mapping(text):
            return text
        rendered = load_located(f"{sub.id}.yaml", _rendered_error(shown, sub), text=text)  # says what is wrong
        if not isinstance(rendered.data, dict):
            raise TemplateError(shown, None, None, f"the YAML rendered for {sub.id} is not a mapping of BPS keys")
        return text


def _plain_mapping(text: str) -> bool:
    """Whether ``text`` is YAML that `load_located` would take as it is: a mapping, no key twice in any
    mapping, no scalar it would read as a date (which may not be a valid one). Parsing to nodes only, this
    is several times faster; when it says no, `load_located` finds and names the problem."""
    try:
        node = yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return False
    if not isinstance(node, yaml.MappingNode):
        return False
    todo: list[yaml.Node] = [node]
    while todo:
        node = todo.pop()
        if isinstance(node, yaml.MappingNode):
            keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
            if len(keys) != len(node.value) or len(set(keys)) != len(keys):
                return False
            todo.extend(v for _, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
        elif node.tag == "tag:yaml.org,2002:timestamp":
            return False
    return True


def _rendered_error(shown: str, sub: Submission):
    def make(path: str, line: int | None, field: str | None, problem: str) -> TemplateError:
        where = f" line {line}" if line else ""
        what = f" {field}:" if field else ""
        return TemplateError(shown, None, None, f"the YAML rendered for {sub.id} is invalid at{where}:{what} {problem}")

    return make


def _undefined_message(message: str, file: str | None, line: int | None) -> str:
    """Name the undefined expression (``campaign.nope``) rather than Jinja's ``'dict object'``."""
    what = message
    attr = re.search(r"has no attribute '(\w+)'", message)
    if attr and file and line:
        try:
            source = Path(file).read_text(encoding="utf-8").splitlines()[line - 1]
        except (OSError, IndexError):
            source = ""
        expr = re.search(r"([A-Za-z_][\w.]*)\." + re.escape(attr.group(1)) + r"\b", source)
        what = f"'{expr.group(0)}' is undefined" if expr else message
    return f"undefined variable: {what} (the variables a template can use are listed in docs/templates.md)"


def _template_position(exc: BaseException, template: jinja2.Template) -> tuple[str | None, int | None]:
    """Find the template file and line where a render error happened (Jinja rewrites tracebacks)."""
    found: tuple[str | None, int | None] = (None, None)
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        name = frame.f_code.co_filename
        if name and (name.endswith(".j2") or name == template.filename):
            found = (name, lineno)
    return found
