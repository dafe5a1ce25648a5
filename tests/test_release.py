"""Releases: scripts/release.py and scripts/release_notes.py end to end, the deck version
learners see in Anki, and the README's download links."""

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from deckgen import __version__
from deckgen.build import build

from conftest import REPO, write_deck

SCRIPTS = REPO / "scripts"
DOWNLOAD = "https://github.com/deckgen/deckgen/releases/latest/download"


def run_script(name, *args):
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *map(str, args)], capture_output=True, text=True
    )


def deck_version(cards: Path) -> str:
    return yaml.safe_load((cards / "deck.yaml").read_text(encoding="utf-8"))["version"]


@pytest.fixture
def locked_cards(real_cards, tmp_path):
    """The real cards with a lock that matches them, as on a commit ready to release."""
    build(real_cards, tmp_path / "locking")
    return real_cards


def _small_deck(folder: Path, version: str) -> Path:
    topic = yaml.safe_dump({"deck": "One", "cards": [{"id": "q", "front": "Q", "back": "A"}]})
    config = f"deck: Test Deck\nnamespace: test-deck\nversion: {version}\ndescription: A small deck.\n"
    return write_deck(folder, {"one": topic}, config + "topics: [one]\n")


def test_deck_version_is_in_the_root_deck_description_in_anki(tmp_path, anki):
    cards = _small_deck(tmp_path / "cards", "1.0.0")
    build(cards, tmp_path / "v1", now=1_700_000_000)
    anki.import_package(tmp_path / "v1" / "test-deck.apkg")
    description = anki.col.decks.by_name("Test Deck")["desc"]
    assert "Deck version 1.0.0" in description
    assert "A small deck." in description

    # A new release shows its version to learners who update.
    _small_deck(cards, "1.1.0")
    build(cards, tmp_path / "v2", now=1_700_000_100)
    anki.import_package(tmp_path / "v2" / "test-deck.apkg")
    description = anki.col.decks.by_name("Test Deck")["desc"]
    assert "Deck version 1.1.0" in description and "1.0.0" not in description


def _assets(out: Path) -> list[str]:
    return (out / "assets.txt").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("previous", ["missing", "empty"])
def test_first_release_end_to_end(locked_cards, tmp_path, previous):
    previous_dir = tmp_path / "previous"
    if previous == "empty":
        previous_dir.mkdir()
    out = tmp_path / "release"
    version = deck_version(locked_cards)
    result = run_script(
        "release.py",
        "--cards",
        locked_cards,
        "--out",
        out,
        "--previous",
        previous_dir,
        "--tag",
        f"v{version}",
    )
    assert result.returncode == 0, result.stdout + result.stderr

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    packages = [p["file"] for p in manifest["packages"]]
    assert sorted(packages) == sorted(path.name for path in out.glob("*.apkg"))
    assert _assets(out) == [*packages, "SHA256SUMS", "manifest.json"]
    assert all((out / name).is_file() for name in _assets(out))
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    notes = (out / "RELEASE-NOTES.md").read_text(encoding="utf-8")
    assert f"**AWS Container Services**, deck version **{version}**" in notes
    assert f"{manifest['notes']} notes, {manifest['cards']} cards in {len(manifest['decks'])} topics" in notes
    assert "## Changes\n\nFirst release.\n" in notes
    for package in manifest["packages"]:
        assert f"| `{package['file']}` |" in notes
    assert (out / "SHA256SUMS").read_text(encoding="utf-8") in notes


def _edit_topic(cards: Path, stem: str, edit) -> None:
    path = cards / f"{stem}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data["cards"])
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _set_version(cards: Path, version: str) -> None:
    path = cards / "deck.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump(config | {"version": version}, sort_keys=False), encoding="utf-8")


