"""Part of step 3 (render): which HTML a card's fields may hold, and which media they use.

The render step turns each field's Markdown into HTML, then hands that HTML here. This
module reads it and answers two questions, as pure functions of strings (no file is
read, nothing is printed), so it runs wherever rendering runs and its answers can be
cached with the HTML:

- **Is the HTML harmless?** Anki shows cards in a web view and runs any script in
  them, on every learner's phone and computer, and learners review offline. So fields
  may hold only the HTML that Markdown writes and a list of harmless tags an author may
  write by hand (`ALLOWED_TAGS`); anything active or remote is an error: `<script>`,
  event handlers (`onerror=`, ...), `<iframe>`, `<object>`, `<embed>`, `<style>`,
  `<link>`, `<meta>`, `<base>`, forms, `javascript:`/`vbscript:`/`data:` URLs, and
  `style` attributes (see `ALLOW_STYLE_ATTRIBUTES` for why).
- **Which media does it use?** `<img src>`, `<audio src>`, `<source src>` (and, when
  a deck allows `video`, `<video src>`/`poster`) and Anki's `[sound:...]` tags, each
  checked to be a local file of the right kind, and rewritten to its packaged name.

It checks the *rendered* HTML, not the Markdown: a `<script>` an author writes inside
backticks or a fenced code block reaches the HTML already escaped (`&lt;script&gt;`),
so text in code is never flagged, and whatever Markdown turns into a tag is checked.

The parser is the standard library's `html.parser.HTMLParser`. Where it might read
markup differently from a browser, the check refuses instead of guessing: an
unfinished tag (a `<` the parser left as text) and a comment holding `<` or `>` are
errors, so nothing can hide from the check and come alive in Anki.

This module is the public face of the check; its parts, each beside it:
html_allowlist.py holds the tables (what is allowed, the opt-ins, the media kinds),
html_reader.py the parser (`FieldReader`, which produces `Finding`s and
`MediaReference`s), and html_source.py the search that places each finding in the
field's source text.

Opting in, per deck
-------------------
An author who needs something outside the allowlist says so once for the whole deck,
in `cards/deck.yaml`:

```yaml
html:
  allow: [iframe, style-attributes]
```

Each entry of `allow` is one of:

- a tag name (`iframe`, `script`, `style`, `video`, `svg`, ...): that tag is allowed,
  with any attributes; naming a tag that is already allowed (`span`) lifts the limit
  on its attributes (`<span id=...>`). Event handlers, style attributes and script
  URLs still need their own entries below, and `data:` URLs are never allowed.
- `event-handlers`: `on...=` attributes (`onclick`, `onerror`, ...).
- `style-attributes`: `style="..."` on any tag.
- `javascript-urls`: `javascript:` and `vbscript:` URLs.

`allow_problem(entry)` says what is wrong with an entry, for the deck.yaml validator.
Media must always be files under the cards folder (learners review offline), and
`data:` URLs are never allowed: a file under `cards/` is the one way to add media, so
every picture and sound is packaged once, by content, and fields stay readable.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .errors import Location
from .html_allowlist import (
    ALLOW_EVENT_HANDLERS,
    ALLOW_JAVASCRIPT_URLS,
    ALLOW_STYLE_ATTRIBUTES,
    ALLOWED_TAGS,
    AUDIO_EXTENSIONS,
    EXTENSIONS,
    GLOBAL_ATTRIBUTES,
    IMAGE_EXTENSIONS,
    KIND_NOUN,
    KNOWN_TAGS,
    NAMED_OPT_INS,
    VIDEO_EXTENSIONS,
    MediaKind,
    url_scheme,
)
from .html_reader import FieldReader, Finding, MediaReference
from .html_source import SourceSearch

__all__ = [
    "ALLOWED_TAGS",
    "ALLOW_EVENT_HANDLERS",
    "ALLOW_JAVASCRIPT_URLS",
    "ALLOW_STYLE_ATTRIBUTES",
    "AUDIO_EXTENSIONS",
    "FieldHtml",
    "Finding",
    "GLOBAL_ATTRIBUTES",
    "IMAGE_EXTENSIONS",
    "MediaKind",
    "MediaReference",
    "VIDEO_EXTENSIONS",
    "allow_problem",
    "check_html",
    "inspect_field",
    "media_references",
    "place",
    "rewrite_media",
    "source_from",
]


# Most fields are Markdown with no HTML of the author's: only plain tags (no attribute
# but `class`) that the allowlist holds, and no media. Such a field has nothing to find,
# and telling so by a pattern is ten times quicker than parsing it (`_is_plain`).
_PLAIN_TAGS = frozenset(ALLOWED_TAGS) - {"img", "audio", "source", "video"}
_PLAIN_TAG_OR_BRACKET = re.compile(r'<(?:/?([a-z][a-z0-9]*)(?: class="[^"<>]*")?>)?')


@dataclass(frozen=True)
class FieldHtml:
    """What `inspect_field` found in one field."""

    findings: tuple[Finding, ...]  # in the order they stand in the field
    media: tuple[MediaReference, ...]  # the local media files of the right kind, to package


# --- Public functions ------------------------------------------------------------------


def inspect_field(field_html: str, source: str = "", allow: Iterable[str] = frozenset()) -> FieldHtml:
    """Check one field's rendered HTML and list its media, in one reading.

    `source` is the text the HTML was rendered from (the field's Markdown, or the raw
    YAML text of the field's value): findings are located in it. `allow` holds the
    deck's opt-ins (deck.yaml `html: {allow: [...]}`), already checked with
    `allow_problem`.
    """
    if _is_plain(field_html):
        return FieldHtml((), ())
    reader = FieldReader(field_html, SourceSearch(source), _normalise(allow))
    reader.read()
    findings = list(reader.findings)
    media = []
    for reference in reader.references:
        problem = _media_problem(reference)
        if problem is None:
            media.append(reference)
        else:
            findings.append(Finding(problem, reference.written, reference.line, reference.column))
    # Where they were written; those not found in the source last (the sort is stable).
    findings.sort(key=lambda f: (f.line == 0, f.line, f.column))
    return FieldHtml(tuple(findings), tuple(media))


def check_html(field_html: str, source: str = "", allow: Iterable[str] = frozenset()) -> tuple[Finding, ...]:
    """Every problem in a field's HTML: disallowed markup and unusable media references."""
    return inspect_field(field_html, source, allow).findings


def media_references(field_html: str, source: str = "") -> tuple[MediaReference, ...]:
    """Every media reference in a field's HTML, usable or not, in the order they stand.

    `<img src>`, `<audio src>`, `<source src>` (a sound inside `<audio>`, a video
    inside `<video>`), `<video src>` and `poster`, and `[sound:...]`. Sound tags count
    wherever they stand, even in code: Anki plays them wherever it finds them.
    """
    reader = FieldReader(field_html, SourceSearch(source), frozenset())
    reader.read()
    return tuple(reader.references)


def rewrite_media(field_html: str, references: Sequence[MediaReference], names: Mapping[str, str]) -> str:
    """The HTML with each reference whose `src` is in `names` pointing at its packaged name.

    `references` must come from this same HTML (`inspect_field(...).media` or
    `media_references`). Everything else stays byte for byte as it was. A sound tag
    gets the bare name, as Anki wants (`[sound:pod-0123abcd.mp3]`).
    """
    parts = []
    at = 0
    for reference in sorted(references, key=lambda r: r.start):
        name = names.get(reference.src)
        if name is None:
            continue
        parts.append(field_html[at : reference.start])
        parts.append(html.escape(name, quote=not reference.is_sound_tag))
        at = reference.end
    parts.append(field_html[at:])
    return "".join(parts)


def allow_problem(entry: str) -> str | None:
    """What is wrong with one entry of deck.yaml's `html: {allow: [...]}`, or None."""
    name = entry.strip().lower()
    if name in NAMED_OPT_INS or name in KNOWN_TAGS:
        return None
    choices = sorted(KNOWN_TAGS | set(NAMED_OPT_INS))
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (
        f"{entry!r} in `html: allow` is neither an HTML tag name nor one of {', '.join(NAMED_OPT_INS)}{hint}"
    )


def source_from(file_text: str, start: Location) -> str:
    """A card file's text from `start` (a field's value) on, as the `source` for `place`.

    Markup is searched for from the field's value onwards, so it is found in that
    field first; YAML's folding and indentation do not move it, as they would in the
    parsed value.
    """
    lines = file_text.split("\n")
    if start.line <= 0 or start.line > len(lines):
        return ""
    first = lines[start.line - 1][max(start.column, 1) - 1 :]
    return "\n".join([first, *lines[start.line :]])


def place(finding: Finding | MediaReference, start: Location) -> Location:
    """A finding's file location, given where its `source` text starts in the file.

    Exact when `source` was `source_from(file_text, start)`; for the parsed value of
    a plain one-line scalar too, but not of a block scalar (`>-`, `|`), whose lines
    YAML folds and unindents. Findings not found in the source are placed at `start`.
    """
    if finding.line <= 0:
        return start
    if finding.line == 1:
        return Location(start.path, start.line, start.column + finding.column - 1)
    return Location(start.path, start.line + finding.line - 1, finding.column)


# --- Before and after the reader -------------------------------------------------------


def _is_plain(field_html: str) -> bool:
    """True when the HTML holds only plain allowed tags, and no sound tag: then the
    reader would find nothing, whatever the opt-ins. Anything else (an attribute, a `<`
    that starts no such tag, a comment) is for the reader."""
    if "[sound:" in field_html:
        return False
    for match in _PLAIN_TAG_OR_BRACKET.finditer(field_html):
        if match.group(1) not in _PLAIN_TAGS:  # None: a `<` that is not a plain tag
            return False
    return True


def _normalise(allow: Iterable[str]) -> frozenset[str]:
    if isinstance(allow, str):  # one entry, not its letters
        allow = [allow]
    return frozenset(entry.strip().lower() for entry in allow)


def _media_problem(reference: MediaReference) -> str | None:
    src = reference.src.strip()
    scheme = url_scheme(src)
    shown = f"`{reference.written}`"
    if src.startswith("//") or scheme in ("http", "https"):
        return (
            f"{shown} is not a local file: learners review offline, so put the file under the "
            "cards folder and refer to it by a relative path"
        )
    if scheme is not None:
        return f"{shown} is not a file under the cards folder; refer to one by a relative path"
    path = src.split("#", 1)[0].split("?", 1)[0]
    extension = "." + path.rsplit(".", 1)[1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    expected = EXTENSIONS[reference.kind]
    if extension in expected:
        return None
    for other, extensions in EXTENSIONS.items():
        if extension in extensions:
            return f"{shown} names {KIND_NOUN[other]}, not {KIND_NOUN[reference.kind]}"
    return (
        f"{shown} is not {KIND_NOUN[reference.kind]} cards can use: name a {', '.join(sorted(expected))} file"
    )
