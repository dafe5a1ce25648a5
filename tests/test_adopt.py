"""`deckgen import`: a deck made elsewhere, adopted so that its learners keep everything.

The deck is real: written by genanki with its own note types (a basic and a cloze one,
with their own templates and CSS), random GUIDs, two subdecks under one top deck, an
image and tags. A learner imports it into a real Anki collection and studies; the deck
is adopted from that package, and from Anki's own modern export of it, and built by
deckgen; the learner imports what deckgen built, as they would import an update.
"""

from __future__ import annotations

from pathlib import Path

import genanki
import pytest
import yaml
from anki.collection import DeckIdLimit, ExportAnkiPackageOptions
from click.testing import CliRunner

from deckgen.adopt import adopt_package
from deckgen.adopt_fields import html_opt_ins, media_url, refused_html
from deckgen.adopt_files import quoted
from deckgen.anki_package import read_anki_package
from deckgen.cli import main
from deckgen.errors import display_path
from deckgen.load import LOADER_VARIABLE, read_source

from anki_collection import AnkiCollection, review_some, schedule_of

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415478da63f8cfc000000301010018dd8db00000000049454e44ae426082"
)
MOD = 1_700_000_000
BASIC = genanki.Model(
    1500000001,
    "Basic",  # the name of Anki's own note type: its key must not be deckgen's `basic`
    fields=[{"name": "Front"}, {"name": "Back"}],
    templates=[
        {
            "name": "Card 1",
            "qfmt": "<div class=q>{{Front}}</div>",
            "afmt": "{{FrontSide}}<hr id=answer>{{Back}}",
        }
    ],
    css=".card { font-family: Georgia; }\r\n.q { color: navy; }",
)
CLOZE = genanki.Model(
    1500000002,
    "Spanish Cloze",
    fields=[{"name": "Text"}, {"name": "Extra"}],
    templates=[{"name": "Cloze", "qfmt": "{{cloze:Text}}", "afmt": "{{cloze:Text}}<br>{{Extra}}"}],
    css=".cloze { color: teal; }",
    model_type=genanki.Model.CLOZE,
)
NOTES = {
    # deck: [(model, fields, tags, guid or None for genanki's default)]
    "Spanish::Verbs": [
        (BASIC, ["to be (permanent)", "ser"], ["verbs", "irregular"], genanki.guid_for("ser")),
        (BASIC, ["to be (state)", "estar"], ["verbs"], None),
        (CLOZE, ["Yo {{c1::soy}} de Madrid.", "ser"], [], None),
    ],
    "Spanish::Nouns": [
        (BASIC, ["the dog", 'el perro<br><img src="dog.png">'], ["animals"], None),
        (BASIC, ["the dog", 'el <font color="red">can</font> (rare)'], ["animals"], None),
        (BASIC, ['<span style="color: red">the house</span>', "la casa"], [], None),
    ],
}


def write_spanish(path: Path, notes: dict = NOTES) -> Path:
    """The deck as genanki writes it (a legacy collection.anki2 package)."""
    (path.parent / "dog.png").write_bytes(PNG)
    decks = [genanki.Deck(1600000000, "Spanish", description="Learn <b>Spanish</b>.")]
    for number, (name, entries) in enumerate(notes.items(), start=1):
        deck = genanki.Deck(1600000000 + number, name)
        for model, fields, tags, guid in entries:
            extra = {} if guid is None else {"guid": guid}  # None: genanki's own, a hash of the fields
            deck.add_note(genanki.Note(model, fields, tags=tags, **extra))
        decks.append(deck)
    genanki.Package(decks, media_files=[str(path.parent / "dog.png")]).write_to_file(str(path), timestamp=MOD)
    return path


def anki_modern_export(package: Path, folder: Path) -> Path:
    """`package` imported into a fresh Anki collection, exported again by Anki (modern format)."""
    collection = AnkiCollection(folder / "exporter")
    collection.import_package(package)
    out = folder / "anki-export.apkg"
    options = ExportAnkiPackageOptions(
        with_scheduling=False, with_deck_configs=False, with_media=True, legacy=False
    )
    limit = DeckIdLimit(collection.col.decks.id_for_name("Spanish"))
    collection.col.export_anki_package(out_path=str(out), options=options, limit=limit)
    collection.close()
    return out


