"""Note types of a deck's own (deck.yaml `note_types:`), `guid:` and `format: html`: the
way adopted decks keep what learners have, and authors write their own note types."""

import shutil

import pytest
import yaml
from click.testing import CliRunner

from deckgen.build import build
from deckgen.cli import main
from deckgen.errors import DeckError

NOW = 1_700_000_000
CONFIG = """\
deck: Spanish
namespace: spanish
number_topics: false
note_types:
  - key: vocab
    name: Vocab (Spanish)
    id: 1600000000123
    fields: [Word, Meaning, Example]
    templates:
      - name: Recognise
        front: types/recognise.front.html
        back: types/recognise.back.html
      - name: Recall
        front: types/recall.front.html
        back: types/recall.back.html
    css: types/style.css
  - key: gaps
    name: Gaps (Spanish)
    kind: cloze
    fields: [Text, Note]
    templates:
      - name: Cloze
        front: types/gaps.front.html
        back: types/gaps.back.html
"""
TEMPLATES = {
    "recognise.front.html": "{{Word}}",
    "recognise.back.html": "{{FrontSide}}<hr id=answer>{{Meaning}}"
    '{{#Example}}<p class="ex">{{Example}}</p>{{/Example}}',
    "recall.front.html": "{{#Example}}{{Meaning}}{{/Example}}",
    "recall.back.html": "{{FrontSide}}<hr id=answer>{{Word}}",
    "gaps.front.html": "{{cloze:Text}}",
    "gaps.back.html": "{{cloze:Text}}<br>{{Note}}",
    "style.css": ".card { font-size: 30px; }\n.ex { color: gray; }\n",
}
CARDS = [
    {
        "id": "perro",
        "guid": "abc#DEF12",
        "type": "vocab",
        "fields": {"Word": "<b>perro</b>", "Meaning": "dog", "Example": "El perro ladra."},
    },
    {"id": "gato", "type": "vocab", "fields": {"Word": "gato", "Meaning": "cat"}},
    {"id": "ser", "type": "gaps", "fields": {"Text": "Yo {{c1::soy}}, tú {{c2::eres}}", "Note": ""}},
    {"id": "hola", "format": "markdown", "front": "What is **hola**?", "back": "hello"},
]


