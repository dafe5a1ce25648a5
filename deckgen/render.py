"""Step 3 of the pipeline: Markdown fields -> HTML, with the media they use.

Rendering is a function of a field's text, the deck's HTML opt-ins and the files it
points at, so it can be cached (cache.py wraps `render_fields` from outside) and run on
every core. MathJax (`\\(...\\)`, `\\[...\\]`) and cloze markers are shielded from
Markdown, which would otherwise eat the backslashes or split the braces.

The rendered HTML is then read once by html_policy.py: markup a card may not hold is an
error, and every media reference (Markdown images, `<img>`, `<audio>`, `<source>`,
`[sound:...]`) must be a file under cards/ of the right kind; each is packaged and
renamed to its name in the package.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import html
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from .cards import Card, Deck, Topic
from .errors import Location, Problems, display_path
from .html_policy import Finding, inspect_field, place, rewrite_media, source_from
from .markdown_converter import MarkdownConverter
from .records import sent_between_processes
from .workers import worker_pool

_MATH_RE = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
# Placeholders are letters only, so Markdown and Pygments leave them whole.
_MATH_TOKEN = "qDGMATH{}Xq"
_MATH_TOKEN_RE = re.compile(r"qDGMATH(\d+)Xq")
_CLOZE_OPEN_TOKEN = "qDGCLOZE{}Xq"
_CLOZE_OPEN_TOKEN_RE = re.compile(r"qDGCLOZE(\d+)Xq")
_CLOZE_CLOSE_TOKEN = "qDGCLOZEENDXq"
_ANY_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")
# Below this many fields to render, starting worker processes costs more than it saves.
PARALLEL_FIELDS = 2000
_CHUNK_FIELDS = 250


@sent_between_processes
@dataclass(frozen=True, slots=True)
class MediaFile:
    source: Path  # the file under cards/
    name: str  # its name inside the package and in Anki's media folder


@sent_between_processes
@dataclass(frozen=True, slots=True)
class RenderedCard:
    topic: str  # topic key
    card: Card
    fields: dict[str, str]  # YAML key -> HTML
    tags: tuple[str, ...]
    media: tuple[MediaFile, ...]


@sent_between_processes
@dataclass(frozen=True, slots=True)
class RenderedField:
    html: str
    media: tuple[MediaFile, ...]
    # What is wrong, each at its line and column in the field's text (`render_deck`
    # places them in the card file).
    errors: tuple[Finding, ...]
    images: tuple[str, ...] = ()  # each media file's src as written (images and sounds), for the cache


@sent_between_processes
@dataclass(frozen=True, slots=True)
class FieldRequest:
    """One Markdown field to render: its text, the folder its media paths start from,
    and the deck's HTML opt-ins (deck.yaml `html: {allow: [...]}`)."""

    topic: str  # the topic key of the card it belongs to
    base: Path
    text: str
    allow: frozenset[str] = frozenset()
    html: bool = False  # the text is HTML already (`format: html`): no Markdown over it


# A note as the worker that compiled its card worked it out (identity.worked_note): its
# field values and content hash, the GUID derived from its id in the deck's namespace,
# and the ordinals of the cards Anki makes of it.
WorkedNote = tuple[list[str], str, str, tuple[int, ...]]


@sent_between_processes
@dataclass(frozen=True, slots=True)
class CompiledTopic:
    """A topic compiled by the worker that read it (cache.read_ahead): its cards, the
    problems found rendering them, its fields' cache file (None: unchanged), the text
    of each field rendered rather than taken from the cache, and each card's note."""

    cards: list[RenderedCard]
    problems: list
    fields_file: bytes | None
    fields_rendered: list[str]
    notes: list[WorkedNote | None]  # each card's note (identity.worked_note), or None


# Renders fields in order; `render_fields` is the plain one, cache.py wraps it.
FieldRenderer = Callable[[list[FieldRequest]], list[RenderedField]]
# Told how far a long command has got: (step, done, total), step "render" or "package".
Progress = Callable[[str, int, int], None]


# What each kind of media reference (html_policy.MediaKind) is called in messages.
_MEDIA_NOUNS = {"image": "image", "audio": "sound file", "video": "video"}


def _unusable(error: OSError | RuntimeError | ValueError) -> str:
    """Why a media file cannot be read, and what to do, for a message at the field."""
    if isinstance(error, ValueError):  # "embedded null byte"
        return "its path holds a NUL byte (%00), which no file name can hold"
    if isinstance(error, RuntimeError) or error.errno == errno.ELOOP:
        return "its symbolic links form a loop; fix or remove them"
    if error.errno == errno.ENAMETOOLONG:
        return "its name is too long for the file system; shorten it"
    where = display_path(Path(os.fsdecode(error.filename))) if error.filename else "it"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied; make the file readable (chmod a+r {where})"
    return f"{error.strerror or error} ({where})"


