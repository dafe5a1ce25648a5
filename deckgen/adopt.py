"""Adopting an existing deck: an Anki package -> a deck folder that deckgen builds.

Before the pipeline, once (`deckgen import PACKAGE --cards DIR`): a deck made elsewhere
(genanki, Anki itself, a shared deck) becomes `deck.yaml`, one topic file per subdeck,
its note types' templates and CSS as files, its media, and `deck.lock`. Every identity
learners' collections know is kept, because Anki matches by it on import:

- each note keeps its GUID (`guid:`) and its fields as Anki stores them (`format: html`,
  no Markdown run over them), media references pointing at `media/`;
- each note type keeps its id, name, fields, templates and CSS (`note_types:`);
- each subdeck keeps its name (`number_topics: false`), as Anki matches decks by name;
- the lock is made by the pipeline's own identify step, with each change time set to
  the package's own (`mod`): the first build is no newer than what learners have, so it
  changes nothing in their collections, and an edit afterwards is newer and updates.

The folder is written under a temporary name beside DIR and renamed into place at the
end: a failure leaves nothing.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .adopt_fields import MEDIA_FOLDER, Notice, adopt_field, html_opt_ins, media_shown, refused_html
from .adopt_files import NoteTypeFiles, adopted_lock, compile_adopted, located, write_deck
from .anki_package import AnkiPackage, Deck, Note, NoteType, read_anki_package
from .cards import BUILT_IN_TYPES
from .errors import DeckError, Location, Problem
from .identity import build_time
from .init import namespace_for
from .lock import LOCK_FILE, dump_lock
from .output import signals_held
from .schema import CONFIG_FILE, NAMESPACE_RE

NOTE_TYPES_FOLDER = "note-types"
ID_WORDS = 6  # a card id is the first few words of its first field...
ID_CHARS = 48  # ...cut at a word, so that ids stay readable
_SOUND = re.compile(r"\[sound:[^\]]*\]")
_CLOZE = re.compile(r"\{\{c\d+::(.*?)(?:::[^{}]*)?\}\}", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class AdoptedNoteType:
    key: str  # what its cards give as `type:`
    source: NoteType
    files: NoteTypeFiles  # where its templates and CSS are written, relative to the folder


@dataclass(frozen=True)
class AdoptedCard:
    id: str
    note: Note
    type: str  # its note type's key
    fields: tuple[tuple[str, str], ...]  # (Anki field name, HTML), the empty ones left out
    cards: int  # how many cards Anki made of the note


@dataclass(frozen=True)
class AdoptedTopic:
    key: str
    title: str  # the subdeck's name below the top deck: "Verbs::Irregular"
    deck: Deck
    cards: tuple[AdoptedCard, ...]


@dataclass(frozen=True)
class AdoptedDeck:
    """What the package becomes, before anything is written."""

    title: str
    namespace: str
    root: Deck | None
    topics: tuple[AdoptedTopic, ...]
    note_types: tuple[AdoptedNoteType, ...]
    html_allow: tuple[str, ...]
    notices: tuple[Notice, ...]


@dataclass(frozen=True)
class Adoption:
    """What `adopt_package` wrote."""

    folder: Path
    title: str
    namespace: str
    notes: int
    cards: int
    topics: tuple[tuple[str, str], ...]  # (key, subdeck name)
    note_types: tuple[tuple[str, str], ...]  # (key, name in Anki)
    media: int
    warnings: tuple[Problem, ...]


def adopt_package(package_path: Path, folder: Path, namespace: str | None = None, now: int = 0) -> Adoption:
    """Write the deck of the package at `package_path` as a new deck folder `folder`.

    Raises DeckError, having written nothing, when `folder` is not empty, the package
    cannot be read, or its deck cannot be adopted. `now` is the time recorded for
    anything the package gives no change time for (0: identity.build_time()).
    """
    _refuse_folder(folder)
    package = read_anki_package(package_path)
    plan = plan_adoption(package, namespace)
    # Staged beside a new folder, or inside an empty one (which may be where the user
    # stands), so that nothing but the finished deck ever appears in its place.
    staging_parent = folder if folder.is_dir() else folder.absolute().parent
    staging_parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.absolute().name}.", suffix=".tmp", dir=staging_parent))
    try:
        texts = write_deck(plan, staging)
        for name in package.media:
            (staging / MEDIA_FOLDER).mkdir(exist_ok=True)
            (staging / MEDIA_FOLDER / name).write_bytes(package.read_media(name))
        compiled, refused = compile_adopted(plan, staging, texts, folder)
        lock = adopted_lock(plan, compiled, now or build_time())
        (staging / LOCK_FILE).write_text(dump_lock(lock), encoding="utf-8")
        _move_into_place(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    notices = [*plan.notices, *refused]
    return Adoption(
        folder,
        plan.title,
        plan.namespace,
        sum(len(t.cards) for t in plan.topics),
        sum(c.cards for t in plan.topics for c in t.cards),
        tuple((t.key, t.title) for t in plan.topics),
        tuple((n.key, n.source.name) for n in plan.note_types),
        len(package.media),
        tuple(located(notice, folder, texts) for notice in notices),
    )


def _move_into_place(staging: Path, folder: Path) -> None:
    """The staged deck renamed to `folder`, or its files into the empty `folder`, the lock last."""
    if not folder.is_dir():
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(staging, 0o777 & ~mask)  # mkdtemp's folder is private
        os.replace(staging, folder)
        return
    with signals_held():
        for entry in sorted(staging.iterdir(), key=lambda path: path.name == LOCK_FILE):
            os.replace(entry, folder / entry.name)
        staging.rmdir()


def _refuse_folder(folder: Path) -> None:
    where = Location(str(folder))
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise _refusal(where, "exists and is not a folder; choose a new folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise _refusal(
            where, "already holds files: deckgen import writes a new deck folder; choose another one"
        )


def _refusal(where: Location, message: str) -> DeckError:
    return DeckError([Problem(where, message)])


# -- the plan ------------------------------------------------------------------------------


def plan_adoption(package: AnkiPackage, namespace: str | None = None) -> AdoptedDeck:
    """The deck folder a package becomes, as values; DeckError if it cannot be adopted."""
    where = Location(str(package.path))
    home = _home_decks(package, where)
    tops = sorted({package.decks[deck_id].name.split("::")[0] for deck_id in home.values()})
    if not tops:
        raise _refusal(where, "the package holds no cards: there is nothing to adopt")
    if len(tops) > 1:
        raise _refusal(
            where,
            f"the package holds cards in {len(tops)} top decks ({', '.join(map(repr, tops))}): "
            "deckgen adopts one deck at a time; export each top deck from Anki on its own",
        )
    title = tops[0]
    in_top = [note_id for note_id, deck_id in home.items() if package.decks[deck_id].name == title]
    if in_top:
        raise _refusal(
            where,
            f"{len(in_top)} note{'s' if len(in_top) != 1 else ''} directly in the top deck "
            f"{title!r}: deckgen needs them in subdecks; move them to a subdeck in Anki first",
        )
    namespace = namespace if namespace is not None else namespace_for(title)
    if not NAMESPACE_RE.match(namespace):
        raise _refusal(
            where,
            f"namespace {namespace!r} is not usable: give one with --namespace "
            "(lowercase letters, digits and '-', e.g. --namespace my-deck)",
        )
    notes = sorted((note for note in package.notes if note.id in home), key=lambda n: n.id)
    note_types = _note_types(package, notes)
    notices: list[Notice] = []
    topics = _topics(package, notes, home, {n.source.id: n.key for n in note_types}, notices)
    fields = [
        (card.id, name, value) for topic in topics for card in topic.cards for name, value in card.fields
    ]
    allow = html_opt_ins(value for _id, _name, value in fields)
    notices += refused_html(fields, allow)
    unused = sorted(set(package.media).difference(*(media_shown(value) for _id, _name, value in fields)))
    if unused:
        notices.append(
            Notice(
                f"{len(unused)} media file{'s' if len(unused) != 1 else ''} no field shows "
                f"({', '.join(unused[:5])}{', ...' if len(unused) > 5 else ''}), kept in {MEDIA_FOLDER}/: "
                "deckgen packages only the media that fields show (not those of templates or CSS)"
            )
        )
    root = next((d for d in package.decks.values() if d.name == title), None)
    return AdoptedDeck(title, namespace, root, tuple(topics), note_types, allow, tuple(notices))


def _topics(
    package: AnkiPackage, notes: list[Note], home: dict[int, int], keys: dict[int, str], notices: list[Notice]
) -> tuple[AdoptedTopic, ...]:
    """One topic per subdeck holding notes, in Anki's order of deck names; each note in the
    topic of its first card's deck, in the order the notes were made."""
    cards_of: dict[int, list] = {}
    for card in package.cards:
        cards_of.setdefault(card.note_id, []).append(card)
    decks = sorted({home[n.id] for n in notes}, key=lambda d: _deck_order(package.decks[d].name))
    below_top = [package.decks[d].name.split("::", 1)[1] for d in decks]
    topic_keys = _unique_slugs(below_top, reserved={Path(CONFIG_FILE).stem})
    ids: set[str] = set()
    topics = []
    for deck_id, key, title in zip(decks, topic_keys, below_top, strict=True):
        deck = package.decks[deck_id]
        cards = []
        for position, note in enumerate(notes, start=1):
            if home[note.id] != deck_id:
                continue
            card_id = _card_id(note, position, ids)
            fields = []
            for name, value in package.fields_of(note).items():
                if value:
                    value, found = adopt_field(value, package.media, card_id, name)
                    fields.append((name, value))
                    notices += found
            elsewhere = {package.decks[c.deck_id].name for c in cards_of[note.id]} - {deck.name}
            if elsewhere:
                message = (
                    f"the note also has cards in {', '.join(sorted(elsewhere))}: learners who have them "
                    f"keep them there; new learners get all its cards in {deck.name}"
                )
                notices.append(Notice(message, card_id))
            adopted = AdoptedCard(
                card_id, note, keys[note.note_type_id], tuple(fields), len(cards_of[note.id])
            )
            cards.append(adopted)
        topics.append(AdoptedTopic(key, title, deck, tuple(cards)))
    return tuple(topics)


