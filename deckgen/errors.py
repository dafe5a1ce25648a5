"""Problems with a location: how every step of the pipeline reports bad input.

Steps collect `Problem` values instead of raising on the first one, so that one run
reports everything it finds. Only `cli.py` turns them into text on stderr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .records import sent_between_processes

Severity = Literal["error", "warning"]


@sent_between_processes
@dataclass(frozen=True, order=True, slots=True)
class Location:
    """A place in a source file; line and column count from 1, as editors do."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        return f"{self.path}:{self.line}:{max(self.column, 1)}"

    @classmethod
    def of_mark(cls, path: str | Path, mark) -> Location:
        """A Location from a PyYAML mark (which counts from 0)."""
        return cls(str(path), mark.line + 1, mark.column + 1)


@dataclass(frozen=True)
class Problem:
    location: Location
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.location}: {prefix}{self.message}"


class DeckError(Exception):
    """Raised by the library when input is wrong; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: p.location)
        super().__init__("\n".join(str(p) for p in self.problems))


class Problems:
    """A collector that steps append to; `raise_if_errors` ends a step that found errors."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def error(self, location: Location, message: str) -> None:
        self.items.append(Problem(location, message, "error"))

    def warning(self, location: Location, message: str) -> None:
        self.items.append(Problem(location, message, "warning"))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise DeckError(self.errors)


def locate_in_field(field_at: Location, field_text: str, offset: int, source: str | None = None) -> Location:
    """Where character `offset` of a field's text is written in its card file.

    `field_at` is where the field's value starts (a card's `field_locations`): the line of
    `extra: |` for a block, so a problem at, say, an image reference deep in the block
    would point at the block's first line. This finds the reference itself: the n-th
    occurrence of the word at `offset` in the text is the n-th one in the file after
    `field_at` (YAML may fold lines and strip indentation, but keeps each word). `source`
    is the file's text, read from `field_at.path` when not given; when the word cannot
    be found (an escape in a quoted scalar), the answer is `field_at`.
    """
    word = field_text[offset:].split(maxsplit=1)[0] if field_text[offset:].strip() else ""
    if not word or field_at.line <= 0 or field_text[offset : offset + 1].isspace():
        return field_at
    if source is None:
        try:
            source = Path(field_at.path).read_text(encoding="utf-8")
        except (OSError, UnicodeError):
            return field_at
    lines = source.splitlines()
    nth = field_text[:offset].count(word)  # earlier occurrences of the same word
    line, column = field_at.line - 1, max(field_at.column, 1) - 1
    while line < len(lines):
        found = lines[line].find(word, column)
        if found < 0:
            line, column = line + 1, 0
        elif nth:
            nth, column = nth - 1, found + 1
        else:
            return Location(field_at.path, line + 1, found + 1)
    return field_at


def display_path(path: Path) -> str:
    """The path as the user typed it relative to where they stand, when that is shorter."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return relative if not relative.startswith("../../") else str(path)
