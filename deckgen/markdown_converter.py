"""Python-Markdown as deckgen runs it: the same HTML, byte for byte, in less time.

The rendered HTML is hashed into every published lock, so the converter is Python-Markdown
itself with deckgen's extensions. What changes is only work that cannot change the
result (tests/test_markdown_converter.py compares it with a plain converter on every card
of the deck, on generated cards and on random text made of Markdown's special characters):

- Inline patterns a field cannot match are not tried. Markdown tries each of its inline
  patterns (code spans, links, emphasis, HTML, ...) on each piece of text, one regular
  expression after another: most of its time on a card. Each pattern's expression needs
  one of a few characters (a code span a backtick, a link `[`, emphasis `*` or `_`); the
  text the patterns see is the field's own characters plus Markdown's placeholders (made
  of control characters, letters, digits and a colon), so a pattern whose characters are
  not in the field never matches in it. The InlineProcessor takes the patterns that can;
  Markdown's own smarty extension swaps its patterns the same way.
- The raw-HTML block preprocessor runs only on fields with a `<` or a `&`: without them,
  it gives back the text it was given.
- Pygments lexers and HTML formatters are made once per language and options, not once per
  code block (finding a lexer by name looks through every lexer Pygments has).
"""

from __future__ import annotations

import functools

import markdown
import markdown.extensions.codehilite as codehilite
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name

EXTENSIONS = ("fenced_code", "tables", "sane_lists", "codehilite")

# The characters that each of Markdown's inline patterns needs, one of which must be in
# the text for its regular expression to match (markdown/inlinepatterns.py). A pattern
# not named here (an extension's, or one a newer Markdown adds) is always tried.
_PATTERN_NEEDS = {
    "backtick": "`",
    "escape": "\\",
    "reference": "[",
    "link": "[",
    "image_link": "[",
    "image_reference": "[",
    "short_reference": "[",
    "short_image_ref": "[",
    "autolink": "<",
    "automail": "<",
    "html": "<",
    "entity": "&",
}
_HTML_BLOCK_NEEDS = "<&"


@functools.lru_cache(maxsize=64)
def _html_formatter(options: tuple) -> HtmlFormatter:
    return HtmlFormatter(**dict(options))


def _code_formatter(**options) -> HtmlFormatter:
    """Pygments' HTML formatter, made once per set of options, not once per code block.

    Making one builds its style tables, a tenth of the time spent rendering a deck with
    some code; a formatter holds no state between code blocks, so the HTML is the same.
    """
    try:
        return _html_formatter(_options_key(options))
    except TypeError:  # an option that cannot be a key: make one as codehilite would
        return HtmlFormatter(**options)


@functools.lru_cache(maxsize=64)
def _lexer(name: str, options: tuple):
    return get_lexer_by_name(name, **dict(options))


def _lexer_by_name(name: str, **options):
    """Pygments' lexer for a language, looked up once per language and options.

    A lexer keeps no state between the texts it reads (each `get_tokens` starts afresh),
    so codehilite gets the same tokens from one made before.
    """
    try:
        return _lexer(name, _options_key(options))
    except TypeError:  # an option that cannot be a key
        return get_lexer_by_name(name, **options)


def _options_key(options: dict) -> tuple:
    return tuple(sorted((name, tuple(v) if isinstance(v, list) else v) for name, v in options.items()))


EXTENSION_CONFIGS = {
    "codehilite": {"css_class": "highlight", "guess_lang": False, "pygments_formatter": _code_formatter}
}
# codehilite looks its lexers up by this module-level name.
codehilite.get_lexer_by_name = _lexer_by_name


class MarkdownConverter:
    """One reused Python-Markdown converter (making one per field is slow)."""

    def __init__(self) -> None:
        self._md = markdown.Markdown(
            extensions=list(EXTENSIONS), extension_configs=EXTENSION_CONFIGS, output_format="html"
        )
        self._inline = self._md.treeprocessors["inline"]
        everything = self._md.inlinePatterns
        needs = {name: chars for name, chars in _PATTERN_NEEDS.items() if name in everything}
        delimiters = self._md.delimiters  # emphasis: one pattern for both `*` and `_`
        if delimiters is not None and "em_strong" in everything and everything["em_strong"] is delimiters:
            needs["em_strong"] = "".join(delimiters.tokens)
        self._all_patterns = everything
        self._needs = needs
        self._triggers = "".join(sorted(set("".join(needs.values()))))
        self._patterns_for: dict[str, markdown.util.Registry] = {}
        self._all_preprocessors = self._md.preprocessors
        self._lean_preprocessors = self._md.preprocessors[:]
        self._lean_preprocessors.deregister("html_block", strict=False)

    def convert(self, text: str) -> str:
        present = "".join(c for c in self._triggers if c in text)
        patterns = self._patterns_for.get(present)
        if patterns is None:
            patterns = self._patterns_for[present] = self._patterns_needing(present)
        self._inline.inlinePatterns = patterns
        md = self._md
        html_block = any(c in text for c in _HTML_BLOCK_NEEDS)
        md.preprocessors = self._all_preprocessors if html_block else self._lean_preprocessors
        md.reset()
        return md.convert(text)

    def _patterns_needing(self, present: str) -> markdown.util.Registry:
        """The inline patterns that can match a text holding these of the trigger characters."""
        patterns = self._all_patterns[:]  # (a copy, in the same order)
        for name, chars in self._needs.items():
            if not any(c in present for c in chars):
                patterns.deregister(name)
        return patterns
