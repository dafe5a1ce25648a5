"""The cache's files (cache.py): a sha256 line then JSON, of one FORMAT; and the index of
the packages a build wrote (`packages.json`). Anything damaged reads as empty.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .cache_keys import FORMAT, code_fingerprint
from .output import sha256_file


def read_document(path: Path) -> dict:
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


def document_text(document: dict) -> str:
    body = json.dumps(
        {"format": FORMAT} | document, ensure_ascii=False, separators=(",", ":"), sort_keys=True
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest() + "\n" + body


class PackageIndex:
    """Which packages in the out dir are already what this build would write."""

    def __init__(self, path: Path):
        self.path = path
        self._entries = read_document(path).get("packages", {})
        self._writes: dict[str, list[str]] = {}

    def unchanged(self, final: Path, key: str) -> bool:
        """True only if the last build wrote `final` from the same key (and the same
        deckgen) and its bytes are still the bytes that build wrote."""
        entry = self._entries.get(final.name)
        if not isinstance(entry, list) or entry[:1] != [package_index_key(key)] or len(entry) != 2:
            return False
        try:
            return sha256_file(final) == entry[1]
        except OSError:
            return False

    def wrote(self, final: Path, key: str, written: Path) -> None:
        """`written` (a temporary file) becomes `final` if the build succeeds."""
        self._writes[final.name] = [package_index_key(key), sha256_file(written)]

    def document(self, packages: list[Path]) -> dict | None:
        """What packages.json should hold after this build (None: as it is)."""
        index = {
            final.name: self._writes.get(final.name) or self._entries[final.name]
            for final in packages
            if final.name in self._writes or final.name in self._entries
        }
        return None if index == self._entries else {"packages": index}


def package_index_key(key: str) -> str:
    return hashlib.sha256(f"{code_fingerprint()}\0{key}".encode()).hexdigest()
