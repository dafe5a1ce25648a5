#!/usr/bin/env python3
"""Release notes: what learners get in this release, compared to the previous one.

    python scripts/release_notes.py --build build [--previous previous] [--output NOTES.md]

`--build` is a `deckgen build` output folder (packages, SHA256SUMS, manifest.json).
`--previous` holds the previous release's packages (and its manifest.json, when it had
one); a missing or empty folder means this is the first release. Cards added, changed
and removed come from `deckgen diff` of the two whole-deck packages, grouped by topic.
Writes Markdown to `--output`, or to standard output. Exit status 0, or 2 on trouble.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deckgen.diff import diff_packages, format_markdown, read_package
from deckgen.errors import DeckError, Location, Problem
from deckgen.report import MANIFEST_FILE, SUMS_FILE


def read_manifest(folder: Path) -> dict | None:
    """The manifest.json in `folder`, or None when there is none."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise DeckError([Problem(Location(str(path)), f"not a deckgen manifest ({error})")]) from None


def release_notes(build_dir: Path, previous_dir: Path | None) -> str:
    """The Markdown notes for the packages in `build_dir`. Raises DeckError."""
    manifest = read_manifest(build_dir)
    if manifest is None:
        raise DeckError(
            [Problem(Location(str(build_dir)), f"no {MANIFEST_FILE}: is this a `deckgen build` folder?")]
        )
    lines = _headline(manifest)
    lines += _changes(manifest, build_dir, previous_dir)
    lines += _retired(manifest, previous_dir)
    lines += _packages(manifest, previous_dir)
    sums = (build_dir / SUMS_FILE).read_text(encoding="utf-8")
    lines += [
        "## Checksums",
        "",
        f"To check your downloads, save `{SUMS_FILE}` beside them and run "
        f"`sha256sum -c --ignore-missing {SUMS_FILE}`:",
        "",
        "```",
        sums.rstrip("\n"),
        "```",
    ]
    return "\n".join(lines) + "\n"


def _headline(manifest: dict) -> list[str]:
    version = manifest.get("deck_version")
    headline = f"**{manifest['deck']}**"
    if version:
        headline += f", deck version **{version}**"
    headline += f": {manifest['notes']} notes, {manifest['cards']} cards in {len(manifest['decks'])} topics."
    built = f"Built with deckgen {manifest['deckgen_version']}"
    if manifest.get("source_commit"):
        built += f" from commit {manifest['source_commit']}"
    return [headline, "", built + ".", ""]


def _changes(manifest: dict, build_dir: Path, previous_dir: Path | None) -> list[str]:
    """Cards added, changed and removed, per topic, from the two whole-deck packages."""
    whole = next(package["file"] for package in manifest["packages"] if package["topic"] is None)
    old_package = previous_dir / whole if previous_dir is not None else None
    if old_package is None or not old_package.is_file():
        return ["## Changes", "", "First release.", ""]
    old_version = (read_manifest(previous_dir) or {}).get("deck_version")
    since = f"deck version {old_version}" if old_version else "the previous release"
    changes = diff_packages(read_package(old_package), read_package(build_dir / whole))
    summary = "No card changes." if changes.equal else format_markdown(changes).rstrip("\n")
    return [f"## Changes since {since}", "", summary, ""]


def _retired(manifest: dict, previous_dir: Path | None) -> list[str]:
    """The cards retired since the previous release, with why, from the manifests."""
    before = (read_manifest(previous_dir) or {}) if previous_dir is not None and previous_dir.is_dir() else {}
    known = {entry["id"] for entry in before.get("retired", [])}
    new = [entry for entry in manifest.get("retired", []) if entry["id"] not in known]
    if not new:
        return []
    package = next(p["file"] for p in manifest["packages"] if p["topic"] == "retired")
    lines = [
        "## Retired",
        "",
        f"These cards were taken out of the deck. Anki never deletes a card on import, so import "
        f"`{package}` after the deck: it marks each of them with the tag `deckgen::retired` and a line "
        "saying why. Then in Browse, search `tag:deckgen::retired`, select all, and delete or suspend them.",
        "",
    ]
    for entry in new:
        why = entry["reason"] or "removed from the deck"
        replaced = f" Replaced by `{entry['replaced_by']}`." if entry.get("replaced_by") else ""
        lines.append(f"- `{entry['id']}`: {why}{replaced}")
    return [*lines, ""]


def _packages(manifest: dict, previous_dir: Path | None) -> list[str]:
    titles = {deck["topic"]: deck["name"].removeprefix(manifest["deck"] + "::") for deck in manifest["decks"]}
    lines = [
        "## Packages",
        "",
        "Import the whole deck, or only the topics you want. Importing a newer package updates "
        "the cards you already have and keeps your review history.",
        "",
        "| package | contents | notes | cards |",
        "| --- | --- | ---: | ---: |",
    ]
    for package in manifest["packages"]:
        contents = {None: "whole deck", "retired": "retired cards (for learners who have the deck)"}.get(
            package["topic"]
        ) or titles[package["topic"]]
        lines.append(f"| `{package['file']}` | {contents} | {package['notes']} | {package['cards']} |")
    lines.append("")
    if previous_dir is None or not previous_dir.is_dir():
        return lines
    now = {package["file"] for package in manifest["packages"]}
    before = {path.name for path in previous_dir.glob("*.apkg")}
    if before and now - before:
        lines += ["New packages: " + ", ".join(f"`{name}`" for name in sorted(now - before)) + ".", ""]
    if before - now:
        lines += [
            "No longer published: "
            + ", ".join(f"`{name}`" for name in sorted(before - now))
            + " (the cards you already have from it stay in your collection).",
            "",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, required=True, help="the new `deckgen build` folder")
    parser.add_argument("--previous", type=Path, help="the previous release's assets (may be missing)")
    parser.add_argument("--output", type=Path, help="where to write the notes (default: standard output)")
    args = parser.parse_args(argv)
    try:
        notes = release_notes(args.build, args.previous)
    except DeckError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(notes)
    else:
        args.output.write_text(notes, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
