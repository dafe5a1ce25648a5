"""Faults of the machine, not of the cards (issue 17): real processes, signals, files, mounts.

- Two commands at once: the second waits for the first (output.exclusive), and what they
  leave verifies (`sha256sum -c`, `build --locked`).
- A build stopped by SIGTERM, or killed by SIGKILL, while its render workers run: no
  worker outlives it (checked in /proc), and nothing half-written is left or published.
- Temporary files of killed commands are swept by the next build; nothing else is.
- A read-only, full or forbidden folder, an --out below a regular file: one line naming
  the file and what to do, exit 1, nothing written. Mounts are made in a mount namespace
  of their own (`unshare -m`), which tests skip where the machine does not allow one.
- Media that cannot be read (a symbolic link loop, a NUL byte, a name too long, no
  permission) is an error at the field; media over quality.LARGE_MEDIA_BYTES a warning.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from deckgen.output import file_trouble, final_path, signals_held, writing_to
from deckgen.package import IN_MEMORY_NOTES
from deckgen.quality import LARGE_MEDIA_BYTES

from conftest import honouring_permissions, write_deck

DECKGEN = Path(sys.executable).with_name("deckgen")
SH_DECKGEN = shlex.quote(str(DECKGEN))  # in the sh scripts of mount namespaces
BENCH = Path(__file__).resolve().parents[1] / "bench"
# Enough cards for more than 2 x render.PARALLEL_FIELDS fields: render workers start.
MANY_CARDS = 2500
CARD = "  - id: c{n}\n    front: Question {n}?\n    back: Answer {n}.\n"
ONE_TOPIC = {"topic": "deck: Topic\ncards:\n" + CARD.format(n=1)}


def deckgen(*args: str, cwd: Path, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(prefix or []), str(DECKGEN), *args], capture_output=True, text=True, cwd=cwd)


def generated_deck(folder: Path, cards: int = MANY_CARDS) -> Path:
    subprocess.run([sys.executable, str(BENCH / "generate.py"), str(cards), str(folder)], check=True)
    return folder


def files_in(folder: Path) -> list[str]:
    """Every file under `folder`, relative, sorted ([] when there is no folder)."""
    return (
        sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        if folder.exists()
        else []
    )


def verify_sums(out: Path) -> None:
    result = subprocess.run(
        ["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=out, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- processes in /proc ------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class Running:
    """A `deckgen` process, its stderr read as it comes."""

    def __init__(self, *args: str, cwd: Path, stdout=subprocess.DEVNULL):
        self.process = subprocess.Popen(
            [str(DECKGEN), *args], cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, text=True
        )
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))

    def wait(self, seconds: float = 120) -> int:
        code = self.process.wait(seconds)
        self._reader.join(5)
        return code


# -- one build at a time ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["build", "preview"])
def test_a_command_waits_while_another_one_writes_to_its_folder_and_says_so(tmp_path, command):
    write_deck(tmp_path / "cards", ONE_TOPIC)
    out = tmp_path / "build"
    with writing_to(out):  # what a running build or preview holds: the folder's flock
        running = Running(command, "--cards", "cards", "--out", "build", cwd=tmp_path)
        message = "deckgen: waiting for another deckgen command writing to build/ to finish"
        assert wait_for(lambda: message in running.stderr, 20), running.stderr
        time.sleep(0.5)
        assert running.process.poll() is None
        assert files_in(out) == []
    assert running.wait() == 0
    assert running.stderr == [message]
    if command == "build":
        verify_sums(out)
    else:
        assert (out / "preview" / "index.html").is_file()


def test_two_builds_at_once_both_succeed_and_leave_files_that_agree(tmp_path):
    generated_deck(tmp_path / "cards")
    first = Running("build", "-q", "--cards", "cards", "--out", "build", cwd=tmp_path)
    # The second starts once the first renders (its workers run): they overlap for sure.
    assert wait_for(lambda: len(children(first.process.pid)) >= 2, 60)
    with (tmp_path / "second.txt").open("w") as summary:
        second = Running("build", "--cards", "cards", "--out", "build", cwd=tmp_path, stdout=summary)
        rendering_at_once = False
        while first.process.poll() is None or second.process.poll() is None:
            both = children(first.process.pid) and children(second.process.pid)
            rendering_at_once = rendering_at_once or bool(both)
            time.sleep(0.01)
        assert (first.wait(), second.wait()) == (0, 0)
    # The second did its work only after the first had finished: it never rendered
    # while the first did, and it read the lock the first wrote.
    assert not rendering_at_once
    assert "Changes since the lock: 0 added, 0 changed, 0 removed" in (tmp_path / "second.txt").read_text()
    assert first.stderr == []
    assert set(second.stderr) <= {"deckgen: waiting for another deckgen command writing to build/ to finish"}
    verify_sums(tmp_path / "build")
    assert (
        deckgen("build", "-q", "--locked", "--cards", "cards", "--out", "build", cwd=tmp_path).returncode == 0
    )
    assert not [name for name in files_in(tmp_path) if name.endswith(".tmp")]


# -- stopped and killed builds ------------------------------------------------------------


def _build_with_workers(tmp_path) -> tuple[Running, list[int]]:
    generated_deck(tmp_path / "cards")
    build = Running("build", "-q", "--cards", "cards", "--out", "build", cwd=tmp_path)
    assert wait_for(lambda: len(children(build.process.pid)) >= 2, 60), "the render workers never started"
    return build, children(build.process.pid)


def test_sigterm_stops_a_cold_build_and_its_workers_and_leaves_nothing(tmp_path):
    build, workers = _build_with_workers(tmp_path)
    build.process.send_signal(signal.SIGTERM)
    assert build.wait(30) == 128 + signal.SIGTERM
    assert build.stderr == ["deckgen: stopped (SIGTERM); no file was left half-written"]
    assert wait_for(lambda: not any(alive(pid) for pid in workers), 5), [p for p in workers if alive(p)]
    assert files_in(tmp_path / "build") == []
    assert not (tmp_path / "cards" / "deck.lock").exists()


def test_sigkill_of_a_build_kills_its_workers_and_the_next_build_succeeds(tmp_path):
    build, workers = _build_with_workers(tmp_path)
    build.process.kill()
    assert build.wait(30) == -signal.SIGKILL
    # Nobody waits for the orphans: only the kernel's parent-death signal ends them.
    assert wait_for(lambda: not any(alive(pid) for pid in workers), 5), [p for p in workers if alive(p)]
    assert not (tmp_path / "cards" / "deck.lock").exists()
    assert deckgen("build", "-q", "--cards", "cards", "--out", "build", cwd=tmp_path).returncode == 0
    verify_sums(tmp_path / "build")


def test_the_next_build_sweeps_what_killed_commands_left_and_nothing_else(tmp_path):
    write_deck(tmp_path / "cards", ONE_TOPIC)
    assert deckgen("build", "-q", "--cards", "cards", "--out", "build", cwd=tmp_path).returncode == 0
    assert deckgen("preview", "--cards", "cards", "--out", "build", cwd=tmp_path).returncode == 0
    leftovers = [
        "build/.test-deck.apkg.k2j4h5g6.tmp",  # a staged package
        "build/.test-deck.apkg.k2j4h5g6.tmp.a1b2c3d_.anki2.tmp",  # its scratch database
        "build/.SHA256SUMS.zz99aa00.tmp",
        "build/.cache/.packages.json.abcdefgh.tmp",
        "build/.cache/fields/.topic.json.abcdefgh.tmp",
        "build/preview/.index.html.abcdefgh.tmp",
        "cards/.deck.lock.abcdefgh.tmp",
    ]
    kept = [
        "build/notes.tmp",  # not a name deckgen gives
        "build/.notes.tmp",
        "build/.draft.abc.tmp",
        "cards/.topic.yaml.abcdefgh.tmp",  # in cards/ only the lock's temporaries are deckgen's
    ]
    for name in leftovers + kept:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("left")
    assert deckgen("build", "-q", "--cards", "cards", "--out", "build", cwd=tmp_path).returncode == 0
    assert [name for name in leftovers if (tmp_path / name).exists()] == []
    assert [name for name in kept if (tmp_path / name).exists()] == kept


def test_temporary_names_are_reported_by_the_names_they_stand_for():
    assert final_path(Path("build/.aws.apkg.k2j4h5g6.tmp")) == Path("build/aws.apkg")
    assert final_path(Path("build/.aws.apkg.k2j4h5g6.tmp.a1b2c3d4.anki2.tmp")) == Path("build/aws.apkg")
    assert final_path(Path("cards/.deck.lock.abcdefgh.tmp")) == Path("cards/deck.lock")
    assert final_path(Path("build/.notes.tmp")) == Path("build/.notes.tmp")
    error = OSError(28, "No space left on device", "build/.aws.apkg.k2j4h5g6.tmp")
    assert file_trouble(error) == (
        "cannot write build/aws.apkg: the disk is full (no space left on device); "
        "free some space and try again; nothing was changed"
    )


# -- folders that cannot be written ---------------------------------------------------------


def in_mount_namespace(tmp_path: Path, script: str) -> subprocess.CompletedProcess:
    """Run `script` (sh) in tmp_path, in a mount namespace of its own: its mounts vanish with it."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("this machine does not allow a mount namespace (unshare -m), where the mounts are made")
    return subprocess.run(
        ["unshare", "-m", "sh", "-ec", script], capture_output=True, text=True, cwd=tmp_path
    )