def _deck(folder, cards=CARDS, config=CONFIG):
    (folder / "types").mkdir(parents=True, exist_ok=True)
    (folder / "deck.yaml").write_text(config, encoding="utf-8")
    for name, text in TEMPLATES.items():
        (folder / "types" / name).write_text(text, encoding="utf-8")
    topic = {"deck": "Words", "format": "html", "cards": cards}
    (folder / "words.yaml").write_text(
        yaml.safe_dump(topic, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return folder


def _check(folder):
    return CliRunner().invoke(main, ["check", "--cards", str(folder)])


def test_own_note_types_reach_anki_as_declared(tmp_path, anki):
    cards = _deck(tmp_path / "cards")
    result = build(cards, tmp_path / "out", now=NOW)
    assert [(t.notes, t.cards) for t in result.topics] == [(4, 6)]  # perro 2, gato 1, ser 2, hola 1
    log = anki.import_package(tmp_path / "out" / "spanish.apkg")
    assert (log.new, log.conflicting) == (4, 0)

    vocab = anki.col.models.get(1600000000123)
    assert vocab["name"] == "Vocab (Spanish)"
    assert [f["name"] for f in vocab["flds"]] == ["Word", "Meaning", "Example"]
    assert [(t["name"], t["qfmt"]) for t in vocab["tmpls"]] == [
        ("Recognise", "{{Word}}"),
        ("Recall", "{{#Example}}{{Meaning}}{{/Example}}"),
    ]
    assert vocab["css"] == TEMPLATES["style.css"]
    gaps = anki.col.models.by_name("Gaps (Spanish)")
    assert gaps["type"] == 1  # cloze

    notes = {
        n["fields"].get("ID") or n["fields"].get("Word") or n["fields"].get("Text"): n
        for n in anki.notes().values()
    }
    perro = next(n for guid, n in anki.notes().items() if guid == "abc#DEF12")  # its own GUID
    assert perro["fields"]["Word"] == "<b>perro</b>"  # HTML as written, no Markdown paragraph
    assert perro["fields"]["Meaning"] == "dog"
    assert notes["hola"]["fields"]["Front"] == "<p>What is <strong>hola</strong>?</p>"  # Markdown
    card_counts = {
        n["fields"]["Word"]: len(anki.col.get_note(n["id"]).cards())
        for n in notes.values()
        if "Word" in n["fields"]
    }
    assert card_counts == {"<b>perro</b>": 2, "gato": 1}


def test_an_edit_updates_exactly_that_note(tmp_path, anki):
    cards = _deck(tmp_path / "cards")
    build(cards, tmp_path / "v1", now=NOW)
    anki.import_package(tmp_path / "v1" / "spanish.apkg")
    edited = [dict(card) for card in CARDS]
    edited[1] = {**edited[1], "fields": {"Word": "gato", "Meaning": "cat (the animal)"}}
    _deck(cards, edited)
    build(cards, tmp_path / "v2", now=NOW + 60)
    log = anki.import_package(tmp_path / "v2" / "spanish.apkg")
    assert (log.new, log.updated, log.conflicting) == (0, 1, 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c[1]["fields"].update(Meening="x"),
            "note type 'vocab' has no field 'Meening'; did you mean 'Meaning'?",
        ),
        (lambda c: c[1].update(type="vocabb"), "unknown card type 'vocabb'; did you mean 'vocab'?"),
        (lambda c: c[1].pop("fields"), "card 'gato' of note type 'vocab' needs `fields:`"),
        (lambda c: c[0].update(guid="has space"), "is not an Anki GUID"),
        (lambda c: c[1].update(guid="abc#DEF12"), "guid 'abc#DEF12' is also the guid of the card at"),
        (lambda c: c[3].update(format="rst"), "format is markdown or html, not 'rst'"),
    ],
    ids=["unknown-field", "unknown-type", "no-fields", "bad-guid", "same-guid", "bad-format"],
)
def test_card_mistakes_are_located(tmp_path, change, message):
    cards = [yaml.safe_load(yaml.safe_dump(card)) for card in CARDS]
    change(cards)
    result = _check(_deck(tmp_path / "cards", cards))
    assert result.exit_code == 1 and message in result.output, result.output
    assert "words.yaml:" in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.update({"recall.front.html": "{{Meanig}}"}),
            "template 'Recall' names 'Meanig', which the note type has no field for",
        ),
        (
            lambda t: t.update({"gaps.front.html": "{{Text}}"}),
            "a cloze note type's front needs {{cloze:Field}}",
        ),
        (lambda t: t.pop("style.css"), "cannot read 'types/style.css'"),
    ],
    ids=["missing-field", "cloze-without-cloze", "missing-css"],
)
def test_note_type_mistakes_are_located(tmp_path, change, message):
    folder = _deck(tmp_path / "cards")
    templates = dict(TEMPLATES)
    change(templates)
    shutil.rmtree(folder / "types")
    (folder / "types").mkdir()
    for name, text in templates.items():
        (folder / "types" / name).write_text(text, encoding="utf-8")
    result = _check(folder)
    assert result.exit_code == 1 and message in result.output, result.output
    assert "deck.yaml:" in result.output


def test_a_field_list_change_or_a_guid_change_is_refused(tmp_path):
    cards = _deck(tmp_path / "cards")
    build(cards, tmp_path / "v1", now=NOW)
    _deck(
        cards,
        config=CONFIG.replace("fields: [Word, Meaning, Example]", "fields: [Word, Meaning, Example, Audio]"),
    )
    with pytest.raises(DeckError) as info:
        build(cards, tmp_path / "v2", now=NOW + 60)
    assert "note type 'vocab' changed its fields" in str(info.value)

    moved = [dict(card) for card in CARDS]
    moved[0] = {**moved[0], "guid": "zzz#999"}
    _deck(cards, moved)
    with pytest.raises(DeckError) as info:
        build(cards, tmp_path / "v3", now=NOW + 60)
    assert "card 'perro' changed its guid from 'abc#DEF12' to 'zzz#999'" in str(info.value)
