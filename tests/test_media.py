"""Media and the HTML policy, wired into the render step (html_policy.py -> render.py).

Every media reference in a field (Markdown images, raw `<img>`, `<audio>`/`<source>`,
Anki's `[sound:...]`) is a file under cards/ that is packaged and renamed; markup that
is active or remote is an error at the line and column it was written, from `check`
and `build`, unless deck.yaml opts in to it. All through real builds, the real CLI and
a real Anki collection.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from deckgen import render as render_module
from deckgen.build import build
from deckgen.cli import main
from deckgen.render import FieldRequest, render_fields

from anki_collection import read_package
from conftest import REPO, write_deck

NOW = 1_800_000_000
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>'
# The first bytes of an MPEG audio frame: what a sound file starts with (Anki copies
# media as bytes and never decodes it on import).
MP3 = b"\xff\xfb\x90\x64" + bytes(400)

MEDIA_TOPIC = """\
deck: Sounds
cards:
  - id: listen
    front: 'Listen: [sound:media/beep.mp3]'
    back: |
      A pod, drawn by hand: <img src="media/pod.svg" alt="pod">

      <audio controls><source src="media/beep.mp3" type="audio/mpeg"></audio>
  - id: drawn
    front: '![pod](media/pod.svg)'
    back: Same picture, packaged once.
"""


def media_deck(folder: Path, topic: str = MEDIA_TOPIC, config: str | None = None) -> Path:
    cards = write_deck(folder, {"sounds": topic}, config)
    (cards / "media").mkdir()
    (cards / "media" / "beep.mp3").write_bytes(MP3)
    (cards / "media" / "pod.svg").write_text(SVG, encoding="utf-8")
    return cards


def check(cards: Path, monkeypatch, *args: str):
    """`deckgen check` run from the deck's parent folder, as a user would."""
    monkeypatch.chdir(cards.parent)
    return CliRunner().invoke(main, ["check", "--cards", cards.name, *args])


# -- packaged and rewritten ---------------------------------------------------------------


def test_sounds_and_raw_images_reach_ankis_media_folder(tmp_path, anki):
    cards = media_deck(tmp_path / "cards")
    build(cards, tmp_path / "out", now=NOW)
    package = tmp_path / "out" / "test-deck.apkg"
    names = sorted(read_package(package)["media"].values())
    assert [re.sub(r"-[0-9a-f]{12}\.", "-HASH.", name) for name in names] == ["beep-HASH.mp3", "pod-HASH.svg"]
    beep, pod = names

    assert anki.import_package(package).new == 2
    media_dir = Path(anki.col.media.dir())
    assert (media_dir / beep).read_bytes() == MP3
    assert (media_dir / pod).read_text(encoding="utf-8") == SVG
    fields = {note["fields"]["ID"]: note["fields"] for note in anki.notes().values()}
    assert fields["listen"]["Front"] == f"<p>Listen: [sound:{beep}]</p>"
    assert f'<img src="{pod}" alt="pod">' in fields["listen"]["Back"]
    assert f'<source src="{beep}" type="audio/mpeg">' in fields["listen"]["Back"]
    assert f'src="{pod}"' in fields["drawn"]["Front"]
    # Anki itself finds every file the notes use, and none missing.
    check = anki.col.media.check()
    assert list(check.missing) == [] and list(check.unused) == []