class MediaFiles:
    """The files under cards/ that fields show, each hashed once per build."""

    def __init__(self, cards_dir: Path):
        self.cards_dir = cards_dir.resolve()
        self._digests: dict[Path, str] = {}

    def image_file(self, src: str, base: Path, kind: str = "image") -> tuple[Path | None, str | None]:
        """The file a media reference's `src` names, or None and the reason it cannot be
        used; `kind` is what the reference shows (html_policy.MediaKind), for the message."""
        noun = _MEDIA_NOUNS.get(kind, kind)
        parsed = urlparse(src)
        if parsed.scheme or src.startswith("//"):
            return None, (
                f"{noun} {src!r} is not a local file: learners review offline, so put the "
                "file under the cards folder and link it by a relative path"
            )
        try:
            path = (base / unquote(parsed.path)).resolve()
            if not path.is_relative_to(self.cards_dir):
                return None, f"{noun} {src!r} is outside the cards folder"
            if path.is_dir():
                return None, f"{noun} {src!r} is a folder ({display_path(path)}), not a file"
            if not path.exists():
                return None, f"{noun} {src!r} not found: no file {display_path(path)}"
            if not path.is_file():
                return None, f"{noun} {src!r} is not a regular file: {display_path(path)}"
            self.digest(path)  # read it now: a file that cannot be read is the field's problem
        except (OSError, RuntimeError, ValueError) as error:  # RuntimeError: a symlink loop (3.11, 3.12)
            return None, f"{noun} {src!r} cannot be used: {_unusable(error)}"
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


class Renderer:
    """One reused Markdown converter (building one per field is slow)."""

    def __init__(self, cards_dir: Path):
        self.media = MediaFiles(cards_dir)
        self._markdown = MarkdownConverter()

    def render_field(
        self, text: str, base: Path, allow: frozenset[str] = frozenset(), html: bool = False
    ) -> RenderedField:
        """Markdown (or, with `html`, HTML as written) -> HTML, checked by html_policy with
        the deck's opt-ins `allow`, each media file renamed to its packaged name; `base` is
        the folder that relative media paths start from."""
        if html:
            out = text
        else:
            shielded, maths = _shield(text)
            out = _unshield(self._markdown.convert(shielded), maths)
        # All media in one place, whoever wrote the tag (Markdown or the author).
        found = inspect_field(out, text, allow)
        errors = list(found.findings)
        media: list[MediaFile] = []
        sources: list[str] = []
        names: dict[str, str] = {}
        for reference in found.media:
            path, error = self.media.image_file(reference.src, base, reference.kind)
            if path is None:
                errors.append(Finding(error or "", reference.written, reference.line, reference.column))
                continue
            item = self.media.media_file(path)
            media.append(item)
            sources.append(reference.src)
            names[reference.src] = item.name
        errors.sort(key=lambda f: (f.line == 0, f.line, f.column))
        html_out = rewrite_media(out, found.media, names)
        return RenderedField(html_out, tuple(media), tuple(errors), tuple(sources))


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
    return _SPACE_RE.sub(" ", html.unescape(_ANY_TAG_RE.sub(" ", field_html))).strip()


def _is_plain(card: Card, key: str) -> bool:
    # Anki compares the typed answer with this field's text: keep it plain.
    return card.type == "type-in" and key == "back"


def topic_field_requests(topic: Topic, allow: frozenset[str]) -> list[FieldRequest]:
    """Every Markdown field of one topic's cards, in order; `allow`: the deck's HTML opt-ins."""
    base = topic.path.parent
    return [
        FieldRequest(topic.key, base, text, allow, card.html)
        for card in topic.cards
        for key, text in card.fields.items()
        if not _is_plain(card, key)
    ]


def render_deck(
    deck: Deck,
    problems: Problems,
    render: FieldRenderer,
    compiled_ahead: Callable[[Topic], CompiledTopic | None] | None = None,
) -> list[RenderedCard]:
    """Render every card, in deck order, with `render` (`render_fields`, or the cache's
    wrapper of it); a field's problems are reported where they stand in its card file.
    A topic that `compiled_ahead` gives (compiled by the worker that read it) is taken
    as it is, with the problems found rendering it."""
    ahead = {topic.key: compiled_ahead(topic) for topic in deck.topics} if compiled_ahead else {}
    allow = deck.config.html_allow
    requests = [r for t in deck.topics if ahead.get(t.key) is None for r in topic_field_requests(t, allow)]
    results = iter(render(requests))
    cards = []
    for topic in deck.topics:
        compiled = ahead.get(topic.key)
        if compiled is not None:
            cards.extend(compiled.cards)
            problems.items.extend(compiled.problems)
        else:
            cards.extend(_topic_cards(topic, results, problems, allow))
    return cards


