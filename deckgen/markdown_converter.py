"""Python-Markdown as deckgen runs it: the same HTML, byte for byte, in less time.

The rendered HTML is hashed into every published lock, so the converter is Python-Markdown
itself with deckgen's extensions. What changes is only work that cannot change the
result (tests/test_markdown_converter.py compares it with a plain converter on every card
of the deck, on generated cards and on random text made of Markdown's special characters):

- Steps a field cannot use are not run. Markdown offers every piece of text to each of
  its inline patterns (code spans, links, emphasis, HTML, ...), each block to each of its
  block processors (lists, tables, headers, quotes, ...), and the whole field to each of
  its preprocessors and tree processors, one regular expression after another: most of
  its time on a card. Each needs one of a few characters or strings to act (a code span
  a backtick, a link `[`, a table `|`, a header `#`, a fenced block three backticks or
  tildes, the undoing of backslash escapes a backslash: `_NEEDS`). Before and while
  converting, Markdown only takes characters out of a field, turns tabs into spaces and
  line ends into "\\n", and adds its placeholders (made of control characters,
  letters, digits and a colon), so a step whose characters are not in the field never
  acts on it. The converter runs the steps that can, the way Markdown's own smarty
  extension swaps the inline patterns.
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

# What each of Markdown's steps needs in a field to act on it: one of these characters or
# strings (markdown/inlinepatterns.py, blockprocessors.py, preprocessors.py,
# treeprocessors.py and the extensions'). A step not named here (an extension's, or one
# a newer Markdown adds) always runs. Tabs count as spaces: Markdown expands them first.
_INDENT = ("    ", "\t")
_NEEDS: dict[str, dict[str, tuple[str, ...]]] = {
    "inlinePatterns": {
        "backtick": ("`",),
        "escape": ("\\",),
        "reference": ("[",),
        "link": ("[",),
        "image_link": ("[",),
        "image_reference": ("[",),
        "short_reference": ("[",),
        "short_image_ref": ("[",),
        "autolink": ("<",),
        "automail": ("<",),
        "linebreak": ("  \n", "\t", "\r"),  # two spaces ending a line ("\r\n" becomes "\n")
        "html": ("<",),
        "entity": ("&",),
        # em_strong: the characters of Markdown's emphasis delimiters (MarkdownConverter)
    },
    "blockprocessors": {
        "indent": _INDENT,
        "code": _INDENT,
        "table": ("|",),
        "hashheader": ("#",),
        "setextheader": ("=", "-"),
        "hr": ("-", "_", "*"),
        "olist": (".",),  # (a number and a dot)
        "quote": (">",),
        "reference": ("[",),
        "ulist": ("*", "+", "-"),
    },
    "preprocessors": {
        "html_block": ("<", "&"),
        "fenced_code_block": ("```", "~~~"),
    },
    "treeprocessors": {
        "unescape": ("\\",),  # what the escape pattern hid
    },
}


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
        md = self._md
        self._inline = md.treeprocessors["inline"]
        # Where each step's registry is: the inline patterns are the InlineProcessor's.
        self._everything = {
            "inlinePatterns": md.inlinePatterns,
            "blockprocessors": md.parser.blockprocessors,
            "preprocessors": md.preprocessors,
            "treeprocessors": md.treeprocessors,
        }
        needs = {
            kind: {name: strings for name, strings in _NEEDS[kind].items() if name in self._everything[kind]}
            for kind in _NEEDS
        }
        delimiters = md.delimiters  # emphasis: one pattern for both `*` and `_`
        patterns = md.inlinePatterns
        if delimiters is not None and "em_strong" in patterns and patterns["em_strong"] is delimiters:
            needs["inlinePatterns"]["em_strong"] = tuple(delimiters.tokens)
        self._needs = needs
        # Markdown asks whether a tag is block-level for every element it tidies, looking
        # through its list of fifty tag names; the same answer from a set of them (the
        # list is complete once the extensions are loaded).
        block_level = frozenset(md.block_level_elements)
        md.is_block_level = lambda tag: isinstance(tag, str) and tag.lower().rstrip("/") in block_level
        self._strings = sorted({s for steps in needs.values() for strings in steps.values() for s in strings})
        self._steps_for: dict[tuple[bool, ...], dict[str, markdown.util.Registry]] = {}

    def convert(self, text: str) -> str:
        present = tuple(string in text for string in self._strings)
        steps = self._steps_for.get(present)
        if steps is None:
            steps = self._steps_for[present] = self._steps_needing(present)
        md = self._md
        self._inline.inlinePatterns = steps["inlinePatterns"]
        md.parser.blockprocessors = steps["blockprocessors"]
        md.preprocessors = steps["preprocessors"]
        md.treeprocessors = steps["treeprocessors"]
        md.reset()
        return md.convert(text)

    def _steps_needing(self, present: tuple[bool, ...]) -> dict[str, markdown.util.Registry]:
        """The steps that can act on a field holding these of `_strings`, each registry in
        Markdown's order."""
        found = {string for string, there in zip(self._strings, present, strict=True) if there}
        steps = {}
        for kind, everything in self._everything.items():
            registry = _Listed()
            for item in everything._priority:  # (in Markdown's order, which is by priority)
                strings = self._needs[kind].get(item.name)
                if strings is None or found.intersection(strings):
                    registry.register(everything[item.name], item.name, item.priority)
            steps[kind] = registry
        return steps


class _Listed(markdown.util.Registry):
    """A Registry that keeps the list of its items, rather than make it on every loop over
    it and every look-up by index (Markdown loops over its block processors once per
    block, and looks its inline patterns up by index once per piece of text)."""

    def __init__(self) -> None:
        super().__init__()
        self._items: list = []

    def register(self, item, name: str, priority: float) -> None:
        super().register(item, name, priority)
        self._items = list(super().__iter__())

    def deregister(self, name: str, strict: bool = True) -> None:
        super().deregister(name, strict)
        self._items = list(super().__iter__())

    def __iter__(self):
        return iter(self._items)

    def __getitem__(self, key):
        if type(key) is int:
            return self._items[key]
        return super().__getitem__(key)
