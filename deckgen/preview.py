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

import html
import re
import shutil
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from .build import CompiledDeck, compile_deck
from .errors import Problem
from .notetypes import NOTE_TYPES, NoteTypeSpec, card_css
from .package import commit_files, discard_files, remove_leftovers, temporary_path
from .render import MediaFile, RenderedCard
from .schema import cloze_numbers

PREVIEW_DIR = "preview"
PAGE_FILE = "index.html"

# -- Anki's template language -----------------------------------------------------------

_TAG_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_TYPE_MARKER_RE = re.compile(r"\[\[type:(.+?)\]\]")
_CLOZE_TOKEN_RE = re.compile(r"\{\{c(\d+)::|\}\}")
_HTML_TAG_RE = re.compile(r"<[^>]*>")
# Anki counts a field as empty when only whitespace and line breaks remain.
_BLANK_HTML_RE = re.compile(r"^(?:\s|&nbsp;|<br\s*/?>|<div>\s*</div>)*$", re.IGNORECASE)


class TemplateError(ValueError):
    """A card template that this renderer (or Anki) cannot render."""


@dataclass(frozen=True)
class _Section:
    field: str
    inverted: bool  # {{^Field}}: shown when the field is empty
    body: tuple[_Node, ...]


_Node = str | tuple[str] | _Section  # text, {{replacement}}, or a section


def _parse(template: str) -> tuple[_Node, ...]:
    stack: list[tuple[str | None, bool, list[_Node]]] = [(None, False, [])]
    pos = 0
    for match in _TAG_RE.finditer(template):
        stack[-1][2].append(template[pos : match.start()])
        pos = match.end()
        tag = match.group(1).strip()
        if tag[:1] in ("#", "^"):
            stack.append((tag[1:].strip(), tag[0] == "^", []))
        elif tag[:1] == "/":
            name, inverted, body = stack.pop()
            if name != tag[1:].strip() or not stack:
                raise TemplateError(f"{{{{{tag}}}}} closes {name!r}")
            stack[-1][2].append(_Section(name, inverted, tuple(body)))
        else:
            stack[-1][2].append((tag,))
    if len(stack) != 1:
        raise TemplateError(f"{{{{#{stack[-1][0]}}}}} is never closed")
    stack[0][2].append(template[pos:])
    return tuple(stack[0][2])


def field_is_empty(value: str) -> bool:
    return _BLANK_HTML_RE.match(value) is not None


@dataclass(frozen=True)
class _Context:
    fields: dict[str, str]  # Anki field name -> HTML
    ordinal: int  # the card's number from 1: the template's, or the cloze deletion's
    question: bool  # rendering the question (front) side
    front_side: str


def _render_nodes(nodes: tuple[_Node, ...], context: _Context) -> str:
    out = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Section):
            if node.field not in context.fields:
                raise TemplateError(f"no field named {node.field!r}")
            if field_is_empty(context.fields[node.field]) == node.inverted:
                out.append(_render_nodes(node.body, context))
        else:
            out.append(_replacement(node[0], context))
    return "".join(out)


def _replacement(tag: str, context: _Context) -> str:
    *filters, name = tag.split(":")
    name = name.strip()
    if name == "FrontSide" and not filters:
        return context.front_side
    if name not in context.fields:
        raise TemplateError(f"no field named {name!r}")
    value = context.fields[name]
    for filter_name in reversed(filters):  # Anki applies the innermost (rightmost) first
        if filter_name == "cloze":
            value = render_cloze(value, context.ordinal, question=context.question)
        elif filter_name == "type":
            # Anki's renderer leaves this marker; its reviewer swaps in the box or the answer.
            return f"[[type:{name}]]"
        elif filter_name == "text":
            value = html.unescape(_HTML_TAG_RE.sub("", value))
        else:
            raise TemplateError(f"filter {filter_name!r} is not supported by the preview")
    return value


def render_template(
    template: str, fields: dict[str, str], ordinal: int, *, question: bool, front_side: str = ""
) -> str:
    """One side of a card, as Anki's template renderer gives it (type markers left in)."""
    return _render_nodes(_parse(template), _Context(fields, ordinal, question, front_side))


# -- cloze deletions ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Cloze:
    number: int
    body: tuple[str | _Cloze, ...]


