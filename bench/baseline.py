"""The baseline: the straightforward pipeline deckgen is measured against.

One plain script with the same libraries deckgen uses: PyYAML's C loader, one reused
Python-Markdown instance with the same extensions, and genanki. It loads every file,
renders every field, makes the notes and writes one package of the whole deck. It
checks nothing, keeps no lock and writes no topic packages: it is the floor of what
"YAML + Markdown -> .apkg" costs in Python.

    python bench/baseline.py CARDS_DIR OUT.apkg
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import genanki
import markdown
import yaml

FIELDS = {
    "basic": ("front", "back", "extra"),
    "reversed": ("front", "back"),
    "cloze": ("text", "extra"),
    "type-in": ("front", "back"),
}


def _model(model_id: int, name: str, fields: tuple[str, ...], cloze: bool) -> genanki.Model:
    if cloze:
        templates = [{"name": "Cloze", "qfmt": "{{cloze:Text}}", "afmt": "{{cloze:Text}}<br>{{Extra}}"}]
    else:
        templates = [{"name": "Card 1", "qfmt": "{{Front}}", "afmt": "{{FrontSide}}<hr id=answer>{{Back}}"}]
    return genanki.Model(
        model_id,
        name,
        fields=[{"name": field.capitalize()} for field in fields],
        templates=templates,
        model_type=genanki.Model.CLOZE if cloze else genanki.Model.FRONT_BACK,
    )


def main(cards_dir: Path, out: Path) -> None:
    md = markdown.Markdown(
        extensions=["fenced_code", "tables", "sane_lists", "codehilite"],
        extension_configs={"codehilite": {"css_class": "highlight", "guess_lang": False}},
    )
    models = {
        kind: _model(1_600_000_000 + index, kind, fields, kind == "cloze")
        for index, (kind, fields) in enumerate(FIELDS.items())
    }
    config = yaml.load((cards_dir / "deck.yaml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    root = config["deck"]
    decks = []
    for path in sorted(cards_dir.glob("*.yaml")):
        if path.name == "deck.yaml":
            continue
        topic = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        deck = genanki.Deck(zlib.crc32(path.stem.encode()) + 1, f"{root}::{topic['deck']}")
        for card in topic["cards"]:
            kind = card.get("type", "basic")
            values = []
            for field in FIELDS[kind]:
                md.reset()
                values.append(md.convert(str(card.get(field, ""))))
            tags = topic.get("tags", []) + card.get("tags", [])
            deck.add_note(genanki.Note(models[kind], values, tags=tags, guid=genanki.guid_for(card["id"])))
        decks.append(deck)
    media = [str(path) for path in sorted((cards_dir / "media").glob("*"))]
    genanki.Package(decks, media_files=media).write_to_file(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
