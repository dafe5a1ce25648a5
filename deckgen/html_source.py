"""Part of step 3 (render): where rendered markup was written in the field's source text.

html_reader.py reads a field's rendered HTML; to point an author at a finding, it looks
the markup up in the text the HTML came from (the field's Markdown, or the card file's
text from the field on) with `SourceSearch` and `TagSpot`, skipping Markdown's code
spans and fenced blocks, where markup is text. `attribute_value_span` finds where an
attribute's value stands in a raw tag, so that html_policy.rewrite_media can replace it.
"""

from __future__ import annotations

import bisect
import functools
import html
import re


class SourceSearch:
    """Finds rendered markup in the text it was rendered from, to say where it was written.

    Markup written in code (backticks, fences) is escaped in the HTML, so occurrences
    there are skipped. Each needle is searched for after its previous occurrence, so
    that the second identical tag is placed at the second occurrence.
    """

    def __init__(self, source: str):
        self.source = source
        self._cursors: dict[str, int] = {}

    # Worked out only for a field with something to place: most have nothing.
    @functools.cached_property
    def _lower(self) -> str:
        return self.source.lower()

    @functools.cached_property
    def _line_starts(self) -> list[int]:
        return line_starts(self.source)

    @functools.cached_property
    def _code(self) -> list[tuple[int, int]]:
        return _code_spans(self.source)

    def offset(self, needle: str, in_code: bool = False, start: int | None = None) -> int | None:
        """Where `needle` is next written (case-insensitive), or None."""
        key = needle.lower()
        if not key:
            return None
        at = self._cursors.get(key, 0) if start is None else start
        while True:
            found = self._lower.find(key, at)
            if found < 0:
                return None
            if in_code or not self._in_code(found):
                if start is None:
                    self._cursors[key] = found + 1
                return found
            at = found + 1

    def find(self, needle: str, in_code: bool = False, fallback: str = "") -> tuple[int, int]:
        found = self.offset(needle, in_code)
        if found is None and fallback:
            found = self.offset(fallback, in_code)
        return self.line_column(found)

    def line_column(self, offset: int | None) -> tuple[int, int]:
        if offset is None:
            return 0, 0
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def _in_code(self, offset: int) -> bool:
        index = bisect.bisect_right(self._code, (offset, float("inf"))) - 1
        return index >= 0 and self._code[index][0] <= offset < self._code[index][1]


class TagSpot:
    """Where one start tag, and its attributes, were written in the source (found lazily)."""

    def __init__(self, search: SourceSearch, tag: str, raw: str):
        self.search = search
        self.tag = tag
        self.raw = raw
        self._at: int | None = None
        self._looked = False

    def _tag_offset(self) -> int | None:
        if not self._looked:
            self._looked = True
            self._at = self.search.offset(self.raw)
            if self._at is None:
                self._at = self._tag_name_offset()
        return self._at

    def _tag_name_offset(self) -> int | None:
        # The tag as written may differ from how the parser saw it (a line break, YAML
        # folding): look for `<name` followed by what may end a tag name.
        at = 0
        while True:
            found = self.search.offset("<" + self.tag, start=at)
            if found is None:
                return None
            after = self.search.source[found + len(self.tag) + 1 : found + len(self.tag) + 2]
            if not after or after.isspace() or after in "/>":
                self.search._cursors["<" + self.tag] = found + 1
                return found
            at = found + 1

    def tag_at(self) -> tuple[int, int]:
        return self.search.line_column(self._tag_offset())

    def attribute_at(self, name: str) -> tuple[int, int]:
        """The attribute's name within the tag, else the tag."""
        tag = self._tag_offset()
        if tag is None:
            return 0, 0
        # Attribute by attribute, so that `alt="src=..."` is not taken for `src`.
        source = self.search.source
        match = _TAG_NAME_END.match(source, tag + 1)
        at = match.end() if match else tag
        while (match := _ATTRIBUTE.match(source, at)) is not None and match.end() > at:
            if match.group(1).lower() == name:
                return self.search.line_column(match.start(1))
            at = match.end()
        return self.search.line_column(tag)

    def value_at(self, name: str, value: str) -> tuple[int, int]:
        """The attribute in a tag written in the source, else the value (Markdown's links)."""
        if self.search.offset(self.raw, start=0) is not None or self.tag not in ("a", "img"):
            return self.attribute_at(name)
        found = self.search.offset(value)
        return self.search.line_column(found)


_TAG_NAME_END = re.compile(r"[a-zA-Z][^\t\n\r\f />\x00]*(?:\s|/(?!>))*")
_ATTRIBUTE = re.compile(
    r"""((?<=['"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*('([^']*)'|"([^"]*)"|(?!['"])([^>\s]*)))?(?:\s|/(?!>))*"""
)


def attribute_value_span(raw_tag: str, name: str, value: str) -> tuple[int, int] | None:
    """Where the value of a tag's first `name` attribute stands in the raw tag text.

    None unless it holds exactly the `value` the parser read, so that a rewrite never
    lands anywhere else (should a future parser read tags differently).
    """
    match = _TAG_NAME_END.match(raw_tag, 1)
    at = match.end() if match else len(raw_tag)
    while (match := _ATTRIBUTE.match(raw_tag, at)) is not None and match.end() > at:
        at = match.end()
        if match.group(1).lower() != name or match.group(3) is None:
            continue
        group = next(g for g in (4, 5, 6) if match.group(g) is not None)
        if html.unescape(match.group(group)) != value:
            return None
        return match.start(group), match.end(group)
    return None


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})", re.MULTILINE)
_BACKTICKS = re.compile(r"`+")


def _code_spans(source: str) -> list[tuple[int, int]]:
    """The (start, end) offsets of fenced code blocks and `code spans` in Markdown, sorted.

    Only for placing findings: what is code is decided by Markdown itself (its output
    escapes it), so a rough answer here can only misplace a finding, never hide one.
    """
    spans: list[tuple[int, int]] = []
    at = 0
    while True:
        fence = _FENCE.search(source, at)
        if fence is None:
            _inline_code(source, at, len(source), spans)
            break
        _inline_code(source, at, fence.start(), spans)
        marker = fence.group(1)
        closing = re.compile(r"^[ \t]*" + re.escape(marker[0]) + "{" + str(len(marker)) + r",}[ \t]*$", re.M)
        line_end = source.find("\n", fence.end())
        close = closing.search(source, line_end + 1) if line_end >= 0 else None
        end = close.end() if close else len(source)
        spans.append((fence.start(), end))
        at = end
    spans.sort()
    return spans


def _inline_code(source: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    at = start
    while True:
        opening = _BACKTICKS.search(source, at, end)
        if opening is None:
            return
        closing = _BACKTICKS.search(source, opening.end(), end)
        while closing is not None and len(closing.group(0)) != len(opening.group(0)):
            closing = _BACKTICKS.search(source, closing.end(), end)
        if closing is None:
            at = opening.end()
            continue
        spans.append((opening.start(), closing.end()))
        at = closing.end()


def line_starts(text: str) -> list[int]:
    return [0] + [match.end() for match in re.finditer("\n", text)]
