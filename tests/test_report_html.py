"""`jiracampaign report --html`: one self-contained page of the campaigns, on the local store and both fake
JIRA flavours, read back with the standard library's HTML parser and rendered by a real headless Chromium.

The campaign is made through the real commands: `create` (a spec whose description holds markup), `submit`
with the stand-in bps, and two `sync`s against the fake PanDA monitor, whose failures carry `<script>` and
`&` in their messages. One such campaign is built per tracker and shared by the tests of this module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from jiracampaign.core import texts
from jiracampaign.core.known_errors import load_known_errors
from jiracampaign.core.ledger import Entry
from jiracampaign.core.records import StepInfo
from jiracampaign.core.runs import FailureExample, FailureGroup, RunStatus, TaskProgress
from jiracampaign.core.states import BatchState
from jiracampaign.services.report import build_report, read_failures
from jiracampaign.trackers import markdown
from jiracampaign.trackers.base import Note
from jiracampaign.trackers.jira import wiki
from jiracampaign.trackers.jira.wiki_text import spans as wiki_spans
from jiracampaign.trackers.local import LocalTracker
from jiracampaign.trackers.markdown_text import spans as markdown_spans
from tests.conftest import MINIMAL_SPEC
from tests.test_cli_create import DEMO, Env
from tests.test_cli_sync import Campaign

SCRIPT = "<script>alert('boom')</script>"
DESCRIPTION = f"Demo {SCRIPT} & co"
OOM = {"piloterrorcode": 1305, "piloterrordiag": f"killed {SCRIPT} & out of memory [x|javascript:alert(1)]",
       "transexitcode": "137"}
CRASH = {"exeerrorcode": 65, "exeerrordiag": "pipetask <b>crashed</b> & h1. {noformat}"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")
RUN = "u_jdoe_demo-w47_step1_group00{}_attempt1"


# ---- reading the page back ------------------------------------------------------------------------------
@dataclass
class Table:
    attrs: dict
    rows: list[tuple[str, dict, list[str]]] = field(default_factory=list)  # (thead|tbody|tfoot, tr attributes, cells)


class Page(HTMLParser):
    """Every table (a nested table apart from the cell holding it) as rows of cell texts, every tag with its
    attributes, the scripts and style sheets."""

    BREAKS = {"li", "p", "ul", "br", "summary"}

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self.open: list[tuple[Table, list[str], dict, list[str]]] = []  # table, section, row attributes, cells
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self.styles: list[str] = []
        self.texts: dict[str, list[str]] = {}  # text of each h1/h2/h3/title element
        self._raw: tuple[str, dict, list[str]] | None = None  # inside script, style or a heading
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            table = Table(attrs)
            self.tables.append(table)
            self.open.append((table, ["tbody"], {}, []))
        elif self.open and tag in ("thead", "tbody", "tfoot"):
            self.open[-1][1][0] = tag
        elif self.open and tag == "tr":
            table, section, _, _ = self.open[-1]
            self.open[-1] = (table, section, attrs, [])
        elif self.open and tag in ("td", "th"):
            self.open[-1][3].append("")
        elif self.open and tag in self.BREAKS and self.open[-1][3]:
            self.open[-1][3][-1] += "\n"
        if tag in ("script", "style", "h1", "h2", "h3", "title"):
            self._raw = (tag, attrs, [])

    def handle_endtag(self, tag):
        if tag == "table" and self.open:
            self.open.pop()
        elif tag == "tr" and self.open:
            table, section, attrs, cells = self.open[-1]
            table.rows.append((section[0], attrs, [" ".join(c.split()) for c in cells]))
        elif self._raw and tag == self._raw[0]:
            name, attrs, text = self._raw
            if name == "script":
                self.scripts.append((attrs, "".join(text)))
            elif name == "style":
                self.styles.append("".join(text))
            else:
                self.texts.setdefault(name, []).append(" ".join("".join(text).split()))
            self._raw = None

    def handle_data(self, data):
        if self._raw:
            self._raw[2].append(data)
        if self.open and self.open[-1][3]:
            self.open[-1][3][-1] += data

    def table(self, cls: str, **data: str) -> Table:
        found = [t for t in self.tables if cls in (t.attrs.get("class") or "").split()
                 and all(t.attrs.get(f"data-{k}") == v for k, v in data.items())]
        assert len(found) == 1, (cls, data, len(found))
        return found[0]

    def rows(self, cls: str, section: str = "tbody", **data: str) -> list[list[str]]:
        """The rows of one section of a table, times (``2026-12-01 17:42 UTC``) shown as ``<time>``."""
        return [["<time>" if TIME.match(c) else c for c in cells]
                for part, _, cells in self.table(cls, **data).rows if part == section]


# ---- the campaign, made through the real commands ----------------------------------------------------------
@dataclass
class Made:
    camp: Campaign
    keys: dict[str, str]
    epic: str
    html: Path
    text: str
    page: Page
    requests: list[dict]  # what report asked of JIRA
    stderr: str


def _isolate(mp: pytest.MonkeyPatch, tmp: Path) -> None:
    """As the autouse `tmp_config` does for one test: HOME, XDG folders, working directory, no JIRACAMPAIGN_*."""
    for name in list(os.environ):
        if name.startswith("JIRACAMPAIGN_"):
            mp.delenv(name)
    home = tmp / "home"
    (home / ".config").mkdir(parents=True)
    (tmp / "work").mkdir()
    mp.setenv("HOME", str(home))
    mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    mp.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    mp.chdir(tmp / "work")


@pytest.fixture(scope="module", params=["local", "cloud", "datacenter"])
def made(request, tmp_path_factory):
    """The demo campaign (its description holds markup) created, step1 submitted and followed by two syncs:
    group 1 ends partial (out of memory), group 2 failed (a crash), group 3 still runs; then the report."""
    tmp = tmp_path_factory.mktemp(f"report-{request.param}")
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, tmp)
        camp = Campaign(request.param, CliRunner(), tmp, mp)
        try:
            spec = tmp / "work" / "campaign.yaml"
            spec.write_text(DEMO.read_text().replace("description: Demo campaign for jiracampaign's README",
                                                     f"description: \"{DESCRIPTION}\""))
            created = camp.run("create", str(spec), "--json")
            assert created.exit_code == 0, created.output
            keys = {row["id"]: row["key"] for row in json.loads(created.stdout)}
            submitted = camp.run("submit", str(spec), "--step", "step1")
            assert submitted.exit_code == 0, submitted.output
            runs = camp.submitted()
            for run in runs:
                camp.panda.add_run(run["run_name"], {"isr": 10, "calibrate": 10}, request_id=run["run_id"])
                camp.panda.progress(run["run_name"], "isr", finished=2, running=3)
            assert camp.run("sync").exit_code == 0
            a, b, _ = (run["run_name"] for run in runs)
            camp.panda.progress(a, "isr", finished=8, failed=2, running=0, status="finished", error=OOM)
            camp.panda.progress(a, "calibrate", finished=10, status="done")
            camp.panda.set_status(a, "SubFinished")
            camp.panda.progress(b, "isr", failed=8, status="failed", error=CRASH)
            camp.panda.set_status(b, "Failed")
            tick = camp.run("sync")
            assert tick.exit_code == 0, tick.output
            epic = next(k for k in camp.all_keys() if camp.ticket(k)[1].get("type") == "campaign")
            html = tmp / "out" / "report.html"
            before = len(camp.fake.log) if camp.fake else 0
            result = camp.run("report", "--html", str(html))
            assert result.exit_code == 0, result.output
            requests = camp.fake.log[before:] if camp.fake else []
            text = html.read_text(encoding="utf-8")
            yield Made(camp, keys, epic, html, text, Page(text), requests, result.stderr)
        finally:
            camp.close()


def ticket(made: Made, ident: str) -> str:
    """A ticket cell: its key, then, on JIRA, the status the ticket shows (it is not a run state's name)."""
    key = made.keys[ident]
    if not made.camp.fake:
        return key
    return f"{key} {made.camp.ticket(key)[0]}"


def links(made: Made, failures: bool) -> str:
    """The links cell: the PanDA monitor's page, and the failure summary on JIRA (a comment has an address)."""
    return "monitor failure summary" if failures and made.camp.fake else "monitor"


def test_report_tables_hold_the_campaign_its_steps_groups_and_failures(made):
    page = made.page
    epic_status = "To Do" if made.camp.fake else "open"
    assert page.rows("summary", "thead") == [["Campaign", "Epic", "Status", "Submissions", "Failed", "Partial", "Running",
                                             "Not submitted", "Files", "Done", "Failed", "Done %", "Last change"]]
    assert page.rows("summary") == [["demo-w47", made.epic, epic_status, "6", "1", "1", "1", "3", "60", "22", "10", "37%",
                                     "<time>"]]
    assert page.rows("summary", "tfoot") == [["All", "", "1 campaign", "6", "1", "1", "1", "3", "60", "22", "10", "37%", ""]]
    assert page.texts["h2"] == [f"Campaign demo-w47: {DESCRIPTION}"]
    assert page.rows("steps", campaign="demo-w47") == [
        ["step1", "-", "-", "3", "1", "1", "1", "0", "60", "22", "10", "37%"],
        ["step2", "step1", "-", "3", "0", "0", "0", "3", "0", "0", "0", "-"],
    ]
    assert page.rows("groups", "thead", campaign="demo-w47", step="step1") == [
        ["Group", "Label", "Ticket", "State", "Files", "Done", "Failed", "Run", "Site", "Last change", "Links"]]
    assert page.rows("groups", campaign="demo-w47", step="step1") == [
        ["1/3", "visit 100..107", ticket(made, "demo-w47_step1_001"), "partial", "20", "18", "2", RUN.format(1), "SLAC",
         "<time>", links(made, True)],
        ["Failures: 2 failed jobs, 1 distinct errors Failed jobs per task: isr 2 Next: rescue (1 error) Advised: "
         f"jiracampaign rescue {made.keys['demo-w47_step1_001']} --memory x2 --task isr (or, for every advised rescue "
         "of the campaign, jiracampaign rescue --campaign demo-w47 --advised)."],
        ["2/3", "visit 108..203", ticket(made, "demo-w47_step1_002"), "failed", "20", "2", "8", RUN.format(2), "SLAC",
         "<time>", links(made, True)],
        ["Failures: 8 failed jobs, 1 distinct errors Failed jobs per task: isr 8 Next: review (1 error)"],
        ["3/3", "visit 204..211", ticket(made, "demo-w47_step1_003"), "running", "20", "2", "0", RUN.format(3), "SLAC",
         "<time>", links(made, False)],
    ]
    assert page.rows("groups", campaign="demo-w47", step="step2") == [
        [f"{n}/3", f"band {band}", ticket(made, f"demo-w47_step2_00{n}"), "not submitted", "", "", "", "-", "SLAC", "-", ""]
        for n, band in ((1, "g"), (2, "r"), (3, "i"))]
    states = [attrs.get("data-state") for part, attrs, _ in page.table("groups", step="step1").rows if part == "tbody"]
    assert states == ["partial", "partial", "failed", "failed", "running"]
    oom, crash = [t for t in page.tables if t.attrs.get("class") == "failure-groups"]
    assert [cells for part, _, cells in oom.rows] == [
        ["Count", "Task", "Error", "Message", "Data IDs"],
        ["2", "isr", "pilot:1305 (also transformation:137)",
         f"killed {SCRIPT} & out of memory [x|javascript:alert(1)] Known: The job ran out of memory. rescue: Rescue the "
         "run with more memory for this task label (requestMemory in the BPS file). job 7000001 at SLAC_Rubin, "
         "attempt 1: stdout · stderr · log job 7000000 at SLAC_Rubin, attempt 1: stdout · stderr · log", "-"]]
    assert [cells[:3] + [cells[3].split(" ⚠")[0]] for part, _, cells in crash.rows][1:] == [
        ["8", "isr", "exe:65", "pipetask <b>crashed</b> & h1. {noformat}"]]


def test_report_links_are_the_tickets_the_monitor_and_the_job_logs(made):
    hrefs = [attrs["href"] for tag, attrs in made.page.tags if tag == "a"]
    if made.camp.fake:  # tickets have addresses on JIRA; the local store's have none
        server = made.camp.fake.url
        for key in [made.epic, *made.keys.values()]:
            assert f"{server}/browse/{key}" in hrefs
        comments = [h for h in hrefs if "focusedCommentId=" in h]
        assert len(comments) == 2 and all(h.startswith(f"{server}/browse/") for h in comments)
    else:
        assert not any("#JC-" in h for h in hrefs)
    monitor = made.camp.panda.url
    assert [h for h in hrefs if h.startswith(f"{monitor}/tasks/")] == [
        f"{monitor}/tasks/?reqid={6000 + n}&days=30" for n in range(3)]
    jobs = [h for h in hrefs if h.startswith(f"{monitor}/job")]  # the example jobs of each failure group
    assert jobs == [f"{monitor}/job?pandaid={n}" for n in (7000001, 7000000, 7000009, 7000008, 7000007)]
    logs = [h.split("/")[-1] for h in hrefs if h.startswith("https://storage.googleapis.com/")]
    assert logs == ["payload.stdout", "payload.stderr", "pilotlog.txt"] * 5, logs


def test_report_escapes_every_text_and_loads_nothing(made):
    page, text = made.page, made.text
    assert SCRIPT not in text and "<b>crashed" not in text  # only as text, escaped
    assert "&lt;script&gt;alert(&#39;boom&#39;)&lt;/script&gt; &amp; co" in text
    [(attrs, script)] = page.scripts  # ours alone, inline
    assert attrs == {} and "only-attention" in script
    for tag, attrs in page.tags:
        assert tag not in ("img", "link", "iframe", "object", "embed", "frame", "video", "audio", "source", "base",
                           "svg", "form"), tag
        assert not {"src", "srcset", "poster", "action", "style", "background"} & set(attrs), (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if "href" in attrs:
            assert tag == "a" and re.match(r"^(https?://|#)", attrs["href"]), (tag, attrs)
    [style] = page.styles
    assert "url(" not in style and "@import" not in style and "@font-face" not in style
    assert not any("javascript:" in attrs.get("href", "") for _, attrs in page.tags)


def test_report_costs_a_few_searches_on_jira_and_prints_its_counts(made):
    assert made.stderr.startswith("1 campaigns, 6 submissions (3 not submitted, 1 partial, 1 failed, 1 running), "
                                  "2 needing attention, 2 failure summaries read, in ")
    if not made.camp.fake:
        return
    # open epics, closed epics, the campaign's items, the comments of its two failing tickets: 4 searches, no write
    paths = [(r["method"], r["path"]) for r in made.requests]
    search = ("POST", "/rest/api/2/search/jql") if made.camp.fake.cloud else ("GET", "/rest/api/2/search")
    assert paths == [search] * 4


@pytest.mark.parametrize("made", ["cloud"], indirect=True)
def test_report_renders_in_headless_chromium(made, tmp_path):
    """The page in a real browser (Debian's Chromium): its script ran, the tables hold the rows the file has."""
    if not CHROMIUM and not os.environ.get("CI"):  # CI installs it (.ci/run): there, this test never skips
        pytest.skip("Debian's Chromium is not installed: apt-get install -y chromium")
    assert CHROMIUM, "Chromium is missing: .ci/run installs it (apt-get install -y chromium)"
    shot = made.html.with_suffix(".png")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,1100",
                               "--hide-scrollbars", f"--screenshot={shot}", "--dump-dom", made.html.as_uri()],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Page(done.stdout)
    assert dom.texts["title"] == made.page.texts["title"]
    for cls, data in (("summary", {}), ("steps", {"campaign": "demo-w47"}),
                      ("groups", {"campaign": "demo-w47", "step": "step1"}),
                      ("groups", {"campaign": "demo-w47", "step": "step2"})):
        for section in ("thead", "tbody", "tfoot"):
            assert dom.rows(cls, section, **data) == made.page.rows(cls, section, **data), (cls, section)
    assert dom.rows("groups", campaign="demo-w47", step="step1")[0][:4] == [
        "1/3", "visit 100..107", ticket(made, "demo-w47_step1_001"), "partial"]
    controls = next(attrs for tag, attrs in dom.tags if attrs.get("id") == "controls")
    assert "hidden" not in controls  # the page's script ran
    assert dom.scripts and not any("boom" in script for _, script in dom.scripts)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1400, 1100)
    if os.environ.get("JC_REPORT_SCREENSHOT"):  # keep it to look at
        shutil.copy(shot, os.environ["JC_REPORT_SCREENSHOT"])


