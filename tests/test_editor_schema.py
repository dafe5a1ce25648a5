"""The editors' JSON Schemas, as the YAML language server itself uses them.

The real `yaml-language-server` (npm, pinned in .ci/node/package.json; .ci/run installs
it) runs under node and is spoken to over LSP on stdio, as VS Code, Neovim or Helix do:
initialize, open a card file, wait for its diagnostics, ask for completions inside a
card. Measured here: the schema lines that `deckgen init` writes resolve; every mistake
is flagged at its line; and completion offers exactly the keys the card's type may have
(a cloze card is never offered `front`). Without node or the server these tests skip on
a developer's machine and fail in CI (CI is set), like the browser tests.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from deckgen import editor_schemas, schema
from deckgen.cli import main

from conftest import CARDS, REPO

SERVER = REPO / ".ci" / "node" / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
PROPERTY = 10  # LSP CompletionItemKind.Property: a key the server offers to add
TIMEOUT = 30


class LanguageServer:
    """yaml-language-server in a process of its own, spoken to over LSP (JSON-RPC on stdio)."""

    def __init__(self, root: Path):
        node = shutil.which("node")
        self.process = subprocess.Popen(
            [node, str(SERVER), "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}})
        self.notify("initialized", {})
        # As an editor configures it; no schema store: only the files' own schema lines count.
        self.settings = {
            "validate": True,
            "completion": True,
            "hover": True,
            "schemaStore": {"enable": False},
        }
        self.notify("workspace/didChangeConfiguration", {"settings": {"yaml": self.settings}})

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            headers = {}
            while line := stream.readline().decode("ascii").strip():
                name, _, value = line.partition(":")
                headers[name.lower()] = value.strip()
            if not headers:
                return  # the server stopped
            self.messages.put(json.loads(stream.read(int(headers["content-length"]))))

    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: dict):
        self.next_id += 1
        number = self.next_id
        self._send({"id": number, "method": method, "params": params})
        return self._wait(lambda m: m.get("id") == number and "method" not in m).get("result")

    def _wait(self, wanted):
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if "method" in message and "id" in message:  # the server asks the editor something
                items = message["params"].get("items", [])
                result = (
                    [self.settings for _ in items] if message["method"] == "workspace/configuration" else None
                )
                self._send({"id": message["id"], "result": result})
            elif wanted(message):
                return message

    def open(self, path: Path, text: str | None = None) -> list[dict]:
        """Open a file (its text as on disk unless given) and return its diagnostics.
        A file opened twice keeps its first text: each test opens files of its own names."""
        uri = path.as_uri()
        text = path.read_text(encoding="utf-8") if text is None else text
        document = {"uri": uri, "languageId": "yaml", "version": 1, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": document})
        published = self._wait(
            lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
        )
        return published["params"]["diagnostics"]

    def complete(self, path: Path, line: int, character: int) -> list[dict]:
        position = {"line": line, "character": character}
        result = self.request(
            "textDocument/completion", {"textDocument": {"uri": path.as_uri()}, "position": position}
        )
        return result["items"] if isinstance(result, dict) else result

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the editor tests (.ci/run installs node and the server)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def new_deck(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("editor") / "deck"
    assert CliRunner().invoke(main, ["init", str(folder)]).exit_code == 0
    return folder


@pytest.fixture(scope="module")
def server(new_deck):
    if shutil.which("node") is None:
        _unavailable("node is not installed (apt-get install nodejs npm)")
    if not SERVER.is_file():
        _unavailable(f"{SERVER} is missing (npm ci --prefix .ci/node)")
    language_server = LanguageServer(new_deck)
    yield language_server
    language_server.close()


def diagnosed(server: LanguageServer, path: Path, text: str) -> dict[int, list[str]]:
    """The diagnostics of `text` opened as `path`: 1-based line -> messages."""
    lines: dict[int, list[str]] = {}
    for diagnostic in server.open(path, text):
        lines.setdefault(diagnostic["range"]["start"]["line"] + 1, []).append(diagnostic["message"])
    return lines


def topic_text(cards: str) -> str:
    """A topic file with the schema line `deckgen init` writes, and these cards."""
    line = f"# yaml-language-server: $schema=../schemas/{editor_schemas.TOPIC_SCHEMA_FILE}"
    return f"{line}\ndeck: Mine\ncards:\n{cards}"


# -- what deckgen init writes --------------------------------------------------------------


def test_the_files_init_writes_resolve_their_schemas_and_pass(server, new_deck):
    for path in sorted((new_deck / "cards").glob("*.yaml")):
        assert server.open(path) == [], path
    # ... and a schema line that resolves is what makes a mistake visible at all:
    deck_yaml = new_deck / "cards" / "deck.yaml"
    broken = deck_yaml.read_text(encoding="utf-8").replace("\nnamespace:", "\nnamespaces:")
    messages = [d["message"] for d in server.open(deck_yaml.with_name("broken-deck.yaml"), broken)]
    assert 'Missing property "namespace".' in messages and "Property namespaces is not allowed." in messages


def test_the_deck_schema_flags_mistakes_and_completes_the_keys(server, new_deck):
    path = new_deck / "cards" / "deck-mistakes.yaml"
    head = f"# yaml-language-server: $schema=../schemas/{editor_schemas.DECK_SCHEMA_FILE}\n"
    lines = diagnosed(server, path, head + "deck: Mine\nnamespace: Not OK\ntopic: [a]\n")
    assert 'String does not match the pattern of "^[a-z0-9][a-z0-9-]*$".' in lines[3]
    assert lines[4] == ["Property topic is not allowed."]
    path = path.with_name("deck-completion.yaml")
    server.open(path, head + "deck: Mine\nnamespace: mine\n\n")
    offered = {item["label"] for item in server.complete(path, 3, 0) if item.get("kind") == PROPERTY}
    assert offered == set(schema.CONFIG_KEYS) - {"deck", "namespace"}


# -- the topic schema ----------------------------------------------------------------------

# A card's first lines, and the keys it has: completion is asked for on a new line below.
STARTS = {
    "basic, no type": "  - id: a\n    front: Q\n",
    "basic": "  - id: a\n    type: basic\n",
    "reversed": "  - id: a\n    type: reversed\n",
    "cloze": "  - id: a\n    type: cloze\n",
    "type-in": "  - id: a\n    type: type-in\n    tags: [x]\n",
}


@pytest.mark.parametrize("start", list(STARTS), ids=list(STARTS))
def test_completion_offers_only_the_keys_of_the_cards_type(server, new_deck, start):
    card = STARTS[start]
    card_type = schema.CARD_TYPES[start.split(",")[0]]
    present = {line.strip().removeprefix("- ").split(":")[0] for line in card.splitlines()}
    path = new_deck / "cards" / f"completion-{start.replace(',', '').replace(' ', '-')}.yaml"
    text = topic_text(card + "    \n")
    server.open(path, text)
    items = server.complete(path, text.count("\n") - 1, 4)
    offered = {item["label"] for item in items if item.get("kind") == PROPERTY}
    # (`fields:` is for cards of the deck's own note types, never a built-in one's)
    assert offered == (set(schema.CARD_KEYS) - {"fields"} | set(card_type.fields)) - present
    # The editor's "add every key it still needs" entry, named after the card type.
    assert f"{card_type.name} card" in {item["label"] for item in items}


def test_completion_offers_the_card_types_and_the_warning_names(server, new_deck):
    path = new_deck / "cards" / "values.yaml"
    text = topic_text("  - id: a\n    type: \n    front: Q\n    back: A\n    allow:\n      - \n")
    server.open(path, text)
    assert {item["label"] for item in server.complete(path, 4, 10)} == set(schema.CARD_TYPES)
    assert {item["label"] for item in server.complete(path, 8, 8)} == set(schema.WARNING_NAMES)


MISTAKES = """\
  - id: a
    type: reverse
    front: Q
    back: A
  - id: b
    fornt: Q
    back: A
  - id: c
    type: reversed
    front: Q
    back: A
    extra: no such field on a reversed card
  - id: d
    type: cloze
    text: The {{c1::answer}}.
    front: no
  - id: e
    front: Q
  - front: Q
    back: A
  - id: Not A Slug
    front: Q
    back: A
  - id: g
    front: Q
    back: A
    tags: [has space]
    allow: [long-answers]
