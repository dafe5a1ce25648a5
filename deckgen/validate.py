"""Step 2 of the pipeline: YAML nodes -> typed cards, or located problems.

Every rule here comes from `schema.py`. Validation never stops at the first problem:
it reports all it finds in all files, each at the line and column it concerns.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from . import schema
from .cards import Card, Deck, Retirement, Topic
from .config import check_cards_of_own_types, default_config, read_config
from .errors import Location, Problems, display_path
from .load import Source, read_source
from .nodes import (
    Entry,
    check_keys,
    read_checked_list,
    read_list,
    read_mapping,
    read_tags,
    read_text,
    suggest,
)

# Reads one topic file: (topic key, path, problems) -> the topic, or None if unusable.
TopicReader = Callable[[str, Path, Problems], "Topic | None"]


def read_deck(cards_dir: Path, problems: Problems, read_topic: TopicReader | None = None) -> Deck:
    """Read the deck config and every topic file under `cards_dir`.

    Problems are appended to `problems`; the Deck holds whatever was valid. Each topic
    file is read by `read_topic` (default `read_topic_file`); a build passes one that
    reuses what it read from a file before, while the file is unchanged (cache.py).
    """
    config_path = cards_dir / schema.CONFIG_FILE
    if not cards_dir.is_dir():
        problems.error(Location(display_path(cards_dir)), "cards folder not found")
        return Deck(default_config(cards_dir), (), cards_dir)
    if config_path.is_file():
        config = read_config(config_path, problems)
    else:
        problems.error(
            Location(display_path(config_path)),
            "deck config not found: create it with at least `deck:` (the root deck name) "
            "and `namespace:` (a stable prefix for note identity)",
        )
        config = default_config(cards_dir)

    topic_files: dict[str, Path] = {}
    for path in sorted(cards_dir.rglob("*.y*ml")):
        relative = path.relative_to(cards_dir)
        if path == config_path or any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix not in (".yaml", ".yml") or path.is_dir():
            continue  # anything else (a dangling link, a pipe) is for read_source to explain
        key = relative.with_suffix("").as_posix()
        if key in topic_files:
            problems.error(
                Location(display_path(path)),
                f"{display_path(topic_files[key])} and this file are the same topic {key!r}; "
                "keep one of them (rename or merge the other)",
            )
            continue
        topic_files[key] = path

    ordered = [key for key in config.topic_order if key in topic_files]
    ordered += sorted(key for key in topic_files if key not in config.topic_order)
    topics = []
    for key in ordered:
        topic = (read_topic or read_topic_file)(key, topic_files[key], problems)
        if topic is not None:
            topics.append(topic)
    deck = Deck(config, tuple(topics), cards_dir)
    _check_unique_topics(deck, problems)
    _check_unique_ids(deck, problems)
    _check_retirements(deck, problems)
    check_cards_of_own_types(deck, problems)
    if not topic_files:
        problems.error(Location(display_path(cards_dir)), "no topic files (*.yaml) found")
    return deck


# -- topic files ---------------------------------------------------------------------


def read_topic_file(key: str, path: Path, problems: Problems) -> Topic | None:
    display = display_path(path)
    source = read_source(path, display, problems)
    if source is None:
        return None
    if source.root is None:
        problems.error(Location(display, 1, 1), "file is empty; a topic needs `deck:` and `cards:`")
        return None
    entries = read_mapping(source, source.root, "a topic file", problems)
    if entries is None:
        return None
    check_keys(source, entries, schema.TOPIC_KEYS, "a topic file", problems)
    title = read_text(source, entries["deck"], "deck", problems) if "deck" in entries else None
    tags = read_tags(source, entries.get("tags"), problems)
    html = _format_is_html(source, entries.get("format"), False, problems)
    cards = []
    if "cards" in entries:
        items = read_list(source, entries["cards"][1], "cards", problems)
        if items is not None and not items:
            problems.error(source.at(entries["cards"][1]), "`cards` is empty")
        for item in items or []:
            card = _read_card(source, item, html, problems)
            if card is not None:
                cards.append(card)
    title_at = source.at(entries["deck"][1]) if "deck" in entries else None
    retired = _retirements(source, entries.get("retired"), problems)
    return Topic(key, title or key, path, display, tuple(tags), tuple(cards), title_at, retired, html)


def _format_is_html(source: Source, entry: Entry | None, default: bool, problems: Problems) -> bool:
    """`format: html` (the fields are HTML as written) or `format: markdown`."""
    value = read_text(source, entry, "format", problems) if entry is not None else None
    message = schema.CARD_KEYS["format"].problem(value) if value is not None else None
    if message:
        problems.error(source.at(entry[1]), message)  # type: ignore[index]
    return default if value is None or message else value == "html"


def _retirements(source: Source, entry: Entry | None, problems: Problems) -> tuple[Retirement, ...]:
    """The topic's `retired:` list: each entry an id, a reason and maybe a replacement."""
    if entry is None:
        return ()
    out = []
    for item in read_list(source, entry[1], "retired", problems) or []:
        fields = read_mapping(source, item, "a `retired:` entry", problems)
        if fields is None:
            continue
        before = len(problems.errors)
        check_keys(source, fields, schema.RETIRED_KEYS, "a `retired:` entry", problems, at=item)
        values = {
            key: read_text(source, fields[key], key, problems) for key in schema.RETIRED_KEYS if key in fields
        }
        for key in ("id", "replaced_by"):
            message = schema.CARD_KEYS["id"].problem(values[key]) if values.get(key) else None
            if message:
                problems.error(source.at(fields[key][1]), message)
        if len(problems.errors) == before:
            out.append(
                Retirement(
                    values["id"] or "",
                    values["reason"] or "",
                    values.get("replaced_by") or "",
                    source.at(item),
                )
            )
    return tuple(out)


