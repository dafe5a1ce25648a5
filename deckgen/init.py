"""`deckgen init`: a new deck folder that `deckgen check` and `deckgen build` accept as is.

Not a step of the pipeline but its starting point: it writes what the pipeline reads
(`cards/deck.yaml` and one topic file showing each card type) and what a deck's own
repository needs around the cards: the JSON Schemas its editor validates against, a
`.gitignore` and a CI workflow. The files are templates in `deckgen/starter/` (package
data); the title and namespace come from the folder's name unless given.

It never overwrites: when any file it would write exists, or `cards/` holds anything,
it raises `DeckError` naming each one and writes nothing.
"""

from __future__ import annotations

import json
import posixpath
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from . import editor_schemas, schema
from .errors import DeckError, Location, Problem

CARDS_FOLDER = "cards"
SCHEMA_FOLDER = "schemas"


@dataclass(frozen=True)
class StarterFile:
    """One file of a new deck: a template in deckgen/starter/ and where it goes."""

    template: str  # file name in deckgen/starter/
    path: str  # where it goes, relative to the deck folder
    schema: str | None = None  # a file in SCHEMAS that its first line points the editor at


STARTER_FILES = (
    StarterFile("deck.yaml", f"{CARDS_FOLDER}/{schema.CONFIG_FILE}", editor_schemas.DECK_SCHEMA_FILE),
    StarterFile(
        "getting-started.yaml", f"{CARDS_FOLDER}/getting-started.yaml", editor_schemas.TOPIC_SCHEMA_FILE
    ),
    StarterFile("gitignore", ".gitignore"),
    StarterFile("deck-workflow.yml", ".github/workflows/deck.yml"),
)


# The JSON Schemas a new deck gets in schemas/, by file name. A starter file that names
# one starts with a `# yaml-language-server: $schema=...` line pointing at it.
SCHEMAS: dict[str, Callable[[], str]] = editor_schemas.SCHEMA_FILES


@dataclass(frozen=True)
class NewDeck:
    """What `init_deck` wrote."""

    folder: Path
    title: str
    namespace: str
    files: tuple[Path, ...]  # every file written, each under `folder`


def title_for(folder_name: str) -> str:
    """The root deck's name for a folder: "aws-notes" -> "Aws Notes"."""
    words = [word for word in re.split(r"[-_.\s]+", folder_name) if word]
    return " ".join(word[:1].upper() + word[1:] for word in words)


def namespace_for(folder_name: str) -> str:
    """A namespace for a folder: lowercase ASCII letters, digits and '-' ("" if none)."""
    ascii_name = unicodedata.normalize("NFKD", folder_name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def init_deck(folder: Path, *, title: str | None = None, namespace: str | None = None) -> NewDeck:
    """Write a small working deck into `folder` (created if missing) and say what was written.

    Raises DeckError, having written nothing, when a file it would write exists, when
    `folder/cards` holds anything, or when the namespace is not usable.
    """
    name = folder.resolve().name
    title = (title if title is not None else title_for(name)).strip()
    namespace = namespace if namespace is not None else namespace_for(name)
    problems = _refusals(folder)
    if not title:
        problems.append(Problem(Location(str(folder)), "no deck title: give one with --title"))
    if not schema.NAMESPACE_RE.match(namespace):
        problems.append(
            Problem(
                Location(str(folder)),
                f"no usable namespace from {name!r}: give one with --namespace "
                "(lowercase letters, digits and '-', e.g. --namespace my-deck)",
            )
        )
    if problems:
        raise DeckError(problems)

    contents = {Path(starter.path): _starter_text(starter, title, namespace) for starter in STARTER_FILES}
    contents |= {Path(SCHEMA_FOLDER, schema_file): text() for schema_file, text in SCHEMAS.items()}
    written = []
    for relative, text in contents.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8", newline="\n") as handle:  # "x": never overwrite
            handle.write(text)
        written.append(path)
    return NewDeck(folder, title, namespace, tuple(written))


def _refusals(folder: Path) -> list[Problem]:
    """Why `folder` cannot take a new deck: every existing file that would be overwritten."""
    if folder.exists() and not folder.is_dir():
        return [Problem(Location(str(folder)), "exists and is not a folder")]
    cards = folder / CARDS_FOLDER
    if cards.is_dir() and any(cards.iterdir()):
        return [
            Problem(
                Location(str(cards)),
                "already holds files: deckgen init starts a new deck; choose another folder",
            )
        ]
    targets = [Path(s.path) for s in STARTER_FILES] + [Path(SCHEMA_FOLDER, name) for name in SCHEMAS]
    return [
        Problem(
            Location(str(folder / target)),
            "already exists: deckgen init never overwrites a file; move it aside or choose another folder",
        )
        for target in targets
        if (folder / target).exists() or (folder / target).is_symlink()
    ]


def _starter_text(starter: StarterFile, title: str, namespace: str) -> str:
    text = resources.files("deckgen").joinpath("starter", starter.template).read_text(encoding="utf-8")
    text = text.replace("@TITLE@", _yaml_text(title)).replace("@NAMESPACE@", _yaml_text(namespace))
    if starter.schema is None:
        return text
    schema_path = posixpath.relpath(f"{SCHEMA_FOLDER}/{starter.schema}", posixpath.dirname(starter.path))
    return f"# yaml-language-server: $schema={schema_path}\n{text}"


def _yaml_text(value: str) -> str:
    """`value` as a YAML scalar that reads back as that text: plain when it can be."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._()+'-]*", value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
