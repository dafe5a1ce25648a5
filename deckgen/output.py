"""Staged output, for step 5 and 6 of the pipeline (package, report) and the preview.

Every file a command publishes is first written under a hidden temporary name beside
its final name (`.NAME.XXXX.tmp`, on the same file system), and all of them are
renamed into place only when every one was written: a failed or killed build never
leaves a half-written package, nor a package beside a checksum file that does not
match it. A killed build's temporary files are recognisable by their names and are
removed by the next one (`remove_leftovers`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path


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


def remove_leftovers(final: Path) -> None:
    """Delete temporary files that a killed command left beside `final`."""
    for leftover in final.parent.glob(f".{final.name}.*.tmp"):
        leftover.unlink(missing_ok=True)


class StagedFiles:
    """Files written under temporary names, renamed into place together by `commit`.

    Use as a context manager: leaving it by an exception discards every temporary
    file; `commit` renames them in the order they were staged (each rename is atomic).
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
        temporary.write_text(text, encoding="utf-8")
        return temporary

    def copy(self, final: Path, source: Path) -> Path:
        temporary = self.stage(final)
        shutil.copyfile(source, temporary)
        return temporary

    def temporary(self, final: Path) -> Path | None:
        """Where `final` is staged, if it is."""
        return next((temporary for temporary, staged in self._moves if staged == final), None)

    def commit(self) -> None:
        for temporary, final in self._moves:
            os.replace(temporary, final)
        self._moves = []

    def discard(self) -> None:
        for temporary, _final in self._moves:
            temporary.unlink(missing_ok=True)
        self._moves = []
