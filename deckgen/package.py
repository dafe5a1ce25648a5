"""Step 5 of the pipeline: write .apkg files with genanki, reproducibly and safely.

genanki stamps every note, card, deck and note type with one build time and writes
zip entries with the wall-clock time. Here every timestamp comes from the lock
(`identity.py`), note and card ids are counted from a time derived from the lock, and
zip entries carry a fixed date in a fixed order: the same sources and lock give the
same bytes. Files are written under a temporary name and renamed into place by
`commit_files`, so a failed or killed build never leaves a half-written package.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import re
import sqlite3
import sys
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA

from .schema import cloze_numbers

# Zip's epoch; a fixed entry date keeps packages byte-identical across builds.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# genanki's patterns for the cloze fields of a template.
_CLOZE_FIELD_RE = re.compile(r"{{[^}]*?cloze:(?:[^}]?:)*(.+?)}}")
_CLOZE_FIELD_OLD_RE = re.compile("<%cloze:(.+?)%>")


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


@dataclass(frozen=True)
class PackageNote:
    guid: str
    note_type: NoteTypeArgs
    fields: list[str]
    tags: tuple[str, ...]
    mod: int
    due: int  # position among new cards: authoring order


@dataclass(frozen=True)
class NoteTypeArgs:
    id: int
    name: str
    fields: tuple[str, ...]
    templates: tuple[tuple[str, str, str], ...]
    css: str
    is_cloze: bool
    mod: int


@dataclass(frozen=True)
class PackageDeck:
    id: int
    name: str
    description: str
    mod: int
    notes: tuple[PackageNote, ...]


def package_key(
    decks: list[PackageDeck], media: list[tuple[Path, str]], deck_digests: dict[int, bytes] | None = None
) -> str:
    """A hash of everything `write_package` puts in a package: same key, same bytes.

    The build keeps a package it wrote before when the key is the same (cache.py). The
    writer's own fingerprint (this module, genanki, SQLite, zlib, Python) is part of it.
    `deck_digests` keeps each deck's hash for the next package with the same deck (the
    whole deck and a topic's package share theirs).
    """
    digest = hashlib.sha256(_writer_fingerprint().encode())
    for deck in decks:
        if deck_digests is None:
            digest.update(_deck_digest(deck))
        else:
            if id(deck) not in deck_digests:
                deck_digests[id(deck)] = _deck_digest(deck)
            digest.update(deck_digests[id(deck)])
    for source, name in sorted(set(media), key=lambda item: item[1]):
        digest.update(repr((name, hashlib.sha256(source.read_bytes()).hexdigest())).encode())
    return digest.hexdigest()


def _deck_digest(deck: PackageDeck) -> bytes:
    digest = hashlib.sha256(repr((deck.id, deck.name, deck.description, deck.mod)).encode())
    note_types = {}
    for note in deck.notes:
        note_types[note.note_type.id] = note.note_type
        fields = (note.guid, note.note_type.id, tuple(note.fields), note.tags, note.mod, note.due)
        digest.update(repr(fields).encode())
    digest.update(repr(sorted(note_types.items())).encode())
    return digest.digest()


@functools.cache
def _writer_fingerprint() -> str:
    versions = (genanki.__version__, sqlite3.sqlite_version, zlib.ZLIB_RUNTIME_VERSION, sys.version)
    return repr(versions) + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def write_package(path: Path, decks: list[PackageDeck], media: list[tuple[Path, str]]) -> None:
    """Write an .apkg to `path` (which should be a temporary name)."""
    # Note and card ids only need to be unique in the package (Anki matches notes by
    # GUID). Counting them from the newest change time keeps them reproducible.
    newest = max([n.mod for d in decks for n in d.notes] + [d.mod for d in decks] + [0])
    id_gen = itertools.count(newest * 1000)

    # Named after `path`, hidden, and ending in .tmp: a killed build's leftover is cleared
    # with the package's own (build.py's remove_leftovers).
    handle, db_path = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".anki2.tmp", dir=path.parent)
    os.close(handle)
    try:
        connection = sqlite3.connect(db_path)
        try:
            # The database is a scratch file that goes into the zip: no need to wait for
            # the disk after each of genanki's schema statements. Neither setting changes
            # a byte of the file.
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute("PRAGMA journal_mode = MEMORY")
            _write_collection(connection.cursor(), decks, newest, id_gen)
            connection.commit()
        finally:
            connection.close()
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            _add(archive, "collection.anki2", Path(db_path).read_bytes())
            ordered = sorted(set(media), key=lambda item: item[1])
            _add(archive, "media", json.dumps({str(i): name for i, (_, name) in enumerate(ordered)}).encode())
            for index, (source, _name) in enumerate(ordered):
                _add(archive, str(index), source.read_bytes())
    finally:
        os.unlink(db_path)


def _write_collection(cursor: sqlite3.Cursor, decks: list[PackageDeck], timestamp: int, id_gen) -> None:
    """genanki's `Package.write_to_db`, row for row, without a genanki object per note.

    genanki builds a Note (tag list, cached properties, checks) for every note in every
    package, which was most of the time spent writing; here each note is one row and its
    cards are computed as genanki computes them (but for nested cloze deletions, see
    `_card_ords`). Rows go in the same order in the same transactions, so the database
    is the same to the byte (tests/test_package.py).
    """
    cursor.executescript(APKG_SCHEMA)
    cursor.executescript(APKG_COL)
    note_types: dict[int, _NoteType] = {}
    for deck in decks:
        gdeck = _Deck(deck.id, deck.name, deck.description, mod=deck.mod)
        for note in deck.notes:
            args = note.note_type
            if args.id not in note_types:
                note_types[args.id] = _note_type(args)
            gdeck.add_model(note_types[args.id])
        _write_deck_json(cursor, gdeck, timestamp)
        for note in deck.notes:
            _write_note(cursor, note, note_types[note.note_type.id], deck.id, id_gen)


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


def _write_deck_json(cursor: sqlite3.Cursor, gdeck: _Deck, timestamp: int) -> None:
    """The deck and its note types into the `col` row, as genanki's `Deck.write_to_db` does."""
    (decks_json,) = cursor.execute("SELECT decks FROM col").fetchone()
    decks = json.loads(decks_json)
    decks.update({str(gdeck.deck_id): gdeck.to_json()})
    cursor.execute("UPDATE col SET decks = ?", (json.dumps(decks),))
    (models_json,) = cursor.execute("SELECT models from col").fetchone()
    models = json.loads(models_json)
    models.update(
        {model.model_id: model.to_json(timestamp, gdeck.deck_id) for model in gdeck.models.values()}
    )
    cursor.execute("UPDATE col SET models = ?", (json.dumps(models),))


