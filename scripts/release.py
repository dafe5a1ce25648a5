#!/usr/bin/env python3
"""A deck release, end to end and without GitHub: build, release notes, assets.

    python scripts/release.py --out release [--cards cards] [--previous DIR] [--tag vX.Y.Z]

Writes into `--out`:
  - the packages, SHA256SUMS and manifest.json, from `deckgen build --locked` (so a
    release never carries a lock that does not match its cards);
  - RELEASE-NOTES.md, from scripts/release_notes.py against `--previous`, the previous
    release's assets (missing or empty for the first release);
  - assets.txt, the files to publish, one name (inside `--out`) a line.
With `--tag`, the tag must be "v" + the deck's `version:`, the version learners see in
Anki. .github/workflows/release.yml fetches the previous release, calls this, and
publishes; the same run works locally. Exit status 0, or non-zero with a message.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import release_notes

from deckgen.report import MANIFEST_FILE, SUMS_FILE

NOTES_FILE = "RELEASE-NOTES.md"
ASSETS_FILE = "assets.txt"


def _fail(message: str) -> int:
    print(f"release: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the release's files")
    parser.add_argument("--cards", type=Path, default=Path("cards"), help="card folder (default: cards)")
    parser.add_argument("--previous", type=Path, help="the previous release's assets (may be missing)")
    parser.add_argument("--tag", help="the git tag being released, e.g. v1.2.0")
    args = parser.parse_args(argv)
    if args.previous is not None and args.previous.resolve() == args.out.resolve():
        return _fail("--previous and --out must be different folders")

    for name in (NOTES_FILE, ASSETS_FILE):  # from an earlier run: never publish stale ones
        (args.out / name).unlink(missing_ok=True)
    build = [sys.executable, "-m", "deckgen", "build", "--locked"]
    build += ["--cards", str(args.cards), "--out", str(args.out)]
    if subprocess.run(build).returncode != 0:
        return _fail("the build failed; nothing to publish")
    manifest = release_notes.read_manifest(args.out)
    assert manifest is not None  # a build always writes it
    if args.tag is not None and args.tag != f"v{manifest['deck_version']}":
        return _fail(
            f"tag {args.tag} does not match the deck version {manifest['deck_version']!r} "
            f"in {args.cards / 'deck.yaml'}: set `version:` there (learners see it in Anki), "
            "rebuild, commit, and tag that commit"
        )

    notes = ["--build", str(args.out), "--output", str(args.out / NOTES_FILE)]
    if args.previous is not None:
        notes += ["--previous", str(args.previous)]
    if release_notes.main(notes) != 0:
        return _fail("could not write the release notes")
    assets = [package["file"] for package in manifest["packages"]] + [SUMS_FILE, MANIFEST_FILE]
    (args.out / ASSETS_FILE).write_text("".join(f"{name}\n" for name in assets), encoding="utf-8")

    print(f"Release notes: {args.out / NOTES_FILE}")
    print(f"Assets ({args.out / ASSETS_FILE}):")
    for name in assets:
        print(f"  {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