# ---- choosing campaigns -----------------------------------------------------------------------------------
def test_closed_campaigns_show_within_the_window_or_when_named(runner, tmp_path, monkeypatch, write):
    env = Env("local", runner, tmp_path, monkeypatch)
    assert env.run("create", str(DEMO), "-o", "demo").exit_code == 0
    assert env.run("create", str(write("t1.yaml", MINIMAL_SPEC)), "-o", "t1").exit_code == 0
    store = LocalTracker(tmp_path / "store.sqlite")
    [t1] = store.list_campaigns(["t1"])
    store.close_item(t1.key)
    closed_at = datetime.now(timezone.utc)

    def shown(*args: str) -> list[list[str]]:
        out = tmp_path / "r.html"
        result = env.run("report", "--html", str(out), *args)
        assert result.exit_code == 0, result.output
        return [row[:3] for row in Page(out.read_text()).rows("summary")]

    assert shown() == [["demo-w47", "JC-1", "open"], ["t1", t1.key, "closed"]]  # closed a moment ago
    assert shown("--all") == shown()
    assert shown("t1") == [["t1", t1.key, "closed"]]
    later = build_report(store, since_days=1, now=closed_at + timedelta(days=2))
    assert [c.ident for c in later.campaigns] == ["demo-w47"]
    assert [c.ident for c in build_report(store, since_days=None, now=closed_at + timedelta(days=400)).campaigns] == \
        ["demo-w47", "t1"]
    assert [c.ident for c in build_report(store, ["t1"], since_days=1, now=closed_at + timedelta(days=2)).campaigns] == ["t1"]
    store.close()

    (tmp_path / "r.html").write_text("the previous report")
    wrong = env.run("report", "--html", str(tmp_path / "r.html"), "demo-w74")
    assert wrong.exit_code == 3
    assert wrong.stderr == (f"Error: CAMPAIGN: no campaign 'demo-w74' in local store {tmp_path / 'store.sqlite'}; "
                            "campaigns there: demo-w47, t1\n")
    assert (tmp_path / "r.html").read_text() == "the previous report"  # nothing half-written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".r.html")]