def _read_only(folder: str) -> str:
    return f"mount --bind {folder} {folder}; mount -o remount,bind,ro {folder}; "


@pytest.mark.parametrize(
    ("read_only", "named"),
    [("build", "build/test-deck.apkg"), ("cards", "cards/deck.lock")],  # the lock is staged last
)
def test_a_read_only_folder_is_named_and_nothing_is_written(tmp_path, read_only, named):
    write_deck(tmp_path / "cards", ONE_TOPIC)
    (tmp_path / "build").mkdir()
    run = f"{SH_DECKGEN} build -q --cards cards --out build"
    result = in_mount_namespace(tmp_path, _read_only(read_only) + f"{run} || echo exit=$?")
    assert result.stderr.splitlines() == [
        f"deckgen: cannot write {named}: the file system is read-only; "
        "choose a writable folder and try again; nothing was changed"
    ]
    assert result.stdout == "exit=1\n"
    assert files_in(tmp_path / "build") == []
    assert not (tmp_path / "cards" / "deck.lock").exists()


DISK_FULL = (
    "deckgen: cannot write build/test-deck.apkg: the disk is full (no space left on device); "
    "free some space and try again; nothing was changed"
)


def build_on_a_small_disk(tmp_path: Path, size: str) -> subprocess.CompletedProcess:
    """`deckgen build` into a tmpfs of `size`; stdout is its exit status, then `ls -A` of it."""
    (tmp_path / "build").mkdir()
    script = (
        f"mount -t tmpfs -o size={size} tmpfs build; "
        f"{SH_DECKGEN} build -q --cards cards --out build || echo exit=$?; ls -A build"
    )
    return in_mount_namespace(tmp_path, script)


