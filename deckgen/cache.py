"""Beside steps 3 and 5 of the pipeline (render, package): work kept between builds.

Rendering Markdown is most of a build's work, and a field's HTML depends only on
what `field_key` hashes (the renderer's fingerprint, the cards folder, the folder of
the card's file, the field's text) and on the bytes of the images it shows. So a build
keeps every field it rendered under `build/.cache/render/`, and the next build takes a
field from there when its key is the same and each image it used still has the same
sha256 (render.py checks that). Fields are kept in one file per topic file: a build
reads every file and rewrites only those whose fields changed.

Packages: `build/.cache/packages.json` records, for each package in the out dir, the
`package_key` it was written from and the sha256 it was written with. A package whose
key and bytes are both unchanged is left as it is instead of being written again.

The cache never changes the output: anything missing, stale, damaged or written by
another version is ignored and made again. Each cache file is a sha256 line then
JSON, written under a temporary name and renamed, and the cache is written only when
the build succeeds. It is never published: no package, SHA256SUMS or manifest lists
it, and deleting `build/.cache` is always safe.
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


def read_shard(path: Path) -> dict[str, CachedField]:
    """The fields kept in `path`; none if it is missing, damaged or of another format."""
    document = _read_document(path)
    try:
        return {
            key: CachedField(html, tuple((src, name, digest) for src, name, digest in images))
            for key, (html, images) in document["fields"].items()
            if isinstance(html, str) and all(isinstance(part, str) for image in images for part in image)
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_shard(path: Path, entries: dict[str, CachedField]) -> None:
    fields = {key: [entry.html, [list(image) for image in entry.images]] for key, entry in entries.items()}
    _write_document(path, {"fields": fields})


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


class BuildCache:
    """The cache of one build: read as the build goes, written only if it succeeds.

    A failed build must leave the out dir as it was, so what a build would add to the
    cache is held here until `commit`.
    """

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.folder = out_dir / CACHE_DIR
        self._render_writes: dict[Path, dict[str, CachedField]] = {}
        self._render_keep: set[Path] = set()
        self._packages = _read_document(self.folder / PACKAGES_FILE).get("packages", {})
        self._package_writes: dict[str, list[str]] = {}

    # -- rendered fields, one file per topic file --------------------------------------

    def read(self, topic_key: str) -> dict[str, CachedField]:
        return read_shard(shard_path(self.folder / RENDER_DIR, topic_key))

    def replace(self, topic_key: str, entries: dict[str, CachedField], changed: bool) -> None:
        """What the topic file's cache file should hold after this build."""
        path = shard_path(self.folder / RENDER_DIR, topic_key)
        self._render_keep.add(path)
        if changed:
            self._render_writes[path] = entries

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
        """Write what this build rendered and packaged; forget what it no longer has."""
        for path, entries in self._render_writes.items():
            write_shard(path, entries)
        render_folder = self.folder / RENDER_DIR
        if render_folder.is_dir():
            # Forget topic files that are gone (and temporary files of killed builds).
            for path in render_folder.iterdir():
                if path not in self._render_keep:
                    path.unlink(missing_ok=True)
        index = {
            final.name: self._package_writes.get(final.name) or self._packages[final.name]
            for final in packages
            if final.name in self._package_writes or final.name in self._packages
        }
        if index != self._packages:
            _write_document(self.folder / PACKAGES_FILE, {"packages": index})