def _parse_clozes(text: str) -> tuple[str | _Cloze, ...]:
    # Each open deletion: its number, the `{{cN::` that opened it, its pieces so far.
    stack: list[tuple[int, str, list[str | _Cloze]]] = [(0, "", [])]
    pos = 0
    for match in _CLOZE_TOKEN_RE.finditer(text):
        if match.group(1) is None and len(stack) == 1:
            continue  # a `}}` outside any deletion is text
        stack[-1][2].append(text[pos : match.start()])
        pos = match.end()
        if match.group(1) is not None:
            stack.append((int(match.group(1)), match.group(0), []))
        else:
            number, _opener, body = stack.pop()
            stack[-1][2].append(_Cloze(number, tuple(body)))
    stack[-1][2].append(text[pos:])
    # A deletion never closed is text, as in Anki.
    while len(stack) > 1:
        _number, opener, body = stack.pop()
        stack[-1][2].append(opener)
        stack[-1][2].extend(body)
    return tuple(part for part in stack[0][2] if part != "")


def _split_hint(body: tuple[str | _Cloze, ...]) -> tuple[tuple[str | _Cloze, ...], str | None]:
    """Anki reads `::hint` from the deletion's last piece of text."""
    if body and isinstance(body[-1], str) and "::" in body[-1]:
        text, hint = body[-1].split("::", 1)
        return body[:-1] + ((text,) if text else ()), hint
    return body, None


def _render_cloze_parts(parts: tuple[str | _Cloze, ...], ordinal: int, question: bool) -> str:
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        body, hint = _split_hint(part.body)
        revealed = _render_cloze_parts(body, ordinal, question)
        if part.number != ordinal:
            out.append(f'<span class="cloze-inactive" data-ordinal="{part.number}">{revealed}</span>')
        elif question:
            hidden = f"[{hint if hint is not None else '...'}]"
            cloze = _attribute_escape(_render_cloze_parts(body, ordinal, question=False))
            out.append(
                f'<span class="cloze" data-cloze="{cloze}" data-ordinal="{part.number}">{hidden}</span>'
            )
        else:
            out.append(f'<span class="cloze" data-ordinal="{part.number}">{revealed}</span>')
    return "".join(out)


def render_cloze(text: str, ordinal: int, *, question: bool) -> str:
    """`{{cloze:Field}}`: deletion `ordinal` hidden (question) or revealed (answer)."""
    return _render_cloze_parts(_parse_clozes(text), ordinal, question)


def _attribute_escape(text: str) -> str:
    # As Anki's (Rust htmlescape's encode_attribute): ASCII letters and digits stay, the
    # four HTML specials are named, every other character is &#xHH;.
    named = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
    out = []
    for char in text:
        if char.isascii() and char.isalnum():
            out.append(char)
        elif char in named:
            out.append(named[char])
        else:
            out.append(f"&#x{ord(char):02X};")
    return "".join(out)


# -- the reviewer's part: type the answer ---------------------------------------------------

TYPE_ANSWER_BOX = '<input type="text" id="typeans" placeholder="type the answer" autocomplete="off">'


def _typed_answer_shown(expected_html: str) -> str:
    # What Anki shows on the back when nothing was typed: the expected answer, plain.
    expected = html.unescape(_HTML_TAG_RE.sub("", expected_html)).strip()
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
    values = spec.anki_fields(rendered.fields, rendered.card.id)
    return dict(zip(spec.fields, values, strict=True))


def note_cards(rendered: RenderedCard) -> list[PreviewCard]:
    """Every card Anki makes from one note, both sides rendered."""
    spec = NOTE_TYPES[rendered.card.type]
    fields = note_fields(spec, rendered)
    if spec.is_cloze:
        name, front, back = spec.templates[0]
        text = fields[_cloze_field(front)]
        faces = [(f"Cloze {n}", n, front, back) for n in cloze_numbers(text)]
    else:
        faces = [(name, i, front, back) for i, (name, front, back) in enumerate(spec.templates, start=1)]
    cards = []
    for name, ordinal, front, back in faces:
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


def _cloze_field(template: str) -> str:
    match = re.search(r"\{\{cloze:([^}]+)\}\}", template)
    if match is None:
        raise TemplateError("a cloze note type's front has no {{cloze:Field}}")
    return match.group(1).strip()


