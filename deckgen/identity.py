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
from dataclasses import dataclass, field, replace

from .compile import CompiledDeck
from .errors import Location, Problem
from .lock import ROOT, DeckStamp, Lock, NoteStamp, NoteTypeStamp
from .notetypes import NoteTypeSpec
from .render import RenderedCard, WorkedNote

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


# Every pair of base91 digits, so that a GUID takes half as many divisions (one per note).
_BASE91_PAIRS = [high + low for high in _BASE91 for low in _BASE91]


def note_guid(namespace: str, card_id: str) -> str:
    """The note's GUID: base91 of 64 bits of a hash, the form Anki itself uses."""
    number = _digest64(NOTE_GUID_KEY.format(namespace=namespace, card_id=card_id))
    pairs = []
    while number:
        number, pair = divmod(number, len(_BASE91_PAIRS))
        pairs.append(_BASE91_PAIRS[pair])
    # Digits from the most significant, without leading zeros (_BASE91[0]).
    return "".join(reversed(pairs)).lstrip(_BASE91[0]) or _BASE91[0]


def _anki_id(key: str) -> int:
    # Anki ids are positive signed 64-bit integers; keep them in [2^40, 2^53) so they
    # survive JSON and JavaScript (AnkiDroid, AnkiWeb) without rounding.
    return (1 << 40) + _digest64(key) % ((1 << 53) - (1 << 40))


def deck_id(namespace: str, topic: str = ROOT_DECK_TOPIC) -> int:
    return _anki_id(DECK_ID_KEY.format(namespace=namespace, topic=topic))


def note_type_id(namespace: str, note_type: str) -> int:
    return _anki_id(NOTE_TYPE_ID_KEY.format(namespace=namespace, note_type=note_type))


# json.dumps with these options makes a new encoder on every call: one for every note.
_CONTENT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def content_hash(*parts: object) -> str:
    """A hash of JSON-able content, stable across runs and machines."""
    return hashlib.sha256(_CONTENT_JSON.encode(parts).encode("utf-8")).hexdigest()


