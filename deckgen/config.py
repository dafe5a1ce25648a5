"""Step 2 for cards/deck.yaml: the deck config, checked, as a DeckConfig.

The root deck's title, the identity namespace, the learning order of the topics, the
HTML opt-ins, and the deck's own note types (`note_types:`, note_types_config.py).
"""

from __future__ import annotations

from pathlib import Path

from . import html_policy, schema
from .cards import BUILT_IN_TYPES, Deck, DeckConfig, NoteTypeDecl
from .errors import Location, Problems, display_path
from .load import Source, read_source
from .nodes import Entry, check_keys, read_checked_texts, read_list, read_mapping, read_text, suggest
from .templates import cloze_fields, fields_named


def default_config(cards_dir: Path) -> DeckConfig:
    return DeckConfig(cards_dir.resolve().name or "Deck", "deck", "", "", (), None)


def read_config(path: Path, problems: Problems) -> DeckConfig:
    display = display_path(path)
    fallback = DeckConfig("Deck", "deck", "", "", (), path)
    source = read_source(path, display, problems)
    if source is None:
        return fallback
    entries = read_mapping(source, source.root, "the deck config", problems)
    if entries is None:
        return fallback
    check_keys(source, entries, schema.CONFIG_KEYS, "the deck config", problems)
    values = {}
    for key in ("deck", "namespace", "version", "description"):
        if key in entries:
            values[key] = read_text(source, entries[key], key, problems) or ""
    namespace = values.get("namespace", "")
    if "namespace" in entries and namespace and not schema.NAMESPACE_RE.match(namespace):
        problems.error(
            source.at(entries["namespace"][1]),
            f"namespace {namespace!r} must be lowercase letters, digits and '-'",
        )
    topic_order: list[str] = []
    if "topics" in entries:
        items = read_list(source, entries["topics"][1], "topics", problems) or []
        for item in items:
            name = read_text(source, (item, item), "topics", problems)
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
        note_types=read_note_types(source, entries.get("note_types"), problems),
    )


def _flag(source: Source, entry: Entry | None, key: str, problems: Problems, *, default: bool) -> bool:
    """A `true` or `false` value."""
    if entry is None:
        return default
    value = read_text(source, entry, key, problems)
    if value is not None and value.lower() not in ("true", "false"):
        problems.error(source.at(entry[1]), f"{key!r} is true or false, not {value!r}")
    return default if value is None else value.lower() == "true"


def _html_allow(source: Source, entry: Entry | None, problems: Problems) -> frozenset[str]:
    """deck.yaml's `html: {allow: [...]}`: what the deck's fields may hold beyond the
    allowlist, each entry a tag name or a named opt-in (html_policy.allow_problem)."""
    if entry is None:
        return frozenset()
    fields = read_mapping(source, entry[1], "`html`", problems)
    if fields is None:
        return frozenset()
    check_keys(source, fields, {"allow": (False, "")}, "`html`", problems)
    if "allow" not in fields:
        return frozenset()
    allowed = read_checked_texts(source, fields["allow"][1], "allow", html_policy.allow_problem, problems)
    return frozenset(name.strip().lower() for name in allowed)


# -- the deck's own note types -------------------------------------------------------------

_NOTE_TYPE_KEYS = {
    "key": (True, ""),
    "name": (True, ""),
    "id": (False, ""),
    "kind": (False, ""),
    "fields": (True, ""),
    "templates": (True, ""),
    "css": (False, ""),
}
_TEMPLATE_KEYS = {"name": (True, ""), "front": (True, ""), "back": (True, "")}


