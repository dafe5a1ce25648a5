"""End to end: the real cards/ built and imported into a real Anki collection."""

import shutil

import pytest
import yaml

from deckgen import identity
from deckgen.build import build
from deckgen.compile import compile_deck
from deckgen.notetypes import NOTE_TYPES

from anki_collection import AnkiCollection, read_package
from conftest import write_deck


def _expected(cards_dir):
    compiled = compile_deck(cards_dir)
    return compiled, {
        identity.note_guid(compiled.deck.config.namespace, rc.card.id): rc for rc in compiled.cards
    }


def test_whole_deck_imports_as_new_notes_with_expected_decks_and_note_types(real_cards, tmp_path, anki):
    result = build(real_cards, tmp_path / "out", now=1_800_000_000)
    whole = result.packages[0]
    assert whole.topic is None and whole.path.name == "aws-containers.apkg"

    log = anki.import_package(whole.path)
    compiled, expected = _expected(real_cards)
    assert log.counts == {"new": len(expected), "updated": 0, "duplicate": 0, "conflicting": 0}

    notes = anki.notes()
    assert set(notes) == set(expected)
    root = compiled.deck.config.title
    assert anki.deck_names() == {root} | {compiled.deck_name(t.key) for t in compiled.deck.topics}
    assert anki.card_count() == whole.cards == sum(t.cards for t in result.topics)
    for topic in result.topics:
        assert anki.cards_by_deck()[topic.deck] == topic.cards

    used = {rc.card.type for rc in compiled.cards}
    ours = {name for name in anki.notetypes() if name.startswith("deckgen ")}
    assert ours == {f"deckgen {NOTE_TYPES[t].label} (aws-containers)" for t in used}

    for guid, note in notes.items():
        rc = expected[guid]
        assert note["fields"]["ID"] == rc.card.id
        assert note["decks"] == [compiled.deck_name(rc.topic)]
        assert set(rc.tags) <= set(note["tags"])
        if rc.card.type == "type-in":
            assert "<" not in note["fields"]["Back"]  # plain text, compared by Anki
        else:
            first = note["fields"]["Text" if rc.card.type == "cloze" else "Front"]
            assert first.startswith("<") and first.rstrip().endswith(">"), first


def test_new_cards_arrive_in_authoring_order(real_cards, tmp_path, anki):
    result = build(real_cards, tmp_path / "out", now=1_800_000_000)
    anki.import_package(result.packages[0].path)
    _compiled, expected = _expected(real_cards)
    assert anki.new_queue_order() == list(expected)


def test_second_build_elsewhere_later_gives_the_same_identities(real_cards, tmp_path):
    first_out = tmp_path / "first"
    build(real_cards, first_out, now=1_800_000_000)
    elsewhere = tmp_path / "elsewhere" / "cards"
    shutil.copytree(real_cards, elsewhere)
    (elsewhere / "deck.lock").unlink()  # a fresh checkout without history
    second_out = tmp_path / "second"
    build(elsewhere, second_out, now=1_900_000_000)

    first = read_package(first_out / "aws-containers.apkg")
    second = read_package(second_out / "aws-containers.apkg")
    assert set(first["guids"]) == set(second["guids"])
    assert first["decks"] == second["decks"]
    assert first["note_types"] == second["note_types"]
    # and these are the ids Anki keeps for our note types
    collection = AnkiCollection(tmp_path / "anki")
    try:
        collection.import_package(second_out / "aws-containers.apkg")
        kept = {k: v for k, v in collection.notetypes().items() if k.startswith("deckgen")}
    finally:
        collection.close()
    assert kept == first["note_types"]


def test_topic_package_then_whole_deck_merges(real_cards, tmp_path, anki):
    result = build(real_cards, tmp_path / "out", now=1_800_000_000)
    topic = result.packages[1]
    first = anki.import_package(topic.path)
    assert first.new == topic.notes
    second = anki.import_package(result.packages[0].path)
    assert second.new == result.packages[0].notes - topic.notes
    assert second.duplicate == topic.notes and second.conflicting == 0
    assert len(anki.notes()) == result.packages[0].notes


