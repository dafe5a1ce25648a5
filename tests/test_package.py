"""package.py and package_database.py write the database genanki itself would write,
row for row but for note and card ids, which are each deck's own (first_ids)."""

import itertools
import json
import sqlite3
import sys
import zipfile
from pathlib import Path

import genanki
import pytest

from deckgen import package as package_module
from deckgen.compile import compile_deck
from deckgen.identity import identify
from deckgen.lock import Lock
from deckgen.package import plan_packages, write_package
from deckgen.package_database import first_ids

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


def _rows(database: bytes, path: Path) -> dict:
    """What a package's database holds, with notes named by GUID instead of their ids."""
    path.write_bytes(database)
    connection = sqlite3.connect(path)
    try:
        guids = dict(connection.execute("SELECT id, guid FROM notes"))
        notes = sorted(row[1:] for row in connection.execute("SELECT * FROM notes"))
        cards = sorted((guids[row[1]], *row[2:]) for row in connection.execute("SELECT * FROM cards"))
        col = list(connection.execute("SELECT * FROM col").fetchone())
        for index in (9, 10):  # models and decks: JSON, compared as values
            col[index] = json.loads(col[index])
        counts = [connection.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("notes", "cards")]
        schema = sorted(connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        return {"notes": notes, "cards": cards, "col": col, "counts": counts, "schema": schema}
    finally:
        connection.close()


@pytest.mark.parametrize("database", ["in memory", "scratch file"])
@pytest.mark.parametrize("deck", ["real", "generated"])
def test_database_holds_what_genanki_writes(deck, database, tmp_path, monkeypatch):
    """Tables, indexes and rows, whether the package's database was made in memory (a
    small package) or in a scratch file (a large one)."""
    monkeypatch.setattr(package_module, "IN_MEMORY_NOTES", 10**9 if database == "in memory" else -1)
    cards_dir = CARDS
    if deck == "generated":
        cards_dir = tmp_path / "cards"
        generate(cards_dir, 400)  # every card type, cloze with two deletions, tags, images
    jobs = plan_packages(identify(compile_deck(cards_dir), Lock(), 1_800_000_000))
    for index, job in enumerate(jobs):
        write_package(tmp_path / f"ours-{index}.apkg", job)
        with zipfile.ZipFile(tmp_path / f"ours-{index}.apkg") as archive:
            ours = archive.read("collection.anki2")
        theirs = _genanki_database(tmp_path / f"genanki-{index}.db", job)
        assert _rows(ours, tmp_path / "ours.db") == _rows(theirs, tmp_path / "theirs.db")
        again = tmp_path / f"again-{index}.apkg"
        write_package(again, job)
        assert again.read_bytes() == (tmp_path / f"ours-{index}.apkg").read_bytes()


def test_each_deck_has_ids_of_its_own():
    # Ten decks changed at the same time, of 300 notes and cards each: one stride apart.
    firsts = first_ids([1_800_000_000] * 10, [300] * 10)
    assert firsts == [1_800_000_000_000 + index * 1000 for index in range(10)]
    # Deck 4 changed 5 seconds later: it asks for 5000 + 4000 ms on, where deck 9's block is;
    # the older deck keeps its block and deck 4 starts after the last block.
    moved = first_ids([1_800_000_000] * 4 + [1_800_000_005] + [1_800_000_000] * 5, [300] * 10)
    assert moved[:4] + moved[5:] == firsts[:4] + firsts[5:]
    assert moved[4] == firsts[9] + 300
    # A deck larger than the stride: the stride doubles until it fits; no two blocks overlap.
    mods, sizes = [1_800_000_000 + i % 3 for i in range(30)], [2500 if i == 7 else 40 for i in range(30)]
    firsts = first_ids(mods, sizes)
    blocks = sorted((first, first + size) for first, size in zip(firsts, sizes, strict=True))
    assert all(end <= next_first for (_f, end), (next_first, _e) in zip(blocks, blocks[1:], strict=False))
    # Every id fits in JavaScript's integers (AnkiDroid, AnkiWeb).
    assert all(0 < first and first + size < 2**53 for first, size in zip(firsts, sizes, strict=True))
