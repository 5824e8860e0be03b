"""Tracker-neutral documents: the same `Document` rendered as JIRA wiki markup and as Markdown, exactly;
text (from a workload system, a user, a spec) comes out inert in both, whatever markup it contains."""

from __future__ import annotations

import re

import pytest

from jiracampaign.core.documents import (Bullet, Bullets, Code, Document, Emph, Fields, Heading, Link, Mono, Paragraph,
                                         Strong, Table, Warn, plain_text)
from jiracampaign.trackers import markdown
from jiracampaign.trackers.jira import wiki

#: one of every block and span
FULL = Document([
    Heading(["Run ", Mono("u_x")]),
    Fields([("Campaign", Mono("c1")), ("Operator", "jdoe"), ("Inputs", 8)]),
    Table(["Task", "State", "Files"], [["isr", Link("failed", "https://m/task/1/"), 10], [Strong("All"), "", 3]]),
    Code("visit > 1\nband = 'g'"),
    Paragraph(["See ", Strong("this"), " and ", Emph("that"), " ", Warn()]),
    Bullets([Bullet("one", [Bullet(["two ", Mono("x")])]), Bullet("three")]),
])

FULL_WIKI = """\
h4. Run {{u\\_x}}
||Campaign|{{c1}}|
||Operator|jdoe|
||Inputs|8|

||Task||State||Files||
|isr|[failed|https://m/task/1/]|10|
|*All*| |3|

{noformat}
visit > 1
band = 'g'
{noformat}

See *this* and _that_ (!)

* one
** two {{x}}
* three"""

FULL_MARKDOWN = """\
#### Run `u_x`

- **Campaign:** `c1`
- **Operator:** jdoe
- **Inputs:** 8

| Task | State | Files |
| --- | --- | --- |
| isr | [failed](https://m/task/1/) | 10 |
| **All** |  | 3 |

```
visit > 1
band = 'g'
```

See **this** and _that_ ⚠

- one
  - two `x`
- three"""

HOSTILE = "*bold* [x|javascript:alert(1)] {noformat} `tick` a|b #1 _u_ {{m}} !img! <b> ~s~ (!)"


# ---- the same document, both renderers ------------------------------------------------------------------
def test_wiki_renders_every_block_exactly():
    assert wiki.render(FULL) == FULL_WIKI


def test_markdown_renders_every_block_exactly():
    assert markdown.render(FULL) == FULL_MARKDOWN


def test_heading_levels_and_an_empty_document():
    doc = Document().add(Heading("Top", level=2), Paragraph("text"))
    assert wiki.render(doc) == "h2. Top\ntext"  # a heading's content follows on the next line
    assert markdown.render(doc) == "## Top\n\ntext"
    assert wiki.render(Document()) == markdown.render(Document()) == ""


def test_rendering_something_not_a_block_is_an_error():
    for render in (wiki.render, markdown.render):
        with pytest.raises(TypeError, match="not a document block"):
            render(Document(["a string is not a block"]))  # type: ignore[list-item]


# ---- hostile text ---------------------------------------------------------------------------------------
def test_markup_in_text_is_escaped_in_wiki():
    assert wiki.render(Document([Paragraph(HOSTILE)])) == (
        "\\*bold\\* \\[x\\|javascript:alert\\(1\\)\\] \\{noformat\\} `tick` a\\|b \\#1 \\_u\\_ \\{\\{m\\}\\} \\!img\\! "
        "<b> \\~s\\~ \\(\\!\\)")


def test_markup_in_text_is_escaped_in_markdown():
    assert markdown.render(Document([Paragraph(HOSTILE)])) == (
        "\\*bold\\* \\[x\\|javascript:alert(1)\\] {noformat} \\`tick\\` a\\|b \\#1 \\_u\\_ {{m}} \\!img\\! \\<b\\> "
        "\\~s\\~ (\\!)")


