"""The command line's shell: the `deckgen` group, options shared by the commands, and how
problems, progress and failures reach the terminal (with commands.py, the only place
that prints or chooses an exit status: 0 success, 1 bad input, every problem as
`path:line:col: message`, 2 usage errors, 3 a bug in deckgen).
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import NoReturn

import click

from .. import __version__
from ..errors import DeckError, Problem
from ..folders import BUILD_FOLDER, find_deck
from ..output import file_trouble

# Options shared by the commands that read the cards or write under build/.
cards_option = click.option(
    "--cards",
    "cards_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of card files.  [default: here if it holds deck.yaml, else the cards/ "
    "with a deck.yaml here or in a folder above]",
)
out_option = click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write packages to.  [default: build/ beside the cards folder; with --cards, ./build]",
)


def deck_options(with_out: bool = True):
    """--cards (and --out) for a command, resolved before it runs: without --cards, the deck
    is found from here (folders.find_deck); not finding one is a usage error (exit 2)."""

    def decorate(command):
        @functools.wraps(command)
        def resolved(**kwargs):
            cards_dir, out_dir = kwargs.pop("cards_dir"), kwargs.pop("out_dir", None)
            default_out = Path(BUILD_FOLDER)
            if cards_dir is None:
                try:
                    found = find_deck(Path.cwd())
                except DeckError as error:
                    print_problems(error.problems)
                    sys.exit(2)
                cards_dir, default_out = found.cards, found.out
            kwargs["cards_dir"] = cards_dir
            if with_out:
                kwargs["out_dir"] = out_dir if out_dir is not None else default_out
            return command(**kwargs)

        resolved = cards_option(resolved)
        return out_option(resolved) if with_out else resolved

    return decorate


def _debug_after_command(ctx: click.Context, _param: click.Parameter, debug: bool) -> None:
    if debug:
        ctx.find_root().obj["debug"] = True


# `deckgen build --debug` as well as `deckgen --debug build`: every command takes it.
debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    callback=_debug_after_command,
    help="Show a traceback on internal errors.",
)


def print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


def fail(error: DeckError) -> None:
    print_problems(error.problems)
    count = len(error.problems)
    click.echo(f"deckgen: {count} error{'s' if count != 1 else ''}; nothing was written", err=True)
    sys.exit(1)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, stopping a command as Ctrl-C does: `finally` blocks discard its temporary files."""


def _on_sigterm(_signum, _frame) -> None:
    raise _Terminated()


class _Group(click.Group):
    """Runs commands with library errors turned into messages (a traceback only with --debug).

    Trouble with files or the disk (OSError: permissions, a full or read-only disk, ...)
    is the user's to fix, exit 1; SIGTERM and Ctrl-C end in a message, exit 128 + signal;
    anything else is a bug, exit 3.
    """

    def invoke(self, ctx: click.Context):
        main_thread = threading.current_thread() is threading.main_thread()
        before = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
        try:
            return super().invoke(ctx)
        except DeckError as error:
            fail(error)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt as stop:
            number = signal.SIGTERM if isinstance(stop, _Terminated) else signal.SIGINT
            how = "stopped (SIGTERM)" if number == signal.SIGTERM else "interrupted"
            click.echo(f"deckgen: {how}; no file was left half-written", err=True)
            sys.exit(128 + number)
        except OSError as error:
            click.echo(f"deckgen: {file_trouble(error)}", err=True)
            sys.exit(1)
        except ValueError as error:
            if "null byte" not in str(error):
                _internal_error(ctx, error)
            click.echo("deckgen: a path holds a NUL byte (\\0), which no file name can hold", err=True)
            sys.exit(1)
        except Exception as error:  # a bug in deckgen, not bad input
            _internal_error(ctx, error)
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, before)


def say_waiting(message: str) -> None:
    """Told by build and preview that another deckgen command holds the folder."""
    click.echo(f"deckgen: {message}", err=True)


def _internal_error(ctx: click.Context, error: Exception) -> NoReturn:
    if ctx.obj and ctx.obj.get("debug"):
        traceback.print_exc()
    else:
        click.echo(
            f"deckgen: internal error: {type(error).__name__}: {error} "
            "(run with --debug for a traceback, and please report it)",
            err=True,
        )
    sys.exit(3)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deckgen")
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Compile flashcards written in YAML into Anki packages (.apkg).

    Cards live in cards/*.yaml (Markdown in the fields), the deck config in
    cards/deck.yaml and the lock in cards/deck.lock. Run from the deck's folder or any
    folder under it.
    """
    ctx.obj = {"debug": debug}


class ProgressBars:
    """A progress bar for each step of a build that takes more than a moment."""

    LABELS = {"render": "Rendering", "package": "Packaging"}
    DELAY = 0.5  # seconds into the build before a bar appears: quick builds show none

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._step = ""
        self._bar = None

    def __call__(self, step: str, done: int, total: int) -> None:
        if step != self._step or (self._bar is not None and total != self._bar.length):
            self.close()  # (a step may count topics first, then what was left of it in fields)
            self._step = step
        if self._bar is None:
            if time.monotonic() - self._start < self.DELAY:
                return
            self._bar = click.progressbar(length=total, label=self.LABELS.get(step, step), show_pos=True)
            self._bar.__enter__()
        self._bar.update(done - self._bar.pos)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
