"""The fields of an adopted deck (adopt.py): media references and the HTML opt-ins.

An adopted note's fields are HTML as Anki stores it, and stay so: the only change is
that each reference to a media file of the package (`<img src>`, `<audio src>`,
`<source src>`, `[sound:...]`) points at `media/`, where the file is written, by exact
string surgery (html_policy.rewrite_media). What deckgen's HTML policy (html_policy.py)
would refuse is opted in for the deck where an opt-in exists and is harmless (style
attributes, tag names such as `font`); scripts, event handlers, `javascript:` URLs and
what loads other pages are never opted in: the author is told which cards hold them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from .html_policy import ALLOW_STYLE_ATTRIBUTES, allow_problem, check_html, media_references, rewrite_media
from .schema import MAX_FIELD_CHARS

MEDIA_FOLDER = "media"
# Never opted in for an adopted deck: they run scripts or load other pages on learners'
# devices, or restyle Anki's own screen. A field holding one is reported to its author.
NEVER_ALLOWED = frozenset(
    """script noscript style iframe frame frameset object embed applet portal link meta base
    form input button textarea select svg math template""".split()
)
REFUSED = ". deckgen will refuse it: edit the card"
_TAG_NAME = re.compile(r"<([A-Za-z][A-Za-z0-9]*)")
# What a URL path gives another meaning: escaped in a media file's name (see media_url).
_URL_SPECIAL = re.compile(r"[%?#;\x00-\x1f\x7f]|^\s|\s$")


@dataclass(frozen=True)
class Notice:
    """Something the author should know about the adopted deck, at a card (or the deck)."""

    message: str
    card_id: str = ""
    field: str = ""


def adopt_field(value: str, media: Collection[str], card_id: str, name: str) -> tuple[str, list[Notice]]:
    """A field's HTML with every reference to a file in `media` (the package's media names)
    pointing at media/, and what the author should know about the rest."""
    references = media_references(value)
    names = {}
    notices = []
    for reference in references:
        found = next((n for n in (reference.src, unquote(reference.src)) if n in media), None)
        if found is not None:
            names[reference.src] = f"{MEDIA_FOLDER}/{media_url(found)}"
        elif urlparse(reference.src).scheme or reference.src.startswith("//"):
            message = (
                f"{reference.written} is not a file of the package, and learners review offline{REFUSED}"
            )
            notices.append(Notice(message, card_id, name))
        else:
            notices.append(
                Notice(f"{reference.written}: the package has no such file{REFUSED}", card_id, name)
            )
    value = rewrite_media(value, references, names)
    if len(value) > MAX_FIELD_CHARS:
        message = f"the field has {len(value):,} characters, over deckgen's limit of {MAX_FIELD_CHARS:,}"
        notices.append(Notice(message + REFUSED, card_id, name))
    return value, notices


def media_url(name: str) -> str:
    """A media file's name as a relative URL that reads back as that name (deckgen reads
    `src` as a URL path): characters a URL gives another meaning (`%`, `?`, `#`, `;`,
    controls, spaces at the ends) escaped, everything else as it is."""
    return _URL_SPECIAL.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode()), name)


def media_shown(field_html: str) -> set[str]:
    """The names of the files in media/ that an adopted field shows."""
    return {
        unquote(urlparse(r.src).path).removeprefix(f"{MEDIA_FOLDER}/") for r in media_references(field_html)
    }


def html_opt_ins(values: Iterable[str]) -> tuple[str, ...]:
    """The `html: allow:` entries that let the fields' HTML through: style attributes and
    tag names, each added only when it lets through something the field holds; never one
    of NEVER_ALLOWED, event handlers or `javascript:` URLs."""
    allowed: set[str] = set()
    for value in values:
        findings = check_html(value, allow=allowed)
        if not findings:
            continue
        tags = sorted({match.group(1).lower() for match in _TAG_NAME.finditer(value)})
        for entry in [ALLOW_STYLE_ATTRIBUTES, *tags]:
            if entry in allowed or entry in NEVER_ALLOWED or allow_problem(entry) is not None:
                continue
            fewer = check_html(value, allow=allowed | {entry})
            if len(fewer) < len(findings):
                allowed.add(entry)
                findings = fewer
    return tuple(sorted(allowed))


def refused_html(fields: Iterable[tuple[str, str, str]], allow: Collection[str]) -> list[Notice]:
    """What the HTML policy still refuses with the deck's opt-ins, in (card id, field name,
    HTML) fields: a notice at each card and field."""
    return [
        Notice(f"{finding.message}{REFUSED}", card_id, name)
        for card_id, name, value in fields
        for finding in check_html(value, allow=allow)
    ]
