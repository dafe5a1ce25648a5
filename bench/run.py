"""Time deckgen against the straightforward pipeline, on the same generated cards.

For each size: generate the cards (`generate.py`), then run, each as a child process:

  baseline   bench/baseline.py: YAML, Markdown and genanki in one plain script
  cold       `deckgen build` with no cache and no lock (a fresh checkout's first build)
  one card   `deckgen build` again after editing one card

and print the times, their ratios to the baseline, where each build's time went (the
phases `BuildWork.phases` reports: read, render, identify, package, report, and
`start`, the time from the process's start to the build: imports; `other` is the rest
of the wall time: the interpreter, the CLI, exiting) and two peaks of memory: the
largest single process (ru_maxrss from wait4, which covers the worker processes too)
and the whole process tree (the sum of its processes' proportional set sizes, which
count a page that forked workers share with their parent once; sampled from
/proc/PID/smaps_rollup every 250 ms, as reading it more often slows the build it
measures). With --repeat N each is run N times and the fastest run counts (noise on a
shared machine only ever adds time); a line `rounds` then gives the median and range
of each round's ratios, each build against the baseline run just before it.

    python bench/run.py                    # 1k, 10k, 20k and 100k cards
    python bench/run.py --sizes 20000 --repeat 3
    python bench/run.py --sizes 20000 --busy   # beside a CPU-bound process

With --busy, a process that only spins (one core's worth of work, as another job on
the machine would be) runs beside each timed run, the baseline's too.

deckgen's bytecode is compiled first (`compile_bytecode`), as the libraries the
baseline uses were compiled when they were installed: Python writes a module's bytecode
on its first import, except where PYTHONDONTWRITEBYTECODE is set, and compiling every
module of deckgen from source again on each run took 0.1 s of every build's start.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from generate import edit_one_card, generate

BENCH = Path(__file__).resolve().parent
# The targets (issue #19), as ratios to the baseline at 20,000 cards.
COLD_TARGET = 0.6
COLD_BUSY_TARGET = 0.75
ONE_CARD_TARGET = 0.10
PHASES = ("start", "read", "render", "identify", "package", "report")
# Run in the child for a deckgen build: the CLI as `deckgen` runs it, with the build's
# phases (and the time to reach it) written to the file named first.
_DECKGEN = """
import json, sys, time
start = time.perf_counter()
import deckgen.build
phases, build = {}, deckgen.build.build
def timed(*args, **kwargs):
    phases["start"] = time.perf_counter() - start
    result = build(*args, **kwargs)
    phases.update(result.work.phases)
    return result
deckgen.build.build = timed
from deckgen.cli import main
try:
    main(sys.argv[2:], prog_name="deckgen")
finally:
    with open(sys.argv[1], "w") as out:
        json.dump(phases, out)
"""
_SPIN = "while True: pass"


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float  # the largest single process
    tree_mb: float  # all its processes together
    phases: dict[str, float] = field(default_factory=dict)  # a deckgen build's steps (PHASES)


def deckgen_command(phases_file: Path, *args: str) -> list[str]:
    """`deckgen ARGS` in a child process that writes the build's phases to `phases_file`."""
    return [sys.executable, "-c", _DECKGEN, str(phases_file), *args]


def measure(command: list[str], phases_file: Path | None = None, busy: bool = False) -> Run:
    """Run `command` to the end: its wall time, peak memory and (from `phases_file`, if
    given) its phases. With `busy`, a spinning process runs beside it."""
    spinner = subprocess.Popen([sys.executable, "-c", _SPIN]) if busy else None
    try:
        run = _measure(command)
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
    if phases_file is None:
        return run
    import json

    phases = json.loads(phases_file.read_text())
    phases["other"] = run.seconds - sum(phases.values())
    return Run(run.seconds, run.peak_mb, run.tree_mb, phases)


def _measure(command: list[str]) -> Run:
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tree_kb = [0]
    sampler = threading.Thread(target=_sample_tree, args=(process, tree_kb), daemon=True)
    sampler.start()
    errors = process.stderr.read().decode() if process.stderr else ""
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{errors}")
    return Run(seconds, usage.ru_maxrss / 1024, tree_kb[0] / 1024)  # KiB on Linux


def _sample_tree(process: subprocess.Popen, peak_kb: list[int]) -> None:
    """Keep peak_kb[0] at the largest summed Pss of `process` and its descendants."""
    while process.returncode is None:
        total = sum(_pss_kb(pid) for pid in _tree(process.pid))
        peak_kb[0] = max(peak_kb[0], total)
        time.sleep(0.25)


