"""The commands of the command line, each a thin shell over the library: run a step of
the pipeline (build.py, preview.py, diff.py, ...) and turn its result into text.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ..build import build as run_build
from ..check import check as run_check
from ..editor_schemas import DECK_SCHEMA_FILE, SCHEMA_FILES, TOPIC_SCHEMA_FILE
from ..errors import DeckError
from ..forget import forget_removed
from ..preview import write_preview
from ..quality import quality_warnings
from .shell import (
    ProgressBars,
    debug_option,
    deck_options,
    main,
    print_problems,
    say_waiting,
)


@main.command()
@deck_options()
@debug_option
@click.option(
    "--locked",
    is_flag=True,
    help="Fail, writing nothing, if the lock does not match the cards (for CI and releases).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only warnings and errors: no progress, no summary.")
def build(cards_dir: Path, out_dir: Path, locked: bool, quiet: bool) -> None:
    """Build one package per topic and one for the whole deck."""
    bars = None if quiet or not sys.stdout.isatty() else ProgressBars()
    try:
        result = run_build(cards_dir, out_dir, locked=locked, progress=bars, waiting=say_waiting)
    finally:
        if bars:
            bars.close()
    print_problems(result.warnings)
    _print_identity_notices(result.stamping, result.lock_merged, result.lock_path)
    if quiet:
        return
    click.echo("Decks:")
    width = max((len(t.deck) for t in result.topics), default=0)
    for topic in result.topics:
        click.echo(f"  {topic.deck:<{width}}  {topic.notes:>4} notes  {topic.cards:>4} cards")
    click.echo("Packages:")
    for package in result.packages:
        what = {None: "whole deck", "retired": "retired cards"}.get(package.topic, f"topic {package.topic}")
        click.echo(
            f"  {package.path}  ({what}: {package.decks} decks, {package.notes} notes, {package.cards} cards)"
        )
    for path in result.removed_files:
        click.echo(f"  removed {path} (a package this deck no longer has)")
    s = result.stamping
    click.echo(
        f"Changes since the lock: {len(s.added)} added, {len(s.changed)} changed, {len(s.removed)} removed"
    )
    for label, ids in (("added", s.added), ("changed", s.changed), ("restored", s.restored)):
        if ids:
            click.echo(f"  {label}: {_some(ids)}")
    for card_id in s.removed:
        click.echo(f"  removed: {card_id} (stays in learners' collections; its id stays reserved)")
    for card_id, old, new in s.moved:
        click.echo(f"  moved: {card_id} from topic {old} to {new} (learners who have it keep it in {old})")
    if result.lock_written:
        click.echo(f"Lock updated: {result.lock_path} (commit it with the cards)")


def _some(ids: list[str], shown: int = 10) -> str:
    """Card ids for a summary line: all of them, or the first few and how many more."""
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more


def _print_identity_notices(stamping, lock_merged: bool, lock_path: Path) -> None:
    """What learners will notice that is easy to do by accident: always shown, on stderr."""
    if lock_merged:
        click.echo(
            f"deckgen: {lock_path} had a git merge conflict; resolved it: every card changed on "
            "either side gets a new change time (commit the lock)",
            err=True,
        )
    for _key, old, new in stamping.renamed:
        click.echo(
            f"warning: deck {old!r} is renamed to {new!r}. Anki matches decks by name: learners who "
            f"have {old!r} keep their cards there, and get a new deck {new!r} for new cards. "
            "Put the old title back unless you mean it.",
            err=True,
        )


@main.command()
@deck_options()
@debug_option
@click.option("--locked", is_flag=True, help="Also fail if the lock does not match the cards.")
@click.option("--strict", is_flag=True, help="Treat quality warnings as errors (exit 1).")
def check(cards_dir: Path, out_dir: Path, locked: bool, strict: bool) -> None:
    """Check the cards without writing anything.

    Reports every error as path:line:col: message, then quality warnings:
    near-duplicate questions, long answers, a cloze hiding most of its text,
    media over 10 MB. Reads (never writes) the build cache under --out, so a
    check after a build renders only what changed.
    """
    result = run_check(cards_dir, locked=locked, out_dir=out_dir)
    compiled = result.compiled
    warnings = result.warnings + quality_warnings(compiled)
    print_problems(warnings)
    _print_identity_notices(result.stamping, False, compiled.deck.cards_dir / "deck.lock")
    if result.lock_merged:
        click.echo("deckgen: the lock has a git merge conflict; `deckgen build` resolves it", err=True)
    notes = len(compiled.cards)
    click.echo(
        f"{notes} notes in {len(compiled.deck.topics)} topics: no errors"
        + (f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else "")
    )
    if strict and warnings:
        click.echo(f"deckgen: {_count(warnings, 'warning')} and --strict: failing", err=True)
        sys.exit(1)


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"


@main.command()
@deck_options(with_out=False)
@debug_option
@click.argument("ids", nargs=-1)
@click.option("--unpublished", is_flag=True, help="Forget every removed id that no committed lock has.")
@click.option("--force", is_flag=True, help="Forget ids of the committed lock too (only if never published).")
def forget(cards_dir: Path, ids: tuple[str, ...], unpublished: bool, force: bool) -> None:
    """Free the ids of removed cards that never reached learners.

    The lock keeps every removed card's id, so that no new card takes it over and
    overwrites the old note in learners' collections. An id that was only ever in
    your uncommitted lock (an experiment) never reached anyone: forget it to use it
    again. Ids in the committed lock are refused unless --force.

    \b
    Example:
        deckgen forget ecs-draft-card
        deckgen forget --unpublished
    """
    if not ids and not unpublished:
        raise click.UsageError("name the ids to forget, or use --unpublished")
    forgotten = forget_removed(cards_dir, list(ids), unpublished=unpublished, force=force)
    if not forgotten:
        click.echo("Nothing to forget: every removed id is in the committed lock.")
    for card_id in forgotten:
        click.echo(f"forgot {card_id}: the id is free for a new card")


@main.command()
@deck_options()
@debug_option
@click.option(
    "--watch",
    is_flag=True,
    help="Build again on every change to the cards, and serve the preview on 127.0.0.1: "
    "the page reloads itself (Ctrl-C stops).",
)
@click.option("--port", type=int, default=0, help="With --watch: the port to serve on.  [default: any free]")
def preview(cards_dir: Path, out_dir: Path, watch: bool, port: int) -> None:
    """Write OUT/preview/index.html: every card, front and back, as Anki shows it.

    Same templates, CSS and media as the packages; opens from the file system, offline.
    With --watch, also builds the packages after every change and serves the page at
    http://127.0.0.1:PORT/, where it shows each change, or the errors, in about a second.
    """
    if watch:
        _watch(cards_dir, out_dir, port)
        return
    result = write_preview(cards_dir, out_dir, waiting=say_waiting)
    print_problems(result.warnings)
    click.echo(f"Preview: {result.path} ({result.notes} notes, {result.cards} cards)")


def _watch(cards_dir: Path, out_dir: Path, port: int) -> None:
    from ..watch import PreviewServer, watch_builds

    try:
        server = PreviewServer(out_dir, port)
    except OSError as error:
        raise click.UsageError(f"cannot serve on 127.0.0.1:{port}: {error.strerror}") from error
    with server:
        click.echo(f"Preview at {server.url} (rebuilt on every change to {cards_dir}; Ctrl-C stops)")
        try:
            for outcome in watch_builds(cards_dir, out_dir, server.live):
                _print_outcome(outcome)
        except KeyboardInterrupt:
            click.echo("Stopped watching.")


def _print_outcome(outcome) -> None:
    """One build of `preview --watch`: its problems on stderr, one line on stdout."""
    when = time.strftime("%H:%M:%S")
    changed = f" after {_some(list(outcome.changed), 3)} changed" if outcome.changed else ""
    if outcome.errors:
        print_problems(list(outcome.errors))
        click.echo(
            f"[{when}] deckgen: {_count(list(outcome.errors), 'error')}{changed}; "
            "the packages and the preview stay as the last good build",
            err=True,
        )
        return
    print_problems(outcome.warnings)
    preview = outcome.preview
    click.echo(
        f"[{when}] built{changed}: {preview.notes} notes, {preview.cards} cards ({outcome.seconds:.1f} s)"
    )


@main.command()
@debug_option
@click.option("--deck", "deck_config", is_flag=True, help="The schema of deck.yaml, not of topic files.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Write to this file instead of standard output; to a folder: both schemas, by their names.",
)
def schema(deck_config: bool, output: Path | None) -> None:
    """Print the JSON Schema of topic files (or of deck.yaml), for editor validation.

    A card file names its schema in its first line, relative to itself, and the YAML
    language server (VS Code, Neovim, Helix, ...) completes keys and flags mistakes:

    \b
        # yaml-language-server: $schema=../schemas/card-file.schema.json

    \b
    Example:
        deckgen schema -o schemas/    # card-file.schema.json and deck.schema.json
    """
    name = DECK_SCHEMA_FILE if deck_config else TOPIC_SCHEMA_FILE
    if output is None:
        click.echo(SCHEMA_FILES[name](), nl=False)
        return
    if output.is_dir():
        for file_name, text in SCHEMA_FILES.items():
            (output / file_name).write_text(text(), encoding="utf-8")
            click.echo(f"wrote {output / file_name}")
    else:
        output.write_text(SCHEMA_FILES[name](), encoding="utf-8")


@main.command()
@debug_option
@click.argument("old", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("new", type=click.Path(path_type=Path, dir_okay=False))
def diff(old: Path, new: Path) -> None:
    """Show cards added, changed and removed between two packages.

    The output is Markdown, ready for release notes. Exit status 0 when the
    packages hold the same notes, 1 when they differ (like diff(1)), 2 on trouble.
    """
    # (here, not at the top: reading packages brings zstandard and the package
    # reader, which every other command, `build` first, would import for nothing)
    from ..diff import diff_packages, format_markdown, read_package

    try:
        changes = diff_packages(read_package(old), read_package(new))
    except DeckError as error:
        print_problems(error.problems)
        sys.exit(2)
    click.echo(format_markdown(changes), nl=False)
    sys.exit(0 if changes.equal else 1)


@main.command()
@debug_option
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option("--title", help="The root deck's name in Anki.  [default: from the folder's name]")
@click.option(
    "--namespace",
    help="Part of every note's identity; never change it later.  [default: the folder's name, slugified]",
)
def init(folder: Path, title: str | None, namespace: str | None) -> None:
    """Start a new deck in FOLDER (default: here) that checks and builds as it is.

    Writes cards/deck.yaml, a topic with one card of each type, the JSON Schemas
    for editors (schemas/), a .gitignore and a CI workflow. Never overwrites a file.

    Example:

        deckgen init my-deck && cd my-deck && deckgen build
    """
    import shlex

    from ..init import init_deck

    deck = init_deck(folder, title=title, namespace=namespace)
    click.echo(f"New deck {deck.title!r} (namespace {deck.namespace}) in {folder}:")
    for path in deck.files:
        click.echo(f"  {path.relative_to(folder).as_posix()}")
    click.echo("Next:")
    if folder.resolve() != Path.cwd().resolve():
        click.echo(f"  cd {shlex.quote(str(folder))}")
    click.echo("  deckgen check")
    click.echo("  deckgen build")
    click.echo('  git init && git add . && git commit -m "A new deck"')


@main.command("import")
@debug_option
@click.argument("package", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--cards",
    "cards_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The new deck folder to write (it must not exist, or be empty).",
)
@click.option(
    "--namespace",
    help="Part of every new note's identity; never change it.  [default: the top deck's name, slugified]",
)
def import_deck(package: Path, cards_dir: Path, namespace: str | None) -> None:
    """Adopt an existing deck: write PACKAGE (.apkg, .colpkg) as a deck folder to build.

    Every note keeps its GUID, every note type its id, templates and CSS, every subdeck
    its name, and the lock keeps the package's change times: learners who already study
    the deck keep their cards and reviews when they import what deckgen builds.

    \b
    Example:
        deckgen import shared-deck.apkg --cards cards
        deckgen build --cards cards
    """
    import shlex

    from ..adopt import adopt_package

    adopted = adopt_package(package, cards_dir, namespace=namespace)
    print_problems(list(adopted.warnings))
    click.echo(f"Adopted {adopted.title!r} (namespace {adopted.namespace}) into {cards_dir}:")
    click.echo(
        f"  {_count([None] * adopted.notes, 'note')}, {_count([None] * adopted.cards, 'card')}, "
        f"{_count(list(adopted.topics), 'topic')}, {_count(list(adopted.note_types), 'note type')}, "
        f"{_count([None] * adopted.media, 'media file')}, {_count(list(adopted.warnings), 'warning')}"
    )
    for key, deck in adopted.topics:
        click.echo(f"  topic {key}: {deck}")
    for key, name in adopted.note_types:
        click.echo(f"  note type {key}: {name}")
    folder = shlex.quote(str(cards_dir))
    click.echo("Next:")
    click.echo(f"  deckgen check --cards {folder}")
    click.echo(f"  deckgen build --cards {folder}")
