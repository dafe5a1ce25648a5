"""Updates merge cleanly: each scenario imports real packages into a real collection.

See ../shared/ANKI-IMPORT.md for the rules these tests hold deckgen to.
"""

import shutil

import pytest

from deckgen import notetypes
from deckgen.build import build
from deckgen.errors import DeckError

from anki_collection import review_some, schedule_of
from conftest import numbered_cards, topic_yaml, write_deck

NOW = 1_700_000_000  # in the past: a learner edits "now", after the build
PACKAGE = "test-deck.apkg"


@pytest.fixture
def deck(tmp_path):
    return write_deck(
        tmp_path / "cards",
        {
            "one": topic_yaml("One", numbered_cards(6)),
            "two": topic_yaml("Two", numbered_cards(3, prefix="t")),
        },
    )


def test_edit_and_add_in_the_same_second_updates_one_and_adds_one(deck, tmp_path, anki):
    build(deck, tmp_path / "v1", now=NOW)
    assert anki.import_package(tmp_path / "v1" / PACKAGE).new == 9
    note_types_before = anki.notetypes()
    reviewed = review_some(anki, 3)
    assert len(reviewed) == 3

    cards = numbered_cards(6)
    cards[0]["back"] = "Answer 0, corrected"
    cards.append({"id": "c-new", "front": "New question", "back": "New answer"})
    (deck / "one.yaml").write_text(topic_yaml("One", cards))
    build(deck, tmp_path / "v2", now=NOW)  # the same second as v1

    log = anki.import_package(tmp_path / "v2" / PACKAGE)
    assert (log.updated, log.new, log.conflicting) == (1, 1, 0)
    assert anki.notetypes() == note_types_before
    for card_id, schedule in reviewed.items():
        assert schedule_of(anki, card_id) == schedule
    notes = {n["fields"]["ID"]: n for n in anki.notes().values()}
    assert notes["c0"]["fields"]["Back"] == "<p>Answer 0, corrected</p>"


def test_rebuild_without_change_is_byte_identical_and_updates_nothing(deck, tmp_path, anki):
    build(deck, tmp_path / "v1", now=NOW)
    build(deck, tmp_path / "v2", now=NOW + 3600)
    # Files only: out/.cache is the build cache, never published.
    names = sorted(p.name for p in (tmp_path / "v1").iterdir() if p.is_file())
    assert names == sorted(p.name for p in (tmp_path / "v2").iterdir() if p.is_file())
    for name in names:
        assert (tmp_path / "v1" / name).read_bytes() == (tmp_path / "v2" / name).read_bytes(), name

    anki.import_package(tmp_path / "v1" / PACKAGE)
    before = anki.notes()
    log = anki.import_package(tmp_path / "v2" / PACKAGE)
    assert log.updated == 0 and log.new == 0
    assert anki.notes() == before


def test_css_change_updates_the_note_type_in_place(deck, tmp_path, anki, monkeypatch):
    build(deck, tmp_path / "v1", now=NOW)
    anki.import_package(tmp_path / "v1" / PACKAGE)
    before = anki.notetypes()

    original = notetypes.card_css()
    monkeypatch.setattr(notetypes, "card_css", lambda: original + "\n.card { letter-spacing: 0.01em; }\n")
    build(deck, tmp_path / "v2", now=NOW)
    anki.import_package(tmp_path / "v2" / PACKAGE)

    assert anki.notetypes() == before  # no copy such as "Name+"
    (ours,) = [i for n, i in before.items() if n.startswith("deckgen ")]
    assert "letter-spacing: 0.01em" in anki.col.models.get(ours)["css"]


def test_learners_own_edit_survives_an_unchanged_deck(deck, tmp_path, anki):
    build(deck, tmp_path / "v1", now=NOW)
    anki.import_package(tmp_path / "v1" / PACKAGE)
    note_id = next(n["id"] for n in anki.notes().values() if n["fields"]["ID"] == "c1")
    note = anki.col.get_note(note_id)
    note["Back"] = "my own mnemonic"
    anki.col.update_note(note)

    # Another card changes upstream; c1 does not.
    cards = numbered_cards(6)
    cards[4]["back"] = "Answer 4, corrected"
    (deck / "one.yaml").write_text(topic_yaml("One", cards))
    build(deck, tmp_path / "v2", now=NOW + 60)
    log = anki.import_package(tmp_path / "v2" / PACKAGE)
    assert log.updated == 1
    assert anki.col.get_note(note_id)["Back"] == "my own mnemonic"


