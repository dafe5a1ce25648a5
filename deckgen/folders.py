"""Where the deck is: the cards folder, found from where the user stands, and build/ beside it.

Before the pipeline starts: the commands read `cards/` and write `build/` of the deck's
folder, and an author often stands in a subfolder of it (in `cards/` itself, or deeper,
editing). Without `--cards`, a command takes the folder it runs in when that holds
`deck.yaml`, else the first `cards/deck.yaml` up from there; when there is none, it says
everywhere it looked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DeckError, Location, Problem
from .schema import CONFIG_FILE

CARDS_FOLDER = "cards"
BUILD_FOLDER = "build"


@dataclass(frozen=True)
class DeckFolders:
    cards: Path  # the cards folder, relative to where the command runs when it is below it
    out: Path  # where packages go: build/ beside the cards folder


def find_deck(start: Path) -> DeckFolders:
    """The cards folder for a command run in `start` without `--cards`, and build/ beside it.

    Raises DeckError naming every folder searched when there is none.
    """
    start = start.absolute()
    if (start / CONFIG_FILE).is_file():
        return _folders(start, start)
    if (start / CARDS_FOLDER).is_dir():
        # As it always was: a cards/ folder here is the deck's, even without its deck.yaml
        # (the pipeline then says how to write one).
        return _folders(start / CARDS_FOLDER, start)
    searched = []
    for folder in (start, *start.parents):
        searched.append(str(folder))
        if (folder / CARDS_FOLDER / CONFIG_FILE).is_file():
            return _folders(folder / CARDS_FOLDER, start)
    raise DeckError(
        [
            Problem(
                Location("deckgen"),
                f"no cards folder: looked for {CARDS_FOLDER}/{CONFIG_FILE} in {', '.join(searched)}; "
                "run from your deck's folder or pass --cards",
            )
        ]
    )


def _folders(cards: Path, start: Path) -> DeckFolders:
    return DeckFolders(_relative(cards, start), _relative(cards.parent / BUILD_FOLDER, start))


def _relative(path: Path, start: Path) -> Path:
    """`path` as the user would type it from `start` ("cards", "../build"), or absolute."""
    relative = Path(os.path.relpath(path, start))
    return relative if not relative.as_posix().startswith("../../..") else path
