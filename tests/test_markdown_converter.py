"""deckgen's Markdown converter gives Python-Markdown's HTML, byte for byte.

The HTML of every field is hashed into published locks: a converter that skipped one
pattern too many would move every learner's notes. The reference here is a plain
Python-Markdown converter with the same extensions and none of the converter's
shortcuts (its own lexer look-up, its own formatter, every pattern tried on every text).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree
from pathlib import Path

import markdown
import markdown.extensions.codehilite as codehilite
import pygments.lexers
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deckgen import markdown_converter
from deckgen.markdown_converter import EXTENSIONS, MarkdownConverter
from deckgen.render import _shield

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from generate import generate  # noqa: E402


class PlainMarkdown:
    """Python-Markdown as it comes: codehilite making its own lexers and formatters."""

    def __init__(self) -> None:
        self._md = markdown.Markdown(
            extensions=list(EXTENSIONS),
            extension_configs={"codehilite": {"css_class": "highlight", "guess_lang": False}},
            output_format="html",
        )

    def convert(self, text: str) -> str:
        ours = codehilite.get_lexer_by_name
        codehilite.get_lexer_by_name = pygments.lexers.get_lexer_by_name
        try:
            self._md.reset()
            return self._md.convert(text)
        finally:
            codehilite.get_lexer_by_name = ours


def fields_of(folder: Path) -> list[str]:
    """Every text field of every card under `folder`, as render.py hands it to Markdown."""
    texts = []
    for path in sorted(folder.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for card in document.get("cards") or ():
            texts += [_shield(value)[0] for value in card.values() if isinstance(value, str)]
    return texts


def same_html(texts: list[str]) -> None:
    ours, plain = MarkdownConverter(), PlainMarkdown()
    for text in texts:  # one converter for all of them, as a worker renders a deck
        assert ours.convert(text) == plain.convert(text), text


def test_every_field_of_the_deck_renders_as_plain_markdown_renders_it():
    texts = fields_of(REPO / "cards")
    assert len(texts) > 500
    same_html(texts)


def test_generated_cards_render_as_plain_markdown_renders_them(tmp_path):
    generate(tmp_path, 600)
    same_html(fields_of(tmp_path))


EDGE_CASES = [
    "plain words only",
    "a `code span` and **bold** and _underscored_ and *em*",
    "a [link](https://example.com) and ![image](a.png) and [ref][1]\n\n[1]: https://example.com",
    "<b>html</b> &amp; &#169; &copy and a <https://example.com> autolink, <me@example.com>",
    "escaped \\*stars\\* and \\`ticks\\` and a \\\\ backslash",
    "line break  \nafter two spaces",
    "snake_case_name and 2*3*4 and a * lone star",
    "```python\nx = [1, 2]  # *not* emphasis\n```\n\nthen `x[0]`",
    "```\nno language\n```",
    "    indented code with <tags> & [brackets]",
    "| a | b |\n|---|---|\n| `x` | *y* |",
    "1. one\n2. two with **bold**\n\n- a\n- b_c_d",
    "> quoted _text_ with a [link]",
    "qDGCLOZE1Xq*inside*qDGCLOZEENDXq and qDGMATH0Xq",
    "Setext heading\n===\n\n# ATX `heading`",
    "<div>\nblock *html*\n</div>\n\nafter",
    "&",
    "<",
    "a < b and c > d",
    "tab\tseparated\twords and trailing spaces   ",
    # each block processor's and pre/tree processor's own characters, alone
    "a line break made by a tab\t\nhere",
    "a line break made of a carriage return  \r\nhere",
    "\tindented by a tab\n\n-\tlist by a tab\n\n1.\ttoo",
    "- item\n\n    indented more\n\n        code in a list",
    "~~~\ntilde fence\n~~~",
    "***\n\n---\n\n___\n\na\n---",
    "+ plus\n* star\n- dash",
    "3. starts at three\n4. four",
    "[label]: https://example.com\n\nthen [label]",
    "# only a header",
    "| lone |\n| --- |",
    "col a | col b\n--- | ---\n1 | 2",
    ">quote without space",
    "a \\ lone backslash \\",
    # code blocks: the lexer and the formatter are made once, reused by the next block
    "```python\ndef f(x):\n    return x * 2\n```",
    '```python hl_lines="2"\nimport os\nprint(os.sep)\n```',
    '```json\n{"a": [1, 2]}\n```\n\nand `inline` code, then\n\n```bash\naws ecs list-tasks\n```',
    "```nosuchlanguage\nx = 1\n```",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_each_kind_of_markdown_renders_as_plain_markdown_renders_it(text):
    same_html([text, text])  # the second time with what the first one made


MARKDOWN_PIECES = st.sampled_from(
    list("*_`\\[]()!<>&#;:/=|-+.~ \n\t1aZ{}\"'")
    + ["**", "__", "```", "\n\n", "    ", "- ", "1. ", "](", "<b>", "</b>", "&amp;", "http://x.y", "a@b.c"]
    + ["word", "qDGCLOZE1Xq", "qDGCLOZEENDXq", "```python\n", "\n```\n", "| a | b |\n|---|---|\n"]
    + ["~~~", "\r\n", "  \n", "***", "---", "===", "> ", "# ", "[a]: http://x.y\n", "\\*", "2. ", "+ "]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(MARKDOWN_PIECES, max_size=30).map("".join), min_size=1, max_size=6))
def test_random_markdown_renders_as_plain_markdown_renders_it(texts):
    """Text made of Markdown's special characters, several fields through one converter."""
    same_html(texts)


