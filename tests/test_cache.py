"""The build cache (cache.py) saves time and never changes a byte of the output."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from deckgen import build as build_module
from deckgen import cache as cache_module
from deckgen import render as render_module
from deckgen.build import build
from deckgen.cli import main

NOW = 1_800_000_000
IMAGE_CARD = "sidecar-bind-mount.svg"


def published(out: Path) -> dict[str, bytes]:
    """What a build publishes: the files in the out dir (the cache is a folder in it)."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def shards(out: Path) -> list[Path]:
    return sorted((out / ".cache" / "render").glob("*.json"))


@pytest.fixture
def count_renders(monkeypatch):
    """How many fields the build renders, rather than takes from the cache."""
    calls = []
    real = render_module.Renderer.render_field

    def counting(self, text, base):
        calls.append(text)
        return real(self, text, base)

    monkeypatch.setattr(render_module.Renderer, "render_field", counting)
    return calls


@pytest.fixture
def uncached(real_cards, tmp_path):
    """The real deck built once without any cache, and its lock written: the reference."""
    build(real_cards, tmp_path / "reference", now=NOW)
    shutil.rmtree(tmp_path / "reference" / ".cache")
    build(real_cards, tmp_path / "reference", now=NOW)
    return published(tmp_path / "reference")


def test_cached_build_is_byte_identical_to_uncached(real_cards, tmp_path, uncached, count_renders):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)  # fills the cache
    assert published(out) == uncached
    count_renders.clear()
    build(real_cards, out, now=NOW)  # every field from the cache
    assert count_renders == []
    assert published(out) == uncached


def test_edit_renders_only_the_edited_field(real_cards, tmp_path, count_renders):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    topic = real_cards / "ecr.yaml"
    text = topic.read_text(encoding="utf-8")
    topic.write_text(text.replace("    front: ", "    front: Edited ", 1), encoding="utf-8")
    count_renders.clear()
    build(real_cards, out, now=NOW + 60)
    assert len(count_renders) == 1 and count_renders[0].startswith("Edited ")

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
def test_damaged_cache_files_are_ignored_and_rebuilt(real_cards, tmp_path, uncached, damage, count_renders):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    for path in shards(out):
        path.write_bytes(damage(path.read_bytes()))
    count_renders.clear()
    build(real_cards, out, now=NOW)
    assert count_renders  # nothing taken from a damaged file
    assert published(out) == uncached
    count_renders.clear()
    build(real_cards, out, now=NOW)  # and the files are whole again
    assert count_renders == []
    assert published(out) == uncached


def test_entry_of_another_format_or_with_a_checksum_but_wrong_shape_is_ignored(
    real_cards, tmp_path, uncached
):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    for number, path in enumerate(shards(out)):
        document = json.loads(path.read_bytes().partition(b"\n")[2])
        if number % 2:
            document["format"] = cache_module.FORMAT + 1
        else:
            document["fields"] = {key: [42, "not a list"] for key in document["fields"]}
        body = json.dumps(document).encode()
        path.write_bytes(cache_module.hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
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


def test_key_holds_the_renderer_the_folder_and_the_text(tmp_path):
    key = cache_module.field_key("fingerprint", tmp_path, tmp_path / "a", "**text**")
    assert key == cache_module.field_key("fingerprint", tmp_path, tmp_path / "a", "**text**")
    others = {
        cache_module.field_key("other renderer", tmp_path, tmp_path / "a", "**text**"),
        cache_module.field_key("fingerprint", tmp_path / "x", tmp_path / "a", "**text**"),
        cache_module.field_key("fingerprint", tmp_path, tmp_path / "b", "**text**"),
        cache_module.field_key("fingerprint", tmp_path, tmp_path / "a", "*text*"),
    }
    assert key not in others and len(others) == 4


def test_other_renderer_fingerprint_renders_again(real_cards, tmp_path, monkeypatch, count_renders):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    monkeypatch.setattr(render_module, "renderer_fingerprint", lambda: "a newer renderer")
    count_renders.clear()
    build(real_cards, out, now=NOW)
    assert count_renders


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
    before = {p.name for p in shards(out)}
    config = real_cards / "deck.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("  - ecr\n", ""), encoding="utf-8")
    (real_cards / "ecr.yaml").unlink()
    build(real_cards, out, now=NOW + 60)
    assert {p.name for p in shards(out)} == before - {"ecr.json"}


def test_rendering_on_every_core_gives_the_same_bytes(real_cards, tmp_path, uncached, monkeypatch):
    monkeypatch.setattr(render_module, "PARALLEL_FIELDS", 10)
    monkeypatch.setattr(render_module, "_CHUNK_FIELDS", 7)
    monkeypatch.setattr(render_module.os, "sched_getaffinity", lambda pid: {0, 1})
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    assert published(out) == uncached


@pytest.fixture
def count_writes(monkeypatch):
    """The packages the build writes, rather than keeps as they are."""
    written = []
    real = build_module.write_package

    def counting(path, decks, media):
        written.append(path)
        real(path, decks, media)

    monkeypatch.setattr(build_module, "write_package", counting)
    return written


def test_unchanged_packages_are_kept_and_changed_ones_written(real_cards, tmp_path, uncached, count_writes):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    assert len(count_writes) == len(list(out.glob("*.apkg")))
    count_writes.clear()
    build(real_cards, out, now=NOW)
    assert count_writes == []
    assert published(out) == uncached

    topic = real_cards / "ecr.yaml"
    topic.write_text(topic.read_text(encoding="utf-8").replace("    front: ", "    front: Edited ", 1))
    build(real_cards, out, now=NOW + 60)
    finals = {path.name[1:].rsplit(".", 2)[0] for path in count_writes}  # .NAME.random.tmp
    assert finals == {"aws-containers.apkg", "aws-containers-ecr.apkg"}


@pytest.mark.parametrize("damage", ["package changed", "package removed", "index damaged"])
def test_package_changed_on_disk_is_written_again(real_cards, tmp_path, uncached, damage, count_writes):
    out = tmp_path / "out"
    build(real_cards, out, now=NOW)
    package = out / "aws-containers-ecr.apkg"
    if damage == "package changed":
        data = package.read_bytes()
        package.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "package removed":
        package.unlink()
    else:
        index = out / ".cache" / "packages.json"
        index.write_bytes(index.read_bytes().replace(b'"aws', b'"AWS', 1))
    count_writes.clear()
    build(real_cards, out, now=NOW)
    assert count_writes
    assert published(out) == uncached
