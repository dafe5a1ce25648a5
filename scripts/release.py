#!/usr/bin/env python3
"""A deck release, end to end and without GitHub: build, release notes, assets.

    python scripts/release.py --out release [--cards cards] [--previous DIR] [--tag vX.Y.Z]
                              [--python-package]

Writes into `--out`:
  - the packages, SHA256SUMS and manifest.json, from `deckgen build --locked` (so a
    release never carries a lock that does not match its cards);
  - RELEASE-NOTES.md, from scripts/release_notes.py against `--previous`, the previous
    release's assets (missing or empty for the first release);
  - with `--python-package`, deckgen's own wheel and sdist, built from this checkout
    with `python -m build` (the wheel from the sdist, as pip would), so anyone can
    install the tool for a deck of their own; SHA256SUMS lists them too;
  - assets.txt, the files to publish, one name (inside `--out`) a line.
With `--tag`, the tag must be "v" + the deck's `version:`, the version learners see in
Anki. .github/workflows/release.yml fetches the previous release, calls this, and
publishes; the same run works locally. Exit status 0, or non-zero with a message.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import release_notes

from deckgen.report import MANIFEST_FILE, SUMS_FILE

NOTES_FILE = "RELEASE-NOTES.md"
ASSETS_FILE = "assets.txt"
CHECKOUT = Path(__file__).resolve().parents[1]  # deckgen's source: pyproject.toml is here


def _fail(message: str) -> int:
    print(f"release: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the release's files")
    parser.add_argument("--cards", type=Path, default=Path("cards"), help="card folder (default: cards)")
    parser.add_argument("--previous", type=Path, help="the previous release's assets (may be missing)")
    parser.add_argument("--tag", help="the git tag being released, e.g. v1.2.0")
    parser.add_argument(
        "--python-package", action="store_true", help="also build deckgen's wheel and sdist into --out"
    )
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

    python_package: list[str] = []
    if args.python_package:
        python_package = _build_python_package(args.out)
        if not python_package:
            return _fail("could not build deckgen's wheel and sdist")

    notes = ["--build", str(args.out), "--output", str(args.out / NOTES_FILE)]
    if args.previous is not None:
        notes += ["--previous", str(args.previous)]
    if release_notes.main(notes) != 0:
        return _fail("could not write the release notes")
    assets = [package["file"] for package in manifest["packages"]] + [SUMS_FILE, MANIFEST_FILE]
    assets += python_package
    (args.out / ASSETS_FILE).write_text("".join(f"{name}\n" for name in assets), encoding="utf-8")

    print(f"Release notes: {args.out / NOTES_FILE}")
    print(f"Assets ({args.out / ASSETS_FILE}):")
    for name in assets:
        print(f"  {args.out / name}")
    return 0


def _build_python_package(out: Path) -> list[str]:
    """deckgen's sdist and wheel, copied into `out` and added to its SHA256SUMS: their names.

    Built in a folder of their own, so that a wheel left in `out` by an earlier run is
    never taken for this one's. An empty list when the build failed (its output shown).
    """
    with tempfile.TemporaryDirectory() as folder:
        dist = Path(folder)
        built = subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(dist), str(CHECKOUT)],
            capture_output=True,
            text=True,
        )
        files = sorted(dist.glob("*.tar.gz")) + sorted(dist.glob("*.whl"))
        if built.returncode != 0 or len(files) != 2:
            print(built.stdout + built.stderr, file=sys.stderr)
            return []
        sums = []
        for path in files:
            (out / path.name).write_bytes(path.read_bytes())
            sums.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    with (out / SUMS_FILE).open("a", encoding="utf-8") as handle:  # the build wrote it afresh
        handle.writelines(sums)
    return [path.name for path in files]


if __name__ == "__main__":
    sys.exit(main())