def test_a_full_disk_is_named_and_leaves_nothing_behind(tmp_path):
    """The scratch database fills the disk first: SQLite's "database or disk is full".
    (A package of more notes than IN_MEMORY_NOTES has its database in a scratch file.)"""
    cards = "".join(CARD.format(n=n) for n in range(IN_MEMORY_NOTES + 100))
    write_deck(tmp_path / "cards", {"topic": "deck: Topic\ncards:\n" + cards})
    result = build_on_a_small_disk(tmp_path, "64k")
    assert result.stderr.splitlines() == [DISK_FULL]
    assert result.stdout == "exit=1\n"  # and `ls -A` of the full folder printed nothing
    assert not (tmp_path / "cards" / "deck.lock").exists()


def test_a_disk_that_fills_while_zipping_names_the_package(tmp_path):
    cards = write_deck(
        tmp_path / "cards",
        {"topic": "deck: Topic\ncards:\n" + CARD.format(n=1).replace("Answer 1.", "'![photo](photo.png)'")},
    )
    (cards / "photo.png").write_bytes(os.urandom(300_000))  # does not compress
    result = build_on_a_small_disk(tmp_path, "200k")
    assert result.stderr.splitlines() == [DISK_FULL]
    assert result.stdout == "exit=1\n"


def test_an_out_folder_without_write_permission_is_named(tmp_path):
    prefix = honouring_permissions()
    write_deck(tmp_path / "cards", ONE_TOPIC)
    (tmp_path / "build").mkdir()
    (tmp_path / "build").chmod(0o555)
    result = deckgen("build", "-q", "--cards", "cards", "--out", "build", cwd=tmp_path, prefix=prefix)
    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        [
            "deckgen: cannot use build/test-deck.apkg: permission denied; check its permissions "
            "(and its folder's) and try again; nothing was changed"
        ],
    )
    assert not (tmp_path / "cards" / "deck.lock").exists()


