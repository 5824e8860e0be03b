"""Benchmark: CPU cost of starting the command line (`jiracampaign --help`) beside a bare interpreter.

Every command pays for starting Python and importing the CLI before it does anything, so `--help`
should import only what the CLI needs to describe itself, not the HTTP and templating stacks (jira,
requests, jinja2), which each command imports when it runs.

The comparison is fair: both commands start the same interpreter (the venv's, with the same
environment, `site` and installed packages), one run of each is made first and not counted (so
both find compiled bytecode and warm file caches), then the runs alternate, one at a time. The
figure is the child's own CPU time (user + system, from `os.wait4`), not wall time, so a busy machine
changes it little; the median of the runs is printed. The difference between the two is what the
CLI costs on top of Python itself. `-X importtime` then lists which of the heavy packages `--help`
imports. Nothing is asserted: the figures are for reading.

Usage: python benchmarks/bench_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("jira", "requests", "jinja2")


def cli_command() -> list[str]:
    """The installed console script if there is one beside the interpreter, else ``python -m jiracampaign``."""
    for script in (ROOT / ".venv" / "bin" / "jiracampaign", Path(sys.executable).parent / "jiracampaign"):
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script), "--help"]
    return [sys.executable, "-m", "jiracampaign", "--help"]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE", "PYTHONVERBOSE"):
        env.pop(name, None)
    return env


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds (user + system) of one run of ``command`` and its wall seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    stderr = proc.stderr.read()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed (exit {proc.returncode}):\n{stderr.decode(errors='replace')}")
    return usage.ru_utime + usage.ru_stime, wall


def measure(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[list[float], list[float]]]:
    env = environment()
    for command in commands.values():
        run_once(command, env)  # warm-up: bytecode compiled, files cached
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in commands}
    for _ in range(runs):
        for name, command in commands.items():  # alternate, so drift affects both alike
            cpu, wall = run_once(command, env)
            out[name][0].append(cpu)
            out[name][1].append(wall)
    return out


def heavy_imports() -> dict[str, float | None]:
    """For each heavy package: its cumulative import time in ms under ``--help``, or `None` if not imported."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "jiracampaign", "--help"], cwd=ROOT,
                            env=environment(), stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True)
    found: dict[str, float | None] = {name: None for name in HEAVY}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line
        module = parts[2].strip()
        if module in found:  # a package's line follows its submodules' and includes them
            found[module] = int(parts[1]) / 1000
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    cli = cli_command()
    bare = [sys.executable, "-c", "pass"]
    names = {"jiracampaign --help": cli, "python -c pass": bare}
    results = measure(names, args.runs)
    cpu = {name: statistics.median(r[0]) for name, r in results.items()}
    wall = {name: statistics.median(r[1]) for name, r in results.items()}
    print(f"startup, median of {args.runs} runs each (child CPU = user + sys); interpreter {sys.executable}")
    print(f"  CLI command: {' '.join(Path(cli[0]).name if i == 0 else part for i, part in enumerate(cli))}")
    print(f"  {'command':<22} {'CPU ms':>8} {'min ms':>8} {'wall ms':>8}")
    for name, (cpus, _) in results.items():
        print(f"  {name:<22} {cpu[name] * 1000:>8.1f} {min(cpus) * 1000:>8.1f} {wall[name] * 1000:>8.1f}")
    base, ours = cpu["python -c pass"], cpu["jiracampaign --help"]
    print(f"  ratio {ours / base:.1f}x the bare interpreter; the CLI adds {(ours - base) * 1000:.1f} ms of CPU")
    from summary import summary  # benchmarks/ is on sys.path when run as a script

    summary("jiracampaign --help, CPU", round(ours * 1000, 1), unit="CPU ms",
            note=f"median of {args.runs}; the bare interpreter: {base * 1000:.0f} ms")
    print("imported by 'python -m jiracampaign --help' (-X importtime):")
    for name, ms in heavy_imports().items():
        print(f"  {name:<10} {'no' if ms is None else f'yes ({ms:.1f} ms cumulative)'}")


if __name__ == "__main__":
    main()
