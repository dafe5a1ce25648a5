"""Beside steps 2, 3 and 5 of the pipeline (validate, render, package): work kept
between builds, in `build/.cache/` (the out dir's `.cache`).

Topic files: the cards validation made from a file are kept under `source_key` (the
file's bytes, its path, and the code of the reader and the renderer), and taken
instead of reading the file again while that key is the same. A file with problems is
never kept, so its problems are reported on every build.

Rendered fields: rendering Markdown is most of a build's work, and a field's HTML
depends only on what `field_key` hashes (the renderer's fingerprint, the cards folder,
the folder of the card's file, the field's text) and on the bytes of the images it
shows. A field is taken from the cache when its key is the same and each image it
used still has the same sha256 (render.py checks that). A topic's cards and fields
share one file, `topics/<topic>.json`; a build rewrites only the files that changed.

Packages: `packages.json` records, for each package in the out dir, the `package_key`
it was written from and the sha256 it was written with. A package whose key and bytes
are both unchanged is left as it is instead of being written again.

The cache never changes the output: anything missing, stale, damaged or written by
another version is ignored and made again. Each cache file is a sha256 line then
JSON, written under a temporary name and renamed, and the cache is written only when
the build succeeds. It is never published: no package, SHA256SUMS or manifest lists
it, and deleting it is always safe.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import yaml

from . import __version__, cards, errors, load, schema, validate
from .cards import Card, Topic
from .errors import Location, Problems
from .validate import TopicReader, display_path

CACHE_DIR = ".cache"  # under the build's out dir
TOPICS_DIR = "topics"
PACKAGES_FILE = "packages.json"
# Bump when the layout of a cache file changes; older files are then ignored.
FORMAT = 1


@dataclass(frozen=True)
class CachedField:
    html: str
    images: tuple[tuple[str, str, str], ...]  # (src as written, media name, sha256 of the file)


def field_key(fingerprint: str, cards_dir: Path, base: Path, text: str) -> str:
    """Everything a field's HTML depends on, apart from the images it shows."""
    parts = (f"deckgen-field/{FORMAT}", fingerprint, str(cards_dir), str(base), text)
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def shard_path(folder: Path, topic_key: str) -> Path:
    """The cache file of one topic file (topic keys may hold '/', file names may not)."""
    return folder / f"{quote(topic_key, safe='')}.json"


