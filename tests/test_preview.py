"""deckgen preview without a browser: the page, its files, and its renderer against Anki's own.

The renderer in preview.py is checked card by card against the `anki` package's
renderer (the Rust code Anki desktop and AnkiDroid share), on the real deck and on
cloze edge cases; the browser side is tests/test_browser_preview.py.
"""

import html
import re

import pytest
import yaml
from click.testing import CliRunner

from deckgen import identity
from deckgen.build import build
from deckgen.cli import main
from deckgen.compile import compile_deck
from deckgen.errors import DeckError
from deckgen.notetypes import NOTE_TYPES, card_css, cards_per_note
from deckgen.preview import (
    MATHJAX_FILE,
    TYPE_ANSWER_BOX,
    note_cards,
    note_fields,
    preview_page,
    write_preview,
)
from deckgen.templates import TemplateError, render_template

from conftest import CARDS, write_deck

# Cloze texts where a careless renderer and Anki part ways.
CLOZE_EDGE_CASES = [
    "A {{c1::hinted::the hint}} word.",
    "Two colons: {{c1::a::b::c}}.",
    "Same number twice: {{c1::one}} and {{c1::uno}}, then {{c2::two}}.",
    "Specials: {{c1::a-b/c=\"d\" & <i>é</i> 'q' 50%}}.",
    "A stray }} before {{c1::the deletion}}.",
    "Code `{{c1::docker run}}` inside.",
    "Tab\tand line\nin {{c1::one\ttwo\nthree}}.",
]


def _anki_sides(anki, namespace):
    """card id -> [(ordinal, question, answer)] as Anki's renderer gives them."""
    col = anki.col
    sides = {}
    for guid, note in anki.notes().items():
        card_id = note["fields"]["ID"]
        assert guid == identity.note_guid(namespace, card_id)
        anki_note = col.get_note(note["id"])
        rendered = []
        for card in sorted(anki_note.cards(), key=lambda c: c.ord):
            output = card.render_output()
            rendered.append((card.ord + 1, output.question_text, output.answer_text))
        sides[card_id] = rendered
    return sides


def _ours(compiled):
    """The same, from preview.py's renderer, before the reviewer's type-answer step."""
    sides = {}
    for rc in compiled.cards:
        spec = NOTE_TYPES[rc.card.type]
        fields = note_fields(spec, rc)
        rendered = []
        for card in note_cards(rc):
            _name, front, back = spec.templates[0 if spec.is_cloze else card.ordinal - 1]
            question = render_template(front, fields, card.ordinal, question=True)
            answer = render_template(back, fields, card.ordinal, question=False, front_side=question)
            rendered.append((card.ordinal, question, answer))
        sides[rc.card.id] = rendered
    return sides


def _assert_renders_as_anki(cards_dir, out_dir, anki):
    result = build(cards_dir, out_dir, now=1_800_000_000)
    anki.import_package(result.packages[0].path)
    compiled = compile_deck(cards_dir)
    ours = _ours(compiled)
    theirs = _anki_sides(anki, compiled.deck.config.namespace)
    assert set(ours) == set(theirs)
    for card_id in theirs:
        assert ours[card_id] == theirs[card_id], card_id
    return compiled


def test_every_card_of_the_real_deck_renders_as_anki_renders_it(real_cards, tmp_path, anki):
    compiled = _assert_renders_as_anki(real_cards, tmp_path / "out", anki)
    assert len(preview_page(compiled).cards) == anki.card_count()


def _cloze_deck(folder, texts):
    topic = {
        "deck": "Edges",
        "cards": [
            {"id": f"edge-{i}", "type": "cloze", "text": text, "extra": "More <b>here</b>."}
            for i, text in enumerate(texts)
        ]
        + [{"id": "no-extra", "type": "cloze", "text": "{{c1::x}}"}],
    }
    return write_deck(folder, {"edges": yaml.safe_dump(topic)})


def test_cloze_edge_cases_render_as_anki_renders_them(tmp_path, anki):
    _assert_renders_as_anki(_cloze_deck(tmp_path / "cards", CLOZE_EDGE_CASES), tmp_path / "out", anki)