def test_hostile_text_inside_spans_stays_inside_them():
    doc = Document([Paragraph([Strong("*x*"), " ", Emph("_y_"), " ", Mono("a`b|c}}d")])])
    assert wiki.render(doc) == "*\\*x\\** _\\_y\\__ {{a`b\\|c\\}\\}d}}"
    assert markdown.render(doc) == "**\\*x\\*** _\\_y\\__ ``a`b\\|c}}d``"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<b>x</b>", "ftp://h/x",
                                 "/relative", "", " https://h/leading-space"])
def test_a_link_not_http_is_its_escaped_title_alone(url):
    doc = Document([Paragraph(Link("[x|y] *z*", url))])
    assert wiki.render(doc) == "\\[x\\|y\\] \\*z\\*"
    assert markdown.render(doc) == "\\[x\\|y\\] \\*z\\*"


def test_a_link_url_cannot_leave_its_brackets():
    doc = Document([Paragraph(Link("t", "https://h/a|b]c d(e)<f>"))])
    assert wiki.render(doc) == "[t|https://h/a%7Cb%5Dc%20d(e)<f>]"
    assert markdown.render(doc) == "[t](https://h/a%7Cb]c%20d%28e%29%3Cf%3E)"


def test_code_containing_the_closing_marker_cannot_close_early():
    text = "a\n{noformat}\nh1. boom\n```\n````x"
    out = wiki.render(Document([Code(text)]))
    assert out.startswith("{noformat}\n") and out.endswith("\n{noformat}")
    assert out.count("{noformat}") == 2, out
    md = markdown.render(Document([Code(text)]))
    assert md == "`````\n" + text + "\n`````"  # one backtick more than the longest run inside


def test_code_is_kept_exactly_in_markdown():
    text = "*not bold* [x|javascript:alert(1)] | # `q`"
    assert markdown.render(Document([Code(text)])) == "```\n" + text + "\n```"
    assert wiki.render(Document([Code(text)])) == "{noformat}\n" + text + "\n{noformat}"


def test_monospace_with_backticks_gets_a_longer_fence():
    assert markdown.render(Document([Paragraph(Mono("`x`"))])) == "`` `x` ``"
    assert markdown.render(Document([Paragraph(Mono("a``b"))])) == "```a``b```"
    assert markdown.render(Document([Paragraph(Mono("two\nlines"))])) == "`two lines`"


def test_labels_and_headers_are_escaped():
    doc = Document([Fields([("*L*|x", "v")]), Table(["a|b", "#"], [["1", "2"]])])
    assert wiki.render(doc) == "||\\*L\\*\\|x|v|\n\n||a\\|b||\\#||\n|1|2|"
    assert markdown.render(doc) == "- **\\*L\\*\\|x:** v\n\n| a\\|b | \\# |\n| --- | --- |\n| 1 | 2 |"


def test_text_with_line_breaks_is_one_line_in_markdown():
    assert markdown.render(Document([Fields([("L", "one\r\ntwo\n# three")])])) == "- **L:** one two \\# three"


# ---- found: text that still becomes markup ----------------------------------------------------------------
def _gfm_cells(row: str) -> list[str]:
    """Cells of a GFM table row: split on every `|` not escaped (GFM splits inside code spans too)."""
    return re.split(r"(?<!\\)\|", row.strip().strip("|"))


def test_markdown_pipe_inside_a_table_cell_cannot_split_it():
    """Guard (jiracampaign/trackers/markdown.py, inline() for Mono and Link): GFM splits table rows on every
    unescaped `|`, also inside code spans and link destinations, so a `|` in Mono text or a link URL adds cells."""
    doc = Document([Table(["Name", "Link"], [[Mono("x|y"), Link("t", "https://h/a|b")]])])
    row = markdown.render(doc).splitlines()[2]
    assert len(_gfm_cells(row)) == 2, f"the row {row!r} has {len(_gfm_cells(row))} cells, not 2"


