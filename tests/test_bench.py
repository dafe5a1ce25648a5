"""The benchmark's generator makes a deck that builds, and the baseline runs on it.

No timings here: benchmarks are run by hand (bench/run.py), not asserted in tests.
"""

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from deckgen.build import build
from deckgen.errors import DeckError

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from generate import edit_one_card, generate  # noqa: E402


def test_generated_cards_build_and_one_edit_changes_one_card(tmp_path):
    topic_files = generate(tmp_path / "cards", 50)
    first = build(tmp_path / "cards", tmp_path / "out", now=1_800_000_000)
    assert sum(t.notes for t in first.topics) == 50
    assert len(first.stamping.added) == 50

    edit_one_card(topic_files[0])
    second = build(tmp_path / "cards", tmp_path / "out", now=1_800_000_100)
    assert second.stamping.changed == ["card-000000"]


def test_generator_is_deterministic(tmp_path):
    generate(tmp_path / "a", 50)
    generate(tmp_path / "b", 50)
    for path in (tmp_path / "a").rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_baseline_writes_a_package(tmp_path):
    generate(tmp_path / "cards", 50)
    out = tmp_path / "baseline.apkg"
    subprocess.run(
        [sys.executable, str(BENCH / "baseline.py"), str(tmp_path / "cards"), str(out)], check=True
    )
    assert out.stat().st_size > 0


def test_build_leaves_the_garbage_collector_as_it_found_it(tmp_path):
    """build() collects garbage less often while it runs (a speed lever), then restores."""
    generate(tmp_path / "cards", 50)
    before = gc.get_threshold()
    build(tmp_path / "cards", tmp_path / "out", now=1_800_000_000)
    assert gc.get_threshold() == before
    (tmp_path / "cards" / "topic-0000.yaml").write_text("deck: [", encoding="utf-8")
    with pytest.raises(DeckError):
        build(tmp_path / "cards", tmp_path / "out", now=1_800_000_000)
    assert gc.get_threshold() == before
