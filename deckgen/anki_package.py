"""Reading Anki packages (`.apkg`, `.colpkg`): the way back in from Anki.

The pipeline's other steps write packages; this module reads any package Anki or genanki
writes, so that `deckgen diff` can compare two of them and `deckgen import` can adopt an
existing deck. It and its three parts, each beside it, are the one place that knows
Anki's package formats, and the one place that opens untrusted zip, zstd and SQLite
data, so they are bounded: every size is checked against the limits (package_archive.py)
before anything is unpacked, and unpacking stops at them. package_archive.py unpacks the
zip and zstd data, package_collection.py reads the SQLite collection (and defines
`NoteType`, `Deck`, `Note`, `Card`), package_protobuf.py decodes the few protobuf
messages; this module reads the package's version and media list and puts it together.

The formats (from Anki's rslib/src/import_export/package/):

| `meta` member              | collection member    | compression | media list `media`          |
| -------------------------- | -------------------- | ----------- | --------------------------- |
| none, no collection.anki21 | `collection.anki2`   | zip deflate | JSON `{"0": "name.png"}`    |
| none, or version 2         | `collection.anki21`  | zip deflate | JSON, as above              |
| version 3 (Anki 2.1.50+)   | `collection.anki21b` | zstd        | zstd protobuf MediaEntries  |

`meta` is a protobuf `PackageMetadata{Version version = 1}`; a version Anki does not know
means "made by a newer Anki". In the version 3 format `collection.anki2` is a stub
holding one note that asks to "update to the latest Anki version": it is never read.
Media files are zip members named `0`, `1`, ... (zstd-compressed in version 3, where the
member's name is the entry's position in MediaEntries).

The collection is SQLite. Schema 11 to 14 (genanki, legacy exports) keeps note types
and decks as JSON in `col.models` and `col.decks`; schema 15 to 18 (Anki 2.1.28+, and
every version 3 package) keeps them in the `notetypes`, `fields`, `templates` and
`decks` tables, with protobuf config blobs (proto/anki/notetypes.proto, decks.proto).

What a package holds, as plain frozen values (ids are Anki's, times are seconds):

- `AnkiPackage(path, collection_file, schema_version, note_types, decks, notes, cards, media)`:
  `note_types` maps id -> `NoteType`, `decks` id -> `Deck`, `media` file name ->
  `MediaFile`; `notes` and `cards` are tuples in id order.
- `NoteType(id, name, kind, fields, templates, css, sort_field, mod)`: `kind` is
  "standard" or "cloze"; `fields` the field names in order; `templates` a tuple of
  `CardTemplate(name, qfmt, afmt)` (question and answer format) in card order.
- `Deck(id, name, description, mod)`: `name` with "::" between parent and child.
- `Note(id, guid, note_type_id, mod, tags, fields)`: `fields` the values in the note
  type's field order; `tags` as Anki lists them.
- `Card(id, note_id, deck_id, ord)`: `deck_id` is the card's home deck (for a card
  sitting in a filtered deck, the deck it returns to); `ord` is the template (or cloze
  number - 1) the card comes from.
- `MediaFile(name, member, size, sha1, zstd)`: where the file is in the zip; read its
  bytes with `AnkiPackage.read_media(name)`, which reopens the package and is bounded
  by `MAX_MEDIA_FILE_BYTES`.

Anything unreadable, damaged, too new or over a limit raises `DeckError` with one
`Problem` located at the package's path, in the user's words.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import DeckError, Location, Problem
from .package_archive import (
    MAX_DATABASE_BYTES,
    MAX_MEDIA_FILE_BYTES,
    MAX_MEDIA_LIST_BYTES,
    MAX_MEMBERS,
    MAX_META_BYTES,
    MAX_PACKAGE_BYTES,
    MAX_RATIO,
    OLDER_EXPORT,
    Refused,
    check_members,
    check_zip_directory,
    member_info,
    open_package,
    open_zip,
    read_small,
    too_big,
    unpack,
)
from .package_collection import (
    Card,
    CardTemplate,
    Deck,
    Note,
    NoteType,
    check_database_header,
    read_collection,
)
from .package_protobuf import (
    parse_protobuf,
    protobuf_bytes,
    protobuf_integer,
    protobuf_messages,
    protobuf_text,
)

# PackageMetadata.Version -> the collection member that version reads (meta.rs).
VERSION_FILES = {1: "collection.anki2", 2: "collection.anki21", 3: "collection.anki21b"}
ZSTD_VERSION = 3


@dataclass(frozen=True)
class MediaFile:
    name: str  # the file name notes refer to
    member: str  # the zip member holding it ("0", "1", ...)
    size: int  # unpacked bytes, as the package declares them
    sha1: bytes | None  # declared by version 3 packages, checked when read
    zstd: bool


@dataclass(frozen=True)
class AnkiPackage:
    path: Path
    collection_file: str  # which collection member was read: "collection.anki21b", ...
    schema_version: int
    note_types: dict[int, NoteType]
    decks: dict[int, Deck]
    notes: tuple[Note, ...]
    cards: tuple[Card, ...]
    media: dict[str, MediaFile]

    def note_type_of(self, note: Note) -> NoteType:
        return self.note_types[note.note_type_id]

    def fields_of(self, note: Note) -> dict[str, str]:
        """A note's field values by field name."""
        return dict(zip(self.note_type_of(note).fields, note.fields, strict=False))

    def read_media(self, name: str, limit: int = MAX_MEDIA_FILE_BYTES) -> bytes:
        """The bytes of one media file; DeckError if it is damaged or over `limit` bytes."""
        return read_media(self, name, limit)


