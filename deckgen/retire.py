"""Step 4b of the pipeline: removed cards become retired notes.

    Identified (identity.py) -> retire -> Identified with `retired` notes -> package

Anki never deletes a note on import, so a card removed from the deck stays in every
learner's collection, still scheduled. deckgen knows which ids were removed (the lock
keeps them) and writes them into one more package, `<namespace>-retired.apkg`: each
removed note under its own GUID and note type, tagged `deckgen::retired`, its first
field opened by a visible line ("Retired in 1.1.0: why"), with a change time newer
than its last one, so that importing the package updates the learner's copy. One
search (`tag:deckgen::retired`) then finds them all to delete or suspend.

A removed note's last fields and tags are kept in the lock from the build that removed
it, taken from what learners last got: the previous whole-deck package in the out
folder, or else the cards at git's HEAD (`last_published`).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .cards import Retirement
from .errors import DeckError, Location, Problem, Problems
from .identity import Identified, content_hash, next_time, note_guid, note_type_id
from .notetypes import NOTE_TYPES
from .render import plain_text, render_deck, render_fields
from .schema import cloze_revealed
from .validate import read_deck

RETIRED_TAG = "deckgen::retired"
_SNIPPET = 80

# Card ids -> their last published (card type, field values, tags), for those it knows.
LastContent = Callable[[list[str]], dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]]


@dataclass(frozen=True)
class RetiredNote:
    card_id: str
    type: str  # the card type, so its note type
    topic: str  # the topic it was last in
    values: tuple[str, ...]  # field values as packaged: the first opened by the retirement line
    tags: tuple[str, ...]  # its own tags and RETIRED_TAG
    mod: int
    reason: str
    replaced_by: str
    retired_in: str  # the deck version that retired it


def retire(identified: Identified, last_content: LastContent) -> tuple[Identified, list[Problem]]:
    """Every removed note of the lock as a retired note, and the lock with their stamps.

    Returns warnings for removed cards whose last content is nowhere to be found (they
    are left out of the package rather than blanked in learners' collections).
    """
    compiled, stamping = identified.compiled, identified.stamping
    reasons = {entry.id: entry for topic in compiled.deck.topics for entry in topic.retired}
    removed = {card_id: stamp for card_id, stamp in stamping.lock.notes.items() if stamp.removed}
    unknown = [card_id for card_id, stamp in removed.items() if not stamp.fields]
    found = last_content(unknown) if unknown else {}
    questions = {rc.card.id: _question(rc.card.type, rc.card.fields) for rc in compiled.cards}
    version = compiled.deck.config.version

    notes = dict(stamping.lock.notes)
    retired, warnings = [], []
    for card_id, stamp in sorted(removed.items()):
        if not stamp.fields and card_id in found:  # removed now: what learners last got
            card_type, fields, tags = found[card_id]
            stamp = replace(stamp, type=stamp.type or card_type)
        else:
            fields, tags = stamp.fields, stamp.tags
        spec = compiled.note_types.get(stamp.type)
        if not fields or spec is None or len(fields) != len(spec.fields):
            warnings.append(_lost(card_id, reasons.get(card_id), compiled.deck.cards_dir))
            continue
        entry = reasons.get(card_id)
        retired_in = stamp.retired_in or version
        line = _retirement_line(retired_in, entry, questions)
        values = (f"{line}{fields[0]}", *fields[1:])
        marked = tuple(dict.fromkeys((*tags, RETIRED_TAG)))
        digest = content_hash(stamp.type, values, marked)
        changed = stamp.changed if digest == stamp.retired else next_time(stamp.changed, identified.now)
        notes[card_id] = replace(
            stamp, fields=fields, tags=tags, retired=digest, changed=changed, retired_in=retired_in
        )
        retired.append(
            RetiredNote(
                card_id,
                stamp.type,
                stamp.topic,
                values,
                marked,
                changed,
                entry.reason if entry else "",
                entry.replaced_by if entry else "",
                retired_in,
            )
        )
    for card_id in reasons.keys() - removed.keys():
        warnings.append(
            Problem(
                reasons[card_id].location,
                f"{card_id!r} is not a removed card of this deck (the lock has no such card); "
                "was the id mistyped?",
                "warning",
            )
        )
    lock = replace(stamping.lock, notes=notes)
    return replace(identified, stamping=replace(stamping, lock=lock), retired=tuple(retired)), warnings


def _question(card_type: str, fields: dict[str, str]) -> str:
    text = cloze_revealed(fields["text"]) if card_type == "cloze" else fields.get("front", "")
    return text


def _retirement_line(version: str, entry: Retirement | None, questions: dict[str, str]) -> str:
    """The visible line that opens a retired note's first field."""
    when = f"Retired in {version}" if version else "Retired"
    why = entry.reason if entry else "this card was removed from the deck"
    line = f"{when}: {_escape(why)}"
    if entry and entry.replaced_by in questions:
        question = plain_text(questions[entry.replaced_by])
        if len(question) > _SNIPPET:
            question = question[: _SNIPPET - 1] + "…"
        line += f" Replaced by the card “{_escape(question)}”."
    return f'<p class="deckgen-retired"><b>{line}</b></p>\n'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _lost(card_id: str, entry: Retirement | None, cards_dir: Path) -> Problem:
    where = entry.location if entry else Location(str(cards_dir))
    return Problem(
        where,
        f"removed card {card_id!r} is not in the retired-cards package: its last content is "
        "neither in the previous build's whole-deck package nor in git's HEAD, so learners who "
        "have it are not told it was retired",
        "warning",
    )


# -- where a removed card's last content comes from --------------------------------------


def last_published(out_dir: Path | None, cards_dir: Path, namespace: str) -> LastContent:
    """The last content of removed cards: from the previous whole-deck package in
    `out_dir` (what learners got), else from the cards at git's HEAD."""

    def look_up(card_ids: list[str]) -> dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]:
        found = _from_package(out_dir / f"{namespace}.apkg", namespace, card_ids) if out_dir else {}
        missing = [card_id for card_id in card_ids if card_id not in found]
        return found | (_from_git(cards_dir, missing) if missing else {})

    return look_up


