"""A rebuild after edits: only the edited topics go through the pipeline.

Every build that succeeds without warnings leaves a record beside its cache (cache.py):
what it built from (deckgen's code, deck.yaml as read, the lock it wrote, each topic
file's source key, card ids, media and retired entries) and each topic's deck as it
wrote it in the whole deck's package (`decks/<topic>.bin`: the rows, their ids, the
deck's hash). The next build compares: when only the bytes of some topic files differ,
and those topics still hold the same cards in the same order with the same retired
entries (an edit changed what cards say, not which cards there are), it reads,
renders and identifies only those topics, and packages every other topic from its
rows. At 20,000 cards that skips the per-note work of 99 topics out of 100.

Anything else is for the full pipeline (build.py), which finds and reports it as it
always does: a topic added, removed, renamed or reordered, a card added, removed or
moved, a problem or a warning, deck.yaml, a media file, the lock or deckgen changed, a
change of identity (a type or a GUID), a `--locked` build. Both give the same bytes
(tests/test_rebuild.py).

    record (cache) + topic files -> changed topics -> compile, identify them
      -> stamp against the lock (unchanged notes as the lock has them)
      -> plan_packages with the other topics kept -> build.py writes as usual
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import astuple, dataclass, replace
from functools import partial
from pathlib import Path

from .cache import BUILD_RECORD, DECKS_DIR, FIELDS_DIR, TOPICS_DIR, BuildCache
from .cache_files import document_bytes, read_document
from .cache_keys import code_fingerprint
from .cards import Deck, DeckConfig, Topic
from .check import Checked
from .compile import CompiledDeck, Progress, topic_files
from .config import check_cards_of_own_types, read_config
from .errors import Problems, display_path
from .identity import Identified, deck_hashes, note_contents, note_type_hashes, stamp
from .lock import LOCK_FILE, Lock, parse_lock, patch_lock
from .package import Kept, PackageJob, deck_digest, plan_packages
from .package_database import DeckRows, KeptDeck
from .render import MediaFiles, RenderedCard, render_deck, render_fields
from .retire import RetiredNote
from .schema import CONFIG_FILE
from .validate import read_topic_file


@dataclass(frozen=True)
class Rebuilt:
    """What the quick way found: as check_identity and plan_packages give it."""

    compiled: CompiledDeck
    checked: Checked
    jobs: list[PackageJob]
    record: dict  # the build record it started from
    changed_topics: tuple[str, ...]


# Ends a phase of the build's clock: (phase, parts of it timed apart) (build._Clock.lap).
Lap = Callable[..., None]


def rebuild_changed(
    cards_dir: Path, cache: BuildCache, now: int, progress: Progress | None = None, lap: Lap | None = None
) -> Rebuilt | None:
    """The deck checked and planned the quick way, or None where the full pipeline must
    run (nothing is written either way; `cache` holds what the build will keep, and
    should not be used again for a full build if this returns None). `lap(phase)`
    ends a phase of the build's clock (build.py)."""
    try:
        return _rebuild(cards_dir, cache, now, progress, lap)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None  # a record of another shape (its checksum holds, its content does not)