def test_release_notes_list_the_changes_since_the_previous_release(locked_cards, tmp_path):
    # The previous release: the same deck, one version earlier, in which the first ECR
    # card with a back read differently, the second ECR card did not exist yet, and one
    # card and one whole topic existed that this release no longer has.
    old_cards = tmp_path / "old-cards"
    shutil.copytree(locked_cards, old_cards)
    _set_version(old_cards, "0.0.1-test")
    ecr = yaml.safe_load((locked_cards / "ecr.yaml").read_text(encoding="utf-8"))
    edited = next(card for card in ecr["cards"] if "back" in card)["id"]
    added = next(card for card in ecr["cards"] if card["id"] != edited)["id"]

    def make_old(cards):
        cards[:] = [card for card in cards if card["id"] != added]
        next(card for card in cards if card["id"] == edited)["back"] = "Zebra quokka."
        cards.append({"id": "retired-card", "front": "A retired question", "back": "Gone."})

    _edit_topic(old_cards, "ecr", make_old)
    dropped = {"deck": "Dropped Topic", "cards": [{"id": "dropped-topic-card", "front": "Q", "back": "A"}]}
    (old_cards / "dropped.yaml").write_text(yaml.safe_dump(dropped), encoding="utf-8")
    old_release = tmp_path / "old-release"
    built = subprocess.run(
        [sys.executable, "-m", "deckgen", "build", "--cards", old_cards, "--out", old_release],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    assert (old_release / "aws-containers-dropped.apkg").is_file()

    out = tmp_path / "release"
    result = run_script("release.py", "--cards", locked_cards, "--out", out, "--previous", old_release)
    assert result.returncode == 0, result.stdout + result.stderr
    notes = (out / "RELEASE-NOTES.md").read_text(encoding="utf-8")

    assert "## Changes since deck version 0.0.1-test\n\n1 added, 1 changed, 2 removed.\n" in notes
    ecr_heading = re.search(rf"^### \d+ {re.escape(ecr['deck'])}$", notes, re.MULTILINE).group(0)  # numbered
    ecr_section = notes.split(f"{ecr_heading}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split(":", 1)[0] for line in ecr_section] == [
        f"- Added `{added}`",
        f"- Changed `{edited}`",
        "- Removed `retired-card` (Anki keeps it in your collection",
    ]
    assert ecr_section[1].startswith(f"- Changed `{edited}`: Back: ~~Zebra quokka.~~ **")
    assert re.search(r"### \d+ Dropped Topic\n\n- Removed `dropped-topic-card`", notes)
    assert "No longer published: `aws-containers-dropped.apkg`" in notes
    assert "New packages" not in notes

    # The notes script alone writes the same notes.
    alone = run_script("release_notes.py", "--build", out, "--previous", old_release)
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout == notes


def test_an_unchanged_release_says_so(locked_cards, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert run_script("release.py", "--cards", locked_cards, "--out", first).returncode == 0
    result = run_script("release.py", "--cards", locked_cards, "--out", second, "--previous", first)
    assert result.returncode == 0, result.stderr
    notes = (second / "RELEASE-NOTES.md").read_text(encoding="utf-8")
    version = deck_version(locked_cards)
    assert f"## Changes since deck version {version}\n\nNo card changes.\n" in notes


def test_release_refuses_cards_that_do_not_match_the_lock(locked_cards, tmp_path):
    out = tmp_path / "release"
    out.mkdir()
    for name in ("assets.txt", "RELEASE-NOTES.md"):  # as an earlier run in this folder left them
        (out / name).write_text("stale", encoding="utf-8")
    _edit_topic(locked_cards, "ecr", lambda cards: cards[0].update(id="a-new-id"))
    result = run_script("release.py", "--cards", locked_cards, "--out", out)
    assert result.returncode != 0
    assert "--locked: the cards changed but the lock was not updated" in result.stderr
    assert "release: the build failed; nothing to publish" in result.stderr
    assert not (out / "assets.txt").exists() and not (out / "RELEASE-NOTES.md").exists()
    assert not list(out.glob("*.apkg"))


def test_release_refuses_a_tag_that_is_not_the_deck_version(locked_cards, tmp_path):
    out = tmp_path / "release"
    result = run_script("release.py", "--cards", locked_cards, "--out", out, "--tag", "v0.0.0-wrong")
    assert result.returncode == 1
    version = deck_version(locked_cards)
    assert f"tag v0.0.0-wrong does not match the deck version '{version}'" in result.stderr
    assert not (out / "assets.txt").exists()


def test_release_notes_need_a_build_folder(tmp_path):
    result = run_script("release_notes.py", "--build", tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"{tmp_path}: no manifest.json: is this a `deckgen build` folder?\n"


def test_readme_download_links_list_every_package(real_cards, tmp_path):
    build(real_cards, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    titles = {deck["topic"]: deck["name"].removeprefix(manifest["deck"] + "::") for deck in manifest["decks"]}
    expected = []
    for package in manifest["packages"]:
        if package["topic"] == "retired":  # not for new learners: linked from its own paragraph
            continue
        label = f"{manifest['deck']} (whole deck)" if package["topic"] is None else titles[package["topic"]]
        expected.append(f"- [{label}]({DOWNLOAD}/{package['file']})")

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Download\n", 1)[1].split("\n## ", 1)[0]
    listed = [line for line in section.splitlines() if re.match(r"- \[.*\]\(https://", line)]
    assert listed == expected, "README's Download list should be:\n" + "\n".join(expected)
    assert f"]({DOWNLOAD}/aws-containers-retired.apkg)" in section


def test_release_attaches_deckgens_wheel_and_sdist(locked_cards, tmp_path):
    out = tmp_path / "release"
    out.mkdir()
    (out / "deckgen-0.0.1-py3-none-any.whl").write_bytes(b"from an earlier run")  # never published
    result = run_script("release.py", "--cards", locked_cards, "--out", out, "--python-package")
    assert result.returncode == 0, result.stdout + result.stderr

    version = __version__
    wheel, sdist = f"deckgen-{version}-py3-none-any.whl", f"deckgen-{version}.tar.gz"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    packages = [p["file"] for p in manifest["packages"]]
    assert _assets(out) == [*packages, "SHA256SUMS", "manifest.json", sdist, wheel]
    sums = (out / "SHA256SUMS").read_text(encoding="utf-8")
    assert sorted(line.split("  ")[1] for line in sums.splitlines()) == sorted([*packages, sdist, wheel])
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert sums in (out / "RELEASE-NOTES.md").read_text(encoding="utf-8")
    with zipfile.ZipFile(out / wheel) as archive:
        assert "deckgen/cli/commands.py" in archive.namelist()
