"""The quick rebuild (rebuild.py) gives, to the byte, what the full pipeline gives.

Each case starts from a deck built once (with its cache and build record), changes
something, and builds twice from there: in the folder with the cache, and in a copy
without it (the full pipeline, the reference). The packages, SHA256SUMS, manifest and
lock must be the same, and `BuildWork.quick` says which way the cached build went:
quick for edits of what cards say, the full pipeline for anything else.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from deckgen.build import build
from deckgen.cli import main

from conftest import write_deck

NOW = 1_800_000_000


def _published(out: Path, cards: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    return files | {"deck.lock": (cards / "deck.lock").read_bytes()}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def both_ways(cards: Path, out: Path, tmp_path: Path, change: Callable[[Path], None], now: int):
    """Apply `change` to the cards, build with the cache and without it, and compare."""
    reference_cards, reference_out = tmp_path / "reference" / "cards", tmp_path / "reference" / "out"
    shutil.rmtree(tmp_path / "reference", ignore_errors=True)
    shutil.copytree(cards, reference_cards)
    shutil.copytree(out, reference_out, ignore=shutil.ignore_patterns(".cache"))
    change(cards)
    change(reference_cards)
    cached = build(cards, out, now=now)
    full = build(reference_cards, reference_out, now=now)
    assert not full.work.quick
    assert _published(out, cards) == _published(reference_out, reference_cards)
    assert (cached.stamping.added, cached.stamping.changed) == (full.stamping.added, full.stamping.changed)
    assert [(p.path.name, p.notes, p.cards) for p in cached.packages] == [
        (p.path.name, p.notes, p.cards) for p in full.packages
    ]
    return cached


@pytest.fixture
def built(real_cards, tmp_path):
    """The real deck (17 retired cards among its topics), built once: the record made."""
    out = tmp_path / "out"
    first = build(real_cards, out, now=NOW)
    assert not first.work.quick
    assert (out / ".cache" / "build.bin").is_file()
    return real_cards, out


def test_an_edited_card_is_rebuilt_alone_to_the_same_bytes(built, tmp_path):
    cards, out = built
    result = both_ways(
        cards, out, tmp_path, lambda c: _edit(c / "ecr.yaml", "    front: ", "    front: Edited "), NOW + 60
    )
    assert result.work.quick
    assert result.work.topics_read == ("ecr",)
    assert result.stamping.changed == ["ecr-term"]
    assert set(result.work.packages_written) == {"aws-containers.apkg", "aws-containers-ecr.apkg"}

    # Edited again, and in two topics at once: quick again, from the record it left.
    def two(c: Path) -> None:
        _edit(c / "ecr.yaml", "Edited ", "Edited twice ")
        _edit(
            c / "scaling.yaml",
            "\n  - id: ecs-scaling-engine\n",
            "\n  - id: ecs-scaling-engine\n    tags: [edited]\n",
        )

    result = both_ways(cards, out, tmp_path, two, NOW + 120)
    assert result.work.quick and set(result.work.topics_read) == {"ecr", "scaling"}
    # Nothing changed: quick, and nothing written.
    result = both_ways(cards, out, tmp_path, lambda c: None, NOW + 180)
    assert result.work.quick and result.work.packages_written == () and not result.lock_written


def test_a_file_saved_with_the_same_cards_is_quick_and_changes_nothing(built, tmp_path):
    cards, out = built
    result = both_ways(
        cards,
        out,
        tmp_path,
        lambda c: _edit(c / "ecr.yaml", "deck: Amazon ECR", "deck:  Amazon ECR"),
        NOW + 60,
    )
    assert result.work.quick and result.stamping.changed == [] and not result.lock_written


@pytest.mark.parametrize(
    ("change", "quick"),
    [
        # a card's own text edited: quick
        (lambda c: _edit(c / "ecr.yaml", "Amazon ECR (Elastic", "ECR (Elastic"), True),
        # a card added; one removed (so retired, and another added in its place)
        (
            lambda c: _edit(
                c / "ecr.yaml", "cards:\n", "cards:\n  - id: ecr-new\n    front: New?\n    back: Yes.\n\n"
            ),
            False,
        ),
        (lambda c: _edit(c / "ecr.yaml", "  - id: ecr-term\n", "  - id: ecr-term-gone\n"), False),
        # the card a retired card names as its replacement (the retired note quotes it)
        (lambda c: _edit(c / "ecr.yaml", "Write the one-liner.", "Write it in one line."), False),
        # a retired entry's reason, the topic's title, deck.yaml, a media file
        (lambda c: _edit(c / "ecr.yaml", "Merged into the card", "Folded into the card"), False),
        (lambda c: _edit(c / "ecr.yaml", "deck: Amazon ECR", "deck: Amazon ECR (registry)"), False),
        (lambda c: _edit(c / "deck.yaml", "version: ", "version: 9"), False),
        (lambda c: _edit(c / "media" / "sidecar-bind-mount.svg", "</svg>", "<!-- v2 --></svg>"), False),
    ],
    ids=[
        "card edited",
        "card added",
        "card removed",
        "replacement edited",
        "reason edited",
        "title changed",
        "version changed",
        "media changed",
    ],  # fmt: skip
)
def test_only_edits_of_what_cards_say_are_quick(built, tmp_path, change, quick):
    cards, out = built
    result = both_ways(cards, out, tmp_path, change, NOW + 60)
    assert result.work.quick == quick


def test_a_moved_card_takes_the_full_pipeline_and_is_reported(built, tmp_path):
    cards, out = built

    def move(c: Path) -> None:
        text = (c / "ecr.yaml").read_text(encoding="utf-8")
        start = text.index("  - id: ecr-login-full-command\n")
        end = text.index("\n  - id:", start + 1)
        block = text[start:end]
        (c / "ecr.yaml").write_text(text[:start] + text[end + 1 :], encoding="utf-8")
        _edit(c / "scaling.yaml", "cards:\n", "cards:\n" + block + "\n")

    result = both_ways(cards, out, tmp_path, move, NOW + 60)
    assert not result.work.quick
    assert [card for card, _old, _new in result.stamping.moved] == ["ecr-login-full-command"]


def test_an_error_in_an_edited_topic_is_reported_as_the_full_pipeline_reports_it(built):
    cards, out = built
    _edit(cards / "ecr.yaml", "    type: reversed\n", "    type: basic\n")
    result = CliRunner().invoke(main, ["build", "--cards", str(cards), "--out", str(out)])
    assert result.exit_code == 1
    assert "ecr.yaml:" in result.output and "changed its type from reversed to basic" in result.output
    assert "Traceback" not in result.output


def test_a_locked_build_takes_the_full_pipeline(built):
    cards, out = built
    result = build(cards, out, locked=True, now=NOW + 60)
    assert not result.work.quick and result.work.packages_written == ()


def test_a_build_with_warnings_leaves_no_record(tmp_path):
    topic = "deck: One\ncards:\n  - id: a\n    front: A?\n    back: A.\n"
    topic += "retired:\n  - id: never-was\n    reason: typo\n"  # (a warning: no such card)
    cards = write_deck(tmp_path / "cards", {"one": topic})
    out = tmp_path / "out"
    first = build(cards, out, now=NOW)
    assert first.warnings and not (out / ".cache" / "build.bin").exists()
    _edit(cards / "one.yaml", "front: A?", "front: A, edited?")
    again = build(cards, out, now=NOW + 60)
    assert not again.work.quick and again.warnings  # the warning said again


def test_a_generated_deck_rebuilds_quickly_to_the_same_bytes(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from generate import edit_one_card, generate

    cards, out = tmp_path / "cards", tmp_path / "out"
    generate(cards, 1200)  # 6 topics, images, every card type
    build(cards, out, now=NOW)
    topics = sorted(p for p in cards.glob("topic-*.yaml"))
    result = both_ways(cards, out, tmp_path, lambda c: edit_one_card(c / topics[3].name), NOW + 60)
    assert result.work.quick and len(result.stamping.changed) == 1


def test_a_build_from_another_folder_is_quick_and_the_same(built, tmp_path, monkeypatch):
    cards, out = built
    monkeypatch.chdir(cards.parent)  # the same deck, named relative to here this time

    def edit(c: Path) -> None:
        _edit(c / "ecr.yaml", "    front: ", "    front: Edited ")

    result = both_ways(Path(cards.name), Path(out.name), tmp_path, edit, NOW + 60)
    assert result.work.quick


@pytest.mark.parametrize("part", ["topics", "retired", "decks", "rows"])
def test_a_record_of_another_shape_is_ignored(built, tmp_path, part):
    from deckgen.cache_files import document_bytes, read_document

    cards, out = built
    cache = out / ".cache"
    if part in ("decks", "rows"):
        rows = [[1, 2, 3]] if part == "decks" else [[(1, "two")], []]
        (cache / "decks" / "ecr.bin").write_bytes(document_bytes({"rows": rows}))
    else:
        record = read_document(cache / "build.bin")
        record[part] = [42, "not an entry"]
        (cache / "build.bin").write_bytes(document_bytes(record))

    def edit(c: Path) -> None:
        _edit(
            c / "scaling.yaml",
            "\n  - id: ecs-scaling-engine\n",
            "\n  - id: ecs-scaling-engine\n    tags: [x]\n",
        )

    result = both_ways(cards, out, tmp_path, edit, NOW + 60)
    assert not result.work.quick


def test_an_adopted_deck_with_note_types_of_its_own_rebuilds_quickly_to_the_same_bytes(tmp_path):
    from test_adopt import write_spanish

    from deckgen.adopt import adopt_package

    cards, out = tmp_path / "adopted", tmp_path / "out"
    adopt_package(write_spanish(tmp_path / "spanish.apkg"), cards)  # guids, own note types, media
    first = build(cards, out, now=NOW)
    assert not first.work.quick
    result = both_ways(
        cards,
        out,
        tmp_path,
        lambda c: _edit(c / "nouns.yaml", '"Front": "the dog"', '"Front": "a dog"'),
        NOW + 60,
    )
    assert result.work.quick and result.stamping.changed == ["the-dog"]
