"""Step 6 of the pipeline: what a build made, for people and for release tooling.

    PackageJob (package.py) -> summaries, SHA256SUMS, manifest.json -> BuildResult

`build/SHA256SUMS` (checkable with `cd build && sha256sum -c SHA256SUMS`) and
`build/manifest.json` (packages, decks, counts, versions, source commit). Both are
deterministic for the same sources, lock and commit, like the packages.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .compile import CompiledDeck
from .errors import Location, Problem, display_path
from .identity import Identified
from .output import sha256_file
from .package import PackageJob

SUMS_FILE = "SHA256SUMS"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class PackageSummary:
    path: Path
    topic: str | None  # None for the whole deck
    decks: int
    notes: int
    cards: int


@dataclass(frozen=True)
class TopicSummary:
    key: str
    deck: str  # full deck name, Root::Topic
    notes: int
    cards: int


def summaries(
    compiled: CompiledDeck, jobs: list[PackageJob], out_dir: Path
) -> tuple[list[PackageSummary], list[TopicSummary]]:
    """Counts of each package and topic, as the packages hold them."""
    packages = [
        PackageSummary(out_dir / job.name, job.topic, len(job.decks), job.notes, job.cards) for job in jobs
    ]
    keys = {topic.key for topic in compiled.deck.topics}  # not the retired cards' package
    topics = [
        TopicSummary(job.topic, job.decks[-1].name, job.notes, job.cards) for job in jobs if job.topic in keys
    ]
    return packages, topics


def report_texts(
    identified: Identified, packages: list[PackageSummary], topics: list[TopicSummary], files: dict[str, Path]
) -> dict[str, str]:
    """SHA256SUMS and manifest.json, from the packages' bytes in `files` (name -> file;
    they may still be under temporary names)."""
    compiled = identified.compiled
    config = compiled.deck.config
    manifest = manifest_text(
        deck_title=config.title,
        deck_version=config.version,
        namespace=config.namespace,
        packages=[
            {
                "file": p.path.name,
                "topic": p.topic,
                "decks": p.decks,
                "notes": p.notes,
                "cards": p.cards,
                "sha256": sha256_file(files[p.path.name]),
            }
            for p in packages
        ],
        decks=[{"name": t.deck, "topic": t.key, "notes": t.notes, "cards": t.cards} for t in topics],
        commit=source_commit(compiled.deck.cards_dir),
        retired=[
            {"id": n.card_id, "reason": n.reason, "replaced_by": n.replaced_by, "retired_in": n.retired_in}
            for n in identified.retired
        ],
    )
    return {SUMS_FILE: sums_text(files), MANIFEST_FILE: manifest}


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
    retired: list[dict] | None = None,
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
        "retired": retired or [],
    }
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def previous_build(out_dir: Path) -> tuple[str, set[str]] | None:
    """The namespace and packages of the build before this one in `out_dir`, as its
    manifest lists them (None if there is no readable manifest). A build removes the
    packages of its own namespace that it no longer writes, and no other file."""
    try:
        manifest = json.loads((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        names = {entry["file"] for entry in manifest["packages"]}
        namespace = manifest["namespace"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    safe = {n for n in names if isinstance(n, str) and Path(n).name == n and n.endswith(".apkg")}
    return (namespace, safe) if isinstance(namespace, str) else None


def stale_packages(
    out_dir: Path, namespace: str, jobs: list[PackageJob], warnings: list[Problem]
) -> tuple[set[str], list[Problem]]:
    """The packages of this deck's previous build in `out_dir` that this one no longer
    writes (to remove), and the warnings, with one more if the folder holds another
    deck's build (its packages are kept, but its checksums and manifest replaced)."""
    previous = previous_build(out_dir)
    if previous is None:
        return set(), list(warnings)
    if previous[0] == namespace:
        return previous[1] - {job.name for job in jobs}, list(warnings)
    other = Problem(
        Location(display_path(out_dir)),
        f"this folder holds another deck's build (namespace {previous[0]!r}): its packages "
        f"are kept, but its {SUMS_FILE} and {MANIFEST_FILE} are replaced; give each deck its own --out",
        "warning",
    )
    return set(), [*warnings, other]
