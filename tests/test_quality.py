"""Quality warnings from `deckgen check`."""

import yaml
from click.testing import CliRunner

from deckgen.cli import main

from conftest import write_deck


def check(tmp_path, cards, *args):
    folder = write_deck(
        tmp_path / "cards", {"topic": yaml.safe_dump({"deck": "T", "cards": cards}, sort_keys=False)}
    )
    return CliRunner().invoke(main, ["check", "--cards", str(folder), *args])


def test_clean_deck_has_no_warnings(tmp_path):
    result = check(tmp_path, [{"id": "a", "front": "What is a task?", "back": "Containers run together."}])
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout == "1 notes in 1 topics: no errors\n"


def test_each_quality_problem_is_a_located_warning(tmp_path):
    cards = [
        {"id": "a", "front": "What does the ECS agent do on an instance?", "back": "Registers it."},
        {"id": "b", "front": "What does the ECS agent do on an instance??", "back": "Same."},
        {"id": "c", "front": "Long?", "back": " ".join(["word"] * 70)},
        {"id": "d", "type": "cloze", "text": "A {{c1::very long hidden answer that is most of the text}}."},
        {"id": "g", "type": "type-in", "front": "Key?", "back": "`ECS_CLUSTER`"},
        {"id": "h", "type": "type-in", "front": "Other key?", "back": "ECS_ENABLE_TASK_IAM_ROLE"},
    ]
    result = check(tmp_path, cards)
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert lines == sorted(lines, key=lambda line: int(line.split(":")[1]))  # in file order
    assert all(": warning: " in line for line in lines), lines
    joined = "\n".join(lines)
    assert "topic.yaml:7:10: warning: same question as card 'a'" in joined
    assert "topic.yaml:11:9: warning: answer is 70 words long" in joined
    assert "topic.yaml:18:9: warning: deletion c1 hides" in joined
    assert "topic.yaml:22:9: warning: type-in answers are compared as plain text" in joined
    assert "ECS_ENABLE_TASK_IAM_ROLE" not in joined and len(lines) == 4
    assert result.stdout.endswith("no errors, 4 warnings\n")
    assert check(tmp_path / "strict", cards, "--strict").exit_code == 1


def test_near_duplicate_questions(tmp_path):
    cards = [
        {"id": "a", "front": "Which launch type needs no servers to manage?", "back": "Fargate"},
        {"id": "b", "front": "Which launch type needs no server to manage?", "back": "Fargate"},
        {"id": "c", "front": "Which IAM role does a task use to call S3?", "back": "The task role"},
    ]
    result = check(tmp_path, cards)
    assert result.stderr.count("warning:") == 1
    assert "nearly the same question as card 'a'" in result.stderr
