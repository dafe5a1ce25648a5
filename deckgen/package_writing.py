"""Step 5, in parallel: writing a build's packages on every core.

The whole deck's package is written by the build's own process while the topic
packages are written meanwhile by workers forked at the start of the build
(`package_workers`), when there are enough notes for that to pay. Whoever writes a
topic's package also writes its deck's record for the next build (rebuild.py), from the
rows it has just made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

from .compile import Progress
from .package import PackageJob, write_package
from .package_database import DeckRows
from .rebuild import deck_record
from .render import usable_cores
from .workers import taken_back, worker_pool

# Below this many notes in the packages after the first, a second process costs more
# than it saves (a one-card rebuild writes the whole deck and one topic).
PARALLEL_NOTES = 5000


@contextmanager
def package_workers() -> Iterator[ProcessPoolExecutor | None]:
    """The processes that write topic packages beside this one, started (forked) now.

    Forked when the packages are written, from a process that then holds every card, a
    worker came to own a copy of much of its memory (new objects fill the holes of pages
    it shares): at 100,000 cards the processes peaked at 1.1 GB together, the command
    alone at 0.6 GB. Forked at the start, a worker holds little more than its jobs.
    """
    workers = usable_cores() - 1
    if workers < 1:
        yield None
        return
    with worker_pool(workers) as pool:  # on an error, its workers are ended and their work dropped
        pool.submit(int)  # (a pool forks its workers on its first task)
        yield pool


def write_packages(
    pending: list[tuple[Path, PackageJob, str]],
    done: int,
    total: int,
    progress: Progress | None,
    pool: ProcessPoolExecutor | None,
    records: dict[str, Path] | None = None,
) -> dict[int, DeckRows]:
    """Write each (temporary, job): the first here, the others meanwhile in `pool` (on
    the other cores) when there are many; and for a topic in `records`, its deck's rows
    to the (temporary) file named there (`deck_record`). Returns the first's rows by
    deck id."""
    records = records or {}

    def wrote_one() -> None:
        nonlocal done
        done += 1
        if progress:
            progress("package", done, total)

    if not pending:
        return {}
    rest = pending[1:]
    parallel = pool is not None and sum(job.notes for _path, job, _key in rest) >= PARALLEL_NOTES
    futures = (
        [pool.submit(_write_one, temporary, job, records.get(job.topic)) for temporary, job, _key in rest]
        if parallel
        else []
    )
    first = _write_one(pending[0][0], pending[0][1], records.get(pending[0][1].topic), rows=True)
    wrote_one()
    if not parallel:
        for temporary, job, _key in rest:
            _write_one(temporary, job, records.get(job.topic))
            wrote_one()
        return first
    # The first written, this process takes the packages no worker has started yet,
    # from the last: both cores busy to the end (at 20,000 cards, a worker alone was
    # still writing topics 0.4 s after the whole deck was done).
    for temporary, job, _key in taken_back(list(zip(rest, futures, strict=True))):
        _write_one(temporary, job, records.get(job.topic))
        wrote_one()
    for future in as_completed([future for future in futures if not future.cancelled()]):
        future.result()
        wrote_one()
    return first


def _write_one(path: Path, job: PackageJob, record: Path | None, rows: bool = False) -> dict[int, DeckRows]:
    """write_package (in a worker, or in the build's process), then the record of its
    topic's deck to `record`; returns the package's rows if asked (a worker sends
    nothing back)."""
    written = write_package(path, job)
    if record is not None:
        deck = job.decks[-1]  # (a topic's package: the root deck, then the topic's)
        # Into the file the build staged, never a new one: a build stopped meanwhile has
        # removed it. (The cache only saves time: a damaged record is never read.)
        with contextlib.suppress(OSError), open(record, "r+b") as file:
            file.write(deck_record(written[deck.id]))
            file.truncate()
    return written if rows else {}
