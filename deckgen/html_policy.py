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

import bisect
import difflib
import functools
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Literal

from .errors import Location

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

# --- The allowlist -------------------------------------------------------------------

# Attributes every allowed tag may carry. Not `id` or `name`: a card shares its page
# with Anki's reviewer, whose scripts look elements up by id (`#qa`, `#typeans`), and
# an element with the same id or name would shadow theirs.
GLOBAL_ATTRIBUTES = frozenset({"class", "title", "lang", "dir"})

# Tag -> the attributes it may carry besides GLOBAL_ATTRIBUTES. This is everything
# Python-Markdown (fenced_code, tables, sane_lists) and codehilite write, and the
# harmless tags an author may write by hand.
ALLOWED_TAGS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        # Text
        "a": frozenset({"href", "target", "rel"}),  # href: http(s), mailto or relative (_LINK_SCHEMES)
        "abbr": frozenset(),
        "b": frozenset(),
        "bdi": frozenset(),
        "bdo": frozenset(),
        "br": frozenset(),
        "cite": frozenset(),
        "code": frozenset(),
        "del": frozenset(),
        "dfn": frozenset(),
        "em": frozenset(),
        "i": frozenset(),
        "ins": frozenset(),
        "kbd": frozenset(),
        "mark": frozenset(),
        "q": frozenset(),
        "rp": frozenset(),
        "rt": frozenset(),
        "ruby": frozenset(),
        "s": frozenset(),
        "samp": frozenset(),
        "small": frozenset(),
        "span": frozenset(),
        "strong": frozenset(),
        "sub": frozenset(),
        "sup": frozenset(),
        "time": frozenset({"datetime"}),
        "u": frozenset(),
        "var": frozenset(),
        "wbr": frozenset(),
        # Blocks
        "blockquote": frozenset(),
        "dd": frozenset(),
        "details": frozenset({"open"}),
        "div": frozenset(),
        "dl": frozenset(),
        "dt": frozenset(),
        "figcaption": frozenset(),
        "figure": frozenset(),
        "h1": frozenset(),
        "h2": frozenset(),
        "h3": frozenset(),
        "h4": frozenset(),
        "h5": frozenset(),
        "h6": frozenset(),
        "hr": frozenset(),
        "li": frozenset({"value"}),
        "ol": frozenset({"start", "type", "reversed"}),
        "p": frozenset(),
        "pre": frozenset(),
        "summary": frozenset(),
        "ul": frozenset(),
        # Tables (the tables extension aligns columns with style="text-align: ...")
        "caption": frozenset(),
        "col": frozenset({"span"}),
        "colgroup": frozenset({"span"}),
        "table": frozenset(),
        "tbody": frozenset(),
        "td": frozenset({"colspan", "rowspan", "align"}),
        "tfoot": frozenset(),
        "th": frozenset({"colspan", "rowspan", "align", "scope"}),
        "thead": frozenset(),
        "tr": frozenset(),
        # Media: src must be a file under the cards folder (checked as a media reference)
        "audio": frozenset({"src", "controls", "loop", "muted", "preload", "autoplay"}),
        "img": frozenset({"src", "alt", "width", "height"}),
        "source": frozenset({"src", "type"}),
    }
)

# The one style attribute Markdown writes: the tables extension's column alignment.
_TABLE_ALIGN_STYLE = re.compile(r"text-align:\s*(left|right|center);?")
_TABLE_CELLS = frozenset({"th", "td"})

# Opt-ins that are not tag names.
ALLOW_EVENT_HANDLERS = "event-handlers"
# Style attributes cannot run scripts in today's browsers, but they can load remote
# content (`background: url(https://...)`, which fails offline and tells a server when
# a learner reviews) and can lay an element over Anki's own screen (`position: fixed`),
# hiding the answer buttons; and cards that set their own colours break night mode,
# which deckgen's note type CSS handles. So they are opt-in, except Markdown's own
# `text-align` on table cells.
ALLOW_STYLE_ATTRIBUTES = "style-attributes"
ALLOW_JAVASCRIPT_URLS = "javascript-urls"
_NAMED_OPT_INS = (ALLOW_EVENT_HANDLERS, ALLOW_STYLE_ATTRIBUTES, ALLOW_JAVASCRIPT_URLS)