def _write_note(cursor: sqlite3.Cursor, note: PackageNote, model: _NoteType, deck_id: int, id_gen) -> None:
    if len(model.fields) != len(note.fields):
        raise ValueError(
            f"note type {model.name!r} has {len(model.fields)} fields, the note {len(note.fields)}"
        )
    for field in note.fields:
        # genanki's warning for markup Anki would mangle (raw HTML typed into a card).
        invalid = genanki.Note._find_invalid_html_tags_in_field(field)
        if invalid:
            warnings.warn(
                "Field contained the following invalid HTML tags. Make sure you are calling "
                f"html.escape() if your field data isn't already HTML-encoded: {' '.join(invalid)}",
                stacklevel=2,
            )
    note_id = next(id_gen)
    cursor.execute(
        "INSERT INTO notes VALUES(?,?,?,?,?,?,?,?,?,?,?);",
        (
            note_id,
            note.guid,
            model.model_id,
            note.mod,
            -1,  # usn
            " " + " ".join(note.tags) + " ",
            "\x1f".join(note.fields),
            note.fields[model.sort_field_index],
            0,  # csum
            0,  # flags
            "",  # data
        ),
    )
    for card_ord in _card_ords(model, note.fields):
        cursor.execute(
            "INSERT INTO cards VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?);",
            # id, nid, did, ord, mod, usn, type, queue, due, then ivl to flags 0, data ""
            (
                next(id_gen),
                note_id,
                deck_id,
                card_ord,
                note.mod,
                -1,
                0,
                0,
                note.due,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                "",
            ),
        )


def _card_ords(model: _NoteType, fields: list[str]) -> list[int]:
    """Which cards a note gets, and in what order: genanki's `Note.cards`, except that a
    cloze deletion nested in another gets its card too, as in Anki (schema.cloze_numbers)."""
    if model.model_type == model.CLOZE:
        qfmt = model.templates[0]["qfmt"]
        names = set(_CLOZE_FIELD_RE.findall(qfmt) + _CLOZE_FIELD_OLD_RE.findall(qfmt))
        ords: set[int] = set()
        for name in names:
            index = next((i for i, f in enumerate(model.fields) if f["name"] == name), -1)
            value = fields[index] if index >= 0 else ""
            ords.update(number - 1 for number in cloze_numbers(value))
        return sorted(ords)
    ords_list = []
    for card_ord, any_or_all, required in model._req:
        test = any if any_or_all == "any" else all
        if test(fields[index] for index in required):
            ords_list.append(card_ord)
    return ords_list


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def temporary_path(final: Path) -> Path:
    """A hidden temporary name beside `final`, so the rename stays on one file system."""
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(handle)
    # mkstemp makes the file private (0600); outputs should get the usual permissions.
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_leftovers(final: Path) -> None:
    """Delete temporary files that a killed build left beside `final`."""
    for leftover in final.parent.glob(f".{final.name}.*.tmp"):
        leftover.unlink(missing_ok=True)


def commit_files(moves: list[tuple[Path, Path]]) -> None:
    """Rename each (temporary, final) pair into place; each rename is atomic."""
    for temporary, final in moves:
        os.replace(temporary, final)


def discard_files(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
