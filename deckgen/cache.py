"""Beside steps 2, 3 and 5 of the pipeline: work kept between builds, in `build/.cache/`.

Each cache wraps a pure step from outside; the steps themselves know nothing of it:

- `BuildCache.topic_reader(read)`: the topic files as validated. A file's cards are
  kept under `source_key` (its bytes, its path, deckgen's code) and taken instead of
  reading the file again while that key is the same. A file with problems is never
  kept, so its problems are reported on every build. (`topics/<topic>.bin`) When
  there are many files to read, `read_ahead` reads them on every core first, each
  worker going on to compile the topic it has just read (`compiled_ahead`); the
  build's own process takes the last topics no worker has started yet.
- `BuildCache.field_renderer(render)`: rendered fields. A field's HTML depends only on
  what `field_key` hashes (deckgen's code, the cards folder, the folder of the card's
  file, the field's text, the deck's HTML opt-ins) and on the bytes of the media files
  it uses: a field is taken from the cache when its key is the same and each media
  file still has the same sha256. Only fields without problems are kept, so a field
  kept under a wider `html: allow` is checked again under a narrower one.
  (`fields/<topic>.bin`, cache_fields.py: the same for a topic compiled in a worker)
- `BuildCache.packages`: for each package in the out dir, the key it was written from
  and the sha256 it was written with; a package whose key and bytes are both
  unchanged is left as it is. (`packages.bin`)
- `BuildCache.lock_is_ours`: whether the lock is, to the byte, the text this deckgen
  wrote for it last: then the new lock is the old text with only the changed notes'
  lines written again (lock.patch_lock). (`lock.bin`)
- The record of the last build and each topic's deck as it packaged it, which
  rebuild.py writes and reads through `put`, `put_now` and `keep` (a topic's deck is
  written by whoever writes its package, into a file `stage_now` made). (`build.bin`,
  `decks/<topic>.bin`)
- Each topic's part of the preview page, which preview.py keeps under a hash of what
  it shows. (`preview/<topic>.bin`)

"deckgen's code" is `code_fingerprint`: every source and data file of the installed
package, so no edit to deckgen ever serves what its previous self made. The cache never
changes the output: anything missing, stale, damaged or of another format is ignored
and made again. Each cache file is a sha256 line, then its document (cache_files.py).
Nothing is in place until the build succeeds (`commit`; `put_now` writes under a
temporary name until then). It is never published, and deleting it is always safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from .cache_fields import look_up, spans
from .cache_files import PackageIndex, document_bytes, document_source, read_document
from .cache_keys import FORMAT, code_fingerprint, shard_path, source_key
from .cache_topics import topic_from_values, topic_values
from .cards import Topic
from .errors import Problem, Problems, display_path
from .load import MAX_FILE_BYTES
from .output import StagedFiles
from .render import (
    CompiledTopic,
    FieldRenderer,
    FieldRequest,
    MediaFiles,
    Progress,
    RenderedField,
    usable_cores,
)
from .validate import TopicReader
from .workers import taken_back, worker_pool

CACHE_DIR = ".cache"  # under the build's out dir
TOPICS_DIR = "topics"
FIELDS_DIR = "fields"
PACKAGES_FILE = "packages.bin"
LOCK_RECORD = "lock.bin"
DECKS_DIR = "decks"  # each topic's deck as the last build wrote it (rebuild.py)
BUILD_RECORD = "build.bin"  # what the last build built from (rebuild.py)
SECTIONS_DIR = "preview"  # each topic's part of the preview page (preview.py)
# Below this many bytes of topic files to read, one process reads them sooner than
# several (starting them, and sending the cards back, costs about 0.1 s).
READ_AHEAD_BYTES = 1_000_000


class BuildCache:
    """The cache of one build: read as the build goes, written only if it succeeds."""

    def __init__(self, out_dir: Path):
        self.folder = out_dir / CACHE_DIR
        self.packages = PackageIndex(self.folder / PACKAGES_FILE)
        self._lock_record = self.folder / LOCK_RECORD
        self._sources: dict[str, str] = {}  # topic key -> its file's source key, this build
        # cache file -> its new bytes (None: delete). Bytes, not the document: a cold build
        # at 100,000 cards keeps every topic's until it commits, and as lists and strings
        # they took several times the memory.
        self._writes: dict[Path, bytes | None] = {}
        self._kept: set[Path] = set()  # cache files that stay as they are
        # Files `put_now` wrote already, under temporary names that `commit` renames.
        self._staged = StagedFiles()
        self._put_now: set[Path] = set()
        self._made: list[Path] = []  # folders `stage_now` made, the deepest first
        self.topics_read: list[str] = []  # topic files read and validated, not taken from here
        self.fields_rendered: list[str] = []  # texts of the fields rendered, not taken from here
        self.read_seconds = 0.0  # time spent reading topics, from the cache or their files
        self._looked_up: dict[str, str] = {}  # topic key -> its file's source key
        self._ahead: dict[str, tuple[str, ReadAlone]] = {}  # topic key -> (source key, read)
        # topic key -> (the topic read ahead, as its worker compiled it)
        self._compiled_ahead: dict[str, tuple[Topic, CompiledTopic]] = {}

    def read_ahead(
        self,
        topics: list[tuple[str, Path]],
        read: TopicReader,
        compile: TopicCompiler | None = None,
        progress: Progress | None = None,
        compile_here: TopicCompiler | None = None,
    ) -> list[str]:
        """Read the topic files (key, path) that the cache does not hold, on every core,
        before read_deck asks for them one by one; `topic_reader` then hands them over.
        With `compile`, each worker goes on to compile the topic it has just read (its
        fields from the cache or rendered, its cards assembled), which `compiled_ahead`
        then hands over. With `compile_here` too, this process reads and compiles the
        topics no worker has started yet, from the last, rather than wait for them.
        Returns the keys of the topics read ahead; tells `progress` ("render", topics,
        of topics)."""
        start = time.perf_counter()
        here = compile_here if compile else None
        keys, reading, compiling = self._read_ahead(topics, read, compile, progress, here)
        # The workers read and compile each topic in one go: the build's "read" phase gets
        # the share of the time that the workers' own clocks gave to reading (the rest
        # counts as rendering).
        wall = time.perf_counter() - start
        self.read_seconds += wall * (reading / (reading + compiling) if compiling else 1.0)
        return keys

    def _read_ahead(
        self,
        topics: list[tuple[str, Path]],
        read: TopicReader,
        compile: TopicCompiler | None,
        progress: Progress | None,
        here: TopicCompiler | None,
    ) -> tuple[list[str], float, float]:
        """`read_ahead`: the keys, and the workers' seconds reading and compiling."""
        stale, size = [], 0
        for key, path in topics:
            source = self._look_up(key, path)
            if source is not None and document_source(shard_path(self.folder / TOPICS_DIR, key)) != source:
                stale.append((key, path))
                size += path.stat().st_size
        workers = min(usable_cores(), len(stale))
        if workers < 2 or size < READ_AHEAD_BYTES:
            return [], 0.0, 0.0
        keys = [key for key, _path in stale]
        seconds = [0.0, 0.0]  # the workers' (and this process's) reading and compiling
        taken: set[str] = set()

        def take(key: str, outcome: tuple[ReadAlone, CompiledTopic | None, tuple[float, float]]) -> None:
            result, compiled, (reading, compiling) = outcome
            self._ahead[key] = (self._looked_up[key], result)
            if compiled is not None:
                self._compiled_ahead[key] = (result[0], compiled)
            seconds[0], seconds[1] = seconds[0] + reading, seconds[1] + compiling
            if progress and compile:
                progress("render", len(taken) + 1, len(keys))
            taken.add(key)

        with worker_pool(workers) as pool:
            jobs = [
                ((key, path), pool.submit(_read_alone, read, compile, key, path, self._looked_up[key]))
                for key, path in stale
            ]

            def take_finished() -> None:
                for (key, _path), future in jobs:
                    if future.done() and not future.cancelled() and key not in taken:
                        take(key, future.result())

            # This process would only wait for the workers: it compiles the topics none
            # has started yet itself. Beside another busy program that also gets the
            # build a larger share of the cores.
            for key, path in taken_back(jobs) if here is not None else ():
                take(key, _read_alone(read, here, key, path, self._looked_up[key]))
                take_finished()
            for (key, _path), future in jobs:
                if not future.cancelled() and key not in taken:
                    take(key, future.result())
        return list(keys), seconds[0], seconds[1]

    def source_of(self, key: str, path: Path) -> str | None:
        """A topic file's source key (None: unreadable or too large, for its reader to say)."""
        return self._look_up(key, path)

    def shard(self, kind: str, key: str) -> Path:
        """The cache file of one topic: TOPICS_DIR, FIELDS_DIR or DECKS_DIR."""
        return shard_path(self.folder / kind, key)

    def keep(self, path: Path) -> None:
        """The cache file at `path` stays as it is."""
        self._kept.add(path)

    def put(self, path: Path, data: bytes | None) -> None:
        """The cache file at `path` becomes `data` (None: removed) if the build succeeds."""
        self._writes[path] = data

    def put_now(self, path: Path, data: bytes) -> None:
        """`put`, but written now (under a temporary name until `commit`), so that the
        bytes need not stay in memory: the decks of 100,000 cards are 70 MB of them."""
        temporary = self.stage_now(path)
        if temporary is not None:
            # (the cache only saves time: a file cut short is damaged, and never read)
            with contextlib.suppress(OSError):
                temporary.write_bytes(data)

    def stage_now(self, path: Path) -> Path | None:
        """A temporary file to write `path`'s bytes to now (here, by `put_now`, or in
        another process), in place at `commit`; None if it cannot be made."""
        try:
            folders = (path.parent, *path.parent.parents)
            self._made += [f for f in folders if f.is_relative_to(self.folder) and not f.is_dir()]
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self._staged.stage(path)
        except OSError:
            return None  # (the cache only saves time)
        self._put_now.add(path)
        return temporary

    def discard(self) -> None:
        """Drop what `put_now` wrote: the build does not keep this cache's work."""
        self._staged.discard()
        self._put_now.clear()
        for folder in self._made:  # (the deepest first) folders `stage_now` made, if empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._made.clear()

    def _look_up(self, key: str, path: Path) -> str | None:
        """A topic file's source key (None: not to be kept), read once per build."""
        if key not in self._looked_up:
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    raise OSError("too large to keep")
                data = path.read_bytes()
            except (OSError, ValueError):
                return None  # the reader reports it
            self._looked_up[key] = source_key(path, display_path(path), data)
        return self._looked_up[key]

    def topic_reader(self, read: TopicReader) -> TopicReader:
        """`read`, but taking a topic from the cache while its file has the same bytes."""

        def read_topic(key: str, path: Path, problems: Problems) -> Topic | None:
            start = time.perf_counter()
            try:
                return read_cached(key, path, problems)
            finally:
                self.read_seconds += time.perf_counter() - start

        def read_cached(key: str, path: Path, problems: Problems) -> Topic | None:
            source = self._look_up(key, path)
            if source is None:
                return self._read(read, key, path, problems)  # the reader reports it
            self._sources[key] = source
            shard = shard_path(self.folder / TOPICS_DIR, key)
            document = read_document(shard)  # (one at a time: all of them at once take much memory)
            if document.get("source") == source:
                topic = topic_from_values(document.get("topic"))
                if topic is not None and topic.key == key:
                    self._kept.add(shard)
                    return topic
            before = len(problems.items)
            ahead = self._ahead.pop(key, None)
            if ahead is not None and ahead[0] == source:  # read on another core, from these bytes
                self.topics_read.append(key)
                topic, found, kept = ahead[1]
                problems.items.extend(found)
            else:
                topic = self._read(read, key, path, problems)
                kept = _topic_document(topic, source) if len(problems.items) == before else None
            # A file with problems is read again next time, so that they are reported again.
            self._writes[shard] = kept
            return topic

        return read_topic

    def _read(self, read: TopicReader, key: str, path: Path, problems: Problems) -> Topic | None:
        self.topics_read.append(key)
        return read(key, path, problems)

    def field_renderer(self, render: FieldRenderer, media: MediaFiles) -> FieldRenderer:
        """`render`, but taking each field from the cache when it holds it."""

        def render_cached(requests: list[FieldRequest]) -> list[RenderedField]:
            runs = [
                (
                    topic,
                    start,
                    end,
                    look_up(
                        self.shard(FIELDS_DIR, topic),
                        self._sources.get(topic, ""),
                        requests[start:end],
                        media,
                    ),
                )
                for topic, start, end in spans(requests)
            ]
            found = [result for *_span, fields in runs for result in fields.found]
            missing = [index for index, result in enumerate(found) if result is None]
            self.fields_rendered += [requests[index].text for index in missing]
            for index, result in zip(missing, render([requests[i] for i in missing]), strict=True):
                found[index] = result
            for topic, start, end, fields in runs:  # what each topic's fields file holds next
                source = self._sources.get(topic, "")
                data = fields.file(source, requests[start:end], found[start:end], media)  # type: ignore[arg-type]
                self._keep_or_write(self.shard(FIELDS_DIR, topic), data)
            return found  # type: ignore[return-value]

        return render_cached

    def compiled_ahead(self, topic: Topic) -> CompiledTopic | None:
        """The topic as the worker that read it compiled it (`read_ahead` with `compile`),
        if `topic` is the one it read; its fields file is then what that worker made."""
        ahead = self._compiled_ahead.pop(topic.key, None)
        if ahead is None or ahead[0] is not topic:
            return None
        compiled = ahead[1]
        self._keep_or_write(self.shard(FIELDS_DIR, topic.key), compiled.fields_file)
        self.fields_rendered += compiled.fields_rendered
        return compiled

    def _keep_or_write(self, path: Path, data: bytes | None) -> None:
        """The cache file at `path` stays as it is (`data` None), or becomes `data`."""
        if data is None:
            self._kept.add(path)
        else:
            self._writes[path] = data

    def lock_is_ours(self, lock_path: Path, text: str) -> bool:
        """Whether `text`, the lock at `lock_path`, is the text this deckgen last wrote
        (or found) there, so that it is `dump_lock` of what it holds."""
        return read_document(self._lock_record) == {"format": FORMAT} | _lock_document(lock_path, text)

    def keep_lock(self, lock_path: Path, text: str) -> None:
        """The lock this build leaves at `lock_path` is `text`, as `dump_lock` wrote it."""
        if not self.lock_is_ours(lock_path, text):
            self._writes[self._lock_record] = document_bytes(_lock_document(lock_path, text))

    def commit(self, packages: list[Path] | None) -> None:
        """Write what this build read, rendered and packaged; forget what it no longer has.
        `packages` None: a command that only compiled (`deckgen preview`), which leaves
        the packages' index as it is. The caller holds the out dir (output.writing_to).

        The cache only saves time: a read-only or full disk must not fail the build.
        """
        index = self.packages.document(packages) if packages is not None else None
        if index is not None:
            self._writes[self.packages.path] = document_bytes(index)
        try:
            with StagedFiles() as staged:
                for path, data in self._writes.items():
                    if data is not None:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        staged.write_bytes(path, data)
                staged.commit()
                self._staged.commit()
            for path, data in self._writes.items():
                if data is None and path.parent == self.folder:  # (the topics' folders are swept below)
                    path.unlink(missing_ok=True)
            for path in self.folder.glob("*.json"):  # the index and lock record of format 2
                path.unlink(missing_ok=True)
            keep = self._kept | self._put_now | {path for path, data in self._writes.items() if data}
            folders = [self.folder / TOPICS_DIR, self.folder / FIELDS_DIR]
            # A build leaves the preview's sections as they are, a preview the decks.
            folders.append(self.folder / (DECKS_DIR if packages is not None else SECTIONS_DIR))
            for folder in folders:
                for path in folder.iterdir() if folder.is_dir() else ():
                    if path not in keep:  # topics that are gone, files of killed builds
                        path.unlink(missing_ok=True)
        except OSError:
            self._staged.discard()


