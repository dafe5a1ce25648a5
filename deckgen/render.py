"""Step 3 of the pipeline: Markdown fields -> HTML, with the media they use.

Rendering is a function of a field's text and the files it points at, so it can be
cached and run in parallel. MathJax (`\\(...\\)`, `\\[...\\]`) and cloze markers are
shielded from Markdown, which would otherwise eat the backslashes or split the braces.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import markdown
import pygments
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from pygments.formatters import HtmlFormatter

from . import __version__
from .cache import BuildCache, CachedField, field_key
from .cards import Card, Deck, Topic
from .errors import Problems
from .validate import display_path

_MATH_RE = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
# Placeholders are letters only, so Markdown and Pygments leave them whole.
_MATH_TOKEN = "qDGMATH{}Xq"
_MATH_TOKEN_RE = re.compile(r"qDGMATH(\d+)Xq")
_CLOZE_OPEN_TOKEN = "qDGCLOZE{}Xq"
_CLOZE_OPEN_TOKEN_RE = re.compile(r"qDGCLOZE(\d+)Xq")
_CLOZE_CLOSE_TOKEN = "qDGCLOZEENDXq"
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")
_EXTENSIONS = ("fenced_code", "tables", "sane_lists", "codehilite")


@functools.lru_cache(maxsize=64)
def _html_formatter(options: tuple) -> HtmlFormatter:
    return HtmlFormatter(**dict(options))


def _code_formatter(**options) -> HtmlFormatter:
    """Pygments' HTML formatter, made once per set of options, not once per code block.

    Making one builds its style tables, a tenth of the time spent rendering a deck with
    some code; a formatter holds no state between code blocks, so the HTML is the same.
    """
    key = tuple(sorted((name, tuple(v) if isinstance(v, list) else v) for name, v in options.items()))
    try:
        return _html_formatter(key)
    except TypeError:  # an option that cannot be a key: make one as codehilite would
        return HtmlFormatter(**options)


_EXTENSION_CONFIGS = {
    "codehilite": {"css_class": "highlight", "guess_lang": False, "pygments_formatter": _code_formatter}
}
# Below this many fields to render, starting worker processes costs more than it saves.
PARALLEL_FIELDS = 2000
_CHUNK_FIELDS = 250

Progress = Callable[[int, int], None]  # (fields rendered, fields to render)


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
    images: tuple[str, ...] = ()  # each media file's src as written, for the cache to check


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
            extensions=[*_EXTENSIONS, _MediaExtension(self)],
            extension_configs=_EXTENSION_CONFIGS,
            output_format="html",
        )
        self._base: Path = self.cards_dir
        self._media: list[MediaFile] = []
        self._images: list[str] = []
        self._errors: list[str] = []
        self._digests: dict[Path, str] = {}

    def render_field(self, text: str, base: Path) -> RenderedField:
        """Markdown -> HTML; `base` is the folder that relative image paths start from."""
        self._base, self._media, self._images, self._errors = base, [], [], []
        shielded, maths = _shield(text)
        self._md.reset()
        out = self._md.convert(shielded)
        return RenderedField(
            _unshield(out, maths), tuple(self._media), tuple(self._errors), tuple(self._images)
        )

    def image_file(self, src: str, base: Path) -> tuple[Path | None, str | None]:
        """The file an image's `src` names, or None and the reason it cannot be used."""
        parsed = urlparse(src)
        if parsed.scheme or src.startswith("//"):
            return None, (
                f"image {src!r} is not a local file: learners review offline, so put the "
                "file under the cards folder and link it by a relative path"
            )
        path = (base / unquote(parsed.path)).resolve()
        if not path.is_relative_to(self.cards_dir):
            return None, f"image {src!r} is outside the cards folder"
        if not path.is_file():
            return None, f"image {src!r} not found: no file {display_path(path)}"
        return path, None

    def digest(self, path: Path) -> str:
        """The sha256 of a file's bytes, read once per build."""
        digest = self._digests.get(path)
        if digest is None:
            digest = self._digests[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        return digest

    def media_file(self, path: Path) -> MediaFile:
        # The content hash in the name means a changed image is a new file in Anki
        # (Anki never overwrites a media file of the same name on import).
        return MediaFile(path, f"{path.stem}-{self.digest(path)[:12]}{path.suffix.lower()}")

    def _media_name(self, src: str) -> str:
        path, error = self.image_file(src, self._base)
        if path is None:
            self._errors.append(error or "")
            return src
        media = self.media_file(path)
        self._media.append(media)
        self._images.append(src)
        return media.name


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


def _is_plain(card: Card, key: str) -> bool:
    # Anki compares the typed answer with this field's text: keep it plain.
    return card.type == "type-in" and key == "back"


def render_card(renderer: Renderer, topic: Topic, card: Card, problems: Problems) -> RenderedCard:
    base = topic.path.parent
    rendered = {
        key: renderer.render_field(text, base)
        for key, text in card.fields.items()
        if not _is_plain(card, key)
    }
    return _assemble(topic, card, rendered, problems)


def _assemble(
    topic: Topic, card: Card, rendered: dict[str, RenderedField], problems: Problems
) -> RenderedCard:
    fields: dict[str, str] = {}
    media: list[MediaFile] = []
    for key, text in card.fields.items():
        if _is_plain(card, key):
            fields[key] = html.escape(text.strip(), quote=False)
            continue
        result = rendered[key]
        for message in result.errors:
            problems.error(card.field_locations[key], message)
        fields[key] = result.html
        media.extend(result.media)
    tags = tuple(dict.fromkeys(topic.tags + card.tags))
    return RenderedCard(topic.key, card, fields, tags, tuple(dict.fromkeys(media)))


def render_deck(
    deck: Deck,
    problems: Problems,
    cache: BuildCache | None = None,
    progress: Progress | None = None,
) -> list[RenderedCard]:
    """Render every card, in deck order.

    With a `cache`, fields rendered by an earlier build are taken from it (cache.py)
    and the rest rendered and handed to it. With many fields to render, they are
    rendered on every core.
    """
    renderer = Renderer(deck.cards_dir)
    # Every Markdown field of every card, in order: (topic, card, field name), and
    # each topic with where its fields start and end in that list.
    wanted: list[tuple[Topic, Card, str]] = []
    spans: list[tuple[Topic, int, int]] = []
    for topic in deck.topics:
        start = len(wanted)
        wanted += [
            (topic, card, key) for card in topic.cards for key in card.fields if not _is_plain(card, key)
        ]
        spans.append((topic, start, len(wanted)))
    found: list[RenderedField | None] = [None] * len(wanted)
    keys = [""] * len(wanted)
    if cache is not None:
        _look_up(cache, renderer, spans, wanted, keys, found)

    missing = [index for index, result in enumerate(found) if result is None]
    requests = [(wanted[i][0].path.parent, wanted[i][1].fields[wanted[i][2]]) for i in missing]
    for index, result in zip(missing, _render_all(renderer, requests, progress), strict=True):
        found[index] = result

    if cache is not None:
        _update_cache(cache, renderer, spans, keys, found, set(missing))
    results = iter(found)
    cards = []
    for topic, card in deck.cards:
        rendered = {key: next(results) for key in card.fields if not _is_plain(card, key)}
        cards.append(_assemble(topic, card, rendered, problems))  # type: ignore[arg-type]
    return cards


@functools.cache
def renderer_fingerprint() -> str:
    """What, besides a field's text and images, decides its HTML: part of every cache key.

    render.py's own source is in it, so a changed renderer (in a checkout, before any
    version bump) never serves HTML its previous self rendered.
    """
    source = Path(__file__).read_bytes()
    parts = [__version__, markdown.__version__, pygments.__version__, repr(_EXTENSIONS)]
    # Functions in the settings by name (their repr holds an address that changes each run).
    settings = json.dumps(_EXTENSION_CONFIGS, sort_keys=True, default=lambda value: value.__qualname__)
    parts += [settings, hashlib.sha256(source).hexdigest()]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def _from_cache(renderer: Renderer, entry: CachedField, base: Path) -> RenderedField | None:
    """The cached field, if every image it shows is still the file with the same bytes."""
    if not entry.images:
        return RenderedField(entry.html, (), ())
    media = []
    for src, name, digest in entry.images:
        path, _error = renderer.image_file(src, base)
        if path is None or renderer.digest(path) != digest:
            return None
        media_file = renderer.media_file(path)
        if media_file.name != name:
            return None
        media.append(media_file)
    return RenderedField(entry.html, tuple(media), (), tuple(src for src, _name, _digest in entry.images))


def _look_up(
    cache: BuildCache,
    renderer: Renderer,
    spans: list[tuple[Topic, int, int]],
    wanted: list[tuple[Topic, Card, str]],
    keys: list[str],
    found: list[RenderedField | None],
) -> None:
    """Fill in each field's cache key, and the fields the cache holds."""
    for topic, start, end in spans:
        kept_keys, fields = cache.read(topic.key)
        if kept_keys is None or len(kept_keys) != end - start:
            base = topic.path.parent.resolve()
            kept_keys = [
                field_key(cache.render_fingerprint, renderer.cards_dir, base, card.fields[key])
                for _topic, card, key in wanted[start:end]
            ]
        keys[start:end] = kept_keys
        folder = topic.path.parent
        for index in range(start, end):
            entry = fields.get(keys[index])
            if entry is not None:
                found[index] = _from_cache(renderer, entry, folder)


def _update_cache(
    cache: BuildCache,
    renderer: Renderer,
    spans: list[tuple[Topic, int, int]],
    keys: list[str],
    found: list[RenderedField | None],
    rendered: set[int],
) -> None:
    """Hand the cache what each topic's file should now hold: the fields this build used."""
    for topic, start, end in spans:
        if cache.reused(topic.key) and not rendered.intersection(range(start, end)):
            cache.replace(topic.key, keys[start:end], None)  # all as kept
            continue
        entries = {}
        for cache_key, result in zip(keys[start:end], found[start:end], strict=True):
            if result is None or result.errors:
                continue  # a field with a problem is rendered again, to report it again
            images = tuple(
                (src, media.name, renderer.digest(media.source))
                for src, media in zip(result.images, result.media, strict=True)
            )
            entries[cache_key] = CachedField(result.html, images)
        cache.replace(topic.key, keys[start:end], entries)


def _render_all(
    renderer: Renderer, requests: list[tuple[Path, str]], progress: Progress | None
) -> list[RenderedField]:
    """Render (folder, text) pairs in order: here, or on every core when there are many."""
    workers = min(usable_cores(), len(requests) // PARALLEL_FIELDS)
    chunks = [requests[i : i + _CHUNK_FIELDS] for i in range(0, len(requests), _CHUNK_FIELDS)]
    results: list[RenderedField] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for chunk in pool.map(_render_chunk, [renderer.cards_dir] * len(chunks), chunks):
                results.extend(chunk)
                if progress:
                    progress(len(results), len(requests))
        return results
    for chunk in chunks:
        results.extend(renderer.render_field(text, base) for base, text in chunk)
        if progress:
            progress(len(results), len(requests))
    return results


def usable_cores() -> int:
    """The cores this process may run on (all of them where the system cannot say)."""
    if hasattr(os, "sched_getaffinity"):  # Linux
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@functools.cache
def _worker_renderer(cards_dir: Path) -> Renderer:
    return Renderer(cards_dir)


def _render_chunk(cards_dir: Path, chunk: list[tuple[Path, str]]) -> list[RenderedField]:
    """In a worker process: one Renderer per process, reused for every chunk it gets."""
    renderer = _worker_renderer(cards_dir)
    return [renderer.render_field(text, base) for base, text in chunk]
