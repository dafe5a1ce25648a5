"""Reading Anki packages (`.apkg`, `.colpkg`): the way back in from Anki.

The pipeline's other steps write packages; this module reads any package Anki or genanki
writes, so that `deckgen diff` can compare two of them and `deckgen import` can adopt an
existing deck. It is the one place that knows Anki's package formats, and the one place
that opens untrusted zip, zstd and SQLite data, so it is bounded: every size is checked
against the limits below before anything is unpacked, and unpacking stops at them.

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
import urllib.parse
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import zstandard

from .errors import DeckError, Location, Problem

# -- limits ----------------------------------------------------------------------------
# Bigger than any deck deckgen is meant for, small enough that a hostile package cannot
# fill the disk or the memory. A package over a limit is refused, never half read.

MAX_MEMBERS = 100_000  # files in the zip: the collection, the media list, one per media file
MAX_DIRECTORY_BYTES = 32 * 1024**2  # the zip's central directory, checked before it is parsed
MAX_DATABASE_BYTES = 1024**3  # the unpacked SQLite collection, written to a temporary file
MAX_MEDIA_FILE_BYTES = 100 * 1024**2  # one media file; AnkiWeb syncs none larger either
MAX_MEDIA_LIST_BYTES = 64 * 1024**2  # the unpacked `media` list
MAX_META_BYTES = 64 * 1024  # `meta` is two bytes in practice
MAX_PACKAGE_BYTES = 4 * 1024**3  # everything in the package, unpacked
# Real collections and media pack 2 to 40 times smaller; a zip or zstd bomb packs a
# thousand times or more. The ratio is judged only past RATIO_FLOOR bytes, where a few
# empty SQLite pages can no longer make an honest file look like a bomb.
MAX_RATIO = 100
RATIO_FLOOR = 4 * 1024**2

SCHEMA_VERSIONS = range(11, 19)  # what Anki 2.1 up to 26.x writes; 18 is the newest
CHUNK = 1024**2
ZSTD_SLICE = 1024  # zstd bytes per decompress call: see _unzstd
ZSTD_MAX_WINDOW = 1 << 27  # zstd's own default cap on decoder memory (128 MiB)

COLLECTION_FILES = ("collection.anki21b", "collection.anki21", "collection.anki2")
# PackageMetadata.Version -> the collection member that version reads (meta.rs).
VERSION_FILES = {1: "collection.anki2", 2: "collection.anki21", 3: "collection.anki21b"}
ZSTD_VERSION = 3
# What Anki's export screen calls a legacy export (collection.anki21), which deckgen reads.
OLDER_EXPORT = "export it again with 'Support older Anki versions' ticked"

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


class _Refused(Exception):
    """Why a package cannot be read; `read_anki_package` locates it at the package's path."""


# -- the package ---------------------------------------------------------------------


def read_anki_package(path: Path) -> AnkiPackage:
    """Read an .apkg or .colpkg in any format Anki or genanki writes. Raises DeckError."""
    path = Path(path)
    try:
        with _open_package(path) as file:
            return _read(path, file)
    except _Refused as refused:
        raise DeckError([Problem(Location(str(path)), str(refused))]) from None


def read_media(package: AnkiPackage, name: str, limit: int = MAX_MEDIA_FILE_BYTES) -> bytes:
    """The bytes of the media file `name` of `package`. Raises DeckError."""
    try:
        entry = package.media.get(name)
        if entry is None:
            raise _Refused(f"the package has no media file {name!r}")
        if entry.size > limit:
            raise _Refused(_too_big(f"media file {name!r}", entry.size, limit))
        with _open_package(package.path) as file, _open_zip(file) as archive:
            info = _member_info(archive, entry.member)
            if info is None:
                raise _Refused(f"media file {name!r} is missing from the package")
            buffer = io.BytesIO()
            _unpack(
                archive, info, buffer, zstd=entry.zstd, limit=min(entry.size, limit) if entry.zstd else limit
            )
            data = buffer.getvalue()
    except _Refused as refused:
        raise DeckError([Problem(Location(str(package.path)), str(refused))]) from None
    if (entry.zstd and len(data) != entry.size) or (
        entry.sha1 is not None and hashlib.sha1(data).digest() != entry.sha1
    ):
        message = f"not a readable Anki package: media file {name!r} is damaged (its checksum does not match)"
        raise DeckError([Problem(Location(str(package.path)), message)])
    return data