def _tree(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sorted(tree)


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def fastest(runs: list[Run]) -> Run:
    """The fastest run's time and phases; the largest memory of all."""
    best = min(runs, key=lambda r: r.seconds)
    return Run(best.seconds, max(r.peak_mb for r in runs), max(r.tree_mb for r in runs), best.phases)


def bench_size(
    cards: int, repeat: int, workdir: Path, busy: bool = False
) -> tuple[dict[str, Run], dict[str, list[float]]]:
    """The fastest run of each (baseline, cold, one card), and each round's ratios of
    the two builds to the baseline run just before them (the same machine state)."""
    cards_dir = workdir / f"cards-{cards}"
    out_dir = workdir / f"build-{cards}"
    phases = workdir / "phases.json"
    topic_files = generate(cards_dir, cards)
    build = deckgen_command(phases, "build", "--cards", str(cards_dir), "--out", str(out_dir))
    baseline = [sys.executable, str(BENCH / "baseline.py"), str(cards_dir), str(workdir / "baseline.apkg")]
    runs: dict[str, list[Run]] = {"baseline": [], "cold": [], "one card": []}
    for _ in range(repeat):
        runs["baseline"].append(measure(baseline, busy=busy))
        shutil.rmtree(out_dir, ignore_errors=True)
        (cards_dir / "deck.lock").unlink(missing_ok=True)
        runs["cold"].append(measure(build, phases, busy))
        edit_one_card(topic_files[len(topic_files) // 2])
        runs["one card"].append(measure(build, phases, busy))
    rounds = {
        name: [run.seconds / base.seconds for run, base in zip(runs[name], runs["baseline"], strict=True)]
        for name in ("cold", "one card")
    }
    return {name: fastest(each) for name, each in runs.items()}, rounds


def round_line(rounds: dict[str, list[float]]) -> str:
    """Each round's ratios, each build to the baseline run just before it: the median
    and the range (on a shared machine, steadier than the fastest against the fastest)."""
    parts = [
        f"{name} median {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        for name, ratios in rounds.items()
    ]
    return f"{'':>9}{'rounds':>9}: " + "  ".join(parts)


def phase_line(name: str, run: Run) -> str:
    """`  cold: start 0.25 read 1.10 ...` (seconds)."""
    parts = [f"{phase} {run.phases[phase]:.2f}" for phase in (*PHASES, "other") if phase in run.phases]
    return f"{'':>9}{name:>9}: " + "  ".join(parts)


def compile_bytecode() -> None:
    """Write the bytecode of every module of the deckgen the builds import (see the module
    docstring); a package that cannot be written to is left as it is."""
    spec = importlib.util.find_spec("deckgen")
    for folder in spec.submodule_search_locations or () if spec else ():
        compileall.compile_dir(folder, quiet=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,20000,100000", help="card counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each build; the fastest counts")
    parser.add_argument("--busy", action="store_true", help="run a CPU-bound process beside each run")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    compile_bytecode()

    beside = ", beside a CPU-bound process" if args.busy else ""
    print(
        f"deckgen benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"best of {args.repeat}{beside}"
    )
    print(
        f"{'cards':>7}  {'baseline':>9}  {'cold':>8} {'ratio':>6}  {'one card':>8} {'ratio':>6}"
        f"  {'peak MB (largest process/all): baseline':>39}  {'cold':>9}  {'one card':>9}"
    )
    with tempfile.TemporaryDirectory(prefix="deckgen-bench-") as tmp:
        for size in sizes:
            result, rounds = bench_size(size, args.repeat, Path(tmp), args.busy)
            base, cold, edit = result["baseline"], result["cold"], result["one card"]
            print(
                f"{size:>7}  {base.seconds:>8.2f}s  {cold.seconds:>7.2f}s {cold.seconds / base.seconds:>6.2f}"
                f"  {edit.seconds:>7.2f}s {edit.seconds / base.seconds:>6.2f}"
                f"  {_mb(base):>39}  {_mb(cold):>9}  {_mb(edit):>9}",
                flush=True,
            )
            print(phase_line("cold", cold), phase_line("one card", edit), sep="\n", flush=True)
            if args.repeat > 1:
                print(round_line(rounds), flush=True)
    print(
        f"targets at 20,000 cards (ratios to the baseline): cold <= {COLD_TARGET} "
        f"(<= {COLD_BUSY_TARGET} with --busy), one card <= {ONE_CARD_TARGET}"
    )


def _mb(run: Run) -> str:
    return f"{run.peak_mb:.0f}/{run.tree_mb:.0f}"


if __name__ == "__main__":
    main()