# Why a tag is not allowed, in the author's words; other tags get a general message.
_WHY_NOT: Mapping[str, str] = {
    "script": "Anki runs card scripts on learners' devices",
    "noscript": "it only matters where scripts run",
    "style": "a style block restyles Anki's whole review screen (and can load remote content); "
    "deckgen's note type styles cards, in light and night mode",
    "iframe": "it loads another web page, which needs the network and can run scripts",
    "frame": "it loads another web page, which needs the network and can run scripts",
    "frameset": "it loads other web pages, which need the network and can run scripts",
    "object": "it loads a plugin or another page, which can run code",
    "embed": "it loads a plugin or another page, which can run code",
    "applet": "it loads a plugin, which can run code",
    "portal": "it loads another web page, which needs the network and can run scripts",
    "link": "it loads remote styles or resources into Anki's review screen",
    "meta": "it changes how Anki loads the card (it can redirect it elsewhere)",
    "base": "it changes where every link and media file of the card points",
    "form": "a form sends what learners type somewhere else; for typed answers use `type: type-in`",
    "input": "form fields belong to Anki; for typed answers use `type: type-in`",
    "button": "form fields belong to Anki; for typed answers use `type: type-in`",
    "textarea": "form fields belong to Anki; for typed answers use `type: type-in`",
    "select": "form fields belong to Anki; for typed answers use `type: type-in`",
    "svg": "inline SVG can carry scripts and event handlers; put the drawing in a file and "
    "show it as an image (![alt](media/drawing.svg))",
    "math": "write formulas as MathJax, \\(...\\) or \\[...\\]",
    "video": "video files are heavy for phones and for syncing through AnkiWeb",
    "template": "it only matters to scripts",
}

# HTML, SVG and MathML element names an opt-in may name (a typo should be an error,
# not a silent no-op).
_KNOWN_TAGS = frozenset(
    """a abbr acronym address applet area article aside audio b base basefont bdi bdo bgsound big
    blink blockquote body br button canvas caption center cite code col colgroup data datalist dd
    del details dfn dialog dir div dl dt em embed fieldset figcaption figure font footer form frame
    frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins kbd keygen label
    legend li link main map mark marquee menu meta meter nav nobr noembed noframes noscript object
    ol optgroup option output p param picture plaintext portal pre progress q rb rp rt rtc ruby s
    samp script search section select slot small source span strike strong style sub summary sup
    table tbody td template textarea tfoot th thead time title tr track tt u ul var video wbr xmp
    svg animate animatemotion animatetransform circle clippath defs desc ellipse feblend fecolormatrix
    fegaussianblur filter foreignobject g image line lineargradient marker mask path pattern polygon
    polyline radialgradient rect set stop symbol text textpath tspan use
    math mi mn mo ms mspace mtext mrow mfrac msqrt mroot msub msup msubsup mtable mtr mtd semantics
    annotation""".split()
)

# Attributes that hold a URL, where a script or data: URL must not hide.
_URL_ATTRIBUTES = frozenset(
    {
        "href",
        "src",
        "action",
        "formaction",
        "poster",
        "xlink:href",
        "background",
        "cite",
        "data",
        "codebase",
        "ping",
        "longdesc",
        "manifest",
        "lowsrc",
        "dynsrc",
        "usemap",
        "icon",
        "classid",
        "archive",
        "srcset",
        "imagesrcset",
        "to",
        "from",
        "values",
    }
)
_SCRIPT_SCHEMES = frozenset({"javascript", "vbscript"})
_NOT_FILES = _SCRIPT_SCHEMES | {"data"}
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
# How browsers read a URL's scheme: tabs and newlines anywhere are dropped, leading
# control characters and spaces too, and the scheme is case-insensitive.
_URL_DROPPED = re.compile(r"[\t\n\r]")
_URL_LEADING = re.compile(r"^[\x00-\x20]+")
_URL_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")

# --- Media ---------------------------------------------------------------------------

