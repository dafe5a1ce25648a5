"""The lock: what each card, note type and deck looked like when it last changed.

`cards/deck.lock` is committed beside the cards. For every card id it keeps a hash of
the rendered content and the time that content last changed; that time becomes the
note's `mod` in the package, so Anki updates exactly the notes that changed. Removed
ids stay in the lock, so an id is never reused for other content. The file is JSON,
one entry a line and sorted, so that its git diffs read well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Location, Problem, Problems

LOCK_FILE = "deck.lock"
LOCK_FORMAT = 1


@dataclass(frozen=True)
class Stamp:
    """A content hash and the time (Unix seconds) that content first appeared."""

    hash: str
    changed: int


@dataclass(frozen=True)
class NoteStamp(Stamp):
    topic: str = ""
    removed: bool = False


@dataclass(frozen=True)
class NoteTypeStamp(Stamp):
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lock:
    notes: dict[str, NoteStamp] = field(default_factory=dict)
    note_types: dict[str, NoteTypeStamp] = field(default_factory=dict)
    decks: dict[str, Stamp] = field(default_factory=dict)


def read_lock(path: Path, display: str, problems: Problems) -> Lock | None:
    """The lock at `path`, an empty Lock if there is none, or None if it is unreadable."""
    if not path.exists():
        return Lock()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != LOCK_FORMAT:
            raise ValueError(f"unknown lock format {data.get('format')!r}")
        return Lock(
            notes={k: NoteStamp(**v) for k, v in data["notes"].items()},
            note_types={
                k: NoteTypeStamp(v["hash"], v["changed"], tuple(v["fields"]))
                for k, v in data["note_types"].items()
            },
            decks={k: Stamp(**v) for k, v in data["decks"].items()},
        )
    except json.JSONDecodeError as exc:
        problems.error(Location(display, exc.lineno, exc.colno), f"lock file is not valid JSON: {exc.msg}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problems.error(
            Location(display, 1, 1),
            f"lock file is damaged ({exc}); restore it from git rather than deleting it",
        )
    return None


def dump_lock(lock: Lock) -> str:
    """The lock as text: deterministic, one entry a line."""

    def entries(mapping: dict, encode) -> str:
        lines = [
            f"    {json.dumps(key)}: {json.dumps(encode(value))}" for key, value in sorted(mapping.items())
        ]
        return "{\n" + ",\n".join(lines) + "\n  }" if lines else "{}"

    def note(stamp: NoteStamp) -> dict:
        out = {"hash": stamp.hash, "changed": stamp.changed, "topic": stamp.topic}
        if stamp.removed:
            out["removed"] = True
        return out

    def note_type(stamp: NoteTypeStamp) -> dict:
        return {"hash": stamp.hash, "changed": stamp.changed, "fields": list(stamp.fields)}

    return (
        "{\n"
        f'  "format": {LOCK_FORMAT},\n'
        f'  "note_types": {entries(lock.note_types, note_type)},\n'
        f'  "decks": {entries(lock.decks, lambda s: {"hash": s.hash, "changed": s.changed})},\n'
        f'  "notes": {entries(lock.notes, note)}\n'
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
