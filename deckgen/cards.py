"""The typed cards, topics and deck that validation produces and later steps consume."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import Location
from .records import sent_between_processes


@sent_between_processes
@dataclass(frozen=True, slots=True)
class Card:
    id: str
    type: str
    fields: dict[str, str]  # YAML key -> Markdown source, only the keys the card has
    field_locations: dict[str, Location]
    tags: tuple[str, ...]
    location: Location  # where the card starts (its `- id:` line)
    allow: tuple[str, ...] = ()  # quality warnings silenced for this card (schema.WARNING_NAMES)
    guid: str = ""  # an adopted note's own GUID ("": derived from the namespace and the id)
    html: bool = False  # fields are HTML as written (`format: html`), not Markdown
    type_at: Location | None = None  # where `type:` is written

    @property
    def custom(self) -> bool:
        """A card of a note type the deck declares (its fields are given by Anki name)."""
        return self.type not in BUILT_IN_TYPES


# The card types deckgen brings (notetypes.py); any other type is a deck's own note type.
BUILT_IN_TYPES = ("basic", "reversed", "cloze", "type-in")


@dataclass(frozen=True)
class NoteTypeDecl:
    """A note type a deck declares in deck.yaml (`note_types:`): its own, or an adopted one."""

    key: str  # what its cards give as `type:`
    name: str  # its name in Anki
    id: int  # its Anki id (0: derived from the namespace and the key)
    cloze: bool
    fields: tuple[str, ...]
    templates: tuple[tuple[str, str, str], ...]  # (name, front, back), the templates' text
    css: str
    location: Location


@dataclass(frozen=True)
class Retirement:
    """Why a removed card was retired, as its topic file says (`retired:`)."""

    id: str
    reason: str
    replaced_by: str  # the id of the card that replaces it, or ""
    location: Location


@dataclass(frozen=True)
class Topic:
    key: str  # file stem, e.g. "scaling"; names its package
    title: str  # the subdeck title
    path: Path
    display: str  # path as shown in messages
    tags: tuple[str, ...]
    cards: tuple[Card, ...]
    title_at: Location | None = None  # where `deck:` is written
    retired: tuple[Retirement, ...] = ()
    html: bool = False  # `format: html`: the cards' fields are HTML, not Markdown

    @property
    def slug(self) -> str:
        return topic_slug(self.key)


def topic_slug(key: str) -> str:
    """A topic key as one word: the end of its package's file name ("ecs/extra" -> "ecs-extra")."""
    return key.replace("/", "-")


@dataclass(frozen=True)
class DeckConfig:
    title: str  # root deck name
    namespace: str
    version: str
    description: str
    topic_order: tuple[str, ...]
    path: Path | None  # None when the config comes from defaults
    namespace_at: Location | None = None  # where `namespace:` is written
    # deck.yaml `html: {allow: [...]}`: what fields may hold beyond html_policy's
    # allowlist, each entry stripped and lower-case (html_policy.allow_problem checks them).
    html_allow: frozenset[str] = frozenset()
    number_topics: bool = True  # subdeck titles start with their place in the learning order
    note_types: tuple[NoteTypeDecl, ...] = ()  # the deck's own note types (`note_types:`)


@dataclass(frozen=True)
class Deck:
    """Everything under cards/: the config and its topics in learning order."""

    config: DeckConfig
    topics: tuple[Topic, ...]
    cards_dir: Path

    @property
    def cards(self) -> list[tuple[Topic, Card]]:
        return [(topic, card) for topic in self.topics for card in topic.cards]
