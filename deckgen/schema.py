"""The card file format, defined once.

Both the validator (`validate.py`) and the JSON Schema that editors use
(`card-file.schema.json`, written by `deckgen schema`) are generated from the
definitions here, so they cannot drift apart.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
ID_RE = re.compile(ID_PATTERN)
ID_MAX = 100
TAG_PATTERN = r"^[^\s]+$"
TAG_RE = re.compile(TAG_PATTERN)
NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
NAMESPACE_RE = re.compile(NAMESPACE_PATTERN)
CLOZE_RE = re.compile(r"\{\{c(\d+)::(.*?)\}\}", re.DOTALL)
_CLOZE_OPENING_RE = re.compile(r"\{\{c(\d+)::")
_INNERMOST_CLOZE_RE = re.compile(r"\{\{c\d+::((?:(?!\{\{c\d+::).)*?)\}\}", re.DOTALL)
MAX_FIELD_CHARS = 20_000
DEFAULT_TYPE = "basic"
CONFIG_FILE = "deck.yaml"


# A key's check: its value (text, or a tag) -> what is wrong with it, or None.
Check = Callable[[str], "str | None"]


@dataclass(frozen=True)
class KeySpec:
    """One key a card may have: its meaning, its check and its JSON Schema, side by side
    (as mkdocs declares its config options), so the validator and the editors' schema
    cannot disagree. `kind` is "text" (a scalar read as text), "tags" (a list of tags) or
    "list" (a list of text, each item checked)."""

    key: str
    description: str
    schema: dict
    check: Check | None = None
    kind: str = "text"

    def problem(self, value: str) -> str | None:
        return self.check(value) if self.check else None


@dataclass(frozen=True)
class CardType:
    name: str
    description: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional


def _check_id(card_id: str) -> str | None:
    if len(card_id) > ID_MAX:
        return f"id is {len(card_id)} characters long; the limit is {ID_MAX}"
    if not ID_RE.match(card_id):
        return f"id {card_id!r} is not a valid slug: use lowercase letters, digits, '-', '_' and '.'"
    return None


def _check_type(name: str) -> str | None:
    """A built-in card type, or the key of a note type deck.yaml declares (validate.py
    checks that it does, once it has read the whole deck)."""
    if name in CARD_TYPES or ID_RE.match(name):
        return None
    close = difflib.get_close_matches(name, list(CARD_TYPES), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown card type {name!r}{hint} (card types: {', '.join(CARD_TYPES)})"


FORMATS = ("markdown", "html")


def _check_format(value: str) -> str | None:
    return None if value in FORMATS else f"format is markdown or html, not {value!r}"


def _check_guid(value: str) -> str | None:
    if any(char.isspace() for char in value) or len(value) > 200:
        return f"guid {value!r} is not an Anki GUID: no spaces, at most 200 characters"
    return None


def check_tag(tag: str) -> str | None:
    return None if TAG_RE.match(tag) else f"tag {tag!r} contains a space; use '_' or '::'"


# The quality warnings of `deckgen check` (quality.py), by the name a card's `allow:` uses
# to silence one, and which each message ends with.
WARNING_NAMES = {
    "long-answer": "the answer is long",
    "near-duplicate": "the question is (nearly) the same as another card's",
    "cloze-hides-most": "a deletion hides most of the cloze text",
    "type-in-markdown": "a type-in answer holds Markdown, which stays literal",
    "large-media": "a media file is over 10 MB",
}


def _check_warning_name(name: str) -> str | None:
    if name in WARNING_NAMES:
        return None
    close = difflib.get_close_matches(name, list(WARNING_NAMES), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown warning {name!r} in `allow`; {hint}(warnings: {', '.join(WARNING_NAMES)})"


def _check_length(value: str, key: str) -> str | None:
    if len(value) > MAX_FIELD_CHARS:
        return f"{key!r} is {len(value):,} characters; the limit is {MAX_FIELD_CHARS:,}"
    return None


def _check_cloze(text: str) -> str | None:
    return _check_length(text, "text") or (
        None if CLOZE_RE.search(text) else "cloze text has no deletion: mark what to hide as {{c1::...}}"
    )


_TEXT = {"type": ["string", "number"], "minLength": 1, "maxLength": MAX_FIELD_CHARS}
TAGS_SCHEMA = {"type": "array", "items": {"type": "string", "pattern": TAG_PATTERN}}


def _field(key: str, description: str, check: Check | None = None) -> KeySpec:
    return KeySpec(key, description, _TEXT, check or (lambda value: _check_length(value, key)))


FIELDS = {
    spec.key: spec
    for spec in (
        _field("front", "The question side, in Markdown."),
        _field("back", "The answer side, in Markdown (plain text for type-in cards)."),
        _field("extra", "More context shown under the answer, in Markdown."),
        _field("text", "Markdown with {{c1::...}} cloze deletions.", _check_cloze),
    )
}

CARD_TYPES = {
    t.name: t
    for t in (
        CardType("basic", "A question and its answer.", ("front", "back"), ("extra",)),
        CardType("reversed", "A term and its definition, asked both ways.", ("front", "back")),
        CardType("cloze", "A text with parts hidden, one card per deletion.", ("text",), ("extra",)),
        CardType("type-in", "The learner types the exact answer; Anki compares.", ("front", "back")),
    )
}

# Keys a card may carry besides its fields.
CARD_KEYS = {
    spec.key: spec
    for spec in (
        KeySpec(
            "id",
            "Stable identity of the card: never change or reuse it. "
            "Lowercase letters, digits, '-', '_', '.'.",
            {"type": "string", "pattern": ID_PATTERN, "maxLength": ID_MAX},
            _check_id,
        ),
        KeySpec(
            "type",
            f"Card type: {', '.join(CARD_TYPES)} (default {DEFAULT_TYPE}).",
            {"enum": list(CARD_TYPES)},
            _check_type,
        ),
        KeySpec(
            "tags", "Tags added to this card, on top of the file's tags.", TAGS_SCHEMA, check_tag, "tags"
        ),
        KeySpec(
            "guid",
            "An adopted note's own GUID (from `deckgen import`): never change it. New cards leave it "
            "out: their GUID comes from the namespace and the id.",
            {"type": "string", "minLength": 1, "maxLength": 200},
            _check_guid,
        ),
        KeySpec(
            "format",
            "markdown (the default) or html: the fields are HTML as written, not Markdown.",
            {"enum": list(FORMATS)},
            _check_format,
        ),
        KeySpec(
            "fields",
            "The fields of a card of the deck's own note type (`note_types:` in deck.yaml), by name.",
            {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
            kind="fields",
        ),
        KeySpec(
            "allow",
            "Quality warnings of `deckgen check` this card may have, silenced: "
            + "; ".join(f"{name}: {meaning}" for name, meaning in WARNING_NAMES.items())
            + ".",
            {"type": "array", "items": {"enum": list(WARNING_NAMES)}, "uniqueItems": True},
            _check_warning_name,
            "list",
        ),
    )
}

# Top-level keys of a topic file: (required, description).
TOPIC_KEYS = {
    "deck": (True, "The topic's subdeck title, shown in Anki under the root deck."),
    "tags": (False, "Tags for every card in this file (use '::' for hierarchy)."),
    "cards": (True, "The cards of this topic, in the order learners first see them."),
    "retired": (False, "Cards removed from this topic: why, and what replaces them (learners see why)."),
    "format": (False, "markdown (the default) or html: how this file's fields are written."),
}

# Keys of one `retired:` entry: (required, description).
RETIRED_KEYS = {
    "id": (True, "The id of the removed card."),
    "reason": (True, "Why it was retired, in a short sentence: learners read it on the card."),
    "replaced_by": (False, "The id of the card that replaces it, if one does."),
}
RETIRED_TOPIC = "retired"  # the retired-cards package's name: no topic may take it

# Top-level keys of the deck config, cards/deck.yaml: (required, description).
CONFIG_KEYS = {
    "deck": (True, "The root deck's name in Anki."),
    "namespace": (True, "Prefix of every note's identity. Never change it once the deck is published."),
    "version": (False, "The deck's own version, shown in the root deck's description."),
    "description": (False, "Shown in Anki on the root deck's overview screen."),
    "topics": (False, "Topic file names (without .yaml) in the order learners meet them."),
    "note_types": (
        False,
        "The deck's own note types (adopted ones keep their Anki id): key, name, kind, fields, "
        "templates (front and back files) and css (a file), paths relative to this folder.",
    ),
    "number_topics": (
        False,
        "true (the default): subdeck titles start with their place in `topics:` (01, 02, ...), so "
        "that Anki, which lists and studies subdecks by name, keeps the learning order.",
    ),
    "html": (
        False,
        "`allow:` a list of HTML tags (iframe, video, ...) or event-handlers, style-attributes, "
        "javascript-urls that the deck's fields may hold beyond the safe allowlist.",
    ),
}

ALL_CARD_KEYS = tuple(CARD_KEYS) + tuple(FIELDS)


def cloze_numbers(text: str) -> list[int]:
    """The deletion numbers in a cloze text, each once, ascending: one card each.

    Counted from the openings `{{cN::`, so that a deletion nested in another one gets
    its card, as in Anki (a pattern over whole `{{cN::...}}` spans misses it). c0 makes
    no card in Anki.
    """
    return sorted({int(n) for n in _CLOZE_OPENING_RE.findall(text)} - {0})


def cloze_revealed(text: str) -> str:
    """The cloze text as the back of its cards reads: every deletion shown, hints dropped."""
    previous = None
    while previous != text:  # inner deletions first, then the ones around them
        previous = text
        text = _INNERMOST_CLOZE_RE.sub(lambda m: m.group(1).split("::")[0], text)
    return text