@pytest.fixture(scope="module")
def spanish(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("spanish")
    genanki_package = write_spanish(folder / "spanish.apkg")
    return {"genanki": genanki_package, "anki-export": anki_modern_export(genanki_package, folder)}


def run(*args: str):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def topic_file(folder: Path, name: str) -> dict:
    return yaml.safe_load((folder / f"{name}.yaml").read_text(encoding="utf-8"))


# -- the learner keeps everything ------------------------------------------------------------


@pytest.mark.parametrize("source", ["genanki", "anki-export"])
def test_learners_of_the_adopted_deck_keep_their_notes_and_reviews(spanish, source, anki, tmp_path):
    assert anki.import_package(spanish["genanki"]).counts == {
        "new": 6,
        "updated": 0,
        "duplicate": 0,
        "conflicting": 0,
    }
    reviewed = review_some(anki, 3)
    before = anki.notes()

    adopted = tmp_path / "adopted"
    result = run("import", spanish[source], "--cards", adopted)
    assert result.exit_code == 0, result.output
    assert f"deckgen build --cards {adopted}" in result.output
    built = run("build", "--cards", adopted, "--out", tmp_path / "build")
    assert built.exit_code == 0, built.output
    assert "0 added, 0 changed, 0 removed" in built.output

    log = anki.import_package(tmp_path / "build" / "spanish.apkg")
    assert (log.new, log.conflicting, log.updated) == (0, 0, 0)
    after = anki.notes()
    assert after == before  # same notes, fields, tags, note types and decks
    assert {card_id: schedule_of(anki, card_id) for card_id in reviewed} == reviewed
    assert anki.deck_names() == {"Spanish", "Spanish::Verbs", "Spanish::Nouns"}

    # An edit of one card reaches the learner, and only that one.
    verbs = adopted / "verbs.yaml"
    text = verbs.read_text(encoding="utf-8")
    assert text.count('"Back": "estar"') == 1
    verbs.write_text(text.replace('"Back": "estar"', '"Back": "estar (to be, a state)"'), encoding="utf-8")
    assert run("build", "--cards", adopted, "--out", tmp_path / "build").exit_code == 0
    log = anki.import_package(tmp_path / "build" / "spanish.apkg")
    assert (log.new, log.updated, log.conflicting) == (0, 1, 0)
    edited = anki.notes()
    changed = [guid for guid in edited if edited[guid]["fields"] != before[guid]["fields"]]
    assert len(changed) == 1
    assert edited[changed[0]]["fields"] == {"Front": "to be (state)", "Back": "estar (to be, a state)"}
    assert {card_id: schedule_of(anki, card_id) for card_id in reviewed} == reviewed
    assert len(edited) == 6


def test_the_adopted_folder_keeps_guids_note_types_tags_and_media(spanish, tmp_path):
    adopted = tmp_path / "adopted"
    adoption = adopt_package(spanish["genanki"], adopted)
    package = read_anki_package(spanish["genanki"])

    assert (adoption.notes, adoption.cards, adoption.media) == (6, 6, 1)
    config = yaml.safe_load((adopted / "deck.yaml").read_text(encoding="utf-8"))
    assert (config["deck"], config["namespace"], config["number_topics"]) == ("Spanish", "spanish", False)
    assert config["topics"] == ["nouns", "verbs"]  # Anki's order of the deck names
    basic, cloze = config["note_types"]
    assert (basic["key"], basic["name"], basic["id"], basic["kind"]) == (
        "basic-note",
        "Basic",
        1500000001,
        "standard",
    )
    assert (cloze["key"], cloze["kind"], cloze["fields"]) == ("spanish-cloze", "cloze", ["Text", "Extra"])
    assert (adopted / basic["css"]).read_bytes() == BASIC.css.encode()  # \r\n kept
    assert (adopted / basic["templates"][0]["back"]).read_text() == "{{FrontSide}}<hr id=answer>{{Back}}"
    assert (adopted / "media" / "dog.png").read_bytes() == PNG

    nouns, verbs = topic_file(adopted, "nouns"), topic_file(adopted, "verbs")
    assert (nouns["deck"], nouns["format"], verbs["deck"]) == ("Nouns", "html", "Verbs")
    cards = {card["guid"]: card for card in nouns["cards"] + verbs["cards"]}
    assert set(cards) == {note.guid for note in package.notes}
    dog = next(card for card in nouns["cards"] if "img" in card["fields"]["Back"])
    assert dog["fields"]["Back"] == 'el perro<br><img src="media/dog.png">'
    assert dog["tags"] == ["animals"] and dog["type"] == "basic-note"
    assert "tags" not in next(card for card in verbs["cards"] if card["type"] == "spanish-cloze")


def test_ids_are_readable_and_unique(spanish, tmp_path):
    adopted = tmp_path / "adopted"
    adopt_package(spanish["genanki"], adopted)
    ids = [card["id"] for name in ("nouns", "verbs") for card in topic_file(adopted, name)["cards"]]
    assert ids == ["the-dog", "the-dog-2", "the-house", "to-be-permanent", "to-be-state", "yo-soy-de-madrid"]


def test_the_lock_keeps_the_packages_change_times(spanish, tmp_path):
    adopted = tmp_path / "adopted"
    adopt_package(spanish["genanki"], adopted, now=MOD + 10**6)
    lock = yaml.safe_load((adopted / "deck.lock").read_text(encoding="utf-8"))
    assert {stamp["changed"] for stamp in lock["notes"].values()} == {MOD}
    assert {stamp["changed"] for stamp in lock["note_types"].values()} == {MOD}
    package = read_anki_package(spanish["genanki"])
    assert {key: stamp["changed"] for key, stamp in lock["decks"].items()} == {
        key: next(d.mod for d in package.decks.values() if d.name == name)
        for key, name in (("", "Spanish"), ("nouns", "Spanish::Nouns"), ("verbs", "Spanish::Verbs"))
    }


# -- the HTML the fields need -----------------------------------------------------------------


def test_the_deck_opts_in_to_the_html_its_fields_hold(spanish, tmp_path):
    adopted = tmp_path / "adopted"
    adopt_package(spanish["genanki"], adopted)
    config = yaml.safe_load((adopted / "deck.yaml").read_text(encoding="utf-8"))
    assert config["html"] == {"allow": ["font", "style-attributes"]}


def test_html_opt_ins_are_only_what_is_needed_and_never_scripts():
    assert html_opt_ins(["<b>plain</b>", "<div>x</div><br>"]) == ()
    assert html_opt_ins(['<span style="color: red">x</span>']) == ("style-attributes",)
    assert html_opt_ins(['<font color="red">x</font>', '<img src="media/x.png" id="x">']) == ("font", "img")
    scripts = [
        "<script>alert(1)</script>",
        '<img src="x.png" onerror="alert(1)">',
        '<a href="javascript:go()">x</a>',
    ]
    scripts.append('<iframe src="https://example.com"></iframe>')
    assert html_opt_ins(scripts) == ()
    notices = refused_html(
        [("c1", "Front", scripts[0]), ("c2", "Back", scripts[1]), ("c3", "Back", "<b>ok</b>")], ()
    )
    assert [(n.card_id, n.field) for n in notices] == [("c1", "Front"), ("c2", "Back")]
    assert all("deckgen will refuse it: edit the card" in n.message for n in notices)


def test_a_card_with_a_script_is_written_and_named(tmp_path):
    notes = {
        "Spanish::Verbs": [
            (BASIC, ["to go", "ir<script>alert(1)</script>"], [], "g-script"),
            NOTES["Spanish::Verbs"][1],
        ]
    }
    package = write_spanish(tmp_path / "scripted.apkg", notes)
    adopted = tmp_path / "adopted"
    result = run("import", package, "--cards", adopted)
    assert result.exit_code == 0, result.output
    shown = display_path(adopted / "verbs.yaml")  # as messages show paths, from where the test runs
    assert f"{shown}:9:1: warning: card 'to-go': `<script>` is not allowed" in result.output
    assert "deckgen will refuse it: edit the card" in result.output
    assert "<script>alert(1)</script>" in (adopted / "verbs.yaml").read_text(encoding="utf-8")
    lock = yaml.safe_load((adopted / "deck.lock").read_text(encoding="utf-8"))
    assert set(lock["notes"]) == {"to-be-state"}  # the refused card is stamped when it is fixed


# -- refusals ---------------------------------------------------------------------------------


def test_a_folder_that_holds_files_is_refused(spanish, tmp_path):
    adopted = tmp_path / "adopted"
    adopted.mkdir()
    (adopted / "notes.txt").write_text("mine")
    result = run("import", spanish["genanki"], "--cards", adopted)
    assert result.exit_code == 1
    assert f"{adopted}: already holds files" in result.output
    assert [p.name for p in adopted.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adopted"]


def test_an_empty_folder_is_used(spanish, tmp_path):
    adopted = tmp_path / "adopted"
    adopted.mkdir()
    assert run("import", spanish["genanki"], "--cards", adopted).exit_code == 0
    assert (adopted / "deck.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adopted"]


def test_a_broken_package_is_refused_and_nothing_written(tmp_path):
    broken = tmp_path / "broken.apkg"
    broken.write_bytes(b"PK\x03\x04 not really a zip" * 10)
    result = run("import", broken, "--cards", tmp_path / "adopted")
    assert result.exit_code == 1
    assert result.output.startswith(f"{broken}: ")
    assert "nothing was written" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.apkg"]


def test_cards_directly_in_the_top_deck_are_refused(tmp_path):
    package = write_spanish(tmp_path / "top.apkg", {"Spanish": NOTES["Spanish::Verbs"]})
    result = run("import", package, "--cards", tmp_path / "adopted")
    assert result.exit_code == 1
    assert (
        "3 notes directly in the top deck 'Spanish': deckgen needs them in subdecks; "
        "move them to a subdeck in Anki first" in result.output
    )
    assert not (tmp_path / "adopted").exists()


def test_two_top_decks_are_refused(tmp_path):
    two = {"Spanish::Verbs": NOTES["Spanish::Verbs"][:1], "French::Verbs": NOTES["Spanish::Verbs"][1:]}
    package = write_spanish(tmp_path / "two.apkg", two)
    result = run("import", package, "--cards", tmp_path / "adopted")
    assert result.exit_code == 1
    assert "cards in 2 top decks ('French', 'Spanish'): deckgen adopts one deck at a time" in result.output


# -- what is written reads back exactly -------------------------------------------------------


@pytest.mark.parametrize("loader", ["c", "pure"])
def test_field_values_read_back_exactly(tmp_path, monkeypatch, loader):
    nasty = 'a "quote" \\ back\r\nnew\tline \x85 \u2028 \u2029 \ufeff \x7f \x9f : # {x} [y] é 日本 \U0001f600'
    path = tmp_path / "t.yaml"
    path.write_text(f"value: {quoted(nasty)}\n", encoding="utf-8")
    monkeypatch.setenv(LOADER_VARIABLE, "pure" if loader == "pure" else "c")
    from deckgen.errors import Problems

    source = read_source(path, "t.yaml", Problems())
    assert source.root.value[0][1].value == nasty


def test_media_names_read_back_as_urls():
    from urllib.parse import unquote, urlparse

    for name in ["dog.png", "my dog.png", "100%.png", "what?.png", "a#b.png", "a;b.png", " lead.png"]:
        assert unquote(urlparse(f"media/{media_url(name)}").path) == f"media/{name}"
    assert media_url("my dog é.png") == "my dog é.png"


def test_a_deck_deckgen_cannot_build_leaves_nothing(tmp_path):
    broken = genanki.Model(
        1500000009,
        "Broken",
        fields=[{"name": "Front"}, {"name": "Back"}],
        templates=[{"name": "Card 1", "qfmt": "{{Front}}{{Nope}}", "afmt": "{{Back}}"}],
    )
    package = write_spanish(tmp_path / "broken.apkg", {"Spanish::Verbs": [(broken, ["a", "b"], [], None)]})
    for adopted in (tmp_path / "new", tmp_path / "empty"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        result = run("import", package, "--cards", adopted)
        assert result.exit_code == 1
        assert f"{display_path(adopted)}: deckgen cannot build the deck it adopted, because:" in result.output
        assert f"{display_path(adopted / 'deck.yaml')}:16:16: template 'Card 1' names 'Nope'" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.apkg", "dog.png", "empty"]
    assert list((tmp_path / "empty").iterdir()) == []