def fields_from_json(document: dict) -> dict[str, CachedField]:
    """The rendered fields in a topic's cache file; none if they are not as written."""
    try:
        return {
            key: CachedField(_str(html), _images(images))
            for key, (html, images) in document["fields"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def _images(images: list) -> tuple[tuple[str, str, str], ...]:
    if not images:  # most fields show none
        return ()
    return tuple((_str(src), _str(name), _str(digest)) for src, name, digest in images)


def fields_json(entries: dict[str, CachedField]) -> dict:
    return {key: [entry.html, [list(image) for image in entry.images]] for key, entry in entries.items()}


def _read_document(path: Path) -> dict:
    """A cache file's JSON; empty if it is missing, damaged or of another format."""
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    checksum, _newline, body = data.partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode() != checksum:
        return {}
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return {}
    return document


def _write_document(path: Path, document: dict) -> None:
    """Replace `path` atomically: a sha256 line, then the JSON. Failing to write is no error."""
    body = json.dumps(
        {"format": FORMAT} | document, ensure_ascii=False, separators=(",", ":"), sort_keys=True
    ).encode("utf-8")
    # The cache only saves time: a read-only or full disk must not fail the build.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)


def sha256_file(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def source_key(render_fingerprint: str, path: Path, display: str, data: bytes) -> str:
    """Everything a topic file's cards and their field keys depend on.

    The file's bytes, where it is and how it is shown, the reader's code, and the
    renderer (the field keys kept with the topic hold its fingerprint and folder).
    """
    parts = [
        f"deckgen-topic/{FORMAT}",
        _reader_fingerprint(),
        render_fingerprint,
        str(path.resolve()),
        display,
    ]
    return hashlib.sha256("\0".join(parts).encode("utf-8") + b"\0" + data).hexdigest()


@functools.cache
def _reader_fingerprint() -> str:
    """The code that turns a file into cards: a change to it must not serve old cards."""
    modules = (load, validate, schema, cards, errors)
    digest = hashlib.sha256(f"{__version__}/{yaml.__version__}".encode())
    for module in modules:
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


# The fields the topic cache knows how to keep; a Card or Topic with others is not kept.
_CARD_FIELDS = ("id", "type", "fields", "field_locations", "tags", "location")
_TOPIC_FIELDS = ("key", "title", "path", "display", "tags", "cards")


def topic_json(topic: Topic) -> dict | None:
    """A topic as JSON for the cache (None if it holds what the cache cannot keep)."""
    if tuple(f.name for f in dataclasses.fields(Card)) != _CARD_FIELDS:
        return None
    if tuple(f.name for f in dataclasses.fields(Topic)) != _TOPIC_FIELDS:
        return None
    cards = []
    for card in topic.cards:
        places = [card.location, *card.field_locations.values()]
        if any(place.path != topic.display for place in places):
            return None
        cards.append(
            [
                card.id,
                card.type,
                list(card.fields.items()),  # pairs: JSON objects are written with sorted keys
                [[key, place.line, place.column] for key, place in card.field_locations.items()],
                list(card.tags),
                [card.location.line, card.location.column],
            ]
        )
    return {"title": topic.title, "tags": list(topic.tags), "cards": cards}


def topic_from_json(document: dict, key: str, path: Path, display: str) -> Topic | None:
    try:
        cards = tuple(
            Card(
                card_id,
                card_type,
                {name: _str(text) for name, text in fields},
                {name: Location(display, int(line), int(column)) for name, line, column in places},
                tuple(_str(tag) for tag in tags),
                Location(display, int(line), int(column)),
            )
            for card_id, card_type, fields, places, tags, (line, column) in document["cards"]
        )
        tags = tuple(_str(tag) for tag in document["tags"])
        return Topic(key, _str(document["title"]), path, display, tags, cards)
    except (KeyError, TypeError, ValueError):
        return None


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, found {value!r}")
    return value


class BuildCache:
    """The cache of one build: read as the build goes, written only if it succeeds.

    A failed build must leave the out dir as it was, so what a build would add to the
    cache is held here until `commit`.
    """

    def __init__(self, out_dir: Path, render_fingerprint: str):
        self.out_dir = out_dir
        self.folder = out_dir / CACHE_DIR
        self.render_fingerprint = render_fingerprint
        self._documents: dict[str, dict] = {}  # topic key -> its cache file, while needed
        self._sources: dict[str, tuple[str, Topic | None]] = {}  # topic key -> (source key, topic)
        self._reused: set[str] = set()  # topics taken from the cache
        self._writes: dict[str, tuple[list[str], dict[str, CachedField]]] = {}
        self._kept: set[str] = set()  # topics whose cache file stays as it is
        self._packages = _read_document(self.folder / PACKAGES_FILE).get("packages", {})
        self._package_writes: dict[str, list[str]] = {}

    def _document(self, topic_key: str) -> dict:
        if topic_key not in self._documents:
            self._documents[topic_key] = _read_document(shard_path(self.folder / TOPICS_DIR, topic_key))
        return self._documents[topic_key]

    # -- topic files, as validated ------------------------------------------------------

    def topic_reader(self, read: TopicReader) -> TopicReader:
        """`read`, but taking a topic from the cache while its file has the same bytes."""

        def read_topic(key: str, path: Path, problems: Problems) -> Topic | None:
            display = display_path(path)
            try:
                source = source_key(self.render_fingerprint, path, display, path.read_bytes())
            except OSError:
                return read(key, path, problems)  # let the reader report it
            document = self._document(key)
            if document.get("source") == source and isinstance(document.get("topic"), dict):
                topic = topic_from_json(document.pop("topic"), key, path, display)
                if topic is not None:
                    self._sources[key] = (source, topic)
                    self._reused.add(key)
                    return topic
            before = len(problems.items)
            topic = read(key, path, problems)
            # A file with problems is read again next time, so that they are reported again.
            clean = topic is not None and len(problems.items) == before
            self._sources[key] = (source, topic if clean else None)
            return topic

        return read_topic

    # -- rendered fields ----------------------------------------------------------------

    def read(self, topic_key: str) -> tuple[list[str] | None, dict[str, CachedField]]:
        """The field keys of a topic taken from the cache (else None), and its kept fields.

        The keys are those of the topic's Markdown fields in order, as `field_key` made
        them: they hold while the file is unchanged, which is when its topic is reused.
        """
        document = self._document(topic_key)
        self._documents.pop(topic_key, None)  # the fields are in memory once: here
        keys = document.get("keys") if topic_key in self._reused else None
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            keys = None
        return keys, fields_from_json(document)

    def reused(self, topic_key: str) -> bool:
        return topic_key in self._reused

    def replace(self, topic_key: str, keys: list[str], entries: dict[str, CachedField] | None) -> None:
        """What a topic's cache file should hold after this build (None: what it holds)."""
        if entries is None:
            self._kept.add(topic_key)
        else:
            self._writes[topic_key] = (keys, entries)

    # -- packages ----------------------------------------------------------------------

    def unchanged_package(self, final: Path, key: str) -> bool:
        """Whether `final` is still the package this build would write (`key`: package_key).

        True only if the last build wrote it from the same key and its bytes are still
        the bytes that build wrote; then there is nothing to write.
        """
        entry = self._packages.get(final.name)
        if not isinstance(entry, list) or entry[:1] != [key] or len(entry) != 2:
            return False
        return sha256_file(final) == entry[1]

    def wrote_package(self, final: Path, key: str, written: Path) -> None:
        """`written` (a temporary file) becomes `final` if the build succeeds."""
        self._package_writes[final.name] = [key, sha256_file(written) or ""]

    def commit(self, packages: list[Path]) -> None:
        """Write what this build read, rendered and packaged; forget what it no longer has."""
        folder = self.folder / TOPICS_DIR
        for topic_key, (keys, entries) in self._writes.items():
            source, topic = self._sources.get(topic_key, ("", None))
            document = topic_json(topic) if topic is not None else None
            _write_document(
                shard_path(folder, topic_key),
                {
                    "source": source if document else "",
                    "topic": document,
                    "keys": keys,
                    "fields": fields_json(entries),
                },
            )
        if folder.is_dir():
            # Forget topic files that are gone (and temporary files of killed builds).
            keep = {shard_path(folder, topic_key) for topic_key in self._writes.keys() | self._kept}
            for path in folder.iterdir():
                if path not in keep:
                    path.unlink(missing_ok=True)
        index = {
            final.name: self._package_writes.get(final.name) or self._packages[final.name]
            for final in packages
            if final.name in self._package_writes or final.name in self._packages
        }
        if index != self._packages:
            _write_document(self.folder / PACKAGES_FILE, {"packages": index})
