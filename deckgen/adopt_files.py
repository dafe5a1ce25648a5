"""The files of an adopted deck (adopt.py): deck.yaml, topic files, note types, the lock.

The YAML is written by hand, not dumped, so that it reads like a deck an author wrote:
one card after another, each field on one line, quoted only where YAML needs it. Field
values are double-quoted JSON strings (a JSON string is a YAML double-quoted scalar),
with the few characters YAML reads differently from JSON escaped too, so each value
reads back exactly as Anki stored it.

The lock comes from the pipeline itself: the folder written is compiled as `deckgen
build` compiles it, and identified (identity.py) against an empty lock; only the change
times are then the package's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .adopt_fields import REFUSED, Notice
from .compile import CompiledDeck, compile_deck
from .errors import DeckError, Location, Problem, display_path
from .identity import identify
from .lock import ROOT, Lock
from .schema import CONFIG_FILE

if TYPE_CHECKING:
    from .adopt import AdoptedDeck, AdoptedTopic

# Characters JSON writes as they are but YAML does not read back so: line breaks YAML
# folds in a quoted scalar (NEL, LS, PS), and characters it does not allow in a file.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()+'/-]*")


@dataclass(frozen=True)
class NoteTypeFiles:
    templates: tuple[tuple[str, str, str], ...]  # (template name, front file, back file)
    css: str  # the stylesheet's file


@dataclass(frozen=True)
class TopicText:
    text: str
    lines: dict[tuple[str, str], int]  # (card id, field name) -> line; (card id, "") -> its `- id:` line


def quoted(value: str) -> str:
    """`value` as a double-quoted YAML scalar that reads back as exactly `value`."""
    text = json.dumps(value, ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def scalar(value: str) -> str:
    """`value` as a YAML scalar: plain when it reads back as the same text, else quoted."""
    if _PLAIN.fullmatch(value) and not value.endswith(" ") and yaml.safe_load(value) == value:
        return value
    return quoted(value)


def deck_yaml(plan: AdoptedDeck, topic_keys: list[str]) -> str:
    lines = [
        "# Adopted from an Anki package by `deckgen import`.",
        f"deck: {scalar(plan.title)}",
        f"namespace: {plan.namespace}",
        "version: 1.0.0",
        "number_topics: false  # keep the adopted subdeck names exactly (Anki matches decks by name)",
    ]
    if plan.root is not None and plan.root.description:
        lines.append(f"description: {quoted(plan.root.description)}")
    lines.append(f"topics: [{', '.join(scalar(key) for key in topic_keys)}]")
    lines.append("note_types:  # the package's own, kept as they are: never change their fields")
    for note_type in plan.note_types:
        source = note_type.source
        lines += [
            f"  - key: {note_type.key}",
            f"    name: {quoted(source.name)}",
            f"    id: {source.id}",
            f"    kind: {source.kind}",
            f"    fields: [{', '.join(quoted(name) for name in source.fields)}]",
            "    templates:",
        ]
        for name, front, back in note_type.files.templates:
            lines += [f"      - name: {quoted(name)}", f"        front: {front}", f"        back: {back}"]
        lines.append(f"    css: {note_type.files.css}")
    if plan.html_allow:
        lines += ["html:", f"  allow: [{', '.join(plan.html_allow)}]"]
    return "\n".join(lines) + "\n"


def topic_yaml(topic: AdoptedTopic) -> TopicText:
    lines = [
        f"deck: {scalar(topic.title)}",
        "format: html  # fields are HTML as Anki stores it: deckgen runs no Markdown over them",
        "cards:",
    ]
    at: dict[tuple[str, str], int] = {}
    for card in topic.cards:
        at[(card.id, "")] = len(lines) + 1
        lines += [
            f"  - id: {card.id}",
            f"    guid: {quoted(card.note.guid)}",
            f"    type: {card.type}",
        ]
        if card.note.tags:
            lines.append(f"    tags: [{', '.join(quoted(tag) for tag in card.note.tags)}]")
        lines.append("    fields:")
        for name, value in card.fields:
            at[(card.id, name)] = len(lines) + 1
            lines.append(f"      {quoted(name)}: {quoted(value)}")
    return TopicText("\n".join(lines) + "\n", at)


def adopted_lock(plan: AdoptedDeck, compiled: CompiledDeck, now: int) -> Lock:
    """The lock of the adopted deck: the pipeline's own hashes, and as change times the
    package's own, so that a build is exactly as new as what learners already have."""
    lock = identify(compiled, Lock(), now).stamping.lock
    notes = {card.id: card.note.mod for topic in plan.topics for card in topic.cards}
    note_types = {note_type.key: note_type.source.mod for note_type in plan.note_types}
    decks = {topic.key: topic.deck.mod for topic in plan.topics}
    if plan.root is not None:
        decks[ROOT] = plan.root.mod

    def package_times(stamps: dict, times: dict[str, int]) -> dict:
        return {key: replace(s, changed=times[key]) if key in times else s for key, s in stamps.items()}

    return Lock(
        lock.namespace,
        package_times(lock.notes, notes),
        package_times(lock.note_types, note_types),
        package_times(lock.decks, decks),
    )


