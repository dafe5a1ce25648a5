"""package.py writes, row for row, the database genanki itself would write."""

import itertools
import sqlite3
import sys
from pathlib import Path

import genanki
import pytest

from deckgen.build import _plan, compile_deck
from deckgen.lock import Lock
from deckgen.package import _Deck, _note_type, _write_collection

from conftest import CARDS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from generate import generate  # noqa: E402


class _GenankiNote(genanki.Note):
    def __init__(self, *args, mod: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.mod = mod

    def write_to_db(self, cursor, timestamp, deck_id, id_gen):
        super().write_to_db(cursor, self.mod, deck_id, id_gen)


def _genanki_collection(cursor, decks, timestamp, id_gen):
    """The way deckgen wrote packages before: a genanki Note for every note."""
    note_types = {}
    genanki_decks = []
    for deck in decks:
        gdeck = _Deck(deck.id, deck.name, deck.description, mod=deck.mod)
        for note in deck.notes:
            model = note_types.setdefault(note.note_type.id, _note_type(note.note_type))
            gdeck.add_note(
                _GenankiNote(
                    model=model,
                    fields=note.fields,
                    guid=note.guid,
                    tags=list(note.tags),
                    due=note.due,
                    mod=note.mod,
                )
            )
        genanki_decks.append(gdeck)
    genanki.Package(genanki_decks).write_to_db(cursor, timestamp, id_gen)


def _database(path: Path, write, decks) -> bytes:
    connection = sqlite3.connect(path)
    write(connection.cursor(), decks, 1_800_000_000, itertools.count(1_800_000_000_000))
    connection.commit()
    connection.close()
    return path.read_bytes()


@pytest.mark.parametrize("deck", ["real", "generated"])
def test_database_is_the_one_genanki_writes(deck, tmp_path):
    cards_dir = CARDS
    if deck == "generated":
        cards_dir = tmp_path / "cards"
        generate(cards_dir, 400)  # every card type, cloze with two deletions, tags, images
    plan = _plan(compile_deck(cards_dir), Lock(), 1_800_000_000)
    for index, decks in enumerate([plan.whole, *plan.by_topic.values()]):
        ours = _database(tmp_path / f"ours-{index}.db", _write_collection, decks)
        theirs = _database(tmp_path / f"genanki-{index}.db", _genanki_collection, decks)
        assert ours == theirs
