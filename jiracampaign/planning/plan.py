"""Plan a campaign: one submission per step and group, rendered, written to a campaign folder."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PlanError
from ..core.model import Campaign, Submission, group_output, submission_id
from .querycheck import combine_query
from ..pool import bounded_map
from .render import Renderer, file_sha, same_file, stamp
from .spec import LoadedSpec

__all__ = ["Plan", "build_plan", "write_plan", "read_manifest", "manifest_tickets", "manifest_refs", "check_folder",
           "MANIFEST",
           "edited_files"]

MANIFEST = "manifest.json"
NEXT_MANIFEST = ".manifest.next.json"  # while files are being swapped in: the manifest they belong to
WRITERS = 8  # files written (and flushed to disk) at once
MANIFEST_FORMAT = 1


@dataclass
class Plan:
    """A campaign and its rendered submissions, in step then group order.

    Each submission is rendered once; its file gets the tracker key in its header (`file_text`) once
    the tickets are known.
    """

    campaign: Campaign
    submissions: list[Submission]
    tickets: dict[str, str] = field(default_factory=dict)
    ticket_ids: dict[str, str] = field(default_factory=dict)
    others: dict[str, dict[str, str]] = field(default_factory=dict)  # epic and step tickets: ident -> {key, id}
    kept: dict[str, str] = field(default_factory=dict)  # submission id -> file as submitted (never re-rendered)
    audits: dict[str, dict] = field(default_factory=dict)  # step -> its `audit:` (dataset, dimension, instrument)

    def file_text(self, sub: Submission) -> str:
        """The file as written and attached: the rendered YAML with its ticket key (or, for a submission
        that ran, the file it ran with)."""
        if sub.id in self.kept:
            return self.kept[sub.id]
        return stamp(sub.yaml_text, self.tickets.get(sub.id))

    def file_sha(self, sub: Submission) -> str:
        """The file's checksum as records and the manifest keep it (`render.file_sha`: without the ticket line)."""
        return file_sha(self.file_text(sub))

    def manifest(self) -> dict:
        """What the campaign folder records: per submission its id, query, inputs and checksum."""
        return {
            "format": MANIFEST_FORMAT,
            "campaign": self.campaign.id,
            "spec": {"path": Path(self.campaign.spec_path).name, "sha256": self.campaign.spec_sha256},
            # what `audit` asks the butler (manifests written before it lack these keys)
            "butler": {"repo": self.campaign.butler_repo, "input_collection": self.campaign.input_collection},
            "steps": {step.name: {"query": step.query, **({"audit": self.audits[step.name]}
                                                          if step.name in self.audits else {})}
                      for step in self.campaign.steps},
            "submissions": [
                {
                    "id": s.id,
                    "step": s.step,
                    "group": s.group.index,
                    "groups": s.group.count,
                    "label": s.group.label,
                    "data_query": s.data_query,
                    "inputs": s.group.inputs,
                    "run_name": s.run_name,
                    "output_run": s.output_run,
                    "output": s.output,
                    "file": s.file,
                    "sha256": self.file_sha(s),
                    **({"ticket": self.tickets[s.id]} if self.tickets and s.id in self.tickets else {}),
                    **({"ticket_id": self.ticket_ids[s.id]} if self.ticket_ids and s.id in self.ticket_ids else {}),
                }
                for s in self.submissions
            ],
            **({"tickets": self.others} if self.others else {}),
        }


def build_plan(spec: LoadedSpec, renderer: Renderer | None = None, attempt: int = 1,
               tickets: dict[str, str] | None = None) -> Plan:
    """Turn a checked spec into rendered submissions.

    Parameters
    ----------
    spec : `LoadedSpec`
        The campaign and its groups.
    renderer : `Renderer`, optional
        Reused across calls to keep compiled templates.
    attempt : `int`
        Attempt number used in run collections (``.../attempt1``).
    tickets : `dict`, optional
        Submission id to tracker key, for each file's header (`Plan.file_text`).

    Returns
    -------
    plan : `Plan`
        Submissions with their YAML text and SHA-256.
    """
    renderer = renderer or Renderer()
    campaign = spec.campaign
    subs: list[Submission] = []
    for step in campaign.steps:
        for group in spec.groups[step.name]:
            sid = submission_id(campaign.id, step.name, group.index)
            output = group_output(campaign.output_root, step.name, group.index)
            output_run = f"{output}/attempt{attempt}"
            sub = Submission(
                id=sid,
                campaign=campaign.id,
                step=step.name,
                group=group,
                data_query=combine_query(step.query, group.clause),
                pipeline_yaml=step.pipeline_yaml,
                output=output,
                output_run=output_run,
                run_name=output_run.replace("/", "_"),
                site=step.site,
                file=f"{step.name}/{sid}.yaml",
            )
            sub.yaml_text = renderer.render(campaign, step, sub)
            subs.append(sub)
    return Plan(campaign, subs, dict(tickets or {}), audits=dict(spec.audits))


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a campaign folder, or `None` if there is none."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path}: cannot read the campaign manifest ({exc.__class__.__name__}); move the folder aside") from None


def edited_files(folder: Path, manifest: dict) -> list[str]:
    """Files of a campaign folder whose content no longer matches the manifest (edited by hand); a file
    that matches the manifest an interrupted write was putting in place is not edited."""
    nxt = {}
    try:
        nxt = {e["file"]: e["sha256"] for e in json.loads((Path(folder) / NEXT_MANIFEST).read_text()).get("submissions", [])}
    except (OSError, ValueError):
        pass
    changed = []
    for entry in manifest.get("submissions", []):
        path = Path(folder) / entry["file"]
        if path.exists():
            content = path.read_bytes()
            if not same_file(entry["sha256"], content) and not same_file(nxt.get(entry["file"]), content):
                changed.append(entry["file"])
    return changed


