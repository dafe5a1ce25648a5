"""Each topic's part of the preview page, kept between previews (`build/.cache/preview/`).

A section is kept under two keys:

- `key`, a hash of everything it shows (`section_keys`): a topic compiled again to the
  same cards takes its section from here rather than run its notes through the templates;
- `inputs`, a hash of what it was compiled from (deckgen's code, deck.yaml as read, the
  topic file's bytes and its place among the topics), with the media files it shows and
  their sha256. A topic whose inputs and media are unchanged is not compiled at all
  (`compile_edited`): after a one-card edit, only the edited topic is read and rendered.

The second needs what the cross-topic checks of read_deck would see to be what the last
preview saw: each edited topic keeps its title, card ids and retired entries, and no
kept topic had a warning. Anything else compiles the whole deck, which says what changed.
"""

from __future__ import annotations

import hashlib
import marshal
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .cache import FIELDS_DIR, SECTIONS_DIR, TOPICS_DIR, BuildCache
from .cache_files import read_document
from .cache_keys import code_fingerprint
from .cards import Deck, Topic
from .compile import CompiledDeck, deck_files
from .errors import Problems, display_path
from .rebuild import config_key, retired_key
from .render import MediaFile, MediaFiles, render_deck, render_fields
from .validate import check_cards_of_own_types, read_topic_file


@dataclass(frozen=True)
class Section:
    """One deck's part of the page, as `preview_page` made it."""

    html: str
    notes: int
    cards: int
    media: tuple[MediaFile, ...] = ()  # the files it shows (kept sections only)


@dataclass(frozen=True)
class Edited:
    """The deck compiled the quick way: only the edited topics' cards are in `compiled`
    (the others are there with their titles, and no cards); theirs are in `kept`."""

    compiled: CompiledDeck
    kept: dict[str, Section]


def compile_edited(cards_dir: Path, cache: BuildCache) -> Edited | None:
    """The deck with only the topics edited since the last preview compiled, or None
    where the whole deck must be (nothing is written either way)."""
    try:
        return _compile_edited(cards_dir, cache)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError):
        return None  # a section file of another shape (its checksum holds, its content does not)


def _compile_edited(cards_dir: Path, cache: BuildCache) -> Edited | None:
    problems = Problems()
    config, files = deck_files(cards_dir, problems)
    if problems.items or not files:
        return None
    deck_key = config_key(config)
    media = MediaFiles(cards_dir)
    kept: dict[str, Section] = {}
    titles: dict[str, str] = {}
    edited: list[tuple[str, Path, dict]] = []
    for index, (key, path) in enumerate(files):
        source = cache.source_of(key, path)
        document = read_document(cache.shard(SECTIONS_DIR, key))
        if source is None or not document.get("clean"):
            return None
        titles[key] = document["title"]
        section = section_from(document)
        if document.get("inputs") == _inputs(deck_key, source, index, len(files)) and section is not None:
            items = tuple(MediaFile(Path(file), name) for file, name, _digest in document["media"])
            if all(media.digest(Path(file)) == digest for file, _name, digest in document["media"]):
                kept[key] = Section(section.html, section.notes, section.cards, items)
                for kind in (SECTIONS_DIR, TOPICS_DIR, FIELDS_DIR):  # (what a build of it keeps too)
                    cache.keep(cache.shard(kind, key))
                continue
        edited.append((key, path, document))
    if len(edited) > len(files) // 2:
        return None  # (the whole deck's compile reads and renders on every core)
    read = cache.topic_reader(read_topic_file)
    fresh: dict[str, Topic] = {}
    for key, path, document in edited:
        topic = read(key, path, problems)
        if topic is None or problems.items or _outline(topic) != _outline_of(document):
            return None
        fresh[key] = topic
    topics = tuple(
        fresh.get(key) or Topic(key, titles[key], path, display_path(path), (), ()) for key, path in files
    )
    edited_deck = Deck(config, tuple(fresh.values()), cards_dir)
    check_cards_of_own_types(edited_deck, problems)
    render = cache.field_renderer(partial(render_fields, cards_dir), media)
    cards = render_deck(edited_deck, problems, render)
    if problems.items:
        return None
    return Edited(CompiledDeck(Deck(config, topics, cards_dir), cards, []), kept)


def section_keys(compiled: CompiledDeck) -> dict[str, str]:
    """Per topic, a hash of everything its section of the page shows: deckgen's code,
    the deck's name, and each note's id, type, fields and tags with its note type."""
    cards_by_topic = compiled.cards_by_topic()
    keys = {}
    for topic in compiled.deck.topics:
        notes = cards_by_topic[topic.key]
        types = []
        for key in sorted({rc.card.type for rc in notes}):
            spec = compiled.note_types[key]
            types.append((key, spec.label, spec.fields, spec.templates, spec.style(), spec.is_cloze))
        head = (code_fingerprint(), topic.key, topic.title, compiled.deck_name(topic.key), types)
        digest = hashlib.sha256(repr(head).encode("utf-8"))
        # (marshal's version 0: equal values, equal bytes; one call, not a repr per note)
        digest.update(
            marshal.dumps([(rc.card.id, rc.card.type, list(rc.fields.items()), rc.tags) for rc in notes], 0)
        )
        keys[topic.key] = digest.hexdigest()
    return keys


def section_document(
    compiled: CompiledDeck, cache: BuildCache, key: str, section: Section, shows: str, media: MediaFiles
) -> dict:
    """What the cache keeps of the section of topic `key`; `shows` is its `section_keys`."""
    topics = compiled.deck.topics
    index, topic = next((i, t) for i, t in enumerate(topics) if t.key == key)
    items = {item.name: item for rc in compiled.cards_by_topic()[key] for item in rc.media}
    warned = any(problem.location.path == topic.display for problem in compiled.warnings)
    source = cache.source_of(key, topic.path) or ""
    return {
        "key": shows,
        "html": section.html,
        "notes": section.notes,
        "cards": section.cards,
        "inputs": _inputs(config_key(compiled.deck.config), source, index, len(topics)),
        "media": [
            [str(item.source), name, media.digest(item.source)] for name, item in sorted(items.items())
        ],
        "clean": bool(source) and not warned,
        **_outline_document(topic),
    }


def section_from(document: dict) -> Section | None:
    html_text, notes, cards = document.get("html"), document.get("notes"), document.get("cards")
    if isinstance(html_text, str) and isinstance(notes, int) and isinstance(cards, int):
        return Section(html_text, notes, cards)
    return None


def _inputs(deck_key: str, source: str, index: int, count: int) -> str:
    parts = (code_fingerprint(), deck_key, source, index, count)
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


def _outline(topic: Topic) -> tuple:
    """What read_deck's checks across topics see of a topic: its title, card ids and
    retired entries."""
    return (topic.title, [card.id for card in topic.cards], retired_key(topic))


def _outline_document(topic: Topic) -> dict:
    title, ids, retired = _outline(topic)
    return {"title": title, "ids": ids, "retired": retired}


def _outline_of(document: dict) -> tuple:
    return (document["title"], document["ids"], document["retired"])
