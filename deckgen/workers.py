"""Worker processes for the steps that run on every core: rendering (render.py) and
writing the topic packages (build.py).

A worker must never outlive the command that started it, however the command ends:

- an error, Ctrl-C or SIGTERM in the command: `worker_pool` kills its workers at once
  rather than wait for the work they still have (the command is stopping anyway);
- the command killed outright (SIGKILL, the OOM killer): on Linux each worker asks the
  kernel to kill it when its parent dies (prctl PR_SET_PDEATHSIG), and checks that the
  parent had not died already before it asked.

Workers ignore Ctrl-C, which a terminal sends to every process of the command: the
command decides what an interrupt means, and ends them.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """The first thing each worker runs. `parent` is the command's pid (0: not known)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent and os.getppid() != parent:  # the command died before the request took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the command's handler (cli.py), inherited by fork


def taken_back(jobs: Sequence[tuple[T, Future]]) -> Iterator[T]:
    """Of the jobs submitted to a pool (each with its future), those no worker has started
    yet, from the last, each cancelled there as the caller comes to it, for the caller to
    do itself: the command's process would only wait for the workers otherwise, and they
    all finish at about the same time."""
    for job, future in reversed(jobs):
        if not future.cancel():
            return
        yield job


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers end with the command (see the module docstring)."""
    # Under "forkserver" a worker's parent is the fork server, which ends with the command.
    direct = multiprocessing.get_start_method() in ("fork", "spawn")
    before = set(multiprocessing.active_children())
    # The objects this process has so far go where the collector never looks: a forked
    # worker's collections would otherwise touch each of them, and copy every page of
    # the command's memory into the worker (at 100,000 cards, hundreds of MB).
    gc.freeze()
    pool = ProcessPoolExecutor(
        max_workers=workers, initializer=_die_with_parent, initargs=(os.getpid() if direct else 0,)
    )
    try:
        yield pool
    except BaseException:
        for worker in set(multiprocessing.active_children()) - before:
            worker.kill()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()
