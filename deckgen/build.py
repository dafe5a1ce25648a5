"""The pipeline, end to end: cards/ -> checked, rendered, identified -> packages.

    load (load.py) -> validate (validate.py) -> render (render.py)
      -> identify (identity.py, lock.py) -> package (package.py) -> report (report.py)

`compile_deck` runs the first three steps and is shared by every command (check,
build, preview, diff tests); `build` adds the last three. Nothing here prints.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import identity, package, report
from .cache import BuildCache
from .cards import Deck
from .errors import DeckError, Location, Problem, Problems
from .lock import LOCK_FILE, Lock, dump_lock, read_lock
from .notetypes import NOTE_TYPES, card_css, cards_per_note
from .package import (
    NoteTypeArgs,
    PackageDeck,
    PackageNote,
    commit_files,
    discard_files,
    package_key,
    remove_leftovers,
    temporary_path,
    write_package,
)
from .render import RenderedCard, render_deck, renderer_fingerprint, usable_cores
from .validate import display_path, read_deck, read_topic_file


@dataclass(frozen=True)
class CompiledDeck:
    """The deck read, validated and rendered: what every command starts from."""

    deck: Deck
    cards: list[RenderedCard]
    warnings: list[Problem] = field(default_factory=list)

    def root_name(self) -> str:
        return self.deck.config.title

    def deck_name(self, topic_key: str) -> str:
        topic = next(t for t in self.deck.topics if t.key == topic_key)
        return f"{self.deck.config.title}::{topic.title}"

    def cards_by_topic(self) -> dict[str, list[RenderedCard]]:
        """Each topic's cards in order (one pass: a scan per topic is slow with many topics)."""
        grouped: dict[str, list[RenderedCard]] = {topic.key: [] for topic in self.deck.topics}
        for rc in self.cards:
            grouped[rc.topic].append(rc)
        return grouped


# Told how far a long build has got: (step, done, total), step "render" or "package".
Progress = Callable[[str, int, int], None]


@contextmanager
def _fewer_collections() -> Iterator[None]:
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


@_fewer_collections()
def compile_deck(
    cards_dir: Path, cache: BuildCache | None = None, progress: Progress | None = None
) -> CompiledDeck:
    """Load, validate and render every card under `cards_dir`; DeckError lists all problems.

    Cards that passed validation are rendered even when others failed, so one run
    reports every problem (a missing image as well as a typo in another file).
    """
    problems = Problems()
    deck = read_deck(cards_dir, problems, cache.topic_reader(read_topic_file) if cache else None)
    rendered = render_deck(deck, problems, cache, _step(progress, "render"))
    problems.raise_if_errors()
    return CompiledDeck(deck, rendered, problems.warnings)


@dataclass(frozen=True)
class PackageSummary:
    path: Path
    topic: str | None  # None for the whole deck
    decks: int
    notes: int
    cards: int


@dataclass(frozen=True)
class TopicSummary:
    key: str
    deck: str  # full deck name, Root::Topic
    notes: int
    cards: int


@dataclass(frozen=True)
class BuildResult:
    packages: list[PackageSummary]
    topics: list[TopicSummary]
    stamping: identity.Stamping
    lock_path: Path
    lock_written: bool
    warnings: list[Problem]


def lock_path_for(cards_dir: Path) -> Path:
    return cards_dir / LOCK_FILE


def package_name(namespace: str, topic: str | None = None) -> str:
    """Stable file names (no version in them), so download links never go stale."""
    if topic is None:
        return f"{namespace}.apkg"
    return f"{namespace}-{topic.replace('/', '-')}.apkg"


def root_description(deck: Deck) -> str:
    config = deck.config
    parts = [config.description] if config.description else []
    if config.version:
        parts.append(f"Deck version {config.version}")
    return "<br><br>".join(parts)


@dataclass(frozen=True)
class _Plan:
    stamping: identity.Stamping
    whole: list[PackageDeck]
    by_topic: dict[str, list[PackageDeck]]
    media: dict[str, list[tuple[Path, str]]]  # topic key -> media


