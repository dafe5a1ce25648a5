"""Step 1 of the pipeline: read a YAML file into nodes that remember where they stand.

We compose (never construct): PyYAML builds a node tree with source positions and no
Python objects, so no YAML tag can create an object or run code. On top of that this
module checks what YAML itself lets through: files too big to read, bytes that are not
UTF-8, tabs in indentation, files with too many nodes, duplicate keys, unknown tags, and
aliases that expand without bound ("billion laughs"). A file that cannot be read, or is
not valid YAML, becomes one located problem in the author's words (`syntax.py` explains
YAML's syntax errors).

The C loader is used when PyYAML has it, the pure-Python one otherwise (or when
DECKGEN_YAML_LOADER=pure). Both give the same tree: marks, tags and values already
agree, and the one difference, the style of plain scalars ('' from C, None from
Python), is normalised to None here.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import syntax
from .errors import Location, Problems

# A topic of 2 MiB holds about 10,000 cards of ordinary length; anything bigger is
# surely not meant as one topic, and the limit keeps a stray huge file from being read.
MAX_FILE_BYTES = 2 * 1024 * 1024
# How many nodes (keys, values, list items) one file may have, counting every alias
# expansion. Every file of plain cards under MAX_FILE_BYTES passes: the tersest card,
# "- id: c12345 / front: Q / back: A", is 7 nodes in at least 34 bytes, so 2 MiB holds at
# most ~430,000 nodes (realistic cards ~200 bytes: ~70,000). Files are counted from the
# parser's event stream before they are composed, so a file over the limit is refused in
# well under a second without building its tree (a 2 MiB file of 1-byte nodes would
# otherwise take ~10 s and ~700 MB to compose). After composing, the same limit bounds the
# tree as validation walks it, aliases followed: a "billion laughs" file stops here.
MAX_NODES = 500_000
MAX_DEPTH = 40
# A file this short cannot hold MAX_NODES nodes, so its events need no counting first
# (the count was a third of reading a topic file): a node takes a character at the
# least ("[a,b]", "{a,b}", "-" lines), an implicit null one beside its key, so a file
# has fewer nodes than twice its characters. Aliases are bounded when the tree is
# walked (_check_tree), whatever the size.
_UNCOUNTED_CHARACTERS = MAX_NODES // 2

STR = "tag:yaml.org,2002:str"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"
NULL = "tag:yaml.org,2002:null"
_PLAIN_SCALAR_TAGS = {
    STR,
    NULL,
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}
_ALLOWED_TAGS = _PLAIN_SCALAR_TAGS | {MAP, SEQ}
_CONFLICT_MARKER = re.compile(r"^(?:<{7}|>{7})(?: |$)", re.MULTILINE)
_TAB_INDENT = re.compile(r"^( *)\t", re.MULTILINE)
_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent)
LOADER_VARIABLE = "DECKGEN_YAML_LOADER"  # "pure" forces PyYAML's pure-Python loader


def yaml_loader() -> type:
    """The PyYAML loader class to use: the C one if built, unless DECKGEN_YAML_LOADER=pure."""
    if os.environ.get(LOADER_VARIABLE, "").lower() == "pure":
        return yaml.SafeLoader
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Source:
    """A YAML file read and composed: its text and its root node (None if empty)."""

    path: Path
    display: str  # the path as the user should see it in messages
    text: str
    root: yaml.Node | None

    def at(self, node: yaml.Node) -> Location:
        return Location.of_mark(self.display, node.start_mark)


def read_source(path: Path, display: str, problems: Problems) -> Source | None:
    """Read and compose one YAML file; report problems and return None if it is unusable."""
    data = _read_bytes(path, display, problems)
    if data is None:
        return None
    text = _decode(data, display, problems)
    if text is None:
        return None
    conflict = _CONFLICT_MARKER.search(text)
    if conflict:
        line = text.count("\n", 0, conflict.start()) + 1
        problems.error(
            Location(display, line, 1),
            "git merge conflict: this file still holds the conflict markers (<<<<<<<, =======, "
            ">>>>>>>) of a merge; keep the lines you want, delete the markers, and run deckgen again",
        )
        return None
    tab = _TAB_INDENT.search(text)
    if tab:
        line = text.count("\n", 0, tab.start()) + 1
        problems.error(
            Location(display, line, len(tab.group(1)) + 1),
            "tab character in indentation; YAML indents with spaces only",
        )
        return None
    loader = yaml_loader()
    try:
        if len(text) > _UNCOUNTED_CHARACTERS and not _count_nodes(text, display, loader, problems):
            return None
        root = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        line, column, message = syntax.explain(exc, text, loader)
        problems.error(Location(display, line + 1, column + 1), message)
        return None
    except yaml.YAMLError as exc:
        problems.error(Location(display, 1, 1), f"YAML error: {exc}")
        return None
    source = Source(path, display, text, root)
    if root is not None and not _check_tree(source, problems):
        return None
    return source


# -- reading -------------------------------------------------------------------------


def _read_bytes(path: Path, display: str, problems: Problems) -> bytes | None:
    """The file's bytes, with its size checked before anything is read."""
    where = Location(display.replace("\0", "\\0"))
    try:
        info = path.stat()
    except ValueError:  # os refuses paths with a NUL byte before asking the system
        problems.error(where, "file name contains a NUL byte (\\0), which no file name can hold; rename it")
        return None
    except OSError as exc:
        problems.error(where, _stat_failure(path, exc))
        return None
    if stat.S_ISDIR(info.st_mode):
        problems.error(where, "is a folder, not a file; card files are .yaml files")
        return None
    if not stat.S_ISREG(info.st_mode):
        # A FIFO would block the build forever and a device could be endless.
        problems.error(where, "is not a regular file (a pipe, socket or device); card files are plain files")
        return None
    if info.st_size > MAX_FILE_BYTES:
        problems.error(Location(display, 1, 1), _too_big(f"{info.st_size:,} bytes"))
        return None
    try:
        with path.open("rb") as file:
            # At most one byte over the limit: the file may have grown since stat.
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        problems.error(where, _open_failure(display, exc))
        return None
    if len(data) > MAX_FILE_BYTES:
        problems.error(Location(display, 1, 1), _too_big(f"more than {MAX_FILE_BYTES:,} bytes"))
        return None
    return data