"""


def test_every_mistake_is_flagged_at_its_line(server, new_deck):
    lines = diagnosed(server, new_deck / "cards" / "mistakes.yaml", topic_text(MISTAKES))
    first = 4  # the line of the first card
    valid_types = ", ".join(f'"{name}"' for name in schema.CARD_TYPES)
    assert lines[first + 1] == [f"Value is not accepted. Valid values: {valid_types}."]
    assert "Property fornt is not allowed." in lines[first + 5]
    assert lines[first + 11] == ["Property extra is not allowed."]
    assert lines[first + 15] == ["Property front is not allowed."]
    assert lines[first + 16] == ['Missing property "back".']
    assert lines[first + 18] == ['Missing property "id".']
    assert lines[first + 20] == ['String does not match the pattern of "^[a-z0-9][a-z0-9_.-]*$".']
    assert lines[first + 26] == ['String does not match the pattern of "^[^\\s]+$".']
    valid_names = ", ".join(f'"{name}"' for name in schema.WARNING_NAMES)
    assert lines[first + 27] == [f"Value is not accepted. Valid values: {valid_names}."]
    flagged = set(lines)
    assert flagged == {first + n for n in (1, 4, 5, 11, 15, 16, 18, 20, 26, 27)}, lines


def test_the_shipped_cards_pass_the_committed_schema(server):
    for path in sorted(CARDS.glob("*.yaml")):
        if path.name != schema.CONFIG_FILE:
            assert server.open(path) == [], path


# -- deckgen schema ------------------------------------------------------------------------


def test_the_committed_schemas_are_the_generated_ones():
    for name, text in editor_schemas.SCHEMA_FILES.items():
        committed = (REPO / "deckgen" / name).read_text(encoding="utf-8")
        assert committed == text(), "run: deckgen schema -o deckgen/"


def test_schema_command_prints_either_schema_or_writes_both(tmp_path):
    runner = CliRunner()
    assert json.loads(runner.invoke(main, ["schema"]).output) == editor_schemas.json_schema()
    assert json.loads(runner.invoke(main, ["schema", "--deck"]).output) == editor_schemas.deck_json_schema()
    result = runner.invoke(main, ["schema", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(editor_schemas.SCHEMA_FILES)
    for name, text in editor_schemas.SCHEMA_FILES.items():
        assert (tmp_path / name).read_text(encoding="utf-8") == text()
    runner.invoke(main, ["schema", "--deck", "-o", str(tmp_path / "d.json")])
    assert (tmp_path / "d.json").read_text(encoding="utf-8") == editor_schemas.deck_json_schema_text()
