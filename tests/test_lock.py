"""The lock file: read, written one entry a line, damaged locks reported, --locked."""

from dataclasses import replace

from deckgen.errors import Problems
from deckgen.lock import DeckStamp, Lock, NoteStamp, NoteTypeStamp, dump_lock, locked_problems, read_lock

LOCK = Lock(
    notes={
        "b-card": NoteStamp("h2", 1_700_000_100, "topic"),
        "a-card": NoteStamp("h1", 1_700_000_000, "topic"),
        "gone": NoteStamp("h3", 1_600_000_000, "old", "basic", True, ("Q", "A", "", "gone"), ("t",), "r1"),
    },
    note_types={"basic": NoteTypeStamp("t1", 1_700_000_000, ("Front", "Back", "Extra", "ID"))},
    decks={
        "": DeckStamp("d1", 1_700_000_000, "Deck"),
        "topic": DeckStamp("d2", 1_700_000_000, "Deck::Topic"),
    },
    namespace="deck",
)


def read(path):
    problems = Problems()
    return read_lock(path, str(path), problems), problems


def test_missing_lock_is_an_empty_one(tmp_path):
    lock, problems = read(tmp_path / "deck.lock")
    assert lock == Lock() and problems.items == []


def test_written_lock_reads_back_the_same(tmp_path):
    path = tmp_path / "deck.lock"
    path.write_text(dump_lock(LOCK), encoding="utf-8")
    lock, problems = read(path)
    assert problems.items == [] and lock == LOCK


def test_lock_text_is_sorted_one_entry_a_line_and_deterministic():
    text = dump_lock(LOCK)
    assert text == dump_lock(replace(LOCK, notes=dict(reversed(LOCK.notes.items()))))
    lines = text.splitlines()
    notes = [line for line in lines if line.lstrip().startswith('"') and '"type"' in line]
    assert [line.split('"')[1] for line in notes] == ["a-card", "b-card", "gone"]
    assert '"removed": true' in next(line for line in lines if '"gone"' in line)
    assert text.endswith("}\n")


def test_invalid_json_is_located(tmp_path):
    path = tmp_path / "deck.lock"
    path.write_text('{\n  "format": 1,\n  "notes": {,\n}\n', encoding="utf-8")
    lock, problems = read(path)
    assert lock is None
    (problem,) = problems.errors
    assert problem.location.line == 3 and "not valid JSON" in problem.message


def test_damaged_lock_says_to_restore_it(tmp_path):
    path = tmp_path / "deck.lock"
    path.write_text('{"format": 2, "notes": {"a": {"hash": 1}}}', encoding="utf-8")
    lock, problems = read(path)
    assert lock is None and "restore it from git" in problems.errors[0].message


def test_unknown_format_is_refused(tmp_path):
    path = tmp_path / "deck.lock"
    path.write_text(dump_lock(LOCK).replace('"format": 2', '"format": 99'), encoding="utf-8")
    lock, problems = read(path)
    assert lock is None and "unknown lock format 99" in problems.errors[0].message


def test_locked_needs_a_lock_and_no_change():
    assert "there is no lock file" in locked_problems("deck.lock", False, None, "x", {})[0].message
    assert locked_problems("deck.lock", True, "same", "same", {}) == []
    (problem,) = locked_problems("deck.lock", True, "old", "new", {"added": ["a", "b"], "changed": []})
    assert "added: a, b" in problem.message and "run `deckgen build` and commit the lock" in problem.message


def test_format_1_lock_is_read(tmp_path):
    path = tmp_path / "deck.lock"
    path.write_text(
        '{"format": 1, "note_types": {}, "decks": {"Deck": {"hash": "d", "changed": 5}},'
        ' "notes": {"a": {"hash": "h", "changed": 5, "topic": "t"}}}',
        encoding="utf-8",
    )
    lock, problems = read(path)
    assert problems.items == [] and lock.format == 1 and lock.namespace == ""
    assert lock.decks == {"Deck": DeckStamp("d", 5, "Deck")} and lock.notes["a"] == NoteStamp("h", 5, "t")