def test_an_out_folder_below_a_regular_file(tmp_path):
    write_deck(tmp_path / "cards", ONE_TOPIC)
    (tmp_path / "notes.txt").write_text("a file")
    result = deckgen("build", "--cards", "cards", "--out", "notes.txt/build", cwd=tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        [
            "deckgen: cannot use notes.txt/build: a part of the path is a file, not a folder; "
            "choose another path and try again; nothing was changed"
        ],
    )
    result = deckgen("build", "--cards", "cards", "--out", "notes.txt", cwd=tmp_path)
    assert result.returncode == 2  # a wrong command line: click says the file is not a folder
    assert "notes.txt" in result.stderr
    assert not (tmp_path / "cards" / "deck.lock").exists()


# -- media that cannot be used --------------------------------------------------------------


def _image_deck(tmp_path: Path, sources: list[str]) -> Path:
    cards = "".join(
        f"  - id: c{n}\n    front: Q{n}\n    back: '![x]({src})'\n" for n, src in enumerate(sources)
    )
    return write_deck(tmp_path / "cards", {"topic": "deck: Topic\ncards:\n" + cards})


def test_media_that_cannot_be_read_is_an_error_at_the_field(tmp_path):
    long_name = "a" * 300 + ".png"
    cards = _image_deck(tmp_path, ["loop.png", "a%00b.png", long_name])
    (cards / "loop.png").symlink_to("loop.png")
    result = deckgen("check", "--cards", "cards", cwd=tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        [
            "cards/topic.yaml:5:17: image 'loop.png' cannot be used: its symbolic links form a loop; "
            "fix or remove them",
            "cards/topic.yaml:8:17: image 'a%00b.png' cannot be used: its path holds a NUL byte (%00), "
            "which no file name can hold",
            f"cards/topic.yaml:11:17: image '{long_name}' cannot be used: its name is too long for the "
            "file system; shorten it",
            "deckgen: 3 errors; nothing was written",
        ],
    )


def test_an_unreadable_image_is_an_error_at_the_field(tmp_path):
    prefix = honouring_permissions()
    cards = _image_deck(tmp_path, ["secret.png"])
    (cards / "secret.png").write_bytes(b"\x89PNG")
    (cards / "secret.png").chmod(0)
    result = deckgen("build", "--cards", "cards", "--out", "build", cwd=tmp_path, prefix=prefix)
    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        [
            "cards/topic.yaml:5:17: image 'secret.png' cannot be used: permission denied; make the file "
            "readable (chmod a+r cards/secret.png)",
            "deckgen: 1 error; nothing was written",
        ],
    )
    assert files_in(tmp_path / "build") == []


def test_large_media_is_a_warning_and_an_error_with_strict(tmp_path):
    cards = _image_deck(tmp_path, ["big.png"])
    with (cards / "big.png").open("wb") as image:
        image.truncate(LARGE_MEDIA_BYTES + 1_000_000)  # sparse: large, but no disk used
    warning = (
        "cards/topic.yaml:5:11: warning: media file cards/big.png is 11.0 MB, over 10 MB: every learner "
        "downloads it and syncs it to each device; make it smaller [large-media]"
    )
    result = deckgen("check", "--cards", "cards", cwd=tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (0, [warning])
    strict = deckgen("check", "--strict", "--cards", "cards", cwd=tmp_path)
    assert strict.returncode == 1
    assert strict.stderr.splitlines()[0] == warning
    (cards / "big.png").unlink()
    with (cards / "big.png").open("wb") as image:
        image.truncate(LARGE_MEDIA_BYTES)
    assert deckgen("check", "--strict", "--cards", "cards", cwd=tmp_path).returncode == 0


def test_ctrl_c_while_files_are_renamed_into_place_arrives_after_the_last_rename(tmp_path):
    renamed = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held():  # what StagedFiles.commit holds
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # without the hold, Python raises KeyboardInterrupt here
            renamed.append("the last one")
    assert renamed == ["the last one"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
