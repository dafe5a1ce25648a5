"""Time deckgen against the straightforward pipeline, on the same generated cards.

For each size: generate the cards (`generate.py`), then run, each as a child process
whose own peak memory (ru_maxrss from wait4) is read:

  baseline   bench/baseline.py: YAML, Markdown and genanki in one plain script
  cold       `deckgen build` with no cache and no lock (a fresh checkout's first build)
  one card   `deckgen build` again after editing one card

and print the times, their ratios to the baseline and the peak memory. With --repeat
N each is run N times and the fastest run counts (noise on a shared machine only ever
adds time).

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
    peak_mb: float


def measure(command: list[str]) -> Run:
    """Run `command` to the end; its wall time and the peak memory of its largest process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{errors}")
    return Run(seconds, usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux


def fastest(runs: list[Run]) -> Run:
    return Run(min(r.seconds for r in runs), max(r.peak_mb for r in runs))


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
        f"  {'peak MB: baseline':>17} {'cold':>6} {'one card':>8}"
    )
    with tempfile.TemporaryDirectory(prefix="deckgen-bench-") as tmp:
        for size in sizes:
            result = bench_size(size, args.repeat, Path(tmp))
            base, cold, edit = result["baseline"], result["cold"], result["one card"]
            print(
                f"{size:>7}  {base.seconds:>8.2f}s  {cold.seconds:>7.2f}s {cold.seconds / base.seconds:>6.2f}"
                f"  {edit.seconds:>7.2f}s {edit.seconds / base.seconds:>6.2f}"
                f"  {base.peak_mb:>17.0f} {cold.peak_mb:>6.0f} {edit.peak_mb:>8.0f}",
                flush=True,
            )
    print(
        f"targets at 20,000 cards: cold <= {COLD_TARGET}, one card <= {ONE_CARD_TARGET} (ratios to baseline)"
    )


if __name__ == "__main__":
    main()