# -- the package ---------------------------------------------------------------------


def read_anki_package(path: Path) -> AnkiPackage:
    """Read an .apkg or .colpkg in any format Anki or genanki writes. Raises DeckError."""
    path = Path(path)
    try:
        with open_package(path) as file:
            return _read(path, file)
    except Refused as refused:
        raise DeckError([Problem(Location(str(path)), str(refused))]) from None


def read_media(package: AnkiPackage, name: str, limit: int = MAX_MEDIA_FILE_BYTES) -> bytes:
    """The bytes of the media file `name` of `package`. Raises DeckError."""
    try:
        entry = package.media.get(name)
        if entry is None:
            raise Refused(f"the package has no media file {name!r}")
        if entry.size > limit:
            raise Refused(too_big(f"media file {name!r}", entry.size, limit))
        with open_package(package.path) as file, open_zip(file) as archive:
            info = member_info(archive, entry.member)
            if info is None:
                raise Refused(f"media file {name!r} is missing from the package")
            buffer = io.BytesIO()
            unpack(
                archive, info, buffer, zstd=entry.zstd, limit=min(entry.size, limit) if entry.zstd else limit
            )
            data = buffer.getvalue()
    except Refused as refused:
        raise DeckError([Problem(Location(str(package.path)), str(refused))]) from None
    if (entry.zstd and len(data) != entry.size) or (
        entry.sha1 is not None and hashlib.sha1(data).digest() != entry.sha1
    ):
        message = f"not a readable Anki package: media file {name!r} is damaged (its checksum does not match)"
        raise DeckError([Problem(Location(str(package.path)), message)])
    return data


def _read(path: Path, file: BinaryIO) -> AnkiPackage:
    check_zip_directory(file)
    with open_zip(file) as archive:
        members = check_members(archive)
        version = _package_version(archive, members)
        collection_file = VERSION_FILES[version]
        if collection_file not in members:
            raise Refused("not an Anki package: no collection inside")
        media = _read_media_list(archive, members, version)
        with tempfile.TemporaryDirectory(prefix="deckgen-package-") as folder:
            database = Path(folder) / "collection.sqlite"
            with open(database, "wb") as target:
                unpack(
                    archive,
                    members[collection_file],
                    target,
                    zstd=version == ZSTD_VERSION,
                    limit=MAX_DATABASE_BYTES,
                )
            check_database_header(database)
            try:
                contents = read_collection(database)
            except sqlite3.Error as error:
                raise Refused(
                    f"not a readable Anki package: its collection database is damaged ({error})"
                ) from None
            except (TypeError, AttributeError, ValueError, KeyError):
                # A value of the wrong type where Anki keeps another (a blob for a deck
                # name, say): SQLite does not enforce column types.
                raise Refused(
                    "not a readable Anki package: its collection database is damaged (unexpected values)"
                ) from None
    schema_version, note_types, decks, notes, cards = contents
    return AnkiPackage(path, collection_file, schema_version, note_types, decks, notes, cards, media)