def _topic_cards(
    topic: Topic, results: Iterator[RenderedField], problems: Problems, allow: frozenset[str]
) -> list[RenderedCard]:
    """A topic's cards, with their fields' HTML taken from `results` in order."""
    cards = []
    file_text: list[str | None] = []  # the topic file, read only if a field has a problem
    for card in topic.cards:
        fields: dict[str, str] = {}
        media: list[MediaFile] = []
        for key, text in card.fields.items():
            if _is_plain(card, key):
                fields[key] = html.escape(text.strip(), quote=False)
                continue
            result = next(results)
            if result.errors:
                if not file_text:
                    file_text.append(_read_text(topic))
                start = card.field_locations[key]
                places = _error_places(result, start, file_text[0], allow)
                for where, finding in zip(places, result.errors, strict=True):
                    problems.error(where, finding.message)
            fields[key] = result.html
            media.extend(result.media)
        tags = tuple(dict.fromkeys(topic.tags + card.tags))
        cards.append(RenderedCard(topic.key, card, fields, tags, tuple(dict.fromkeys(media))))
    return cards


def render_topic(
    topic: Topic, requests: list[FieldRequest], fields: list[RenderedField | None], renderer: Renderer
) -> tuple[list[RenderedCard], list[RenderedField], list]:
    """(compile.py) `topic`'s cards, each field of its `requests` (`topic_field_requests`)
    taken from `fields` (None: rendered by `renderer`); every field; the problems."""
    done = [
        found if found is not None else renderer.render_field(r.text, r.base, r.allow, r.html)
        for r, found in zip(requests, fields, strict=True)
    ]
    problems = Problems()
    allow = requests[0].allow if requests else frozenset()
    cards = _topic_cards(topic, iter(done), problems, allow)
    return cards, done, problems.items


def _read_text(topic: Topic) -> str | None:
    try:
        return topic.path.read_text(encoding="utf-8")
    except (OSError, UnicodeError):  # changed since it was read: the field's location will do
        return None


def _error_places(
    result: RenderedField, start: Location, file_text: str | None, allow: frozenset[str]
) -> list[Location]:
    """Where each of a field's errors stands in its card file, the field's `start` where
    that cannot be told.

    The renderer placed them in the field's parsed value, which YAML has unfolded and
    unindented; reading the field's HTML again against the file's own text from `start`
    on places each exactly (html_policy.place).
    """
    if file_text is None:
        return [start] * len(result.errors)
    again = inspect_field(result.html, source_from(file_text, start), allow)
    findings = list(again.findings)
    references = list(again.media)
    places = []
    for error in result.errors:
        # The same finding again, or (a missing file, ...) the same media reference.
        match = next((f for f in findings if f.message == error.message), None)
        if match is not None:
            findings.remove(match)
            places.append(place(match, start))
            continue
        reference = next((r for r in references if r.written == error.text), None)
        if reference is not None:
            references.remove(reference)
            places.append(place(reference, start))
            continue
        places.append(start)
    return places


def render_fields(
    cards_dir: Path, requests: list[FieldRequest], progress: Progress | None = None
) -> list[RenderedField]:
    """Render fields in order: here, or on every core when there are many."""
    workers = min(usable_cores(), len(requests) // PARALLEL_FIELDS)
    chunks = [
        [(r.base, r.text, r.allow, r.html) for r in requests[i : i + _CHUNK_FIELDS]]
        for i in range(0, len(requests), _CHUNK_FIELDS)
    ]
    results: list[RenderedField] = []
    if workers > 1:
        with worker_pool(workers) as pool:
            for chunk in pool.map(_render_chunk, [cards_dir] * len(chunks), chunks):
                results.extend(chunk)
                if progress:
                    progress("render", len(results), len(requests))
        return results
    renderer = Renderer(cards_dir)  # a new one: its image digests hold for this build only
    for chunk in chunks:
        results.extend(renderer.render_field(*request) for request in _arguments(chunk))
        if progress:
            progress("render", len(results), len(requests))
    return results


def usable_cores() -> int:
    """The cores this process may run on (all of them where the system cannot say)."""
    if hasattr(os, "sched_getaffinity"):  # Linux
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@functools.cache
def worker_renderer(cards_dir: Path) -> Renderer:
    """In a worker process: its one Renderer (its media digests hold for this build's
    workers, which end with the build)."""
    return Renderer(cards_dir)


def _render_chunk(
    cards_dir: Path, chunk: list[tuple[Path, str, frozenset[str], bool]]
) -> list[RenderedField]:
    """In a worker process: one Renderer per process, reused for every chunk it gets."""
    renderer = worker_renderer(cards_dir)
    return [renderer.render_field(*request) for request in _arguments(chunk)]


def _arguments(chunk: list[tuple[Path, str, frozenset[str], bool]]):
    """render_field's arguments (text, base, allow, html) for each (base, text, allow, html)."""
    return ((text, base, allow, html) for base, text, allow, html in chunk)
