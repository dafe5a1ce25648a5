"""Reading Anki packages, the collection: note types, decks, notes and cards from SQLite.

Part of the way back in from Anki (anki_package.py reads packages for `deckgen diff`
and `deckgen import`). A package's collection is an SQLite database, unpacked to a
temporary file by anki_package.py. Schema 11 to 14 (genanki, legacy exports) keeps note
types and decks as JSON in `col.models` and `col.decks`; schema 15 to 18 (Anki 2.1.28+)
keeps them in the `notetypes`, `fields`, `templates` and `decks` tables, with protobuf
config blobs (package_protobuf.py). This module reads both into the plain frozen values
below, which anki_package.py gathers into an `AnkiPackage`.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .package_archive import OLDER_EXPORT, Refused
from .package_protobuf import parse_protobuf, protobuf_integer, protobuf_messages, protobuf_text

SCHEMA_VERSIONS = range(11, 19)  # what Anki 2.1 up to 26.x writes; 18 is the newest

NoteTypeKind = Literal["standard", "cloze"]


@dataclass(frozen=True)
class CardTemplate:
    name: str
    qfmt: str  # the front (question) template
    afmt: str  # the back (answer) template


@dataclass(frozen=True)
class NoteType:
    id: int
    name: str
    kind: NoteTypeKind
    fields: tuple[str, ...]
    templates: tuple[CardTemplate, ...]
    css: str
    sort_field: int  # index into fields: the one the browser sorts and checks duplicates by
    mod: int


@dataclass(frozen=True)
class Deck:
    id: int
    name: str  # "Parent::Child"
    description: str
    mod: int


@dataclass(frozen=True)
class Note:
    id: int
    guid: str
    note_type_id: int
    mod: int
    tags: tuple[str, ...]
    fields: tuple[str, ...]  # in the note type's field order


@dataclass(frozen=True)
class Card:
    id: int
    note_id: int
    deck_id: int  # the home deck, also for a card in a filtered deck
    ord: int


# -- the collection ----------------------------------------------------------------------


def check_database_header(path: Path) -> None:
    """Refuse a truncated database: SQLite would read the missing pages as absent rows."""
    size = path.stat().st_size
    with open(path, "rb") as file:
        header = file.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise Refused("not a readable Anki package: its collection is not an SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count in the header is valid when its "version valid for" matches the
    # change counter (SQLite 3.7.0+ always keeps it so).
    counted = header[24:28] == header[92:96]
    if page_size < 512 or size % page_size or (counted and size < pages * page_size):
        raise Refused("not a readable Anki package: its collection database is damaged (truncated)")


def _unicase(a: str, b: str) -> int:
    a, b = a.casefold(), b.casefold()
    return (a > b) - (a < b)


def read_collection(path: Path):
    uri = "file:" + urllib.parse.quote(str(path)) + "?mode=ro&immutable=1"
    connection = sqlite3.connect(uri, uri=True)
    try:
        # Anki declares its name columns COLLATE unicase; SQLite needs the collation
        # to exist whenever it compares them.
        connection.create_collation("unicase", _unicase)
        connection.execute("pragma query_only = on")
        connection.execute("pragma trusted_schema = off")
        tables = {
            name for (name,) in connection.execute("select name from sqlite_master where type = 'table'")
        }
        for table in ("col", "notes", "cards"):
            if table not in tables:
                raise Refused(f"not a readable Anki package: its collection has no {table} table")
        rows = connection.execute("select ver from col").fetchall()
        if len(rows) != 1:
            raise Refused("not a readable Anki package: its collection database is damaged (col)")
        (version,) = rows[0]
        if not isinstance(version, int) or version < SCHEMA_VERSIONS.start:
            raise Refused(f"not a readable Anki package: its collection has an unknown schema ({version})")
        if version not in SCHEMA_VERSIONS:
            raise Refused(
                f"not a readable Anki package: its collection uses schema {version}, newer than deckgen can"
                f" read (up to {SCHEMA_VERSIONS[-1]}); {OLDER_EXPORT}"
            )
        if version >= 15:
            for table in ("notetypes", "fields", "templates", "decks"):
                if table not in tables:
                    raise Refused(f"not a readable Anki package: its collection has no {table} table")
            note_types = _note_types_from_tables(connection)
            decks = _decks_from_table(connection)
        else:
            note_types, decks = _note_types_and_decks_from_json(connection)
        notes = _notes(connection, note_types)
        cards = _cards(connection, {note.id for note in notes})
    finally:
        connection.close()
    return version, note_types, decks, notes, cards


def _kind(value: int, name: str) -> NoteTypeKind:
    if value == 0:
        return "standard"
    if value == 1:
        return "cloze"
    raise Refused(f"not a readable Anki package: note type {name!r} has an unknown kind ({value})")


def _note_types_from_tables(connection: sqlite3.Connection) -> dict[int, NoteType]:
    fields: dict[int, list[str]] = {}
    for note_type_id, name in connection.execute("select ntid, name from fields order by ntid, ord"):
        fields.setdefault(note_type_id, []).append(name)
    templates: dict[int, list[CardTemplate]] = {}
    for note_type_id, name, config in connection.execute(
        "select ntid, name, config from templates order by ntid, ord"
    ):
        what = f"the templates of note type {note_type_id}"
        parsed = parse_protobuf(_blob(config, what), what)
        template = CardTemplate(name, protobuf_text(parsed, 1, what), protobuf_text(parsed, 2, what))
        templates.setdefault(note_type_id, []).append(template)
    note_types = {}
    for note_type_id, name, mod, config in connection.execute(
        "select id, name, mtime_secs, config from notetypes"
    ):
        what = f"note type {name!r}"
        parsed = parse_protobuf(_blob(config, what), what)
        note_types[note_type_id] = NoteType(
            id=note_type_id,
            name=name,
            kind=_kind(protobuf_integer(parsed, 1), name),
            fields=tuple(fields.get(note_type_id, ())),
            templates=tuple(templates.get(note_type_id, ())),
            css=protobuf_text(parsed, 3, what),
            sort_field=protobuf_integer(parsed, 2),
            mod=mod,
        )
    return note_types


def _decks_from_table(connection: sqlite3.Connection) -> dict[int, Deck]:
    decks = {}
    for deck_id, name, mod, kind in connection.execute("select id, name, mtime_secs, kind from decks"):
        what = f"deck {name!r}"
        container = parse_protobuf(_blob(kind, what), what)
        # Deck.KindContainer: 1 = a normal deck (description = 4), 2 = a filtered deck.
        normal = protobuf_messages(container, 1)
        description = protobuf_text(parse_protobuf(normal[-1], what), 4, what) if normal else ""
        # Anki keeps "Parent\x1fChild" in the table and shows "Parent::Child".
        decks[deck_id] = Deck(deck_id, name.replace("\x1f", "::"), description, mod)
    return decks


def _blob(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if value is None or value == "":
        return b""
    raise Refused(f"not a readable Anki package: {what} is damaged")


def _note_types_and_decks_from_json(
    connection: sqlite3.Connection,
) -> tuple[dict[int, NoteType], dict[int, Deck]]:
    rows = connection.execute("select models, decks from col").fetchall()
    try:
        models_json, decks_json = rows[0]
        models = json.loads(models_json)
        deck_list = json.loads(decks_json)
        note_types = {}
        for model in models.values():
            name = str(model["name"])
            flds = sorted(model["flds"], key=lambda f: int(f["ord"]))
            tmpls = sorted(model["tmpls"], key=lambda t: int(t["ord"]))
            note_type = NoteType(
                id=int(model["id"]),  # some writers store ids as strings (schema11.rs accepts both)
                name=name,
                kind=_kind(int(model.get("type", 0)), name),
                fields=tuple(str(f["name"]) for f in flds),
                templates=tuple(CardTemplate(str(t["name"]), str(t["qfmt"]), str(t["afmt"])) for t in tmpls),
                css=str(model.get("css") or ""),
                sort_field=int(model.get("sortf", 0)),
                mod=int(model.get("mod", 0)),
            )
            note_types[note_type.id] = note_type
        decks = {}
        for deck in deck_list.values():
            deck_id = int(deck["id"])
            decks[deck_id] = Deck(
                deck_id, str(deck["name"]), str(deck.get("desc") or ""), int(deck.get("mod", 0))
            )
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        raise Refused("not a readable Anki package: its note types or decks are damaged") from None
    return note_types, decks


def _notes(connection: sqlite3.Connection, note_types: dict[int, NoteType]) -> tuple[Note, ...]:
    notes = []
    for note_id, guid, note_type_id, mod, tags, fields in connection.execute(
        "select id, guid, mid, mod, tags, flds from notes order by id"
    ):
        if note_type_id not in note_types:
            raise Refused(
                f"not a readable Anki package: note {note_id} uses note type {note_type_id},"
                " which the package does not hold"
            )
        if not isinstance(guid, str) or not isinstance(fields, str) or not isinstance(tags, str):
            raise Refused(f"not a readable Anki package: note {note_id} is damaged")
        notes.append(Note(note_id, guid, note_type_id, mod, tuple(tags.split()), tuple(fields.split("\x1f"))))
    return tuple(notes)


def _cards(connection: sqlite3.Connection, note_ids: set[int]) -> tuple[Card, ...]:
    cards = []
    for card_id, note_id, deck_id, ordinal, original_deck_id in connection.execute(
        "select id, nid, did, ord, odid from cards order by id"
    ):
        if note_id not in note_ids:
            raise Refused(
                f"not a readable Anki package: card {card_id} belongs to note {note_id},"
                " which the package does not hold"
            )
        # A card in a filtered deck keeps its home deck in odid.
        cards.append(Card(card_id, note_id, original_deck_id or deck_id, ordinal))
    return tuple(cards)