def _rebuild(
    cards_dir: Path, cache: BuildCache, now: int, progress: Progress | None, lap: Lap | None
) -> Rebuilt | None:
    record = read_document(cache.folder / BUILD_RECORD)
    if record.get("code") != code_fingerprint() or record.get("cards") != str(cards_dir.resolve()):
        return None
    problems = Problems()
    config = read_config(cards_dir / CONFIG_FILE, problems)
    files = topic_files(cards_dir)
    entries: list[dict] = record.get("topics", [])
    if problems.items or config_key(config) != record.get("config"):
        return None
    if [key for key, _path in files] != [entry["key"] for entry in entries]:
        return None
    lock_path = cards_dir / LOCK_FILE
    try:
        lock_text = lock_path.read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return None
    if _sha256(lock_text) != record.get("lock") or not cache.lock_is_ours(lock_path, lock_text):
        return None

    changed = [
        (key, path)
        for (key, path), entry in zip(files, entries, strict=True)
        if cache.source_of(key, path) != entry["source"]
    ]
    edited = [key for key, _path in changed]
    if not _media_unchanged(cards_dir, entries, set(edited)):
        return None
    by_key = {entry["key"]: entry for entry in entries}
    compiled = compile_edited_topics(cards_dir, cache, config, files, changed, by_key, progress=progress)
    if compiled is None:
        return None
    if lap:
        lap("render", minus={"read": cache.read_seconds})

    lock_display = display_path(lock_path)
    old_lock = parse_lock(lock_text, lock_display, problems)
    if old_lock is None or problems.items:
        return None
    retired = tuple(RetiredNote(*note) for note in record.get("retired", []))
    identified = _identify(compiled, old_lock, now, entries, retired)
    if identified is None:
        return None
    dependents = set(record.get("retire_inputs", []))
    if any(card_id in dependents for card_id in identified.stamping.changed):
        return None  # a retired note quotes this card: retire.py words it again
    new_lock_text = patch_lock(lock_text, old_lock, identified.stamping.lock)
    checked = Checked(identified, lock_path, lock_text, new_lock_text, False, [])

    kept = _kept(cache, entries, set(edited))
    if kept is None:
        return None
    jobs = plan_packages(identified, kept)
    if any(d.kept and d.first_id != d.kept.first_id for d in jobs[0].decks):
        return None  # another deck's ids moved: its rows are not the ones kept
    for key in kept:
        for kind in (TOPICS_DIR, FIELDS_DIR, DECKS_DIR):
            cache.keep(cache.shard(kind, key))
    if lap:
        lap("identify")
    return Rebuilt(compiled, checked, jobs, record, tuple(edited))


def _media_unchanged(cards_dir: Path, entries: list[dict], edited: set[str]) -> bool:
    """Whether every media file of the topics not edited has the bytes it had."""
    media = MediaFiles(cards_dir)
    try:
        return all(media_unchanged(entry["media"], media) for entry in entries if entry["key"] not in edited)
    except OSError:
        return False


# -- what a build's record and a preview's sections (preview_sections.py) keep of a topic


def compile_edited_topics(
    cards_dir: Path,
    cache: BuildCache,
    config: DeckConfig,
    files: list[tuple[str, Path]],
    edited: list[tuple[str, Path]],
    kept: dict[str, dict],
    media: MediaFiles | None = None,
    progress: Progress | None = None,
) -> CompiledDeck | None:
    """The deck (its topic `files`) with only the `edited` topics read and rendered, if
    each keeps the `outline` it had (`kept`: each topic's record); the others stand in
    it with their titles and no cards. None on any problem: the full pipeline reports it."""
    problems = Problems()
    read = cache.topic_reader(read_topic_file)
    fresh: dict[str, Topic] = {}
    for key, path in edited:
        topic = read(key, path, problems)
        if topic is None or problems.items or not same_outline(topic, kept[key]):
            return None
        fresh[key] = topic
    topics = tuple(
        fresh.get(key) or Topic(key, kept[key]["title"], path, display_path(path), (), ())
        for key, path in files
    )
    edited_deck = Deck(config, tuple(fresh.values()), cards_dir)
    check_cards_of_own_types(edited_deck, problems)
    media = media or MediaFiles(cards_dir)
    render = cache.field_renderer(partial(render_fields, cards_dir, progress=progress), media)
    cards = render_deck(edited_deck, problems, render)
    if problems.items:
        return None
    return CompiledDeck(Deck(config, topics, cards_dir), cards, [])


def outline(topic: Topic) -> dict:
    """What read_deck's checks across topics see of a topic: its title, card ids and
    retired entries. An edited topic with the same outline passes them as it did."""
    return {"title": topic.title, "ids": [card.id for card in topic.cards], "retired": retired_key(topic)}


def same_outline(topic: Topic, record: dict) -> bool:
    """Whether `topic` has the outline a record (holding `outline`) kept of it."""
    return all(record[name] == value for name, value in outline(topic).items())


