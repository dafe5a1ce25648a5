"""Step 5, inside a package: the collection database genanki's schema describes.

    PackageDeck records (package.py) -> rows of `col`, `notes` and `cards` -> SQLite file

genanki's own writer builds a Note object per note and writes the collection's JSON
again for every deck; here every note is one row, all rows of a table go in with one
`executemany`, and the decks' and note types' JSON is written once.

Note and card ids only need to be unique within a package (Anki matches notes by
GUID, ../shared/ANKI-IMPORT.md), but Anki shows a note's id as the date it was added,
and a package whose ids all move when one card changes must be written again from
scratch. So each deck has a block of ids of its own (`first_ids`), where its notes and
their cards are counted as genanki counts them (a note, then its cards): the block
starts at the deck's newest change time in milliseconds, plus the deck's place in the
deck times a stride, so that decks changed at the same time do not share ids. Editing
a card moves the ids of its own deck only.
"""

from __future__ import annotations

import functools
import itertools
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA

if TYPE_CHECKING:
    from .package import NoteTypeArgs, PackageDeck

# A deck's block of ids is a whole number of these apart from the next deck's (in ms:
# a second); the stride doubles while a deck has more notes and cards than it holds.
ID_STRIDE = 1000


def first_ids(mods: Sequence[int], sizes: Sequence[int]) -> list[int]:
    """The first note id of each deck, given each deck's newest change time (`mods`, in
    seconds) and how many ids it needs (`sizes`: notes and cards), in the deck's order.

    Each deck asks for newest * 1000 + its index * the stride. The oldest asks are
    granted first; one that would overlap a block already granted starts after the
    last of them instead. A deck whose cards did not change keeps its ids while decks
    changed later are the ones to move.
    """
    stride = ID_STRIDE
    while stride < max(sizes, default=0):
        stride *= 2
    starts = [0] * len(mods)
    granted: list[tuple[int, int]] = []  # (first, end) of each block granted
    end = 0
    for index in sorted(range(len(mods)), key=lambda i: (mods[i], i)):
        size = sizes[index]
        start = mods[index] * 1000 + index * stride
        if any(first < start + size and start < last for first, last in granted):
            start = max(start, end)
        starts[index] = start
        if size:
            granted.append((start, start + size))
            end = max(end, start + size)
    return starts


# genanki's schema, its indexes made after the rows are in: built from sorted rows at
# once, rather than kept up to date row by row (at 20,000 cards, 0.17 s -> 0.14 s).
_TABLES = "\n".join(line for line in APKG_SCHEMA.splitlines() if not line.startswith("CREATE INDEX"))
_INDEXES = "\n".join(line for line in APKG_SCHEMA.splitlines() if line.startswith("CREATE INDEX"))

# A deck's rows: (note rows, card rows), as `write_collection` inserts them.
DeckRows = tuple[list[tuple], list[tuple]]


@dataclass(frozen=True)
class KeptDeck:
    """A deck as the last build wrote it (rebuild.py keeps it for decks whose notes did
    not change): its rows, with ids counted from `first_id`."""

    first_id: int
    rows: DeckRows
    types: tuple[str, ...]  # the card types its notes have, in the order they first come
    notes: int
    cards: int
    newest: int  # the newest change time of the deck and its notes
    digest: bytes  # package.deck_digest of the deck as it was written
    note_types: tuple[NoteTypeArgs, ...] = ()  # of `types`, as this build packages them


