"""A corpus of broken card files, each with the exact messages it must produce.

tests/broken/NAME.yaml is put into a small deck as a topic file (config-*.yaml files
become the deck config instead) and checked with `deckgen check`, run from the deck's
folder as a user would. tests/broken/NAME.expected holds the exact standard error.
Regenerate after a deliberate message change with DECKGEN_UPDATE_EXPECTED=1, and read
the diff before committing it.
"""

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from deckgen.cli import main

CORPUS = Path(__file__).parent / "broken"
CASES = sorted(CORPUS.glob("*.yaml"))
GOOD_TOPIC = "deck: Fine\ncards:\n  - id: fine\n    front: Q\n    back: A\n"


def _deck_for(case: Path, root: Path) -> None:
    cards = root / "cards"
    cards.mkdir()
    if case.name.startswith("config-"):
        shutil.copy(case, cards / "deck.yaml")
        (cards / "ok.yaml").write_text(GOOD_TOPIC)
    else:
        (cards / "deck.yaml").write_text("deck: Root\nnamespace: root\n")
        shutil.copy(case, cards / case.name)


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_file_gives_exact_located_messages(case, tmp_path, monkeypatch):
    _deck_for(case, tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    expected_file = case.with_suffix(".expected")
    if os.environ.get("DECKGEN_UPDATE_EXPECTED"):
        expected_file.write_text(result.stderr)
    assert result.stderr == expected_file.read_text()
    for line in result.stderr.splitlines()[:-1]:
        assert line.startswith("cards/"), line
