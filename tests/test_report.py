"""report.py: SHA256SUMS and manifest.json, checked with sha256sum, git and a real Anki."""

import hashlib
import json
import shutil
import subprocess

import pytest
import yaml

from deckgen import __version__
from deckgen.build import build

from anki_collection import AnkiCollection
from conftest import write_deck

CONFIG = "deck: Test Deck\nnamespace: test-deck\nversion: 1.0.0\ntopics: [basics, more]\n"
BASICS = {
    "deck": "Basics",
    "cards": [
        {"id": "a", "front": "Q a", "back": "A a"},
        {"id": "b", "type": "reversed", "front": "Q b", "back": "A b"},
        {"id": "c", "type": "cloze", "text": "{{c1::one}} and {{c2::two}}"},
    ],
}
MORE = {"deck": "More", "cards": [{"id": "d", "front": "Q d", "back": "A d"}]}


@pytest.fixture
def deck(tmp_path):
    topics = {"basics": yaml.safe_dump(BASICS), "more": yaml.safe_dump(MORE)}
    return write_deck(tmp_path / "cards", topics, CONFIG)


def _manifest(out):
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_sha256sum_checks_every_package(deck, tmp_path):
    out = tmp_path / "out"
    build(deck, out)
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    checked = {line.rsplit(": ", 1)[0] for line in check.stdout.splitlines() if line.endswith(": OK")}
    assert checked == {path.name for path in out.glob("*.apkg")}
    assert checked == {"test-deck.apkg", "test-deck-basics.apkg", "test-deck-more.apkg"}


def test_manifest_counts_are_what_anki_imports(deck, tmp_path):
    out = tmp_path / "out"
    build(deck, out)
    manifest = _manifest(out)
    assert manifest["deck"] == "Test Deck" and manifest["namespace"] == "test-deck"
    assert manifest["deck_version"] == "1.0.0"
    assert manifest["deckgen_version"] == __version__
    assert [p["file"] for p in manifest["packages"]] == [
        "test-deck.apkg",
        "test-deck-basics.apkg",
        "test-deck-more.apkg",
    ]
    assert [(d["name"], d["topic"]) for d in manifest["decks"]] == [
        ("Test Deck::01 Basics", "basics"),
        ("Test Deck::02 More", "more"),
    ]
    assert (manifest["notes"], manifest["cards"]) == (4, 6)

    for package in manifest["packages"]:
        path = out / package["file"]
        assert package["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        collection = AnkiCollection(tmp_path / "anki" / package["file"])
        try:
            log = collection.import_package(path)
            assert log.new == package["notes"]
            assert collection.card_count() == package["cards"]
            assert len(collection.deck_names()) == package["decks"]
            if package["topic"] is None:
                by_deck = collection.cards_by_deck()
                for deck_entry in manifest["decks"]:
                    assert by_deck[deck_entry["name"]] == deck_entry["cards"]
                    notes = [n for n in collection.notes().values() if n["decks"] == [deck_entry["name"]]]
                    assert len(notes) == deck_entry["notes"]
        finally:
            collection.close()


def test_source_commit_is_null_outside_git(deck, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above either
    build(deck, tmp_path / "out")
    assert _manifest(tmp_path / "out")["source_commit"] is None


def test_source_commit_is_the_checked_out_commit(deck, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(deck, repo / "cards")

    def git(*args):
        return subprocess.run(
            ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
            cwd=repo,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    git("add", "cards")
    git("commit", "-q", "-m", "cards")
    build(repo / "cards", tmp_path / "out")
    commit = git("rev-parse", "HEAD")
    assert len(commit) == 40
    assert _manifest(tmp_path / "out")["source_commit"] == commit


def test_source_commit_is_marked_dirty_when_the_cards_have_uncommitted_edits(deck, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(deck, repo / "cards")
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    for args in (["init", "-q"], ["add", "cards"], ["commit", "-q", "-m", "cards"]):
        subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True)
    topic = next(p for p in (repo / "cards").glob("*.yaml") if p.name != "deck.yaml")
    topic.write_text(topic.read_text() + "\n# an uncommitted edit\n")
    build(repo / "cards", tmp_path / "out")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    assert _manifest(tmp_path / "out")["source_commit"] == f"{head}+dirty"