def _home_decks(package: AnkiPackage, where: Location) -> dict[int, int]:
    """Note id -> the deck of its first card (lowest ord): where its topic will be."""
    first: dict[int, tuple[int, int]] = {}
    for card in package.cards:
        if card.deck_id not in package.decks:
            raise _refusal(where, f"card {card.id} is in deck {card.deck_id}, which the package lacks")
        if card.note_id not in first or card.ord < first[card.note_id][0]:
            first[card.note_id] = (card.ord, card.deck_id)
    return {note_id: deck_id for note_id, (_ord, deck_id) in first.items()}


def _deck_order(name: str) -> tuple[str, ...]:
    """Anki's order of deck names: parent before child, case ignored."""
    return tuple(part.casefold() for part in name.split("::"))


def _slug(text: str) -> str:
    return namespace_for(text)


def _unique_slugs(names: list[str], reserved: set[str] = frozenset(), fallback: str = "topic") -> list[str]:
    """A slug for each name, each one different (-2, -3, ... added) and none reserved."""
    taken = set(reserved)
    out = []
    for name in names:
        base = _slug(name) or fallback
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        out.append(slug)
    return out


def _note_types(package: AnkiPackage, notes: list[Note]) -> tuple[AdoptedNoteType, ...]:
    """Every note type the notes use, in the order of first use, each with a key and files."""
    used = list(dict.fromkeys(note.note_type_id for note in notes))
    sources = [package.note_types[type_id] for type_id in used]
    keys = _unique_slugs(
        [s.name + (" note" if _slug(s.name) in BUILT_IN_TYPES else "") for s in sources],
        reserved=set(BUILT_IN_TYPES),
        fallback="note-type",
    )
    adopted = []
    for key, source in zip(keys, sources, strict=True):
        names = _unique_slugs([t.name for t in source.templates], fallback="card")
        folder = f"{NOTE_TYPES_FOLDER}/{key}"
        templates = tuple(
            (t.name, f"{folder}/{n}.front.html", f"{folder}/{n}.back.html")
            for t, n in zip(source.templates, names, strict=True)
        )
        adopted.append(AdoptedNoteType(key, source, NoteTypeFiles(templates, f"{folder}/style.css")))
    return tuple(adopted)


def _card_id(note: Note, position: int, taken: set[str]) -> str:
    """A readable id from the first words of the note's first field, unique in the deck."""
    text = note.fields[0] if note.fields else ""
    text = html.unescape(_TAG.sub(" ", _CLOZE.sub(r"\1", _SOUND.sub(" ", text))))
    words = _slug(text).split("-")[:ID_WORDS]
    while len("-".join(words)) > ID_CHARS and len(words) > 1:
        words.pop()
    base = "-".join(words)[:ID_CHARS].strip("-") or f"note-{position}"
    card_id, n = base, 1
    while card_id in taken:
        n += 1
        card_id = f"{base}-{n}"
    taken.add(card_id)
    return card_id