def _too_big(size: str) -> str:
    return (
        f"file is {size}; the limit is {MAX_FILE_BYTES:,} (2 MiB): split its cards into several topic files"
    )


def _stat_failure(path: Path, exc: OSError) -> str:
    """Why a path could not even be looked at, and what to do about it."""
    if exc.errno == errno.ENOENT:
        if os.path.islink(path):
            return (
                f"is a symbolic link to {os.readlink(path)!r}, which does not exist; "
                "fix the link or remove it"
            )
        return "file not found; was it moved or deleted while deckgen ran?"
    if exc.errno == errno.ELOOP:
        return (
            "symbolic link loop: the link leads back to itself; "
            "replace it with the file or a link to the real file"
        )
    if exc.errno == errno.ENAMETOOLONG:
        return (
            f"path is too long for the file system ({len(os.fsencode(path))} bytes); "
            "use shorter folder and file names"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied on a folder in its path; allow entering it (chmod a+x on that folder)"
    if exc.errno == errno.ENOTDIR:
        return "a part of its path is a file, not a folder; check the path"
    return f"cannot read file: {exc.strerror or exc}"


def _open_failure(display: str, exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied; make the file readable (chmod a+r {display})"
    if exc.errno == errno.EISDIR:
        return "is a folder, not a file; card files are .yaml files"
    return f"cannot read file: {exc.strerror or exc}"


def _decode(data: bytes, display: str, problems: Problems) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        problems.error(
            Location(display, line, column),
            f"file is not UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8",
        )
        return None


# -- checking the tree ---------------------------------------------------------------


def _count_nodes(text: str, display: str, loader: type, problems: Problems) -> bool:
    """Stream the parser's events and refuse a file with more than MAX_NODES nodes.

    The events cost a tenth of composing and no memory, so a huge file is refused before
    its tree is built. Syntax errors surface here first (as yaml.MarkedYAMLError).
    """
    parser = loader(text)
    try:
        count = 0
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, _NODE_EVENTS):
                count += 1
                if count > MAX_NODES:
                    problems.error(
                        Location.of_mark(display, event.start_mark),
                        f"file has more than {MAX_NODES:,} YAML nodes (keys, values and list items); "
                        "split its cards into several topic files",
                    )
                    return False
    finally:
        parser.dispose()
    return True


def _check_tree(source: Source, problems: Problems) -> bool:
    """Walk the tree once, as validation will: tags, duplicate keys, depth, expansion size.

    The walk also gives plain scalars the style the pure-Python loader gives them (None),
    so that `back: null` reads the same whichever loader composed it.
    """
    budget = [MAX_NODES]
    found_before = len(problems.errors)
    inside: set[int] = set()  # the collections the walk is in, to catch an alias to its own parent

    def walk(node: yaml.Node, depth: int) -> bool:
        budget[0] -= 1
        if budget[0] < 0:
            # The events were counted before composing, so only aliases get here.
            problems.error(
                source.at(node),
                f"file expands to more than {MAX_NODES:,} YAML nodes (keys, values and list items) "
                "once its aliases (*name) are followed; use fewer aliases, "
                "or split its cards into several topic files",
            )
            return False
        if depth > MAX_DEPTH:
            problems.error(source.at(node), f"nesting deeper than {MAX_DEPTH} levels")
            return False
        if isinstance(node, yaml.ScalarNode) and node.style == "":
            node.style = None
        if id(node) in inside:
            kind = "mapping" if isinstance(node, yaml.MappingNode) else "list"
            problems.error(
                source.at(node), f"this {kind} holds an alias to itself (an endless loop); remove the alias"
            )
            return False
        if node.tag not in _ALLOWED_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            problems.error(
                source.at(node), f"YAML tag {tag!r} is not allowed in card files (they hold text only)"
            )
            return True
        if not isinstance(node, yaml.CollectionNode):
            return True
        inside.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return walk_mapping(node, depth)
            return all(walk(item, depth + 1) for item in node.value)
        finally:
            inside.discard(id(node))

    def walk_mapping(node: yaml.MappingNode, depth: int) -> bool:
        seen: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                problems.error(source.at(key), "merge keys (<<) are not supported")
                continue
            if isinstance(key, yaml.ScalarNode):
                first = seen.get(key.value)
                if first is not None:
                    problems.error(
                        source.at(key),
                        f"duplicate key {key.value!r} "
                        f"(first at line {first.start_mark.line + 1}); "
                        "YAML would silently keep only the last one",
                    )
                else:
                    seen[key.value] = key
                if _is_cloze_read_as_mapping(source, value):
                    message = syntax.braces_message(key.value, _line_rest(source, value))
                    problems.error(source.at(value), message)
                    continue
            if not walk(key, depth + 1) or not walk(value, depth + 1):
                return False
        return True

    walk(source.root, 0)
    return len(problems.errors) == found_before


def _line_rest(source: Source, node: yaml.Node) -> str:
    """The text of the node's first line from where the node starts."""
    mark = node.start_mark
    end = source.text.find("\n", mark.index)
    return source.text[mark.index : end if end >= 0 else len(source.text)].rstrip()


def _is_cloze_read_as_mapping(source: Source, node: yaml.Node) -> bool:
    """`text: {{c1::x}}` is valid YAML (a mapping inside a mapping) but never a card."""
    return isinstance(node, yaml.MappingNode) and source.text.startswith("{{", node.start_mark.index)