# -- the page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewPage:
    html: str
    media: tuple[MediaFile, ...]  # files the page shows, to be put beside it
    cards: tuple[PreviewCard, ...]


def _asset(name: str) -> str:
    return files("deckgen").joinpath(f"style/{name}").read_text(encoding="utf-8")


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


def preview_page(compiled: CompiledDeck) -> PreviewPage:
    """The preview page for a compiled deck: every card of every note, grouped by deck."""
    e = html.escape
    title = compiled.root_name()
    all_cards: list[PreviewCard] = []
    media: dict[str, MediaFile] = {}
    sections = []
    nav = []
    for topic in compiled.deck.topics:
        notes = [rc for rc in compiled.cards if rc.topic == topic.key]
        cards = [card for rc in notes for card in note_cards(rc)]
        for rc in notes:
            for item in rc.media:
                media.setdefault(item.name, item)
        all_cards.extend(cards)
        anchor = f"deck-{topic.key}"
        count = f"{len(notes)} notes, {len(cards)} cards"
        nav.append(f'<li><a href="#{e(anchor)}">{e(topic.title)}</a> <small>{count}</small></li>')
        sections.append(
            f'<section class="pv-deck" id="{e(anchor)}">\n'
            f"<h2>{e(topic.title)} <small>{e(compiled.deck_name(topic.key))} · {count}</small></h2>\n"
            + "\n".join(_card_html(card) for card in cards)
            + "\n</section>"
        )
    notes_total = len(compiled.cards)
    summary = f"{notes_total} notes, {len(all_cards)} cards"
    page = f"""<!doctype html>
<html lang="en" data-theme="auto">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{e(title)}: card preview</title>
<style>
{card_css()}
</style>
<style>
{_asset("preview.css")}
</style>
</head>
<body>
<header class="pv-bar">
<div class="pv-title"><h1>{e(title)}</h1>
<button type="button" id="pv-theme" title="Light, dark, or as the system says">Theme: auto</button></div>
<input type="search" id="pv-search" placeholder="Search cards, ids, tags" aria-label="Search cards">
<p class="pv-count" id="pv-count" data-total="{len(all_cards)}">{summary}</p>
</header>
<main>
<details class="pv-nav"><summary>Decks</summary><ul>{"".join(nav)}</ul></details>
<p class="pv-empty" id="pv-empty" hidden>No card matches.</p>
{chr(10).join(sections)}
</main>
<script>
{_asset("preview.js")}
</script>
</body>
</html>
"""
    return PreviewPage(page, tuple(media[name] for name in sorted(media)), tuple(all_cards))


# -- writing it -----------------------------------------------------------------------------

# Media names carry a content hash (render.py), so a stale copy is recognisable.
_MEDIA_NAME_RE = re.compile(r"-[0-9a-f]{12}\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class PreviewResult:
    path: Path  # the page
    notes: int
    cards: int
    warnings: list[Problem]


def write_preview(cards_dir: Path, out_dir: Path) -> PreviewResult:
    """Compile the cards and write `out_dir/preview/index.html` with its media beside it.

    Raises DeckError on bad input, before anything is written.
    """
    compiled = compile_deck(cards_dir)
    page = preview_page(compiled)
    folder = out_dir / PREVIEW_DIR
    folder.mkdir(parents=True, exist_ok=True)
    moves: list[tuple[Path, Path]] = []
    try:
        for item in page.media:
            final = folder / item.name
            remove_leftovers(final)
            temporary = temporary_path(final)
            moves.append((temporary, final))
            shutil.copyfile(item.source, temporary)
        final = folder / PAGE_FILE
        remove_leftovers(final)
        temporary = temporary_path(final)
        moves.append((temporary, final))
        temporary.write_text(page.html, encoding="utf-8")
    except BaseException:
        discard_files([temporary for temporary, _ in moves])
        raise
    commit_files(moves)
    keep = {item.name for item in page.media}
    for path in folder.iterdir():
        if path.is_file() and _MEDIA_NAME_RE.search(path.name) and path.name not in keep:
            path.unlink()
    return PreviewResult(folder / PAGE_FILE, len(compiled.cards), len(page.cards), compiled.warnings)
