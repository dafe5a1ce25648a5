"""`deckgen init`: a new deck that checks, builds and imports into Anki as it is, with
schema lines that resolve, a CI workflow that passes, and no file ever overwritten."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from deckgen.cli import main
from deckgen.editor_schemas import json_schema_text
from deckgen.init import SCHEMAS, STARTER_FILES

from conftest import REPO

DECKGEN = Path(sys.executable).with_name("deckgen")  # the console script, as a user runs it
SCHEMA_LINE = "# yaml-language-server: $schema="
WRITTEN = sorted(
    [".github/workflows/deck.yml", ".gitignore", "cards/deck.yaml", "cards/getting-started.yaml"]
    + [f"schemas/{name}" for name in SCHEMAS]
)


def deckgen(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(DECKGEN), *map(str, args)], cwd=cwd, capture_output=True, text=True)


def files_under(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def invoke(*args):
    return CliRunner().invoke(main, [*map(str, args)], catch_exceptions=False)


def test_a_new_deck_checks_builds_and_imports_into_anki(tmp_path, anki):
    result = deckgen("init", "my-deck", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    deck = tmp_path / "my-deck"
    assert files_under(deck) == WRITTEN
    assert result.stdout.startswith("New deck 'My Deck' (namespace my-deck) in my-deck:\n")
    assert result.stdout.endswith(
        "Next:\n  cd my-deck\n  deckgen check\n  deckgen build\n"
        '  git init && git add . && git commit -m "A new deck"\n'
    )

    checked = deckgen("check", cwd=deck)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == "4 notes in 1 topics: no errors\n"
    assert checked.stderr == ""  # no quality warning either: the starter is an example to copy
    built = deckgen("build", cwd=deck)
    assert built.returncode == 0, built.stderr
    assert (deck / "cards" / "deck.lock").is_file()
    assert sorted(p.name for p in (deck / "build").glob("*.apkg")) == [
        "my-deck-getting-started.apkg",
        "my-deck.apkg",
    ]

    log = anki.import_package(deck / "build" / "my-deck.apkg")
    assert log.new == 4
    assert anki.deck_names() == {"My Deck", "My Deck::01 Getting Started"}  # numbered: learning order
    assert anki.card_count() == 6  # basic 1, reversed 2, cloze 2 (c1, c2), type-in 1
    assert len({note["notetype"] for note in anki.notes().values()}) == 4  # one note of each type


def test_readme_shows_the_steps_that_init_prints(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Your own deck\n", 1)[1].split("\n## ", 1)[0]
    steps = [block.split("\n```", 1)[0] for block in section.split("```sh\n")[1:]][-1].splitlines()
    assert steps[0] == "deckgen init my-deck"
    printed = invoke("init", tmp_path / "my-deck").output.split("\nNext:\n", 1)[1]
    assert [line.strip() for line in printed.splitlines()] == ["cd " + str(tmp_path / "my-deck")] + steps[2:]
    assert steps[1] == "cd my-deck"


def test_the_new_decks_ci_workflow_builds_the_committed_deck(tmp_path):
    assert deckgen("init", "deck", cwd=tmp_path).returncode == 0
    deck = tmp_path / "deck"
    workflow_file = deck / ".github" / "workflows" / "deck.yml"
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    valid = subprocess.run([*command, str(workflow_file)], capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr

    workflow = yaml.safe_load(workflow_file.read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert "git+https://github.com/deckgen/deckgen@$DECKGEN_REF" in runs[0]
    assert runs[1:] == ["deckgen build --locked"]

    # The build step, as the runner runs it, on the deck as committed after `deckgen build`.
    env = os.environ | {"PATH": f"{DECKGEN.parent}{os.pathsep}{os.environ['PATH']}"}

    def build_step():
        step = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", runs[1]]
        return subprocess.run(step, cwd=deck, env=env, capture_output=True, text=True)

    assert build_step().returncode != 0, "no lock yet: --locked must fail"
    assert deckgen("build", cwd=deck).returncode == 0
    passed = build_step()
    assert passed.returncode == 0, passed.stderr
    assert (deck / "build" / "deck.apkg").is_file()


def test_every_card_file_points_at_its_schema_and_matches_it(tmp_path):
    assert invoke("init", tmp_path / "deck").exit_code == 0
    deck = tmp_path / "deck"
    card_files = sorted((deck / "cards").glob("*.yaml"))
    assert [p.name for p in card_files] == ["deck.yaml", "getting-started.yaml"]
    for path in card_files:
        first_line = path.read_text(encoding="utf-8").splitlines()[0]
        assert first_line.startswith(SCHEMA_LINE), path
        schema_file = path.parent / first_line.removeprefix(SCHEMA_LINE)
        assert schema_file.is_file(), first_line
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        jsonschema.validate(document, json.loads(schema_file.read_text(encoding="utf-8")))
    # The topic schema is the one `deckgen schema` prints: one source of truth.
    assert (deck / "schemas" / "card-file.schema.json").read_text(encoding="utf-8") == json_schema_text()


def test_the_deck_schema_flags_what_check_rejects(tmp_path):
    assert invoke("init", tmp_path / "deck").exit_code == 0
    deck_schema = json.loads((tmp_path / "deck" / "schemas" / "deck.schema.json").read_text(encoding="utf-8"))
    good = {"deck": "D", "namespace": "d-1", "version": 1.0, "topics": ["a", "b"]}
    jsonschema.validate(good, deck_schema)
    for bad in ({"deck": "D"}, good | {"namespace": "Not OK"}, good | {"topic": ["a"]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, deck_schema)


def test_every_starter_file_is_written():
    assert sorted(s.path for s in STARTER_FILES) + [f"schemas/{n}" for n in SCHEMAS] == sorted(WRITTEN)


@pytest.mark.parametrize(
    ("folder", "title", "namespace"),
    [
        ("Ünïcode_notes 2", "Ünïcode Notes 2", "unicode-notes-2"),
        ("null", "Null", "null"),  # YAML would read a plain null as nothing: quoted
        ("2024", "2024", "2024"),  # and a plain 2024 as a number
    ],
)
def test_title_and_namespace_come_from_the_folder_name(tmp_path, folder, title, namespace):
    result = invoke("init", tmp_path / folder)
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((tmp_path / folder / "cards" / "deck.yaml").read_text(encoding="utf-8"))
    assert (config["deck"], config["namespace"]) == (title, namespace)
    checked = invoke("check", "--cards", tmp_path / folder / "cards")
    assert checked.exit_code == 0, checked.output


def test_title_and_namespace_options(tmp_path):
    title = 'C#: "tricky" #1'
    result = invoke("init", tmp_path / "x", "--title", title, "--namespace", "csharp")
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((tmp_path / "x" / "cards" / "deck.yaml").read_text(encoding="utf-8"))
    assert (config["deck"], config["namespace"]) == (title, "csharp")


def test_a_folder_name_without_a_namespace_needs_the_option(tmp_path):
    result = invoke("init", tmp_path / "日本語")
    assert result.exit_code == 1
    assert "no usable namespace from '日本語': give one with --namespace" in result.output
    assert not (tmp_path / "日本語").exists()
    result = invoke("init", tmp_path / "x", "--namespace", "Not OK")
    assert result.exit_code == 1 and not (tmp_path / "x").exists()
    assert invoke("init", tmp_path / "日本語", "--namespace", "nihongo").exit_code == 0
    assert invoke("check", "--cards", tmp_path / "日本語" / "cards").exit_code == 0


def test_init_in_the_current_folder_prints_no_cd(tmp_path, monkeypatch):
    here = tmp_path / "biology-101"
    (here / ".git").mkdir(parents=True)  # an existing repository: init adds to it
    monkeypatch.chdir(here)
    result = invoke("init")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("New deck 'Biology 101' (namespace biology-101) in .:\n")
    assert "cd " not in result.output
    assert "\nNext:\n  deckgen check\n" in result.output
    assert files_under(here) == WRITTEN


def test_init_refuses_a_folder_whose_cards_folder_holds_files(tmp_path):
    deck = tmp_path / "deck"
    (deck / "cards").mkdir(parents=True)
    (deck / "cards" / "mine.yaml").write_text("deck: Mine\n", encoding="utf-8")
    result = deckgen("init", "deck", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "deck/cards: already holds files: deckgen init starts a new deck; choose another folder\n"
        "deckgen: 1 error; nothing was written\n"
    )
    assert files_under(deck) == ["cards/mine.yaml"]


def test_init_refuses_to_overwrite_any_file_and_names_each(tmp_path):
    deck = tmp_path / "deck"
    (deck / "schemas").mkdir(parents=True)
    (deck / ".gitignore").write_text("mine\n", encoding="utf-8")
    (deck / "schemas" / "deck.schema.json").write_text("{}", encoding="utf-8")
    (deck / "cards").mkdir()  # empty: no reason to refuse by itself
    result = deckgen("init", "deck", cwd=tmp_path)
    assert result.returncode == 1
    message = "already exists: deckgen init never overwrites a file; move it aside or choose another folder"
    assert result.stderr.splitlines() == [
        f"deck/.gitignore: {message}",
        f"deck/schemas/deck.schema.json: {message}",
        "deckgen: 2 errors; nothing was written",
    ]
    assert files_under(deck) == [".gitignore", "schemas/deck.schema.json"]
    assert (deck / ".gitignore").read_text(encoding="utf-8") == "mine\n"

    (deck / ".gitignore").unlink()
    (deck / "schemas" / "deck.schema.json").unlink()
    assert deckgen("init", "deck", cwd=tmp_path).returncode == 0
    assert files_under(deck) == WRITTEN
