"""Step 4 of the pipeline: who each note, deck and note type is, and when it changed.

    CompiledDeck (compile.py) + the lock (lock.py) -> identify -> Identified -> package

Identity never comes from content, file or position: a note's GUID is derived from
the deck's namespace and the card's id only, so edits, reorders and moves between
files keep the note (and the learner's review history). Change times come from the
lock: content that changed gets a time strictly later than its previous one, and
content that did not keeps its old time, so Anki updates exactly what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, replace

from . import notetypes
from .compile import CompiledDeck
from .errors import Location, Problem
from .lock import Lock, NoteStamp, NoteTypeStamp, Stamp
from .notetypes import NOTE_TYPES

# ---------------------------------------------------------------------------------
# These prefixes are hashed into every GUID and id that learners' collections hold.
# Changing any of them re-identifies every note, deck and note type ever published:
# learners would get a duplicate of every card and lose the link to their history.
# Never change them.
NOTE_GUID_KEY = "deckgen/note/{namespace}/{card_id}"
DECK_ID_KEY = "deckgen/deck/{namespace}/{topic}"
ROOT_DECK_TOPIC = ""  # the root deck's topic key in DECK_ID_KEY
NOTE_TYPE_ID_KEY = "deckgen/notetype/{namespace}/{note_type}"
# ---------------------------------------------------------------------------------

_BASE91 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_`{|}~"


def _digest64(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def note_guid(namespace: str, card_id: str) -> str:
    """The note's GUID: base91 of 64 bits of a hash, the form Anki itself uses."""
    number = _digest64(NOTE_GUID_KEY.format(namespace=namespace, card_id=card_id))
    chars = []
    while number:
        number, digit = divmod(number, len(_BASE91))
        chars.append(_BASE91[digit])
    return "".join(reversed(chars)) or _BASE91[0]


def _anki_id(key: str) -> int:
    # Anki ids are positive signed 64-bit integers; keep them in [2^40, 2^53) so they
    # survive JSON and JavaScript (AnkiDroid, AnkiWeb) without rounding.
    return (1 << 40) + _digest64(key) % ((1 << 53) - (1 << 40))


def deck_id(namespace: str, topic: str = ROOT_DECK_TOPIC) -> int:
    return _anki_id(DECK_ID_KEY.format(namespace=namespace, topic=topic))


def note_type_id(namespace: str, note_type: str) -> int:
    return _anki_id(NOTE_TYPE_ID_KEY.format(namespace=namespace, note_type=note_type))


