"""The CLI as a user drives it, through click's CliRunner."""

import yaml
from click.testing import CliRunner

from deckgen import __version__
from deckgen.cli import main

from conftest import write_deck

TOPIC = yaml.safe_dump(
    {
        "deck": "Basics",
        "cards": [
            {"id": "a", "front": "Q **a**", "back": "A"},
            {"id": "b", "type": "cloze", "text": "{{c1::x}} and {{c2::y}}"},
        ],
    }
)


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_help_and_version():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("build", "diff"):
        assert command in result.output
    assert run("--version").output.strip() == f"deckgen, version {__version__}"


def test_build_prints_decks_packages_and_counts(tmp_path):
    cards = write_deck(tmp_path / "cards", {"basics": TOPIC})
    result = run("build", "--cards", str(cards), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "Test Deck::Basics     2 notes     3 cards" in result.output
    assert "test-deck.apkg  (whole deck: 2 decks, 2 notes, 3 cards)" in result.output
    assert "test-deck-basics.apkg  (topic basics: 2 decks, 2 notes, 3 cards)" in result.output
    assert "2 added, 0 changed, 0 removed" in result.output
    assert (tmp_path / "out" / "test-deck.apkg").is_file()


def test_build_reports_removed_cards(tmp_path):
    cards = write_deck(tmp_path / "cards", {"basics": TOPIC})
    run("build", "--cards", str(cards), "--out", str(tmp_path / "out"))
    (cards / "basics.yaml").write_text(
        yaml.safe_dump({"deck": "Basics", "cards": [{"id": "a", "front": "Q **a**", "back": "A"}]})
    )
    result = run("build", "--cards", str(cards), "--out", str(tmp_path / "out"))
    assert "0 added, 0 changed, 1 removed" in result.output
    assert "removed: b" in result.output


def test_bad_input_exits_1_with_located_errors_and_no_traceback(tmp_path):
    cards = write_deck(tmp_path / "cards", {"basics": "deck: B\ncards:\n  - id: a\n    front: q\n"})
    result = CliRunner().invoke(main, ["build", "--cards", str(cards), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "basics.yaml:3:5: basic card 'a' is missing 'back'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_usage_error_exits_2():
    result = CliRunner().invoke(main, ["build", "--no-such-option"])
    assert result.exit_code == 2


def test_diff_exit_status_and_release_notes(tmp_path):
    cards = write_deck(tmp_path / "cards", {"basics": TOPIC})
    run("build", "--cards", str(cards), "--out", str(tmp_path / "v1"))
    edited = yaml.safe_dump(
        {
            "deck": "Basics",
            "cards": [
                {"id": "a", "front": "Q **a**", "back": "A better answer"},
                {"id": "c", "front": "New", "back": "Card"},
            ],
        }
    )
    (cards / "basics.yaml").write_text(edited)
    run("build", "--cards", str(cards), "--out", str(tmp_path / "v2"))

    same = run("diff", str(tmp_path / "v1" / "test-deck.apkg"), str(tmp_path / "v1" / "test-deck.apkg"))
    assert same.exit_code == 0 and same.output == "No changes.\n"

    changed = run("diff", str(tmp_path / "v1" / "test-deck.apkg"), str(tmp_path / "v2" / "test-deck.apkg"))
    assert changed.exit_code == 1
    assert changed.output.splitlines() == [
        "1 added, 1 changed, 1 removed.",
        "",
        "### Basics",
        "",
        "- Added `c`: New",
        "- Changed `a`: Back: **better answer**",
        "- Removed `b` (Anki keeps it in your collection: the retired-cards package marks it, "
        "or delete it by hand)",
    ]


def test_diff_of_unreadable_file_exits_2(tmp_path):
    bogus = tmp_path / "bogus.apkg"
    bogus.write_text("not a zip")
    result = CliRunner().invoke(main, ["diff", str(bogus), str(bogus)])
    assert result.exit_code == 2
    assert "bogus.apkg: not a readable Anki package" in result.output


def test_diff_names_added_cloze_cards_by_their_revealed_text(tmp_path):
    cards = write_deck(tmp_path / "cards", {"basics": TOPIC})
    run("build", "--cards", str(cards), "--out", str(tmp_path / "v1"))
    extra = yaml.safe_load(TOPIC)
    extra["cards"].append({"id": "z", "type": "cloze", "text": "Tasks run on {{c1::clusters::where?}}."})
    (cards / "basics.yaml").write_text(yaml.safe_dump(extra))
    run("build", "--cards", str(cards), "--out", str(tmp_path / "v2"))
    result = run("diff", str(tmp_path / "v1" / "test-deck.apkg"), str(tmp_path / "v2" / "test-deck.apkg"))
    assert "- Added `z`: Tasks run on clusters." in result.output
