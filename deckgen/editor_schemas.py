"""The JSON Schemas of topic files and of deck.yaml, for editors (the YAML language server).

Beside step 2 (validate): generated from schema.py's declarations (each card key's
KeySpec carries its JSON-Schema fragment beside its check), so editors and `deckgen
check` cannot disagree. `deckgen schema` and `deckgen init` write them.
"""

from __future__ import annotations

import json

from .schema import (
    CARD_KEYS,
    CARD_TYPES,
    CONFIG_KEYS,
    DEFAULT_TYPE,
    FIELDS,
    FORMATS,
    ID_PATTERN,
    NAMESPACE_PATTERN,
    RETIRED_KEYS,
    TAGS_SCHEMA,
    TOPIC_KEYS,
)


def card_json_schema() -> dict:
    """A card: one `if`/`then` per card type, each listing every key that type may have.

    No key is listed outside the branches (only `type`, for its message): the YAML
    language server completes the keys of the branches whose `if` holds, so a cloze
    card is offered `text` and never `front`. tests/test_editor_schema.py measures it.
    """
    keys = {**CARD_KEYS, **FIELDS}

    def described(key: str) -> dict:
        return keys[key].schema | {"description": keys[key].description}

    variants = []
    for card_type in CARD_TYPES.values():
        condition: dict = {"properties": {"type": {"const": card_type.name}}, "required": ["type"]}
        if card_type.name == DEFAULT_TYPE:
            condition = {"anyOf": [condition, {"not": {"required": ["type"]}}]}
        own = [key for key in CARD_KEYS if key not in ("type", "fields")] + list(card_type.fields)
        properties = {key: described(key) for key in own}
        properties["type"] = {"const": card_type.name, "description": card_type.description}
        variants.append(
            {
                "if": condition,
                "then": {
                    # The label of the editor's "insert every required key" completion.
                    "title": f"{card_type.name} card",
                    "description": card_type.description,
                    "required": list(card_type.required),
                    "properties": properties,
                    "additionalProperties": False,
                },
            }
        )
    # A card of the deck's own note type (deck.yaml `note_types:`) gives its fields by name.
    # Editors flag its `type:`, which this schema cannot know; `deckgen check` does.
    custom = {key: described(key) for key in CARD_KEYS if key != "type"}
    variants.append(
        {
            "if": {"properties": {"type": {"not": {"enum": list(CARD_TYPES)}}}, "required": ["type"]},
            # `fields:` not required here: a mistyped built-in type (`reverse`) lands in this
            # branch too, and its one message should be the list of card types.
            "then": {"title": "card of the deck's own note type", "properties": custom},
        }
    )
    return {
        "type": "object",
        "required": ["id"],
        # An unknown type matches no branch: this says which types there are.
        "properties": {"type": described("type")},
        "allOf": variants,
    }


_SCALAR_TEXT = {"type": ["string", "number"], "minLength": 1}  # a scalar's text, as validate.py reads it

# The JSON Schema of each top-level key of a topic file (TOPIC_KEYS says which are required).
TOPIC_KEY_SCHEMAS = {
    "deck": {"type": "string", "minLength": 1},
    "tags": TAGS_SCHEMA,
    "cards": {"type": "array", "minItems": 1, "items": card_json_schema()},
    "format": {"enum": list(FORMATS)},
    "retired": {
        "type": "array",
        "items": {
            "type": "object",
            "required": [key for key, (required, _) in RETIRED_KEYS.items() if required],
            "properties": {
                key: (_SCALAR_TEXT if key == "reason" else CARD_KEYS["id"].schema) | {"description": text}
                for key, (_, text) in RETIRED_KEYS.items()
            },
            "additionalProperties": False,
        },
    },
}

# The JSON Schema of each key of cards/deck.yaml (CONFIG_KEYS says which are required).
CONFIG_KEY_SCHEMAS = {
    "deck": _SCALAR_TEXT,
    "namespace": _SCALAR_TEXT | {"pattern": NAMESPACE_PATTERN},
    "version": _SCALAR_TEXT,
    "description": _SCALAR_TEXT,
    "topics": {"type": "array", "items": _SCALAR_TEXT, "uniqueItems": True},
    "number_topics": {"type": "boolean"},
    "note_types": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["key", "name", "fields", "templates"],
            "properties": {
                "key": {"type": "string", "pattern": ID_PATTERN},
                "name": {"type": "string", "minLength": 1},
                "id": {"type": "integer", "minimum": 1},
                "kind": {"enum": ["standard", "cloze"]},
                "fields": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                "templates": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "front", "back"],
                        "properties": {
                            "name": {"type": "string"},
                            "front": {"type": "string"},
                            "back": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                },
                "css": {"type": "string"},
            },
            "additionalProperties": False,
        },
    },
    "html": {
        "type": "object",
        "properties": {"allow": {"type": "array", "items": {"type": "string", "minLength": 1}}},
        "additionalProperties": False,
    },
}


def _document(name: str, title: str, description: str, keys: dict, fragments: dict) -> dict:
    """A JSON Schema (draft 2020-12) of a YAML mapping whose keys are `keys`: (required, description)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://github.com/deckgen/deckgen/{name}",
        "title": title,
        "description": description,
        "type": "object",
        "required": [key for key, (required, _) in keys.items() if required],
        "properties": {key: fragments[key] | {"description": text} for key, (_, text) in keys.items()},
        "additionalProperties": False,
    }


def json_schema() -> dict:
    """The JSON Schema of a topic file, for editors."""
    return _document(
        TOPIC_SCHEMA_FILE,
        "deckgen topic file",
        "One topic of a deckgen deck: a subdeck title, tags and cards.",
        TOPIC_KEYS,
        TOPIC_KEY_SCHEMAS,
    )


def deck_json_schema() -> dict:
    """The JSON Schema of cards/deck.yaml, for editors."""
    return _document(
        DECK_SCHEMA_FILE,
        "deckgen deck config",
        "cards/deck.yaml: the root deck, the identity namespace and the order of topics.",
        CONFIG_KEYS,
        CONFIG_KEY_SCHEMAS,
    )


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def deck_json_schema_text() -> str:
    return json.dumps(deck_json_schema(), indent=2, ensure_ascii=False) + "\n"


TOPIC_SCHEMA_FILE = "card-file.schema.json"
DECK_SCHEMA_FILE = "deck.schema.json"
# Each schema by the file name that `deckgen init` and `deckgen schema -o DIR` give it.
SCHEMA_FILES = {TOPIC_SCHEMA_FILE: json_schema_text, DECK_SCHEMA_FILE: deck_json_schema_text}
