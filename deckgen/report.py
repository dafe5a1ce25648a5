"""Step 6 of the pipeline: what a build made, for people and for release tooling.

`build/SHA256SUMS` (checkable with `cd build && sha256sum -c SHA256SUMS`) and
`build/manifest.json` (packages, decks, counts, versions, source commit). Both are
deterministic for the same sources, lock and commit, like the packages.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from . import __version__

SUMS_FILE = "SHA256SUMS"
MANIFEST_FILE = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sums_text(files: dict[str, Path]) -> str:
    """`sha256sum` format for {name in build/: file with that content}."""
    return "".join(f"{sha256_file(path)}  {name}\n" for name, path in sorted(files.items()))


def source_commit(folder: Path) -> str | None:
    """The git commit the cards were built from, or None outside a git checkout.

    "+dirty" is appended when the cards folder differs from that commit, so a manifest
    never claims a commit whose cards it was not built from.
    """
    head = _git(folder, "rev-parse", "HEAD")
    if not head:
        return None
    changes = _git(folder, "status", "--porcelain", "--", ".")
    return f"{head}+dirty" if changes else head


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def manifest_text(
    *,
    deck_title: str,
    deck_version: str,
    namespace: str,
    packages: list[dict],
    decks: list[dict],
    commit: str | None,
) -> str:
    manifest = {
        "deck": deck_title,
        "namespace": namespace,
        "deck_version": deck_version,
        "deckgen_version": __version__,
        "source_commit": commit,
        "packages": packages,
        "decks": decks,
        "notes": sum(d["notes"] for d in decks),
        "cards": sum(d["cards"] for d in decks),
    }
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