def build_time() -> int:
    """Now, or SOURCE_DATE_EPOCH when set (reproducible builds in CI)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return int(epoch)
    return int(time.time())


def next_time(previous: int, now: int) -> int:
    # Anki updates a note only when the package's mod is newer than the collection's,
    # and mod has one-second resolution: never hand out the same second twice.
    return max(now, previous + 1)


@dataclass(frozen=True, slots=True)
class NoteContent:
    """What the lock keeps of a live note: its content hash, topic and card type."""

    hash: str
    topic: str
    type: str
    guid: str = ""  # an adopted note's own GUID


@dataclass(frozen=True)
class Stamping:
    """The lock after this build, and what changed relative to the lock before it."""

    lock: Lock
    added: list[str]
    changed: list[str]
    removed: list[str]  # removed in this build (not those removed earlier)
    reused: list[str]  # ids that were removed earlier and now come back with other content
    field_changes: list[tuple[str, tuple[str, ...], tuple[str, ...]]]  # (note type, old, new)
    type_changes: list[tuple[str, str, str]] = field(default_factory=list)  # (card id, old, new)
    moved: list[tuple[str, str, str]] = field(default_factory=list)  # (card id, old topic, new)
    renamed: list[tuple[str, str, str]] = field(default_factory=list)  # (deck key, old name, new)
    restored: list[str] = field(default_factory=list)  # removed earlier, back with the same content
    guid_changes: list[tuple[str, str, str]] = field(default_factory=list)  # (card id, old, new)


def stamp(
    old: Lock,
    notes: dict[str, NoteContent],
    note_types: dict[str, tuple[str, tuple[str, ...]]],  # key -> (hash, fields)
    decks: dict[str, tuple[str, str]],  # ROOT or topic key -> (full name, hash)
    now: int,
    namespace: str = "",
) -> Stamping:
    """Compare this build's content with the lock: new content gets a time strictly
    later than the one before, unchanged content keeps its time."""
    added, changed, removed, reused, restored = [], [], [], [], []
    type_changes, moved, guid_changes = [], [], []
    new_notes: dict[str, NoteStamp] = {}
    for card_id, note in notes.items():
        before = old.notes.get(card_id)
        fresh = NoteStamp(note.hash, now, note.topic, note.type, guid=note.guid)
        if before is not None and before.guid != note.guid:
            guid_changes.append((card_id, before.guid, note.guid))
        if before is None:
            added.append(card_id)
            new_notes[card_id] = fresh
            continue
        if before.type and before.type != note.type:
            type_changes.append((card_id, before.type, note.type))
        if before.topic and before.topic != note.topic and not before.removed:
            moved.append((card_id, before.topic, note.topic))
        if before.removed and before.hash != note.hash:
            reused.append(card_id)
            new_notes[card_id] = before
        elif before.removed:  # back as it was: newer than its retired version
            restored.append(card_id)
            new_notes[card_id] = replace(fresh, changed=next_time(before.changed, now))
        elif before.hash != note.hash:
            changed.append(card_id)
            new_notes[card_id] = replace(fresh, changed=next_time(before.changed, now))
        elif before.topic == note.topic and before.type == note.type:
            new_notes[card_id] = before  # (the same stamp: dump_lock can keep its line)
        else:
            new_notes[card_id] = replace(before, topic=note.topic, type=note.type)
    for card_id, before in old.notes.items():
        if card_id not in notes:
            if not before.removed:
                removed.append(card_id)
            new_notes[card_id] = replace(before, removed=True)

    field_changes = []
    new_types: dict[str, NoteTypeStamp] = dict(old.note_types)
    for key, (digest, fields) in note_types.items():
        before_type = old.note_types.get(key)
        if before_type is None:
            new_types[key] = NoteTypeStamp(digest, now, fields)
        elif before_type.fields != fields:
            field_changes.append((key, before_type.fields, fields))
        elif before_type.hash != digest:
            new_types[key] = NoteTypeStamp(digest, next_time(before_type.changed, now), fields)

    new_decks, renamed = _stamp_decks(old, decks, now)
    lock = Lock(namespace or old.namespace, new_notes, new_types, new_decks)
    return Stamping(
        lock,
        added,
        changed,
        removed,
        reused,
        field_changes,
        type_changes,
        moved,
        renamed,
        restored,
        guid_changes,
    )


def _stamp_decks(
    old: Lock, decks: dict[str, tuple[str, str]], now: int
) -> tuple[dict[str, DeckStamp], list[tuple[str, str, str]]]:
    """Decks by key; a lock of format 1 kept them by name, so they are found by name."""
    by_name = {stamp.name: stamp for stamp in old.decks.values()}
    new_decks = dict(old.decks) if old.format != 1 else {}
    renamed = []
    for key, (name, digest) in decks.items():
        before = old.decks.get(key) if old.format != 1 else by_name.get(name)
        if before is None:
            new_decks[key] = DeckStamp(digest, now, name)
            continue
        if before.name != name:
            renamed.append((key, before.name, name))
        if before.hash != digest:
            new_decks[key] = DeckStamp(digest, next_time(before.changed, now), name)
        else:
            new_decks[key] = replace(before, name=name)
    return new_decks, renamed


@dataclass(frozen=True)
class Identified:
    """The compiled deck with its identities: the stamping, and each note's field values
    in its note type's order (hashed for the lock, then packaged as they are)."""

    compiled: CompiledDeck
    stamping: Stamping
    values: dict[str, list[str]]  # card id -> field values
    now: int
    old_namespace: str = ""  # the namespace the lock was written for ("" if none)
    retired: tuple = ()  # RetiredNote (retire.py), the notes of the retired-cards package


def identify(compiled: CompiledDeck, old_lock: Lock, now: int) -> Identified:
    """Hash every note, note type and deck, and stamp them against the lock."""
    values, note_hashes = note_contents(compiled)
    type_hashes = note_type_hashes(compiled, {rc.card.type for rc in compiled.cards})
    namespace = compiled.deck.config.namespace
    stamping = stamp(old_lock, note_hashes, type_hashes, deck_hashes(compiled), now, namespace)
    return Identified(compiled, stamping, values, now, old_lock.namespace)


