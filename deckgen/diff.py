"""`deckgen diff OLD.apkg NEW.apkg`: what learners get from one package to the next.

Notes are matched by GUID, as Anki matches them on import, and named by their card id
(the note's ID field) and topic (their subdeck). Packages are read by `anki_package`, so
either side may be a deckgen build or anything Anki exports (.apkg, .colpkg, any version).
The result reads as release notes: added, changed (with a short field diff) and removed
cards, per topic.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .anki_package import AnkiPackage, read_anki_package
from .render import plain_text
from .schema import cloze_revealed

SNIPPET = 70


RETIRED_TAG = "deckgen::retired"  # the tag of a retired note (retire.py)


@dataclass(frozen=True)
class ComparedNote:
    guid: str
    card_id: str
    topic: str
    note_type: str
    fields: dict[str, str]
    tags: tuple[str, ...]
    deck: str = ""  # the full name of its deck

    @property
    def retired(self) -> bool:
        return RETIRED_TAG in self.tags


@dataclass(frozen=True)
class PackageContents:
    notes: dict[str, ComparedNote]  # guid -> note
    note_types: dict[str, str]  # name -> hash of templates and CSS
    decks: dict[int, str] = field(default_factory=dict)  # deck id -> name


@dataclass(frozen=True)
class Change:
    note: ComparedNote
    fields: list[tuple[str, str, str]]  # (field name, old text, new text)
    tags: tuple[tuple[str, ...], tuple[str, ...]] | None = None


@dataclass
class PackageDiff:
    added: list[ComparedNote] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    removed: list[ComparedNote] = field(default_factory=list)
    note_types: list[str] = field(default_factory=list)  # note types whose look changed
    moved: list[tuple[ComparedNote, ComparedNote]] = field(default_factory=list)  # (before, after)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # decks: (old name, new name)
    retired: list[ComparedNote] = field(default_factory=list)  # notes newly marked retired

    @property
    def equal(self) -> bool:
        return (
            not (self.added or self.changed or self.removed or self.note_types or self.moved or self.renamed)
            and not self.retired
        )


def read_package(path: Path) -> PackageContents:
    """Read a package's notes (any format Anki writes). Raises DeckError if it is not readable."""
    return contents_of(read_anki_package(path))


def contents_of(package: AnkiPackage) -> PackageContents:
    """The notes of a package as `deckgen diff` compares them: by GUID, named by card id and topic."""
    note_types = {
        note_type.name: json.dumps([note_type.css, [(t.qfmt, t.afmt) for t in note_type.templates]])
        for note_type in package.note_types.values()
    }
    # A note's topic is the deck of its first card by deck id, as before this reader.
    deck_of: dict[int, int] = {}
    for card in package.cards:
        deck_of[card.note_id] = min(deck_of.get(card.note_id, card.deck_id), card.deck_id)

    # In the order a learner sees them: by deck name (as Anki lists decks), then in the
    # order the package counts them (a deck's own, deckgen's authoring order).
    def deck_name(note) -> str:
        deck = package.decks.get(deck_of.get(note.id, 0))
        return deck.name if deck else ""

    notes = {}
    for note in sorted(package.notes, key=lambda n: (deck_name(n), n.id)):
        fields = package.fields_of(note)
        deck = package.decks.get(deck_of.get(note.id, 0))
        notes[note.guid] = ComparedNote(
            guid=note.guid,
            card_id=fields.get("ID") or note.guid,
            topic=deck.name.split("::")[-1] if deck else "",
            note_type=package.note_type_of(note).name,
            fields={k: v for k, v in fields.items() if k != "ID"},
            tags=note.tags,
            deck=deck.name if deck else "",
        )
    return PackageContents(notes, note_types, {deck.id: deck.name for deck in package.decks.values()})


