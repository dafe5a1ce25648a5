"""`deckgen preview --watch` as an author runs it: a real process on a copy of a small deck,
real edits to a card file, and the page in a real browser (Chromium through Playwright, as
in test_browser_preview.py) reloading itself, showing the errors of a broken file, and
recovering when it is fixed. Then Ctrl-C (a real SIGINT) stops it cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_browser_preview import browser  # noqa: F401 (the fixture: chromium, or skip/fail)

from deckgen.watch import STATE_PATH

from conftest import write_deck

DECKGEN = Path(sys.executable).with_name("deckgen")
TOPIC = """deck: Watched
cards:
  - id: first
    front: The original question
    back: An answer
  - id: second
    type: cloze
    text: Nothing {{c1::changes}} here.
"""
BROKEN = TOPIC.replace("    back: An answer\n", "    back: [An answer\n")
SECONDS = 5  # an edit shows in about a second; allow a slow, shared machine five


@pytest.fixture
def watching(tmp_path):
    """`deckgen preview --watch` started in the deck's folder (no --cards: it finds cards/)."""
    deck = tmp_path / "deck"
    cards = write_deck(deck / "cards", {"topic": TOPIC})
    process = subprocess.Popen(
        [str(DECKGEN), "preview", "--watch"],
        cwd=deck,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", first)
    assert match, first + process.stderr.read()
    built = process.stdout.readline()
    assert " built: 2 notes, 2 cards " in built, built
    yield process, match.group(0), cards
    if process.poll() is None:
        process.kill()
        process.wait()


def shows(page, text: str) -> None:
    """Wait until a card shows `text` (a locator: the page's policy refuses Playwright's eval)."""
    page.locator(".pv-card", has_text=text).first.wait_for(timeout=SECONDS * 1000)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode("utf-8")


def test_an_edit_shows_in_the_open_page_and_errors_show_as_a_banner(watching, browser):  # noqa: F811
    process, url, cards = watching
    deck = cards.parent
    topic = cards / "topic.yaml"
    context = browser.new_context()
    refused, console = [], []
    # Only the watch server: the live page asks it for news, and nothing else.
    context.route(
        re.compile(rf"^(?!{re.escape(url)})"),
        lambda route: (refused.append(route.request.url), route.abort()),
    )
    page = context.new_page()
    page.on("console", lambda message: console.append(message.text))
    page.goto(url)
    shows(page, "The original question")

    started = time.monotonic()
    topic.write_text(TOPIC.replace("The original question", "The edited question"), encoding="utf-8")
    shows(page, "The edited question")
    assert time.monotonic() - started < SECONDS
    assert page.locator("#deckgen-errors").count() == 0

    package = deck / "build" / "test-deck.apkg"
    good_package = package.read_bytes()
    topic.write_text(BROKEN, encoding="utf-8")
    banner = page.locator("#deckgen-errors")
    banner.wait_for(timeout=SECONDS * 1000)
    assert "cards/topic.yaml:5:" in banner.inner_text()
    assert "The edited question" in page.locator("main").inner_text()  # the last good page stays
    assert package.read_bytes() == good_package  # and the last good packages

    topic.write_text(TOPIC.replace("The original question", "The fixed question"), encoding="utf-8")
    shows(page, "The fixed question")
    assert page.locator("#deckgen-errors").count() == 0
    assert refused == []
    assert not [text for text in console if "Content Security Policy" in text], console
    context.close()

    # The live script and the policy that lets it poll exist only as served, never on disk.
    served = fetch(url)
    on_disk = (deck / "build" / "preview" / "index.html").read_text(encoding="utf-8")
    assert STATE_PATH in served and "connect-src 'self'" in served
    assert STATE_PATH not in on_disk and "connect-src" not in on_disk

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert out.endswith("Stopped watching.\n")
    assert "Traceback" not in err
    # The broken file's error, located, in the terminal too; then the build after the fix.
    assert re.search(r"^cards/topic\.yaml:5:\d+: ", err, re.MULTILINE), err
    assert "the packages and the preview stay as the last good build" in err
    assert out.count(" built after cards/topic.yaml changed: 2 notes") == 2


def test_the_page_shows_the_errors_when_no_build_was_ever_good(tmp_path, browser):  # noqa: F811
    cards = write_deck(tmp_path / "cards", {"topic": BROKEN})
    process = subprocess.Popen(
        [str(DECKGEN), "preview", "--watch", "--cards", str(cards), "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", process.stdout.readline()).group(0)
        page = browser.new_page()
        page.goto(url)
        page.locator("#deckgen-errors").wait_for(timeout=SECONDS * 1000)
        assert "topic.yaml:5:" in page.locator("#deckgen-errors").inner_text()
        (cards / "topic.yaml").write_text(TOPIC, encoding="utf-8")
        shows(page, "The original question")
        page.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0
