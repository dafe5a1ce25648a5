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


@functools.cache
def _encoder(kind: object) -> Callable[[object], object]:
    """A function that turns a value of type `kind` into plain values, made once per type
    (`_decoder`'s mirror: looking at each value's type, and asking each dataclass for its
    fields, took a twentieth of the time a worker takes to compile a topic)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):  # X | None
        (inner,) = [arg for arg in args if arg is not type(None)]
        encode = _encoder(inner)
        return lambda value: None if value is None else encode(value)
    if kind is Location:
        return lambda value: [value.path, value.line, value.column]
    if kind is Path:
        return str
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = [(f.name, _encoder(hints[f.name])) for f in dataclasses.fields(kind)]
        return lambda value: {name: encode(getattr(value, name)) for name, encode in fields}
    if kind in (str, int, bool):
        return _as_is
    if origin is tuple:
        item = _encoder(args[0])
        return (lambda value: list(value)) if item is _as_is else (lambda value: [item(v) for v in value])
    if origin is dict:
        entry = _encoder(args[1])
        if entry is _as_is:
            return lambda value: [[key, item] for key, item in value.items()]  # pairs keep the order
        return lambda value: [[key, entry(item)] for key, item in value.items()]
    raise TypeError(f"the topic cache cannot keep a {kind!r}")


def _as_is(value: object) -> object:
    return value


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
    return _encoder(Topic)(topic)


def topic_from_values(document: object) -> Topic | None:
    try:
        return _decoder(Topic)(document)  # type: ignore[return-value]
    except (KeyError, TypeError, ValueError):
        return None