def diff_packages(old: PackageContents, new: PackageContents) -> PackageDiff:
    result = PackageDiff()
    for guid, note in new.notes.items():
        before = old.notes.get(guid)
        if before is None:
            result.added.append(note)
            continue
        if note.retired and not before.retired:
            result.retired.append(note)
            continue
        if before.deck and note.deck and before.deck != note.deck and before.deck in new.decks.values():
            result.moved.append((before, note))  # to another deck, not a renamed one
        fields = [
            (name, plain_text(before.fields.get(name, "")), plain_text(value))
            for name, value in note.fields.items()
            if before.fields.get(name, "") != value
        ]
        tags = (before.tags, note.tags) if set(before.tags) != set(note.tags) else None
        if fields or tags or before.note_type != note.note_type:
            result.changed.append(Change(note, fields, tags))
    result.removed = [note for guid, note in old.notes.items() if guid not in new.notes]
    result.renamed = sorted(
        (old.decks[deck_id], name)
        for deck_id, name in new.decks.items()
        if deck_id in old.decks and old.decks[deck_id] != name
    )
    result.note_types = sorted(
        name
        for name, look in new.note_types.items()
        if name in old.note_types and old.note_types[name] != look
    )
    return result


def _snippet(text: str) -> str:
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def _word_diff(old: str, new: str) -> str:
    """A short diff of two texts: only the words that changed, with a little context."""
    a, b = old.split(), new.split()
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        removed, added = " ".join(a[i1:i2]), " ".join(b[j1:j2])
        if removed:
            parts.append(f"~~{_snippet(removed)}~~")
        if added:
            parts.append(f"**{_snippet(added)}**")
    return " ".join(parts) or "(whitespace)"


def _by_topic(items, topic_of) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for item in items:
        grouped.setdefault(topic_of(item), []).append(item)
    return grouped


def format_markdown(diff: PackageDiff) -> str:
    """The diff as Markdown release notes."""
    if diff.equal:
        return "No changes.\n"
    counts = f"{len(diff.added)} added, {len(diff.changed)} changed, {len(diff.removed)} removed"
    if diff.retired:
        counts += f", {len(diff.retired)} retired"
    lines = [counts + ".", ""]
    for old, new in diff.renamed:
        lines.append(
            f"Deck renamed: {old} → {new}. Learners who have {old} keep their cards there; "
            f"new cards arrive in {new}."
        )
        lines.append("")
    added = _by_topic(diff.added, lambda n: n.topic)
    changed = _by_topic(diff.changed, lambda c: c.note.topic)
    removed = _by_topic(diff.removed, lambda n: n.topic)
    moved = _by_topic(diff.moved, lambda pair: pair[1].topic)
    for topic in dict.fromkeys([*added, *changed, *moved, *removed]):
        lines.append(f"### {topic or '(no deck)'}")
        lines.append("")
        for note in added.get(topic, []):
            first = plain_text(cloze_revealed(next(iter(note.fields.values()), "")))
            lines.append(f"- Added `{note.card_id}`: {_snippet(first)}")
        for change in changed.get(topic, []):
            details = [f"{name}: {_word_diff(old, new)}" for name, old, new in change.fields]
            if change.tags:
                details.append(f"tags: {' '.join(change.tags[0])} → {' '.join(change.tags[1])}")
            lines.append(f"- Changed `{change.note.card_id}`: {'; '.join(details) or 'note type'}")
        for before, after in moved.get(topic, []):
            lines.append(
                f"- Moved `{after.card_id}` to {after.topic}; "
                f"learners who already have it keep it in {before.topic}"
            )
        for note in removed.get(topic, []):
            lines.append(
                f"- Removed `{note.card_id}` (Anki keeps it in your collection: "
                "the retired-cards package marks it, or delete it by hand)"
            )
        lines.append("")
    if diff.retired:
        lines += ["### Retired", ""]
        for note in diff.retired:
            first = plain_text(next(iter(note.fields.values()), ""))
            lines.append(f"- `{note.card_id}`: {_snippet(first)}")
        lines.append("")
    if diff.note_types:
        lines.append("Card styling changed: " + ", ".join(diff.note_types) + ".")
        lines.append("")
    return "\n".join(lines)
