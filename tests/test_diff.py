"""`deckgen diff` between deckgen's builds and what Anki itself exports of them.

Issue #15.6: the diff used to read the "Please update" stub of a modern export and
report "1 added, 145 removed". The packages here are real: `deckgen build` through the
CLI, imported into a real Anki collection and exported by Anki, modern and legacy.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from test_anki_package import PNG, anki_exports

from deckgen.cli import main
from deckgen.diff import read_package

from conftest import write_deck

DECK = "deck: Test Deck\nnamespace: test-deck\ntopics: [basics, more]\n"
BASICS = {
    "deck": "Basics",
    "tags": ["aws::ecs"],
    "cards": [
        {"id": "a", "front": "Q **a**", "back": "A with a dot ![dot](media/dot.png)"},
        {"id": "b", "type": "reversed", "front": "Front b", "back": "Back b"},
        {"id": "c", "type": "cloze", "text": "{{c1::Tasks}} run on {{c2::clusters}}."},
    ],
}
MORE = {
    "deck": "More",
    "cards": [{"id": "d", "type": "type-in", "front": "Where is the agent's config?", "back": "/etc/ecs"}],
}


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def build(cards: Path, out: Path) -> Path:
    result = run("build", "--cards", str(cards), "--out", str(out))
    assert result.exit_code == 0, result.output
    return out / "test-deck.apkg"


def write_cards(folder: Path, basics: dict, more: dict) -> Path:
    cards = write_deck(
        folder, {"basics": yaml.safe_dump(basics, sort_keys=False), "more": yaml.safe_dump(more)}, DECK
    )
    (cards / "media").mkdir(exist_ok=True)
    (cards / "media" / "dot.png").write_bytes(PNG)
    return cards


@pytest.fixture(scope="module")
def v1(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("v1")
    package = build(write_cards(folder / "cards", BASICS, MORE), folder / "out")
    return {"build": package, **anki_exports(package, folder, "Test Deck")}


@pytest.mark.parametrize("export", ["modern.apkg", "legacy.apkg", "modern.colpkg"])
def test_a_build_and_ankis_export_of_it_hold_the_same_notes(v1, export):
    with zipfile.ZipFile(v1[export]) as archive:
        assert ("collection.anki21b" in archive.namelist()) == export.startswith("modern")

    for old, new in ((v1["build"], v1[export]), (v1[export], v1["build"])):
        result = run("diff", str(old), str(new))
        assert (result.exit_code, result.output) == (0, "No changes.\n")

    built, exported = read_package(v1["build"]), read_package(v1[export])
    assert exported.notes == built.notes
    assert len(built.notes) == 4
    for name, look in built.note_types.items():  # Anki's export also holds its stock note types
        assert exported.note_types[name] == look


def test_old_build_against_ankis_export_of_the_new_one_names_the_right_cards(v1, tmp_path):
    basics = yaml.safe_load(yaml.safe_dump(BASICS))
    basics["cards"][1]["back"] = "The new back of b"
    basics["cards"].append({"id": "e", "front": "A new question", "back": "Its answer"})
    more = {"deck": "More", "cards": [{"id": "f", "type": "cloze", "text": "ECR stores {{c1::images}}."}]}
    cards = write_cards(tmp_path / "cards", basics, more)
    (cards / "deck.lock").write_bytes((v1["build"].parents[1] / "cards" / "deck.lock").read_bytes())
    v2 = anki_exports(build(cards, tmp_path / "out"), tmp_path, "Test Deck")

    result = run("diff", str(v1["build"]), str(v2["modern.apkg"]))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "2 added, 1 changed, 1 removed.",
        "",
        "### 01 Basics",
        "",
        "- Added `e`: A new question",
        "- Changed `b`: Back: ~~Back~~ **The new back of**",
        "",
        "### 02 More",
        "",
        "- Added `f`: ECR stores images.",
        "- Removed `d` (Anki keeps it in your collection: the retired-cards package marks it, "
        "or delete it by hand)",
    ]


def test_unreadable_packages_exit_2_with_the_reason(v1, tmp_path):
    future = tmp_path / "future.apkg"
    with zipfile.ZipFile(v1["modern.apkg"]) as old, zipfile.ZipFile(future, "w") as new:
        for name in old.namelist():
            new.writestr(name, b"\x08\x09" if name == "meta" else old.read(name))
    result = run("diff", str(v1["build"]), str(future))
    assert result.exit_code == 2
    assert f"{future}: not a readable Anki package: it was made by a newer Anki" in result.output
    assert "Traceback" not in result.output

    result = run("diff", str(tmp_path / "missing.apkg"), str(v1["build"]))
    assert result.exit_code == 2
    assert f"{tmp_path / 'missing.apkg'}: file not found" in result.output
