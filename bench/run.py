"""Time deckgen against the straightforward pipeline, on the same generated cards.

For each size: generate the cards (`generate.py`), then run, each as a child process:

  baseline   bench/baseline.py: YAML, Markdown and genanki in one plain script
  cold       `deckgen build` with no cache and no lock (a fresh checkout's first build)
  one card   `deckgen build` again after editing one card

and print the times, their ratios to the baseline and two peaks of memory: the
largest single process (ru_maxrss from wait4, which covers the worker processes too)
and the whole process tree (the sum of its processes' proportional set sizes, which
count a page that forked workers share with their parent once; sampled from
/proc/PID/smaps_rollup every 250 ms, as reading it more often slows the build it
measures). With --repeat N each is run N times and the fastest run counts (noise on a
shared machine only ever adds time).

    python bench/run.py                    # 1k, 10k, 20k and 100k cards
    python bench/run.py --sizes 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from generate import edit_one_card, generate

BENCH = Path(__file__).resolve().parent
# The targets (issue #8), as ratios to the baseline at 20,000 cards.
COLD_TARGET = 0.8
ONE_CARD_TARGET = 0.25


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float  # the largest single process
    tree_mb: float  # all its processes together


def measure(command: list[str]) -> Run:
    """Run `command` to the end: its wall time and peak memory."""
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
    return Run(min(r.seconds for r in runs), max(r.peak_mb for r in runs), max(r.tree_mb for r in runs))


def bench_size(cards: int, repeat: int, workdir: Path) -> dict[str, Run]:
    cards_dir = workdir / f"cards-{cards}"
    out_dir = workdir / f"build-{cards}"
    topic_files = generate(cards_dir, cards)
    build = [sys.executable, "-m", "deckgen", "build", "--cards", str(cards_dir), "--out", str(out_dir)]
    baseline = [sys.executable, str(BENCH / "baseline.py"), str(cards_dir), str(workdir / "baseline.apkg")]
    runs: dict[str, list[Run]] = {"baseline": [], "cold": [], "one card": []}
    for _ in range(repeat):
        runs["baseline"].append(measure(baseline))
        shutil.rmtree(out_dir, ignore_errors=True)
        (cards_dir / "deck.lock").unlink(missing_ok=True)
        runs["cold"].append(measure(build))
        edit_one_card(topic_files[len(topic_files) // 2])
        runs["one card"].append(measure(build))
    return {name: fastest(each) for name, each in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,20000,100000", help="card counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each build; the fastest counts")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    print(
        f"deckgen benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, best of {args.repeat}"
    )
    print(
        f"{'cards':>7}  {'baseline':>9}  {'cold':>8} {'ratio':>6}  {'one card':>8} {'ratio':>6}"
        f"  {'peak MB (largest process/all): baseline':>39}  {'cold':>9}  {'one card':>9}"
    )
    with tempfile.TemporaryDirectory(prefix="deckgen-bench-") as tmp:
        for size in sizes:
            result = bench_size(size, args.repeat, Path(tmp))
            base, cold, edit = result["baseline"], result["cold"], result["one card"]
            print(
                f"{size:>7}  {base.seconds:>8.2f}s  {cold.seconds:>7.2f}s {cold.seconds / base.seconds:>6.2f}"
                f"  {edit.seconds:>7.2f}s {edit.seconds / base.seconds:>6.2f}"
                f"  {_mb(base):>39}  {_mb(cold):>9}  {_mb(edit):>9}",
                flush=True,
            )
    print(
        f"targets at 20,000 cards: cold <= {COLD_TARGET}, one card <= {ONE_CARD_TARGET} (ratios to baseline)"
    )


def _mb(run: Run) -> str:
    return f"{run.peak_mb:.0f}/{run.tree_mb:.0f}"


if __name__ == "__main__":
    main()