def note_contents(compiled: CompiledDeck) -> tuple[dict[str, list[str]], dict[str, NoteContent]]:
    """Each compiled card's field values in its note type's order, and what the lock
    keeps of it (the hash of its type, values and tags), by card id. Where the worker
    that compiled a topic worked its notes out (`compiled.notes`), they are taken."""
    note_types, done = compiled.note_types, compiled.notes
    values: dict[str, list[str]] = {}
    contents: dict[str, NoteContent] = {}
    for rc in compiled.cards:
        card = rc.card
        worked = done.get(card.id)
        card_values, digest = worked[:2] if worked else card_note(note_types[card.type], rc)
        values[card.id] = card_values
        contents[card.id] = NoteContent(digest, rc.topic, card.type, card.guid)
    return values, contents


def card_note(spec: NoteTypeSpec, rc: RenderedCard) -> tuple[list[str], str]:
    """A compiled card's note: its field values in its note type's (`spec`) order, and
    the hash of its type, values and tags, which the lock keeps."""
    values = spec.anki_fields(rc.fields, rc.card.id)
    return values, content_hash(rc.card.type, values, rc.tags)


def worked_note(spec: NoteTypeSpec, rc: RenderedCard, namespace: str) -> WorkedNote:
    """A card's note as a worker works it out for identify and plan_packages (compile.py):
    `card_note`, the GUID derived from the card's id, and the cards Anki makes of it."""
    values, digest = card_note(spec, rc)
    return values, digest, note_guid(namespace, rc.card.id), tuple(spec.card_ordinals(values))


def note_type_hashes(compiled: CompiledDeck, keys: set[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The note types of these card types, as `stamp` takes them: key -> (hash, fields)."""
    hashes = {}
    for key in sorted(keys):
        spec = compiled.note_types[key]
        parts = (spec.label, spec.fields, spec.templates, spec.style())
        if spec.own:  # (kept out of the built-in ones' hash, which published decks hold)
            parts += (spec.id, spec.is_cloze)
        hashes[key] = (content_hash(*parts), spec.fields)
    return hashes


def deck_hashes(compiled: CompiledDeck) -> dict[str, tuple[str, str]]:
    """The root deck and each topic's, as `stamp` takes them: key -> (full name, hash)."""
    root_name = compiled.root_name()
    hashes = {ROOT: (root_name, content_hash(root_name, compiled.root_description()))}
    for topic in compiled.deck.topics:
        name = compiled.deck_name(topic.key)
        hashes[topic.key] = (name, content_hash(name, ""))
    return hashes


def identity_problems(identified: Identified, lock_display: str) -> list[Problem]:
    """What the stamping found that would break learners' collections: each an error."""
    problems = []
    config = identified.compiled.deck.config
    before = identified.old_namespace
    if before and before != config.namespace:
        problems.append(
            Problem(
                config.namespace_at or Location(lock_display, 1, 1),
                f"namespace changed from {before!r} to {config.namespace!r}, but the lock says this deck "
                f"was published as {before!r}. Every note's identity comes from the namespace: every "
                "learner would get a second copy of every card, and the download names would change. "
                f"Put back `namespace: {before}`. To start a new deck on purpose, build it from a new "
                f"cards folder, or delete {lock_display} (learners of the old deck keep it as it is).",
            )
        )
    by_id = {rc.card.id: rc.card for rc in identified.compiled.cards}
    for card_id, old, new in identified.stamping.guid_changes:
        problems.append(
            Problem(
                by_id[card_id].location,
                f"card {card_id!r} changed its guid from {old or '(derived)'!r} to {new or '(derived)'!r}: "
                "learners would get it as a new note, beside the old one. Put back "
                + (f"`guid: {old}`" if old else "the card without `guid:`")
                + "; a GUID never changes.",
            )
        )
    for card_id, old, new in identified.stamping.type_changes:
        problems.append(
            Problem(
                by_id[card_id].location,
                f"card {card_id!r} changed its type from {old} to {new}. Anki keeps a note's note type "
                "on import: every learner who has this card would get it as 'conflicting' and keep the "
                f"old {old} card for ever. Keep `type: {old}`, or give the {new} card a new id (the old "
                "one is then retired: learners are told, see the README).",
            )
        )
    for card_id in identified.stamping.reused:
        problems.append(
            Problem(
                by_id[card_id].location,
                f"card id {card_id!r} belonged to a card removed earlier, with other content: "
                "reusing it would overwrite that card (and its review history) in learners' "
                "collections. Give this card a new id, or restore the old card's content. If the "
                f"old card never left your machine (no committed lock has it), `deckgen forget {card_id}` "
                "frees the id.",
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
