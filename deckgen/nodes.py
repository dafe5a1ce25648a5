"""Step 2's reading of YAML nodes (load.py) as text, lists and mappings, each problem located.

Shared by the readers of topic files (validate.py) and of the deck config (config.py).
"""

from __future__ import annotations

import difflib

import yaml

from . import schema
from .errors import Problems
from .load import NULL, STR, Source

Entry = tuple[yaml.Node, yaml.Node]  # (key node, value node)


def read_mapping(source: Source, node: yaml.Node, what: str, problems: Problems) -> dict[str, Entry] | None:
    if not isinstance(node, yaml.MappingNode):
        problems.error(source.at(node), f"{what} must be a mapping of `key: value`, not {kind_of(node)}")
        return None
    entries: dict[str, Entry] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            problems.error(source.at(key_node), "keys must be plain words")
            continue
        entries.setdefault(key_node.value, (key_node, value_node))
    return entries


def read_list(source: Source, node: yaml.Node, key: str, problems: Problems) -> list[yaml.Node] | None:
    if not isinstance(node, yaml.SequenceNode):
        problems.error(source.at(node), f"{key!r} must be a list, not {kind_of(node)}")
        return None
    return list(node.value)


def read_text(
    source: Source, entry: Entry, key: str, problems: Problems, *, empty_ok: bool = False
) -> str | None:
    """A scalar's text as written: `back: 443` is the text "443", not a number. Empty text
    (or null) is an error, unless `empty_ok` (then it is "")."""
    _key_node, node = entry
    if not isinstance(node, yaml.ScalarNode):
        problems.error(source.at(node), f"{key!r} must be text, not {kind_of(node)}")
        return None
    value = (
        "" if node.tag == NULL and not node.style else node.value if node.tag == STR else node.value.strip()
    )
    if not value.strip():
        if empty_ok:
            return ""
        problems.error(source.at(node), f"{key!r} is empty")
        return None
    return value


def read_checked_list(
    source: Source, entry: Entry | None, spec: schema.KeySpec, problems: Problems
) -> list[str]:
    """A card key whose value is a list of text (`allow:`), each item checked by its KeySpec."""
    if entry is None:
        return []
    values = []
    for item in read_list(source, entry[1], spec.key, problems) or []:
        value = read_text(source, (item, item), spec.key, problems)
        message = spec.problem(value) if value is not None else None
        if message:
            problems.error(source.at(item), message)
        elif value is not None:
            values.append(value)
    return values


def read_tags(source: Source, entry: Entry | None, problems: Problems) -> list[str]:
    if entry is None:
        return []
    return read_checked_texts(source, entry[1], "tags", schema.check_tag, problems)


def read_checked_texts(
    source: Source, node: yaml.Node, key: str, check: schema.Check, problems: Problems
) -> list[str]:
    """A list of texts, each checked by `check`; those it finds wrong are reported and left out."""
    texts = []
    for item in read_list(source, node, key, problems) or []:
        text = read_text(source, (item, item), key, problems)
        if text is None:
            continue
        message = check(text)
        if message:
            problems.error(source.at(item), message)
            continue
        texts.append(text)
    return texts


def check_keys(
    source: Source, entries: dict[str, Entry], spec: dict, what: str, problems: Problems, at=None
) -> None:
    for key, (key_node, _value) in entries.items():
        if key not in spec:
            problems.error(source.at(key_node), f"unknown key {key!r} in {what}{suggest(key, spec)}")
    for key, (required, _description) in spec.items():
        if required and key not in entries:
            problems.error(source.at(at if at is not None else source.root), f"{what} needs `{key}:`")


def suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def kind_of(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a single value"
