"""Problems with a location: how every step of the pipeline reports bad input.

Steps collect `Problem` values instead of raising on the first one, so that one run
reports everything it finds. Only `cli.py` turns them into text on stderr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
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


def display_path(path: Path) -> str:
    """The path as the user typed it relative to where they stand, when that is shorter."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return relative if not relative.startswith("../../") else str(path)