def _read_card(source: Source, node: yaml.Node, topic_html: bool, problems: Problems) -> Card | None:
    """A card, checked key by key against schema.py's KeySpecs; None if anything is wrong."""
    entries = read_mapping(source, node, "a card", problems)
    if entries is None:
        return None
    where = source.at(node)
    before = len(problems.errors)
    values: dict[str, str] = {}
    locations: dict[str, Location] = {}
    for key, entry in entries.items():
        spec = schema.CARD_KEYS.get(key) or schema.FIELDS.get(key)
        if spec is None:
            problems.error(source.at(entry[0]), f"unknown key {key!r}{suggest(key, schema.ALL_CARD_KEYS)}")
        elif spec.kind == "text" and key != "format":
            value = read_text(source, entry, key, problems)
            message = spec.problem(value) if value is not None else None
            if message:
                problems.error(source.at(entry[1]), message)
            elif value is not None:
                values[key], locations[key] = value, source.at(entry[1])
    tags = read_tags(source, entries.get("tags"), problems)
    allow = read_checked_list(source, entries.get("allow"), schema.CARD_KEYS["allow"], problems)
    html = _format_is_html(source, entries.get("format"), topic_html, problems)
    card_id = values.pop("id", None)
    card_type = values.pop("type", schema.DEFAULT_TYPE)
    guid = values.pop("guid", "")
    if "type" in entries and "type" not in locations:
        return None  # a type that is not even a slug: which fields belong is anyone's guess
    if card_type in schema.CARD_TYPES:
        fields = {key: value for key, value in values.items() if key in schema.FIELDS}
        field_locations = {key: locations[key] for key in fields}
        _check_fields(source, entries, card_id, card_type, problems, where)
    else:  # a note type of the deck's own: fields by name (checked against it in read_deck)
        fields, field_locations = _named_fields(source, entries, card_id, problems, where)
    if card_id is None or len(problems.errors) > before:
        return None
    allowed = tuple(dict.fromkeys(allow))
    return Card(
        card_id,
        card_type,
        fields,
        field_locations,
        tuple(tags),
        where,
        allowed,
        guid,
        html,
        locations.get("type"),
    )