class _NoteType(genanki.Model):
    def __init__(self, *args, mod: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.mod = mod

    def to_json(self, timestamp, deck_id):
        return super().to_json(self.mod, deck_id)


class _Deck(genanki.Deck):
    def __init__(self, *args, mod: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.mod = mod

    def to_json(self):
        return super().to_json() | {"mod": self.mod}


@functools.cache
def empty_collection() -> bytes:
    """The database every package's collection starts from: genanki's tables (without
    their indexes) and its `col` row, made once per process rather than once per package
    (a tenth of the time a topic's package took)."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.executescript(_TABLES)
        connection.executescript(APKG_COL)
        connection.commit()
        return connection.serialize()
    finally:
        connection.close()


def write_collection(connection: sqlite3.Connection, decks: Sequence[PackageDeck]) -> dict[int, DeckRows]:
    """The collection of a package holding `decks` (the root first), into `connection`,
    which holds `empty_collection()`. Returns each deck's rows, by deck id."""
    cursor = connection.cursor()
    note_types: dict[int, _NoteType] = {}
    deck_json, model_json = {}, {}
    note_rows: list[tuple] = []
    card_rows: list[tuple] = []
    rows: dict[int, DeckRows] = {}
    for deck in decks:
        used = {}
        for args in deck.kept.note_types if deck.kept else (note.note_type for note in deck.notes):
            if args.id not in note_types:
                note_types[args.id] = _note_type(args)
            used[args.id] = note_types[args.id]
        deck_json[str(deck.id)] = _Deck(deck.id, deck.name, deck.description, mod=deck.mod).to_json()
        # genanki gives a note type the id of the last deck that uses it.
        model_json.update({str(i): model.to_json(0, deck.id) for i, model in used.items()})
        if deck.kept is not None:
            if deck.kept.first_id != deck.first_id:
                raise ValueError(f"deck {deck.name!r} was kept with other ids")
            rows[deck.id] = deck.kept.rows
        else:
            rows[deck.id] = _rows(deck, note_types)
        note_rows += rows[deck.id][0]
        card_rows += rows[deck.id][1]
    _update_json(cursor, "decks", deck_json)
    _update_json(cursor, "models", model_json)
    cursor.executemany("INSERT INTO notes VALUES(?,?,?,?,?,?,?,?,?,?,?)", note_rows)
    cursor.executemany("INSERT INTO cards VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", card_rows)
    cursor.executescript(_INDEXES)
    return rows


def _update_json(cursor: sqlite3.Cursor, column: str, entries: dict) -> None:
    (text,) = cursor.execute(f"SELECT {column} FROM col").fetchone()  # noqa: S608 (a fixed name)
    cursor.execute(f"UPDATE col SET {column} = ?", (json.dumps(json.loads(text) | entries),))  # noqa: S608


def _rows(deck: PackageDeck, note_types: dict) -> DeckRows:
    note_rows: list[tuple] = []
    card_rows: list[tuple] = []
    ids = itertools.count(deck.first_id)
    for note in deck.notes:
        model = note_types[note.note_type.id]
        if len(model.fields) != len(note.fields):
            raise ValueError(
                f"note type {model.name!r} has {len(model.fields)} fields, the note {len(note.fields)}"
            )
        note_id = next(ids)
        tags = " " + " ".join(note.tags) + " "
        # id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data
        note_rows.append(
            (
                note_id,
                note.guid,
                model.model_id,
                note.mod,
                -1,
                tags,
                "\x1f".join(note.fields),
                note.fields[model.sort_field_index],
                0,
                0,
                "",
            )  # fmt: skip
        )
        # id, nid, did, ord, mod, usn, type, queue, due, then ivl to flags 0, and data ""
        card_rows.extend(
            (next(ids), note_id, deck.id, ordinal, note.mod, -1, 0, 0, note.due, 0, 0, 0, 0, 0, 0, 0, 0, "")
            for ordinal in note.cards
        )
    return note_rows, card_rows


def _note_type(args: NoteTypeArgs) -> _NoteType:
    return _NoteType(
        args.id,
        args.name,
        fields=[{"name": name} for name in args.fields],
        templates=[{"name": n, "qfmt": q, "afmt": a} for n, q, a in args.templates],
        css=args.css,
        model_type=genanki.Model.CLOZE if args.is_cloze else genanki.Model.FRONT_BACK,
        mod=args.mod,
    )
