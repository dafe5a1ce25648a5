"""The preview page and the card CSS in a real browser, at phone width, light and dark.

Debian's chromium (/usr/bin/chromium, installed by .ci/run) driven by Playwright for
Python. Playwright rather than Selenium because it emulates what these tests are about:
a phone viewport, the system's light or dark setting (`color_scheme`, which the preview
follows by default), and it routes every request the page makes, so "nothing loads from
the network" is measured, not assumed. It drives the chromium that apt installs
(`executable_path`) and never downloads a browser of its own.

Screenshots land in build/screenshots/ for a person to look at; docs/card-light.png and
docs/card-dark.png in the README are copies of the card-*.png made here.

Without chromium these tests skip on a developer's machine and fail in CI (CI is set).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from deckgen.compile import compile_deck
from deckgen.notetypes import NOTE_TYPES, card_css, cards_per_note
from deckgen.preview import note_cards, write_preview

from conftest import CARDS, REPO, write_deck

CHROMIUM = Path("/usr/bin/chromium")
# As this machine needs them: headless, as root, and quiet on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = REPO / "build" / "screenshots"
# The README's card: front, back, extra and a JSON block wider than a phone.
README_CARD = "ecs-placement-purpose"
AA = 4.5  # WCAG AA contrast for normal text

WIDE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="1600" height="400" viewBox="0 0 1600 400">'
    '<rect x="20" y="20" width="1560" height="360" fill="none" stroke="#000" stroke-width="8"/>'
    '<text x="60" y="220" font-size="120" font-family="sans-serif">1600 px wide</text></svg>'
)
# Everything that could push a card wider than a phone, and code in several languages.
STRESS_TOPIC = {
    "deck": "Stress",
    "cards": [
        {
            "id": "wide-code",
            "front": "Long lines in code blocks?",
            "back": (
                "```python\n"
                "def handler(event: dict, context: object) -> dict:  # a comment that goes on and on\n"
                '    """Docstring."""\n'
                '    return {"statusCode": 200, "body": f"{event[\'path\']!r} " + str(0x1F * 3.5)}\n'
                "```\n\n"
                "```yaml\n"
                "services:\n  web:\n    image: public.ecr.aws/nginx/nginx:latest  # pinned elsewhere\n"
                "    ports: ['80:80']\n"
                "```\n\n"
                "```diff\n- cpu: 256\n+ cpu: 512\n@@ task definition @@\n```\n\n"
                "```dockerfile\nFROM python:3.12-slim AS build\nRUN pip install --no-cache-dir deckgen\n"
                'ENTRYPOINT ["deckgen", "build"]\n```'
            ),
            "extra": (
                "Inline: `arn:aws:iam::123456789012:role/an-extremely-long-role-name-without-any-spaces` "
                "and a word: Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichenhersteller."
            ),
        },
        {
            "id": "wide-table",
            "front": "A table wider than a phone",
            "back": (
                "| launch type | servers | pricing | networking | storage | good for |\n"
                "| --- | --- | --- | --- | --- | --- |\n"
                "| EC2 | you manage them | per instance hour | bridge, host, awsvpc | EBS, EFS, bind | "
                "steady load |\n"
                "| Fargate | AWS manages them | per vCPU and GB second | awsvpc only | EFS, ephemeral | "
                "spiky load |\n"
            ),
        },
        {"id": "wide-image", "front": "A wide diagram", "back": "![wide](media/wide.svg)"},
        {
            "id": "cloze-hint",
            "type": "cloze",
            "text": "Fargate tasks use the {{c1::awsvpc::network mode}} mode, "
            "and [links](https://example.org) are {{c2::blue}}.",
            "extra": "Shown under the answer.",
        },
        {"id": "typed", "type": "type-in", "front": "Agent config file?", "back": "/etc/ecs/ecs.config"},
        {
            "id": "both-ways",
            "type": "reversed",
            "front": "Fargate",
            "back": "Serverless compute for containers",
        },
    ],
}


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def previews(tmp_path_factory) -> dict[str, Path]:
    """deck name -> the preview page written for it: the real deck and a stress deck."""
    root = tmp_path_factory.mktemp("previews")
    stress_cards = write_deck(root / "stress-cards", {"stress": yaml.safe_dump(STRESS_TOPIC)})
    (stress_cards / "media").mkdir()
    (stress_cards / "media" / "wide.svg").write_text(WIDE_SVG, encoding="utf-8")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return {
        "real": write_preview(CARDS, root / "real").path,
        "stress": write_preview(stress_cards, root / "stress").path,
    }


class Page:
    """A page open in a phone-sized tab, with every request off the file system refused."""

    def __init__(self, browser, url: str, scheme: str, viewport: dict = PHONE):
        self.context = browser.new_context(viewport=viewport, color_scheme=scheme)
        self.requests: list[str] = []
        self.refused: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.context.route(re.compile(r"^(?!file:|data:|about:)"), self._refuse)
        self.page = self.context.new_page()
        self.page.goto(url)

    def _refuse(self, route):
        self.refused.append(route.request.url)
        route.abort()

    def js(self, script: str, arg=None):
        return self.page.evaluate(script, arg)

    def close(self):
        self.context.close()


@pytest.fixture
def open_page(browser):
    opened = []

    def opener(url: str, scheme: str = "light", viewport: dict = PHONE) -> Page:
        page = Page(browser, url, scheme, viewport)
        opened.append(page)
        return page

    yield opener
    for page in opened:
        page.close()


# -- measuring ----------------------------------------------------------------------------

OVERFLOW_JS = """() => {
  const width = window.innerWidth;
  const wide = [];
  for (const card of document.querySelectorAll('.card')) {
    const box = card.getBoundingClientRect();
    if (card.scrollWidth > card.clientWidth + 1 || box.left < -0.5 || box.right > width + 0.5) {
      wide.push((card.closest('[data-note]') || card).getAttribute('data-note') || card.className);
    }
  }
  const cards = document.querySelectorAll('.card').length;
  return {page: document.documentElement.scrollWidth, width, wide, cards};
}"""

# Every element inside a card that shows text: its colour and the colour behind it
# (translucent backgrounds composited over the first opaque one, as the screen does).
COLOURS_JS = """() => {
  const rgba = (text) => {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const behind = (element) => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let colour = [255, 255, 255];
    for (const c of layers.reverse()) colour = colour.map((v, i) => v * (1 - c[3]) + c[i] * c[3]);
    return colour;
  };
  const out = [];
  for (const card of document.querySelectorAll('.card')) {
    for (const e of card.querySelectorAll('*')) {
      const text = Array.from(e.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('');
      if (!text.trim() || e.closest('[hidden]')) continue;
      out.push({text: text.trim().slice(0, 30), tag: e.tagName, cls: e.className,
                colour: rgba(getComputedStyle(e).color).slice(0, 3), behind: behind(e)});
    }
  }
  return out;
}"""


def _luminance(rgb) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _illegible(page: Page) -> list[str]:
    return [
        f"{item['tag']}.{item['cls']} {item['text']!r}: {contrast(item['colour'], item['behind']):.2f}"
        for item in page.js(COLOURS_JS)
        if contrast(item["colour"], item["behind"]) < AA
    ]


# -- the preview page ---------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("deck", ["real", "stress"])
def test_preview_fits_a_phone_and_follows_the_system_theme(previews, open_page, deck, scheme):
    page = open_page(previews[deck].as_uri(), scheme)
    measured = page.js(OVERFLOW_JS)
    assert measured["cards"] > 0
    assert measured["page"] <= measured["width"] == PHONE["width"], "the page scrolls sideways"
    assert measured["wide"] == [], "cards wider than the phone"

    dark = scheme == "dark"
    classes = page.js("() => [...document.querySelectorAll('.card')].map(c => c.className)")
    for names in classes:
        assert ("night_mode" in names.split()) == dark and ("nightMode" in names.split()) == dark
    background = page.js("() => getComputedStyle(document.querySelector('.card')).backgroundColor")
    rgb = [int(v) for v in re.findall(r"\d+", background)[:3]]
    assert (_luminance(rgb) < 0.05) if dark else (_luminance(rgb) > 0.9), background

    assert page.refused == [], "the page asked the network for something"
    assert page.requests and all(url.startswith(("file:", "data:")) for url in page.requests)
    full = deck == "stress"
    page.page.screenshot(path=SCREENSHOTS / f"preview-{deck}-{scheme}.png", full_page=full)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("deck", ["real", "stress"])
def test_every_text_in_every_card_is_legible(previews, open_page, deck, scheme):
    page = open_page(previews[deck].as_uri(), scheme)
    assert _illegible(page) == []
    if deck == "stress":
        tokens = page.js("() => document.querySelectorAll('.highlight span[class]').length")
        assert tokens > 40  # the check above did measure highlighted code


def test_every_note_appears_with_every_card(previews, open_page):
    page = open_page(previews["real"].as_uri())
    shown = page.js("() => [...document.querySelectorAll('.pv-card')].map(c => c.dataset.note)")
    compiled = compile_deck(CARDS)
    assert set(shown) == {rc.card.id for rc in compiled.cards}
    for rc in compiled.cards:
        assert shown.count(rc.card.id) == cards_per_note(NOTE_TYPES[rc.card.type], rc.card.fields)
    sides = page.js(
        "() => [...document.querySelectorAll('.pv-card')].map(c => c.querySelectorAll('.card').length)"
    )
    assert set(sides) == {2}  # a front and a back for each
    decks = page.js("() => [...document.querySelectorAll('.pv-deck')].map(d => d.id)")
    assert decks == [f"deck-{topic.key}" for topic in compiled.deck.topics]


def test_wide_content_scrolls_inside_its_card_and_images_shrink(previews, open_page):
    for width in (360, 390, 430):
        page = open_page(previews["stress"].as_uri(), viewport={"width": width, "height": 800})
        measured = page.js(OVERFLOW_JS)
        assert measured["page"] <= width and measured["wide"] == [], width
        boxes = page.js(
            """() => [...document.querySelectorAll('.highlight, .card table')].map(e => ({
                 overflow: getComputedStyle(e).overflowX, scroll: e.scrollWidth, client: e.clientWidth}))"""
        )
        assert len(boxes) == 5  # four code blocks and one table, on the answer side
        assert all(box["overflow"] == "auto" for box in boxes)
        assert any(box["scroll"] > box["client"] for box in boxes)  # and they do scroll
        image = page.js(
            """() => { const i = document.querySelector('.card img');
                 return {natural: i.naturalWidth, width: i.getBoundingClientRect().width,
                         room: i.closest('.card').clientWidth}; }"""
        )
        assert image["natural"] == 1600  # the copied media loaded from the file system
        assert 0 < image["width"] <= image["room"]
        sizes = page.js(
            """() => [getComputedStyle(document.querySelector('.card')).fontSize,
                      getComputedStyle(document.querySelector('.highlight pre')).fontSize]"""
        )
        text, code = (float(size.removesuffix("px")) for size in sizes)
        assert text >= 16 and code >= 13, sizes  # readable on a phone without zooming


def test_theme_switch_overrides_the_system_and_search_filters(previews, open_page):
    page = open_page(previews["real"].as_uri(), "light")
    night = "() => document.querySelector('.card').classList.contains('night_mode')"
    assert page.js(night) is False
    button = page.page.locator("#pv-theme")
    assert button.inner_text() == "Theme: auto"
    button.click()
    assert button.inner_text() == "Theme: light" and page.js(night) is False
    button.click()
    assert button.inner_text() == "Theme: dark" and page.js(night) is True
    assert page.js("() => document.documentElement.hasAttribute('data-dark')") is True
    button.click()
    assert button.inner_text() == "Theme: auto" and page.js(night) is False

    visible = (
        "() => [...document.querySelectorAll('.pv-card')].filter(c => !c.hidden).map(c => c.dataset.note)"
    )
    total = len(page.js(visible))
    page.page.fill("#pv-search", "ecs.config")
    found = page.js(visible)
    assert found and len(found) < total
    assert all(
        "ecs.config" in page.js(f"() => document.querySelector('[data-note=\"{i}\"]').textContent")
        for i in found
    )
    assert page.page.inner_text("#pv-count") == f"{len(found)} of {total} cards"
    page.page.fill("#pv-search", "zzz-no-such-card")
    assert page.js(visible) == [] and page.page.is_visible("#pv-empty")
    page.page.fill("#pv-search", "")
    assert len(page.js(visible)) == total and not page.page.is_visible("#pv-empty")


# -- the card as Anki shows it ------------------------------------------------------------


def _anki_like_page(folder: Path, side_html: str, ordinal: int, night: bool) -> Path:
    """A card as Anki desktop and AnkiDroid lay it out: the CSS, then <body class="card cardN">
    with night_mode and nightMode on that body."""
    classes = f"card card{ordinal}" + (" night_mode nightMode" if night else "")
    path = folder / f"anki-{'night' if night else 'day'}-{ordinal}.html"
    path.write_text(
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{card_css()}</style></head>"
        f'<body class="{classes}" style="margin: 0; padding-top: 12px; padding-bottom: 16px">'
        f"{side_html}</body></html>",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("night", [False, True], ids=["light", "dark"])
def test_card_in_ankis_own_page_fits_and_is_legible(previews, open_page, night):
    compiled = compile_deck(CARDS)
    rendered = next(rc for rc in compiled.cards if rc.card.id == README_CARD)
    (card,) = note_cards(rendered)
    # Beside the preview page, so any media the card shows is found as Anki finds it.
    path = _anki_like_page(previews["real"].parent, card.answer, card.ordinal, night)
    page = open_page(path.as_uri(), "dark" if night else "light")
    assert page.js("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.js("() => document.querySelector('.highlight').scrollWidth") > page.js(
        "() => document.querySelector('.highlight').clientWidth"
    )  # the JSON is wider than the phone, and scrolls
    assert _illegible(page) == []
    background = page.js("() => getComputedStyle(document.body).backgroundColor")
    rgb = [int(v) for v in re.findall(r"\d+", background)[:3]]
    assert (_luminance(rgb) < 0.05) if night else (_luminance(rgb) > 0.9)
    height = page.js("() => Math.ceil(document.body.getBoundingClientRect().bottom)")
    page.page.screenshot(
        path=SCREENSHOTS / f"card-{'dark' if night else 'light'}.png",
        clip={"x": 0, "y": 0, "width": PHONE["width"], "height": height},
    )
