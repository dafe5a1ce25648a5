"""The build cache (cache.py) saves time and never changes a byte of the output."""

import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from deckgen import cache as cache_module
from deckgen import cache_files, cache_keys, package_writing
from deckgen import render as render_module
from deckgen.build import build
from deckgen.cache import BuildCache, code_fingerprint
from deckgen.cli import main
from deckgen.errors import Problems
from deckgen.identity import deck_id
from deckgen.validate import read_deck, read_topic_file

NOW = 1_800_000_000
IMAGE_CARD = "sidecar-bind-mount.svg"


def published(out: Path) -> dict[str, bytes]:
    """What a build publishes: the files in the out dir (the cache is a folder in it)."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def shards(out: Path) -> list[Path]:
    """The cache files of the topics: their cards as read, their rendered fields, their
    decks as packaged, and the record of the build (rebuild.py)."""
    cache = out / ".cache"
    return [
        *sorted((cache / "topics").glob("*.bin")),
        *sorted((cache / "fields").glob("*.bin")),
        *sorted((cache / "decks").glob("*.bin")),
        *sorted(cache.glob("build.bin")),
    ]


@pytest.fixture
def uncached(real_cards, tmp_path):
    """The real deck built once without any cache, and its lock written: the reference."""
    build(real_cards, tmp_path / "reference", now=NOW)
    shutil.rmtree(tmp_path / "reference" / ".cache")
    build(real_cards, tmp_path / "reference", now=NOW)
    return published(tmp_path / "reference")


def test_cached_build_is_byte_identical_to_uncached(real_cards, tmp_path, uncached):
    out = tmp_path / "out"
    first = build(real_cards, out, now=NOW)  # fills the cache
    assert first.work.fields_rendered and published(out) == uncached
    again = build(real_cards, out, now=NOW)  # every field from the cache
    assert again.work.fields_rendered == ()
    assert published(out) == uncached


def test_edit_renders_only_the_edited_field(real_cards, tmp_path):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    topic = real_cards / "ecr.yaml"
    text = topic.read_text(encoding="utf-8")
    topic.write_text(text.replace("    front: ", "    front: Edited ", 1), encoding="utf-8")
    rendered = build(real_cards, out, now=NOW + 60).work.fields_rendered
    assert len(rendered) == 1 and rendered[0].startswith("Edited ")

    reference = tmp_path / "reference"
    build(real_cards, reference, now=NOW + 60)  # same sources, same lock, no cache
    assert published(out) == published(reference)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # cut short
        lambda data: data.replace(b"<p>", b"<q>", 1),  # a byte changed, checksum kept
        lambda data: b"",  # empty
        lambda data: b"\x00\xff garbage",  # not even text
    ],
    ids=["truncated", "flipped", "empty", "garbage"],
)
def test_damaged_cache_files_are_ignored_and_rebuilt(real_cards, tmp_path, uncached, damage):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    for path in shards(out):
        path.write_bytes(damage(path.read_bytes()))
    work = build(real_cards, out, now=NOW).work
    assert work.fields_rendered  # nothing taken from a damaged file
    assert published(out) == uncached
    work = build(real_cards, out, now=NOW).work  # and the files are whole again
    assert work.fields_rendered == () and work.topics_read == ()
    assert published(out) == uncached


def test_entry_of_another_format_or_with_a_checksum_but_wrong_shape_is_ignored(
    real_cards, tmp_path, uncached
):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    for number, path in enumerate(shards(out)):
        document = cache_files.read_document(path)
        if number % 2:
            document["format"] = cache_keys.FORMAT + 1
        else:
            for key in ("fields", "topic"):  # rendered fields; cards as read
                if key in document:
                    document[key] = {entry: [42, "not a list"] for entry in document[key]}
        path.write_bytes(cache_files.document_bytes(document))
    build(real_cards, out, now=NOW)
    assert published(out) == uncached


def test_changed_image_is_not_served_from_the_cache(real_cards, tmp_path):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    image = real_cards / "media" / IMAGE_CARD
    image.write_text(
        image.read_text(encoding="utf-8").replace("</svg>", "<!-- v2 --></svg>"), encoding="utf-8"
    )
    build(real_cards, out, now=NOW + 60)
    reference = tmp_path / "reference"
    build(real_cards, reference, now=NOW + 60)
    assert published(out) == published(reference)
    manifest = (out / "manifest.json").read_text(encoding="utf-8")
    assert manifest == (reference / "manifest.json").read_text(encoding="utf-8")


def test_missing_image_is_reported_although_its_field_was_cached(real_cards, tmp_path):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    (real_cards / "media" / IMAGE_CARD).unlink()
    result = CliRunner().invoke(main, ["build", "--cards", str(real_cards), "--out", str(out)])
    assert result.exit_code == 1
    assert f"image 'media/{IMAGE_CARD}' not found" in result.output


def test_key_holds_the_code_the_folder_and_the_text(tmp_path, monkeypatch):
    key = cache_keys.field_key(tmp_path, tmp_path / "a", "**text**")
    assert key == cache_keys.field_key(tmp_path, tmp_path / "a", "**text**")
    others = {
        cache_keys.field_key(tmp_path / "x", tmp_path / "a", "**text**"),
        cache_keys.field_key(tmp_path, tmp_path / "b", "**text**"),
        cache_keys.field_key(tmp_path, tmp_path / "a", "*text*"),
    }
    monkeypatch.setattr(cache_keys, "code_fingerprint", lambda: "other code")
    others.add(cache_keys.field_key(tmp_path, tmp_path / "a", "**text**"))
    assert key not in others and len(others) == 4


def test_cache_is_under_the_out_dir_and_never_published(real_cards, tmp_path):
    out = tmp_path / "elsewhere"
    result = CliRunner().invoke(main, ["build", "--cards", str(real_cards), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert shards(out)
    sums = (out / "SHA256SUMS").read_text(encoding="utf-8")
    manifest = (out / "manifest.json").read_text(encoding="utf-8")
    assert ".cache" not in sums and ".cache" not in manifest
    assert sorted(line.split()[1] for line in sums.splitlines()) == sorted(
        name for name in published(out) if name.endswith(".apkg")
    )


def test_removed_topic_leaves_the_cache(real_cards, tmp_path):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    before = [p.name for p in shards(out)]
    config = real_cards / "deck.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("  - ecr\n", ""), encoding="utf-8")
    (real_cards / "ecr.yaml").unlink()
    build(real_cards, out, now=NOW + 60)
    assert [p.name for p in shards(out)] == [name for name in before if name != "ecr.bin"]


def test_rendering_and_packaging_on_every_core_give_the_same_bytes(
    real_cards, tmp_path, uncached, monkeypatch
):
    monkeypatch.setattr(package_writing, "PARALLEL_NOTES", 1)
    monkeypatch.setattr(render_module, "PARALLEL_FIELDS", 10)
    monkeypatch.setattr(render_module, "_CHUNK_FIELDS", 7)
    monkeypatch.setattr(render_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(package_writing, "usable_cores", lambda: 2)
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    assert published(out) == uncached


def test_unchanged_packages_are_kept_and_changed_ones_written(real_cards, tmp_path, uncached):
    out = tmp_path / "out"
    written = build(real_cards, out, now=NOW).work.packages_written
    assert sorted(written) == sorted(p.name for p in out.glob("*.apkg"))
    assert build(real_cards, out, now=NOW).work.packages_written == ()
    assert published(out) == uncached

    topic = real_cards / "ecr.yaml"
    topic.write_text(topic.read_text(encoding="utf-8").replace("    front: ", "    front: Edited ", 1))
    written = build(real_cards, out, now=NOW + 60).work.packages_written
    assert set(written) == {"aws-containers.apkg", "aws-containers-ecr.apkg"}


def _ids_by_deck(package: Path, tmp_path: Path) -> dict[int, list[tuple[str, int]]]:
    """Each deck's (note GUID, id) and (GUID:ordinal, card id) in a package."""
    database = tmp_path / "ids.db"
    with zipfile.ZipFile(package) as archive:
        database.write_bytes(archive.read("collection.anki2"))
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute(
            "SELECT c.did, n.guid, n.id, c.ord, c.id FROM cards c JOIN notes n ON c.nid = n.id"
        ).fetchall()
    finally:
        connection.close()
    by_deck: dict[int, list[tuple[str, int]]] = {}
    for deck, guid, note_id, ordinal, card_id in sorted(rows):
        by_deck.setdefault(deck, []).extend([(guid, note_id), (f"{guid}:{ordinal}", card_id)])
    return by_deck


