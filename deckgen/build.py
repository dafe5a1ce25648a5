"""The pipeline, end to end: `deckgen build` (check.py is where `deckgen check` ends).

    compile (compile.py: load -> validate -> render)
      -> identify (identity.py, against the lock: lock.py)
      -> package (package.py) -> report (report.py)
      -> staged files renamed into place together (output.py)

Each step is a module; this one only runs them in order, with the build cache
(cache.py) wrapped around the steps that can reuse earlier work. After edits of what
cards say, rebuild.py compiles and identifies the edited topics only, and the build
goes on to package them as usual. Nothing here prints.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .cache import CACHE_DIR, BuildCache
from .check import check_identity
from .compile import Progress, compile_deck, fewer_collections
from .errors import display_path
from .identity import Stamping, build_time
from .lock import LOCK_FILE
from .output import StagedFiles, Waiting, exclusive, remove_temporaries, writing_to
from .package import PackageJob, package_key, plan_packages
from .package_writing import package_workers, write_packages
from .preview import PREVIEW_DIR
from .rebuild import rebuild_changed, records_to_write, remember
from .report import PackageSummary, TopicSummary, report_texts, stale_packages, summaries


@dataclass(frozen=True)
class BuildWork:
    """What a build did rather than take from its cache (tests and benchmarks read it)."""

    topics_read: tuple[str, ...] = ()  # topic keys whose files were read and validated
    fields_rendered: tuple[str, ...] = ()  # the Markdown of each field rendered
    packages_written: tuple[str, ...] = ()  # package file names written
    # Seconds spent in each step (read, render, identify, package, report): bench/run.py
    # prints them, so that a slower build shows where it got slower.
    phases: dict[str, float] = field(default_factory=dict)
    # Only the edited topics went through the steps, the others taken as the last build
    # packaged them (rebuild.py).
    quick: bool = False


@dataclass(frozen=True)
class BuildResult:
    packages: list[PackageSummary]
    topics: list[TopicSummary]
    stamping: Stamping
    lock_path: Path
    lock_written: bool
    warnings: list
    work: BuildWork = field(default_factory=BuildWork)
    lock_merged: bool = False  # the lock held a git merge conflict, resolved by this build
    removed_files: tuple[Path, ...] = ()  # stale packages of this deck's previous build


def build(
    cards_dir: Path,
    out_dir: Path,
    *,
    locked: bool = False,
    now: int | None = None,
    progress: Progress | None = None,
    waiting: Waiting | None = None,
) -> BuildResult:
    """Compile the cards and write one package per topic plus one for the whole deck.

    With `locked`, refuse (and write nothing) when the lock does not match the sources.
    Raises DeckError; on any error nothing under `out_dir` and no lock is changed.
    Work done before is taken from `out_dir/.cache` (cache.py), which the build updates
    only when it succeeds. One command at a time writes to `out_dir` and one build to
    `cards_dir` (its lock): another one waits for it, and tells `waiting` so.
    """
    with one_build_at_a_time(cards_dir, out_dir, waiting):
        return _build_alone(cards_dir, out_dir, locked=locked, now=now, progress=progress)


@contextmanager
def one_build_at_a_time(cards_dir: Path, out_dir: Path, waiting: Waiting | None = None) -> Iterator[None]:
    """Hold the out folder's lock, then the cards folder's (always in that order, so no
    two commands each hold one and wait for the other), and remove what killed
    commands left there."""
    with ExitStack() as held:
        held.enter_context(writing_to(out_dir, waiting))
        if not _same_folder(cards_dir, out_dir):
            message = f"waiting for another deckgen build of {display_path(cards_dir)}/ to finish"
            held.enter_context(exclusive(cards_dir, message, waiting))
        cache = out_dir / CACHE_DIR
        for folder in (out_dir, cache, *(p for p in cache.glob("*") if p.is_dir()), out_dir / PREVIEW_DIR):
            remove_temporaries(folder)
        remove_temporaries(cards_dir, [LOCK_FILE])
        yield


def _same_folder(one: Path, other: Path) -> bool:
    try:
        return one.samefile(other)
    except OSError:
        return False


@fewer_collections()
def _build_alone(
    cards_dir: Path, out_dir: Path, *, locked: bool, now: int | None, progress: Progress | None
) -> BuildResult:
    """`build`, holding the folders' locks."""
    with package_workers() as pool:
        return _build_with(cards_dir, out_dir, locked=locked, now=now, progress=progress, pool=pool)


