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
from pathlib import Path

from .cache import FIELDS_DIR, SECTIONS_DIR, TOPICS_DIR, BuildCache
from .cache_files import read_document
from .cache_keys import code_fingerprint
from .compile import CompiledDeck, deck_files
from .errors import Problems
from .rebuild import compile_edited_topics, config_key, media_record, media_unchanged, outline
from .render import MediaFile, MediaFiles


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


def compile_edited(cards_dir: Path, cache: BuildCache, media: MediaFiles) -> Edited | None:
    """The deck with only the topics edited since the last preview compiled, or None
    where the whole deck must be (nothing is written either way); `media` hashes the
    media files, once per command."""
    try:
        return _compile_edited(cards_dir, cache, media)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError):
        return None  # a section file of another shape (its checksum holds, its content does not)


def _compile_edited(cards_dir: Path, cache: BuildCache, media: MediaFiles) -> Edited | None:
    problems = Problems()
    config, files = deck_files(cards_dir, problems)
    if problems.items or not files:
        return None
    deck_key = config_key(config)
    kept: dict[str, Section] = {}
    documents: dict[str, dict] = {}
    edited: list[tuple[str, Path]] = []
    for index, (key, path) in enumerate(files):
        source = cache.source_of(key, path)
        document = documents[key] = read_document(cache.shard(SECTIONS_DIR, key))
        if source is None or not document.get("clean"):
            return None
        section = section_from(document)
        same_inputs = document.get("inputs") == _inputs(deck_key, source, index, len(files))
        if same_inputs and section is not None and media_unchanged(document["media"], media):
            items = tuple(MediaFile(Path(file), name) for file, name, _digest in document["media"])
            kept[key] = Section(section.html, section.notes, section.cards, items)
            for kind in (SECTIONS_DIR, TOPICS_DIR, FIELDS_DIR):  # (what a build of it keeps too)
                cache.keep(cache.shard(kind, key))
        else:
            edited.append((key, path))
    if len(edited) > len(files) // 2:
        return None  # (the whole deck's compile reads and renders on every core)
    compiled = compile_edited_topics(cards_dir, cache, config, files, edited, documents, media)
    return None if compiled is None else Edited(compiled, kept)


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


def section_documents(
    compiled: CompiledDeck,
    cache: BuildCache,
    sections: dict[str, Section],
    shows: dict[str, str],
    media: MediaFiles,
) -> dict[str, dict]:
    """What the cache keeps of each of these topics' sections; `shows`: `section_keys`."""
    topics = compiled.deck.topics
    cards_by_topic = compiled.cards_by_topic()
    deck_key = config_key(compiled.deck.config)
    documents = {}
    for index, topic in enumerate(topics):
        section = sections.get(topic.key)
        if section is None:
            continue
        warned = any(problem.location.path == topic.display for problem in compiled.warnings)
        source = cache.source_of(topic.key, topic.path) or ""
        documents[topic.key] = {
            "key": shows[topic.key],
            "html": section.html,
            "notes": section.notes,
            "cards": section.cards,
            "inputs": _inputs(deck_key, source, index, len(topics)),
            "media": media_record(cards_by_topic[topic.key], media),
            "clean": bool(source) and not warned,
            **outline(topic),
        }
    return documents


def section_from(document: dict) -> Section | None:
    html_text, notes, cards = document.get("html"), document.get("notes"), document.get("cards")
    if isinstance(html_text, str) and isinstance(notes, int) and isinstance(cards, int):
        return Section(html_text, notes, cards)
    return None


def _inputs(deck_key: str, source: str, index: int, count: int) -> str:
    parts = (code_fingerprint(), deck_key, source, index, count)
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()