def test_one_edit_moves_the_ids_of_its_own_deck_only(real_cards, tmp_path):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    before = _ids_by_deck(out / "aws-containers.apkg", tmp_path)
    topic = real_cards / "ecr.yaml"
    topic.write_text(topic.read_text(encoding="utf-8").replace("    front: ", "    front: Edited ", 1))
    build(real_cards, out, now=NOW + 60)
    after = _ids_by_deck(out / "aws-containers.apkg", tmp_path)
    moved = [deck for deck in before if before[deck] != after[deck]]
    assert moved == [deck_id("aws-containers", "ecr")]
    # ...and the topic's own package gives its notes the ids they have in the whole deck's.
    assert _ids_by_deck(out / "aws-containers-ecr.apkg", tmp_path)[moved[0]] == after[moved[0]]


@pytest.mark.parametrize("damage", ["package changed", "package removed", "index damaged"])
def test_package_changed_on_disk_is_written_again(real_cards, tmp_path, uncached, damage):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    package = out / "aws-containers-ecr.apkg"
    if damage == "package changed":
        data = package.read_bytes()
        package.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "package removed":
        package.unlink()
    else:
        index = out / ".cache" / "packages.bin"
        index.write_bytes(index.read_bytes().replace(b'"aws', b'"AWS', 1))
    assert build(real_cards, out, now=NOW).work.packages_written
    assert published(out) == uncached