def read_note_types(source: Source, entry: Entry | None, problems: Problems) -> tuple[NoteTypeDecl, ...]:
    """deck.yaml's `note_types:`, each with its templates and CSS read from their files."""
    if entry is None:
        return ()
    declared: list[NoteTypeDecl] = []
    for item in read_list(source, entry[1], "note_types", problems) or []:
        keys = read_mapping(source, item, "a note type", problems)
        if keys is None:
            continue
        before = len(problems.errors)
        check_keys(source, keys, _NOTE_TYPE_KEYS, "a note type", problems, at=item)
        text = {
            k: read_text(source, keys[k], k, problems)
            for k in ("key", "name", "id", "kind", "css")
            if k in keys
        }
        key, name = text.get("key") or "", text.get("name") or ""
        if key in BUILT_IN_TYPES or (key and not schema.ID_RE.match(key)):
            problems.error(
                source.at(keys["key"][1]), f"note type key {key!r}: a slug that is not a built-in type"
            )
        if key in {d.key for d in declared}:
            problems.error(source.at(keys["key"][1]), f"note type key {key!r} is declared twice")
        if text.get("kind", "standard") not in ("standard", "cloze"):
            problems.error(source.at(keys["kind"][1]), "kind is standard or cloze")
        if text.get("id") and not text["id"].isdigit():
            problems.error(source.at(keys["id"][1]), f"id {text['id']!r} is not an Anki id (a number)")
        fields = (
            read_checked_texts(source, keys["fields"][1], "fields", _no_check, problems)
            if "fields" in keys
            else []
        )
        if len(set(fields)) != len(fields):
            problems.error(source.at(keys["fields"][1]), "a field is named twice")
        templates = _templates(
            source, keys.get("templates"), set(fields), text.get("kind") == "cloze", problems
        )
        css = _file_text(source, keys["css"], problems) if "css" in keys else ""
        if len(problems.errors) == before:
            cloze = text.get("kind") == "cloze"
            declared.append(
                NoteTypeDecl(
                    key,
                    name,
                    int(text.get("id") or 0),
                    cloze,
                    tuple(fields),
                    templates,
                    css or "",
                    source.at(item),
                )
            )
    return tuple(declared)


def _no_check(_value: str) -> None:
    return None


def _templates(
    source: Source, entry: Entry | None, fields: set[str], cloze: bool, problems: Problems
) -> tuple[tuple[str, str, str], ...]:
    out = []
    for item in (read_list(source, entry[1], "templates", problems) or []) if entry else []:
        keys = read_mapping(source, item, "a template", problems)
        if keys is None:
            continue
        check_keys(source, keys, _TEMPLATE_KEYS, "a template", problems, at=item)
        name = read_text(source, keys["name"], "name", problems) if "name" in keys else None
        sides = [
            _file_text(source, keys[side], problems) if side in keys else None for side in ("front", "back")
        ]
        if name is None or None in sides:
            continue
        front, back = sides
        for side, template in (("front", front), ("back", back)):
            missing = sorted(fields_named(template) - fields)  # type: ignore[arg-type]
            if missing:
                problems.error(
                    source.at(keys[side][1]),
                    f"template {name!r} names {', '.join(map(repr, missing))}, which the note type "
                    f"has no field for (its fields: {', '.join(sorted(fields))})",
                )
        if cloze and not cloze_fields(front):  # type: ignore[arg-type]
            problems.error(source.at(keys["front"][1]), "a cloze note type's front needs {{cloze:Field}}")
        out.append((name, front, back))
    if entry is not None and not out and not problems.errors:
        problems.error(source.at(entry[1]), "a note type needs at least one template")
    return tuple(out)  # type: ignore[arg-type]


def _file_text(source: Source, entry: Entry, problems: Problems) -> str | None:
    """A template's or stylesheet's text, from a file named relative to the cards folder."""
    name = read_text(source, entry, "file", problems)
    if name is None:
        return None
    folder = source.path.parent.resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder):
        problems.error(source.at(entry[1]), f"{name!r} is outside the cards folder")
        return None
    try:
        return path.read_bytes().decode("utf-8")  # as written: no newline translation (CSS is hashed)
    except (OSError, UnicodeDecodeError) as error:
        problems.error(
            source.at(entry[1]), f"cannot read {name!r}: {getattr(error, 'strerror', None) or error}"
        )
        return None


def check_cards_of_own_types(deck: Deck, problems: Problems) -> None:
    """Cards of a type that is not built in: the deck declares it, and the card's fields
    are its fields. And no two cards share a GUID."""
    declared = {d.key: d for d in deck.config.note_types}
    guids: dict[str, Location] = {}
    for _topic, card in deck.cards:
        if card.guid:
            if card.guid in guids:
                problems.error(
                    card.location, f"guid {card.guid!r} is also the guid of the card at {guids[card.guid]}"
                )
            guids.setdefault(card.guid, card.location)
        if not card.custom:
            continue
        note_type = declared.get(card.type)
        if note_type is None:
            types = [*BUILT_IN_TYPES, *declared]
            problems.error(
                card.type_at or card.location,
                f"unknown card type {card.type!r}{suggest(card.type, types)} "
                f"(card types: {', '.join(types)})",
            )
            continue
        if not card.fields:
            problems.error(
                card.location, f"card {card.id!r} of note type {card.type!r} needs `fields:` (by name)"
            )
        for name, where in card.field_locations.items():
            if name not in note_type.fields:
                problems.error(
                    where,
                    f"note type {note_type.key!r} has no field {name!r}{suggest(name, note_type.fields)} "
                    f"(its fields: {', '.join(note_type.fields)})",
                )
