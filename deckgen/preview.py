"""An ending of the pipeline beside `build`: every card as Anki would show it, in one page.

    compile_deck (build.py: load -> validate -> render) -> preview -> build/preview/

`preview_page` is a function of the compiled deck: it runs each note through the very
templates and CSS that go into the packages (`notetypes.py`), with a small renderer of
Anki's template language below, and returns the page and the media it shows.
`write_preview` writes both next to each other, each file under a temporary name
renamed into place, so the page opens from the file system, offline.

The template renderer follows what Anki's own renderer gives (rslib `template.rs`,
`cloze.rs`); tests/test_preview.py compares the two card by card. Where Anki's
reviewer takes over (the type-the-answer box and its comparison), this module plays
the reviewer with no answer typed.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from .cache import SECTIONS_DIR, BuildCache
from .cache_files import document_bytes, read_document
from .compile import CompiledDeck, compile_deck
from .errors import Problem
from .notetypes import NOTE_TYPES, NoteTypeSpec, card_css
from .output import StagedFiles, Waiting, naming, remove_temporaries, writing_to
from .preview_sections import Section, compile_edited, section_documents, section_from, section_keys
from .render import MediaFile, MediaFiles, RenderedCard
from .templates import render_template, strip_html

PREVIEW_DIR = "preview"
PAGE_FILE = "index.html"

_TYPE_MARKER_RE = re.compile(r"\[\[type:(.+?)\]\]")


# -- the reviewer's part: type the answer ---------------------------------------------------

TYPE_ANSWER_BOX = '<input type="text" id="typeans" placeholder="type the answer" autocomplete="off">'


def _typed_answer_shown(expected_html: str) -> str:
    # What Anki shows on the back when nothing was typed: the expected answer, plain.
    expected = strip_html(expected_html).strip()
    return f"<code id=typeans>{html.escape(expected, quote=False)}</code>"


def _play_reviewer(side: str, fields: dict[str, str], question: bool) -> str:
    def replace(match: re.Match) -> str:
        if question:
            return TYPE_ANSWER_BOX
        return _typed_answer_shown(fields.get(match.group(1), ""))

    return _TYPE_MARKER_RE.sub(replace, side)


# -- cards of a note ----------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewCard:
    """One card of one note: what Anki shows on each side."""

    card_id: str
    topic: str
    note_type: str  # the note type's label
    template: str  # the card template's name, or "Cloze N"
    ordinal: int  # from 1; Anki's `cardN` class on the card's body
    question: str
    answer: str
    tags: tuple[str, ...]


def note_fields(spec: NoteTypeSpec, rendered: RenderedCard) -> dict[str, str]:
    """The note's fields by Anki field name, exactly as packaged."""
    return dict(zip(spec.fields, spec.anki_fields(rendered.fields, rendered.card.id), strict=True))


def note_cards(rendered: RenderedCard, spec: NoteTypeSpec | None = None) -> list[PreviewCard]:
    """Every card Anki makes from one note (`NoteTypeSpec.card_ordinals`), both sides
    rendered; `spec` is its note type (by default the built-in one of its card type)."""
    spec = spec or NOTE_TYPES[rendered.card.type]
    values = spec.anki_fields(rendered.fields, rendered.card.id)
    fields = dict(zip(spec.fields, values, strict=True))
    cards = []
    for card_ord in spec.card_ordinals(values):
        if spec.is_cloze:
            (_name, front, back), name = spec.templates[0], f"Cloze {card_ord + 1}"
        else:
            name, front, back = spec.templates[card_ord]
        ordinal = card_ord + 1
        question = render_template(front, fields, ordinal, question=True)
        answer = render_template(back, fields, ordinal, question=False, front_side=question)
        cards.append(
            PreviewCard(
                card_id=rendered.card.id,
                topic=rendered.topic,
                note_type=spec.label,
                template=name,
                ordinal=ordinal,
                question=_play_reviewer(question, fields, question=True),
                answer=_play_reviewer(answer, fields, question=False),
                tags=rendered.tags,
            )
        )
    return cards


# -- the page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewPage:
    html: str
    media: tuple[MediaFile, ...]  # files the page shows, to be put beside it
    cards: tuple[PreviewCard, ...]  # those made for this page (not those of `kept` sections)
    card_count: int = 0  # every card on the page
    sections: dict[str, Section] = field(default_factory=dict)  # those made for this page, by topic
    note_count: int = 0  # every note on the page


def _asset(name: str) -> str:
    return files("deckgen").joinpath(f"style/{name}").read_text(encoding="utf-8")


# MathJax 3, which Anki renders \(...\) and \[...\] with: the copy vendored at a pinned
# version (deckgen/vendor/mathjax/README.md), put beside the page under this name.
MATHJAX_FILE = "tex-svg-full.js"
_MATHJAX_SOURCE = "vendor/mathjax/tex-svg-full.js"


