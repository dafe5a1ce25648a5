"""Bad input never breaks a build: nothing lost, no traceback, bounded resources."""

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deckgen import package as package_module
from deckgen import package_writing
from deckgen.build import build
from deckgen.cli import main
from deckgen.editor_schemas import json_schema, json_schema_text
from deckgen.errors import DeckError, Problems
from deckgen.load import MAX_FILE_BYTES
from deckgen.validate import read_deck

from conftest import CARDS, write_deck

GOOD = "deck: One\ncards:\n" + "".join(f"  - id: c{i}\n    front: Q{i}\n    back: A{i}\n" for i in range(20))


def snapshot(*folders: Path) -> dict[str, bytes]:
    files = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                files[str(path)] = path.read_bytes()
    return files


@pytest.fixture
def built(tmp_path):
    cards = write_deck(
        tmp_path / "cards",
        {"one": GOOD, "two": GOOD.replace("id: c", "id: t").replace("deck: One", "deck: Two")},
    )
    out = tmp_path / "build"
    build(cards, out, now=1_700_000_000)
    return cards, out


def test_failed_validation_changes_no_file(built):
    cards, out = built
    before = snapshot(cards, out)
    (cards / "two.yaml").write_text(GOOD.replace("id: c", "id: t") + "  - id: broken\n    front: Q\n")
    before[str(cards / "two.yaml")] = (cards / "two.yaml").read_bytes()
    result = CliRunner().invoke(main, ["build", "--cards", str(cards), "--out", str(out)])
    assert result.exit_code == 1
    assert snapshot(cards, out) == before


def test_failure_while_writing_packages_changes_no_file(built, monkeypatch):
    cards, out = built
    (cards / "one.yaml").write_text(GOOD.replace("A1\n", "A1 edited\n"))
    before = snapshot(cards, out)
    real_write = package_module.write_package
    calls = []

    def failing_write(path, job):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_write(path, job)

    monkeypatch.setattr(package_writing, "write_package", failing_write)
    with pytest.raises(OSError):
        build(cards, out, now=1_700_000_100)
    assert len(calls) == 2
    assert snapshot(cards, out) == before  # no package, no lock, no temporary file


def test_killed_build_leaves_no_half_written_package(built):
    cards, out = built
    (cards / "one.yaml").write_text(GOOD.replace("A1\n", "A1 edited\n"))
    before = snapshot(out)
    # A build that stalls in the middle of writing its second package, then is killed.
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from deckgen import build as b, package_writing as w
        real = w.write_package
        count = []
        def slow(path, job):
            count.append(path)
            if len(count) == 2:
                path.write_bytes(b"PK half a package")
                print("writing", flush=True)
                time.sleep(60)
            real(path, job)
        w.write_package = slow
        b.build(Path({str(cards)!r}), Path({str(out)!r}), now=1_700_000_100)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "writing"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    finals = {k: v for k, v in snapshot(out).items() if not Path(k).name.startswith(".")}
    assert finals == before
    assert any(Path(k).name.endswith(".tmp") for k in snapshot(out))  # the leftovers...
    build(cards, out, now=1_700_000_200)
    assert not any(Path(k).name.endswith(".tmp") for k in snapshot(out))  # ...are cleared next time


def test_billion_laughs_fails_fast(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    cards = write_deck(tmp_path / "cards", {"lol": "\n".join(lines) + "\ndeck: x\ncards: *a11\n"})
    start = time.monotonic()
    problems = Problems()
    read_deck(cards, problems)
    assert time.monotonic() - start < 5
    assert "expands to more than" in problems.errors[0].message


def test_oversized_file_is_refused(tmp_path):
    cards = write_deck(tmp_path / "cards", {"big": "deck: x\ncards: []\n# " + "x" * MAX_FILE_BYTES + "\n"})
    problems = Problems()
    read_deck(cards, problems)
    assert any(
        "the limit is" in p.message and str(p.location).endswith("big.yaml:1:1") for p in problems.errors
    )


def test_debug_shows_a_traceback_for_internal_errors_only(tmp_path, monkeypatch):
    cards = write_deck(tmp_path / "cards", {"one": GOOD})

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("deckgen.cli.commands.run_build", boom)
    plain = CliRunner().invoke(main, ["build", "--cards", str(cards)])
    assert plain.exit_code == 3
    assert "internal error: RuntimeError: simulated bug" in plain.stderr
    assert "Traceback" not in plain.output
    debug = CliRunner().invoke(main, ["--debug", "build", "--cards", str(cards)])
    assert "Traceback" in debug.stderr


# -- fuzzing --------------------------------------------------------------------------

yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["deck", "cards", "id", "type", "front", "back", "text", "extra", "tags", "x"]),
            children,
            max_size=5,
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=yaml_values)
def test_any_yaml_structure_gives_problems_never_a_traceback(tmp_path_factory, document):
    cards = write_deck(tmp_path_factory.mktemp("fuzz"), {"topic": yaml.safe_dump(document)})
    result = CliRunner().invoke(main, ["check", "--cards", str(cards)])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_any_text_gives_problems_never_a_traceback(tmp_path_factory, text):
    cards = write_deck(tmp_path_factory.mktemp("fuzz"), {})
    (cards / "topic.yaml").write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        problems = Problems()
        deck = read_deck(cards, problems)
        from deckgen.render import render_deck, render_fields

        render_deck(deck, problems, lambda requests: render_fields(cards, requests))
    except DeckError:  # pragma: no cover - read_deck collects, it does not raise
        pytest.fail("read_deck raised instead of collecting problems")
    for problem in problems.errors:
        assert problem.location.path.endswith("topic.yaml"), problem


# -- the JSON Schema for editors -------------------------------------------------------


def test_committed_schema_is_generated_from_the_validator_definition():
    committed = Path(__file__).resolve().parents[1] / "deckgen" / "card-file.schema.json"
    assert committed.read_text() == json_schema_text(), "run: deckgen schema -o deckgen/card-file.schema.json"


def test_real_card_files_satisfy_the_json_schema():
    validator = jsonschema.Draft202012Validator(json_schema())
    topics = [p for p in CARDS.glob("*.yaml") if p.name != "deck.yaml"]
    assert topics
    for path in topics:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert errors == [], (path, [e.message for e in errors])


@pytest.mark.parametrize(
    "case",
    [
        "unknown-key",
        "missing-back",
        "unknown-card-type",
        "field-of-another-type",
        "id-not-a-slug",
        "no-deck-title",
    ],
)
def test_json_schema_rejects_what_the_validator_rejects(case):
    document = yaml.safe_load((Path(__file__).parent / "broken" / f"{case}.yaml").read_text())
    assert list(jsonschema.Draft202012Validator(json_schema()).iter_errors(document))


def test_schema_command_prints_the_schema(tmp_path):
    result = CliRunner().invoke(main, ["schema"])
    assert json.loads(result.output)["title"] == "deckgen topic file"
    CliRunner().invoke(main, ["schema", "-o", str(tmp_path / "s.json")])
    assert (tmp_path / "s.json").read_text() == json_schema_text()


def test_lock_is_left_alone_by_check(built):
    cards, out = built
    (cards / "one.yaml").write_text(GOOD.replace("A1\n", "A1 edited\n"))
    before = snapshot(cards, out)
    result = CliRunner().invoke(main, ["check", "--cards", str(cards)])
    assert result.exit_code == 0
    assert snapshot(cards, out) == before