@pytest.mark.parametrize("kind", ["cloud", "datacenter"])
def test_closed_epics_on_jira_show_with_all_or_when_named(kind, runner, tmp_path, monkeypatch, write):
    env = Env(kind, runner, tmp_path, monkeypatch)
    env.fake.lag = 0  # Cloud's search shows new tickets at once (a report minutes after create)
    try:
        assert env.run("create", str(write("t1.yaml", MINIMAL_SPEC)), "-o", "t1").exit_code == 0
        assert env.run("create", str(DEMO), "-o", "demo").exit_code == 0
        epic = next(i for i in env.fake.issues.values() if "jcid-t1" in i.fields["labels"])
        epic.status = "6"  # closed by a person: Done

        def shown(*args: str) -> list[list[str]]:
            out = tmp_path / "r.html"
            result = env.run("report", "--html", str(out), *args)
            assert result.exit_code == 0, result.output
            return [row[:4] for row in Page(out.read_text()).rows("summary")]

        assert shown("--all") == [["demo-w47", "CAMP-5", "To Do", "6"], ["t1", epic.key, "Done", "3"]]  # open first
        assert shown("t1") == [["t1", epic.key, "Done", "3"]]
    finally:
        env.close()


# ---- reading failure summaries back -----------------------------------------------------------------------
def _documents() -> list:
    group = FailureGroup("isr", "pilot", "1305", f"boom {SCRIPT} & a_b *c* [x|javascript:alert(1)] {{noformat}} h1. y "
                         "`tick` | pipe \\ back https://evil.example/x (!) #1 -1 +2 ~3 ^4 ?5 !6",
                         also="transformation:137", count=3, data_ids=["visit=1, detector=2", "visit=3"],
                         examples=[FailureExample("70000", "isr", "SLAC", 1, "https://mon/job?pandaid=70000",
                                                  stdout="https://x/stdout")])
    status = RunStatus("run_a", "panda", BatchState.PARTIAL, failures=[group, FailureGroup("calibrate", "ValueError", "", "", count=1)],
                       failed_jobs=4, failures_read=True, url="https://mon/tasks/?reqid=1",
                       tasks=[TaskProgress("isr", 1, BatchState.PARTIAL, "finished", 10, 7, 3, 0, "https://mon/task/1")])
    entry = Entry(key="K-1", ident="x", step="step1", source="panda", run_name="run_a")
    steps = [StepInfo("step1", (), 3)]
    return [texts.failure_doc(status, entry, load_known_errors(None)), texts.status_doc(status, entry, "now"),
            texts.rollup_doc([entry], steps, "now"), texts.submit_failed_doc("bps submit x", "exit 1", "a\n```\nb\n{noformat}")]


