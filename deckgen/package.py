"""Step 5 of the pipeline: write .apkg files with genanki, reproducibly.

    Identified (identity.py) -> plan_packages -> PackageJob -> write_package -> .apkg

genanki stamps every note, card, deck and note type with one build time and writes
zip entries with the wall-clock time. Here every timestamp comes from the lock
(`identity.py`), note and card ids are counted from each deck's newest change time
(package_database.py, which writes the collection), and zip entries carry a fixed date
in a fixed order: the same sources and lock give the same bytes. The build writes each
package to a temporary name (output.py).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import marshal
import os
import shutil
import sqlite3
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

from .cards import topic_slug
from .identity import Identified, deck_id, note_guid, note_type_id
from .lock import ROOT
from .output import with_path
from .package_database import DeckRows, KeptDeck, empty_collection, first_ids, write_collection
from .records import sent_between_processes
from .schema import RETIRED_TOPIC

# SQLite's primary result code for a full disk (the scratch database fills it first).
_SQLITE_FULL = 13
# Zip's epoch; a fixed entry date keeps packages byte-identical across builds.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# zlib's fastest level. Measured on the whole deck's collection at 20,000 cards (14.2 MB):
# level 1 takes 0.11 s and makes 3.45 MB, the default level 6 0.38 s and 3.00 MB. A package
# 15% larger to download was worth a quarter of a second of every rebuild (issue 19).
ZIP_LEVEL = 1
# A package of at most this many notes has its collection made in memory (a topic's, of
# a few hundred notes: no scratch file to make, write, read back and delete, a sixth of
# the time it took); a larger one (the whole deck's, 70 MB at 100,000 cards) in a scratch
# file copied into the zip a piece at a time, so that it is never held in memory twice.
IN_MEMORY_NOTES = 2000


@sent_between_processes  # (to the workers that write topic packages)
@dataclass(frozen=True, slots=True)
class PackageNote:
    guid: str
    note_type: NoteTypeArgs
    fields: list[str]
    tags: tuple[str, ...]
    mod: int
    due: int  # position among new cards: authoring order
    cards: tuple[int, ...]  # the ordinal of each card Anki makes (NoteTypeSpec.card_ordinals)


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
    first_id: int = 0  # its notes' and cards' ids count from here (package_database.first_ids)
    # Instead of `notes`: the rows the last build wrote for this deck, whose notes have
    # not changed since (rebuild.py); valid while the deck keeps its `first_id`.
    kept: KeptDeck | None = None

    @property
    def note_count(self) -> int:
        return self.kept.notes if self.kept else len(self.notes)

    @property
    def card_count(self) -> int:
        return self.kept.cards if self.kept else sum(len(note.cards) for note in self.notes)

    @property
    def ids(self) -> int:
        """How many note and card ids the deck takes."""
        return self.note_count + self.card_count

    @property
    def newest(self) -> int:
        """The newest change time of the deck and its notes."""
        if self.kept:
            return self.kept.newest
        return max([note.mod for note in self.notes], default=self.mod)


@dataclass(frozen=True)
class PackageJob:
    """One package to write: its file name, its decks (the root first) and media."""

    name: str
    topic: str | None  # None for the whole deck
    decks: tuple[PackageDeck, ...]
    media: tuple[tuple[Path, str], ...]  # (file under cards/, name in the package)

    @property
    def notes(self) -> int:
        return sum(deck.note_count for deck in self.decks)

    @property
    def cards(self) -> int:
        return sum(deck.card_count for deck in self.decks)


def package_name(namespace: str, topic: str | None = None) -> str:
    """Stable file names (no version in them), so download links never go stale."""
    if topic is None:
        return f"{namespace}.apkg"
    return f"{namespace}-{topic_slug(topic)}.apkg"


# A topic whose deck the last build wrote, unchanged since (rebuild.py): its rows, and
# its media (file under cards/, name in the package).
Kept = tuple[KeptDeck, tuple[tuple[Path, str], ...]]


def plan_packages(identified: Identified, kept: dict[str, Kept] | None = None) -> list[PackageJob]:
    """The whole deck's package, then one per topic, then the retired cards' (if any).
    The topics in `kept` take their decks from there rather than from their cards."""
    compiled, lock = identified.compiled, identified.stamping.lock
    kept = kept or {}
    namespace = compiled.deck.config.namespace
    types = {rc.card.type for rc in compiled.cards} | {n.type for n in identified.retired}
    types |= {key for deck, _media in kept.values() for key in deck.types}
    note_types = _note_types(identified, types)
    root_name = compiled.root_name()
    root = PackageDeck(
        deck_id(namespace), root_name, compiled.root_description(), lock.decks[ROOT].changed, ()
    )
    decks: list[PackageDeck] = []
    medias: list[tuple[tuple[Path, str], ...]] = []
    position = 0
    cards_by_topic = compiled.cards_by_topic()
    for topic in compiled.deck.topics:
        if topic.key in kept:
            kept_deck, kept_media = kept[topic.key]
            decks.append(
                PackageDeck(
                    deck_id(namespace, topic.key),
                    compiled.deck_name(topic.key),
                    "",
                    lock.decks[topic.key].changed,
                    (),
                    kept=replace(kept_deck, note_types=tuple(note_types[key] for key in kept_deck.types)),
                )
            )
            medias.append(kept_media)
            position += kept_deck.notes
            continue
        notes = []
        media: dict[str, Path] = {}
        for rc in cards_by_topic[topic.key]:
            position += 1
            values = identified.values[rc.card.id]
            notes.append(
                _note(
                    identified,
                    rc.card.id,
                    rc.card.type,
                    note_types,
                    values,
                    rc.tags,
                    lock.notes[rc.card.id].changed,
                    position,
                )
            )
            media.update((item.name, item.source) for item in rc.media)
        name = compiled.deck_name(topic.key)
        deck = PackageDeck(
            deck_id(namespace, topic.key), name, "", lock.decks[topic.key].changed, tuple(notes)
        )
        decks.append(deck)
        medias.append(tuple((p, n) for n, p in media.items()))
    decks = _with_first_ids(decks)
    topics = [
        PackageJob(package_name(namespace, topic.key), topic.key, (root, deck), media)
        for topic, deck, media in zip(compiled.deck.topics, decks, medias, strict=True)
    ]
    whole = PackageJob(
        package_name(namespace),
        None,
        (root, *(job.decks[1] for job in topics)),
        tuple(item for job in topics for item in job.media),
    )
    return [whole, *topics, *_retired_job(identified, root, note_types)]


def _with_first_ids(decks: list[PackageDeck]) -> list[PackageDeck]:
    firsts = first_ids([deck.newest for deck in decks], [deck.ids for deck in decks])
    return [replace(deck, first_id=first) for deck, first in zip(decks, firsts, strict=True)]


def _note(
    identified: Identified, card_id: str, card_type: str, note_types, values, tags, mod, due
) -> PackageNote:
    """A note as packaged; its GUID the adopted one the lock keeps, else derived from its id.
    Its GUID and cards are those the worker that compiled it worked out, where one did
    (for these very values)."""
    compiled = identified.compiled
    worked = compiled.notes.get(card_id)
    if worked is not None and worked[0] is values:
        guid, cards = worked[2], worked[3]
    else:
        guid = note_guid(compiled.deck.config.namespace, card_id)
        cards = tuple(compiled.note_types[card_type].card_ordinals(list(values)))
    return PackageNote(
        guid=identified.stamping.lock.notes[card_id].guid or guid,
        note_type=note_types[card_type],
        fields=list(values),
        tags=tuple(tags),
        mod=mod,
        due=due,
        cards=cards,
    )


def _note_types(identified: Identified, keys: set[str]) -> dict[str, NoteTypeArgs]:
    lock, namespace = identified.stamping.lock, identified.compiled.deck.config.namespace
    out = {}
    for key in sorted(keys):
        spec = identified.compiled.note_types[key]
        out[key] = NoteTypeArgs(
            spec.id or note_type_id(namespace, key),
            spec.anki_name(namespace),
            spec.fields,
            spec.templates,
            spec.style(),
            spec.is_cloze,
            lock.note_types[key].changed if key in lock.note_types else identified.now,
        )
    return out


def _retired_job(
    identified: Identified, root: PackageDeck, note_types: dict[str, NoteTypeArgs]
) -> list[PackageJob]:
    """The retired cards' package: each in the subdeck it was in, where that still exists
    (Anki never moves a card on import, so the deck only matters to whoever lacks it)."""
    if not identified.retired:
        return []
    lock, namespace = identified.stamping.lock, identified.compiled.deck.config.namespace
    by_topic: dict[str, list[PackageNote]] = {}
    for position, note in enumerate(identified.retired, start=1):
        topic = note.topic if note.topic in lock.decks else ROOT
        stamp = _note(
            identified, note.card_id, note.type, note_types, note.values, note.tags, note.mod, position
        )
        by_topic.setdefault(topic, []).append(stamp)
    decks = [replace(root, notes=tuple(by_topic.pop(ROOT, ())))]
    for topic, notes in sorted(by_topic.items()):
        stamp = lock.decks[topic]
        decks.append(PackageDeck(deck_id(namespace, topic), stamp.name, "", stamp.changed, tuple(notes)))
    decks = _with_first_ids(decks)
    return [PackageJob(package_name(namespace, RETIRED_TOPIC), RETIRED_TOPIC, tuple(decks), ())]


def package_key(job: PackageJob, deck_digests: dict[int, bytes] | None = None) -> str:
    """A hash of everything `write_package` puts in a package: same key, same bytes.

    The build keeps a package it wrote before when the key is the same (cache.py, which
    adds deckgen's own code to it). SQLite's and zlib's versions are part of it.
    `deck_digests` keeps each deck's hash for the next package with the same deck (the
    whole deck and a topic's package share theirs).
    """
    digest = hashlib.sha256(repr((sqlite3.sqlite_version, zlib.ZLIB_RUNTIME_VERSION)).encode())
    for deck in job.decks:
        if deck_digests is None:
            digest.update(deck_digest(deck))
        else:
            if id(deck) not in deck_digests:
                deck_digests[id(deck)] = deck_digest(deck)
            digest.update(deck_digests[id(deck)])
    for source, name in sorted(set(job.media), key=lambda item: item[1]):
        digest.update(repr((name, hashlib.sha256(source.read_bytes()).hexdigest())).encode())
    return digest.hexdigest()


def deck_digest(deck: PackageDeck) -> bytes:
    if deck.kept is not None:
        return deck.kept.digest
    digest = hashlib.sha256(repr((deck.id, deck.name, deck.description, deck.mod, deck.first_id)).encode())
    note_types = {note.note_type.id: note.note_type for note in deck.notes}
    # marshal's version 0 writes equal values as equal bytes (later versions also write
    # whether strings are interned and objects shared); one call for the deck, not a
    # repr per note.
    notes = [(n.guid, n.note_type.id, n.fields, n.tags, n.mod, n.due, n.cards) for n in deck.notes]
    digest.update(marshal.dumps(notes, 0))
    for type_id in sorted(note_types):
        digest.update(_note_type_digest(note_types[type_id]))
    return digest.digest()


@functools.lru_cache(maxsize=64)
def _note_type_digest(args: NoteTypeArgs) -> bytes:
    """A note type's part of a deck's hash: its repr holds the whole CSS, which was most
    of the time hashing a deck took, so it is made once per note type."""
    return hashlib.sha256(repr(args).encode()).digest()


def write_package(path: Path, job: PackageJob) -> dict[int, DeckRows]:
    """Write `job`'s .apkg to `path` (which should be a temporary name). Returns each
    deck's rows, by deck id (rebuild.py keeps them)."""
    scratch = None
    try:
        if job.notes <= IN_MEMORY_NOTES:
            rows, database = _collection_in_memory(job.decks)
        else:
            # Named after `path`, hidden, and ending in .tmp: a killed build's leftover is
            # cleared with the package's own (output.remove_leftovers).
            handle, name = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".anki2.tmp", dir=path.parent)
            os.close(handle)
            scratch = Path(name)
            rows, database = _collection_in_file(scratch, job.decks), None
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            if database is not None:
                archive.writestr(_entry("collection.anki2"), database)
            else:  # copied a piece at a time
                info = _entry("collection.anki2")
                info.file_size = os.path.getsize(scratch)  # (whether it needs zip64)
                with open(scratch, "rb") as file, archive.open(info, "w") as entry:
                    shutil.copyfileobj(file, entry, 1 << 20)
            ordered = sorted(set(job.media), key=lambda item: item[1])
            _add(archive, "media", json.dumps({str(i): name for i, (_, name) in enumerate(ordered)}).encode())
            for index, (source, _name) in enumerate(ordered):
                _add(archive, str(index), source.read_bytes())
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF != _SQLITE_FULL:
            raise
        raise with_path(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), path) from error
    except OSError as error:  # a full disk while zipping: name the package
        raise with_path(error, path)  # noqa: B904
    finally:
        if scratch is not None:
            scratch.unlink(missing_ok=True)
    return rows


def _collection_in_memory(decks: tuple[PackageDeck, ...]) -> tuple[dict[int, DeckRows], bytes]:
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(empty_collection())
        rows = write_collection(connection, decks)
        connection.commit()
        return rows, connection.serialize()
    finally:
        connection.close()


def _collection_in_file(scratch: Path, decks: tuple[PackageDeck, ...]) -> dict[int, DeckRows]:
    scratch.write_bytes(empty_collection())
    connection = sqlite3.connect(scratch)
    try:
        # The database is a scratch file that goes into the zip: no need to wait for the
        # disk after each statement. Neither setting changes a byte of the file.
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("PRAGMA journal_mode = MEMORY")
        rows = write_collection(connection, decks)
        connection.commit()
        return rows
    finally:
        connection.close()


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    archive.writestr(_entry(name), data)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    # What writestr's `compresslevel` sets, for `open` too: `compress_level` since Python
    # 3.13, `_compresslevel` before.
    setattr(info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel", ZIP_LEVEL)
    info.external_attr = 0o644 << 16
    return info