# -- meta and the media list -----------------------------------------------------------


def _package_version(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> int:
    """PackageMetadata.Version, as Anki's Meta::from_archive decides it."""
    if "meta" not in members:
        return 2 if "collection.anki21" in members else 1
    meta = parse_protobuf(read_small(archive, members["meta"], zstd=False, limit=MAX_META_BYTES), "meta")
    version = protobuf_integer(meta, 1)
    if version not in VERSION_FILES:
        raise Refused(
            f"not a readable Anki package: it was made by a newer Anki than deckgen can read"
            f" (package version {version}); {OLDER_EXPORT}"
        )
    return version


def _read_media_list(
    archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], version: int
) -> dict[str, MediaFile]:
    if "media" not in members:
        return {}  # older AnkiDroid wrote .colpkg files without one (media.rs)
    zstd = version == ZSTD_VERSION
    data = read_small(archive, members["media"], zstd=zstd, limit=MAX_MEDIA_LIST_BYTES)
    media: dict[str, MediaFile] = {}
    if zstd:
        for index, entry_bytes in enumerate(protobuf_messages(parse_protobuf(data, "the media list"), 1)):
            entry = parse_protobuf(entry_bytes, "the media list")
            name = protobuf_text(entry, 1, "the media list")
            sha1 = protobuf_bytes(entry, 3)
            if len(sha1) != 20:
                raise Refused(
                    f"not a readable Anki package: the media list is damaged (checksum of {name!r})"
                )
            media_file = MediaFile(name, str(index), protobuf_integer(entry, 2), sha1, zstd=True)
            _add_media(media, media_file, members)
    else:
        try:
            listing = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise Refused("not a readable Anki package: the media list is damaged") from None
        if not isinstance(listing, dict):
            raise Refused("not a readable Anki package: the media list is damaged")
        for member, name in listing.items():
            if not member.isdigit() or not isinstance(name, str):
                raise Refused("not a readable Anki package: the media list is damaged")
            info = members.get(member)
            size = info.file_size if info is not None else 0
            _add_media(media, MediaFile(name, member, size, None, zstd=False), members)
    total = sum(entry.size for entry in media.values())
    if total > MAX_PACKAGE_BYTES:
        raise Refused(too_big("its media", total, MAX_PACKAGE_BYTES))
    return media


def _add_media(media: dict[str, MediaFile], entry: MediaFile, members: dict[str, zipfile.ZipInfo]) -> None:
    name = entry.name
    # Anki refuses the same names (filename_is_safe): a name must be one plain file name,
    # so that writing it into a media folder cannot land anywhere else.
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise Refused(f"not a readable Anki package: it holds a media file with an unsafe name {name!r}")
    if name in media:
        raise Refused(f"not a readable Anki package: it lists the media file {name!r} twice")
    if entry.member not in members:
        raise Refused(f"not a readable Anki package: media file {name!r} is missing from it")
    if entry.size > MAX_MEDIA_FILE_BYTES:
        raise Refused(too_big(f"media file {name!r}", entry.size, MAX_MEDIA_FILE_BYTES))
    media[name] = entry


__all__ = [
    "MAX_DATABASE_BYTES",
    "MAX_MEDIA_FILE_BYTES",
    "MAX_MEMBERS",
    "MAX_PACKAGE_BYTES",
    "MAX_RATIO",
    "AnkiPackage",
    "Card",
    "CardTemplate",
    "Deck",
    "MediaFile",
    "Note",
    "NoteType",
    "read_anki_package",
    "read_media",
]
