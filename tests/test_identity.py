"""GUIDs and ids come from stable keys only; change times move strictly forward."""

import subprocess
import sys

from deckgen import identity
from deckgen.lock import DeckStamp, Lock, NoteStamp, NoteTypeStamp


def test_guid_depends_only_on_namespace_and_id():
    # The same in another process (another hash seed, nothing cached).
    script = "from deckgen import identity; print(identity.note_guid('ns', 'card-a'))"
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == identity.note_guid("ns", "card-a")
    assert identity.note_guid("ns", "card-a") != identity.note_guid("ns", "card-b")
    assert identity.note_guid("ns", "card-a") != identity.note_guid("other", "card-a")


def test_guid_is_pinned():
    # If this changes, every learner's collection gets a duplicate of every note.
    assert identity.note_guid("aws-containers", "ecs-task-definition-what") == "p:T#&4y_jz"


def test_ids_are_pinned_and_in_range():
    assert identity.deck_id("aws-containers") == 986609770097433
    assert identity.deck_id("aws-containers", "scaling") == 646470119950518
    assert identity.note_type_id("aws-containers", "basic") == 6154524303976231
    for value in (identity.deck_id("x"), identity.note_type_id("x", "cloze")):
        assert (1 << 40) <= value < (1 << 53)


def test_deck_and_note_type_ids_differ_by_key():
    assert identity.deck_id("ns") != identity.deck_id("ns", "topic")
    assert identity.note_type_id("ns", "basic") != identity.note_type_id("ns", "cloze")


def _stamp(old, notes, now, note_types=None, decks=None):
    """Notes as {id: (hash, topic)} or {id: (hash, topic, type)}; basic by default."""
    contents = {
        card_id: identity.NoteContent(*note, *(("basic",) if len(note) == 2 else ()))
        for card_id, note in notes.items()
    }
    return identity.stamp(old, contents, note_types or {}, decks or {}, now)


def test_new_cards_get_now_and_unchanged_keep_their_time():
    first = _stamp(Lock(), {"a": ("h1", "t"), "b": ("h2", "t")}, 1000)
    assert first.added == ["a", "b"]
    again = _stamp(first.lock, {"a": ("h1", "t"), "b": ("h2", "t")}, 5000)
    assert again.added == again.changed == again.removed == []
    assert again.lock == first.lock


def test_changed_card_is_strictly_newer_even_in_the_same_second():
    first = _stamp(Lock(), {"a": ("h1", "t")}, 1000)
    second = _stamp(first.lock, {"a": ("h2", "t")}, 1000)
    assert second.changed == ["a"]
    assert second.lock.notes["a"].changed == 1001
    third = _stamp(second.lock, {"a": ("h3", "t")}, 1000)
    assert third.lock.notes["a"].changed == 1002


def test_clock_behind_the_lock_still_moves_forward():
    old = Lock(notes={"a": NoteStamp("h1", 9000, "t")})
    assert _stamp(old, {"a": ("h2", "t")}, 100).lock.notes["a"].changed == 9001


def test_removed_ids_stay_reserved():
    first = _stamp(Lock(), {"a": ("h1", "t"), "b": ("h2", "t")}, 1000)
    second = _stamp(first.lock, {"a": ("h1", "t")}, 2000)
    assert second.removed == ["b"]
    assert second.lock.notes["b"].removed
    third = _stamp(second.lock, {"a": ("h1", "t")}, 3000)
    assert third.removed == []  # reported once, when it happens
    reuse = _stamp(second.lock, {"a": ("h1", "t"), "b": ("other", "t")}, 3000)
    assert reuse.reused == ["b"]
    restore = _stamp(second.lock, {"a": ("h1", "t"), "b": ("h2", "t")}, 3000)
    assert restore.reused == [] and not restore.lock.notes["b"].removed
    assert restore.restored == ["b"] and restore.lock.notes["b"].changed == 3000


def test_note_type_field_change_is_reported_and_css_change_restamped():
    old = Lock(note_types={"basic": NoteTypeStamp("h", 1000, ("Front", "Back"))})
    css = _stamp(old, {}, 1000, note_types={"basic": ("h2", ("Front", "Back"))})
    assert css.lock.note_types["basic"].changed == 1001 and css.field_changes == []
    fields = _stamp(old, {}, 1000, note_types={"basic": ("h2", ("Front", "Back", "Extra"))})
    assert fields.field_changes == [("basic", ("Front", "Back"), ("Front", "Back", "Extra"))]


def test_decks_restamped_on_change():
    old = Lock(decks={"": DeckStamp("h", 1000, "Root")})
    assert _stamp(old, {}, 1000, decks={"": ("Root", "h2")}).lock.decks[""].changed == 1001


def test_renamed_deck_is_reported_and_keeps_its_key():
    old = Lock(decks={"": DeckStamp("h", 1000, "Root"), "t": DeckStamp("h", 1000, "Root::Old")})
    stamping = _stamp(old, {}, 2000, decks={"": ("Root", "h"), "t": ("Root::New", "h2")})
    assert stamping.renamed == [("t", "Root::Old", "Root::New")]
    assert stamping.lock.decks["t"] == DeckStamp("h2", 2000, "Root::New")


def test_format_1_lock_finds_decks_by_name():
    old = Lock(decks={"Root": DeckStamp("h", 1000, "Root")}, format=1)
    stamping = _stamp(old, {}, 2000, decks={"": ("Root", "h")})
    assert stamping.lock.decks == {"": DeckStamp("h", 1000, "Root")} and stamping.renamed == []


def test_type_change_and_move_are_reported():
    first = _stamp(Lock(), {"a": ("h1", "t1", "basic"), "b": ("h2", "t1", "basic")}, 1000)
    second = _stamp(first.lock, {"a": ("h3", "t1", "cloze"), "b": ("h2", "t2", "basic")}, 2000)
    assert second.type_changes == [("a", "basic", "cloze")]
    assert second.moved == [("b", "t1", "t2")] and second.lock.notes["b"].changed == 1000


def test_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert identity.build_time() == 1700000000
