"""The lock: what each card, note type and deck looked like when it last changed.

`cards/deck.lock` is committed beside the cards. For every card id it keeps a hash of
the rendered content and the time that content last changed; that time becomes the
note's `mod` in the package, so Anki updates exactly the notes that changed. Removed
ids stay in the lock, so an id is never reused for other content. The file is JSON,
one entry a line and sorted, so that its git diffs read well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import Location, Problem, Problems

LOCK_FILE = "deck.lock"
LOCK_FORMAT = 2  # 1: no namespace, decks by name, no note type per card (read, then rewritten)
ROOT = ""  # the root deck's key in `Lock.decks`, beside the topic keys


@dataclass(frozen=True, slots=True)
class Stamp:
    """A content hash and the time (Unix seconds) that content first appeared."""

    hash: str
    changed: int


@dataclass(frozen=True, slots=True)
class NoteStamp(Stamp):
    topic: str = ""
    type: str = ""  # the card type, so its note type (part of a note's identity in Anki)
    removed: bool = False
    # A removed note as learners last got it, for the retired-cards package:
    fields: tuple[str, ...] = ()  # its field values
    tags: tuple[str, ...] = ()
    retired: str = ""  # hash of the retired note as last packaged
    retired_in: str = ""  # the deck version that retired it
    guid: str = ""  # an adopted note's own GUID ("": derived from the namespace and the id)


@dataclass(frozen=True, slots=True)
class NoteTypeStamp(Stamp):
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeckStamp(Stamp):
    name: str = ""  # the full name published: Anki matches decks by name


@dataclass(frozen=True)
class Lock:
    namespace: str = ""  # "" in a new lock, or one of format 1
    notes: dict[str, NoteStamp] = field(default_factory=dict)
    note_types: dict[str, NoteTypeStamp] = field(default_factory=dict)
    decks: dict[str, DeckStamp] = field(default_factory=dict)  # ROOT or topic key -> deck
    format: int = LOCK_FORMAT


def read_lock(path: Path, display: str, problems: Problems) -> Lock | None:
    """The lock at `path`, an empty Lock if there is none, or None if it is unreadable."""
    if not path.exists():
        return Lock()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.error(Location(display), f"cannot read the lock: {exc}")
        return None
    return parse_lock(text, display, problems)


def parse_lock(text: str, display: str, problems: Problems) -> Lock | None:
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") not in (1, LOCK_FORMAT):
            raise ValueError(f"unknown lock format {data.get('format')!r}")
        if data["format"] == 1:
            decks = {k: DeckStamp(v["hash"], v["changed"], k) for k, v in data["decks"].items()}
        else:
            decks = {k: DeckStamp(v["hash"], v["changed"], v["name"]) for k, v in data["decks"].items()}
        return Lock(
            namespace=data.get("namespace", ""),
            notes={k: _note(v) for k, v in data["notes"].items()},
            note_types={
                k: NoteTypeStamp(v["hash"], v["changed"], tuple(v["fields"]))
                for k, v in data["note_types"].items()
            },
            decks=decks,
            format=data["format"],
        )
    except json.JSONDecodeError as exc:
        problems.error(Location(display, exc.lineno, exc.colno), f"lock file is not valid JSON: {exc.msg}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problems.error(
            Location(display, 1, 1),
            f"lock file is damaged ({exc}); restore it from git rather than deleting it",
        )
    return None


# What the lock keeps of a live note without a GUID of its own: most of its lines.
_LIVE_NOTE = frozenset({"hash", "changed", "topic", "type"})


def _note(entry: dict) -> NoteStamp:
    if entry.keys() == _LIVE_NOTE:  # (positional, and no look-ups of absent keys: 20,000 of them)
        return NoteStamp(entry["hash"], entry["changed"], entry["topic"], entry["type"])
    return NoteStamp(
        hash=entry["hash"],
        changed=entry["changed"],
        topic=entry.get("topic", ""),
        type=entry.get("type", ""),
        removed=bool(entry.get("removed", False)),
        fields=tuple(entry.get("fields", ())),
        tags=tuple(entry.get("tags", ())),
        retired=entry.get("retired", ""),
        retired_in=entry.get("retired_in", ""),
        guid=entry.get("guid", ""),
    )


def dump_lock(lock: Lock) -> str:
    """The lock as text: deterministic, one entry a line."""
    return _lock_text(lock, [_note_line(key, lock.notes[key]) for key in sorted(lock.notes)])


def patch_lock(old_text: str, old: Lock, new: Lock) -> str:
    """`dump_lock(new)`, given that `old_text` is `dump_lock(old)`: the line of each note
    whose stamp is the very object `old` has is taken from `old_text` rather than written
    again (identity.stamp keeps the stamps of unchanged notes), which at 20,000 notes is
    most of the time taken to dump the lock."""
    marker = '\n  "notes": {\n'
    start = old_text.find(marker)
    if start < 0 or not old.notes:
        return dump_lock(new)
    try:
        body = old_text[start + len(marker) : old_text.rindex("\n  }\n}")]
        old_lines = dict(zip(sorted(old.notes), body.split(",\n"), strict=True))
    except ValueError:  # not the text dump_lock(old) writes after all
        return dump_lock(new)
    lines = []
    for key in sorted(new.notes):
        stamp = new.notes[key]
        lines.append(old_lines[key] if old.notes.get(key) is stamp else _note_line(key, stamp))
    return _lock_text(new, lines)


def _note_line(key: str, stamp: NoteStamp) -> str:
    out = {"hash": stamp.hash, "changed": stamp.changed, "topic": stamp.topic, "type": stamp.type}
    if stamp.guid:
        out["guid"] = stamp.guid
    if stamp.removed:
        out |= {
            "removed": True,
            "retired": stamp.retired,
            "fields": list(stamp.fields),
            "tags": list(stamp.tags),
        }
    return f"    {json.dumps(key)}: {_LINE_JSON.encode(out)}"


# json.dumps(..., ensure_ascii=False) makes an encoder on every call: one for every note.
_LINE_JSON = json.JSONEncoder(ensure_ascii=False)


def _lock_text(lock: Lock, note_lines: list[str]) -> str:
    def entries(lines: list[str]) -> str:
        return "{\n" + ",\n".join(lines) + "\n  }" if lines else "{}"

    def lines(mapping: dict, encode) -> list[str]:
        return [
            f"    {json.dumps(key)}: {json.dumps(encode(value), ensure_ascii=False)}"
            for key, value in sorted(mapping.items())
        ]

    def note_type(stamp: NoteTypeStamp) -> dict:
        return {"hash": stamp.hash, "changed": stamp.changed, "fields": list(stamp.fields)}

    def deck(stamp: DeckStamp) -> dict:
        return {"name": stamp.name, "hash": stamp.hash, "changed": stamp.changed}

    return (
        "{\n"
        f'  "format": {LOCK_FORMAT},\n'
        f'  "namespace": {json.dumps(lock.namespace)},\n'
        f'  "note_types": {entries(lines(lock.note_types, note_type))},\n'
        f'  "decks": {entries(lines(lock.decks, deck))},\n'
        f'  "notes": {entries(note_lines)}\n'
        "}\n"
    )


def locked_problems(
    display: str, exists: bool, old_text: str | None, new_text: str, changes: dict[str, list[str]]
) -> list[Problem]:
    """`--locked` (CI, releases): the lock must exist and the build must not change it.

    `changes` names what did change (added, changed, removed: card ids), for the message.
    """
    if not exists:
        return [
            Problem(Location(display), "--locked: there is no lock file; run `deckgen build` and commit it")
        ]
    if new_text == old_text:
        return []
    detail = (
        ", ".join(
            f"{label}: {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}"
            for label, ids in changes.items()
            if ids
        )
        or "note types or decks changed"
    )
    return [
        Problem(
            Location(display),
            f"--locked: the cards changed but the lock was not updated ({detail}); "
            "run `deckgen build` and commit the lock",
        )
    ]


# -- merge conflicts ---------------------------------------------------------------------

_CONFLICT_START, _CONFLICT_BASE, _CONFLICT_MIDDLE, _CONFLICT_END = "<<<<<<<", "|||||||", "=======", ">>>>>>>"


def has_conflict_markers(text: str) -> bool:
    return any(line.startswith((_CONFLICT_START, _CONFLICT_END)) for line in text.splitlines())


def conflict_sides(text: str) -> tuple[str, str] | None:
    """The two versions a git merge conflict put in one file (ours, theirs), or None if
    the markers are not the plain, unnested kind git writes."""
    ours: list[str] = []
    theirs: list[str] = []
    state = "both"
    for line in text.splitlines(keepends=True):
        if line.startswith(_CONFLICT_START) and state == "both":
            state = "ours"
        elif line.startswith(_CONFLICT_BASE) and state == "ours":
            state = "base"
        elif line.rstrip("\r\n") == _CONFLICT_MIDDLE and state in ("ours", "base"):
            state = "theirs"
        elif line.startswith(_CONFLICT_END) and state == "theirs":
            state = "both"
        elif line.startswith((_CONFLICT_START, _CONFLICT_BASE, _CONFLICT_END)):
            return None
        elif state in ("both", "ours"):
            ours.append(line)
            if state == "both":
                theirs.append(line)
        elif state == "theirs":
            theirs.append(line)
    return ("".join(ours), "".join(theirs)) if state == "both" else None


def merge_locks(ours: Lock, theirs: Lock) -> Lock:
    """One lock from the two sides of a merge. An entry the sides disagree on gets an
    empty hash and the later of their times, so this build stamps it strictly later than
    both: learners of either branch then receive what the other branch changed."""

    def pick(a, b):
        if a is None or b is None or a == b:
            return a or b
        later = a if a.changed >= b.changed else b
        if isinstance(later, NoteStamp):
            removed = a.removed and b.removed
            later = replace(later, removed=removed)
        return replace(later, hash="", changed=max(a.changed, b.changed))

    def merged(x: dict, y: dict) -> dict:
        return {key: pick(x.get(key), y.get(key)) for key in sorted(x.keys() | y.keys())}

    return Lock(
        namespace=ours.namespace or theirs.namespace,
        notes=merged(ours.notes, theirs.notes),
        note_types=merged(ours.note_types, theirs.note_types),
        decks=merged(ours.decks, theirs.decks),
        format=min(ours.format, theirs.format),
    )


def read_lock_merging(
    path: Path, display: str, problems: Problems, *, locked: bool
) -> tuple[Lock | None, bool]:
    """The lock, and whether it held a git merge conflict that was resolved (`merge_locks`).

    With `locked` (CI, releases), a lock with conflict markers is an error: a release
    must never be published from one.
    """
    if not path.exists():
        return Lock(), False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.error(Location(display), f"cannot read the lock: {exc}")
        return None, False
    if not has_conflict_markers(text):
        return parse_lock(text, display, problems), False
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith(_CONFLICT_START))
    where = Location(display, line, 1)
    if locked:
        problems.error(
            where,
            "--locked: the lock has git merge conflict markers; run `deckgen build` (it resolves "
            "them), then commit the lock: a release is never built from a conflicted lock",
        )
        return None, False
    sides = conflict_sides(text)
    locks = [parse_lock(side, display, Problems()) for side in sides] if sides else []
    if len(locks) != 2 or None in locks:
        problems.error(
            where,
            "the lock has git merge conflict markers that deckgen cannot resolve; take one side "
            f"(`git checkout --theirs {display}`) and run `deckgen build`: cards changed on the "
            "other side then get new change times",
        )
        return None, False
    ours, theirs = locks
    return merge_locks(ours, theirs), True  # type: ignore[arg-type]