def _plan(compiled: CompiledDeck, old_lock: Lock, now: int) -> _Plan:
    deck = compiled.deck
    namespace = deck.config.namespace
    css = card_css()

    # Each note's fields in its note type's order: hashed for the lock, then packaged.
    note_fields = {
        rc.card.id: NOTE_TYPES[rc.card.type].anki_fields(rc.fields, rc.card.id) for rc in compiled.cards
    }
    note_hashes = {
        rc.card.id: (identity.content_hash(rc.card.type, note_fields[rc.card.id], rc.tags), rc.topic)
        for rc in compiled.cards
    }
    used_types = sorted({rc.card.type for rc in compiled.cards})
    type_hashes = {
        key: (
            identity.content_hash(
                NOTE_TYPES[key].label, NOTE_TYPES[key].fields, NOTE_TYPES[key].templates, css
            ),
            NOTE_TYPES[key].fields,
        )
        for key in used_types
    }
    root_name = deck.config.title
    description = root_description(deck)
    deck_hashes = {root_name: identity.content_hash(root_name, description)}
    for topic in deck.topics:
        name = compiled.deck_name(topic.key)
        deck_hashes[name] = identity.content_hash(name, "")
    stamping = identity.stamp(old_lock, note_hashes, type_hashes, deck_hashes, now)
    lock = stamping.lock

    type_args = {
        key: NoteTypeArgs(
            identity.note_type_id(namespace, key),
            f"deckgen {NOTE_TYPES[key].label} ({namespace})",
            NOTE_TYPES[key].fields,
            NOTE_TYPES[key].templates,
            css,
            NOTE_TYPES[key].is_cloze,
            lock.note_types[key].changed if key in lock.note_types else now,
        )
        for key in used_types
    }
    root = PackageDeck(identity.deck_id(namespace), root_name, description, lock.decks[root_name].changed, ())
    by_topic: dict[str, list[PackageDeck]] = {}
    media: dict[str, list[tuple[Path, str]]] = {}
    whole = [root]
    position = 0
    cards_by_topic = compiled.cards_by_topic()
    for topic in deck.topics:
        notes = []
        topic_media: dict[str, Path] = {}
        for rc in cards_by_topic[topic.key]:
            position += 1
            notes.append(
                PackageNote(
                    guid=identity.note_guid(namespace, rc.card.id),
                    note_type=type_args[rc.card.type],
                    fields=note_fields[rc.card.id],
                    tags=rc.tags,
                    mod=lock.notes[rc.card.id].changed,
                    due=position,
                )
            )
            for item in rc.media:
                topic_media[item.name] = item.source
        name = compiled.deck_name(topic.key)
        package_deck = PackageDeck(
            identity.deck_id(namespace, topic.key), name, "", lock.decks[name].changed, tuple(notes)
        )
        whole.append(package_deck)
        by_topic[topic.key] = [root, package_deck]
        media[topic.key] = [(path, name) for name, path in topic_media.items()]
    return _Plan(stamping, whole, by_topic, media)


def _identity_problems(
    compiled: CompiledDeck, stamping: identity.Stamping, lock_display: str
) -> list[Problem]:
    problems = []
    by_id = {rc.card.id: rc.card for rc in compiled.cards}
    for card_id in stamping.reused:
        problems.append(
            Problem(
                by_id[card_id].location,
                f"card id {card_id!r} belonged to a card removed earlier, with other content: "
                "reusing it would overwrite that card (and its review history) in learners' "
                "collections. Give this card a new id, or restore the old card's content.",
            )
        )
    for key, old, new in stamping.field_changes:
        problems.append(
            Problem(
                Location(lock_display, 1, 1),
                f"note type {key!r} changed its fields from {list(old)} to {list(new)}. "
                "Anki would import every such note as 'conflicting', copy the note type and "
                "stop updating those notes. Keep the fields the lock records (use the deckgen "
                "version that wrote it), or publish the change as a new deck namespace.",
            )
        )
    return problems


@dataclass(frozen=True)
class _Prepared:
    compiled: CompiledDeck
    plan: _Plan
    lock_path: Path
    old_lock_text: str | None
    new_lock_text: str


