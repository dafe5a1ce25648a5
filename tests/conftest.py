import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CARDS = REPO / "cards"


@pytest.fixture
def anki(tmp_path):
    """A fresh, real Anki collection (closed after the test)."""
    from anki_collection import AnkiCollection

    collection = AnkiCollection(tmp_path / "anki")
    yield collection
    collection.close()


@pytest.fixture
def real_cards(tmp_path) -> Path:
    """A copy of the repository's cards/, so a test may build (and lock) it freely."""
    target = tmp_path / "cards"
    shutil.copytree(CARDS, target)
    return target


def write_deck(folder: Path, topics: dict[str, str], config: str | None = None) -> Path:
    """A small deck on disk: `topics` maps file stem -> YAML text."""
    folder.mkdir(parents=True, exist_ok=True)
    if config is None:
        config = (
            "deck: Test Deck\nnamespace: test-deck\nnumber_topics: false\ntopics: ["
            + ", ".join(topics)
            + "]\n"
        )
    (folder / "deck.yaml").write_text(config, encoding="utf-8")
    for stem, text in topics.items():
        (folder / f"{stem}.yaml").write_text(text, encoding="utf-8")
    return folder