def test_markdown_text_at_the_start_of_a_block_is_not_a_list_or_a_rule():
    """Guard (jiracampaign/trackers/markdown.py, escape): `-`, `+`, digits followed by `.`/`)` at the start of
    a paragraph or bullet are not escaped, so a user's text (a campaign description) becomes a list or a rule."""
    marked = []
    for text in ("- not a list", "+ not a list", "1. not a list", "2026) not a list", "---"):
        for out in (markdown.render(Document([Paragraph(text)])),
                    markdown.render(Document([Bullets([Bullet(text)])])).removeprefix("- ")):
            if re.match(r"^(?:[-+*]|\d{1,9}[.)])(?:\s|$)|^-{3,}$", out):
                marked.append(out)
    assert not marked, f"text rendered as Markdown block markup: {marked}"


def test_wiki_text_at_the_start_of_a_paragraph_is_not_a_heading():
    """Guard (jiracampaign/trackers/jira/wiki.py, escape): `h1. ` / `bq. ` at the start of a line are block
    markup in JIRA and are not escaped, so such a text (a campaign description) becomes a heading or a quote."""
    marked = [out for out in (wiki.render(Document([Paragraph(text)])) for text in ("h1. boom", "bq. quoted"))
              if re.match(r"^(?:h[1-6]|bq)\. ", out)]
    assert not marked, f"text rendered as JIRA block markup: {marked}"


def test_wiki_line_breaks_in_inline_text_cannot_break_a_table():
    """Guard (jiracampaign/trackers/jira/wiki.py, escape keeps line breaks): a diagnostic with a line break in a
    field ends the table row early, and the next line can start a heading."""
    out = wiki.render(Document([Fields([("Note", "one\nh1. two")]), Table(["T"], [["a\n|b"]])]))
    lines = out.split("\n")
    assert not any(re.match(r"^h[1-6]\. ", line) for line in lines), out
    assert len([line for line in lines if line]) == 3, f"one line per row expected: {out!r}"


# ---- plain text -------------------------------------------------------------------------------------------
def test_plain_text_of_every_span():
    content = [Strong(2), " x ", Mono("isr"), " ", Emph(["a ", Strong("b")]), " ", Link("job 1", "https://h/1"), " ",
               Link("bad", "javascript:x"), " ", Warn(), " ", 7]
    assert plain_text(content) == "2 x isr a b job 1 bad (!) 7"


def test_plain_text_keeps_markup_characters_as_they_are():
    assert plain_text(HOSTILE) == HOSTILE
    assert plain_text(Mono("*x*")) == "*x*"
    assert plain_text([]) == ""
    assert plain_text([["nested ", ["deep"]]]) == "nested deep"


@pytest.mark.parametrize("text, inert", [
    ("see https://evil.example/x", "see https:\u200b//evil.example/x"),
    ("HTTP://EVIL.example", "HTTP:\u200b//EVIL.example"),
    ("ftp://h/x and file:///etc/passwd", "ftp:\u200b//h/x and file:\u200b///etc/passwd"),
    ("go to www.evil.example", "go to www\u200b.evil.example"),
    ("write mailto:a@evil.example", "write mailto:\u200ba@evil.example"),
])
def test_bare_urls_in_text_are_not_links_in_either_renderer(text, inert):
    """JIRA and GitHub-flavoured Markdown link a bare URL even when the markup around it is escaped."""
    doc = Document([Paragraph(text), Paragraph(Link(text, "https://m/job?pandaid=1"))])
    for render in (wiki.render, markdown.render):
        out = render(doc)
        assert re.search(r"(?i)\b[a-z]+://|\bwww\.|mailto:[^\u200b]", out.replace("https://m/job", "")) is None, out
        assert "https://m/job?pandaid=1" in out  # a link stays a link
    assert markdown.render(Document([Paragraph(text)])) == inert.replace("*", "\\*")