def test_a_nested_cloze_deletion_gets_its_own_card_as_in_anki(tmp_path, anki):
    nested = ["Nested: {{c1::outer {{c2::inner}} end}} and {{c3::last}}."]
    compiled = _assert_renders_as_anki(_cloze_deck(tmp_path / "cards", nested), tmp_path / "out", anki)
    cards = [card for rc in compiled.cards if rc.card.id == "edge-0" for card in note_cards(rc)]
    assert [card.ordinal for card in cards] == [1, 2, 3]
    assert 'data-cloze="inner" data-ordinal="2">[...]</span>' in cards[1].question


def test_type_in_cards_show_a_box_then_what_anki_shows_with_nothing_typed(tmp_path, anki):
    topic = {
        "deck": "Typed",
        "cards": [
            {"id": "plain", "type": "type-in", "front": "Path?", "back": "/etc/ecs/ecs.config"},
            {"id": "specials", "type": "type-in", "front": "Op?", "back": "a < b && c"},
        ],
    }
    cards = write_deck(tmp_path / "cards", {"typed": yaml.safe_dump(topic)})
    compiled = _assert_renders_as_anki(cards, tmp_path / "out", anki)
    for rc in compiled.cards:
        (card,) = note_cards(rc)
        assert TYPE_ANSWER_BOX in card.question and "[[type:" not in card.question
        shown = anki.col.compare_answer(rc.fields["back"], "")
        assert shown in card.answer and "[[type:" not in card.answer


def test_type_in_and_cloze_use_ankis_own_fields_so_ankidroid_runs_them(real_cards, tmp_path, anki):
    cloze, typed = NOTE_TYPES["cloze"], NOTE_TYPES["type-in"]
    assert cloze.is_cloze and cloze.fields == ("Text", "Extra", "ID")
    for _name, front, back in cloze.templates:
        assert "{{cloze:Text}}" in front and "{{cloze:Text}}" in back
    assert typed.fields == ("Front", "Back", "ID")
    for _name, front, back in typed.templates:
        assert "{{type:Back}}" in front and "{{type:Back}}" in back
    # Anki itself takes them as its cloze note type and its type-the-answer field.
    result = build(real_cards, tmp_path / "out", now=1_800_000_000)
    anki.import_package(result.packages[0].path)
    kinds = {}
    for note in anki.notes().values():
        notetype = anki.col.models.get(note["notetype_id"])
        kinds[note["notetype"]] = notetype["type"]
        if note["notetype"].startswith("deckgen Type the answer"):
            card = anki.col.get_note(note["id"]).cards()[0]
            assert "[[type:Back]]" in card.question() and "[[type:Back]]" in card.answer()
    assert kinds["deckgen Cloze (aws-containers)"] == 1  # MODEL_CLOZE
    assert kinds["deckgen Basic (aws-containers)"] == 0


def test_template_sections_front_side_and_unknown_fields():
    fields = {"Front": "Q", "Back": "A", "Extra": "<br>"}
    template = "{{#Extra}}[{{Extra}}]{{/Extra}}{{^Extra}}no extra{{/Extra}}"
    assert render_template(template, fields, 1, question=True) == "no extra"
    answer = render_template("{{FrontSide}}<hr>{{Back}}", fields, 1, question=False, front_side="Q!")
    assert answer == "Q!<hr>A"
    with pytest.raises(TemplateError, match="no field named 'Nope'"):
        render_template("{{Nope}}", fields, 1, question=True)
    with pytest.raises(TemplateError, match="never closed"):
        render_template("{{#Front}}x", fields, 1, question=True)


def test_page_shows_every_card_of_every_note_grouped_by_deck():
    compiled = compile_deck(CARDS)
    page = preview_page(compiled)
    expected = sum(cards_per_note(NOTE_TYPES[rc.card.type], rc.card.fields) for rc in compiled.cards)
    assert len(page.cards) == expected == page.html.count('<article class="pv-card"')
    for rc in compiled.cards:
        shown = page.html.count(f'data-note="{html.escape(rc.card.id)}"')
        assert shown == cards_per_note(NOTE_TYPES[rc.card.type], rc.card.fields), rc.card.id
    # Decks in learning order, each card inside its own deck's section.
    starts = [page.html.index(f'id="deck-{topic.key}"') for topic in compiled.deck.topics]
    assert starts == sorted(starts)
    for rc in compiled.cards:
        position = page.html.index(f'data-note="{html.escape(rc.card.id)}"')
        section = max(i for i, start in enumerate(starts) if start < position)
        assert compiled.deck.topics[section].key == rc.topic
    assert card_css() in page.html  # the packages' CSS, byte for byte