def test_identity_survives_edit_reorder_and_move(tmp_path, anki):
    one = {"id": "k1", "front": "Q1", "back": "A1"}
    two = {"id": "k2", "front": "Q2", "back": "A2"}
    folder = write_deck(
        tmp_path / "cards",
        {
            "a": yaml.safe_dump({"deck": "A", "cards": [one, two]}),
            "b": yaml.safe_dump({"deck": "B", "cards": [{"id": "k3", "front": "Q3", "back": "A3"}]}),
        },
    )
    build(folder, tmp_path / "v1", now=1000)
    anki.import_package(tmp_path / "v1" / "test-deck.apkg")
    before = anki.notes()

    # Edit k1, swap the order, and move k2 into the other file.
    (folder / "a.yaml").write_text(yaml.safe_dump({"deck": "A", "cards": [one | {"back": "A1 edited"}]}))
    (folder / "b.yaml").write_text(
        yaml.safe_dump({"deck": "B", "cards": [two, {"id": "k3", "front": "Q3", "back": "A3"}]})
    )
    build(folder, tmp_path / "v2", now=2000)
    log = anki.import_package(tmp_path / "v2" / "test-deck.apkg")
    after = anki.notes()
    assert set(after) == set(before)
    assert log.new == 0 and log.updated >= 1
    edited = next(n for n in after.values() if n["fields"]["ID"] == "k1")
    assert edited["fields"]["Back"] == "<p>A1 edited</p>"


def _study_order(anki, root: str, count: int) -> list[str]:
    """The decks of the first `count` cards Study Now gives on the root deck, by Anki's
    own scheduler (the v3 queue), with the default options."""
    anki.col.decks.select(anki.col.decks.id(root))
    queued = anki.col.sched.get_queued_cards(fetch_limit=count).cards
    return [anki.col.decks.name(anki.col.get_card(item.card.id).did) for item in queued]


def _deck_list(anki, root: str) -> list[str]:
    """The subdecks as Anki's deck list shows them, in its order."""
    tree = anki.col.sched.deck_due_tree()
    (node,) = [child for child in tree.children if child.name == root]
    return [child.name for child in node.children]


@pytest.mark.parametrize("numbered", [True, False])
def test_study_now_and_the_deck_list_follow_the_learning_order(real_cards, tmp_path, anki, numbered):
    config = real_cards / "deck.yaml"
    if not numbered:
        config.write_text(config.read_text(encoding="utf-8") + "number_topics: false\n", encoding="utf-8")
    result = build(real_cards, tmp_path / "out", now=1_800_000_000)
    anki.import_package(result.packages[0].path)
    compiled = compile_deck(real_cards)
    root = compiled.deck.config.title
    first, second = (compiled.deck_name(t.key) for t in compiled.deck.topics[:2])
    order = _study_order(anki, root, 8)
    titles = [t.title for t in compiled.deck.topics]
    if numbered:
        assert [name.split("::")[1] for name in [first, second]] == [f"01 {titles[0]}", f"02 {titles[1]}"]
        assert set(order) == {first}  # the first topic's cards come first
        expected_first = [rc.card.id for rc in compiled.cards if rc.topic == compiled.deck.topics[0].key]
        queued = anki.col.sched.get_queued_cards(fetch_limit=4).cards
        ids = [anki.col.get_note(anki.col.get_card(item.card.id).nid)["ID"] for item in queued]
        assert ids[0] == expected_first[0] and set(ids) <= set(expected_first)  # in authoring order
        assert _deck_list(anki, root) == [
            compiled.deck_name(t.key).split("::")[1] for t in compiled.deck.topics
        ]
    else:  # what the numbers are for: Anki goes by name, not by the package's positions
        assert set(order) != {first}
        assert _deck_list(anki, root) == sorted(titles)
