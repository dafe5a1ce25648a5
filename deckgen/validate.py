"""Step 2 of the pipeline: YAML nodes -> typed cards, or located problems.

Every rule here comes from `schema.py`. Validation never stops at the first problem:
it reports all it finds in all files, each at the line and column it concerns.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import yaml

from . import html_policy, schema
from .cards import Card, Deck, DeckConfig, Retirement, Topic
from .errors import Location, Problems, display_path
from .load import NULL, STR, Source, read_source

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
        return Deck(_default_config(cards_dir), (), cards_dir)
    if config_path.is_file():
        config = _read_config(config_path, problems)
    else:
        problems.error(
            Location(display_path(config_path)),
            "deck config not found: create it with at least `deck:` (the root deck name) "
            "and `namespace:` (a stable prefix for note identity)",
        )
        config = _default_config(cards_dir)

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
    if not topic_files:
        problems.error(Location(display_path(cards_dir)), "no topic files (*.yaml) found")
    return deck


def _default_config(cards_dir: Path) -> DeckConfig:
    return DeckConfig(cards_dir.resolve().name or "Deck", "deck", "", "", (), None)


# -- deck config ---------------------------------------------------------------------


def _read_config(path: Path, problems: Problems) -> DeckConfig:
    display = display_path(path)
    fallback = DeckConfig("Deck", "deck", "", "", (), path)
    source = read_source(path, display, problems)
    if source is None:
        return fallback
    entries = _mapping(source, source.root, "the deck config", problems)
    if entries is None:
        return fallback
    _check_keys(source, entries, schema.CONFIG_KEYS, "the deck config", problems)
    values = {}
    for key in ("deck", "namespace", "version", "description"):
        if key in entries:
            values[key] = _text(source, entries[key], key, problems) or ""
    namespace = values.get("namespace", "")
    if "namespace" in entries and namespace and not schema.NAMESPACE_RE.match(namespace):
        problems.error(
            source.at(entries["namespace"][1]),
            f"namespace {namespace!r} must be lowercase letters, digits and '-'",
        )
    topic_order: list[str] = []
    if "topics" in entries:
        items = _sequence(source, entries["topics"][1], "topics", problems) or []
        for item in items:
            name = _text(source, (item, item), "topics", problems)
            if name is None:
                continue
            name = name.removesuffix(".yaml").removesuffix(".yml")
            if name in topic_order:
                problems.error(source.at(item), f"topic {name!r} is listed twice")
            elif not (path.parent / f"{name}.yaml").is_file() and not (path.parent / f"{name}.yml").is_file():
                problems.error(source.at(item), f"topic {name!r}: no file {name}.yaml beside the config")
            topic_order.append(name)
    html_allow = _html_allow(source, entries.get("html"), problems)
    number_topics = _flag(source, entries.get("number_topics"), "number_topics", problems, default=True)
    return DeckConfig(
        title=values.get("deck", "Deck"),
        namespace=namespace or "deck",
        version=values.get("version", ""),
        description=values.get("description", ""),
        topic_order=tuple(topic_order),
        path=path,
        namespace_at=source.at(entries["namespace"][1]) if "namespace" in entries else None,
        html_allow=html_allow,
        number_topics=number_topics,
    )


def _flag(source: Source, entry: Entry | None, key: str, problems: Problems, *, default: bool) -> bool:
    """A `true` or `false` value."""
    if entry is None:
        return default
    value = _text(source, entry, key, problems)
    if value is not None and value.lower() not in ("true", "false"):
        problems.error(source.at(entry[1]), f"{key!r} is true or false, not {value!r}")
    return default if value is None else value.lower() == "true"


def _html_allow(source: Source, entry: Entry | None, problems: Problems) -> frozenset[str]:
    """deck.yaml's `html: {allow: [...]}`: what the deck's fields may hold beyond the
    allowlist, each entry a tag name or a named opt-in (html_policy.allow_problem)."""
    if entry is None:
        return frozenset()
    fields = _mapping(source, entry[1], "`html`", problems)
    if fields is None:
        return frozenset()
    _check_keys(source, fields, {"allow": (False, "")}, "`html`", problems)
    if "allow" not in fields:
        return frozenset()
    allowed = _checked_texts(source, fields["allow"][1], "allow", html_policy.allow_problem, problems)
    return frozenset(name.strip().lower() for name in allowed)


# -- topic files ---------------------------------------------------------------------


def read_topic_file(key: str, path: Path, problems: Problems) -> Topic | None:
    display = display_path(path)
    source = read_source(path, display, problems)
    if source is None:
        return None
    if source.root is None:
        problems.error(Location(display, 1, 1), "file is empty; a topic needs `deck:` and `cards:`")
        return None
    entries = _mapping(source, source.root, "a topic file", problems)
    if entries is None:
        return None
    _check_keys(source, entries, schema.TOPIC_KEYS, "a topic file", problems)
    title = _text(source, entries["deck"], "deck", problems) if "deck" in entries else None
    tags = _tags(source, entries.get("tags"), problems)
    cards = []
    if "cards" in entries:
        items = _sequence(source, entries["cards"][1], "cards", problems)
        if items is not None and not items:
            problems.error(source.at(entries["cards"][1]), "`cards` is empty")
        for item in items or []:
            card = _read_card(source, item, problems)
            if card is not None:
                cards.append(card)
    title_at = source.at(entries["deck"][1]) if "deck" in entries else None
    retired = _retirements(source, entries.get("retired"), problems)
    return Topic(key, title or key, path, display, tuple(tags), tuple(cards), title_at, retired)


def _retirements(source: Source, entry: Entry | None, problems: Problems) -> tuple[Retirement, ...]:
    """The topic's `retired:` list: each entry an id, a reason and maybe a replacement."""
    if entry is None:
        return ()
    out = []
    for item in _sequence(source, entry[1], "retired", problems) or []:
        fields = _mapping(source, item, "a `retired:` entry", problems)
        if fields is None:
            continue
        before = len(problems.errors)
        _check_keys(source, fields, schema.RETIRED_KEYS, "a `retired:` entry", problems, at=item)
        values = {
            key: _text(source, fields[key], key, problems) for key in schema.RETIRED_KEYS if key in fields
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


def _read_card(source: Source, node: yaml.Node, problems: Problems) -> Card | None:
    """A card, checked key by key against schema.py's KeySpecs; None if anything is wrong."""
    entries = _mapping(source, node, "a card", problems)
    if entries is None:
        return None
    where = source.at(node)
    before = len(problems.errors)
    values: dict[str, str] = {}
    locations: dict[str, Location] = {}
    for key, entry in entries.items():
        spec = schema.CARD_KEYS.get(key) or schema.FIELDS.get(key)
        if spec is None:
            problems.error(source.at(entry[0]), f"unknown key {key!r}{_suggest(key, schema.ALL_CARD_KEYS)}")
        elif spec.kind == "text":
            value = _text(source, entry, key, problems)
            message = spec.problem(value) if value is not None else None
            if message:
                problems.error(source.at(entry[1]), message)
            elif value is not None:
                values[key], locations[key] = value, source.at(entry[1])
    tags = _tags(source, entries.get("tags"), problems)
    allow = _checked_list(source, entries.get("allow"), schema.CARD_KEYS["allow"], problems)
    card_id = values.pop("id", None)
    card_type = values.pop("type", schema.DEFAULT_TYPE)
    if "type" in entries and "type" not in locations:
        return None  # an unknown type: which fields belong is anyone's guess
    fields = {key: value for key, value in values.items() if key in schema.FIELDS}
    _check_fields(source, entries, card_id, card_type, problems, where)
    if card_id is None or len(problems.errors) > before:
        return None
    field_locations = {key: locations[key] for key in fields}
    return Card(card_id, card_type, fields, field_locations, tuple(tags), where, tuple(dict.fromkeys(allow)))


def _check_fields(
    source: Source, entries: dict[str, Entry], card_id: str | None, card_type: str, problems: Problems, where
) -> None:
    """What spans keys: the card has an id, and its type's fields, and no others."""
    spec = schema.CARD_TYPES[card_type]
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


# -- node helpers --------------------------------------------------------------------

Entry = tuple[yaml.Node, yaml.Node]  # (key node, value node)


def _mapping(source: Source, node: yaml.Node, what: str, problems: Problems) -> dict[str, Entry] | None:
    if not isinstance(node, yaml.MappingNode):
        problems.error(source.at(node), f"{what} must be a mapping of `key: value`, not {_kind(node)}")
        return None
    entries: dict[str, Entry] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            problems.error(source.at(key_node), "keys must be plain words")
            continue
        entries.setdefault(key_node.value, (key_node, value_node))
    return entries


def _sequence(source: Source, node: yaml.Node, key: str, problems: Problems) -> list[yaml.Node] | None:
    if not isinstance(node, yaml.SequenceNode):
        problems.error(source.at(node), f"{key!r} must be a list, not {_kind(node)}")
        return None
    return list(node.value)


def _text(source: Source, entry: Entry, key: str, problems: Problems) -> str | None:
    """A scalar's text as written: `back: 443` is the text "443", not a number."""
    _key_node, node = entry
    if not isinstance(node, yaml.ScalarNode):
        problems.error(source.at(node), f"{key!r} must be text, not {_kind(node)}")
        return None
    if node.tag == NULL and not node.style:
        problems.error(source.at(node), f"{key!r} is empty")
        return None
    value = node.value if node.tag == STR else node.value.strip()
    if not value.strip():
        problems.error(source.at(node), f"{key!r} is empty")
        return None
    return value


def _checked_list(source: Source, entry: Entry | None, spec: schema.KeySpec, problems: Problems) -> list[str]:
    """A card key whose value is a list of text (`allow:`), each item checked by its KeySpec."""
    if entry is None:
        return []
    values = []
    for item in _sequence(source, entry[1], spec.key, problems) or []:
        value = _text(source, (item, item), spec.key, problems)
        message = spec.problem(value) if value is not None else None
        if message:
            problems.error(source.at(item), message)
        elif value is not None:
            values.append(value)
    return values


def _tags(source: Source, entry: Entry | None, problems: Problems) -> list[str]:
    if entry is None:
        return []
    return _checked_texts(source, entry[1], "tags", schema.check_tag, problems)


def _checked_texts(
    source: Source, node: yaml.Node, key: str, check: schema.Check, problems: Problems
) -> list[str]:
    """A list of texts, each checked by `check`; those it finds wrong are reported and left out."""
    texts = []
    for item in _sequence(source, node, key, problems) or []:
        text = _text(source, (item, item), key, problems)
        if text is None:
            continue
        message = check(text)
        if message:
            problems.error(source.at(item), message)
            continue
        texts.append(text)
    return texts


def _check_keys(
    source: Source, entries: dict[str, Entry], spec: dict, what: str, problems: Problems, at=None
) -> None:
    for key, (key_node, _value) in entries.items():
        if key not in spec:
            problems.error(source.at(key_node), f"unknown key {key!r} in {what}{_suggest(key, spec)}")
    for key, (required, _description) in spec.items():
        if required and key not in entries:
            problems.error(source.at(at if at is not None else source.root), f"{what} needs `{key}:`")


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a single value"