def test_unchanged_topic_files_are_not_read_again(real_cards, tmp_path, uncached):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    assert build(real_cards, out, now=NOW).work.topics_read == ()
    assert published(out) == uncached

    topic = real_cards / "ecr.yaml"
    topic.write_text(topic.read_text(encoding="utf-8") + "# a comment\n", encoding="utf-8")
    assert build(real_cards, out, now=NOW).work.topics_read == ("ecr",)
    assert published(out) == uncached


def test_topic_from_the_cache_equals_the_topic_read(real_cards, tmp_path):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    problems = Problems()
    cached = read_deck(real_cards, problems, BuildCache(out).topic_reader(read_topic_bomb))
    assert cached == read_deck(real_cards, Problems())
    assert problems.items == []


def read_topic_bomb(key, path, problems):
    raise AssertionError(f"{key} was read although its file did not change")


def test_topic_with_a_problem_is_read_and_reported_every_time(real_cards, tmp_path):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    topic = real_cards / "ecr.yaml"
    topic.write_text(
        topic.read_text(encoding="utf-8").replace("    front: ", "    frnt: ", 1), encoding="utf-8"
    )
    outputs = []
    for _ in range(2):
        result = CliRunner().invoke(main, ["build", "--cards", str(real_cards), "--out", str(out)])
        assert result.exit_code == 1
        outputs.append(result.output)
    assert outputs[0] == outputs[1] and "unknown key 'frnt'" in outputs[0]
    cache = BuildCache(out)
    read_deck(real_cards, Problems(), cache.topic_reader(read_topic_file))
    assert cache.topics_read == ["ecr"]  # the file is read, not served from the cache


def test_changed_code_does_everything_again(real_cards, tmp_path, monkeypatch):
    """Newer deckgen code reads every file and renders every field again."""
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    monkeypatch.setattr(cache_keys, "code_fingerprint", lambda: "newer code")
    work = build(real_cards, out, now=NOW).work
    assert sorted(work.topics_read) == sorted(
        p.stem for p in real_cards.glob("*.yaml") if p.name != "deck.yaml"
    )
    cards = [card for _topic, card in read_deck(real_cards, Problems()).cards]
    # every field but a type-in card's answer, which stays plain text
    assert len(work.fields_rendered) == sum(len(card.fields) - (card.type == "type-in") for card in cards)


def test_fingerprint_covers_every_file_of_the_package(tmp_path):
    """A new module or an edited style file changes it, without anyone listing them."""
    package = Path(cache_module.__file__).parent
    assert cache_keys.package_fingerprint(package) == code_fingerprint()
    copy = tmp_path / "deckgen"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    prints = [cache_keys.package_fingerprint(copy)]
    (copy / "new_step.py").write_text('"""A module nobody listed."""\n', encoding="utf-8")
    prints.append(cache_keys.package_fingerprint(copy))
    css = copy / "style" / "card.css"
    css.write_text(css.read_text(encoding="utf-8") + "\n.card { color: red; }\n", encoding="utf-8")
    prints.append(cache_keys.package_fingerprint(copy))
    assert len(set(prints)) == 3


def test_code_fingerprint_is_the_same_in_every_process():
    script = "from deckgen.cache import code_fingerprint; print(code_fingerprint())"
    runs = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).stdout
        for _ in range(2)
    }
    assert runs == {code_fingerprint() + "\n"}
