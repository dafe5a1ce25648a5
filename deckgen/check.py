"""Everything a build checks before it writes: the deck compiled (compile.py), the lock
read (and a git merge conflict in it resolved), every note, note type and deck identified
against it (identity.py), removed cards retired (retire.py), and whatever would break
learners' collections refused. `deckgen check` ends here; `deckgen build` goes on to
package and report (build.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .cache import BuildCache
from .compile import CompiledDeck, compile_deck
from .errors import DeckError, Problem, Problems, display_path
from .identity import Identified, Stamping, build_time, identify, identity_problems
from .lock import LOCK_FILE, dump_lock, locked_problems, patch_lock, read_lock_merging
from .retire import last_published, retire


@dataclass(frozen=True)
class Checked:
    identified: Identified
    lock_path: Path
    old_lock_text: str | None
    new_lock_text: str
    lock_merged: bool  # the lock held a git merge conflict, resolved here
    warnings: list[Problem]


def check_identity(
    compiled: CompiledDeck,
    *,
    locked: bool,
    now: int | None,
    out_dir: Path | None,
    lock_is_ours: Callable[[Path, str], bool] | None = None,
) -> Checked:
    """Read the lock, stamp the deck against it, retire removed cards, and refuse what
    would break learners. `lock_is_ours` tells whether a lock's text is what `dump_lock`
    wrote for it (BuildCache.lock_is_ours): then only its changed lines are written again."""
    lock_path = compiled.deck.cards_dir / LOCK_FILE
    display = display_path(lock_path)
    problems = Problems()
    old_lock, merged = read_lock_merging(lock_path, display, problems, locked=locked)
    problems.raise_if_errors()
    assert old_lock is not None
    identified = identify(compiled, old_lock, build_time() if now is None else now)
    namespace = compiled.deck.config.namespace
    identified, warnings = retire(identified, last_published(out_dir, compiled.deck.cards_dir, namespace))
    errors = identity_problems(identified, display)
    old_lock_text = lock_path.read_text(encoding="utf-8") if lock_path.exists() else None
    if old_lock_text is not None and not merged and lock_is_ours and lock_is_ours(lock_path, old_lock_text):
        new_lock_text = patch_lock(old_lock_text, old_lock, identified.stamping.lock)
    else:
        new_lock_text = dump_lock(identified.stamping.lock)
    if locked and not errors:
        s = identified.stamping
        changes = {"added": s.added, "changed": s.changed, "removed": s.removed}
        errors = locked_problems(display, lock_path.exists(), old_lock_text, new_lock_text, changes)
    if errors:
        raise DeckError(errors)
    return Checked(identified, lock_path, old_lock_text, new_lock_text, merged, compiled.warnings + warnings)


@dataclass(frozen=True)
class CheckResult:
    compiled: CompiledDeck
    stamping: Stamping
    lock_merged: bool  # the lock holds a git merge conflict that `build` will resolve
    warnings: list[Problem]


def check(cards_dir: Path, *, locked: bool = False, out_dir: Path | None = None) -> CheckResult:
    """Everything `build` checks, writing nothing. Raises DeckError.

    With `out_dir`, what builds there keep in their cache (cache.py) is used, not changed.
    """
    cache = BuildCache(out_dir) if out_dir is not None else None
    ours = cache.lock_is_ours if cache else None
    compiled = compile_deck(cards_dir, cache)
    checked = check_identity(compiled, locked=locked, now=None, out_dir=None, lock_is_ours=ours)
    identified = checked.identified
    return CheckResult(identified.compiled, identified.stamping, checked.lock_merged, checked.warnings)