def content_hash(*parts: object) -> str:
    """A hash of JSON-able content, stable across runs and machines."""
    blob = json.dumps(parts, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def build_time() -> int:
    """Now, or SOURCE_DATE_EPOCH when set (reproducible builds in CI)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return int(epoch)
    return int(time.time())


def _next_time(previous: int, now: int) -> int:
    # Anki updates a note only when the package's mod is newer than the collection's,
    # and mod has one-second resolution: never hand out the same second twice.
    return max(now, previous + 1)


@dataclass(frozen=True)
class Stamping:
    """The lock after this build, and what changed relative to the lock before it."""

    lock: Lock
    added: list[str]
    changed: list[str]
    removed: list[str]  # removed in this build (not those removed earlier)
    reused: list[str]  # ids that were removed earlier and now come back with other content
    field_changes: list[tuple[str, tuple[str, ...], tuple[str, ...]]]  # (note type, old, new)


def stamp(
    old: Lock,
    notes: dict[str, tuple[str, str]],  # card id -> (content hash, topic)
    note_types: dict[str, tuple[str, tuple[str, ...]]],  # key -> (hash, fields)
    decks: dict[str, str],  # deck name -> hash
    now: int,
) -> Stamping:
    added, changed, removed, reused = [], [], [], []
    new_notes: dict[str, NoteStamp] = {}
    for card_id, (digest, topic) in notes.items():
        before = old.notes.get(card_id)
        if before is None:
            added.append(card_id)
            new_notes[card_id] = NoteStamp(digest, now, topic)
        elif before.removed and before.hash != digest:
            reused.append(card_id)
            new_notes[card_id] = before
        elif before.hash != digest:
            changed.append(card_id)
            new_notes[card_id] = NoteStamp(digest, _next_time(before.changed, now), topic)
        else:
            new_notes[card_id] = replace(before, topic=topic, removed=False)
    for card_id, before in old.notes.items():
        if card_id not in notes:
            if not before.removed:
                removed.append(card_id)
            new_notes[card_id] = replace(before, removed=True)

    field_changes = []
    new_types: dict[str, NoteTypeStamp] = dict(old.note_types)
    for key, (digest, fields) in note_types.items():
        before = old.note_types.get(key)
        if before is None:
            new_types[key] = NoteTypeStamp(digest, now, fields)
        elif before.fields != fields:
            field_changes.append((key, before.fields, fields))
        elif before.hash != digest:
            new_types[key] = NoteTypeStamp(digest, _next_time(before.changed, now), fields)

    new_decks: dict[str, Stamp] = dict(old.decks)
    for name, digest in decks.items():
        before = old.decks.get(name)
        if before is None:
            new_decks[name] = Stamp(digest, now)
        elif before.hash != digest:
            new_decks[name] = Stamp(digest, _next_time(before.changed, now))

    return Stamping(Lock(new_notes, new_types, new_decks), added, changed, removed, reused, field_changes)


@dataclass(frozen=True)
class Identified:
    """The compiled deck with its identities: the stamping, and each note's field values
    in its note type's order (hashed for the lock, then packaged as they are)."""

    compiled: CompiledDeck
    stamping: Stamping
    values: dict[str, list[str]]  # card id -> field values
    now: int


def identify(compiled: CompiledDeck, old_lock: Lock, now: int) -> Identified:
    """Hash every note, note type and deck, and stamp them against the lock."""
    values = {
        rc.card.id: NOTE_TYPES[rc.card.type].anki_fields(rc.fields, rc.card.id) for rc in compiled.cards
    }
    note_hashes = {
        rc.card.id: (content_hash(rc.card.type, values[rc.card.id], rc.tags), rc.topic)
        for rc in compiled.cards
    }
    css = notetypes.card_css()
    type_hashes = {}
    for key in sorted({rc.card.type for rc in compiled.cards}):
        spec = NOTE_TYPES[key]
        type_hashes[key] = (content_hash(spec.label, spec.fields, spec.templates, css), spec.fields)
    root_name = compiled.root_name()
    deck_hashes = {root_name: content_hash(root_name, compiled.root_description())}
    for topic in compiled.deck.topics:
        name = compiled.deck_name(topic.key)
        deck_hashes[name] = content_hash(name, "")
    stamping = stamp(old_lock, note_hashes, type_hashes, deck_hashes, now)
    return Identified(compiled, stamping, values, now)


def identity_problems(identified: Identified, lock_display: str) -> list[Problem]:
    """What the stamping found that would break learners' collections: each an error."""
    problems = []
    by_id = {rc.card.id: rc.card for rc in identified.compiled.cards}
    for card_id in identified.stamping.reused:
        problems.append(
            Problem(
                by_id[card_id].location,
                f"card id {card_id!r} belonged to a card removed earlier, with other content: "
                "reusing it would overwrite that card (and its review history) in learners' "
                "collections. Give this card a new id, or restore the old card's content.",
            )
        )
    for key, old, new in identified.stamping.field_changes:
        problems.append(
            Problem(
                Location(lock_display, 1, 1),
                f"note type {key!r} changed its fields from {list(old)} to {list(new)}. "
                "Anki would import every such note as 'conflicting', copy the note type and "
                "stop updating those notes. Keep the fields the lock records (use the deckgen "
                "version that wrote it), or publish the change as a new deck namespace.",
            )
        )
    return problems