def _step(progress: Progress | None, step: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(step, done, total)


def _prepare(
    cards_dir: Path,
    *,
    locked: bool,
    now: int | None,
    cache: BuildCache | None = None,
    progress: Progress | None = None,
) -> _Prepared:
    """Every step before writing: compile, read the lock, stamp, and check identities."""
    compiled = compile_deck(cards_dir, cache, progress)
    lock_path = lock_path_for(cards_dir)
    lock_display = display_path(lock_path)
    problems = Problems()
    old_lock = read_lock(lock_path, lock_display, problems)
    problems.raise_if_errors()
    assert old_lock is not None
    if locked and not lock_path.exists():
        raise DeckError(
            [
                Problem(
                    Location(lock_display),
                    "--locked: there is no lock file; run `deckgen build` and commit it",
                )
            ]
        )
    plan = _plan(compiled, old_lock, identity.build_time() if now is None else now)
    identity_errors = _identity_problems(compiled, plan.stamping, lock_display)
    if identity_errors:
        raise DeckError(identity_errors)
    new_lock_text = dump_lock(plan.stamping.lock)
    old_lock_text = lock_path.read_text(encoding="utf-8") if lock_path.exists() else None
    if locked and new_lock_text != old_lock_text:
        s = plan.stamping
        detail = (
            ", ".join(
                f"{label}: {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}"
                for label, ids in (("added", s.added), ("changed", s.changed), ("removed", s.removed))
                if ids
            )
            or "note types or decks changed"
        )
        raise DeckError(
            [
                Problem(
                    Location(lock_display),
                    f"--locked: the cards changed but the lock was not updated ({detail}); "
                    "run `deckgen build` and commit the lock",
                )
            ]
        )
    return _Prepared(compiled, plan, lock_path, old_lock_text, new_lock_text)


def check(cards_dir: Path, *, locked: bool = False) -> tuple[CompiledDeck, identity.Stamping]:
    """Everything `build` checks, writing nothing. Raises DeckError."""
    prepared = _prepare(cards_dir, locked=locked, now=None)
    return prepared.compiled, prepared.plan.stamping


@_fewer_collections()
def build(
    cards_dir: Path,
    out_dir: Path,
    *,
    locked: bool = False,
    now: int | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Compile the cards and write one package per topic plus one for the whole deck.

    With `locked`, refuse (and write nothing) when the lock does not match the sources.
    Raises DeckError; on any error nothing under `out_dir` and no lock is changed.
    Fields rendered before are taken from `out_dir/.cache` (cache.py), which the build
    updates only when it succeeds.
    """
    cache = BuildCache(out_dir, renderer_fingerprint())
    prepared = _prepare(cards_dir, locked=locked, now=now, cache=cache, progress=progress)
    compiled, plan, lock_path = prepared.compiled, prepared.plan, prepared.lock_path
    old_lock_text, new_lock_text = prepared.old_lock_text, prepared.new_lock_text

    namespace = compiled.deck.config.namespace
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[Path, list[PackageDeck], list[tuple[Path, str]], str | None]] = []
    all_media = [item for items in plan.media.values() for item in items]
    jobs.append((out_dir / package_name(namespace), plan.whole, all_media, None))
    for topic in compiled.deck.topics:
        jobs.append(
            (
                out_dir / package_name(namespace, topic.key),
                plan.by_topic[topic.key],
                plan.media[topic.key],
                topic.key,
            )
        )

    topics = []
    counts: dict[str, tuple[int, int]] = {}
    cards_by_topic = compiled.cards_by_topic()
    for topic in compiled.deck.topics:
        notes = cards_by_topic[topic.key]
        cards = sum(cards_per_note(NOTE_TYPES[rc.card.type], rc.card.fields) for rc in notes)
        counts[topic.key] = (len(notes), cards)
        topics.append(TopicSummary(topic.key, compiled.deck_name(topic.key), len(notes), cards))
    packages = []
    for final, decks, _media, topic_key in jobs:
        if topic_key is None:
            notes = sum(n for n, _ in counts.values())
            cards = sum(c for _, c in counts.values())
        else:
            notes, cards = counts[topic_key]
        packages.append(PackageSummary(final, topic_key, len(decks), notes, cards))

    moves: list[tuple[Path, Path]] = []
    kept: dict[Path, Path] = {}  # packages that are already what this build would write
    try:
        pending: list[tuple[Path, list[PackageDeck], list[tuple[Path, str]]]] = []
        keys: list[str] = []
        deck_digests: dict[int, bytes] = {}
        for final, decks, media, _topic in jobs:
            remove_leftovers(final)
            key = package_key(decks, media, deck_digests)
            if cache.unchanged_package(final, key):
                kept[final] = final
                continue
            temporary = temporary_path(final)
            moves.append((temporary, final))
            pending.append((temporary, decks, media))
            keys.append(key)
        _write_packages(pending, len(kept), len(jobs), progress)
        for (temporary, final), key in zip(moves, keys, strict=True):
            cache.wrote_package(final, key, temporary)
        for name, text in _reports(compiled, packages, topics, dict(moves) | kept).items():
            final = out_dir / name
            temporary = temporary_path(final)
            temporary.write_text(text, encoding="utf-8")
            moves.append((temporary, final))
        if new_lock_text != old_lock_text:
            temporary = temporary_path(lock_path)
            temporary.write_text(new_lock_text, encoding="utf-8")
            moves.append((temporary, lock_path))
    except BaseException:
        discard_files([temporary for temporary, _ in moves])
        raise
    commit_files(moves)
    cache.commit([final for final, *_ in jobs])
    _remove_stale_packages(out_dir, namespace, {final for final, *_ in jobs})
    return BuildResult(
        packages, topics, plan.stamping, lock_path, new_lock_text != old_lock_text, compiled.warnings
    )


# Below this many notes in the packages after the first, a second process costs more
# than it saves (a one-card rebuild writes the whole deck and one topic).
PARALLEL_NOTES = 5000


def _write_packages(
    pending: list[tuple[Path, list[PackageDeck], list[tuple[Path, str]]]],
    done: int,
    total: int,
    progress: Progress | None,
) -> None:
    """Write each (temporary, decks, media): the first (the whole deck) here, the others
    meanwhile on the other cores when there are many."""

    def wrote_one() -> None:
        nonlocal done
        done += 1
        if progress:
            progress("package", done, total)

    rest = pending[1:]
    workers = min(usable_cores() - 1, len(rest))
    notes = sum(len(deck.notes) for _path, decks, _media in rest for deck in decks)
    if workers < 1 or notes < PARALLEL_NOTES:
        for temporary, decks, media in pending:
            write_package(temporary, decks, media)
            wrote_one()
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # package.write_package itself: the name here may be wrapped (tests), and a
        # wrapper cannot be sent to another process.
        futures = [pool.submit(package.write_package, *job) for job in rest]
        try:
            write_package(*pending[0])
            wrote_one()
            for future in as_completed(futures):
                future.result()
                wrote_one()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _reports(
    compiled: CompiledDeck,
    packages: list[PackageSummary],
    topics: list[TopicSummary],
    written: dict[Path, Path],  # temporary -> final
) -> dict[str, str]:
    """SHA256SUMS and manifest.json, computed from the packages still under temporary names."""
    config = compiled.deck.config
    by_final = {final: temporary for temporary, final in written.items()}
    sums = report.sums_text({p.path.name: by_final[p.path] for p in packages})
    manifest = report.manifest_text(
        deck_title=config.title,
        deck_version=config.version,
        namespace=config.namespace,
        packages=[
            {
                "file": p.path.name,
                "topic": p.topic,
                "decks": p.decks,
                "notes": p.notes,
                "cards": p.cards,
                "sha256": report.sha256_file(by_final[p.path]),
            }
            for p in packages
        ],
        decks=[{"name": t.deck, "topic": t.key, "notes": t.notes, "cards": t.cards} for t in topics],
        commit=report.source_commit(compiled.deck.cards_dir),
    )
    return {report.SUMS_FILE: sums, report.MANIFEST_FILE: manifest}


def _remove_stale_packages(out_dir: Path, namespace: str, keep: set[Path]) -> None:
    """A topic that was removed or renamed must not linger as a package to publish."""
    for path in out_dir.glob(f"{namespace}*.apkg"):
        if path not in keep:
            path.unlink()
