"""deckgen's note types, defined once: one per card type.

A note type's field list is part of its identity in Anki: notes of a note type that
gained or lost a field under the same id stop updating on import (see
../shared/ANKI-IMPORT.md). `identity.py` records each field list in the lock and
refuses a change, so edit the fields here only with that in mind.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files

from pygments.formatters import HtmlFormatter

from .cards import NoteTypeDecl
from .schema import cloze_numbers
from .templates import cloze_fields, field_is_empty, makes_card


@dataclass(frozen=True)
class NoteTypeSpec:
    key: str  # the card type it serves; part of the note type's id
    label: str
    fields: tuple[str, ...]  # Anki field names, in order
    templates: tuple[tuple[str, str, str], ...]  # (name, question, answer)
    is_cloze: bool = False
    # A deck's own note type (deck.yaml `note_types:`): its name in Anki, its CSS, and
    # the Anki id an adopted one keeps (0: derived from the namespace and the key).
    own: bool = False
    name: str = ""
    css: str = ""
    id: int = 0

    def anki_fields(self, yaml_fields: dict[str, str], card_id: str) -> list[str]:
        """The note's field values in this note type's order: a built-in type's from its
        card's keys ("ID" is the card id), a deck's own type's by field name."""
        if self.own:
            return [yaml_fields.get(name, "") for name in self.fields]
        values = []
        for name in self.fields:
            values.append(card_id if name == "ID" else yaml_fields.get(name.lower(), ""))
        return values

    def anki_name(self, namespace: str) -> str:
        return self.name if self.own else f"deckgen {self.label} ({namespace})"

    def style(self) -> str:
        return self.css if self.own else card_css()

    def card_ordinals(self, values: list[str]) -> list[int]:
        """Which cards Anki makes from a note with these field values (in `fields` order):
        each card's template ordinal (from 0), or for a cloze note type each deletion's
        number less one. The one answer that packages, the preview and the manifest use.
        """
        if self.is_cloze:
            by_name = dict(zip(self.fields, values, strict=True))
            question = self.templates[0][1]
            numbers = {n for name in cloze_fields(question) for n in cloze_numbers(by_name.get(name, ""))}
            return [number - 1 for number in sorted(numbers)]
        filled = tuple(not field_is_empty(value) for value in values)
        return list(_standard_ordinals(self.templates, self.fields, filled))


@lru_cache(maxsize=4096)
def _standard_ordinals(
    templates: tuple[tuple[str, str, str], ...], fields: tuple[str, ...], filled: tuple[bool, ...]
) -> tuple[int, ...]:
    """The cards of a standard note type's note, given which of its fields are filled:
    all that Anki looks at (templates.makes_card), so asked once per note type and
    pattern of empty fields rather than once per note."""
    by_name = {name: "filled" if full else "" for name, full in zip(fields, filled, strict=True)}
    return tuple(index for index, (_n, question, _a) in enumerate(templates) if makes_card(question, by_name))


_EXTRA = '{{#Extra}}<div class="extra">{{Extra}}</div>{{/Extra}}'

NOTE_TYPES = {
    spec.key: spec
    for spec in (
        NoteTypeSpec(
            "basic",
            "Basic",
            ("Front", "Back", "Extra", "ID"),
            (
                (
                    "Card 1",
                    '<div class="front">{{Front}}</div>',
                    '<div class="front">{{Front}}</div>\n<hr id="answer">\n'
                    f'<div class="back">{{{{Back}}}}</div>\n{_EXTRA}',
                ),
            ),
        ),
        NoteTypeSpec(
            "reversed",
            "Basic and reversed",
            ("Front", "Back", "ID"),
            (
                (
                    "Front to back",
                    '<div class="front">{{Front}}</div>',
                    '<div class="front">{{Front}}</div>\n<hr id="answer">\n<div class="back">{{Back}}</div>',
                ),
                (
                    "Back to front",
                    '<div class="front">{{Back}}</div>',
                    '<div class="front">{{Back}}</div>\n<hr id="answer">\n<div class="back">{{Front}}</div>',
                ),
            ),
        ),
        NoteTypeSpec(
            "cloze",
            "Cloze",
            ("Text", "Extra", "ID"),
            (
                (
                    "Cloze",
                    '<div class="front cloze-text">{{cloze:Text}}</div>',
                    f'<div class="front cloze-text">{{{{cloze:Text}}}}</div>\n{_EXTRA}',
                ),
            ),
            is_cloze=True,
        ),
        NoteTypeSpec(
            "type-in",
            "Type the answer",
            ("Front", "Back", "ID"),
            (
                (
                    "Card 1",
                    '<div class="front">{{Front}}</div>\n<div class="type-answer">{{type:Back}}</div>',
                    '<div class="front">{{Front}}</div>\n<hr id="answer">\n'
                    '<div class="type-answer">{{type:Back}}</div>',
                ),
            ),
        ),
    )
}


# Code colours, chosen for contrast: every token of "default" on its #f8f8f8 and of
# "github-dark" on its #0d1117 reaches WCAG AA (4.5:1); tests/test_browser_preview.py
# measures it in a real browser.
CODE_STYLE_LIGHT = "default"
CODE_STYLE_NIGHT = "github-dark"
_NIGHT_SCOPES = [".night_mode .highlight", ".nightMode .highlight"]

# Night mode would otherwise inherit the light style's colours and weights for every
# token the night style leaves alone (dark blue on near-black). This reset sits between
# them by specificity: `.night_mode .highlight span` (0,2,1) beats the light
# `.highlight .k` (0,2,0) and loses to the night `.night_mode .highlight .k` (0,3,0).
_NIGHT_RESET = (
    ".night_mode .highlight span, .nightMode .highlight span "
    "{ color: inherit; background-color: transparent; font-weight: inherit; font-style: inherit; border: 0; }"
)


def _code_css(style: str, scopes: list[str]) -> str:
    # Only the scoped rules: get_style_defs() would add global `pre` and line-number rules.
    formatter = HtmlFormatter(style=style)
    rules = formatter.get_background_style_defs(scopes) + formatter.get_token_style_defs(scopes)
    return "\n".join(rules)


@cache
def card_css() -> str:
    """The CSS shared by every note type: deckgen's style plus Pygments' code colours."""
    base = files("deckgen").joinpath("style/card.css").read_text(encoding="utf-8")
    light = _code_css(CODE_STYLE_LIGHT, [".highlight"])
    night = _code_css(CODE_STYLE_NIGHT, _NIGHT_SCOPES)
    return f"{base}\n/* code, light */\n{light}\n/* code, night mode */\n{_NIGHT_RESET}\n{night}\n"


def cards_per_note(spec: NoteTypeSpec, yaml_fields: dict[str, str]) -> int:
    """How many cards Anki makes from one note (of its card's YAML fields)."""
    return len(spec.card_ordinals(spec.anki_fields(yaml_fields, "")))


def note_types_for(declared: tuple[NoteTypeDecl, ...]) -> dict[str, NoteTypeSpec]:
    """The note types a deck's cards may use: the built-in ones and its own."""
    own = {
        d.key: NoteTypeSpec(d.key, d.name, d.fields, d.templates, d.cloze, True, d.name, d.css, d.id)
        for d in declared
    }
    return NOTE_TYPES | own
