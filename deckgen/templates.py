"""Anki's template language: what a card shows, and whether a template makes a card.

Beside the pipeline, used by its endings: the package step asks `makes_card` which
cards a note gets (through `notetypes.card_ordinals`), and the preview renders each
side with `render_template`. The rules follow Anki's own renderer (rslib
`template.rs`, `cloze.rs`); tests/test_preview.py compares the two card by card.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass

_FIELD_TAG_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
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


@functools.lru_cache(maxsize=256)  # a deck has a few templates, parsed for every note
def _parse(template: str) -> tuple[_Node, ...]:
    stack: list[tuple[str | None, bool, list[_Node]]] = [(None, False, [])]
    pos = 0
    for match in _FIELD_TAG_RE.finditer(template):
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
            value = strip_html(value)
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


def strip_html(value: str) -> str:
    """A field's text without tags, entities decoded: Anki's `text:` filter."""
    return html.unescape(_HTML_TAG_RE.sub("", value))


def _mentions_filled_field(nodes: tuple[_Node, ...], fields: dict[str, str]) -> bool:
    for node in nodes:
        if isinstance(node, str):
            continue
        if isinstance(node, _Section):
            filled = not field_is_empty(fields.get(node.field, ""))
            if filled != node.inverted and _mentions_filled_field(node.body, fields):
                return True
            continue
        name = node[0].split(":")[-1].strip()
        if name in fields and not field_is_empty(fields[name]):
            return True
    return False


def makes_card(question_template: str, fields: dict[str, str]) -> bool:
    """Whether a standard (not cloze) template gives a card for these field values.

    As Anki decides: a card is made when the question names at least one field that
    is not empty, outside any section whose condition is false.
    """
    return _mentions_filled_field(_parse(question_template), fields)


def cloze_fields(question_template: str) -> list[str]:
    """The fields a cloze template hides deletions of (`{{cloze:Text}}` gives Text)."""
    names = []
    for match in _FIELD_TAG_RE.finditer(question_template):
        *filters, name = match.group(1).split(":")
        if "cloze" in (f.strip() for f in filters):
            names.append(name.strip())
    return names


# Fields Anki fills in itself; a template may name them without the note type having them.
SPECIAL_FIELDS = frozenset({"FrontSide", "Tags", "Type", "Deck", "Subdeck", "Card", "CardFlag", "CardID"})


def fields_named(template: str) -> set[str]:
    """Every field a template shows or tests (`{{Front}}`, `{{cloze:Text}}`, `{{#Extra}}`)."""
    names = set()
    for match in _FIELD_TAG_RE.finditer(template):
        tag = match.group(1).strip()
        if tag[:1] in ("#", "^", "/"):
            tag = tag[1:]
        name = tag.split(":")[-1].strip()
        if name and name not in SPECIAL_FIELDS:
            names.add(name)
    return names
