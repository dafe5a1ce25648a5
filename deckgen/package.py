"""Step 5 of the pipeline: write .apkg files with genanki, reproducibly and safely.

genanki stamps every note, card, deck and note type with one build time and writes
zip entries with the wall-clock time. Here every timestamp comes from the lock
(`identity.py`), note and card ids are counted from a time derived from the lock, and
zip entries carry a fixed date in a fixed order: the same sources and lock give the
same bytes. Files are written under a temporary name and renamed into place by
`commit_files`, so a failed or killed build never leaves a half-written package.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import genanki

# Zip's epoch; a fixed entry date keeps packages byte-identical across builds.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class _Note(genanki.Note):
    """A genanki note whose `mod` is its own change time, not the build time."""

    def __init__(self, *args, mod: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.mod = mod

    def write_to_db(self, cursor, timestamp, deck_id, id_gen):
        super().write_to_db(cursor, self.mod, deck_id, id_gen)


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


def write_package(path: Path, decks: list[PackageDeck], media: list[tuple[Path, str]]) -> None:
    """Write an .apkg to `path` (which should be a temporary name)."""
    note_types: dict[int, _NoteType] = {}
    genanki_decks = []
    for deck in decks:
        gdeck = _Deck(deck.id, deck.name, deck.description, mod=deck.mod)
        for note in deck.notes:
            args = note.note_type
            model = note_types.get(args.id)
            if model is None:
                model = note_types[args.id] = _NoteType(
                    args.id,
                    args.name,
                    fields=[{"name": name} for name in args.fields],
                    templates=[{"name": n, "qfmt": q, "afmt": a} for n, q, a in args.templates],
                    css=args.css,
                    model_type=genanki.Model.CLOZE if args.is_cloze else genanki.Model.FRONT_BACK,
                    mod=args.mod,
                )
            gdeck.add_note(
                _Note(
                    model=model,
                    fields=note.fields,
                    guid=note.guid,
                    tags=list(note.tags),
                    due=note.due,
                    mod=note.mod,
                )
            )
        genanki_decks.append(gdeck)

    # Note and card ids only need to be unique in the package (Anki matches notes by
    # GUID). Counting them from the newest change time keeps them reproducible.
    newest = max([n.mod for d in decks for n in d.notes] + [d.mod for d in decks] + [0])
    id_gen = itertools.count(newest * 1000)

    handle, db_path = tempfile.mkstemp(suffix=".anki2", dir=path.parent)
    os.close(handle)
    try:
        connection = sqlite3.connect(db_path)
        try:
            cursor = connection.cursor()
            genanki.Package(genanki_decks).write_to_db(cursor, newest, id_gen)
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
