"""Part of step 3 (render): the HTML a card's fields may hold, as tables.

html_policy.py checks each rendered field against these tables (through html_reader.py's
`FieldReader`); they are data, kept apart so that what is allowed reads in one place.
`ALLOWED_TAGS` and `GLOBAL_ATTRIBUTES` say what fields may hold, the `ALLOW_*` names and
any tag name are the opt-ins a deck may list in deck.yaml's `html: {allow: [...]}`,
`WHY_NOT` says in the author's words why a tag is refused, and the media tables say
which attributes name a media file and which extensions each kind of media has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

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
        "a": frozenset({"href", "target", "rel"}),  # href: http(s), mailto or relative (LINK_SCHEMES)
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
TABLE_ALIGN_STYLE = re.compile(r"text-align:\s*(left|right|center);?")
TABLE_CELLS = frozenset({"th", "td"})

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
NAMED_OPT_INS = (ALLOW_EVENT_HANDLERS, ALLOW_STYLE_ATTRIBUTES, ALLOW_JAVASCRIPT_URLS)

# Why a tag is not allowed, in the author's words; other tags get a general message.
WHY_NOT: Mapping[str, str] = {
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
KNOWN_TAGS = frozenset(
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
URL_ATTRIBUTES = frozenset(
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
SCRIPT_SCHEMES = frozenset({"javascript", "vbscript"})
NOT_FILES = SCRIPT_SCHEMES | {"data"}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
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
EXTENSIONS: Mapping[MediaKind, frozenset[str]] = {
    "image": IMAGE_EXTENSIONS,
    "audio": AUDIO_EXTENSIONS,
    "video": VIDEO_EXTENSIONS,
}
KIND_NOUN: Mapping[MediaKind, str] = {"image": "an image", "audio": "a sound file", "video": "a video"}
# Anki's own pattern for sound tags (rslib av_tags): anywhere in the field, even in code.
SOUND_TAG = re.compile(r"\[sound:(.+?)\]", re.DOTALL)
# Which attributes of which tags name a media file, and the kind each expects.
MEDIA_ATTRIBUTES: Mapping[tuple[str, str], MediaKind] = {
    ("img", "src"): "image",
    ("audio", "src"): "audio",
    ("video", "src"): "video",
    ("video", "poster"): "image",
}


def url_scheme(url: str) -> str | None:
    """The scheme a browser would see in a URL, lower-case, or None for a relative one."""
    cleaned = _URL_LEADING.sub("", _URL_DROPPED.sub("", url)).lower()
    match = _URL_SCHEME.match(cleaned)
    return match.group(1) if match else None
