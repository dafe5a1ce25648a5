"""package.py writes, row for row, the database genanki itself would write."""

import itertools
import sqlite3
import sys
import zipfile
from pathlib import Path

import genanki
import pytest

from deckgen.compile import compile_deck
from deckgen.identity import identify
from deckgen.lock import Lock
from deckgen.package import plan_packages, write_package

from conftest import CARDS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from generate import generate  # noqa: E402


class _Model(genanki.Model):
    def __init__(self, *args, mod: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.mod = mod

    def to_json(self, timestamp, deck_id):
        return super().to_json(self.mod, deck_id)


class _GenankiDeck(genanki.Deck):
    def __init__(self, *args, mod: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.mod = mod

    def to_json(self):
        return super().to_json() | {"mod": self.mod}


class _GenankiNote(genanki.Note):
    def __init__(self, *args, mod: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.mod = mod

    def write_to_db(self, cursor, timestamp, deck_id, id_gen):
        super().write_to_db(cursor, self.mod, deck_id, id_gen)


def _model(args) -> _Model:
    return _Model(
        args.id,
        args.name,
        fields=[{"name": name} for name in args.fields],
        templates=[{"name": n, "qfmt": q, "afmt": a} for n, q, a in args.templates],
        css=args.css,
        model_type=genanki.Model.CLOZE if args.is_cloze else genanki.Model.FRONT_BACK,
        mod=args.mod,
    )


def _genanki_database(path: Path, job) -> bytes:
    """The way deckgen wrote packages before: a genanki Note for every note."""
    newest = max([n.mod for d in job.decks for n in d.notes] + [d.mod for d in job.decks] + [0])
    models, decks = {}, []
    for deck in job.decks:
        gdeck = _GenankiDeck(deck.id, deck.name, deck.description, mod=deck.mod)
        for note in deck.notes:
            model = models.setdefault(note.note_type.id, _model(note.note_type))
            gdeck.add_note(
                _GenankiNote(
                    model=model,
                    fields=note.fields,
                    guid=note.guid,
                    tags=list(note.tags),
                    due=note.due,
                    mod=note.mod,
                )
            )
        decks.append(gdeck)
    connection = sqlite3.connect(path)
    genanki.Package(decks).write_to_db(connection.cursor(), newest, itertools.count(newest * 1000))
    connection.commit()
    connection.close()
    return path.read_bytes()


@pytest.mark.parametrize("deck", ["real", "generated"])
def test_database_is_the_one_genanki_writes(deck, tmp_path):
    cards_dir = CARDS
    if deck == "generated":
        cards_dir = tmp_path / "cards"
        generate(cards_dir, 400)  # every card type, cloze with two deletions, tags, images
    jobs = plan_packages(identify(compile_deck(cards_dir), Lock(), 1_800_000_000))
    for index, job in enumerate(jobs):
        write_package(tmp_path / f"ours-{index}.apkg", job)
        with zipfile.ZipFile(tmp_path / f"ours-{index}.apkg") as archive:
            ours = archive.read("collection.anki2")
        assert ours == _genanki_database(tmp_path / f"genanki-{index}.db", job)
