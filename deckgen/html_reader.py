"""Part of step 3 (render): one reading of a field's HTML, collecting findings and media.

html_policy.py's `inspect_field` and `media_references` run a `FieldReader` over each
rendered field: it checks every tag and attribute against html_allowlist.py's tables and
the deck's opt-ins, flags markup a browser might read differently from Python's parser,
and lists the media references (`<img src>`, `[sound:...]`, ...), each located in the
source text through html_source.py.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

from .html_allowlist import (
    ALLOW_EVENT_HANDLERS,
    ALLOW_JAVASCRIPT_URLS,
    ALLOW_STYLE_ATTRIBUTES,
    ALLOWED_TAGS,
    GLOBAL_ATTRIBUTES,
    LINK_SCHEMES,
    MEDIA_ATTRIBUTES,
    NOT_FILES,
    SCRIPT_SCHEMES,
    SOUND_TAG,
    TABLE_ALIGN_STYLE,
    TABLE_CELLS,
    URL_ATTRIBUTES,
    WHY_NOT,
    MediaKind,
    url_scheme,
)
from .html_source import SourceSearch, TagSpot, attribute_value_span, line_starts

_SHOWN_CHARACTERS = 60


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a field's HTML.

    `line` and `column` (from 1) are where the offending markup starts in the field's
    source text (the `source` given to `inspect_field`), or 0 when it is not written
    there as such; `place` turns them into a file location.
    """

    message: str
    text: str  # the offending markup as it stands in the rendered HTML
    line: int = 0
    column: int = 0


@dataclass(frozen=True)
class MediaReference:
    """A media file a field refers to, and where, so that it can be packaged and renamed."""

    kind: MediaKind  # what the place expects: `<img>` an image, `[sound:]` a sound file, ...
    src: str  # the file as written, entities decoded: "media/pod.mp3"
    written: str  # the reference for messages: '<img src="media/x.svg">' or '[sound:media/pod.mp3]'
    start: int  # where `src` stands in the HTML (start, end), to rewrite it
    end: int
    line: int = 0  # where the reference starts in the source text, as in Finding
    column: int = 0

    @property
    def is_sound_tag(self) -> bool:
        return self.written.startswith("[sound:")


