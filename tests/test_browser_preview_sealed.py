"""The preview page is sealed, and it draws math: both measured in Chromium.

A field is HTML that goes onto the page as it is, as in Anki. The page's
Content-Security-Policy (`deckgen.preview.content_security_policy`) lets only the page's
own scripts and styles run and only local files load, so a field holding a `<script>`, an
`onerror=`, a remote `<iframe>` or `<img>`, or a `<style>` that hides the page does
nothing. The test counts what such a page does (dialogs, requests off the file system,
the policy's refusals), and opens the same page with the policy taken out to show that the
fields would otherwise run and fetch: the seal is measured, not assumed.

Math: `\\(...\\)` and `\\[...\\]` drawn by the vendored MathJax 3 (deckgen/vendor/mathjax/),
from the file beside the page, under the same policy.

Chromium and Playwright as in tests/test_browser_preview.py, whose browser fixture this uses.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from test_browser_preview import PHONE, browser  # noqa: F401  (browser: the module's chromium fixture)

from deckgen.preview import MATHJAX_FILE, content_security_policy, write_preview

from conftest import CARDS, REPO, write_deck

REMOTE = "https://deckgen.invalid"
LOCAL_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>'
)
# Each field holds something a page must not run or fetch (or both). `deckgen check`
# refuses all of it (html_policy.py); this deck opts in to all of it, to show that the
# page stays sealed even so. A remote <img> is refused even then: <input type=image>
# loads a remote picture instead.
HOSTILE_CONFIG = (
    "deck: Test Deck\nnamespace: test-deck\ntopics: [hostile]\nhtml:\n  allow: [script, input, iframe, "
    "style, link, style-attributes, base, svg, event-handlers, a, javascript-urls, object, form, button]\n"
)
HOSTILE_TOPIC = {
    "deck": "Hostile",
    "cards": [
        {
            "id": "script",
            "front": "A script\n\n<script>alert('script')</script>",
            "back": f'<input type="image" src="{REMOTE}/pixel.png" onerror="alert(\'onerror\')">',
        },
        {
            "id": "frames",
            "front": f'<iframe src="{REMOTE}/frame"></iframe>',
            "back": "<iframe srcdoc=\"<script>parent.alert('srcdoc')</script>\"></iframe>",
        },
        {
            "id": "styles",
            "front": "<style>body { display: none !important; }</style>",
            "back": f'<link rel="stylesheet" href="{REMOTE}/style.css">',
        },
        {
            "id": "cover",
            "front": '<div style="position: fixed; inset: 0; z-index: 2147483647; background: #f0f">'
            "covered</div>",
            "back": f'<div style="background-image: url({REMOTE}/background.png); height: 10px"></div>',
        },
        {
            # After a <base>, the deck's own image would be looked for on the remote host.
            "id": "base",
            "front": f'<base href="{REMOTE}/">',
            "back": "![local](media/local.svg)",
        },
        {
            "id": "clicks",
            "front": "<svg onload=\"alert('svg')\"></svg> "
            '<a id="js-link" href="javascript:alert(\'link\')">link</a>',
            "back": f'<object data="{REMOTE}/object"></object>\n\n'
            f'<form action="{REMOTE}/send"><button id="send">send</button></form>',
        },
    ],
}
MATH_TOPIC = {
    "deck": "Math",
    "cards": [
        {"id": "inline", "front": r"What is \(x^2\) when \(x = 3\)?", "back": r"\[\frac{a}{b} = \sqrt{9}\]"},
        # mhchem: one of the packages Anki adds to MathJax.
        {"id": "chemistry", "front": r"Water is \(\ce{H2O}\)", "back": r"A dollar is not math: $x$"},
        {"id": "cloze-math", "type": "cloze", "text": r"Euler: {{c1::\(e^{i\pi} + 1 = 0\)}}"},
        # Code is not typeset, in Anki as here; aligned columns are style attributes.
        {
            "id": "code-and-table",
            "front": "Math in code stays as written: `\\(y\\)`",
            "back": "| left | right |\n| :-- | --: |\n| 1 | 2 |",
        },
    ],
}


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """name -> a preview page: the hostile deck sealed and with its policy taken out, math, the real deck."""
    root = tmp_path_factory.mktemp("sealed")
    hostile = write_deck(root / "hostile-cards", {"hostile": yaml.safe_dump(HOSTILE_TOPIC)}, HOSTILE_CONFIG)
    (hostile / "media").mkdir()
    (hostile / "media" / "local.svg").write_text(LOCAL_SVG, encoding="utf-8")
    sealed = write_preview(hostile, root / "hostile").path
    # Beside the sealed page, so its media and MathJax are found the same way.
    unsealed = sealed.with_name("unsealed.html")
    text, removed = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n', "", sealed.read_text())
    assert removed == 1
    unsealed.write_text(text, encoding="utf-8")
    math = write_deck(root / "math-cards", {"math": yaml.safe_dump(MATH_TOPIC)})
    return {
        "sealed": sealed,
        "unsealed": unsealed,
        "math": write_preview(math, root / "math").path,
        "real": write_preview(CARDS, root / "real").path,
    }


# Set up before the page's first script: every refusal by the policy, as the page sees it.
VIOLATIONS_JS = """
window.__refused = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__refused.push(event.effectiveDirective + " " + (event.blockedURI || ""));
}, true);
"""


class Visit:
    """A page in a fresh phone-sized tab: its requests, what of them went for the network
    (refused here), its dialogs (dismissed), and what the policy refused.

    Chromium reports a request the policy stops too (DevTools lists it as blocked:csp), and
    fails it with "csp" before it leaves the page; only what gets past that reaches routing.
    """

    def __init__(self, chromium, url: str, scheme: str):
        self.context = chromium.new_context(viewport=PHONE, color_scheme=scheme)
        self.requests: list[str] = []
        self.failures: dict[str, str | None] = {}
        self.fetched: list[str] = []  # went for the network
        self.dialogs: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.context.on(
            "requestfailed", lambda request: self.failures.setdefault(request.url, request.failure)
        )
        self.context.route(re.compile(r"^(?!file:|data:|about:)"), self._refuse)
        self.context.add_init_script(VIOLATIONS_JS)
        self.page = self.context.new_page()
        self.page.on("dialog", self._dialog)
        self.page.goto(url)
        # MathJax is the page's last step; give stray handlers (image errors) a moment too.
        self.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        self.js("() => MathJax.startup.promise.then(() => true)")
        self.page.wait_for_timeout(300)

    def _refuse(self, route):
        self.fetched.append(route.request.url)
        route.abort()

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def remote(self) -> list[str]:
        """Requests the page began for anything but a local file."""
        return [url for url in self.requests if not url.startswith(("file:", "data:", "about:"))]

    def refused(self) -> list[str]:
        return self.js("() => window.__refused")

    def js(self, script: str, arg=None):
        return self.page.evaluate(script, arg)

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser):  # noqa: F811  (the imported fixture)
    opened = []

    def opener(path: Path, scheme: str = "light") -> Visit:
        opened.append(Visit(browser, path.as_uri(), scheme))
        return opened[-1]

    yield opener
    for visited in opened:
        visited.close()


def _click_everything(visited: Visit) -> None:
    # A javascript: link, then a form that would leave for the remote host. Clicked from the
    # page's side: Playwright's click would wait for a navigation the policy never lets start.
    visited.js("() => document.getElementById('js-link').click()")
    visited.page.wait_for_timeout(200)
    visited.js("() => document.getElementById('send').click()")
    visited.page.wait_for_timeout(300)


ON_TOP_JS = """() => {
  const box = document.getElementById('pv-search').getBoundingClientRect();
  return document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2).id;
}"""


# -- the policy in the page ---------------------------------------------------------------


def test_the_policy_comes_first_and_only_the_pages_own_elements_carry_its_nonce(pages):
    page = pages["real"].read_text(encoding="utf-8")
    head = page[: page.index("</head>")]
    (nonce,) = set(re.findall(r'nonce="([^"]+)"', page))
    assert re.fullmatch(r"[A-Za-z0-9+/]{24}", nonce)  # 144 bits
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', head)
    assert policy and policy.group(1) == content_security_policy(nonce)
    # Right after the charset: nothing before it is governed by anything else.
    assert head.index("Content-Security-Policy") < min(head.index("<style"), head.index("<script"))
    # The page's own: two <style>s, its script and MathJax's file, all in the head.
    assert head.count(f'nonce="{nonce}"') == page.count(f'nonce="{nonce}"') == 4
    assert f'<script nonce="{nonce}" src="{MATHJAX_FILE}" defer></script>' in head
    assert "'unsafe-inline'" not in policy.group(1).replace("style-src-attr 'unsafe-inline'", "")
    assert "http" not in policy.group(1) and "'self'" not in policy.group(1).replace("img-src 'self'", "")


def test_the_nonce_is_the_same_for_the_same_cards_and_changes_with_them(tmp_path):
    def page(name: str, topic: dict) -> str:
        cards = write_deck(tmp_path / f"{name}-cards", {"t": yaml.safe_dump(topic)})
        return write_preview(cards, tmp_path / name).path.read_text(encoding="utf-8")

    topic = {"deck": "T", "cards": [{"id": "a", "front": "Q", "back": "A"}]}
    first, again = page("one", topic), page("two", topic)
    topic["cards"][0]["back"] = "B"
    other = page("three", topic)
    nonce = re.compile(r'nonce="([^"]+)"')
    assert first == again
    assert nonce.search(first).group(1) != nonce.search(other).group(1)


# -- the seal, in Chromium ------------------------------------------------------------------


def test_without_its_policy_the_hostile_page_would_run_and_fetch(pages, visit):
    """The control: the same fields, the policy taken out. What the sealed page must stop."""
    page = pages["unsealed"].read_text(encoding="utf-8")
    for written in (
        "<script>alert('script')</script>",
        "onerror=\"alert('onerror')\"",
        "<base href=",
        "<style>body { display: none !important; }</style>",
        "position: fixed",
        "<iframe src=",
    ):
        assert written in page  # the fields got onto the page as they are
    visited = visit(pages["unsealed"])
    assert {"script", "onerror", "svg"} <= set(visited.dialogs)
    assert visited.js("() => getComputedStyle(document.body).display") == "none"
    # Shown again (a style attribute outranks the field's !important), it fetches the rest.
    visited.js("() => document.body.style.setProperty('display', 'block', 'important')")
    visited.page.wait_for_timeout(300)
    for wanted in ("pixel.png", "frame", "style.css", "background.png", "object", "local-"):
        assert any(wanted in url for url in visited.fetched), (wanted, visited.fetched)
    assert visited.refused() == []
    _click_everything(visited)
    assert "link" in visited.dialogs
    assert any(url.startswith(f"{REMOTE}/send") for url in visited.fetched)


def test_the_sealed_page_runs_nothing_and_fetches_nothing_a_field_holds(pages, visit):
    visited = visit(pages["sealed"])
    assert visited.dialogs == []
    assert visited.fetched == []
    # What the page began for the network, the policy stopped before it left the page.
    assert visited.remote()
    assert {visited.failures.get(url) for url in visited.remote()} == {"csp"}
    # Refused by the policy, each by its own directive, not by chance.
    refused = " ".join(visited.refused())
    for directive in (
        "script-src-elem",
        "script-src-attr",
        "img-src",
        "frame-src",
        "style-src-elem",
        "object-src",
    ):
        assert directive in refused, (directive, refused)

    # The page itself still works: visible, its search box on top, its media loaded.
    assert visited.js("() => getComputedStyle(document.body).display") == "block"
    assert visited.js(ON_TOP_JS) == "pv-search"  # the fixed cover stays inside its own card
    cover = visited.js(
        "() => document.querySelector('[data-note=cover] .card').getBoundingClientRect().height"
    )
    assert 0 < cover < PHONE["height"]
    natural = "() => document.querySelector('img[alt=local]').naturalWidth"
    assert visited.js(natural) == 40  # from beside the page, the field's <base> refused
    assert visited.js("() => document.querySelectorAll('mjx-container').length") == 0  # no math here
    visited.page.fill("#pv-search", "cover")
    assert visited.page.inner_text("#pv-count") == "1 of 6 cards"
    visited.page.fill("#pv-search", "")
    visited.page.click("#pv-theme")
    assert visited.page.inner_text("#pv-theme") == "Theme: light"

    _click_everything(visited)
    assert visited.dialogs == [] and visited.fetched == []
    assert visited.page.url == pages["sealed"].as_uri()
    assert "form-action" in " ".join(visited.refused())


def test_the_real_deck_under_the_policy_is_refused_nothing(pages, visit):
    visited = visit(pages["real"], "dark")
    assert visited.refused() == [] and visited.dialogs == [] and visited.remote() == []
    images = visited.js("() => [...document.querySelectorAll('.card img')].map(i => i.naturalWidth)")
    assert images and all(width > 0 for width in images)


# -- math ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_math_is_drawn_offline_by_the_vendored_mathjax_with_ankis_delimiters(pages, visit, scheme):
    visited = visit(pages["math"], scheme)
    readme = (REPO / "deckgen" / "vendor" / "mathjax" / "README.md").read_text(encoding="utf-8")
    assert visited.js("() => MathJax.version") == re.search(r"# MathJax (\S+)", readme).group(1)
    assert visited.refused() == [] and visited.remote() == []
    assert visited.requests == [pages["math"].as_uri(), pages["math"].with_name(MATHJAX_FILE).as_uri()]

    drawn = visited.js(
        """() => Object.fromEntries([...document.querySelectorAll('.pv-card')].map(card => [
             card.dataset.note + ' ' + card.querySelector('.pv-type').textContent,
             [...card.querySelectorAll('.card')].map(side => {
               const copy = side.cloneNode(true);
               copy.querySelectorAll('mjx-container, code').forEach(drawn => drawn.remove());
               return {inline: side.querySelectorAll('mjx-container:not([display]) > svg').length,
                       display: side.querySelectorAll('mjx-container[display=true] > svg').length,
                       errors: side.querySelectorAll('[data-mjx-error], mjx-merror').length,
                       text: copy.textContent};
             })]))"""
    )
    sides = {name.split()[0]: value for name, value in drawn.items()}
    front, back = sides["inline"]
    assert (front["inline"], front["display"]) == (2, 0)
    assert (back["inline"], back["display"]) == (2, 1)  # the back repeats the front
    assert sides["chemistry"][0]["inline"] == 1
    assert sides["cloze-math"][1]["inline"] == 1  # revealed on the answer
    for name, value in sides.items():
        for side in value:
            assert side["errors"] == 0, name
            assert "\\(" not in side["text"] and "\\[" not in side["text"], (name, side["text"])
    # Not math in Anki either: $...$, and TeX inside code.
    assert "$x$" in sides["chemistry"][1]["text"]
    code = visited.js("() => document.querySelector('[data-note=code-and-table] code').textContent")
    assert code == "\\(y\\)"
    aligned = visited.js("() => [...document.querySelectorAll('td')].map(c => getComputedStyle(c).textAlign)")
    assert aligned == ["left", "right"]

    # The math takes the card's text colour, light or night.
    colours = visited.js(
        """() => { const math = document.querySelector('mjx-container');
             return [getComputedStyle(math).color, getComputedStyle(math.closest('.card')).color,
                     getComputedStyle(math.querySelector('svg')).fill]; }"""
    )
    assert colours[0] == colours[1]
    assert visited.js("() => document.querySelector('.card').classList.contains('night_mode')") == (
        scheme == "dark"
    )
    # The search reads the cards as written: TeX, not the drawing.
    visited.page.fill("#pv-search", "x^2")
    assert visited.page.inner_text("#pv-count") == "1 of 4 cards"