MediaKind = Literal["image", "audio", "video"]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".bmp"})
AUDIO_EXTENSIONS = frozenset({".mp3", ".ogg", ".oga", ".opus", ".wav", ".m4a", ".flac", ".webm"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".webm", ".ogv"})
_EXTENSIONS: Mapping[MediaKind, frozenset[str]] = {
    "image": IMAGE_EXTENSIONS,
    "audio": AUDIO_EXTENSIONS,
    "video": VIDEO_EXTENSIONS,
}
_KIND_NOUN: Mapping[MediaKind, str] = {"image": "an image", "audio": "a sound file", "video": "a video"}
# Anki's own pattern for sound tags (rslib av_tags): anywhere in the field, even in code.
_SOUND_TAG = re.compile(r"\[sound:(.+?)\]", re.DOTALL)
# Which attributes of which tags name a media file, and the kind each expects.
_MEDIA_ATTRIBUTES: Mapping[tuple[str, str], MediaKind] = {
    ("img", "src"): "image",
    ("audio", "src"): "audio",
    ("video", "src"): "video",
    ("video", "poster"): "image",
}

_SHOWN_CHARACTERS = 60

# Most fields are Markdown with no HTML of the author's: only plain tags (no attribute
# but `class`) that the allowlist holds, and no media. Such a field has nothing to find,
# and telling so by a pattern is ten times quicker than parsing it (`_is_plain`).
_PLAIN_TAGS = frozenset(ALLOWED_TAGS) - {"img", "audio", "source", "video"}
_PLAIN_TAG_OR_BRACKET = re.compile(r'<(?:/?([a-z][a-z0-9]*)(?: class="[^"<>]*")?>)?')


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
    reader = _FieldReader(field_html, _SourceSearch(source), _normalise(allow))
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
    reader = _FieldReader(field_html, _SourceSearch(source), frozenset())
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
    if name in _NAMED_OPT_INS or name in _KNOWN_TAGS:
        return None
    choices = sorted(_KNOWN_TAGS | set(_NAMED_OPT_INS))
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (
        f"{entry!r} in `html: allow` is neither an HTML tag name nor one of {', '.join(_NAMED_OPT_INS)}{hint}"
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


# --- Reading the HTML ------------------------------------------------------------------


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


def _shown(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _SHOWN_CHARACTERS:
        return text[: _SHOWN_CHARACTERS - 1] + "…"
    return text


def _opt_in_hint(entry: str, what: str = "it") -> str:
    return f"(or allow {what} for the whole deck with `html: {{allow: [{entry}]}}` in deck.yaml)"


class _FieldReader(HTMLParser):
    """Reads one field's HTML, collecting findings and media references."""

    def __init__(self, field_html: str, search: _SourceSearch, allow: frozenset[str]):
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
        return _line_starts(self.field_html)

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    # Tags

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or f"<{tag}>"
        spot = _TagSpot(self.search, tag, raw)
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

    def _check_tag(self, tag: str, attrs: list[tuple[str, str | None]], spot: _TagSpot) -> None:
        opted_in = tag in self.allow
        refused = tag not in ALLOWED_TAGS and not opted_in
        if refused:
            why = _WHY_NOT.get(tag, "it is not one of the HTML tags cards may use")
            self._add(
                f"`<{tag}>` is not allowed in cards: {why}; remove it {_opt_in_hint(tag)}",
                spot.raw,
                spot.tag_at(),
            )
        allowed = GLOBAL_ATTRIBUTES | ALLOWED_TAGS.get(tag, frozenset())
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                if ALLOW_EVENT_HANDLERS not in self.allow:
                    self._add(
                        f"`{name}` on `<{tag}>` is an event handler, a script Anki would run on "
                        "learners' devices; remove it "
                        + _opt_in_hint(ALLOW_EVENT_HANDLERS, "event handlers"),
                        f"{name}={value}",
                        spot.attribute_at(name),
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
            if name in _URL_ATTRIBUTES and self._check_url(tag, name, value, spot, opted_in):
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
        return tag in _TABLE_CELLS and _TABLE_ALIGN_STYLE.fullmatch(value.strip()) is not None

    def _check_url(self, tag: str, name: str, value: str, spot: _TagSpot, opted_in: bool) -> bool:
        """Report a URL that cards may not hold; True when the attribute was dealt with here."""
        urls = [part.strip().split(" ")[0] for part in value.split(",")] if "srcset" in name else [value]
        for url in urls:
            scheme = _scheme(url)
            shown = f'`<{tag} {name}="{_shown(value)}">`'
            if scheme in _SCRIPT_SCHEMES:
                if ALLOW_JAVASCRIPT_URLS not in self.allow:
                    self._add(
                        f"{shown} is a script, which Anki would run on learners' devices; link to an "
                        "http(s) or mailto address instead "
                        + _opt_in_hint(ALLOW_JAVASCRIPT_URLS, "script URLs"),
                        f'{name}="{value}"',
                        spot.value_at(name, value),
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
        if (tag, name) in _MEDIA_ATTRIBUTES or (tag == "source" and name == "src"):
            return True  # checked as a media reference
        if tag == "a" and name == "href" and not opted_in:
            scheme = _scheme(value)
            if scheme is not None and scheme not in _LINK_SCHEMES:
                self._add(
                    f'`<a href="{_shown(value)}">` links to a {scheme}: URL; cards may link to '
                    f"http:, https: and mailto: addresses and relative paths {_opt_in_hint('a', 'any link')}",
                    f'{name}="{value}"',
                    spot.value_at(name, value),
                )
            return True
        return False

    # Media

    def _collect_media(self, tag: str, attrs: list[tuple[str, str | None]], raw: str, spot: _TagSpot) -> None:
        seen = set()
        for name, value in attrs:
            kind = _MEDIA_ATTRIBUTES.get((tag, name))
            if tag == "source" and name == "src":
                kind = "video" if self._media_parents[-1:] == ["video"] else "audio"
            # Browsers use an attribute's first occurrence only; a script or data: URL
            # is no file, and reported as what it is (_check_url).
            if kind is None or value is None or name in seen or _scheme(value) in _NOT_FILES:
                continue
            seen.add(name)
            span = _attribute_value_span(raw, name, value)
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
        for match in _SOUND_TAG.finditer(self.field_html):
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

    def _add(self, message: str, text: str, at: tuple[int, int]) -> None:
        self.findings.append(Finding(message, text, at[0], at[1]))


def _line_starts(text: str) -> list[int]:
    return [0] + [match.end() for match in re.finditer("\n", text)]


def _scheme(url: str) -> str | None:
    """The scheme a browser would see in a URL, lower-case, or None for a relative one."""
    cleaned = _URL_LEADING.sub("", _URL_DROPPED.sub("", url)).lower()
    match = _URL_SCHEME.match(cleaned)
    return match.group(1) if match else None


# A start tag read attribute by attribute, as html.parser reads it (Python 3.11).
_TAG_NAME_END = re.compile(r"[a-zA-Z][^\t\n\r\f />\x00]*(?:\s|/(?!>))*")
_ATTRIBUTE = re.compile(
    r"""((?<=['"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*('([^']*)'|"([^"]*)"|(?!['"])([^>\s]*)))?(?:\s|/(?!>))*"""
)


def _attribute_value_span(raw_tag: str, name: str, value: str) -> tuple[int, int] | None:
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


def _media_problem(reference: MediaReference) -> str | None:
    src = reference.src.strip()
    scheme = _scheme(src)
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
    expected = _EXTENSIONS[reference.kind]
    if extension in expected:
        return None
    for other, extensions in _EXTENSIONS.items():
        if extension in extensions:
            return f"{shown} names {_KIND_NOUN[other]}, not {_KIND_NOUN[reference.kind]}"
    return (
        f"{shown} is not {_KIND_NOUN[reference.kind]} cards can use: name a "
        f"{', '.join(sorted(expected))} file"
    )


# --- Finding markup in the source text ---------------------------------------------------


class _SourceSearch:
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
        return _line_starts(self.source)

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


class _TagSpot:
    """Where one start tag, and its attributes, were written in the source (found lazily)."""

    def __init__(self, search: _SourceSearch, tag: str, raw: str):
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