def test_page_loads_nothing_from_the_network():
    page = preview_page(compile_deck(CARDS)).html
    assert not re.search(r"<link\b|@import|url\(|https?://[^\s\"'<]*\.(?:js|css|woff)", page)
    # The one script file is MathJax, copied beside the page.
    assert re.findall(r'<script[^>]*\bsrc="([^"]+)"', page) == [MATHJAX_FILE]
    css = card_css()
    assert "url(" not in css and "@import" not in css and "http" not in css


def test_night_rules_match_both_ankidroid_and_desktop_class_names():
    css = re.sub(r"/\*.*?\*/", "", card_css(), flags=re.DOTALL)
    for selectors in re.findall(r"([^{}]+)\{", css):
        assert selectors.count(".night_mode") == selectors.count(".nightMode"), selectors.strip()
    assert ".card.night_mode" in css and ".night_mode .card" in css


def test_write_preview_puts_media_beside_the_page_and_drops_stale_copies(tmp_path):
    out = tmp_path / "build"
    stale = out / "preview" / "old-diagram-0123456789ab.svg"
    stale.parent.mkdir(parents=True)
    stale.write_text("<svg/>")
    mine = out / "preview" / "notes.txt"  # not ours: left alone
    mine.write_text("keep")
    killed = out / "preview" / ".index.html.x1y2.tmp"  # left by a preview killed midway
    killed.write_text("<html")
    result = write_preview(CARDS, out)
    page = result.path.read_text(encoding="utf-8")
    assert result.path == out / "preview" / "index.html"
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert images
    for name in images:
        assert (out / "preview" / name).is_file()
    assert not stale.exists() and mine.read_text() == "keep"
    assert not list((out / "preview").glob(".*.tmp"))


