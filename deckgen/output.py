"""Staged output, for step 5 and 6 of the pipeline (package, report) and the preview.

Every file a command publishes is first written under a hidden temporary name beside
its final name (`.NAME.XXXXXXXX.tmp`, on the same file system), and all of them are
renamed into place only when every one was written: a failed or killed build never
leaves a half-written package, nor a package beside a checksum file that does not
match it. A killed build's temporary files are recognisable by their names and are
removed by the next one (`remove_temporaries`), which runs under the folder's lock
(`exclusive`) so that it never removes the files of a build still running.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import display_path

try:
    import fcntl
except ImportError:  # Windows: no flock; commands there are not kept apart
    fcntl = None  # type: ignore[assignment]

# Told, once, that a command waits for another one (cli.py prints it).
Waiting = Callable[[str], None]
# How long a command waits for another one's lock before saying so.
QUIET_WAIT_SECONDS = 1.0
# Names that StagedFiles gives (`.NAME.` + mkstemp's 8 characters + `.tmp`) and that
# package.write_package gives its scratch database (the staged name + `.XXXXXXXX.anki2.tmp`).
_TEMPORARY_RE = re.compile(r"^\.(?P<name>.+?)\.[a-z0-9_]{8}\.tmp(\.[a-z0-9_]{8}\.anki2\.tmp)?$")
# Errors a file system without locks gives (NFS with a folder opened read-only, some FUSE).
_NO_LOCKS = {errno.EBADF, errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS}


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in blocks. Raises OSError."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def temporary_path(final: Path) -> Path:
    """A new, empty, hidden file beside `final`, so the rename stays on one file system."""
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(handle)
    # mkstemp makes the file private (0600); outputs should get the usual permissions.
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def final_path(path: Path) -> Path:
    """The file a temporary file stands for (`build/.x.apkg.ab12cd34.tmp` -> `build/x.apkg`),
    or `path` itself: what a message about a failed write should name."""
    match = _TEMPORARY_RE.match(path.name)
    return path.with_name(match["name"]) if match else path


# What the system said, in the user's words, and what to do about it (`file_trouble`).
_TROUBLE = {
    errno.ENOSPC: ("cannot write", "the disk is full (no space left on device)", "free some space"),
    errno.EDQUOT: ("cannot write", "the disk quota is used up", "free some space"),
    errno.EROFS: ("cannot write", "the file system is read-only", "choose a writable folder"),
    errno.EACCES: ("cannot use", "permission denied", "check its permissions (and its folder's)"),
    errno.EPERM: ("cannot use", "the system does not allow it", "check its permissions (and its folder's)"),
    errno.ENOTDIR: ("cannot use", "a part of the path is a file, not a folder", "choose another path"),
    errno.EEXIST: ("cannot make folder", "a file is in the way", "move it or choose another path"),
    errno.EISDIR: ("cannot write", "it is a folder", "move it or choose another path"),
    errno.ELOOP: ("cannot use", "its symbolic links form a loop", "fix or remove the links"),
    errno.ENAMETOOLONG: ("cannot use", "the name is too long for the file system", "choose a shorter path"),
    errno.ENOENT: ("cannot use", "no such file or folder", "check the path"),
    errno.EMFILE: ("cannot open", "too many files are open", "close some programs"),
    errno.EIO: ("cannot use", "input/output error", "the disk may be failing: check it"),
}


def file_trouble(error: OSError) -> str:
    """One line for trouble with files or the disk (the user's to fix, not a bug): what
    failed, on which file (a temporary one named by its final name), and what to do."""
    unknown = ("cannot use", error.strerror or str(error), "check it")
    doing, what, advice = _TROUBLE.get(error.errno or 0, unknown)
    if error.filename is None:
        return f"{what}; {advice} and try again; nothing was changed"
    path = display_path(final_path(Path(os.fsdecode(error.filename))))
    return f"{doing} {path}: {what}; {advice} and try again; nothing was changed"


def with_path(error: OSError, path: Path) -> OSError:
    """`error`, or when it names no file (a failed `write` names none) the same error
    naming `path`, so that the message says which file; a temporary name stands for
    its final one."""
    if error.filename is not None:
        return error
    named = OSError(error.errno, error.strerror, str(final_path(path)))
    named.__cause__ = error
    return named


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Raise an OSError from the block `with_path(path)`."""
    try:
        yield
    except OSError as error:
        raise with_path(error, path)  # noqa: B904 (the cause is set when it is a new error)


def remove_leftovers(final: Path) -> None:
    """Delete temporary files that a killed command left beside `final`."""
    for leftover in final.parent.glob(f".{final.name}.*.tmp"):
        leftover.unlink(missing_ok=True)


def remove_temporaries(folder: Path, names: Iterable[str] | None = None) -> list[Path]:
    """Delete the temporary files that killed commands left in `folder` (not below it):
    every file named as deckgen names them, or with `names` only those of these files.

    Call it only under `exclusive(folder)`: another command's temporaries are in use.
    A file that cannot be deleted is left (the command's own writes report the trouble).
    """
    wanted = None if names is None else set(names)
    removed = []
    with contextlib.suppress(OSError):
        for path in folder.iterdir():
            match = _TEMPORARY_RE.match(path.name)
            if match and (wanted is None or match["name"] in wanted) and not path.is_dir():
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
    return removed


@contextlib.contextmanager
def exclusive(
    folder: Path, message: str, waiting: Waiting | None = None, *, create: bool = False
) -> Iterator[None]:
    """Hold `folder`'s lock: one deckgen command at a time writes there.

    The lock is the kernel's flock on the folder itself, opened read-only: no lock file
    to create, to show in `git status`, to publish or to clean up, and the kernel drops
    it when the process ends, however it ends. A command that finds the folder locked
    waits; after QUIET_WAIT_SECONDS it tells `waiting` the `message` once.

    With `create`, a missing folder (and its missing parents) is made, and removed
    again on leaving if it is still empty. Without it, a missing folder is not locked
    (the command reports it). Where the file system has no locks, nothing is locked.
    """
    made = _make_folders(folder) if create else []
    try:
        handle = _lock(folder, message, waiting, create)
        try:
            yield
        finally:
            if handle is not None:
                os.close(handle)  # releases the lock
    finally:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.rmdir()


def writing_to(out_dir: Path, waiting: Waiting | None = None) -> contextlib.AbstractContextManager[None]:
    """`exclusive(out_dir)`, for a command that writes there (build, preview)."""
    message = f"waiting for another deckgen command writing to {display_path(out_dir)}/ to finish"
    return exclusive(out_dir, message, waiting, create=True)


def _make_folders(folder: Path) -> list[Path]:
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    folder.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def _lock(folder: Path, message: str, waiting: Waiting | None, create: bool) -> int | None:
    """An open descriptor of `folder` holding its lock, or None where it cannot be locked."""
    if fcntl is None:
        return None
    while True:
        try:
            handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except FileNotFoundError:
            if not create:
                return None
            folder.mkdir(parents=True, exist_ok=True)
            continue
        try:
            if not _flock(handle, message, waiting):
                os.close(handle)
                return None
            # The folder may have been removed (and made again) while this command
            # waited: then the lock is on a folder nobody else will lock.
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.fstat(handle), os.stat(folder)):
                    return handle
        except BaseException:
            os.close(handle)
            raise
        os.close(handle)