def _shown(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _SHOWN_CHARACTERS:
        return text[: _SHOWN_CHARACTERS - 1] + "…"
    return text


def _opt_in_hint(entry: str, what: str = "it") -> str:
    return f"(or allow {what} for the whole deck with `html: {{allow: [{entry}]}}` in deck.yaml)"


class FieldReader(HTMLParser):
    """Reads one field's HTML, collecting findings and media references."""

    def __init__(self, field_html: str, search: SourceSearch, allow: frozenset[str]):
        # Character references stay as they are in text, so that a literal `<` in the
        # text (which Markdown would have escaped) can be told from `&lt;`.
        super().__init__(convert_charrefs=False)
        self.field_html = field_html
        self.search = search
        self.allow = allow
        self.findings: list[Finding] = []
        self.references: list[MediaReference] = []
        self._media_parents: list[str] = []  # open <audio>/<video> elements, for <source>
        self._raw_text = False  # inside <script> or <style>, whose text is not markup

    def read(self) -> None:
        self.feed(self.field_html)
        self.close()
        self._find_sound_tags()
        self.references.sort(key=lambda r: r.start)

    @functools.cached_property
    def _line_starts(self) -> list[int]:
        return line_starts(self.field_html)

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    # Tags

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or f"<{tag}>"
        spot = TagSpot(self.search, tag, raw)
        self._check_tag(tag, attrs, spot)
        self._collect_media(tag, attrs, raw, spot)
        if tag in ("audio", "video"):
            self._media_parents.append(tag)
        if tag in ("script", "style"):
            self._raw_text = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._media_parents:
            index = len(self._media_parents) - 1 - self._media_parents[::-1].index(tag)
            del self._media_parents[index:]
        if tag in ("script", "style"):
            self._raw_text = False

    def _check_tag(self, tag: str, attrs: list[tuple[str, str | None]], spot: TagSpot) -> None:
        opted_in = tag in self.allow
        refused = tag not in ALLOWED_TAGS and not opted_in
        if refused:
            why = WHY_NOT.get(tag, "it is not one of the HTML tags cards may use")
            self._add(
                f"`<{tag}>` is not allowed in cards: {why}; remove it {_opt_in_hint(tag)}",
                spot.raw,
                spot.tag_at(),
            )
        allowed = GLOBAL_ATTRIBUTES | ALLOWED_TAGS.get(tag, frozenset())
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self._unless_allowed(
                    ALLOW_EVENT_HANDLERS,
                    "event handlers",
                    f"`{name}` on `<{tag}>` is an event handler, a script Anki would run on "
                    "learners' devices; remove it",
                    f"{name}={value}",
                    functools.partial(spot.attribute_at, name),
                )
                continue
            if name == "style":
                if not self._style_allowed(tag, value):
                    self._add(
                        f"a `style` attribute on `<{tag}>` can load remote content and cover Anki's "
                        "own buttons, and breaks night mode; style cards with the note type's CSS "
                        f"and use `class` {_opt_in_hint(ALLOW_STYLE_ATTRIBUTES, 'style attributes')}",
                        f'style="{value}"',
                        spot.attribute_at(name),
                    )
                continue
            if name in URL_ATTRIBUTES and self._check_url(tag, name, value, spot, opted_in):
                continue
            # A refused tag goes with all its attributes: one message is enough.
            if not opted_in and not refused and name not in allowed:
                may = ", ".join(sorted(allowed))
                self._add(
                    f"attribute `{name}` is not allowed on `<{tag}>`; cards may use {may} there "
                    f"{_opt_in_hint(tag, f'any attribute on `<{tag}>`')}",
                    f"{name}={value}" if value else name,
                    spot.attribute_at(name),
                )

    def _style_allowed(self, tag: str, value: str) -> bool:
        if ALLOW_STYLE_ATTRIBUTES in self.allow:
            return True
        return tag in TABLE_CELLS and TABLE_ALIGN_STYLE.fullmatch(value.strip()) is not None

    def _check_url(self, tag: str, name: str, value: str, spot: TagSpot, opted_in: bool) -> bool:
        """Report a URL that cards may not hold; True when the attribute was dealt with here."""
        urls = [part.strip().split(" ")[0] for part in value.split(",")] if "srcset" in name else [value]
        for url in urls:
            scheme = url_scheme(url)
            shown = f'`<{tag} {name}="{_shown(value)}">`'
            if scheme in SCRIPT_SCHEMES:
                self._unless_allowed(
                    ALLOW_JAVASCRIPT_URLS,
                    "script URLs",
                    f"{shown} is a script, which Anki would run on learners' devices; link to an "
                    "http(s) or mailto address instead",
                    f'{name}="{value}"',
                    functools.partial(spot.value_at, name, value),
                )
                return True
            if scheme == "data":
                self._add(
                    f"{shown} is a data: URL, which cards may not hold; put the content in a file "
                    "under the cards folder and refer to it by a relative path",
                    f'{name}="{value}"',
                    spot.value_at(name, value),
                )
                return True
        if (tag, name) in MEDIA_ATTRIBUTES or (tag == "source" and name == "src"):
            return True  # checked as a media reference
        if tag == "a" and name == "href" and not opted_in:
            scheme = url_scheme(value)
            if scheme is not None and scheme not in LINK_SCHEMES:
                self._add(
                    f'`<a href="{_shown(value)}">` links to a {scheme}: URL; cards may link to '
                    f"http:, https: and mailto: addresses and relative paths {_opt_in_hint('a', 'any link')}",
                    f'{name}="{value}"',
                    spot.value_at(name, value),
                )
            return True
        return False

    # Media

    def _collect_media(self, tag: str, attrs: list[tuple[str, str | None]], raw: str, spot: TagSpot) -> None:
        seen = set()
        for name, value in attrs:
            kind = MEDIA_ATTRIBUTES.get((tag, name))
            if tag == "source" and name == "src":
                kind = "video" if self._media_parents[-1:] == ["video"] else "audio"
            # Browsers use an attribute's first occurrence only; a script or data: URL
            # is no file, and reported as what it is (_check_url).
            if kind is None or value is None or name in seen or url_scheme(value) in NOT_FILES:
                continue
            seen.add(name)
            span = attribute_value_span(raw, name, value)
            if span is None:  # this scan and the parser disagree: keep the HTML, and say so
                self._add(
                    f'cannot tell where `{name}` stands in `{_shown(raw)}`; write it as {name}="..."',
                    raw,
                    spot.tag_at(),
                )
                continue
            line, column = spot.value_at(name, value)
            written = f'<{tag} {name}="{_shown(value)}">'
            offset = self._offset()
            self.references.append(
                MediaReference(kind, value, written, offset + span[0], offset + span[1], line, column)
            )

    def _find_sound_tags(self) -> None:
        for match in SOUND_TAG.finditer(self.field_html):
            src = html.unescape(match.group(1))
            line, column = self.search.find(match.group(0), in_code=True, fallback=f"[sound:{src}]")
            self.references.append(
                MediaReference(
                    "audio", src, f"[sound:{_shown(src)}]", match.start(1), match.end(1), line, column
                )
            )

    # Everything else a browser might read as markup

    def handle_data(self, data: str) -> None:
        if self._raw_text or "<" not in data:
            return
        # Markdown escapes every `<` of text; one left over is a tag the parser could
        # not finish, which a browser would finish with the markup after the field.
        start = self._offset()
        for match in re.finditer("<", data):
            after = self.field_html[start + match.start() + 1 : start + match.start() + 2]
            if (after.isascii() and after.isalpha()) or after in ("/", "!", "?"):
                rest = self.field_html[start + match.start() :]
                text = rest.split("\n", 1)[0]
                self._add(
                    f"`{_shown(text)}` is an unfinished tag: browsers would read it together with "
                    "what follows the field; finish it with `>`, or write `&lt;` for a literal `<`",
                    text,
                    self.search.find(text[:20]),
                )

    def handle_comment(self, data: str) -> None:
        # Browsers end some comments earlier than Python's parser does (`<!-->`,
        # `--!>`): markup in a comment could be live in Anki and unseen here.
        if "<" in data or ">" in data:
            text = f"<!--{data}-->"
            self._add(
                f"the HTML comment `{_shown(text)}` holds `<` or `>`, which browsers may read as "
                "markup; remove them from the comment",
                text,
                self.search.find("<!--" + data[:20]),
            )

    def handle_decl(self, decl: str) -> None:
        self._not_html(f"<!{decl}>")

    def unknown_decl(self, data: str) -> None:
        self._not_html(f"<![{data}]>")

    def handle_pi(self, data: str) -> None:
        self._not_html(f"<?{data}>")

    def _not_html(self, text: str) -> None:
        self._add(
            f"`{_shown(text)}` has no place in a card's HTML; remove it",
            text,
            self.search.find(text[:20]),
        )

    def _unless_allowed(
        self, entry: str, what: str, message: str, text: str, at: Callable[[], tuple[int, int]]
    ) -> None:
        """Report `message`, and how to opt in, unless the deck allows `entry`.

        `at` places the finding, called only when there is one: placing it moves the
        source search on, as for any finding."""
        if entry not in self.allow:
            self._add(f"{message} {_opt_in_hint(entry, what)}", text, at())

    def _add(self, message: str, text: str, at: tuple[int, int]) -> None:
        self.findings.append(Finding(message, text, at[0], at[1]))