def test_cli_preview_prints_the_page_and_counts(tmp_path):
    topic = yaml.safe_dump(
        {
            "deck": "Basics",
            "cards": [
                {"id": "a", "front": "Q", "back": "A"},
                {"id": "b", "type": "cloze", "text": "{{c1::x}} {{c2::y}}"},
            ],
        }
    )
    cards = write_deck(tmp_path / "cards", {"basics": topic})
    result = CliRunner().invoke(main, ["preview", "--cards", str(cards), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    page = tmp_path / "out" / "preview" / "index.html"
    assert result.output == f"Preview: {page} (2 notes, 3 cards)\n"
    assert page.is_file()


def test_cli_preview_on_bad_cards_reports_and_writes_nothing(tmp_path):
    cards = write_deck(tmp_path / "cards", {"bad": "deck: Bad\ncards:\n  - id: x\n    front: Q\n"})
    result = CliRunner().invoke(main, ["preview", "--cards", str(cards), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "bad.yaml:3:" in result.output
    assert not (tmp_path / "out" / "preview" / "index.html").exists()


def test_preview_takes_what_the_build_rendered_from_its_cache(real_cards, tmp_path):
    out = tmp_path / "out"
    build(real_cards, out, now=1_800_000_000)
    assert write_preview(real_cards, out).fields_rendered == 0
    topic = real_cards / "ecr.yaml"
    topic.write_text(topic.read_text(encoding="utf-8").replace("    front: ", "    front: Edited ", 1))
    assert write_preview(real_cards, out).fields_rendered == 1
    assert write_preview(real_cards, out).fields_rendered == 0  # kept for the next command
    assert build(real_cards, out, now=1_800_000_060).work.fields_rendered == ()


def test_a_preview_after_an_edit_makes_only_the_edited_decks_part_again(real_cards, tmp_path):
    out = tmp_path / "out"
    first = write_preview(real_cards, out)
    topics = [topic.key for topic in compile_deck(real_cards).deck.topics]
    assert sorted(first.sections_made) == sorted(topics)
    again = write_preview(real_cards, out)
    assert again.sections_made == () and again.cards == first.cards
    topic = real_cards / "ecr.yaml"
    topic.write_text(topic.read_text(encoding="utf-8").replace("    front: ", "    front: Edited ", 1))
    edited = write_preview(real_cards, out)
    assert edited.sections_made == ("ecr",)
    # The very page a preview without the cache writes.
    fresh = write_preview(real_cards, tmp_path / "fresh")
    assert edited.path.read_bytes() == fresh.path.read_bytes()
    assert b"Edited " in edited.path.read_bytes()


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_preview_after_an_edit_compiles_only_the_edited_topic(real_cards, tmp_path):
    out = tmp_path / "out"
    build(real_cards, out, now=1_800_000_000)
    first = write_preview(real_cards, out)
    assert len(first.topics_compiled) == len(list(real_cards.glob("*.yaml"))) - 1  # (all but deck.yaml)
    again = write_preview(real_cards, out)
    assert again.topics_compiled == () and again.sections_made == ()
    assert again.path.read_bytes() == first.path.read_bytes()
    _edit(real_cards / "ecr.yaml", "    front: ", "    front: Edited ")
    edited = write_preview(real_cards, out)
    assert edited.topics_compiled == ("ecr",) and edited.sections_made == ("ecr",)
    assert edited.fields_rendered == 1
    fresh = write_preview(real_cards, tmp_path / "fresh")
    assert (edited.notes, edited.cards) == (fresh.notes, fresh.cards) == (first.notes, first.cards)
    assert edited.path.read_bytes() == fresh.path.read_bytes()
    assert b"Edited " in edited.path.read_bytes()
    # The media of the topics not compiled are still beside the page.
    assert {p.name for p in edited.path.parent.iterdir()} == {p.name for p in fresh.path.parent.iterdir()}
    # What the build cached of the other topics is still there for the next build, and
    # the preview's reading and rendering of the edited one too.
    work = build(real_cards, out, now=1_800_000_060).work
    assert work.topics_read == () and work.fields_rendered == ()


CHANGES = {
    # what the author changed -> a change made to the copy of the deck
    "an image's bytes": lambda cards: (cards / "media" / "sidecar-bind-mount.svg").write_text(
        (cards / "media" / "sidecar-bind-mount.svg")
        .read_text(encoding="utf-8")
        .replace("<svg", "<svg id='x'", 1),
        encoding="utf-8",
    ),
    "the deck's title": lambda cards: _edit(cards / "deck.yaml", "deck: ", "deck: Renamed "),
    "a topic's title": lambda cards: _edit(cards / "ecr.yaml", "deck: ", "deck: Renamed "),
    "a card added": lambda cards: _edit(
        cards / "ecr.yaml", "cards:\n", "cards:\n  - id: ecr-new-card\n    front: New?\n    back: Yes.\n"
    ),
    "a card id that another topic has": lambda cards: _edit(
        cards / "ecr.yaml",
        "cards:\n",
        "cards:\n  - id: " + _first_id(cards / "eks.yaml") + "\n    front: Q\n    back: A\n",
    ),
    "a topic removed": lambda cards: (cards / "eks.yaml").unlink(),
    "a topic added": lambda cards: (cards / "zz-new.yaml").write_text(
        "deck: New topic\ncards:\n  - id: zz-one\n    front: Q\n    back: A\n", encoding="utf-8"
    ),
    "a broken card": lambda cards: _edit(cards / "ecr.yaml", "    front: ", "    frnt: "),
    "a comment only": lambda cards: _edit(cards / "ecr.yaml", "cards:\n", "# a comment\ncards:\n"),
    "every topic file": lambda cards: [
        _edit(path, "    front: ", "    front: Edited ")
        for path in cards.glob("*.yaml")
        if path.name != "deck.yaml"
    ],
}


def _first_id(path):
    return re.search(r"- id: (\S+)", path.read_text(encoding="utf-8")).group(1)


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_preview_after_any_change_is_the_preview_without_the_cache(real_cards, tmp_path, change):
    """Whatever changed, the page (or the error) is what a preview from nothing gives."""
    out = tmp_path / "out"
    write_preview(real_cards, out)
    CHANGES[change](real_cards)
    outcomes = []
    for folder in (out, tmp_path / "fresh"):
        try:
            result = write_preview(real_cards, folder)
            outcomes.append((result.path.read_bytes(), result.notes, result.cards, result.warnings))
        except DeckError as error:
            outcomes.append([(str(p.location), p.message) for p in error.problems])
    assert outcomes[0] == outcomes[1]
    if change == "a comment only":
        assert write_preview(real_cards, out).topics_compiled == ()  # (the next one keeps it all)