def media_record(cards: list[RenderedCard], media: MediaFiles) -> list[list[str]]:
    """The media files that cards show: [file under cards/, name in the package, sha256]."""
    files = {item.source: item.name for rc in cards for item in rc.media}
    return [[str(path), name, media.digest(path)] for path, name in files.items()]


def media_unchanged(record: list[list[str]], media: MediaFiles) -> bool:
    """Whether each file of a `media_record` still has its sha256 (OSError: one is gone)."""
    return all(media.digest(Path(file)) == digest for file, _name, digest in record)


def _identify(
    compiled: CompiledDeck, old_lock: Lock, now: int, entries: list[dict], retired: tuple[RetiredNote, ...]
) -> Identified | None:
    """identity.identify for the edited topics' notes: stamped against their part of the
    lock, every other note keeping its stamp; None unless the only news is edited notes."""
    values, notes = note_contents(compiled)
    types = {rc.card.type for rc in compiled.cards}
    edited = {rc.topic for rc in compiled.cards}
    for entry in entries:
        if entry["key"] not in edited:
            types.update(entry["types"])
    if not all(card_id in old_lock.notes for card_id in notes):
        return None
    part = replace(old_lock, notes={card_id: old_lock.notes[card_id] for card_id in notes})
    namespace = compiled.deck.config.namespace
    type_hashes = note_type_hashes(compiled, types)
    stamping = stamp(part, notes, type_hashes, deck_hashes(compiled), now, namespace)
    news = (
        stamping.added,
        stamping.removed,
        stamping.reused,
        stamping.field_changes,
        stamping.type_changes,
        stamping.moved,
        stamping.renamed,
        stamping.restored,
        stamping.guid_changes,
    )
    if any(news) or old_lock.namespace != namespace:
        return None
    new_types = stamping.lock.note_types
    if any(new_types[key] is not old_lock.note_types.get(key) for key in new_types):
        return None
    lock = replace(stamping.lock, notes=old_lock.notes | stamping.lock.notes)
    return Identified(compiled, replace(stamping, lock=lock), values, now, old_lock.namespace, retired)


def _kept(cache: BuildCache, entries: list[dict], edited: set[str]) -> dict[str, Kept] | None:
    """The decks of the topics not edited, as the last build wrote them."""
    kept: dict[str, Kept] = {}
    for entry in entries:
        key = entry["key"]
        if key in edited:
            continue
        rows = read_document(cache.shard(DECKS_DIR, key)).get("rows")
        if not _rows_of(rows, entry["notes"], entry["cards"]):
            return None
        deck = KeptDeck(
            entry["first_id"],
            (rows[0], rows[1]),
            tuple(entry["types"]),
            entry["notes"],
            entry["cards"],
            entry["newest"],
            entry["digest"],
        )
        media = tuple((Path(source), name) for source, name, _digest in entry["media"])
        kept[key] = (deck, media)
    return kept


def _rows_of(rows: object, notes: int, cards: int) -> bool:
    """Whether `rows` are a deck's rows of this many notes and cards (as _rows makes them)."""
    if not isinstance(rows, list | tuple) or len(rows) != 2:
        return False
    note_rows, card_rows = rows
    return (
        isinstance(note_rows, list)
        and isinstance(card_rows, list)
        and (len(note_rows), len(card_rows)) == (notes, cards)
        and all(type(row) is tuple and len(row) == 11 for row in note_rows)
        and all(type(row) is tuple and len(row) == 18 for row in card_rows)
    )


# -- the record a build leaves ----------------------------------------------------------