# A topic read in a worker: the topic, the problems found, and its cache file if clean.
ReadAlone = tuple["Topic | None", list[Problem], "bytes | None"]
# Compiles a topic just read, given its file's source key (compile.py's, made partial).
TopicCompiler = Callable[[Topic, str], CompiledTopic]


def _read_alone(
    read: TopicReader, compile: TopicCompiler | None, key: str, path: Path, source: str
) -> tuple[ReadAlone, CompiledTopic | None, tuple[float, float]]:
    """In a worker process (`read_ahead`): one topic file read and validated, then (with
    `compile`) compiled; and the seconds each took."""
    start = time.perf_counter()
    problems = Problems()
    topic = read(key, path, problems)
    kept = None if problems.items else _topic_document(topic, source)
    read_at = time.perf_counter()
    compiled = compile(topic, source) if compile and topic is not None else None
    seconds = (read_at - start, time.perf_counter() - read_at)
    return (topic, problems.items, kept), compiled, seconds


def _topic_document(topic: Topic | None, source: str) -> bytes | None:
    """The cache file of a topic read without problems (None: none to keep)."""
    return None if topic is None else document_bytes({"source": source, "topic": topic_values(topic)})


def _lock_document(lock_path: Path, text: str) -> dict:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return {"code": code_fingerprint(), "lock": str(lock_path.resolve()), "sha256": digest}
