"""schema.py is the one source of the card rules: the validator and the editors' JSON
Schema agree on every card below, and the committed schema file is the generated one."""

import jsonschema
import pytest
import yaml

from deckgen import editor_schemas, schema
from deckgen.errors import Problems
from deckgen.validate import read_deck

from conftest import write_deck

# (card as YAML, whether it is valid); each invalid one breaks a rule that both check.
CARDS = [
    ("id: a\nfront: Q\nback: A", True),
    ("id: a\nfront: Q\nback: A\nextra: more", True),
    ("id: a\ntype: reversed\nfront: term\nback: definition", True),
    ("id: a\ntype: cloze\ntext: The {{c1::answer}}.\nextra: why", True),
    ("id: a\ntype: type-in\nfront: Port?\nback: 443", True),
    ("id: a\nfront: Q\nback: A\ntags: [x::y, z]", True),
    ("front: Q\nback: A", False),  # no id
    ("id: Not A Slug\nfront: Q\nback: A", False),
    (f"id: {'a' * (schema.ID_MAX + 1)}\nfront: Q\nback: A", False),
    ("id: a\nfront: Q", False),  # basic without back
    ("id: a\ntype: reverse\nfront: Q\nback: A", False),  # unknown type
    ("id: a\ntype: reversed\nfront: Q\nback: A\nextra: no", False),  # field of another type
    ("id: a\ntype: cloze\nfront: Q\ntext: The {{c1::x}}.", False),
    ("id: a\nfornt: Q\nback: A", False),  # unknown key
    ("id: a\nfront: Q\nback: A\ntags: [has space]", False),
    ("id: a\nfront: ''\nback: A", False),  # empty
]


def validator_accepts(tmp_path, card: str) -> bool:
    body = "\n".join("    " + line if i else "  - " + line for i, line in enumerate(card.splitlines()))
    folder = write_deck(tmp_path, {"topic": f"deck: Topic\ncards:\n{body}\n"})
    problems = Problems()
    read_deck(folder, problems)
    return not problems.errors


def schema_accepts(card: str) -> bool:
    document = {"deck": "Topic", "cards": [yaml.safe_load(card)]}
    return not list(jsonschema.Draft202012Validator(editor_schemas.json_schema()).iter_errors(document))


@pytest.mark.parametrize(("card", "valid"), CARDS, ids=[f"card{i}" for i in range(len(CARDS))])
def test_validator_and_schema_agree(tmp_path, card, valid):
    assert validator_accepts(tmp_path, card) is valid
    assert schema_accepts(card) is valid


def test_what_only_the_validator_finds(tmp_path):
    """A cloze without a deletion passes the schema: `deckgen check` finds it."""
    card = "id: a\ntype: cloze\ntext: nothing hidden"
    assert schema_accepts(card) and not validator_accepts(tmp_path, card)


def test_every_card_key_has_a_description_and_a_schema():
    for spec in (*schema.CARD_KEYS.values(), *schema.FIELDS.values()):
        assert spec.description and spec.schema, spec.key
    branches = [
        variant["then"] for variant in editor_schemas.json_schema()["properties"]["cards"]["items"]["allOf"]
    ]
    properties = {key for branch in branches for key in branch["properties"]}
    assert properties == set(schema.CARD_KEYS) | set(schema.FIELDS)
    *built_in, own = branches
    for branch in built_in:  # each type's branch: every key of every card, and its own fields only
        card_type = schema.CARD_TYPES[branch["properties"]["type"]["const"]]
        assert set(branch["properties"]) == set(schema.CARD_KEYS) - {"fields"} | set(card_type.fields)
    # A card of the deck's own note type gives its fields by name, under `fields:`.
    assert set(own["properties"]) == set(schema.CARD_KEYS) - {"type"}
