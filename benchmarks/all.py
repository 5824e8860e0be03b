"""Run every benchmark (`make bench`), show each one's own output, then one table of what they measured.

Each ``benchmarks/bench_*.py`` runs as a script of its own (its arguments: its defaults). A figure a
benchmark wants in the table is a ``BENCH-SUMMARY {json}`` line it prints (`benchmarks/summary.py`):
what, the product's figure, the baseline's, the ratio (baseline / product: how many times better),
and the requests counted at the server. A benchmark that prints none gets a row saying so, and one
that fails a row with its exit status: the table always lists every benchmark.

Usage: python benchmarks/all.py [--only submit,create] [--skip startup]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from summary import PREFIX  # noqa: E402

log = logging.getLogger(__name__)


def run(script: Path) -> tuple[int, list[dict]]:
    """Run one benchmark, echoing its output; its exit status and summary rows."""
    print(f"\n=== {script.name} ===", flush=True)
    rows = []
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        for line in proc.stdout:
            if line.startswith(PREFIX):
                try:
                    rows.append(json.loads(line[len(PREFIX):]))
                    continue
                except json.JSONDecodeError:
                    pass
            print(line, end="", flush=True)
    return proc.returncode, rows


def number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def table(results: list[tuple[str, int, list[dict]]]) -> str:
    """The summary table, one row per figure (a row per benchmark without any)."""
    head = ("benchmark", "what", "product", "baseline", "unit", "ratio", "requests at the server")
    lines = []
    for name, status, rows in results:
        if status != 0:
            lines.append((name, f"FAILED (exit status {status})", "", "", "", "", ""))
        if not rows and status == 0:
            lines.append((name, "(no summary line: see its output above)", "", "", "", "", ""))
        for row in rows:
            ratio = row.get("ratio")
            what = row["what"] + (f" [{row['note']}]" if row.get("note") else "")
            lines.append((name, what, number(row.get("product")), number(row.get("baseline")), row.get("unit", ""),
                          f"{ratio:.2f}x" if ratio else "-", row.get("requests") or ""))
    widths = [max(len(str(r[i])) for r in [head, *lines]) for i in range(len(head))]
    out = ["  ".join(str(c).ljust(w) if i < 2 or i == 4 or i == 6 else str(c).rjust(w)
                     for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in [head, *lines]]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="benchmark names to run (comma-separated: submit,create)")
    parser.add_argument("--skip", default="", help="benchmark names to leave out")
    args = parser.parse_args()
    only = {n for n in args.only.split(",") if n}
    skip = {n for n in args.skip.split(",") if n}
    scripts = [p for p in sorted(HERE.glob("bench_*.py"))
               if (not only or p.stem[len("bench_"):] in only) and p.stem[len("bench_"):] not in skip]
    results = [(script.stem, *run(script)) for script in scripts]
    print("\n=== make bench: summary (ratio = baseline / product: how many times better) ===")
    print(table(results))
    return 1 if any(status for _, status, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