def test_a_changed_sound_is_a_new_file_even_when_its_field_comes_from_the_cache(tmp_path, monkeypatch):
    cards = media_deck(tmp_path / "cards")
    out = tmp_path / "out"
    build(cards, out, now=NOW)
    assert build(cards, out, now=NOW).work.fields_rendered == ()  # everything from the cache
    (cards / "media" / "beep.mp3").write_bytes(MP3 + b"\x01")
    again = build(cards, out, now=NOW + 60)
    uncached = tmp_path / "uncached"
    build(cards, uncached, now=NOW + 60)
    assert (out / "test-deck.apkg").read_bytes() == (uncached / "test-deck.apkg").read_bytes()
    assert len(again.work.fields_rendered) == 2  # the two fields that use the sound
    (cards / "media" / "beep.mp3").unlink()
    result = check(cards, monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.startswith("cards/sounds.yaml:4:21: sound file 'media/beep.mp3' not found")


@pytest.mark.parametrize(
    ("field", "marker", "message"),
    [
        ("[sound:media/gone.mp3]", "[sound:", "sound file 'media/gone.mp3' not found: no file "),
        (
            "[sound:../../beep.mp3]",
            "[sound:",
            "sound file '../../beep.mp3' is outside the cards folder",
        ),
        ("[sound:media/pod.svg]", "[sound:", "`[sound:media/pod.svg]` names an image, not a sound file"),
        (
            "<audio src=media></audio>",
            "src",
            '`<audio src="media">` is not a sound file cards can use: name a ',
        ),
        ('<img src="media/missing.png">', "src", "image 'media/missing.png' not found"),
        ('<img src="media/folder.png">', "src", "image 'media/folder.png' is a folder (cards/media/"),
        ("![beep](media/beep.mp3)", "media/beep.mp3", '`<img src="media/beep.mp3">` names a sound file'),
    ],
    ids=[
        "missing-sound",
        "sound-outside",
        "sound-is-image",
        "audio-not-sound",
        "img-missing",
        "img-folder",
        "image-is-sound",
    ],
)
def test_unusable_media_is_a_located_error(tmp_path, monkeypatch, field, marker, message):
    topic = f"deck: T\ncards:\n  - id: a\n    front: Q\n    back: >-\n      Hear\n      it: {field}\n"
    cards = media_deck(tmp_path / "cards", topic)
    (cards / "media" / "folder.png").mkdir()
    result = check(cards, monkeypatch)
    assert result.exit_code == 1
    column = topic.splitlines()[6].index(marker) + 1
    assert result.stderr.splitlines()[0].startswith(f"cards/sounds.yaml:7:{column}: {message}"), result.stderr


# -- the HTML policy ----------------------------------------------------------------------

# (markup, where its error is placed, the message's start): each active or remote thing.
FORBIDDEN = [
    ("<script>alert(1)</script>", "<script>", "`<script>` is not allowed in cards"),
    ('<b onclick="alert(1)">b</b>', "onclick", "`onclick` on `<b>` is an event handler"),
    ('<img src="media/pod.svg" onerror="alert(1)">', "onerror", "`onerror` on `<img>` is an event handler"),
    ('<iframe src="https://example.com"></iframe>', "<iframe", "`<iframe>` is not allowed in cards"),
    ('<object data="x.swf"></object>', "<object", "`<object>` is not allowed in cards"),
    ('<embed src="x.swf">', "<embed", "`<embed>` is not allowed in cards"),
    ("<style>body { display: none }</style>", "<style>", "`<style>` is not allowed in cards"),
    ("[run](javascript:alert(1))", "javascript:", '`<a href="javascript:alert(1)">` is a script'),
    (
        "![x](https://example.com/x.png)",
        "https:",
        '`<img src="https://example.com/x.png">` is not a local file',
    ),
    (
        '<audio src="https://example.com/a.mp3"></audio>',
        "src",
        '`<audio src="https://example.com/a.mp3">` is not',
    ),
    ('<meta http-equiv="refresh" content="0;url=https://x">', "<meta", "`<meta>` is not allowed in cards"),
    ('<base href="https://example.com/">', "<base", "`<base>` is not allowed in cards"),
    ('<form action="https://example.com"></form>', "<form", "`<form>` is not allowed in cards"),
]


def _topic_with(markup: str) -> str:
    # In a folded block scalar, on its second line: YAML moves it in the parsed value.
    return f"deck: T\ncards:\n  - id: a\n    front: Q\n    back: >-\n      Look\n      here: {markup} done\n"


@pytest.mark.parametrize(
    ("markup", "marker", "message"), FORBIDDEN, ids=[f[1].strip("<:") for f in FORBIDDEN]
)
def test_active_or_remote_markup_is_an_error_where_it_was_written(
    tmp_path, monkeypatch, markup, marker, message
):
    topic = _topic_with(markup)
    cards = media_deck(tmp_path / "cards", topic)
    result = check(cards, monkeypatch)
    assert result.exit_code == 1
    column = topic.splitlines()[6].index(marker) + 1
    assert result.stderr.splitlines()[0].startswith(f"cards/sounds.yaml:7:{column}: {message}"), result.stderr
    # `build` refuses it too, and writes nothing.
    built = CliRunner().invoke(main, ["build", "--cards", "cards", "--out", "out"])
    assert built.exit_code == 1 and built.stderr == result.stderr
    assert not (tmp_path / "out").exists()


def test_markup_in_code_is_never_flagged(tmp_path, monkeypatch):
    topic = """\
deck: T
cards:
  - id: a
    front: What does `<script>alert(1)</script>` do in a card?
    back: |
      Anki would run it. So would these:

      ```html
      <iframe src="https://example.com"></iframe>
      <img src=x onerror="alert(1)"> <a href="javascript:x()">x</a>
      ```
"""
    cards = media_deck(tmp_path / "cards", topic)
    result = check(cards, monkeypatch)
    assert (result.exit_code, result.stderr) == (0, "")
    build(cards, tmp_path / "out", now=NOW)


def test_harmless_inline_html_passes(tmp_path, monkeypatch):
    topic = (
        "deck: T\ncards:\n  - id: a\n    front: Press <kbd>Ctrl</kbd>+<kbd>C</kbd>, H<sub>2</sub>O\n"
        "    back: |\n      <details><summary>Why?</summary>Because <mark>this</mark>.</details>\n\n"
        "      | a | b |\n      | :-- | --: |\n      | 1 | 2 |\n"
    )
    result = check(media_deck(tmp_path / "cards", topic), monkeypatch)
    assert (result.exit_code, result.stderr) == (0, "")


# -- opting in ----------------------------------------------------------------------------

OPT_IN_TOPIC = _topic_with('<iframe src="https://www.youtube.com/embed/x"></iframe> <b onclick="x()">b</b>')


def _config(allow: str) -> str:
    return f"deck: T\nnamespace: test-deck\nhtml:\n  allow: {allow}\n"


def test_an_opt_in_lets_through_what_it_names_and_nothing_else(tmp_path, monkeypatch):
    cards = media_deck(tmp_path / "both", OPT_IN_TOPIC, _config("[iframe, event-handlers]"))
    result = check(cards, monkeypatch)
    assert (result.exit_code, result.stderr) == (0, "")
    build(cards, tmp_path / "out", now=NOW)
    package = read_package(tmp_path / "out" / "test-deck.apkg")
    assert package["guids"]

    cards = media_deck(tmp_path / "one", OPT_IN_TOPIC, _config("[IFrame]"))
    result = check(cards, monkeypatch)
    assert result.exit_code == 1
    errors = result.stderr.splitlines()[:-1]
    assert len(errors) == 1 and "`onclick` on `<b>` is an event handler" in errors[0]


def test_narrowing_the_opt_ins_checks_fields_kept_in_the_cache_again(tmp_path):
    cards = media_deck(tmp_path / "cards", OPT_IN_TOPIC, _config("[iframe, event-handlers]"))
    out = tmp_path / "out"
    build(cards, out, now=NOW)
    (cards / "deck.yaml").write_text(_config("[event-handlers]"), encoding="utf-8")
    result = CliRunner().invoke(main, ["build", "--cards", str(cards), "--out", str(out)])
    assert result.exit_code == 1
    assert "`<iframe>` is not allowed in cards" in result.stderr


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            _config("[iframe, ifrme]"),
            "cards/deck.yaml:4:19: 'ifrme' in `html: allow` is neither an HTML tag name nor one of "
            "event-handlers, style-attributes, javascript-urls; did you mean 'iframe'?",
        ),
        (
            "deck: T\nnamespace: t\nhtml:\n  alow: [iframe]\n",
            "cards/deck.yaml:4:3: unknown key 'alow' in `html`",
        ),
        ("deck: T\nnamespace: t\nhtml: [iframe]\n", "cards/deck.yaml:3:7: `html` must be a mapping"),
        ("deck: T\nnamespace: t\nhtml:\n  allow: iframe\n", "cards/deck.yaml:4:10: 'allow' must be a list"),
    ],
    ids=["typo", "unknown-key", "not-a-mapping", "not-a-list"],
)
def test_opt_ins_are_checked_where_they_are_written(tmp_path, monkeypatch, config, expected):
    cards = media_deck(tmp_path / "cards", "deck: T\ncards:\n  - id: a\n    front: Q\n    back: A\n", config)
    result = check(cards, monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(expected), result.stderr


def test_the_opt_ins_reach_the_worker_processes(tmp_path, monkeypatch):
    monkeypatch.setattr(render_module, "PARALLEL_FIELDS", 2)
    monkeypatch.setattr(render_module, "_CHUNK_FIELDS", 3)
    monkeypatch.setattr(render_module, "usable_cores", lambda: 2)
    text = '<iframe src="https://www.youtube.com/embed/x"></iframe>'
    requests = [FieldRequest("t", tmp_path, f"{text} {n}") for n in range(8)]
    refused = render_fields(tmp_path, requests)
    assert all("`<iframe>` is not allowed" in r.errors[0].message for r in refused)
    allowed = render_fields(
        tmp_path, [FieldRequest("t", tmp_path, r.text, frozenset({"iframe"})) for r in requests]
    )
    assert [r.errors for r in allowed] == [()] * 8
    assert allowed[3].html.startswith(text)


def test_the_readmes_opt_in_example_is_a_working_deck_yaml(tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(html:\n  allow: .*?\n)```", readme, re.DOTALL).group(1)
    cards = media_deck(tmp_path / "cards", OPT_IN_TOPIC, "deck: T\nnamespace: test-deck\n" + example)
    result = check(cards, monkeypatch)
    assert (result.exit_code, result.stderr) == (0, "")
