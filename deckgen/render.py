"""Step 3 of the pipeline: Markdown fields -> HTML, with the media they use.

Rendering is a function of a field's text and the files it points at, so it can be
cached and run in parallel. MathJax (`\\(...\\)`, `\\[...\\]`) and cloze markers are
shielded from Markdown, which would otherwise eat the backslashes or split the braces.
"""

from __future__ import annotations

import hashlib
import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from .cards import Card, Deck, Topic
from .errors import Problems
from .validate import display_path

_MATH_RE = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_CLOZE_OPEN_RE = re.compile(r"\{\{c(\d+)::")
# Placeholders are letters only, so Markdown and Pygments leave them whole.
_MATH_TOKEN = "qDGMATH{}Xq"
_MATH_TOKEN_RE = re.compile(r"qDGMATH(\d+)Xq")
_CLOZE_OPEN_TOKEN = "qDGCLOZE{}Xq"
_CLOZE_OPEN_TOKEN_RE = re.compile(r"qDGCLOZE(\d+)Xq")
_CLOZE_CLOSE_TOKEN = "qDGCLOZEENDXq"
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class MediaFile:
    source: Path  # the file under cards/
    name: str  # its name inside the package and in Anki's media folder


@dataclass(frozen=True)
class RenderedCard:
    topic: str  # topic key
    card: Card
    fields: dict[str, str]  # YAML key -> HTML
    tags: tuple[str, ...]
    media: tuple[MediaFile, ...]


@dataclass(frozen=True)
class RenderedField:
    html: str
    media: tuple[MediaFile, ...]
    errors: tuple[str, ...]


class _ImageCollector(Treeprocessor):
    """Rewrites each <img src> to its packaged media name and records the file."""

    def __init__(self, md, renderer: Renderer):
        super().__init__(md)
        self.renderer = renderer

    def run(self, root: ET.Element) -> None:
        for img in root.iter("img"):
            img.set("src", self.renderer._media_name(img.get("src", "")))


class _MediaExtension(Extension):
    def __init__(self, renderer: Renderer):
        super().__init__()
        self.renderer = renderer

    def extendMarkdown(self, md) -> None:
        md.treeprocessors.register(_ImageCollector(md, self.renderer), "deckgen_media", 0)


class Renderer:
    """One reused Markdown converter (building one per field is slow)."""

    def __init__(self, cards_dir: Path):
        self.cards_dir = cards_dir.resolve()
        self._md = markdown.Markdown(
            extensions=[
                "fenced_code",
                "tables",
                "sane_lists",
                "codehilite",
                _MediaExtension(self),
            ],
            extension_configs={
                "codehilite": {"css_class": "highlight", "guess_lang": False},
            },
            output_format="html",
        )
        self._base: Path = self.cards_dir
        self._media: list[MediaFile] = []
        self._errors: list[str] = []
        self._media_names: dict[Path, str] = {}

    def render_field(self, text: str, base: Path) -> RenderedField:
        """Markdown -> HTML; `base` is the folder that relative image paths start from."""
        self._base, self._media, self._errors = base, [], []
        shielded, maths = _shield(text)
        self._md.reset()
        out = self._md.convert(shielded)
        return RenderedField(_unshield(out, maths), tuple(self._media), tuple(self._errors))

    def _media_name(self, src: str) -> str:
        parsed = urlparse(src)
        if parsed.scheme or src.startswith("//"):
            self._errors.append(
                f"image {src!r} is not a local file: learners review offline, so put the "
                "file under the cards folder and link it by a relative path"
            )
            return src
        path = (self._base / unquote(parsed.path)).resolve()
        if not path.is_relative_to(self.cards_dir):
            self._errors.append(f"image {src!r} is outside the cards folder")
            return src
        if not path.is_file():
            self._errors.append(f"image {src!r} not found: no file {display_path(path)}")
            return src
        name = self._media_names.get(path)
        if name is None:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            # The content hash in the name means a changed image is a new file in Anki
            # (Anki never overwrites a media file of the same name on import).
            name = f"{path.stem}-{digest}{path.suffix.lower()}"
            self._media_names[path] = name
        self._media.append(MediaFile(path, name))
        return name


def _shield(text: str) -> tuple[str, list[str]]:
    maths: list[str] = []

    def keep_math(match: re.Match) -> str:
        maths.append(match.group(0))
        return _MATH_TOKEN.format(len(maths) - 1)

    text = _MATH_RE.sub(keep_math, text)
    # Cloze markers: hide `{{cN::` and the `}}` that closes it, keep the inside as Markdown.
    out, pos, depth = [], 0, 0
    for match in re.finditer(r"\{\{c(\d+)::|\}\}", text):
        if match.group(0).startswith("{{"):
            depth += 1
            out.append(text[pos : match.start()] + _CLOZE_OPEN_TOKEN.format(match.group(1)))
        elif depth:
            depth -= 1
            out.append(text[pos : match.start()] + _CLOZE_CLOSE_TOKEN)
        else:
            out.append(text[pos : match.end()])
        pos = match.end()
    out.append(text[pos:])
    return "".join(out), maths


def _unshield(rendered: str, maths: list[str]) -> str:
    rendered = _CLOZE_OPEN_TOKEN_RE.sub(lambda m: "{{c" + m.group(1) + "::", rendered)
    rendered = rendered.replace(_CLOZE_CLOSE_TOKEN, "}}")
    return _MATH_TOKEN_RE.sub(lambda m: html.escape(maths[int(m.group(1))], quote=False), rendered)


def plain_text(field_html: str) -> str:
    """A rendered field as one line of text, for messages, diffs and quality checks."""
    return _SPACE_RE.sub(" ", html.unescape(_TAG_RE.sub(" ", field_html))).strip()


def render_card(renderer: Renderer, topic: Topic, card: Card, problems: Problems) -> RenderedCard:
    base = topic.path.parent
    fields: dict[str, str] = {}
    media: list[MediaFile] = []
    for key, text in card.fields.items():
        if card.type == "type-in" and key == "back":
            # Anki compares the typed answer with this field's text: keep it plain.
            fields[key] = html.escape(text.strip(), quote=False)
            continue
        result = renderer.render_field(text, base)
        for message in result.errors:
            problems.error(card.field_locations[key], message)
        fields[key] = result.html
        media.extend(result.media)
    tags = tuple(dict.fromkeys(topic.tags + card.tags))
    return RenderedCard(topic.key, card, fields, tags, tuple(dict.fromkeys(media)))


def render_deck(deck: Deck, problems: Problems) -> list[RenderedCard]:
    renderer = Renderer(deck.cards_dir)
    return [render_card(renderer, topic, card, problems) for topic, card in deck.cards]