@pytest.mark.parametrize("number", range(4))
def test_both_trackers_read_a_note_back_as_the_same_text_and_links(number):
    doc = _documents()[number]
    local = markdown_spans(markdown.render(doc))
    jira = wiki_spans(wiki.render(doc) + "\n\n{color:#97a0af}jiracampaign:failures-abc{color}")
    assert local == jira
    assert all(url.startswith("https://") for line in local for _, url in line if url)


def test_a_failure_summary_reads_back_as_groups_with_data_ids_and_links():
    note = Note("K-1", "failures-x", wiki_spans(wiki.render(_documents()[0])), url="https://jira/browse/K-1")
    failures = read_failures(note, "run_a")
    assert failures.headline == "4 failed jobs, 2 distinct errors" and failures.url == "https://jira/browse/K-1"
    first, second = failures.groups
    assert (first.count, first.task, first.error, first.also) == (3, "isr", "pilot:1305", "transformation:137")
    assert first.message.startswith(f"boom {SCRIPT} & a_b *c* [x|javascript:alert(1)]")
    assert first.data_ids == ["visit=1, detector=2", "visit=3"] and first.more_ids == 1
    assert first.details[-1] == (("job 70000", "https://mon/job?pandaid=70000"), (" at SLAC, attempt 1: ", ""),
                                 ("stdout", "https://x/stdout"))
    assert (second.count, second.task, second.error, second.message) == (1, "calibrate", "ValueError", "no diagnostic")
    assert ["".join(t for t, _ in line) for line in failures.lines] == [
        "Failed jobs per task: isr 3, calibrate 1", "Next: review (1 error); rescue (1 error)"]
    assert read_failures(note, "run_b") is None  # an earlier attempt's summary