def remember(
    cache: BuildCache,
    compiled: CompiledDeck,
    checked: Checked,
    jobs: list[PackageJob],
    rows: dict[int, DeckRows],
    rebuilt: Rebuilt | None,
    recorded: frozenset[str] = frozenset(),
) -> None:
    """Leave the record of this build for the next (or none, where it could not be
    used): `rows` are the whole deck's package's rows by deck id, if it was written;
    the topics in `recorded` had their deck's record written with their package
    (package_writing.py), which `records_to_write` said to write."""
    record_path = cache.folder / BUILD_RECORD
    whole = jobs[0]
    if not _leaves_record(checked, jobs):
        cache.put(record_path, None)
        return
    if not rows:  # the whole deck's package was kept as it was: so is the record
        if read_document(record_path):
            cache.keep(record_path)
            for topic in compiled.deck.topics:
                cache.keep(cache.shard(DECKS_DIR, topic.key))
        return
    previous = {entry["key"]: entry for entry in rebuilt.record["topics"]} if rebuilt else {}
    media = MediaFiles(compiled.deck.cards_dir)
    cards_by_topic = compiled.cards_by_topic()
    entries = []
    for topic, deck in zip(compiled.deck.topics, whole.decks[1:], strict=True):
        if topic.key in previous and topic.key not in rebuilt.changed_topics:  # type: ignore[union-attr]
            entries.append(previous[topic.key])  # (its deck's file stays as it is)
            continue
        cards = cards_by_topic[topic.key]
        source = cache.source_of(topic.key, topic.path)
        if source is None or deck.id not in rows:
            cache.put(record_path, None)
            return
        entries.append(
            {
                "key": topic.key,
                "source": source,
                **outline(topic),
                "types": list(dict.fromkeys(rc.card.type for rc in cards)),
                "media": media_record(cards, media),
                "first_id": deck.first_id,
                "newest": deck.newest,
                "notes": deck.note_count,
                "cards": deck.card_count,
                "digest": deck_digest(deck),
            }
        )
        if topic.key not in recorded:
            cache.put_now(cache.shard(DECKS_DIR, topic.key), deck_record(rows[deck.id]))
        rows.pop(deck.id)
    retired = checked.identified.retired
    record = {
        "code": code_fingerprint(),
        "cards": str(compiled.deck.cards_dir.resolve()),
        "config": config_key(compiled.deck.config),
        "lock": _sha256(checked.new_lock_text),
        "topics": entries,
        "retired": [list(astuple(note)) for note in retired],  # (read back as RetiredNote(*entry))
        "retire_inputs": sorted({note.replaced_by for note in retired if note.replaced_by}),
    }
    cache.put(record_path, document_bytes(record))


def records_to_write(
    cache: BuildCache,
    compiled: CompiledDeck,
    checked: Checked,
    jobs: list[PackageJob],
    pending: list[PackageJob],
) -> dict[str, Path]:
    """The topics whose deck's record is written with their package, each with the
    temporary file to write it to: those whose package is written when `remember` will
    leave a record (the whole deck's package written, no warnings)."""
    if not pending or pending[0] is not jobs[0] or not _leaves_record(checked, jobs):
        return {}
    topics = {topic.key for topic in compiled.deck.topics}
    records = {}
    for job in pending[1:]:
        if job.topic in topics:
            temporary = cache.stage_now(cache.shard(DECKS_DIR, job.topic))
            if temporary is not None:
                records[job.topic] = temporary
    return records


def _leaves_record(checked: Checked, jobs: list[PackageJob]) -> bool:
    """Whether a build of these packages can leave a record for the next (`remember`):
    not after warnings, which the next build must report again."""
    return not checked.warnings and jobs[0].topic is None


def deck_record(rows: DeckRows) -> bytes:
    """The file that keeps a topic's deck's rows for the next build (`DECKS_DIR`)."""
    return document_bytes({"rows": list(rows)})


def config_key(config) -> str:
    """deck.yaml as read (and the template and CSS files it names), but for where its
    entries stand, which only messages show (and which depends on the folder the
    command runs in)."""
    note_types = [(t.key, t.name, t.id, t.cloze, t.fields, t.templates, t.css) for t in config.note_types]
    parts = (
        config.title,
        config.namespace,
        config.version,
        config.description,
        config.topic_order,
        str(config.path.resolve()) if config.path else None,
        sorted(config.html_allow),
        config.number_topics,
        note_types,
    )
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


def retired_key(topic: Topic) -> str:
    entries = [(entry.id, entry.reason, entry.replaced_by) for entry in topic.retired]
    return hashlib.sha256(repr(entries).encode("utf-8")).hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
