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


def topic_yaml(title: str, cards: list[dict], retired: list[dict] | None = None) -> str:
    """A topic file's text: its subdeck title, cards (and `retired:` entries)."""
    import yaml

    data: dict = {"deck": title, "cards": cards}
    if retired:
        data["retired"] = retired
    return yaml.safe_dump(data, sort_keys=False)


def numbered_cards(n: int, prefix: str = "c") -> list[dict]:
    """n basic cards: ids c0, c1, ..., questions and answers numbered alike."""
    return [{"id": f"{prefix}{i}", "front": f"Question {i}", "back": f"Answer {i}"} for i in range(n)]


def honouring_permissions() -> list[str]:
    """A command prefix under which chmod stops reads and writes, even for root.

    Tests run as root here, and root reads and writes any file. Without the two
    capabilities that let it (setpriv drops them from the bounding set before exec),
    root is refused too. Skips the test where that cannot be done.
    """
    import os
    import subprocess

    import pytest

    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    if shutil.which("setpriv") is None or subprocess.run([*prefix, "true"]).returncode != 0:
        pytest.skip("running as root, where chmod stops nothing, and setpriv cannot drop the override")
    return prefix
