"""A real Anki collection for tests: the `anki` package's Rust backend, no mocks.

Imports go through `Collection.import_anki_package` with Anki's default options
(update notes and note types "if newer"), as Anki desktop's import screen does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from anki.import_export_pb2 import IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER


@dataclass(frozen=True)
class ImportLog:
    new: int
    updated: int
    duplicate: int
    conflicting: int

    @property
    def counts(self) -> dict[str, int]:
        return {
            "new": self.new,
            "updated": self.updated,
            "duplicate": self.duplicate,
            "conflicting": self.conflicting,
        }


class AnkiCollection:
    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.col = Collection(str(folder / "collection.anki2"))

    def close(self) -> None:
        self.col.close()

    def import_package(self, path: Path) -> ImportLog:
        options = ImportAnkiPackageOptions(
            update_notes=IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER,
            update_notetypes=IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER,
            with_scheduling=False,
            with_deck_configs=False,
            merge_notetypes=False,
        )
        result = self.col.import_anki_package(
            ImportAnkiPackageRequest(package_path=str(path), options=options)
        )
        log = result.log
        return ImportLog(len(log.new), len(log.updated), len(log.duplicate), len(log.conflicting))

    # -- reading the collection back -------------------------------------------------

    def notes(self) -> dict[str, dict]:
        """guid -> {id, fields (by name), tags, notetype, mod, decks}"""
        out = {}
        for note_id in self.col.find_notes(""):
            note = self.col.get_note(note_id)
            notetype = note.note_type()
            out[note.guid] = {
                "id": note.id,
                "fields": dict(zip([f["name"] for f in notetype["flds"]], note.fields, strict=True)),
                "tags": list(note.tags),
                "notetype": notetype["name"],
                "notetype_id": notetype["id"],
                "mod": note.mod,
                "decks": sorted({self.col.decks.name(card.did) for card in note.cards()}),
            }
        return out

    def notes_by_card_id(self) -> dict[int, str]:
        """note id -> deckgen card id (the note's ID field)"""
        return {n["id"]: n["fields"]["ID"] for n in self.notes().values()}

    def deck_names(self) -> set[str]:
        return {d.name for d in self.col.decks.all_names_and_ids()} - {"Default"}

    def deck_ids(self) -> dict[str, int]:
        return {d.name: d.id for d in self.col.decks.all_names_and_ids()}

    def notetypes(self) -> dict[str, int]:
        return {n.name: n.id for n in self.col.models.all_names_and_ids()}

    def card_count(self) -> int:
        return len(self.col.find_cards(""))

    def cards_by_deck(self) -> Counter:
        return Counter(self.col.decks.name(self.col.get_card(cid).did) for cid in self.col.find_cards(""))

    def new_queue_order(self) -> list[str]:
        """Note guids of new cards in the order Anki will introduce them (by due)."""
        rows = self.col.db.all(
            "select n.guid, c.due, c.ord from cards c join notes n on n.id = c.nid"
            " where c.type = 0 order by c.due, c.ord"
        )
        order = []
        for guid, _due, _ord in rows:
            if guid not in order:
                order.append(guid)
        return order


def read_package(path: Path) -> dict:
    """What an .apkg holds, read straight from its SQLite file: guids, decks, note types."""
    import json
    import sqlite3
    import tempfile
    import zipfile

    with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as folder:
        db = Path(archive.extract("collection.anki2", folder))
        connection = sqlite3.connect(db)
        try:
            guids = {guid: mod for guid, mod in connection.execute("select guid, mod from notes")}
            decks_json, models_json = connection.execute("select decks, models from col").fetchone()
        finally:
            connection.close()
        media = json.loads(archive.read("media"))
    decks = {d["name"]: int(d["id"]) for d in json.loads(decks_json).values()}
    models = {m["name"]: int(m["id"]) for m in json.loads(models_json).values()}
    return {"guids": guids, "decks": decks, "note_types": models, "media": media}


def review_some(collection: AnkiCollection, count: int) -> dict[int, tuple]:
    """Study `count` cards through Anki's own scheduler ("Easy"), as a learner would.

    Returns card id -> (due, interval, reps, revlog entries) after the reviews.
    """
    scheduler = collection.col.sched
    roots = [
        d for d in collection.col.decks.all_names_and_ids() if d.name != "Default" and "::" not in d.name
    ]
    collection.col.decks.select(roots[0].id)
    reviewed = []
    for _ in range(count):
        card = scheduler.getCard()
        assert card is not None, "no card left to study"
        card.start_timer()
        scheduler.answerCard(card, 4)
        reviewed.append(card.id)
    return {card_id: schedule_of(collection, card_id) for card_id in reviewed}


def schedule_of(collection: AnkiCollection, card_id: int) -> tuple:
    card = collection.col.get_card(card_id)
    revlog = collection.col.db.scalar("select count() from revlog where cid = ?", card_id)
    return (card.due, card.ivl, card.reps, revlog)