def content_security_policy(nonce: str) -> str:
    """The page's seal: what its <meta http-equiv="Content-Security-Policy"> allows.

    A field is HTML that goes onto the page as it is, as in Anki. Whatever a field
    holds, the page runs only its own scripts and styles and loads only local files,
    so a `<script>`, an `onerror=`, a remote `<img>` or `<iframe>`, or a `<style>` that
    hides the page does nothing. Measured in Chromium by tests/test_browser_preview_sealed.py.
    """
    return "; ".join(
        [
            # Anything not named below (fetch, frames, fonts, objects, audio, workers) is refused.
            "default-src 'none'",
            # The page's inline script and MathJax's file, by nonce. Not 'self': for a page
            # opened from file:// Chromium's 'self' is every file on the disk.
            f"script-src 'nonce-{nonce}'",
            # The page's two <style>s and the one MathJax adds; not a field's <style> or <link>.
            f"style-src 'nonce-{nonce}'",
            # style="..." as Anki shows it (Markdown's aligned table columns are style
            # attributes); preview.css keeps such a style inside its own card.
            "style-src-attr 'unsafe-inline'",
            # The deck's media beside the page. 'self' of a file:// page is file: only, never the
            # network; of a page served over http, that server.
            "img-src 'self'",
            # Neither falls back to default-src: a field's <base href> cannot move the page's
            # relative links, and a field's <form> cannot send anything anywhere.
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def _nonce(body: str) -> str:
    # A nonce no field can carry: it is a hash of the page's body, fields included, so a
    # field holding it would hold a hash of itself. A hash rather than random bytes, so the
    # same cards give the same page.
    digest = hashlib.sha256(b"deckgen preview nonce\0" + body.encode("utf-8")).digest()
    return base64.b64encode(digest[:18]).decode("ascii")


def _card_html(card: PreviewCard) -> str:
    e = html.escape
    tags = " ".join(f'<span class="pv-tag">{e(tag)}</span>' for tag in card.tags)
    # Each side sits in <div class="card cardN">, as Anki's <body class="card cardN">;
    # the page's script adds night_mode/nightMode to it as Anki does.
    return (
        f'<article class="pv-card" data-note="{e(card.card_id)}">\n'
        f'<header class="pv-meta"><span class="pv-id">{e(card.card_id)}</span>'
        f'<span class="pv-type">{e(card.note_type)} · {e(card.template)}</span>'
        f'<span class="pv-tags">{tags}</span></header>\n'
        '<div class="pv-sides">\n'
        f'<section class="pv-side pv-front"><h4 class="pv-label">Front</h4>'
        f'<div class="card card{card.ordinal}">{card.question}</div></section>\n'
        f'<section class="pv-side pv-back"><h4 class="pv-label">Back</h4>'
        f'<div class="card card{card.ordinal}">{card.answer}</div></section>\n'
        "</div>\n</article>"
    )


def preview_page(compiled: CompiledDeck, kept: dict[str, Section] | None = None) -> PreviewPage:
    """The preview page for a compiled deck: every card of every note, grouped by deck.
    The topics in `kept` take their section from there (`write_preview` keeps them
    under `section_keys`) rather than running their notes through the templates again."""
    e = html.escape
    title = compiled.root_name()
    all_cards: list[PreviewCard] = []
    media: dict[str, MediaFile] = {}
    sections, made = [], {}
    nav = []
    card_count = note_count = 0
    cards_by_topic = compiled.cards_by_topic()
    for topic in compiled.deck.topics:
        notes = cards_by_topic[topic.key]
        for rc in notes:
            for item in rc.media:
                media.setdefault(item.name, item)
        anchor = f"deck-{topic.key}"
        section = (kept or {}).get(topic.key)
        if section is None:
            cards = [card for rc in notes for card in note_cards(rc, compiled.note_types[rc.card.type])]
            all_cards.extend(cards)
            count = f"{len(notes)} notes, {len(cards)} cards"
            section = Section(
                f'<section class="pv-deck" id="{e(anchor)}">\n'
                f"<h2>{e(topic.title)} <small>{e(compiled.deck_name(topic.key))} · {count}</small></h2>\n"
                + "\n".join(_card_html(card) for card in cards)
                + "\n</section>",
                len(notes),
                len(cards),
            )
            made[topic.key] = section
        count = f"{section.notes} notes, {section.cards} cards"
        nav.append(f'<li><a href="#{e(anchor)}">{e(topic.title)}</a> <small>{count}</small></li>')
        for item in section.media:  # (a kept section of a topic not compiled again)
            media.setdefault(item.name, item)
        sections.append(section.html)
        card_count += section.cards
        note_count += section.notes
    summary = f"{note_count} notes, {card_count} cards"
    body = f"""<body>
<header class="pv-bar">
<div class="pv-title"><h1>{e(title)}</h1>
<button type="button" id="pv-theme" title="Light, dark, or as the system says">Theme: auto</button></div>
<input type="search" id="pv-search" placeholder="Search cards, ids, tags" aria-label="Search cards">
<p class="pv-count" id="pv-count" data-total="{card_count}">{summary}</p>
</header>
<main>
<details class="pv-nav"><summary>Decks</summary><ul>{"".join(nav)}</ul></details>
<p class="pv-empty" id="pv-empty" hidden>No card matches.</p>
{chr(10).join(sections)}
</main>
</body>
"""
    nonce = _nonce(body)
    # The policy comes first, before anything it governs. Every element that runs or styles
    # is in the head, before the first card: a field's unclosed tag cannot swallow one.
    # MathJax is deferred: it runs once the cards are parsed, after preview.js set it up.
    page = f"""<!doctype html>
<html lang="en" data-theme="auto">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{content_security_policy(nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{e(title)}: card preview</title>
<style nonce="{nonce}">
{card_css()}
</style>
<style nonce="{nonce}">
{_asset("preview.css")}
</style>
<script nonce="{nonce}">
{_asset("preview.js")}
</script>
<script nonce="{nonce}" src="{MATHJAX_FILE}" defer></script>
</head>
{body}</html>
"""
    return PreviewPage(
        page, tuple(media[name] for name in sorted(media)), tuple(all_cards), card_count, made, note_count
    )


# -- writing it -----------------------------------------------------------------------------

# Media names carry a content hash (render.py), so a stale copy is recognisable.
_MEDIA_NAME_RE = re.compile(r"-[0-9a-f]{12}\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class PreviewResult:
    path: Path  # the page
    notes: int
    cards: int
    warnings: list[Problem]
    fields_rendered: int = 0  # fields rendered rather than taken from the build cache
    sections_made: tuple[str, ...] = ()  # topics whose part of the page was not in the cache
    # Topics whose cards were compiled (from their files or the build cache): after an
    # edit, the edited ones only (preview_sections.compile_edited).
    topics_compiled: tuple[str, ...] = ()


def write_preview(cards_dir: Path, out_dir: Path, waiting: Waiting | None = None) -> PreviewResult:
    """Compile the cards and write `out_dir/preview/index.html` with its media beside it.

    Raises DeckError on bad input, before anything is written. Waits for another
    command writing to `out_dir` (a build) to finish, and tells `waiting` so.
    """
    cache = BuildCache(out_dir)  # the build's: a preview after a build renders nothing again
    media = MediaFiles(cards_dir)
    edited = compile_edited(cards_dir, cache, media)  # only the topics edited since the last preview
    if edited is not None:
        compiled, kept = edited.compiled, edited.kept
        shows = section_keys(compiled)  # (right for the edited topics, the ones it is used for)
    else:
        cache = BuildCache(out_dir)  # (the quick way may have read part of it)
        compiled = compile_deck(cards_dir, cache)
        shows = section_keys(compiled)
        kept, documents = {}, {}
        for topic, key in shows.items():
            documents[topic] = read_document(cache.shard(SECTIONS_DIR, topic))
            section = section_from(documents[topic]) if documents[topic].get("key") == key else None
            if section is not None:
                kept[topic] = section
        # What a kept section shows is the same; what it was compiled from may not be.
        for topic, again in section_documents(compiled, cache, kept, shows, media).items():
            path = cache.shard(SECTIONS_DIR, topic)
            if again == documents[topic]:
                cache.keep(path)
            else:
                cache.put(path, document_bytes(again))
    page = preview_page(compiled, kept)
    for topic, document in section_documents(compiled, cache, page.sections, shows, media).items():
        cache.put(cache.shard(SECTIONS_DIR, topic), document_bytes(document))
    folder = out_dir / PREVIEW_DIR
    with writing_to(out_dir, waiting):
        cache.commit(None)
        remove_temporaries(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with StagedFiles() as staged:
            for item in page.media:
                staged.copy(folder / item.name, item.source)
            mathjax = files("deckgen").joinpath(_MATHJAX_SOURCE).read_bytes()
            with naming(folder / MATHJAX_FILE):
                staged.stage(folder / MATHJAX_FILE).write_bytes(mathjax)
            staged.write_text(folder / PAGE_FILE, page.html)
            staged.commit()
        keep = {item.name for item in page.media}
        for path in folder.iterdir():
            if path.is_file() and _MEDIA_NAME_RE.search(path.name) and path.name not in keep:
                path.unlink()
    rendered = len(cache.fields_rendered)
    cards = page.card_count
    compiled_keys = tuple(dict.fromkeys(rc.topic for rc in compiled.cards))
    return PreviewResult(
        folder / PAGE_FILE,
        page.note_count,
        cards,
        compiled.warnings,
        rendered,
        tuple(page.sections),
        compiled_keys if edited is not None else tuple(t.key for t in compiled.deck.topics),
    )
