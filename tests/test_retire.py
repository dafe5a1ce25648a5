"""Removed cards leave learners' collections: the retired-cards package, imported into a
real collection after the new whole deck, marks exactly the removed notes."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from deckgen.build import build
from deckgen.cli import main
from deckgen.identity import note_guid

from anki_collection import read_package, review_some, schedule_of
from conftest import numbered_cards, topic_yaml, write_deck

NOW = 1_700_000_000
WHOLE, RETIRED = "test-deck.apkg", "test-deck-retired.apkg"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def deck(tmp_path):
    folder = write_deck(
        tmp_path / "cards",
        {"one": topic_yaml("One", numbered_cards(5)), "two": topic_yaml("Two", numbered_cards(3, "t"))},
    )
    config = folder / "deck.yaml"
    config.write_text(config.read_text() + "version: 1.0.0\n")
    return folder


def _release(deck, version, one_cards, retired=None):
    config = deck / "deck.yaml"
    text = config.read_text()
    config.write_text(text[: text.index("version:")] + f"version: {version}\n")
    (deck / "one.yaml").write_text(topic_yaml("One", one_cards, retired))


def _build(deck, tmp_path, name, now=None):
    """Build into the one out folder (where the previous build is, as for an author), and
    keep a copy of what it published under `name`."""
    result = build(deck, tmp_path / "out", now=now)
    shutil.rmtree(tmp_path / name, ignore_errors=True)
    shutil.copytree(tmp_path / "out", tmp_path / name, ignore=shutil.ignore_patterns(".cache"))
    return result


def _notes(anki):
    return {n["fields"]["ID"]: n for n in anki.notes().values()}


def test_removed_cards_are_retired_for_learners_and_restored_later(deck, tmp_path, anki):
    _build(deck, tmp_path, "v1", now=NOW)
    assert not (tmp_path / "v1" / RETIRED).exists()  # nothing removed yet: no package
    anki.import_package(tmp_path / "v1" / WHOLE)
    reviewed = review_some(anki, 4)
    tags_before = {card_id: note["tags"] for card_id, note in _notes(anki).items()}
    # The learner edits a card that the next release removes.
    note = anki.col.get_note(_notes(anki)["c3"]["id"])
    note["Back"] = "my own words"
    anki.col.update_note(note)
    time.sleep(1.1)  # the release is built after the learner's edit

    cards = numbered_cards(5)
    kept = [cards[0], cards[1], cards[4]]
    reason = [{"id": "c2", "reason": "It mixed two facts.", "replaced_by": "c4"}]
    _release(deck, "1.1.0", kept, reason)
    result = _build(deck, tmp_path, "v2")
    assert result.stamping.removed == ["c2", "c3"]

    retired_package = read_package(tmp_path / "v2" / RETIRED)
    assert set(retired_package["guids"]) == {note_guid("test-deck", "c2"), note_guid("test-deck", "c3")}
    for name in (WHOLE, "test-deck-one.apkg", "test-deck-two.apkg"):
        assert not set(read_package(tmp_path / "v2" / name)["guids"]) & set(retired_package["guids"])
    sums = (tmp_path / "v2" / "SHA256SUMS").read_text()
    assert f"  {RETIRED}\n" in sums
    manifest = json.loads((tmp_path / "v2" / "manifest.json").read_text())
    assert {"file": RETIRED, "topic": "retired"}.items() <= next(
        p for p in manifest["packages"] if p["file"] == RETIRED
    ).items()
    assert [d["topic"] for d in manifest["decks"]] == ["one", "two"] and manifest["notes"] == 6
    assert manifest["retired"] == [
        {"id": "c2", "reason": "It mixed two facts.", "replaced_by": "c4", "retired_in": "1.1.0"},
        {"id": "c3", "reason": "", "replaced_by": "", "retired_in": "1.1.0"},
    ]

    count = len(anki.notes())
    assert anki.import_package(tmp_path / "v2" / WHOLE).new == 0
    log = anki.import_package(tmp_path / "v2" / RETIRED)
    assert (log.new, log.conflicting) == (0, 0)
    notes = _notes(anki)
    assert len(notes) == count
    retired = {card_id for card_id, n in notes.items() if "deckgen::retired" in n["tags"]}
    assert retired == {"c2", "c3"}
    for card_id in retired:  # the card's own tags are kept
        assert set(tags_before[card_id]) <= set(notes[card_id]["tags"])
    assert notes["c2"]["fields"]["Front"].startswith(
        '<p class="deckgen-retired"><b>Retired in 1.1.0: It mixed two facts. '
        "Replaced by the card “Question 4”.</b></p>\n"
    )
    assert notes["c2"]["fields"]["Front"].endswith("<p>Question 2</p>")
    assert "Retired in 1.1.0: this card was removed from the deck" in notes["c3"]["fields"]["Front"]
    assert notes["c3"]["fields"]["Back"] == "<p>Answer 3</p>"  # what learners last got, marked retired
    for card_id, schedule in reviewed.items():
        assert schedule_of(anki, card_id) == schedule
    found = anki.col.find_notes("tag:deckgen::retired")
    assert sorted(anki.col.get_note(n)["ID"] for n in found) == ["c2", "c3"]

    # A rebuild changes nothing; the lock keeps what the retired notes need.
    lock = json.loads((deck / "deck.lock").read_text())
    assert lock["notes"]["c2"]["removed"] and lock["notes"]["c2"]["fields"][0] == "<p>Question 2</p>"
    again = _build(deck, tmp_path, "v2b")
    assert not again.lock_written
    assert (tmp_path / "v2b" / RETIRED).read_bytes() == (tmp_path / "v2" / RETIRED).read_bytes()

    # 1.2.0 brings c3 back as it was: the whole deck updates it and drops the tag.
    _release(deck, "1.2.0", [*kept, cards[3]], reason)
    result = _build(deck, tmp_path, "v3")
    assert result.stamping.restored == ["c3"]
    log = anki.import_package(tmp_path / "v3" / WHOLE)
    assert log.updated >= 1 and log.new == 0
    notes = _notes(anki)
    assert "deckgen::retired" not in notes["c3"]["tags"]
    assert notes["c3"]["fields"]["Front"] == "<p>Question 3</p>"
    assert "deckgen::retired" in notes["c2"]["tags"]
    assert set(read_package(tmp_path / "v3" / RETIRED)["guids"]) == {note_guid("test-deck", "c2")}


def test_diff_and_release_notes_show_retired_cards_as_their_own_section(deck, tmp_path):
    _build(deck, tmp_path, "v1", now=NOW)
    cards = numbered_cards(5)
    _release(deck, "1.1.0", cards[:4], [{"id": "c4", "reason": "Out of date since 2025."}])
    _build(deck, tmp_path, "v2", now=NOW + 60)
    diff = CliRunner().invoke(main, ["diff", str(tmp_path / "v1" / WHOLE), str(tmp_path / "v2" / RETIRED)])
    assert "### Retired" in diff.output and "- `c4`: Retired in 1.1.0: Out of date since 2025." in diff.output
    assert "Changed `c4`" not in diff.output

    notes = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "release_notes.py"),
            "--build",
            str(tmp_path / "v2"),
            "--previous",
            str(tmp_path / "v1"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "## Retired" in notes and "- `c4`: Out of date since 2025." in notes
    assert "search `tag:deckgen::retired`" in notes
    assert f"| `{RETIRED}` | retired cards" in notes


def test_retired_entries_are_validated(deck):
    def check(retired):
        (deck / "one.yaml").write_text(topic_yaml("One", numbered_cards(3), retired))
        return CliRunner().invoke(main, ["check", "--cards", str(deck)])

    result = check([{"id": "c1", "reason": "x"}])
    assert result.exit_code == 1 and "card 'c1' is retired here but still in the deck" in result.output
    result = check([{"id": "gone", "reason": "x", "replaced_by": "nope"}])
    assert (
        result.exit_code == 1
        and "'gone' is replaced by 'nope', which is not a card of the deck" in result.output
    )
    result = check([{"id": "gone"}])
    assert result.exit_code == 1 and "a `retired:` entry needs `reason:`" in result.output
    result = check([{"id": "gone", "reason": "x", "why": "y"}])
    assert result.exit_code == 1 and "unknown key 'why' in a `retired:` entry" in result.output
    result = check([{"id": "never-built", "reason": "x"}])
    assert result.exit_code == 0 and "'never-built' is not a removed card of this deck" in result.output
    (deck / "retired.yaml").write_text(topic_yaml("Retired things", numbered_cards(1, "r")))
    result = CliRunner().invoke(main, ["check", "--cards", str(deck)])
    assert "a topic may not be called 'retired'" in result.output


def test_removed_card_is_found_in_git_when_there_is_no_previous_build(deck, tmp_path):
    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@x", *args],
            cwd=deck,
            check=True,
            capture_output=True,
        )

    build(deck, tmp_path / "first", now=NOW)
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "1.0.0")
    _release(deck, "1.1.0", numbered_cards(4))
    result = build(deck, tmp_path / "fresh-clone-out", now=NOW + 60)  # no previous build there
    assert result.stamping.removed == ["c4"] and not result.warnings
    fields = json.loads((deck / "deck.lock").read_text())["notes"]["c4"]["fields"]
    assert fields == ["<p>Question 4</p>", "<p>Answer 4</p>", "", "c4"]


def test_removed_card_found_nowhere_is_a_warning_not_a_blank_note(deck, tmp_path):
    build(deck, tmp_path / "first", now=NOW)
    _release(deck, "1.1.0", numbered_cards(4))
    result = CliRunner().invoke(main, ["build", "--cards", str(deck), "--out", str(tmp_path / "elsewhere")])
    assert result.exit_code == 0
    assert "removed card 'c4' is not in the retired-cards package" in result.output
    assert not (tmp_path / "elsewhere" / RETIRED).exists()