def _from_package(path: Path, namespace: str, card_ids: list[str]) -> dict:
    if not path.is_file():
        return {}
    try:
        from .anki_package import read_anki_package  # (only when there is a package to read)

        package = read_anki_package(path)
    except DeckError:
        return {}
    by_guid = {note.guid: note for note in package.notes}
    types = {note_type_id(namespace, key): key for key in NOTE_TYPES}
    found = {}
    for card_id in card_ids:
        note = by_guid.get(note_guid(namespace, card_id))
        if note is not None and note.note_type_id in types:
            found[card_id] = (types[note.note_type_id], tuple(note.fields), tuple(note.tags))
    return found


def _from_git(cards_dir: Path, card_ids: list[str]) -> dict:
    """The cards as git's HEAD has them, read and rendered as a build would."""
    try:
        folder = cards_dir.resolve()
        where = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "--show-prefix"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if where.returncode != 0:
            return {}
        top, prefix = (where.stdout.splitlines() + ["", ""])[:2]
        archive = subprocess.run(  # run at the top: git archive limits itself to the cwd
            ["git", "archive", "--format=tar", f"HEAD:{prefix}"], cwd=top, capture_output=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    if archive.returncode != 0:
        return {}
    with tempfile.TemporaryDirectory() as scratch:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(scratch, filter="data")
        old_cards = Path(scratch)
        problems = Problems()
        deck = read_deck(old_cards, problems)
        rendered = render_deck(deck, problems, lambda requests: render_fields(old_cards, requests))
    wanted = set(card_ids)
    return {
        rc.card.id: (
            rc.card.type,
            tuple(NOTE_TYPES[rc.card.type].anki_fields(rc.fields, rc.card.id)),
            rc.tags,
        )
        for rc in rendered
        if rc.card.id in wanted
    }