def _build_with(
    cards_dir: Path,
    out_dir: Path,
    *,
    locked: bool,
    now: int | None,
    progress: Progress | None,
    pool: ProcessPoolExecutor | None,
) -> BuildResult:
    clock = _Clock()
    cache = BuildCache(out_dir)
    now = build_time() if now is None else now
    # Only some topic files edited since the last build: only they go through the steps
    # (rebuild.py); anything else takes the full pipeline, which says what changed.
    rebuilt = None if locked else rebuild_changed(cards_dir, cache, now, progress, clock.lap)
    if rebuilt is not None:
        compiled, checked, jobs = rebuilt.compiled, rebuilt.checked, rebuilt.jobs
    else:
        cache.discard()
        cache = BuildCache(out_dir)  # (the quick way may have read part of it)
        clock = _Clock()
        compiled = compile_deck(cards_dir, cache, progress)
        clock.lap("render", minus={"read": cache.read_seconds})
        ours = cache.lock_is_ours
        checked = check_identity(compiled, locked=locked, now=now, out_dir=out_dir, lock_is_ours=ours)
        jobs = plan_packages(checked.identified)
        clock.lap("identify")
    packages, topics = summaries(compiled, jobs, out_dir)

    out_dir.mkdir(parents=True, exist_ok=True)
    stale, warnings = stale_packages(out_dir, compiled.deck.config.namespace, jobs, checked.warnings)
    # The decks' records are staged in the cache as their packages are written: a build
    # that fails leaves none of them behind.
    try:
        with StagedFiles() as staged:
            files: dict[str, Path] = {}  # package name -> its bytes (staged, or kept as it is)
            pending: list[tuple[Path, PackageJob, str]] = []
            deck_digests: dict[int, bytes] = {}
            for job in jobs:
                final = out_dir / job.name
                key = package_key(job, deck_digests)
                if cache.packages.unchanged(final, key):
                    files[job.name] = final
                else:
                    files[job.name] = staged.stage(final)
                    pending.append((files[job.name], job, key))
            # (the topics' decks' records for the next build, written with their packages)
            records = records_to_write(cache, compiled, checked, jobs, [job for _t, job, _k in pending])
            rows = write_packages(pending, len(jobs) - len(pending), len(jobs), progress, pool, records)
            for temporary, job, key in pending:
                cache.packages.wrote(out_dir / job.name, key, temporary)
            whole_written = bool(pending) and pending[0][1] is jobs[0]
            clock.lap("package")
            for name, text in report_texts(checked.identified, packages, topics, files).items():
                staged.write_text(out_dir / name, text)
            if checked.new_lock_text != checked.old_lock_text:
                staged.write_text(checked.lock_path, checked.new_lock_text)
            staged.commit()
    except BaseException:
        cache.discard()
        raise
    # (after the outputs are in place: the record's files are written as it goes)
    remember(cache, compiled, checked, jobs, rows if whole_written else {}, rebuilt, frozenset(records))
    cache.keep_lock(checked.lock_path, checked.new_lock_text)
    cache.commit([out_dir / job.name for job in jobs])
    for name in sorted(stale):
        (out_dir / name).unlink(missing_ok=True)
    clock.lap("report")
    work = BuildWork(
        tuple(cache.topics_read),
        tuple(cache.fields_rendered),
        tuple(job.name for _t, job, _k in pending),
        clock.phases,
        rebuilt is not None,
    )
    lock_written = checked.new_lock_text != checked.old_lock_text
    stamping = checked.identified.stamping
    removed = tuple(out_dir / name for name in sorted(stale))
    return BuildResult(
        packages,
        topics,
        stamping,
        checked.lock_path,
        lock_written,
        warnings,
        work,
        checked.lock_merged,
        removed,
    )


class _Clock:
    """Seconds per step of one build, each lap from the end of the one before."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str, minus: dict[str, float] | None = None) -> None:
        """End `phase`; `minus` names parts of it timed apart (e.g. reading within compiling)."""
        now = time.perf_counter()
        parts = minus or {}
        self.phases.update(parts)
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._last - sum(parts.values())
        self._last = now