def manifest_tickets(folder: Path) -> dict[str, str]:
    """Tracker keys the campaign folder's manifest already knows, by submission id."""
    manifest = read_manifest(folder) if Path(folder).is_dir() else None
    return {e["id"]: e["ticket"] for e in (manifest or {}).get("submissions", []) if e.get("ticket")}


def manifest_refs(folder: Path) -> dict[str, tuple[str, str]]:
    """``ident -> (key, id)`` of every ticket the manifest knows (submissions, epic, step tickets)."""
    manifest = read_manifest(folder) if Path(folder).is_dir() else None
    if not manifest:
        return {}
    refs = {e["id"]: (e["ticket"], e.get("ticket_id", "")) for e in manifest.get("submissions", []) if e.get("ticket")}
    refs.update({ident: (t["key"], t.get("id", "")) for ident, t in (manifest.get("tickets") or {}).items()})
    return refs


def check_folder(campaign_id: str, folder: Path, force: bool = False) -> None:
    """Refuse to write ``folder`` if it holds something else, or hand edits that would be lost.

    Raises
    ------
    PlanError
        The folder is not this campaign's, or files were edited since planned (unless ``force``).
    """
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise PlanError(f"{folder} exists and is not a folder")
        manifest = read_manifest(folder)
        if manifest is None and (folder / NEXT_MANIFEST).exists():  # a first write was interrupted
            with contextlib.suppress(OSError, ValueError):
                manifest = json.loads((folder / NEXT_MANIFEST).read_text(encoding="utf-8"))
        if manifest is None and not _staged_only(folder):
            raise PlanError(f"{folder} is not empty and is not a jiracampaign campaign folder (no {MANIFEST}); choose another --output-dir")
        if manifest is not None and manifest.get("campaign") != campaign_id:
            raise PlanError(f"{folder} holds campaign '{manifest.get('campaign')}', not '{campaign_id}'; choose another --output-dir")
        if manifest is not None and not force:
            changed = edited_files(folder, manifest)
            if changed:
                raise PlanError(
                    f"{len(changed)} file(s) in {folder} were edited since they were planned "
                    f"({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''}); "
                    "planning again would overwrite them: submit them as they are, or re-run with --force"
                )


def write_plan(plan: Plan, folder: Path, force: bool = False) -> Path:
    """Write the campaign folder: every submission's YAML and the manifest.

    Only jiracampaign's own files are written or removed (the planned files, the manifest, and files a
    previous plan listed that are no longer planned); whatever else is in the folder (bps submit
    directories, Parsl's ``runinfo/``, notes) is left alone. Each file is written beside its target and
    renamed into place, the manifest last; until then ``.manifest.next.json`` names the new files, so
    an interrupted write is finished by the next one instead of being taken for hand edits.

    Parameters
    ----------
    plan : `Plan`
        What to write.
    folder : `pathlib.Path`
        The campaign folder.
    force : `bool`
        Overwrite files edited by hand since the last plan.

    Returns
    -------
    folder : `pathlib.Path`
        The folder written.

    Raises
    ------
    PlanError
        The folder holds something that is not this campaign, or hand edits that would be lost.
    """
    folder = Path(folder)
    check_folder(plan.campaign.id, folder, force)
    old = read_manifest(folder) if folder.is_dir() else None
    folder.mkdir(parents=True, exist_ok=True)
    manifest = plan.manifest()
    staged: list[tuple[Path, Path]] = []
    try:
        changed = []  # (target, text) of the files whose content differs from what is there
        for sub in plan.submissions:
            target, text = folder / sub.file, plan.file_text(sub)
            if not _holds(target, text):
                target.parent.mkdir(parents=True, exist_ok=True)
                changed.append((target, text))

        def stage(job: tuple[Path, str]) -> None:
            staged.append((_stage(job[0], job[1]), job[0]))

        bounded_map(stage, changed, WRITERS, name="plan-write")  # each file is flushed to disk: overlap the waits
        staged.append((_stage(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n"), folder / MANIFEST))
        _stage(folder / NEXT_MANIFEST, json.dumps(manifest), final=True)
        *files, last = staged
        bounded_map(lambda pair: os.replace(*pair), files, WRITERS, name="plan-write")
        os.replace(*last)  # the manifest last
        staged.clear()
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
    planned = {s.file for s in plan.submissions}
    for entry in (old or {}).get("submissions", []):
        gone = folder / entry["file"]
        if entry["file"] not in planned and gone.is_file() and _inside(folder, gone):
            gone.unlink()
            with contextlib.suppress(OSError):
                gone.parent.rmdir()  # only if now empty
    with contextlib.suppress(OSError):
        (folder / NEXT_MANIFEST).unlink()
    return folder


def _staged_only(folder: Path) -> bool:
    """Whether ``folder`` holds nothing but what a first `write_plan` stopped before its manifest leaves:
    folders, and files staged beside their targets (``.<name>.<random>``, not yet renamed into place)."""
    return all(path.is_dir() or path.name.startswith(".") for path in folder.rglob("*"))


def _holds(path: Path, text: str) -> bool:
    """Whether the file ``path`` exists with exactly ``text`` in it (it need not be written again)."""
    try:
        return path.is_file() and path.read_bytes() == text.encode("utf-8")
    except OSError:
        return False


def _inside(folder: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _stage(target: Path, text: str, final: bool = False) -> Path:
    """Write ``text`` to a new file beside ``target`` (flushed to disk); with ``final``, to ``target`` itself."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(name, 0o644)
    if final:
        os.replace(name, target)
        return target
    return Path(name)