def _open_package(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise _Refused("file not found") from None
    except IsADirectoryError:
        raise _Refused("is a folder, not an Anki package") from None
    except OSError as error:
        raise _Refused(f"cannot be read ({error.strerror})") from None


def _read(path: Path, file: BinaryIO) -> AnkiPackage:
    _check_zip_directory(file)
    with _open_zip(file) as archive:
        members = _check_members(archive)
        version = _package_version(archive, members)
        collection_file = VERSION_FILES[version]
        if collection_file not in members:
            raise _Refused("not an Anki package: no collection inside")
        media = _read_media_list(archive, members, version)
        with tempfile.TemporaryDirectory(prefix="deckgen-package-") as folder:
            database = Path(folder) / "collection.sqlite"
            with open(database, "wb") as target:
                _unpack(
                    archive,
                    members[collection_file],
                    target,
                    zstd=version == ZSTD_VERSION,
                    limit=MAX_DATABASE_BYTES,
                )
            _check_database_header(database)
            try:
                contents = _read_collection(database)
            except sqlite3.Error as error:
                raise _Refused(
                    f"not a readable Anki package: its collection database is damaged ({error})"
                ) from None
            except (TypeError, AttributeError, ValueError, KeyError):
                # A value of the wrong type where Anki keeps another (a blob for a deck
                # name, say): SQLite does not enforce column types.
                raise _Refused(
                    "not a readable Anki package: its collection database is damaged (unexpected values)"
                ) from None
    schema_version, note_types, decks, notes, cards = contents
    return AnkiPackage(path, collection_file, schema_version, note_types, decks, notes, cards, media)


# -- the zip -------------------------------------------------------------------------


def _open_zip(file: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _Refused("not a readable Anki package: it is not a zip file") from None


def _check_zip_directory(file: BinaryIO) -> None:
    """Refuse a zip whose central directory is too big before zipfile parses all of it.

    zipfile builds an object per member up front; this reads only the end record.
    """
    file.seek(0, io.SEEK_END)
    size = file.tell()
    tail_start = max(0, size - (22 + 65535))  # the end record, and a comment of at most 64 KiB
    file.seek(tail_start)
    tail = file.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise _Refused("not a readable Anki package: it is not a zip file")
    entries = int.from_bytes(tail[at + 10 : at + 12], "little")
    directory = int.from_bytes(tail[at + 12 : at + 16], "little")
    locator_at = tail_start + at - 20
    if (entries == 0xFFFF or directory == 0xFFFFFFFF) and locator_at >= 0:
        file.seek(locator_at)
        locator = file.read(20)
        if locator[:4] == b"PK\x06\x07":
            file.seek(int.from_bytes(locator[8:16], "little"))
            record = file.read(56)
            if record[:4] == b"PK\x06\x06" and len(record) == 56:
                entries = int.from_bytes(record[32:40], "little")
                directory = int.from_bytes(record[40:48], "little")
    if entries > MAX_MEMBERS:
        raise _Refused(f"refused: the package holds {entries} files, more than the {MAX_MEMBERS} allowed")
    if directory > MAX_DIRECTORY_BYTES:
        raise _Refused(
            f"refused: the package's list of files is {_size(directory)},"
            f" more than the {_size(MAX_DIRECTORY_BYTES)} allowed"
        )
    file.seek(0)


def _member_limit(name: str) -> int:
    if name in COLLECTION_FILES:
        return MAX_DATABASE_BYTES
    if name == "meta":
        return MAX_META_BYTES
    if name == "media":
        return MAX_MEDIA_LIST_BYTES
    return MAX_MEDIA_FILE_BYTES


def _check_members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Every member's declared size, ratio and method, checked before anything is unpacked."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _Refused(f"refused: the package holds {len(infos)} files, more than the {MAX_MEMBERS} allowed")
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        if name in members:
            raise _Refused(f"not a readable Anki package: it holds two files named {name!r}")
        members[name] = info
        if info.flag_bits & 0x1:
            raise _Refused(f"not a readable Anki package: {name} is encrypted")
        # Anki and genanki write only these two; refusing the others (bzip2, lzma) keeps
        # their decompressors, and their own bombs, out of reach.
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Refused(f"not a readable Anki package: {name} uses a compression Anki never writes")
        limit = _member_limit(name)
        if info.file_size > limit:
            raise _Refused(_too_big(name, info.file_size, limit))
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _Refused(
                f"refused: {name} would unpack to {_size(info.file_size)} from {_size(info.compress_size)},"
                f" more than {MAX_RATIO} times its packed size (a zip bomb?)"
            )
        total += info.file_size
    if total > MAX_PACKAGE_BYTES:
        raise _Refused(_too_big("the package", total, MAX_PACKAGE_BYTES))
    return members


def _member_info(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    try:
        return archive.getinfo(name)
    except KeyError:
        return None


def _unpack(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: BinaryIO, *, zstd: bool, limit: int
) -> int:
    """Copy one member, unpacked, to `target`; stop and refuse past `limit` bytes or MAX_RATIO."""
    name = info.filename
    try:
        with archive.open(info) as member:
            if zstd:
                return _unzstd(member, target, name, limit)
            # zipfile never returns more than the declared size, which _check_members
            # bounded, and checks the CRC at the end.
            written = 0
            while chunk := member.read(CHUNK):
                written = _write_bounded(target, chunk, written, info.compress_size, name, limit)
            return written
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        zstandard.ZstdError,
        NotImplementedError,
    ) as error:
        raise _Refused(f"not a readable Anki package: {name} is damaged ({error})") from None


def _unzstd(member: BinaryIO, target: BinaryIO, name: str, limit: int) -> int:
    """Decompress a zstd member (one frame or several, as Anki's copy_decode reads them).

    zstandard's stream readers end quietly on a truncated frame, so this feeds a
    decompressobj, whose `eof` says the frame really ended, ZSTD_SLICE bytes at a time:
    one zstd byte unpacks to at most 32 KiB (an RLE block), so no single call can
    produce more than 32 MiB, however the data was crafted.
    """
    decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    frame = decompressor.decompressobj()
    packed = written = 0
    first = True
    while chunk := member.read(64 * 1024):
        if first:
            _refuse_declared_zstd_size(chunk, name, limit)
            first = False
        for start in range(0, len(chunk), ZSTD_SLICE):
            data = chunk[start : start + ZSTD_SLICE]
            packed += len(data)
            while data:
                if frame.eof:
                    frame = decompressor.decompressobj()
                out = frame.decompress(data)
                data = frame.unused_data if frame.eof else b""
                written = _write_bounded(target, out, written, packed, name, limit)
    if not frame.eof:
        raise _Refused(f"not a readable Anki package: {name} is damaged (it ends too early)")
    return written


def _refuse_declared_zstd_size(start: bytes, name: str, limit: int) -> None:
    """Refuse before unpacking when the zstd frame header itself declares too big a size."""
    try:
        declared = zstandard.get_frame_parameters(start[:18]).content_size  # 18: the longest header
    except zstandard.ZstdError:
        return  # damaged: decompressing says so
    if declared != zstandard.CONTENTSIZE_UNKNOWN and declared > limit:
        raise _Refused(_too_big(name, declared, limit))


def _write_bounded(target: BinaryIO, data: bytes, written: int, packed: int, name: str, limit: int) -> int:
    written += len(data)
    if written > limit:
        raise _Refused(f"refused: {name} unpacks to more than the {_size(limit)} allowed")
    if written > RATIO_FLOOR and written > MAX_RATIO * max(packed, 1):
        raise _Refused(
            f"refused: {name} unpacks to more than {MAX_RATIO} times its packed size (a zip bomb?)"
        )
    target.write(data)
    return written


def _read_small(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, zstd: bool, limit: int) -> bytes:
    buffer = io.BytesIO()
    _unpack(archive, info, buffer, zstd=zstd, limit=limit)
    return buffer.getvalue()


def _too_big(what: str, size: int, limit: int) -> str:
    return f"refused: {what} would unpack to {_size(size)}, more than the {_size(limit)} allowed"


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{count} bytes"


# -- meta and the media list -----------------------------------------------------------


def _package_version(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> int:
    """PackageMetadata.Version, as Anki's Meta::from_archive decides it."""
    if "meta" not in members:
        return 2 if "collection.anki21" in members else 1
    meta = _protobuf(_read_small(archive, members["meta"], zstd=False, limit=MAX_META_BYTES), "meta")
    version = _integer(meta, 1)
    if version not in VERSION_FILES:
        raise _Refused(
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
    data = _read_small(archive, members["media"], zstd=zstd, limit=MAX_MEDIA_LIST_BYTES)
    media: dict[str, MediaFile] = {}
    if zstd:
        for index, entry_bytes in enumerate(_messages(_protobuf(data, "the media list"), 1)):
            entry = _protobuf(entry_bytes, "the media list")
            name = _text(entry, 1, "the media list")
            sha1 = _bytes(entry, 3)
            if len(sha1) != 20:
                raise _Refused(
                    f"not a readable Anki package: the media list is damaged (checksum of {name!r})"
                )
            media_file = MediaFile(name, str(index), _integer(entry, 2), sha1, zstd=True)
            _add_media(media, media_file, members)
    else:
        try:
            listing = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise _Refused("not a readable Anki package: the media list is damaged") from None
        if not isinstance(listing, dict):
            raise _Refused("not a readable Anki package: the media list is damaged")
        for member, name in listing.items():
            if not member.isdigit() or not isinstance(name, str):
                raise _Refused("not a readable Anki package: the media list is damaged")
            info = members.get(member)
            size = info.file_size if info is not None else 0
            _add_media(media, MediaFile(name, member, size, None, zstd=False), members)
    total = sum(entry.size for entry in media.values())
    if total > MAX_PACKAGE_BYTES:
        raise _Refused(_too_big("its media", total, MAX_PACKAGE_BYTES))
    return media


def _add_media(media: dict[str, MediaFile], entry: MediaFile, members: dict[str, zipfile.ZipInfo]) -> None:
    name = entry.name
    # Anki refuses the same names (filename_is_safe): a name must be one plain file name,
    # so that writing it into a media folder cannot land anywhere else.
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise _Refused(f"not a readable Anki package: it holds a media file with an unsafe name {name!r}")
    if name in media:
        raise _Refused(f"not a readable Anki package: it lists the media file {name!r} twice")
    if entry.member not in members:
        raise _Refused(f"not a readable Anki package: media file {name!r} is missing from it")
    if entry.size > MAX_MEDIA_FILE_BYTES:
        raise _Refused(_too_big(f"media file {name!r}", entry.size, MAX_MEDIA_FILE_BYTES))
    media[name] = entry


# -- protobuf, by hand -------------------------------------------------------------------
# The few messages read here are small and stable; decoding them by hand keeps the
# protobuf runtime and Anki's generated code out of deckgen's dependencies.

ProtobufFields = dict[int, list[int | bytes]]


def _varint(data: bytes, at: int, what: str) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if at >= len(data):
            break
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
    raise _Refused(f"not a readable Anki package: {what} is damaged")


def _protobuf(data: bytes, what: str) -> ProtobufFields:
    """A message's fields: number -> values in order (varints as int, the rest as bytes)."""
    fields: ProtobufFields = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at, what)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, at = _varint(data, at, what)
        elif wire_type == 2:
            length, at = _varint(data, at, what)
            value, at = data[at : at + length], at + length
        elif wire_type in (1, 5):
            width = 8 if wire_type == 1 else 4
            value, at = data[at : at + width], at + width
        else:
            raise _Refused(f"not a readable Anki package: {what} is damaged")
        if at > len(data) or number == 0:
            raise _Refused(f"not a readable Anki package: {what} is damaged")
        fields.setdefault(number, []).append(value)
    return fields


def _integer(fields: ProtobufFields, number: int) -> int:
    values = fields.get(number)
    if not values:
        return 0
    value = values[-1]  # proto3: the last one wins
    return value if isinstance(value, int) else 0


def _bytes(fields: ProtobufFields, number: int) -> bytes:
    values = fields.get(number)
    if not values:
        return b""
    value = values[-1]
    return value if isinstance(value, bytes) else b""


def _text(fields: ProtobufFields, number: int, what: str) -> str:
    try:
        return _bytes(fields, number).decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(f"not a readable Anki package: {what} is damaged") from None


def _messages(fields: ProtobufFields, number: int) -> list[bytes]:
    return [value for value in fields.get(number, []) if isinstance(value, bytes)]


# -- the collection ----------------------------------------------------------------------


def _check_database_header(path: Path) -> None:
    """Refuse a truncated database: SQLite would read the missing pages as absent rows."""
    size = path.stat().st_size
    with open(path, "rb") as file:
        header = file.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise _Refused("not a readable Anki package: its collection is not an SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count in the header is valid when its "version valid for" matches the
    # change counter (SQLite 3.7.0+ always keeps it so).
    counted = header[24:28] == header[92:96]
    if page_size < 512 or size % page_size or (counted and size < pages * page_size):
        raise _Refused("not a readable Anki package: its collection database is damaged (truncated)")


def _unicase(a: str, b: str) -> int:
    a, b = a.casefold(), b.casefold()
    return (a > b) - (a < b)


def _read_collection(path: Path):
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
                raise _Refused(f"not a readable Anki package: its collection has no {table} table")
        rows = connection.execute("select ver from col").fetchall()
        if len(rows) != 1:
            raise _Refused("not a readable Anki package: its collection database is damaged (col)")
        (version,) = rows[0]
        if not isinstance(version, int) or version < SCHEMA_VERSIONS.start:
            raise _Refused(f"not a readable Anki package: its collection has an unknown schema ({version})")
        if version not in SCHEMA_VERSIONS:
            raise _Refused(
                f"not a readable Anki package: its collection uses schema {version}, newer than deckgen can"
                f" read (up to {SCHEMA_VERSIONS[-1]}); {OLDER_EXPORT}"
            )
        if version >= 15:
            for table in ("notetypes", "fields", "templates", "decks"):
                if table not in tables:
                    raise _Refused(f"not a readable Anki package: its collection has no {table} table")
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
    raise _Refused(f"not a readable Anki package: note type {name!r} has an unknown kind ({value})")


def _note_types_from_tables(connection: sqlite3.Connection) -> dict[int, NoteType]:
    fields: dict[int, list[str]] = {}
    for note_type_id, name in connection.execute("select ntid, name from fields order by ntid, ord"):
        fields.setdefault(note_type_id, []).append(name)
    templates: dict[int, list[CardTemplate]] = {}
    for note_type_id, name, config in connection.execute(
        "select ntid, name, config from templates order by ntid, ord"
    ):
        what = f"the templates of note type {note_type_id}"
        parsed = _protobuf(_blob(config, what), what)
        template = CardTemplate(name, _text(parsed, 1, what), _text(parsed, 2, what))
        templates.setdefault(note_type_id, []).append(template)
    note_types = {}
    for note_type_id, name, mod, config in connection.execute(
        "select id, name, mtime_secs, config from notetypes"
    ):
        what = f"note type {name!r}"
        parsed = _protobuf(_blob(config, what), what)
        note_types[note_type_id] = NoteType(
            id=note_type_id,
            name=name,
            kind=_kind(_integer(parsed, 1), name),
            fields=tuple(fields.get(note_type_id, ())),
            templates=tuple(templates.get(note_type_id, ())),
            css=_text(parsed, 3, what),
            sort_field=_integer(parsed, 2),
            mod=mod,
        )
    return note_types


def _decks_from_table(connection: sqlite3.Connection) -> dict[int, Deck]:
    decks = {}
    for deck_id, name, mod, kind in connection.execute("select id, name, mtime_secs, kind from decks"):
        what = f"deck {name!r}"
        container = _protobuf(_blob(kind, what), what)
        # Deck.KindContainer: 1 = a normal deck (description = 4), 2 = a filtered deck.
        normal = _messages(container, 1)
        description = _text(_protobuf(normal[-1], what), 4, what) if normal else ""
        # Anki keeps "Parent\x1fChild" in the table and shows "Parent::Child".
        decks[deck_id] = Deck(deck_id, name.replace("\x1f", "::"), description, mod)
    return decks


def _blob(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if value is None or value == "":
        return b""
    raise _Refused(f"not a readable Anki package: {what} is damaged")


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
        raise _Refused("not a readable Anki package: its note types or decks are damaged") from None
    return note_types, decks


def _notes(connection: sqlite3.Connection, note_types: dict[int, NoteType]) -> tuple[Note, ...]:
    notes = []
    for note_id, guid, note_type_id, mod, tags, fields in connection.execute(
        "select id, guid, mid, mod, tags, flds from notes order by id"
    ):
        if note_type_id not in note_types:
            raise _Refused(
                f"not a readable Anki package: note {note_id} uses note type {note_type_id},"
                " which the package does not hold"
            )
        if not isinstance(guid, str) or not isinstance(fields, str) or not isinstance(tags, str):
            raise _Refused(f"not a readable Anki package: note {note_id} is damaged")
        notes.append(Note(note_id, guid, note_type_id, mod, tuple(tags.split()), tuple(fields.split("\x1f"))))
    return tuple(notes)


def _cards(connection: sqlite3.Connection, note_ids: set[int]) -> tuple[Card, ...]:
    cards = []
    for card_id, note_id, deck_id, ordinal, original_deck_id in connection.execute(
        "select id, nid, did, ord, odid from cards order by id"
    ):
        if note_id not in note_ids:
            raise _Refused(
                f"not a readable Anki package: card {card_id} belongs to note {note_id},"
                " which the package does not hold"
            )
        # A card in a filtered deck keeps its home deck in odid.
        cards.append(Card(card_id, note_id, original_deck_id or deck_id, ordinal))
    return tuple(cards)


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
