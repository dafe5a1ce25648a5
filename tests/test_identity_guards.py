"""Ordinary author actions that would break learners' collections are refused or resolved.

Each refusal is shown to be needed by importing what would otherwise have been built
into a real collection (the `anki` package), and each resolution by importing it.
"""

import shutil
import subprocess

import pytest
import yaml
from click.testing import CliRunner

from deckgen.build import build
from deckgen.check import check
from deckgen.cli import main
from deckgen.errors import DeckError

from anki_collection import AnkiCollection, review_some, schedule_of
from conftest import numbered_cards, topic_yaml, write_deck

NOW = 1_700_000_000
PACKAGE = "test-deck.apkg"


@pytest.fixture
def deck(tmp_path):
    return write_deck(
        tmp_path / "cards",
        {
            "one": topic_yaml("One", numbered_cards(4)),
            "two": topic_yaml("Two", numbered_cards(3, prefix="t")),
        },
    )


def _run(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def _snapshot(*folders):
    return {str(p): p.read_bytes() for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


# -- 1. a card's type ------------------------------------------------------------------


def test_changed_card_type_is_refused_and_anki_shows_why(deck, tmp_path, anki):
    build(deck, tmp_path / "v1", now=NOW)
    anki.import_package(tmp_path / "v1" / PACKAGE)
    before = _snapshot(deck)
    cards = numbered_cards(4)
    cards[1] = {"id": "c1", "type": "cloze", "text": "The {{c1::answer}} 1"}
    (deck / "one.yaml").write_text(topic_yaml("One", cards))

    for run in (lambda: build(deck, tmp_path / "v2", now=NOW + 60), lambda: check(deck)):
        with pytest.raises(DeckError) as info:
            run()
        (problem,) = info.value.problems
        assert problem.location.path.endswith("one.yaml") and problem.location.line > 1
        assert "card 'c1' changed its type from basic to cloze" in problem.message
        assert "give the cloze card a new id" in problem.message
    assert _snapshot(deck) == before | {str(deck / "one.yaml"): (deck / "one.yaml").read_bytes()}
    assert not (tmp_path / "v2").exists()

    # What the learner would have got: the same GUID under another note type.
    unguarded = tmp_path / "unguarded"
    shutil.copytree(deck, unguarded)
    (unguarded / "deck.lock").unlink()
    build(unguarded, tmp_path / "v2", now=NOW + 60)
    log = anki.import_package(tmp_path / "v2" / PACKAGE)
    assert log.conflicting == 1  # Anki refuses the update; the learner keeps the basic card
    notes = {n["fields"]["ID"]: n for n in anki.notes().values()}
    assert notes["c1"]["notetype"].startswith("deckgen Basic")


def test_a_new_id_for_the_new_type_is_the_way_forward(deck, tmp_path, anki):
    build(deck, tmp_path / "v1", now=NOW)
    anki.import_package(tmp_path / "v1" / PACKAGE)
    cards = numbered_cards(4)
    cards[1] = {"id": "c1-cloze", "type": "cloze", "text": "The {{c1::answer}} 1"}
    (deck / "one.yaml").write_text(topic_yaml("One", cards))
    build(deck, tmp_path / "v2", now=NOW + 60)
    log = anki.import_package(tmp_path / "v2" / PACKAGE)
    assert (log.new, log.conflicting) == (1, 0)


# -- 2. the namespace ----------------------------------------------------------------


def test_changed_namespace_is_refused_everywhere(deck, tmp_path, anki):
    build(deck, tmp_path / "v1", now=NOW)
    config = deck / "deck.yaml"
    config.write_text(config.read_text().replace("namespace: test-deck", "namespace: test-deck-2"))
    before = _snapshot(deck, tmp_path / "v1")
    for args in (["build"], ["build", "--locked"], ["check"], ["check", "--locked"]):
        result = _run(*args, "--cards", deck, *(["--out", tmp_path / "v1"] if args[0] == "build" else []))
        assert result.exit_code == 1, result.output
        assert "deck.yaml:2:12: namespace changed from 'test-deck' to 'test-deck-2'" in result.output
        assert "every learner would get a second copy of every card" in result.output
        assert "Put back `namespace: test-deck`" in result.output
    assert _snapshot(deck, tmp_path / "v1") == before

    # What the learner would have got: a second copy of every note.
    anki.import_package(tmp_path / "v1" / PACKAGE)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(deck, elsewhere)
    (elsewhere / "deck.lock").unlink()
    build(elsewhere, tmp_path / "v2", now=NOW + 60)
    assert anki.import_package(tmp_path / "v2" / "test-deck-2.apkg").new == 7
    assert len(anki.notes()) == 14


# -- 3. what the clean-up may remove ---------------------------------------------------


def test_clean_up_removes_only_this_decks_stale_packages(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "test-notes.apkg").write_bytes(b"someone else's")
    (out / "test.apkg").write_bytes(b"also someone else's")
    first = write_deck(
        tmp_path / "first",
        {"one": topic_yaml("One", numbered_cards(2)), "two": topic_yaml("Two", numbered_cards(2, "t"))},
    )
    (first / "deck.yaml").write_text("deck: First\nnamespace: test\n")
    other = write_deck(tmp_path / "other", {"one": topic_yaml("One", numbered_cards(2, "o"))})
    (other / "deck.yaml").write_text("deck: Other\nnamespace: test-deck\n")

    build(first, out, now=NOW)
    first_packages = {"test.apkg", "test-one.apkg", "test-two.apkg"}
    assert first_packages <= {p.name for p in out.iterdir()}
    result = _run("build", "--cards", other, "--out", out)  # another deck, its namespace like the first's
    assert "holds another deck's build (namespace 'test')" in result.output
    names = {p.name for p in out.iterdir()}
    assert first_packages | {"test-notes.apkg", "test-deck.apkg", "test-deck-one.apkg"} <= names

    (first / "two.yaml").unlink()
    build(first, tmp_path / "own", now=NOW)
    result = build(first, tmp_path / "own", now=NOW + 60)
    assert result.removed_files == ()
    (first / "three.yaml").write_text(topic_yaml("Three", numbered_cards(2, "h")))
    build(first, tmp_path / "own", now=NOW + 120)
    (first / "three.yaml").unlink()
    result = build(first, tmp_path / "own", now=NOW + 180)  # a topic gone: its package goes too
    assert [p.name for p in result.removed_files] == ["test-three.apkg"]
    own = sorted(p.name for p in (tmp_path / "own").glob("*.apkg"))
    assert own == ["test-one.apkg", "test-retired.apkg", "test.apkg"]  # the removed cards retired


# -- 4. topics that would collide --------------------------------------------------------


def test_two_files_for_one_package_name_are_refused(deck):
    (deck / "ecs").mkdir()
    (deck / "ecs" / "extra.yaml").write_text(topic_yaml("Extra A", numbered_cards(1, "a")))
    (deck / "ecs-extra.yaml").write_text(topic_yaml("Extra B", numbered_cards(1, "b")))
    result = _run("check", "--cards", deck)
    assert result.exit_code == 1
    assert "ecs-extra.yaml and " in result.output and "ecs/extra.yaml would both be written" in result.output
    assert "test-deck-ecs-extra.apkg" in result.output


def test_two_topics_with_one_title_are_refused(deck):
    (deck / "three.yaml").write_text(topic_yaml("One", numbered_cards(1, "x")))
    result = _run("check", "--cards", deck)
    assert result.exit_code == 1
    assert "three.yaml:1:7: subdeck title 'One' is also the title of " in result.output
    assert "one.yaml" in result.output


def test_yaml_and_yml_of_one_topic_are_refused(deck):
    (deck / "one.yml").write_text(topic_yaml("Uno", numbered_cards(1, "u")))
    result = _run("check", "--cards", deck)
    assert result.exit_code == 1 and "are the same topic 'one'" in result.output


# -- 5. a git merge whose only conflict is the lock -------------------------------------------


def _git(folder, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    )


def _edit(cards_dir, topic, card_id, back):
    path = cards_dir / f"{topic}.yaml"
    data = yaml.safe_load(path.read_text())
    for card in data["cards"]:
        if card["id"] == card_id:
            card["back"] = back
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_lock_merge_conflict_resolves_itself_and_both_branches_learners_get_everything(tmp_path):
    repo = tmp_path / "repo"
    cards = write_deck(
        repo / "cards",
        {
            "one": topic_yaml("One", numbered_cards(4)),
            "two": topic_yaml("Two", numbered_cards(3, prefix="t")),
        },
    )
    _git(repo, "init", "-q", "-b", "main")
    build(cards, tmp_path / "base", now=NOW)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "branch", "other")

    _edit(cards, "one", "c1", "Answer 1, from main")
    build(cards, tmp_path / "main", now=NOW + 100)
    _git(repo, "commit", "-qam", "main edits c1")
    _git(repo, "checkout", "-q", "other")
    _edit(cards, "one", "c2", "Answer 2, from other")  # the next line of the lock: a conflict
    build(cards, tmp_path / "other", now=NOW + 200)
    _git(repo, "commit", "-qam", "other edits t2")
    _git(repo, "checkout", "-q", "main")
    merge = subprocess.run(["git", "merge", "-q", "other"], cwd=repo, capture_output=True, text=True)
    assert merge.returncode != 0
    assert "deck.lock" in merge.stdout + merge.stderr
    assert "<<<<<<<" in (cards / "deck.lock").read_text()

    learners = {}
    for branch in ("main", "other"):
        learners[branch] = AnkiCollection(tmp_path / f"learner-{branch}")
        learners[branch].import_package(tmp_path / "base" / PACKAGE)
        learners[branch].import_package(tmp_path / branch / PACKAGE)
    reviewed = review_some(learners["other"], 2)

    locked = _run("build", "--locked", "--cards", cards, "--out", tmp_path / "merged")
    assert locked.exit_code == 1 and "merge conflict markers" in locked.output
    checked = _run("check", "--cards", cards)
    assert checked.exit_code == 0 and "`deckgen build` resolves it" in checked.output
    result = _run("build", "--cards", cards, "--out", tmp_path / "merged")
    assert result.exit_code == 0, result.output
    assert "had a git merge conflict; resolved it" in result.output
    assert "<<<<<<<" not in (cards / "deck.lock").read_text()
    assert _run("build", "--locked", "--cards", cards, "--out", tmp_path / "merged").exit_code == 0

    for branch, learner in learners.items():
        log = learner.import_package(tmp_path / "merged" / PACKAGE)
        assert log.new == 0 and log.conflicting == 0
        backs = {n["fields"]["ID"]: n["fields"]["Back"] for n in learner.notes().values()}
        assert backs["c1"] == "<p>Answer 1, from main</p>", branch
        assert backs["c2"] == "<p>Answer 2, from other</p>", branch
        assert len(backs) == 7
        learner.close()
    for card_id, schedule in reviewed.items():
        assert schedule_of(AnkiCollection(tmp_path / "learner-other"), card_id) == schedule


def test_conflict_in_a_card_file_is_a_located_merge_conflict(deck):
    (deck / "one.yaml").write_text(
        "deck: One\ncards:\n<<<<<<< HEAD\n  - id: a\n=======\n  - id: b\n>>>>>>> x\n"
    )
    result = _run("check", "--cards", deck)
    assert result.exit_code == 1
    assert "one.yaml:3:1: git merge conflict" in result.output


def test_unresolvable_lock_conflict_says_what_to_do(deck, tmp_path):
    build(deck, tmp_path / "v1", now=NOW)
    (deck / "deck.lock").write_text("<<<<<<< HEAD\n{ broken\n=======\n}\n>>>>>>> x\n")
    result = _run("build", "--cards", deck, "--out", tmp_path / "v2")
    assert result.exit_code == 1
    assert (
        "deck.lock:1:1: the lock has git merge conflict markers that deckgen cannot resolve" in result.output
    )
    assert "git checkout --theirs" in result.output


# -- 6. and 8. moves and renames are named ---------------------------------------------------


def test_moved_card_is_named_with_what_learners_keep(deck, tmp_path, anki):
    build(deck, tmp_path / "v1", now=NOW)
    anki.import_package(tmp_path / "v1" / PACKAGE)
    one = numbered_cards(4)
    moved = one.pop(2)
    (deck / "one.yaml").write_text(topic_yaml("One", one))
    (deck / "two.yaml").write_text(topic_yaml("Two", numbered_cards(3, prefix="t") + [moved]))
    result = _run("build", "--cards", deck, "--out", tmp_path / "v2")
    assert "moved: c2 from topic one to two (learners who have it keep it in one)" in result.output
    log = anki.import_package(tmp_path / "v2" / PACKAGE)
    assert (log.new, log.conflicting) == (0, 0)
    notes = {n["fields"]["ID"]: n for n in anki.notes().values()}
    assert notes["c2"]["decks"] == ["Test Deck::One"]  # as the README says: Anki never moves it
    diff = _run("diff", tmp_path / "v1" / PACKAGE, tmp_path / "v2" / PACKAGE)
    assert diff.exit_code == 1
    assert "- Moved `c2` to Two; learners who already have it keep it in One" in diff.output


def test_renamed_deck_is_reported_and_recorded(deck, tmp_path, anki):
    build(deck, tmp_path / "v1", now=NOW)
    anki.import_package(tmp_path / "v1" / PACKAGE)
    (deck / "two.yaml").write_text(topic_yaml("Second", numbered_cards(3, prefix="t")))
    result = _run("build", "--quiet", "--cards", deck, "--out", tmp_path / "v2")
    assert result.exit_code == 0
    assert "warning: deck 'Test Deck::Two' is renamed to 'Test Deck::Second'" in result.output
    assert '"name": "Test Deck::Second"' in (deck / "deck.lock").read_text()
    assert "is renamed to" not in _run("build", "--cards", deck, "--out", tmp_path / "v2").output  # once
    anki.import_package(tmp_path / "v2" / PACKAGE)
    assert {"Test Deck::Two", "Test Deck::Second"} <= anki.deck_names()  # what the warning says
    diff = _run("diff", tmp_path / "v1" / PACKAGE, tmp_path / "v2" / PACKAGE)
    assert diff.exit_code == 1
    assert "Deck renamed: Test Deck::Two → Test Deck::Second. Learners who have" in diff.output
    assert "Moved" not in diff.output


# -- 7. ids that never shipped can be used again ------------------------------------------------


def test_forget_frees_only_ids_that_never_reached_a_commit(tmp_path):
    repo = tmp_path / "repo"
    cards = write_deck(repo / "cards", {"one": topic_yaml("One", numbered_cards(3))})
    _git(repo, "init", "-q", "-b", "main")
    build(cards, tmp_path / "out", now=NOW)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")

    experiment = numbered_cards(3) + [{"id": "draft", "front": "Draft question", "back": "Draft answer"}]
    (cards / "one.yaml").write_text(topic_yaml("One", experiment))
    build(cards, tmp_path / "out", now=NOW + 60)
    (cards / "one.yaml").write_text(topic_yaml("One", numbered_cards(2)))  # c2 (committed) and draft removed
    build(cards, tmp_path / "out", now=NOW + 120)

    reuse = numbered_cards(2) + [{"id": "draft", "front": "Another question", "back": "Another answer"}]
    (cards / "one.yaml").write_text(topic_yaml("One", reuse))
    refused = _run("build", "--cards", cards, "--out", tmp_path / "out")
    assert refused.exit_code == 1 and "`deckgen forget draft` frees the id" in refused.output

    committed = _run("forget", "--cards", cards, "c2")
    assert committed.exit_code == 1 and "'c2' is in the committed lock" in committed.output
    assert _run("forget", "--cards", cards, "c0").exit_code == 1  # a live card
    lock_before = (cards / "deck.lock").read_text()
    result = _run("forget", "--cards", cards, "--unpublished")
    assert result.exit_code == 0 and result.output == "forgot draft: the id is free for a new card\n"
    assert (cards / "deck.lock").read_text() != lock_before and '"c2"' in (cards / "deck.lock").read_text()
    assert _run("build", "--cards", cards, "--out", tmp_path / "out").exit_code == 0
    assert _run("forget", "--cards", cards).exit_code == 2  # nothing named