# -- writing ------------------------------------------------------------------------------------


def write_deck(
    plan: AdoptedDeck, folder: Path, excluded: frozenset[str] = frozenset()
) -> dict[str, TopicText]:
    """Write deck.yaml, the topic files and the note types' files; the topic files' texts
    (with each card's lines) by file name. Cards in `excluded` are left out, and so are
    topics left with no card."""
    texts = {}
    for topic in plan.topics:
        cards = [c for c in topic.cards if c.id not in excluded]
        path = folder / f"{topic.key}.yaml"
        if not cards:
            path.unlink(missing_ok=True)
            continue
        texts[path.name] = topic_yaml(replace(topic, cards=tuple(cards)))
        path.write_text(texts[path.name].text, encoding="utf-8")
    keys = [t.key for t in plan.topics if f"{t.key}.yaml" in texts]
    (folder / CONFIG_FILE).write_text(deck_yaml(plan, keys), encoding="utf-8")
    for note_type in plan.note_types:
        files = note_type.files
        (folder / files.css).parent.mkdir(parents=True, exist_ok=True)
        for (_name, front, back), template in zip(files.templates, note_type.source.templates, strict=True):
            (folder / front).write_text(template.qfmt, encoding="utf-8", newline="")
            (folder / back).write_text(template.afmt, encoding="utf-8", newline="")
        (folder / files.css).write_text(note_type.source.css, encoding="utf-8", newline="")
    return texts


def compile_adopted(
    plan: AdoptedDeck, staging: Path, texts: dict[str, TopicText], folder: Path
) -> tuple[CompiledDeck, list[Notice]]:
    """The adopted deck compiled as `deckgen build` compiles it, for the lock. Cards it
    refuses (a script in a field, ...) are left out of the lock and reported: the edit
    that makes them acceptable makes them newer than the learners' copy, as it should."""
    try:
        return compile_deck(staging), []
    except DeckError as error:
        problems = error.problems
    refused: dict[str, str] = {}
    other = []
    card_at = card_finder(staging, texts)
    for problem in problems:
        card_id = card_at(problem.location)
        if card_id is None:
            other.append(problem)
        else:
            refused.setdefault(card_id, problem.message)
    if not other:
        write_deck(plan, staging, frozenset(refused))
        try:
            compiled = compile_deck(staging)
        except DeckError as error:
            other = error.problems
        write_deck(plan, staging)
    # Messages name the files as they will be: in `folder`, not in the staging folder.
    names = ((display_path(staging), display_path(folder)), (staging.name, folder.name))

    def unstaged(text: str) -> str:
        for staged, final in names:
            text = text.replace(staged, final)
        return text

    if other:  # a deck this deckgen cannot build: say why, at the files as they would be
        cannot = Problem(Location(display_path(folder)), "deckgen cannot build the deck it adopted, because:")
        moved = [
            Problem(replace(p.location, path=unstaged(p.location.path)), unstaged(p.message), p.severity)
            for p in other
        ]
        raise DeckError([cannot, *moved])
    warned = {n.card_id for n in plan.notices if n.message.endswith(REFUSED)}
    return compiled, [
        Notice(f"{unstaged(message)}{REFUSED}", card_id)
        for card_id, message in refused.items()
        if card_id not in warned
    ]


def card_finder(staging: Path, texts: dict[str, TopicText]) -> Callable[[Location], str | None]:
    """A function that tells the card a problem in a topic file of `staging` is at, or None."""
    starts = {
        name: sorted((line, card_id) for (card_id, field), line in text.lines.items() if not field)
        for name, text in texts.items()
    }

    def card_at(location: Location) -> str | None:
        path = Path(location.path)
        if location.line <= 0 or path.resolve().parent != staging.resolve() or path.name not in starts:
            return None
        before = [card_id for line, card_id in starts[path.name] if line <= location.line]
        return before[-1] if before else None

    return card_at


def located(notice: Notice, folder: Path, texts: dict[str, TopicText]) -> Problem:
    """A notice as a warning at its card's field in the folder written (deck.yaml if none)."""
    for name, text in texts.items():
        line = text.lines.get((notice.card_id, notice.field)) or text.lines.get((notice.card_id, ""))
        if notice.card_id and line:
            return Problem(
                Location(display_path(folder / name), line, 1),
                f"card {notice.card_id!r}: {notice.message}",
                "warning",
            )
    return Problem(Location(display_path(folder / CONFIG_FILE)), notice.message, "warning")