# ---- the page of a model made by hand -------------------------------------------------------------------
def test_the_page_shows_data_ids_attempts_submit_dirs_and_links_only_to_web_addresses():
    from jiracampaign.render.html import render
    from jiracampaign.services.report import CampaignView, FailureRow, Failures, Report, StepView, SubmissionView

    sub = SubmissionView(key="JC-2", url="/store.sqlite#JC-2", ident="c_step1_001", step="step1", group=1, groups=1,
                         label="night 20260101", state="partial", attempt=2, site="S3DF", run_name="u_op_c_step1_attempt2",
                         wms="htcondor", total=4, finished=3, failed=1, submit_dir="/sdf/submit/u_op_c_step1_attempt2",
                         monitor="javascript:alert(1)",
                         failures=Failures("u_op_c_step1_attempt2", "1 failed quanta, 1 distinct errors", [
                             FailureRow(1, "calibrateImage", "ValueError", "bad <psf>", data_ids=["visit=1 & detector=2"],
                                        more_ids=3, details=[(("log ", ""), ("/sdf/log.txt", "file:///sdf/log.txt"))])],
                             url="javascript:alert(2)"))
    campaign = CampaignView("c", "JC-1", "/store.sqlite#JC-1", "Campaign c", "open", False,
                            [StepView("step1", [], 1, submissions=[sub])])
    page = Page(render(Report("2026-12-01T00:00:00+00:00", "local store /store.sqlite", "the campaigns named", [campaign])))
    assert page.rows("groups", campaign="c", step="step1") == [
        ["1/1", "night 20260101", "JC-2", "partial", "4", "3", "1", "u_op_c_step1_attempt2 (attempt 2)", "S3DF", "-",
         "/sdf/submit/u_op_c_step1_attempt2"],
        ["Failures: 1 failed quanta, 1 distinct errors"]]
    [groups] = [t for t in page.tables if t.attrs.get("class") == "failure-groups"]
    assert groups.rows[1][2] == ["1", "calibrateImage", "ValueError", "bad <psf> log /sdf/log.txt",
                                 "visit=1 & detector=2 (+3 more)"]
    assert [attrs["href"] for tag, attrs in page.tags if tag == "a"] == ["#campaign-c", "#step-c-step1"]

    text = render(Report("2026-12-01T00:00:00+00:00", "local store /s", "every campaign, open or closed"))
    empty = Page(text)
    assert empty.rows("summary") == [] and empty.rows("summary", "tfoot")[0][:4] == ["All", "", "0 campaigns", "0"]
    assert '<p class="empty">No campaigns to show (every campaign, open or closed).</p>' in text
