"""Quality warnings for `deckgen check`: cards that work but teach badly or look unsafe.

Runs on the rendered deck (after step 3). Nothing here stops a build; each finding is
a located warning: near-duplicate questions, long answers, a cloze that hides most
of its text, Markdown in a type-in answer, a media file over LARGE_MEDIA_BYTES.
(Scripts and event handlers in a field are errors, of the render step: html_policy.py.)
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from .compile import CompiledDeck
from .errors import Problem, display_path
from .render import plain_text
from .schema import CLOZE_RE, WARNING_NAMES, cloze_revealed

LONG_ANSWER_WORDS = 60
CLOZE_HIDDEN_SHARE = 0.6
NEAR_DUPLICATE_RATIO = 0.9
# Pairwise comparison is quadratic; past this many questions only exact duplicates are sought.
NEAR_DUPLICATE_MAX_CARDS = 3000
# Every learner downloads each media file with the deck and syncs it to every device
# (AnkiWeb, phones on mobile data): past this size a file is a warning (an error with
# `check --strict`). Images of a card rarely need more than a few hundred kB.
LARGE_MEDIA_BYTES = 10_000_000

# Markdown a writer might expect to be rendered; underscores inside names (ECS_CLUSTER) are fine.
_MARKUP_RE = re.compile(r"`|\*\*|(?<!\w)__|(?<!\w)\*\w|\[[^\]]+\]\(")
_WORD_RE = re.compile(r"[a-z0-9]+")


def quality_warnings(compiled: CompiledDeck) -> list[Problem]:
    warnings: list[Problem | None] = []
    questions = []
    media_seen: set[Path] = set()
    for rc in compiled.cards:
        card = rc.card
        warnings.extend(_media_warnings(rc, media_seen))
        if card.custom:  # the deck's own note type: which field asks, deckgen cannot tell
            continue
        if card.type == "cloze":
            warnings.extend(_cloze_warnings(rc))
            questions.append((rc, "text", _cloze_question(card.fields["text"])))
        else:
            questions.append((rc, "front", plain_text(rc.fields["front"])))
        back = plain_text(rc.fields.get("back", ""))
        words = len(back.split())
        if words > LONG_ANSWER_WORDS:
            warnings.append(
                _warn(
                    card,
                    "back",
                    f"answer is {words} words long; short answers are remembered better (split the card?)",
                    "long-answer",
                )
            )
        if card.type == "type-in" and _MARKUP_RE.search(card.fields["back"]):
            warnings.append(
                _warn(
                    card,
                    "back",
                    "type-in answers are compared as plain text: the Markdown here stays literal",
                    "type-in-markdown",
                )
            )
    warnings.extend(_duplicate_warnings(questions))
    # _warn gives None for a warning that its card's `allow:` silences.
    return sorted((w for w in warnings if w is not None), key=lambda problem: problem.location)


def _media_warnings(rc, seen: set[Path]) -> list[Problem | None]:
    """A warning at the first field showing each media file that is too large."""
    out = []
    for media in rc.media:
        if media.source in seen:
            continue
        seen.add(media.source)
        try:
            size = media.source.stat().st_size
        except OSError:  # gone since it was rendered: the build reports it
            continue
        if size > LARGE_MEDIA_BYTES:
            key = next((key for key, value in rc.fields.items() if media.name in value), "")
            message = (
                f"media file {display_path(media.source)} is {size / 1e6:.1f} MB, over "
                f"{LARGE_MEDIA_BYTES // 1_000_000} MB: every learner downloads it and syncs it "
                "to each device; make it smaller"
            )
            out.append(_warn(rc.card, key, message, "large-media"))
    return out


def _warn(card, key: str, message: str, name: str) -> Problem | None:
    """A warning at the card's field, its name (schema.WARNING_NAMES) at the end, for `allow:`."""
    assert name in WARNING_NAMES, name
    if name in card.allow:
        return None
    return Problem(card.field_locations.get(key, card.location), f"{message} [{name}]", "warning")


def _cloze_question(text: str) -> str:
    return plain_text(cloze_revealed(text))


def _cloze_warnings(rc) -> list[Problem | None]:
    text = rc.card.fields["text"]
    total = len(_cloze_question(text)) or 1
    hidden: dict[str, int] = {}
    for match in CLOZE_RE.finditer(text):
        answer = match.group(2).split("::")[0]
        hidden[match.group(1)] = hidden.get(match.group(1), 0) + len(plain_text(answer))
    out = []
    for number, length in sorted(hidden.items()):
        if length / total > CLOZE_HIDDEN_SHARE:
            out.append(
                _warn(
                    rc.card,
                    "text",
                    f"deletion c{number} hides {length * 100 // total}% of the text; "
                    "leave enough context to recall it from",
                    "cloze-hides-most",
                )
            )
    return out


def _normalise(text: str) -> str:
    return " ".join(_WORD_RE.findall(text.lower()))


def _duplicate_warnings(questions) -> list[Problem | None]:
    out = []
    seen: dict[str, object] = {}
    normalised = []
    for rc, key, text in questions:
        norm = _normalise(text)
        first = seen.get(norm)
        if first is not None:
            out.append(
                _warn(
                    rc.card,
                    key,
                    f"same question as card {first.card.id!r} ({first.card.location})",
                    "near-duplicate",
                )
            )
            continue
        seen[norm] = rc
        normalised.append((rc, key, norm))
    if len(normalised) > NEAR_DUPLICATE_MAX_CARDS:
        return out
    for i, (rc, key, norm) in enumerate(normalised):
        matcher = difflib.SequenceMatcher(b=norm, autojunk=False)
        for other, _key, other_norm in normalised[:i]:
            matcher.set_seq1(other_norm)
            if (
                matcher.real_quick_ratio() >= NEAR_DUPLICATE_RATIO
                and matcher.quick_ratio() >= NEAR_DUPLICATE_RATIO
                and matcher.ratio() >= NEAR_DUPLICATE_RATIO
            ):
                out.append(
                    _warn(
                        rc.card,
                        key,
                        f"nearly the same question as card {other.card.id!r} ({other.card.location})",
                        "near-duplicate",
                    )
                )
                break
    return out