def test_card_moved_to_another_topic_keeps_its_note(deck, tmp_path, anki):
    build(deck, tmp_path / "v1", now=NOW)
    anki.import_package(tmp_path / "v1" / PACKAGE)
    reviewed = review_some(anki, 1)
    (card_id,) = reviewed
    moved_id = anki.notes_by_card_id()[anki.col.get_card(card_id).nid]

    one = [c for c in numbered_cards(6) if c["id"] != moved_id]
    two = numbered_cards(3, prefix="t") + [c for c in numbered_cards(6) if c["id"] == moved_id]
    (deck / "one.yaml").write_text(topic_yaml("One", one))
    (deck / "two.yaml").write_text(topic_yaml("Two", two))
    build(deck, tmp_path / "v2", now=NOW + 60)
    log = anki.import_package(tmp_path / "v2" / PACKAGE)
    assert log.new == 0 and log.conflicting == 0
    assert len(anki.notes()) == 9
    assert schedule_of(anki, card_id) == reviewed[card_id]


def test_removed_cards_are_reported_and_their_ids_stay_reserved(deck, tmp_path):
    build(deck, tmp_path / "v1", now=NOW)
    (deck / "one.yaml").write_text(topic_yaml("One", numbered_cards(5)))
    result = build(deck, tmp_path / "v2", now=NOW + 60)
    assert result.stamping.removed == ["c5"]
    lock = (deck / "deck.lock").read_text()
    assert '"c5": {' in lock and '"removed": true' in lock

    (deck / "one.yaml").write_text(
        topic_yaml("One", numbered_cards(5) + [{"id": "c5", "front": "Other", "back": "Thing"}])
    )
    with pytest.raises(DeckError) as info:
        build(deck, tmp_path / "v3", now=NOW + 120)
    assert "card id 'c5' belonged to a card removed earlier" in str(info.value)


def test_locked_build_refuses_stale_lock_and_writes_nothing(deck, tmp_path):
    out = tmp_path / "out"
    build(deck, out, now=NOW)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    lock_before = (deck / "deck.lock").read_bytes()
    assert build(deck, out, locked=True, now=NOW + 60).lock_written is False

    (deck / "two.yaml").write_text(topic_yaml("Two", numbered_cards(4, prefix="t")))
    with pytest.raises(DeckError) as info:
        build(deck, out, locked=True, now=NOW + 60)
    assert "--locked: the cards changed but the lock was not updated (added: t3)" in str(info.value)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert (deck / "deck.lock").read_bytes() == lock_before


def test_locked_build_needs_a_lock(deck, tmp_path):
    with pytest.raises(DeckError, match="there is no lock file"):
        build(deck, tmp_path / "out", locked=True)
    assert not (tmp_path / "out").exists()


def test_note_type_field_change_is_refused_with_the_way_forward(deck, tmp_path, monkeypatch):
    build(deck, tmp_path / "v1", now=NOW)
    lock_before = (deck / "deck.lock").read_bytes()
    basic = notetypes.NOTE_TYPES["basic"]
    changed = type(basic)(basic.key, basic.label, basic.fields + ("Source",), basic.templates)
    monkeypatch.setitem(notetypes.NOTE_TYPES, "basic", changed)
    with pytest.raises(DeckError) as info:
        build(deck, tmp_path / "v2", now=NOW + 60)
    message = str(info.value)
    assert "note type 'basic' changed its fields" in message and "conflicting" in message
    assert (deck / "deck.lock").read_bytes() == lock_before
    assert not (tmp_path / "v2").exists() or not any((tmp_path / "v2").iterdir())


def test_source_date_epoch_sets_change_times(deck, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1750000000")
    build(deck, tmp_path / "out")
    assert '"changed": 1750000000' in (deck / "deck.lock").read_text()


def test_copy_of_lock_and_cards_reproduces_packages(deck, tmp_path):
    build(deck, tmp_path / "v1", now=NOW)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(deck, elsewhere)
    build(elsewhere, tmp_path / "v2", now=NOW + 999)
    assert (tmp_path / "v1" / PACKAGE).read_bytes() == (tmp_path / "v2" / PACKAGE).read_bytes()
