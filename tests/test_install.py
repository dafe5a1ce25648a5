"""Installing deckgen anywhere: the sdist and wheel that releases attach, built the way
pip builds (the wheel from the sdist), installed into a fresh venv, start, check and
build a new deck outside the repository, and the package imports into Anki.

The slow test of the suite (a fresh venv downloads deckgen's dependencies from PyPI):
`pytest -m 'not slow'` leaves it out.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

from deckgen import __version__

from conftest import REPO

pytestmark = pytest.mark.slow

NOT_IN_A_CLONE = (".git", ".venv", "*.egg-info", "build", "__pycache__", ".*_cache", ".hypothesis")
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def run(*command, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([*map(str, command)], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"
    return result


def package_files() -> set[str]:
    """Every file of the deckgen package in the source tree: code and data alike."""
    files = (REPO / "deckgen").rglob("*")
    return {p.relative_to(REPO).as_posix() for p in files if p.is_file() and "__pycache__" not in p.parts}


def test_a_wheel_built_from_the_sdist_installs_and_builds_a_new_deck(tmp_path, anki):
    # From a copy as a fresh clone has it: a deckgen.egg-info left by an earlier build
    # or editable install would lend the sdist the files that it listed then.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_IN_A_CLONE))
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, source)  # sdist, then the wheel from it
    assert PROJECT["dynamic"] == ["version"]  # written once, in deckgen/__init__.py
    version = __version__
    sdist, wheel = dist / f"deckgen-{version}.tar.gz", dist / f"deckgen-{version}-py3-none-any.whl"
    assert sorted(dist.iterdir()) == [wheel, sdist]

    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    missing = package_files() - in_sdist
    assert not missing, f"not in the sdist (add them to package-data in pyproject.toml): {sorted(missing)}"
    assert {"LICENSE", "README.md", "pyproject.toml", "constraints.txt"} <= in_sdist
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
        metadata = HeaderParser().parsestr(archive.read(f"deckgen-{version}.dist-info/METADATA").decode())
    missing = package_files() - in_wheel
    assert not missing, f"not in the wheel (add them to package-data in pyproject.toml): {sorted(missing)}"
    assert f"deckgen-{version}.dist-info/licenses/LICENSE" in in_wheel
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Author"] == "The deckgen authors"
    assert "Source, https://github.com/deckgen/deckgen" in metadata.get_all("Project-URL")
    assert "Topic :: Education" in metadata.get_all("Classifier")
    assert "anki" in metadata["Keywords"].split(",")
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().startswith("# deckgen\n")

    # Nothing from this repository or its venv, from here on: `python -m` looks in the
    # current folder first, and the repository's deckgen.egg-info would pass for an
    # installed deckgen.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    work = tmp_path / "work"
    work.mkdir()
    assert not work.resolve().is_relative_to(REPO)
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=work, env=env)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-input"]
    run(*pip, "-c", REPO / "constraints.txt", wheel, cwd=work, env=env)
    where = run(venv / "bin" / "python", "-c", "import deckgen; print(deckgen.__file__)", cwd=work, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv)

    deckgen = venv / "bin" / "deckgen"
    assert run(deckgen, "--version", cwd=work, env=env).stdout == f"deckgen, version {version}\n"
    run(deckgen, "init", "fresh-deck", cwd=work, env=env)
    deck = work / "fresh-deck"
    assert run(deckgen, "check", cwd=deck, env=env).stdout == "4 notes in 1 topics: no errors\n"
    run(deckgen, "build", cwd=deck, env=env)
    run(deckgen, "build", "--locked", cwd=deck, env=env)  # as the deck's CI workflow does
    run(deckgen, "preview", cwd=deck, env=env)  # the preview's CSS and script are package data
    assert (deck / "build" / "preview" / "index.html").is_file()

    log = anki.import_package(deck / "build" / "fresh-deck.apkg")
    assert log.new == 4
    assert anki.card_count() == 6
    assert anki.deck_names() == {"Fresh Deck", "Fresh Deck::01 Getting Started"}  # numbered: learning order
