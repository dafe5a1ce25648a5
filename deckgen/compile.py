"""Steps 1 to 3 of the pipeline: cards/ -> load -> validate -> render -> CompiledDeck.

Every command starts here: `check` and `preview` end after this step, `build` goes on
to identify, package and report (build.py). A build passes its cache (cache.py), which
wraps the topic reader and the field renderer from outside; nothing here prints.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path

from .cache import FIELDS_DIR, BuildCache
from .cache_fields import look_up
from .cache_keys import shard_path
from .cards import Deck, DeckConfig, Topic
from .errors import Problem, Problems
from .notetypes import NoteTypeSpec, note_types_for
from .render import (
    CompiledTopic,
    MediaFiles,
    Progress,
    RenderedCard,
    Renderer,
    WorkedNote,
    render_deck,
    render_fields,
    render_topic,
    topic_field_requests,
    worker_renderer,
)
from .validate import read_deck, read_topic_file


@dataclass(frozen=True)
class CompiledDeck:
    """The deck read, validated and rendered: what every command starts from."""

    deck: Deck
    cards: list[RenderedCard]
    warnings: list[Problem] = field(default_factory=list)
    # card id -> its note as the worker that compiled its topic worked it out
    notes: dict[str, WorkedNote] = field(default_factory=dict)

    def root_name(self) -> str:
        return self.deck.config.title

    def deck_name(self, topic_key: str) -> str:
        """A topic's full deck name in Anki. Anki lists subdecks, and gathers their new
        cards, in the order of their names (../shared/ANKI-IMPORT.md), whatever the
        package's card positions say: so each title starts with the topic's place in
        the learning order, zero-padded to sort (unless deck.yaml turns it off)."""
        topics = self.deck.topics
        index, topic = next((i, t) for i, t in enumerate(topics) if t.key == topic_key)
        title = topic.title
        if self.deck.config.number_topics:
            title = f"{index + 1:0{max(2, len(str(len(topics))))}d} {title}"
        return f"{self.deck.config.title}::{title}"

    @cached_property
    def note_types(self) -> dict[str, NoteTypeSpec]:
        """Card type -> its note type: the built-in ones and the deck's own."""
        return note_types_for(self.deck.config.note_types)

    def root_description(self) -> str:
        """The root deck's description in Anki: the deck's own, then its version."""
        config = self.deck.config
        parts = [config.description] if config.description else []
        if config.version:
            parts.append(f"Deck version {config.version}")
        return "<br><br>".join(parts)

    def cards_by_topic(self) -> dict[str, list[RenderedCard]]:
        """Each topic's cards in order (one pass: a scan per topic is slow with many topics)."""
        grouped: dict[str, list[RenderedCard]] = {topic.key: [] for topic in self.deck.topics}
        for rc in self.cards:
            grouped[rc.topic].append(rc)
        return grouped


@contextmanager
def fewer_collections() -> Iterator[None]:
    """A build makes millions of objects and almost no cycles: look for garbage less often.

    With Python's default thresholds, collections were a fifth of a one-card rebuild at
    20,000 cards (2.6 s -> 2.1 s without). The old thresholds come back afterwards.
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def topic_files(cards_dir: Path) -> list[tuple[str, Path]]:
    """The topic files (key, path) that read_deck reads, in its order: asked of read_deck
    itself (reading only the deck config), so that the two never disagree."""
    return deck_files(cards_dir)[1]


def deck_files(
    cards_dir: Path, problems: Problems | None = None
) -> tuple[DeckConfig, list[tuple[str, Path]]]:
    """The deck config and `topic_files`; the config's problems go to `problems`."""
    found: list[tuple[str, Path]] = []

    def note(key: str, path: Path, _problems: Problems) -> None:
        found.append((key, path))

    deck = read_deck(cards_dir, Problems() if problems is None else problems, note)
    return deck.config, found


@fewer_collections()
def compile_deck(
    cards_dir: Path, cache: BuildCache | None = None, progress: Progress | None = None
) -> CompiledDeck:
    """Load, validate and render every card under `cards_dir`; DeckError lists all problems.

    Cards that passed validation are rendered even when others failed, so one run
    reports every problem (a missing image as well as a typo in another file).
    """
    problems = Problems()
    config = None
    if cache:
        # Each topic read, its fields taken from the cache or rendered and its cards put
        # together by one worker: reading (a fifth of the work) would otherwise end
        # before rendering starts, and the cards and fields go to and fro only once.
        # This process, which would otherwise only wait for them, compiles topics too,
        # with a Renderer of its own (its media digests hold for this build only).
        config, files = deck_files(cards_dir)
        compile_topic = partial(_compile_alone, cards_dir, config, cache.folder)
        here = partial(compile_topic, renderer=Renderer(cards_dir))
        cache.read_ahead(files, read_topic_file, compile_topic, progress, here)
    read = cache.topic_reader(read_topic_file) if cache else read_topic_file
    deck = read_deck(cards_dir, problems, read)
    render = partial(render_fields, cards_dir, progress=progress)
    if cache:
        render = cache.field_renderer(render, MediaFiles(cards_dir))
    notes: dict[str, WorkedNote] = {}

    def compiled_ahead(topic: Topic) -> CompiledTopic | None:
        compiled = cache.compiled_ahead(topic) if cache else None
        if compiled is not None:
            notes.update(
                (rc.card.id, note) for rc, note in zip(compiled.cards, compiled.notes, strict=True) if note
            )
        return compiled

    # (compiled ahead against the deck config read then: taken if it is still the same)
    ahead = compiled_ahead if cache and deck.config == config else None
    rendered = render_deck(deck, problems, render, ahead)
    problems.raise_if_errors()
    return CompiledDeck(deck, rendered, problems.warnings, notes)


def _compile_alone(
    cards_dir: Path,
    config: DeckConfig,
    folder: Path,
    topic: Topic,
    source: str,
    renderer: Renderer | None = None,
) -> CompiledTopic:
    """In the process that has just read `topic` (cache.read_ahead): its fields from the
    build cache (under `folder`) or rendered by `renderer` (None: the worker's own), its
    cards assembled, and its fields' cache file, as `compile_deck` would have made them
    without reading ahead (cache.field_renderer)."""
    renderer = renderer or worker_renderer(cards_dir)
    requests = topic_field_requests(topic, config.html_allow)
    cached = look_up(shard_path(folder / FIELDS_DIR, topic.key), source, requests, renderer.media)
    cards, fields, problems = render_topic(topic, requests, cached.found, renderer)
    rendered = [request.text for request, found in zip(requests, cached.found, strict=True) if found is None]
    document = cached.file(source, requests, fields, renderer.media)
    # Each card's note as identity.py and package.py work it out (None: a type the deck
    # does not have, which validation reports).
    from .identity import worked_note  # (identity builds on this module)

    types, namespace = note_types_for(config.note_types), config.namespace
    notes = [
        worked_note(types[rc.card.type], rc, namespace) if rc.card.type in types else None for rc in cards
    ]
    return CompiledTopic(cards, problems, document, rendered, notes)
