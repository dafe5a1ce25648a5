"""The cache's keys (cache.py): what each kept thing depends on, deckgen's own code included.

A field's key holds its text, folders, the deck's HTML opt-ins and whether it is HTML
already; a topic's its file's bytes and place; every key holds `code_fingerprint`, a hash
of every source and data file of the installed package, so no edit of deckgen ever
serves what its previous self made.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from pathlib import Path
from urllib.parse import quote

from . import __version__

# Bump when the layout of a cache file changes; older files are then ignored.
FORMAT = 3
_DATA_SUFFIXES = {".py", ".css", ".js", ".json", ".yaml"}


@functools.cache
def code_fingerprint() -> str:
    """deckgen's own files and the versions of what renders and packages for it."""
    return package_fingerprint(Path(__file__).parent)


def package_fingerprint(root: Path) -> str:
    """A hash of every source and data file under `root` (a deckgen package), and of
    the versions of the libraries whose output the cache keeps."""
    import genanki
    import markdown
    import pygments
    import yaml

    versions = (__version__, yaml.__version__, markdown.__version__, pygments.__version__)
    digest = hashlib.sha256(repr((versions, genanki.__version__, sys.version)).encode())
    for path in sorted(root.rglob("*")):
        if path.suffix in _DATA_SUFFIXES and "__pycache__" not in path.parts and path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def field_key(
    cards_dir: Path, base: Path, text: str, allow: frozenset[str] = frozenset(), html: bool = False
) -> str:
    """Everything a field's HTML and its problems depend on, apart from the media files
    it uses; `allow` is the deck's HTML opt-ins, `html` whether the text is HTML already."""
    opt_ins = ",".join(sorted(allow))
    form = "html" if html else "markdown"
    parts = (f"deckgen-field/{FORMAT}", code_fingerprint(), str(cards_dir), str(base), opt_ins, form, text)
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def source_key(path: Path, display: str, data: bytes) -> str:
    """Everything a topic file's cards depend on: its bytes, where it is and how it is
    shown, and deckgen's code."""
    parts = [f"deckgen-topic/{FORMAT}", code_fingerprint(), str(path.resolve()), display]
    return hashlib.sha256("\0".join(parts).encode("utf-8") + b"\0" + data).hexdigest()


def shard_path(folder: Path, topic_key: str) -> Path:
    """The cache file of one topic (topic keys may hold '/', file names may not)."""
    return folder / f"{quote(topic_key, safe='')}.bin"
