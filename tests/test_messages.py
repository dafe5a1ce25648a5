"""What deckgen says, through the command line as an author meets it: problems at their
exact line, what a build changed, why --strict failed, warnings silenced per card by
name, the deck found from a subfolder (or where it was looked for), --debug anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from deckgen import cli
from deckgen.errors import Location, locate_in_field
from deckgen.schema import WARNING_NAMES

from conftest import write_deck

DECKGEN = Path(sys.executable).with_name("deckgen")
LONG = " ".join(["word"] * 70)
TOPIC = f"""deck: Messages
cards:
  - id: short
    front: What is short?
    back: This.
  - id: long
    front: What is long?
    back: {LONG}
"""


def allowing(name: str) -> str:
    """TOPIC with the long card allowing the warning `name`, on line 8."""
    return TOPIC.replace("    front: What is long?\n", f"    front: What is long?\n    allow: [{name}]\n")


def deckgen(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(DECKGEN), *map(str, args)], cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def deck(tmp_path) -> Path:
    """A deck folder: cards/ (one topic, one long answer) and a subfolder cards/notes/."""
    write_deck(tmp_path / "deck" / "cards", {"topic": TOPIC})
    (tmp_path / "deck" / "cards" / "notes").mkdir()
    return tmp_path / "deck"


# -- the exact line ------------------------------------------------------------------------


def test_a_place_inside_a_block_field_is_its_own_line_and_column(tmp_path):
    card_file = tmp_path / "topic.yaml"
    card_file.write_text(
        "cards:\n  - id: a\n    extra: |\n      First line.\n\n      See ![one](a.png) and ![two](a.png).\n",
        encoding="utf-8",
    )
    text = "First line.\n\nSee ![one](a.png) and ![two](a.png).\n"
    field_at = Location(str(card_file), 3, 12)  # the `|`, where the field's value starts
    assert locate_in_field(field_at, text, text.index("![one]")) == Location(str(card_file), 6, 11)
    assert locate_in_field(field_at, text, text.index("![two]")) == Location(str(card_file), 6, 29)
    assert locate_in_field(field_at, text, 0) == Location(str(card_file), 4, 7)
    # A folded plain scalar: YAML joined the lines, the words are still where they were.
    folded = "cards:\n  - id: a\n    back: one two\n      three ![x](b.png)\n"
    assert locate_in_field(Location("t.yaml", 3, 11), "one two three ![x](b.png)", 14, folded) == Location(
        "t.yaml", 4, 13
    )
    # Not found (an escape in a quoted scalar): the field's own place.
    assert locate_in_field(field_at, "n\u00e9", 0, 'back: "n\\u00e9"') == field_at


# -- build and check -----------------------------------------------------------------------


def test_build_names_the_cards_added_changed_and_removed(deck):
    assert deckgen("build", cwd=deck).returncode == 0
    topic = deck / "cards" / "topic.yaml"
    text = (
        topic.read_text()
        .replace("What is short?", "What is brief?")
        .replace("  - id: long", "  - id: longer")
    )
    topic.write_text(text)
    out = deckgen("build", cwd=deck).stdout
    assert "Changes since the lock: 1 added, 1 changed, 1 removed\n" in out
    assert "  added: longer\n" in out and "  changed: short\n" in out
    assert "  removed: long (" in out


def test_check_strict_says_it_failed_because_of_warnings(deck):
    result = deckgen("check", "--strict", cwd=deck)
    assert result.returncode == 1
    assert result.stderr.endswith("deckgen: 1 warning and --strict: failing\n")
    assert deckgen("check", cwd=deck).returncode == 0  # without --strict, a warning passes


def test_each_warning_names_itself_and_a_card_may_allow_it(deck):
    result = deckgen("check", cwd=deck)
    assert "cards/topic.yaml:8:11: warning: answer is 70 words long;" in result.stderr
    assert result.stderr.rstrip().endswith("[long-answer]")
    topic = deck / "cards" / "topic.yaml"
    topic.write_text(allowing("long-answer"))
    allowed = deckgen("check", "--strict", cwd=deck)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr == "" and allowed.stdout == "2 notes in 1 topics: no errors\n"


def test_an_unknown_warning_name_is_a_located_error_with_a_suggestion(deck):
    topic = deck / "cards" / "topic.yaml"
    topic.write_text(allowing("long-answers"))
    result = deckgen("check", cwd=deck)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "cards/topic.yaml:8:13: unknown warning 'long-answers' in `allow`; did you mean 'long-answer'? "
        f"(warnings: {', '.join(WARNING_NAMES)})\n"
    )


# -- where the deck is ---------------------------------------------------------------------


def test_commands_find_the_cards_from_a_subfolder_and_build_beside_them(deck):
    inside = deck / "cards" / "notes"
    checked = deckgen("check", cwd=inside)
    assert checked.returncode == 0, checked.stderr
    assert "../topic.yaml:8:11: warning: answer is 70 words long" in checked.stderr
    built = deckgen("build", cwd=inside)
    assert built.returncode == 0, built.stderr
    assert (deck / "build" / "test-deck.apkg").is_file()  # build/ beside cards/, not in notes/
    assert not (inside / "build").exists()
    # In the cards folder itself (it holds deck.yaml), and with the folder given.
    assert deckgen("check", cwd=deck / "cards").returncode == 0
    assert deckgen("preview", cwd=deck / "cards").stdout.startswith("Preview: ../build/preview/index.html")
    assert deckgen("check", "--cards", deck / "cards", cwd=inside.anchor).returncode == 0


def test_without_a_deck_it_says_where_it_looked(tmp_path):
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    result = deckgen("check", cwd=folder)
    assert result.returncode == 2
    looked = ", ".join(str(p) for p in (folder, *folder.parents))
    assert result.stderr == (
        f"deckgen: no cards folder: looked for cards/deck.yaml in {looked}; "
        "run from your deck's folder or pass --cards\n"
    )


# -- --debug -------------------------------------------------------------------------------


def test_debug_is_taken_after_the_command_too(deck, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli.commands, "run_check", broken)  # an internal error, to see the traceback
    monkeypatch.chdir(deck)
    plain = CliRunner().invoke(cli.main, ["check"])
    assert plain.exit_code == 3 and "Traceback" not in plain.output
    for args in (["--debug", "check"], ["check", "--debug"]):
        result = CliRunner().invoke(cli.main, args)
        assert result.exit_code == 3, args
        assert "Traceback" in result.output and "RuntimeError: a bug" in result.output, args
