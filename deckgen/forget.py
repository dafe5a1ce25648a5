"""`deckgen forget`: removed card ids that never reached learners are freed for new cards.

Beside the lock (lock.py): the lock keeps every removed id so that no new card takes it
over; an id that only ever was in an uncommitted lock (an experiment) is safe to reuse.
"Published" here is what git's HEAD has: an id in the committed lock may have reached
learners, and is refused unless forced.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from .errors import DeckError, Location, Problem, Problems, display_path
from .lock import LOCK_FILE, Lock, dump_lock, has_conflict_markers, parse_lock, read_lock_merging
from .output import StagedFiles, exclusive


def committed_lock(path: Path) -> Lock | None:
    """The lock as git's HEAD has it (None outside git, or if HEAD has none)."""
    try:
        folder = path.parent.resolve()
        shown = subprocess.run(
            ["git", "show", f"HEAD:./{path.name}"], cwd=folder, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if shown.returncode != 0:
        return None
    problems = Problems()
    text = shown.stdout
    if has_conflict_markers(text):
        return None
    return parse_lock(text, str(path), problems)


def forget(
    lock: Lock, ids: list[str], published: Lock | None, display: str, *, force: bool
) -> tuple[Lock, list[Problem]]:
    """The lock without the removed ids `ids`, so that they can be given to new cards.

    An id that a committed lock (`published`) has may be in learners' collections:
    forgetting it is refused unless `force`.
    """
    problems = []
    notes = dict(lock.notes)
    for card_id in ids:
        stamp = notes.get(card_id)
        where = Location(display)
        if stamp is None:
            problems.append(Problem(where, f"{card_id!r} is not in the lock: there is nothing to forget"))
        elif not stamp.removed:
            problems.append(Problem(where, f"{card_id!r} is a card of the deck, not a removed one"))
        elif published is not None and card_id in published.notes and not force:
            problems.append(
                Problem(
                    where,
                    f"{card_id!r} is in the committed lock, so it may have reached learners: a new card "
                    "under this id would overwrite their note. Give the new card another id, or "
                    "use --force if you are sure that commit was never published",
                )
            )
        else:
            del notes[card_id]
    return replace(lock, notes=notes), problems


def unpublished_removed(lock: Lock, published: Lock) -> list[str]:
    """Removed ids that the committed lock does not know: they never left this machine."""
    return sorted(
        card_id for card_id, stamp in lock.notes.items() if stamp.removed and card_id not in published.notes
    )


def forget_removed(cards_dir: Path, ids: list[str], *, unpublished: bool, force: bool) -> list[str]:
    """`deckgen forget`: drop removed ids from cards/deck.lock; returns the ids dropped.

    With `unpublished`, every removed id that the committed lock does not have. Raises
    DeckError, changing nothing, if any id cannot be forgotten.
    """
    path = cards_dir / LOCK_FILE
    display = display_path(path)
    problems = Problems()
    lock, merged = read_lock_merging(path, display, problems, locked=False)
    problems.raise_if_errors()
    assert lock is not None
    if merged:
        raise DeckError(
            [Problem(Location(display), "the lock has a merge conflict: run `deckgen build` first")]
        )
    published = committed_lock(path)
    if unpublished:
        if published is None:
            raise DeckError(
                [Problem(Location(display), "--unpublished needs git: no committed lock to compare with")]
            )
        ids = [*ids, *unpublished_removed(lock, published)]
    ids = list(dict.fromkeys(ids))
    forgotten, refused = forget(lock, ids, published, display, force=force)
    if refused:
        raise DeckError(refused)
    if ids:
        # A build of the same cards may be writing the lock: one at a time (output.exclusive).
        with exclusive(cards_dir, f"waiting for a deckgen build of {display_path(cards_dir)}/ to finish"):
            with StagedFiles() as staged:
                staged.write_text(path, dump_lock(forgotten))
                staged.commit()
    return ids
