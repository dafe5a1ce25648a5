"""Beside step 3 of the pipeline (render): rendered fields kept between builds.

Rendering Markdown is most of a build's work, and a field's HTML depends only on
what `field_key` hashes (the renderer's fingerprint, the cards folder, the folder of
the card's file, the field's text) and on the bytes of the images it shows. So a build
keeps every field it rendered under `build/.cache/render/`, and the next build takes a
field from there when its key is the same and each image it used still has the same
sha256 (render.py checks that). The cache never changes the output: an entry that is
missing, stale, damaged or written by another version is ignored and rendered again.

Entries are kept in one file per topic file: a build reads every file and rewrites
only those whose fields changed. Each file is a sha256 line then JSON, written under a
temporary name and renamed, so a damaged or half-written file is seen and ignored.
The cache lives outside what a build publishes: no package, SHA256SUMS or manifest
lists it, and deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

CACHE_DIR = ".cache"  # under the build's out dir
RENDER_DIR = "render"
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


def read_shard(path: Path) -> dict[str, CachedField]:
    """The entries kept in `path`; none if it is missing, damaged or of another format."""
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    checksum, _newline, body = data.partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode() != checksum:
        return {}
    try:
        document = json.loads(body)
        if document["format"] != FORMAT:
            return {}
        return {
            key: CachedField(html, tuple((src, name, digest) for src, name, digest in images))
            for key, (html, images) in document["fields"].items()
            if isinstance(html, str) and all(isinstance(part, str) for image in images for part in image)
        }
    except (ValueError, KeyError, TypeError):
        return {}


def write_shard(path: Path, entries: dict[str, CachedField]) -> None:
    """Replace `path` with `entries`, atomically; a cache that cannot be written is skipped."""
    document = {
        "format": FORMAT,
        "fields": {
            key: [entry.html, [list(image) for image in entry.images]] for key, entry in entries.items()
        },
    }
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
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


class RenderCache:
    """The render cache of one build: read as it renders, written only if the build succeeds.

    A failed build must leave the out dir as it was, so the fields a build rendered are
    held here until `commit`.
    """

    def __init__(self, out_dir: Path):
        self.folder = out_dir / CACHE_DIR / RENDER_DIR
        self._writes: dict[Path, dict[str, CachedField]] = {}
        self._keep: set[Path] = set()

    def read(self, topic_key: str) -> dict[str, CachedField]:
        return read_shard(shard_path(self.folder, topic_key))

    def replace(self, topic_key: str, entries: dict[str, CachedField], changed: bool) -> None:
        """What the topic file's cache file should hold after this build."""
        path = shard_path(self.folder, topic_key)
        self._keep.add(path)
        if changed:
            self._writes[path] = entries

    def commit(self) -> None:
        for path, entries in self._writes.items():
            write_shard(path, entries)
        self._writes = {}
        if not self.folder.is_dir():
            return
        # Forget topic files that are gone (and temporary files of killed builds).
        for path in self.folder.iterdir():
            if path not in self._keep:
                path.unlink(missing_ok=True)
