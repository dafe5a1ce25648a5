"""Step 1 of the pipeline: read a YAML file into nodes that remember where they stand.

We compose (never construct): PyYAML builds a node tree with source positions and no
Python objects, so no YAML tag can create an object or run code. On top of that this
module checks what YAML itself lets through: bytes that are not UTF-8, tabs in
indentation, duplicate keys, unknown tags, and aliases that expand without bound
("billion laughs"). The C loader is used when PyYAML has it; marks are the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import Location, Problems

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 2 * 1024 * 1024
# How many nodes one file may expand to once aliases are followed. A real card file
# has a few thousand; a "billion laughs" file hits this at once instead of eating memory.
MAX_NODES = 200_000
MAX_DEPTH = 40

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
_TAB_INDENT = re.compile(r"^( *)\t", re.MULTILINE)


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
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.error(Location(display), f"cannot read file: {exc.strerror or exc}")
        return None
    if len(data) > MAX_FILE_BYTES:
        problems.error(
            Location(display, 1, 1),
            f"file is {len(data):,} bytes; the limit is {MAX_FILE_BYTES:,} (split it into topics)",
        )
        return None
    text = _decode(data, display, problems)
    if text is None:
        return None
    tab = _TAB_INDENT.search(text)
    if tab:
        line = text.count("\n", 0, tab.start()) + 1
        problems.error(
            Location(display, line, len(tab.group(1)) + 1),
            "tab character in indentation; YAML indents with spaces only",
        )
        return None
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location.of_mark(display, mark) if mark else Location(display, 1, 1)
        problems.error(where, f"YAML syntax error: {_yaml_message(exc)}")
        return None
    except yaml.YAMLError as exc:
        problems.error(Location(display, 1, 1), f"YAML error: {exc}")
        return None
    source = Source(path, display, text, root)
    if root is not None and not _check_tree(source, problems):
        return None
    return source


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


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    context = exc.context
    if context and exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
        mark = exc.context_mark
        context += f" (from line {mark.line + 1}, column {mark.column + 1})"
    parts = [p for p in (context, exc.problem) if p]
    return "; ".join(parts) if parts else str(exc).splitlines()[0]


def _check_tree(source: Source, problems: Problems) -> bool:
    """Walk the tree once, as validation will: tags, duplicate keys, depth, expansion size."""
    budget = [MAX_NODES]
    found_before = len(problems.errors)

    def walk(node: yaml.Node, depth: int) -> bool:
        budget[0] -= 1
        if budget[0] < 0:
            problems.error(
                source.at(node),
                f"file expands to more than {MAX_NODES:,} YAML nodes "
                "(aliases nested too deep?); refusing to load it",
            )
            return False
        if depth > MAX_DEPTH:
            problems.error(source.at(node), f"nesting deeper than {MAX_DEPTH} levels")
            return False
        if node.tag not in _ALLOWED_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            problems.error(
                source.at(node), f"YAML tag {tag!r} is not allowed in card files (they hold text only)"
            )
            return True
        if isinstance(node, yaml.MappingNode):
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
                if not walk(key, depth + 1) or not walk(value, depth + 1):
                    return False
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                if not walk(item, depth + 1):
                    return False
        return True

    walk(source.root, 0)
    return len(problems.errors) == found_before
