"""Synthetic card files for the benchmark: a deck.yaml and many topic files.

The cards look like real ones: emphasis, inline code, lists, tables, fenced code in a
few languages, cloze deletions, reversed and type-in cards, and now and then an image.
The same `seed` and size always give the same files, so runs compare like with like.

    python bench/generate.py 20000 /tmp/deck-20k
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

CARDS_PER_TOPIC = 200
WORDS = (
    "task service cluster container image registry role policy volume network port "
    "scaling target metric alarm deployment rollback health check listener rule "
    "subnet security group secret parameter log driver agent instance capacity "
    "provider spot fargate node pod namespace ingress controller repository tag "
    "lifecycle scan replication endpoint quota limit throughput latency"
).split()
LANGUAGES = ("python", "json", "yaml", "bash")
IMAGE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
    '<rect width="40" height="20" fill="#88c"/></svg>\n'
)


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def _sentence(rng: random.Random) -> str:
    words = _words(rng, rng.randint(6, 14)).split()
    index = rng.randrange(len(words))
    words[index] = rng.choice([f"**{words[index]}**", f"*{words[index]}*", f"`{words[index]}`"])
    return " ".join(words).capitalize() + "."


def _code(rng: random.Random) -> str:
    language = rng.choice(LANGUAGES)
    if language == "python":
        body = (
            f"def {rng.choice(WORDS)}(event):\n    return event['{rng.choice(WORDS)}'] * {rng.randint(2, 9)}"
        )
    elif language == "json":
        body = f'{{"{rng.choice(WORDS)}": {rng.randint(1, 512)}, "{rng.choice(WORDS)}": true}}'
    elif language == "yaml":
        body = f"{rng.choice(WORDS)}:\n  {rng.choice(WORDS)}: {rng.randint(1, 99)}"
    else:
        body = f"aws ecs describe-{rng.choice(WORDS)}s --cluster {rng.choice(WORDS)}"
    return f"```{language}\n{body}\n```"


def _table(rng: random.Random) -> str:
    rows = ["| setting | value |", "| --- | --- |"]
    rows += [f"| `{rng.choice(WORDS)}` | {_words(rng, 3)} |" for _ in range(rng.randint(2, 4))]
    return "\n".join(rows)


def _list(rng: random.Random) -> str:
    return "\n".join(f"- {_sentence(rng)}" for _ in range(rng.randint(2, 4)))


def _back(rng: random.Random, image: bool) -> str:
    parts = [_sentence(rng)]
    extra = rng.random()
    if extra < 0.25:
        parts.append(_list(rng))
    elif extra < 0.45:
        parts.append(_code(rng))
    elif extra < 0.55:
        parts.append(_table(rng))
    if image:
        parts.append("![diagram](media/diagram.svg)")
    return "\n\n".join(parts)


def _block(text: str) -> str:
    """A YAML literal block scalar, indented under a card key."""
    return "|\n" + "\n".join(f"      {line}" if line else "" for line in text.split("\n"))


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _card(rng: random.Random, card_id: str) -> str:
    kind = rng.random()
    lines = [f"  - id: {card_id}"]
    if kind < 0.15:
        first, second = _words(rng, 2), _words(rng, 2)
        text = f"{_sentence(rng)} The {{{{c1::{first}}}}} needs the {{{{c2::{second}}}}}."
        lines += ["    type: cloze", f"    text: {_block(text)}"]
    elif kind < 0.25:
        lines += ["    type: reversed", f"    front: {_quoted(_words(rng, 3))}"]
        lines.append(f"    back: {_quoted(_sentence(rng))}")
    elif kind < 0.30:
        lines += ["    type: type-in", f"    front: {_quoted(_sentence(rng))}"]
        lines.append(f"    back: /etc/{rng.choice(WORDS)}/{rng.choice(WORDS)}.conf")
    else:
        lines.append(f"    front: {_quoted(_sentence(rng).rstrip('.') + '?')}")
        lines.append(f"    back: {_block(_back(rng, image=rng.random() < 0.01))}")
        if rng.random() < 0.2:
            lines.append(f"    extra: {_quoted(_sentence(rng))}")
    if rng.random() < 0.1:
        lines.append("    tags: [exam]")
    return "\n".join(lines)


def generate(folder: Path, cards: int, seed: int = 8) -> list[Path]:
    """Write a deck of `cards` cards into `folder`; returns the topic files in order."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "media").mkdir(exist_ok=True)
    (folder / "media" / "diagram.svg").write_text(IMAGE, encoding="utf-8")
    topics = max(1, -(-cards // CARDS_PER_TOPIC))
    keys = [f"topic-{number:04d}" for number in range(topics)]
    paths = []
    for number, key in enumerate(keys):
        start = number * cards // topics
        end = (number + 1) * cards // topics
        body = "\n\n".join(_card(rng, f"card-{index:06d}") for index in range(start, end))
        text = f"deck: Topic {number:04d} {_words(rng, 2).title()}\ntags: [bench::{key}]\ncards:\n{body}\n"
        path = folder / f"{key}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    (folder / "deck.yaml").write_text(
        "deck: Benchmark Deck\nnamespace: bench-deck\nversion: 1.0.0\n"
        "description: Synthetic cards for timing deckgen.\n"
        f"topics: [{', '.join(keys)}]\n",
        encoding="utf-8",
    )
    return paths


def edit_one_card(topic_file: Path) -> None:
    """Change the text of the first card's `front`, as an author fixing a typo would."""
    text = topic_file.read_text(encoding="utf-8")
    marker = "    front: '"
    at = text.index(marker) + len(marker)
    topic_file.write_text(text[:at] + "Edited: " + text[at:], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cards", type=int)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    generate(args.folder, args.cards, args.seed)


if __name__ == "__main__":
    main()