def _flock(handle: int, message: str, waiting: Waiting | None) -> bool:
    """Lock `handle`, waiting for whoever holds it; False where locks are not supported."""
    deadline = time.monotonic() + QUIET_WAIT_SECONDS
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        if waiting is not None:
            waiting(message)
        fcntl.flock(handle, fcntl.LOCK_EX)  # interrupted by Ctrl-C or SIGTERM (cli.py)
        return True
    except OSError as error:
        if error.errno in _NO_LOCKS:
            return False
        raise


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM until the block is done: a command stopped then
    stops right after it, not halfway through.

    Python runs signal handlers in the main thread only, whichever thread the signal
    reached: there the handlers are swapped for ones that take note, and the first
    signal noted is handled as it would have been when the block ends. Elsewhere no
    handler can interrupt the block.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[tuple[int, object]] = []

    def take_note(number: int, frame) -> None:
        arrived.append((number, frame))

    before = {number: signal.signal(number, take_note) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
        for number, frame in arrived[:1]:
            handler = before[number]
            if callable(handler):
                handler(number, frame)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(number)


class StagedFiles:
    """Files written under temporary names, renamed into place together by `commit`.

    Use as a context manager: leaving it by an exception discards every temporary
    file; `commit` renames them in the order they were staged (each rename is atomic),
    with Ctrl-C and SIGTERM held back until the last one. A build stages its packages
    first, then SHA256SUMS and manifest.json, then the lock last: even a SIGKILL in the
    middle of the renames leaves no lock that records changes the published packages
    do not have (the next build stamps them again, and rewrites the rest).
    """

    def __init__(self) -> None:
        self._moves: list[tuple[Path, Path]] = []  # (temporary, final)

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, kind, _value, _traceback) -> None:
        if kind is not None:
            self.discard()

    def stage(self, final: Path) -> Path:
        """A temporary file to write `final`'s bytes to (leftovers of `final` removed first)."""
        remove_leftovers(final)
        temporary = temporary_path(final)
        self._moves.append((temporary, final))
        return temporary

    def write_text(self, final: Path, text: str) -> Path:
        temporary = self.stage(final)
        with naming(final):
            temporary.write_text(text, encoding="utf-8")
        return temporary

    def write_bytes(self, final: Path, data: bytes) -> Path:
        temporary = self.stage(final)
        with naming(final):
            temporary.write_bytes(data)
        return temporary

    def copy(self, final: Path, source: Path) -> Path:
        temporary = self.stage(final)
        with naming(final):
            shutil.copyfile(source, temporary)
        return temporary

    def temporary(self, final: Path) -> Path | None:
        """Where `final` is staged, if it is."""
        return next((temporary for temporary, staged in self._moves if staged == final), None)

    def commit(self) -> None:
        with signals_held():
            for temporary, final in self._moves:
                os.replace(temporary, final)
            self._moves = []

    def discard(self) -> None:
        for temporary, _final in self._moves:
            temporary.unlink(missing_ok=True)
        self._moves = []
