"""Parsing card files into typed cards, and the first located errors."""

from pathlib import Path

import pytest

from deckgen.errors import DeckError, Problems
from deckgen.validate import read_deck

from conftest import write_deck

ALL_TYPES = """\
deck: Everything
tags: [t::one]
cards:
  - id: b1
    front: Q
    back: A
    extra: more
  - id: r1
    type: reversed
    front: term
    back: definition
  - id: c1
    type: cloze
    text: The {{c1::answer}} and {{c2::another}}.
  - id: t1
    type: type-in
    front: Port?
    back: 443
    tags: [extra-tag]
"""


def read(folder: Path):
    problems = Problems()
    deck = read_deck(folder, problems)
    return deck, problems


def test_every_card_type_parses(tmp_path):
    deck, problems = read(write_deck(tmp_path, {"all": ALL_TYPES}))
    assert problems.items == []
    (topic,) = deck.topics
    assert topic.title == "Everything" and topic.tags == ("t::one",)
    assert [(c.id, c.type) for c in topic.cards] == [
        ("b1", "basic"),
        ("r1", "reversed"),
        ("c1", "cloze"),
        ("t1", "type-in"),
    ]
    assert topic.cards[0].fields == {"front": "Q", "back": "A", "extra": "more"}
    assert topic.cards[3].fields["back"] == "443"  # as written, not a number
    assert topic.cards[3].tags == ("extra-tag",)
    assert str(topic.cards[1].location).endswith("all.yaml:8:5")


def test_topic_order_from_config_then_by_name(tmp_path):
    card = "deck: {0}\ncards:\n  - id: {0}-1\n    front: q\n    back: a\n"
    folder = write_deck(
        tmp_path,
        {name: card.format(name) for name in ("zeta", "alpha", "mid", "beta")},
        config="deck: D\nnamespace: d\ntopics: [mid, zeta]\n",
    )
    deck, problems = read(folder)
    assert problems.items == []
    assert [t.key for t in deck.topics] == ["mid", "zeta", "alpha", "beta"]
    assert deck.config.title == "D" and deck.config.namespace == "d"


def test_errors_are_located_and_all_reported(tmp_path):
    bad = """\
deck: Bad
cards:
  - id: ok
    front: q
    fornt: typo
  - front: no id
    back: a
  - id: ok
    type: cloze
    text: nothing hidden
"""
    deck, problems = read(write_deck(tmp_path, {"bad": bad}))
    messages = [str(p) for p in problems.errors]
    assert any(m.endswith("bad.yaml:5:5: unknown key 'fornt'; did you mean 'front'?") for m in messages), (
        messages
    )
    assert any("bad.yaml:3:5: basic card 'ok' is missing 'back'" in m for m in messages), messages
    assert any("bad.yaml:6:5: card has no `id`" in m for m in messages), messages
    assert any("bad.yaml:10:11: cloze text has no deletion" in m for m in messages), messages


def test_duplicate_ids_across_files_name_both_places(tmp_path):
    one = "deck: One\ncards:\n  - id: same\n    front: q\n    back: a\n"
    two = (
        "deck: Two\ncards:\n  - id: x\n    front: q\n    back: a\n  - id: same\n    front: q2\n    back: a2\n"
    )
    _deck, problems = read(write_deck(tmp_path, {"one": one, "two": two}))
    (error,) = problems.errors
    assert str(error.location).endswith("two.yaml:6:5")
    assert "duplicate card id 'same'" in error.message and "one.yaml:3:5" in error.message


def test_raise_if_errors_carries_every_problem(tmp_path):
    _deck, problems = read(write_deck(tmp_path, {"bad": "deck: B\ncards:\n  - id: Bad Id\n    front: q\n"}))
    with pytest.raises(DeckError) as info:
        problems.raise_if_errors()
    assert len(info.value.problems) == 2  # the slug and the missing back


def test_cloze_numbers_count_nested_deletions_once_each():
    from deckgen.schema import cloze_numbers

    assert cloze_numbers("{{c2::b}} {{c1::a}} {{c2::again}}") == [1, 2]
    assert cloze_numbers("{{c1::outer {{c2::inner}} end}} and {{c3::last}}") == [1, 2, 3]
    assert cloze_numbers("{{c0::not a card}}") == []


def test_cloze_revealed_shows_every_answer_without_hints():
    from deckgen.schema import cloze_revealed

    assert cloze_revealed("A {{c1::task::what?}} runs {{c2::containers}}.") == "A task runs containers."
    assert cloze_revealed("{{c1::outer {{c2::inner}} end}}") == "outer inner end"
