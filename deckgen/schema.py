"""The card file format, defined once.

Both the validator (`validate.py`) and the JSON Schema that editors use
(`card-file.schema.json`, written by `deckgen schema`) are generated from the
definitions here, so they cannot drift apart.
"""

from __future__ import annotations

import json
import re
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


@dataclass(frozen=True)
class FieldSpec:
    key: str
    description: str


@dataclass(frozen=True)
class CardType:
    name: str
    description: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional


FIELDS = {
    f.key: f
    for f in (
        FieldSpec("front", "The question side, in Markdown."),
        FieldSpec("back", "The answer side, in Markdown (plain text for type-in cards)."),
        FieldSpec("extra", "More context shown under the answer, in Markdown."),
        FieldSpec("text", "Markdown with {{c1::...}} cloze deletions."),
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
    "id": "Stable identity of the card: never change or reuse it. Lowercase letters, digits, '-', '_', '.'.",
    "type": f"Card type: {', '.join(CARD_TYPES)} (default {DEFAULT_TYPE}).",
    "tags": "Tags added to this card, on top of the file's tags.",
}

# Top-level keys of a topic file: (required, description).
TOPIC_KEYS = {
    "deck": (True, "The topic's subdeck title, shown in Anki under the root deck."),
    "tags": (False, "Tags for every card in this file (use '::' for hierarchy)."),
    "cards": (True, "The cards of this topic, in the order learners first see them."),
}

# Top-level keys of the deck config, cards/deck.yaml: (required, description).
CONFIG_KEYS = {
    "deck": (True, "The root deck's name in Anki."),
    "namespace": (True, "Prefix of every note's identity. Never change it once the deck is published."),
    "version": (False, "The deck's own version, shown in the root deck's description."),
    "description": (False, "Shown in Anki on the root deck's overview screen."),
    "topics": (False, "Topic file names (without .yaml) in the order learners meet them."),
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


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a topic file, for editors."""
    text = {"type": ["string", "number"], "minLength": 1, "maxLength": MAX_FIELD_CHARS}
    tags = {"type": "array", "items": {"type": "string", "pattern": TAG_PATTERN}}
    variants = []
    for card_type in CARD_TYPES.values():
        allowed = {key: True for key in CARD_KEYS} | {key: True for key in card_type.fields}
        type_match = {"const": card_type.name}
        condition: dict = {"properties": {"type": type_match}, "required": ["type"]}
        if card_type.name == DEFAULT_TYPE:
            condition = {"anyOf": [condition, {"not": {"required": ["type"]}}]}
        variants.append(
            {
                "if": condition,
                "then": {
                    "description": card_type.description,
                    "required": list(card_type.required),
                    "properties": allowed,
                    "additionalProperties": False,
                },
            }
        )
    card = {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {
                "type": "string",
                "pattern": ID_PATTERN,
                "maxLength": ID_MAX,
                "description": CARD_KEYS["id"],
            },
            "type": {"enum": list(CARD_TYPES), "description": CARD_KEYS["type"]},
            "tags": tags | {"description": CARD_KEYS["tags"]},
        }
        | {key: text | {"description": spec.description} for key, spec in FIELDS.items()},
        "additionalProperties": False,
        "allOf": variants,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/deckgen/deckgen/card-file.schema.json",
        "title": "deckgen topic file",
        "description": "One topic of a deckgen deck: a subdeck title, tags and cards.",
        "type": "object",
        "required": [key for key, (required, _) in TOPIC_KEYS.items() if required],
        "properties": {
            "deck": {"type": "string", "minLength": 1, "description": TOPIC_KEYS["deck"][1]},
            "tags": tags | {"description": TOPIC_KEYS["tags"][1]},
            "cards": {"type": "array", "items": card, "description": TOPIC_KEYS["cards"][1]},
        },
        "additionalProperties": False,
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