def test_the_converter_skips_only_what_cannot_match():
    """The shortcut is real (else this file tests nothing): a field without brackets,
    angle brackets or backslashes is not offered the patterns that need them."""
    converter = MarkdownConverter()
    converter.convert("plain *words* here")
    names = set(converter._inline.inlinePatterns._data)
    assert "em_strong" in names
    assert not names & {"link", "reference", "html", "autolink", "escape", "backtick", "entity"}
    converter.convert("now a [link](x) and `code`")
    names = set(converter._inline.inlinePatterns._data)
    assert {"link", "reference", "backtick"} <= names
    assert "em_strong" not in names
    # block processors, preprocessors and tree processors alike
    md = converter._md
    converter.convert("a plain line")
    assert set(md.parser.blockprocessors._data) == {"empty", "paragraph"}
    assert set(md.preprocessors._data) == {"normalize_whitespace"}
    assert "unescape" not in md.treeprocessors
    converter.convert("| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```\n\n\\*")
    assert {"table", "hr", "setextheader", "ulist"} <= set(md.parser.blockprocessors._data)
    assert "hashheader" not in md.parser.blockprocessors
    assert "fenced_code_block" in md.preprocessors and "unescape" in md.treeprocessors
    assert markdown_converter.codehilite.get_lexer_by_name is markdown_converter._lexer_by_name


def test_the_converters_registries_list_their_items_as_markdowns_own_do():
    """_Listed keeps its items' list: the same order (by priority, ties in the order
    registered), the same look-ups by index and name, after changes as before them."""
    ours, theirs = markdown_converter._Listed(), markdown.util.Registry()
    for registry in (ours, theirs):
        for name, priority in (("a", 10), ("b", 30), ("c", 10), ("d", 20), ("e", 30)):
            registry.register(f"item {name}", name, priority)
        registry.deregister("d")
        registry.register("item f", "f", 10)
    assert list(ours) == list(theirs) == ["item b", "item e", "item a", "item c", "item f"]
    assert [ours[i] for i in range(len(ours))] == [theirs[i] for i in range(len(theirs))]
    assert ours["c"] == theirs["c"] and list(ours[1:3]) == list(theirs[1:3])


def test_the_converter_finds_block_level_tags_as_markdown_does():
    md = MarkdownConverter()._md
    tags = [*md.block_level_elements, "span", "em", "a", "P", "DIV", "hr/", "code", "", None, 3]
    tags.append(xml.etree.ElementTree.Comment)  # (ElementTree's comments have a function as tag)
    assert [md.is_block_level(tag) for tag in tags] == [
        markdown.Markdown.is_block_level(md, tag) for tag in tags
    ]
    assert md.is_block_level("P") and not md.is_block_level("span")
