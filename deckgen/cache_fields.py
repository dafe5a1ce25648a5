"""The rendered fields of one topic in the build cache (`fields/<topic>.bin`).

Used by the build's own process (cache.BuildCache.field_renderer) and by the worker that
compiles a topic it has read (compile.py): both look a topic's fields up and write its
file the same way, so the cache is the same whichever process compiled the topic.

A field's HTML depends only on what `field_key` hashes (deckgen's code, the cards folder,
the folder of the card's file, the field's text, the deck's HTML opt-ins) and on the bytes
of the media files it uses: a field is taken from the cache when its key is the same and
each media file still has the same sha256. Only fields without problems are kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from .cache_files import document_bytes, read_document
from .cache_keys import field_key
from .cache_topics import expect_type
from .render import FieldRequest, MediaFiles, RenderedField


@dataclass(frozen=True)
class CachedField:
    html: str
    images: tuple[tuple[str, str, str], ...]  # each media file: (src as written, name, sha256)


@dataclass
class TopicFields:
    """One topic's run of field requests as the cache holds them."""

    found: list[RenderedField | None]  # each field from the cache (None: to render)
    keys: list[str]  # each field's `field_key`
    reused: bool  # the keys were the kept ones (the topic file is unchanged)

    def file(
        self, source: str, requests: list[FieldRequest], fields: list[RenderedField], media: MediaFiles
    ) -> bytes | None:
        """The topic's fields file after this build, `fields` being all its fields
        (from the cache or rendered): None where the file it has stays as it is."""
        if self.reused and all(found is not None for found in self.found):
            return None
        entries = {}
        for key, result in zip(self.keys, fields, strict=True):
            if result.errors:
                continue  # a field with a problem is rendered again, to report it again
            images = [
                [src, item.name, media.digest(item.source)]
                for src, item in zip(result.images, result.media, strict=True)
            ]
            entries[key] = [result.html, images]
        allow = sorted(requests[0].allow) if requests else []
        return document_bytes({"source": source, "allow": allow, "keys": self.keys, "fields": entries})


def look_up(shard: Path, source: str, requests: list[FieldRequest], media: MediaFiles) -> TopicFields:
    """The fields of one topic (its requests, in order) from its cache file `shard`;
    `source` is the topic file's source key ("" if not known)."""
    document = read_document(shard)
    kept = document.get("keys")
    # The kept keys hold the opt-ins they were made with: reuse them under the same.
    same_allow = bool(requests) and document.get("allow") == sorted(requests[0].allow)
    reused = (
        bool(source) and document.get("source") == source and same_allow and _strings(kept, len(requests))
    )
    if reused:
        keys = list(kept)  # type: ignore[arg-type]
    else:
        resolved = functools.lru_cache(maxsize=None)(Path.resolve)  # a few bases, many fields
        keys = [field_key(media.cards_dir, resolved(r.base), r.text, r.allow, r.html) for r in requests]
    entries = _fields_from_document(document)
    found: list[RenderedField | None] = []
    for key, request in zip(keys, requests, strict=True):
        entry = entries.get(key)
        found.append(None if entry is None else _from_cache(media, entry, request.base))
    return TopicFields(found, keys, reused)


def spans(requests: list[FieldRequest]) -> list[tuple[str, int, int]]:
    """(topic, start, end) of each topic's run of requests, in order."""
    found: list[tuple[str, int, int]] = []
    for index, request in enumerate(requests):
        if found and found[-1][0] == request.topic:
            found[-1] = (request.topic, found[-1][1], index + 1)
        else:
            found.append((request.topic, index, index + 1))
    return found


def _fields_from_document(document: dict) -> dict[str, CachedField]:
    try:
        return {
            key: CachedField(expect_type(str, html), tuple(tuple(map(str, image)) for image in images))
            for key, (html, images) in document["fields"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def _from_cache(media: MediaFiles, entry: CachedField, base: Path) -> RenderedField | None:
    """The cached field, if every media file it uses is still there with the same bytes."""
    found = []
    for src, name, digest in entry.images:
        path, _error = media.image_file(src, base)
        if path is None or media.digest(path) != digest:
            return None
        item = media.media_file(path)
        if item.name != name:
            return None
        found.append(item)
    return RenderedField(entry.html, tuple(found), (), tuple(src for src, _name, _digest in entry.images))


def _strings(value: object, length: int) -> bool:
    return isinstance(value, list) and len(value) == length and all(isinstance(v, str) for v in value)
