"""Beside cache.py: topics as plain values (lists, dicts, strings, numbers), every field
of Card and Topic by its declared type.

The build cache (cache.py) keeps each topic file's cards as validated; this module turns
a Topic into plain values and back (cache_files.py writes them). Reading back 20,000
cards is on every rebuild's path, so the reader is a function made once per type
(`_decoder`), not a look at each value's type.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from pathlib import Path

from .cards import Topic
from .errors import Location


def _encode(value: object) -> object:
    if isinstance(value, Location):
        return [value.path, value.line, value.column]
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return [[key, _encode(item)] for key, item in value.items()]  # pairs keep the order
    if isinstance(value, str | int | bool) or value is None:
        return value
    raise TypeError(f"the topic cache cannot keep a {type(value).__name__}")


@functools.cache
def _decoder(kind: object) -> Callable[[object], object]:
    """A function that reads a value of type `kind` from its JSON, made once per type.

    Looking at the type for every value (typing.get_origin, get_type_hints) was most of
    the time taken to read 20,000 cards back from the cache.
    """
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):  # X | None
        (inner,) = [arg for arg in args if arg is not type(None)]
        decode = _decoder(inner)
        return (lambda value: None if value is None else decode(value)) if type(None) in args else decode
    if kind is Location:
        return _location
    if kind is Path:
        return lambda value: Path(expect_type(str, value))
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = [(f.name, _decoder(hints[f.name])) for f in dataclasses.fields(kind)]

        def instance(value: object) -> object:
            data = expect_type(dict, value)
            return kind(**{name: decode(data[name]) for name, decode in fields})  # type: ignore[operator]

        return instance
    if origin is tuple:
        item = _decoder(args[0])
        return lambda value: tuple(map(item, expect_type(list, value)))
    if origin is dict:
        entry = _decoder(args[1])
        return lambda value: {expect_type(str, key): entry(item) for key, item in expect_type(list, value)}
    if kind is str:  # most values: checked here rather than in a call of expect_type
        return lambda value: value if type(value) is str else expect_type(str, value)
    if kind in (int, bool):
        return functools.partial(expect_type, kind)
    raise TypeError(f"the topic cache cannot read a {kind!r}")


def _location(value: object) -> Location:
    path, line, column = value  # type: ignore[misc]
    if type(path) is not str or type(line) is not int or type(column) is not int:  # (the usual case, fast)
        return Location(expect_type(str, path), expect_type(int, line), expect_type(int, column))
    return Location(path, line, column)


def expect_type(kind, value):
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, found {type(value).__name__}")
    return value


def topic_values(topic: Topic) -> object:
    """The topic as values JSON or marshal can hold."""
    return _encode(topic)


def topic_from_values(document: object) -> Topic | None:
    try:
        return _decoder(Topic)(document)  # type: ignore[return-value]
    except (KeyError, TypeError, ValueError):
        return None
