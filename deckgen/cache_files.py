"""The cache's files (cache.py): a sha256 line, the document's source line, then the
document in Python's `marshal` format, of one FORMAT; and the index of the packages a
build wrote (`packages.bin`). Anything damaged reads as empty.

marshal, not JSON: a one-card rebuild at 20,000 cards reads every topic's cards and
fields back, 22 MB, which took 0.3-0.6 s as JSON and a third of that as marshal. Its
format belongs to the Python version, which is part of the code fingerprint (cache_keys),
and a file is only unmarshalled once its sha256 line matches its bytes (marshal is not
meant for bytes it did not write).
"""

from __future__ import annotations

import hashlib
import marshal
from pathlib import Path

from .cache_keys import FORMAT, code_fingerprint
from .output import sha256_file

_MARSHAL_VERSION = 4


def read_document(path: Path) -> dict:
    """A cache file's document; empty if it is missing, damaged or of another format."""
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    checksum, _newline, rest = data.partition(b"\n")
    if hashlib.sha256(rest).hexdigest().encode() != checksum:
        return {}
    try:
        document = marshal.loads(rest.partition(b"\n")[2])
    except (ValueError, EOFError, TypeError):
        return {}
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return {}
    return document


def document_bytes(document: dict) -> bytes:
    """The file of `document`; its "source" (a hex key) is written on a line of its own
    too, for `document_source`."""
    source = document.get("source")
    head = source.encode("ascii") if isinstance(source, str) and source.isalnum() else b""
    rest = head + b"\n" + marshal.dumps({"format": FORMAT} | document, _MARSHAL_VERSION)
    return hashlib.sha256(rest).hexdigest().encode() + b"\n" + rest


def document_source(path: Path) -> str | None:
    """The "source" a cache file was kept under, from its first bytes only (its sha256 is
    checked when the whole file is read)."""
    try:
        with path.open("rb") as file:
            head = file.read(256)
    except OSError:
        return None
    lines = head.split(b"\n", 2)
    if len(lines) < 3 or not lines[1]:
        return None
    return lines[1].decode("ascii", "replace")


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
        """What packages.bin should hold after this build (None: as it is)."""
        index = {
            final.name: self._writes.get(final.name) or self._entries[final.name]
            for final in packages
            if final.name in self._writes or final.name in self._entries
        }
        return None if index == self._entries else {"packages": index}


def package_index_key(key: str) -> str:
    return hashlib.sha256(f"{code_fingerprint()}\0{key}".encode()).hexdigest()