def _named_fields(
    source: Source, entries: dict[str, Entry], card_id: str | None, problems: Problems, where: Location
) -> tuple[dict[str, str], dict[str, Location]]:
    """The fields of a card whose type is not built in: `fields:` (Anki field name -> text).
    Whether the deck declares that type, and has those fields, read_deck checks."""
    if "id" not in entries:
        problems.error(where, "card has no `id` (a stable slug such as `ecs-task-role`)")
    if "fields" in entries:
        given = read_mapping(source, entries["fields"][1], "`fields`", problems) or {}
    else:  # `front:` and the like: named as they are, for read_deck's message
        given = {key: entry for key, entry in entries.items() if key in schema.FIELDS}
    fields, locations = {}, {}
    for name, entry in given.items():
        value = read_text(source, entry, name, problems, empty_ok=True)
        if value is not None:
            fields[name], locations[name] = value, source.at(entry[1])
    return fields, locations


def _check_fields(
    source: Source, entries: dict[str, Entry], card_id: str | None, card_type: str, problems: Problems, where
) -> None:
    """What spans keys: the card has an id, and its type's fields, and no others."""
    spec = schema.CARD_TYPES[card_type]
    if "fields" in entries:
        problems.error(
            source.at(entries["fields"][0]),
            f"`fields:` is for cards of the deck's own note types; a {card_type} card has "
            f"{', '.join(spec.fields)}",
        )
    if "id" not in entries:
        problems.error(where, "card has no `id` (a stable slug such as `ecs-task-role`)")
    for key, (key_node, _value) in entries.items():
        if key in schema.FIELDS and key not in spec.fields:
            problems.error(
                source.at(key_node),
                f"field {key!r} does not belong to a {card_type} card "
                f"({card_type} cards have {', '.join(spec.fields)})",
            )
    for key in spec.required:
        if key not in entries:
            named = f" {card_id!r}" if card_id else ""
            problems.error(where, f"{card_type} card{named} is missing {key!r}")


def _check_unique_topics(deck: Deck, problems: Problems) -> None:
    """Two topics may not share a package name, nor a subdeck title (Anki would rename
    one of them to "Title_" and learners would get two decks)."""
    slugs: dict[str, Topic] = {}
    titles: dict[str, Topic] = {}
    for topic in deck.topics:
        if topic.slug == schema.RETIRED_TOPIC:
            problems.error(
                Location(topic.display, 1, 1),
                f"a topic may not be called {schema.RETIRED_TOPIC!r}: the retired-cards package "
                f"is '{deck.config.namespace}-{schema.RETIRED_TOPIC}.apkg'; rename the file",
            )
        other = slugs.setdefault(topic.slug, topic)
        if other is not topic:
            problems.error(
                Location(topic.display, 1, 1),
                f"{other.display} and {topic.display} would both be written to the package "
                f"'{deck.config.namespace}-{topic.slug}.apkg'; rename one of the files",
            )
        other = titles.setdefault(topic.title, topic)
        if other is not topic:
            problems.error(
                topic.title_at or Location(topic.display, 1, 1),
                f"subdeck title {topic.title!r} is also the title of {other.display}; "
                "give each topic its own `deck:` title",
            )


def _check_retirements(deck: Deck, problems: Problems) -> None:
    """A retired card is not a card of the deck, is retired once, and is replaced by a card that is."""
    live = {card.id for _topic, card in deck.cards}
    seen: dict[str, Location] = {}
    for topic in deck.topics:
        for entry in topic.retired:
            if entry.id in live:
                problems.error(
                    entry.location,
                    f"card {entry.id!r} is retired here but still in the deck; remove the card, "
                    "or this entry",
                )
            if entry.id in seen:
                problems.error(
                    entry.location, f"card {entry.id!r} is retired twice (also at {seen[entry.id]})"
                )
            seen.setdefault(entry.id, entry.location)
            if entry.replaced_by and entry.replaced_by not in live:
                problems.error(
                    entry.location,
                    f"{entry.id!r} is replaced by {entry.replaced_by!r}, which is not a card of the deck",
                )


def _check_unique_ids(deck: Deck, problems: Problems) -> None:
    first_seen: dict[str, Location] = {}
    for _topic, card in deck.cards:
        first = first_seen.get(card.id)
        if first is None:
            first_seen[card.id] = card.location
        else:
            problems.error(
                card.location,
                f"duplicate card id {card.id!r}: also used at {first}; each card needs its own id",
            )
