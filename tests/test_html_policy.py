"""html_policy.py: what HTML fields may hold, and their media, on real Markdown output."""

from pathlib import Path

import markdown
import pytest
import yaml

from deckgen.errors import Location
from deckgen.html_policy import (
    ALLOWED_TAGS,
    FieldHtml,
    allow_problem,
    check_html,
    inspect_field,
    media_references,
    place,
    rewrite_media,
    source_from,
)

from conftest import CARDS

_MD = markdown.Markdown(
    extensions=["fenced_code", "tables", "sane_lists", "codehilite"],
    extension_configs={"codehilite": {"css_class": "highlight", "guess_lang": False}},
)


def render(text: str) -> str:
    _MD.reset()
    return _MD.convert(text)


def findings(text: str, allow=frozenset()) -> list[tuple[int, int, str]]:
    """(line, column, message) of each finding in a Markdown field."""
    return [(f.line, f.column, f.message) for f in check_html(render(text), text, allow)]


# --- What is allowed -------------------------------------------------------------------

ALLOWED_MARKDOWN = """\
# Heading

Some *emphasis*, **strong**, `inline <code>`, a [link](https://example.com "title"),
<https://example.com>, <someone@example.com>, [mail](mailto:a@example.com),
[relative](other.html) and [anchor](#top).

> a quote

---

3. starts at three
4. four

- a
- b

| left | right | centre |
|:-----|------:|:------:|
| 1    | 2     | 3      |

```json
{"a": "<b>", "b": [1, 2]}
```

```python
print("<script>")
```

    indented <code>

![A diagram](media/diagram.svg)

Press <kbd>Ctrl</kbd>+<kbd>C</kbd>. H<sub>2</sub>O, x<sup>2</sup>, a<br>b<br/>c.
<span class="note">span</span> <b>b</b> <i>i</i> <u>u</u> <s>s</s> <small>small</small>
<mark>mark</mark> <ruby>漢<rp>(</rp><rt>kan</rt><rp>)</rp></ruby> <abbr title="Elastic">ECS</abbr>
<a href="https://aws.amazon.com/ecs/" title="ECS">ECS</a> <img src="media/diagram.svg" alt="d" width="200">
<audio controls src="media/pod.mp3"></audio>
{{c1::cloze}} and \\(x^2\\) and [sound:media/pod.ogg]

<div class="aside">

a block of HTML

</div>

<details open><summary>More</summary>
<ul><li>one</li></ul>
<ol start="2"><li value="5">five</li></ol>
<table><thead><tr><th colspan="2" align="left">t</th></tr></thead>
<tbody><tr><td>1</td><td rowspan="1">2</td></tr></tbody></table>
<audio controls><source src="media/pod.ogg" type="audio/ogg"></audio>
</details>

<!-- a comment for other authors -->
"""


def test_everything_on_the_allowlist_and_all_markdown_writes_passes():
    rendered = render(ALLOWED_MARKDOWN)
    # The constructs really are there, as Markdown and codehilite write them.
    assert '<div class="highlight"><pre><span></span><code>' in rendered
    assert '<th style="text-align: left;">' in rendered and '<td style="text-align: center;">' in rendered
    assert '<ol start="3">' in rendered and "&lt;script&gt;" in rendered
    assert check_html(rendered, ALLOWED_MARKDOWN) == ()


def test_the_allowlist_covers_every_tag_markdown_writes():
    tags = {"p", "pre", "code", "em", "strong", "blockquote", "hr", "ul", "ol", "li", "h1", "a", "img"}
    tags |= {"table", "thead", "tbody", "tr", "th", "td", "div", "span", "br"}
    assert tags <= set(ALLOWED_TAGS)


# --- What is not, and where it was written -----------------------------------------------

FORBIDDEN = [
    # (Markdown, (line, column) of the finding, words of its message)
    ("Hi <script>alert(1)</script>", (1, 4), "`<script>` is not allowed in cards: Anki runs card scripts"),
    ("Hi <SCRIPT SRC=x.js></SCRIPT>", (1, 4), "`<script>` is not allowed"),
    ("<script>\nalert(1)\n</script>", (1, 1), "`<script>` is not allowed"),
    ("x\n\ny <img src=media/a.png onerror=alert(1)>", (3, 24), "`onerror` on `<img>` is an event handler"),
    # Markdown escapes a malformed tag in a paragraph, but passes HTML blocks on as they are.
    ('<div>\n<img src="media/a.png"onerror=alert(1)>\n</div>', (2, 23), "`onerror` on `<img>`"),
    ("<b onclick='x()'>b</b>", (1, 4), "`onclick` on `<b>` is an event handler"),
    ("<iframe src=https://example.com></iframe>", (1, 1), "`<iframe>` is not allowed"),
    ("<object data=x.swf></object>", (1, 1), "`<object>` is not allowed"),
    ("<embed src=x.swf>", (1, 1), "`<embed>` is not allowed"),
    ("<style>body { display: none }</style>", (1, 1), "`<style>` is not allowed"),
    ('<link rel="stylesheet" href="https://x/y.css">', (1, 1), "`<link>` is not allowed"),
    ('<meta http-equiv="refresh" content="0;url=https://x">', (1, 1), "`<meta>` is not allowed"),
    ('<base href="https://x/">', (1, 1), "`<base>` is not allowed"),
    ("<form action=https://x><input name=q></form>", (1, 1), "`<form>` is not allowed"),
    ("<svg onload=alert(1)></svg>", (1, 1), "`<svg>` is not allowed"),
    ("<blink>old</blink>", (1, 1), "`<blink>` is not allowed in cards: it is not one of the HTML tags"),
    ("a [link](javascript:alert(1)) here", (1, 10), '`<a href="javascript:alert(1)">` is a script'),
    ('<a href="JavaScript:alert(1)">x</a>', (1, 4), "is a script"),
    ('<a href=" jav&#x09;ascript:alert(1)">x</a>', (1, 4), "is a script"),
    ('<a href="vbscript:msgbox(1)">x</a>', (1, 4), "is a script"),
    ('<a href="data:text/html,<b>x</b>">x</a>', (1, 4), "is a data: URL"),
    ('<img src="data:image/png;base64,AAAA">', (1, 6), "is a data: URL"),
    ("[files](file:///etc/passwd)", (1, 9), "links to a file: URL"),
    ('<span style="color: red">r</span>', (1, 7), "a `style` attribute on `<span>`"),
    ('<td style="text-align: left; background: url(https://x)">', (1, 5), "a `style` attribute on `<td>`"),
    ('<span id="qa">x</span>', (1, 7), "attribute `id` is not allowed on `<span>`; cards may use class"),
    ('<img src="media/a.png" srcset="https://x/a.png 2x">', (1, 24), "attribute `srcset` is not allowed"),
    ("<!--><script>alert(1)</script>-->", (1, 1), "the HTML comment `<!--><script>alert(1)</script>-->`"),
    # Browsers end this comment at `--!>`, and so does the parser: the script is live.
    ("<!-- --!><script>alert(1)</script> -->", (1, 10), "`<script>` is not allowed"),
    ("<div>\n<img src=x onerror=alert(1)", (2, 1), "is an unfinished tag"),
    ("<?php echo 1 ?>", (1, 1), "`<?php echo 1 ?>` has no place in a card's HTML"),
]


@pytest.mark.parametrize(("text", "where", "words"), FORBIDDEN, ids=[case[0][:40] for case in FORBIDDEN])
def test_forbidden_markup_is_an_error_located_where_it_was_written(text, where, words):
    found = findings(text)
    assert any((line, column) == where and words in message for line, column, message in found), found


def test_messages_say_why_and_name_the_opt_in():
    [(_, _, message)] = findings("<script>alert(1)</script>")
    assert message == (
        "`<script>` is not allowed in cards: Anki runs card scripts on learners' devices; remove it "
        "(or allow it for the whole deck with `html: {allow: [script]}` in deck.yaml)"
    )
    [(_, _, message)] = findings("<img src=media/a.png onerror=alert(1)>")
    assert message.endswith(
        "(or allow event handlers for the whole deck with `html: {allow: [event-handlers]}` in deck.yaml)"
    )
    [(_, _, message)] = findings('<a href="data:,x">x</a>')
    assert "allow" not in message  # data: URLs have no opt-in


def test_markup_in_code_spans_and_code_blocks_is_never_flagged():
    text = (
        "Inline `<script>alert(1)</script>` and ``<img src=x onerror=alert(1)>``.\n\n"
        "```html\n<script>alert(1)</script>\n<iframe src=https://x></iframe>\n```\n\n"
        "~~~\n<style>body{}</style> <a href=javascript:x>x</a>\n~~~\n\n"
        "    <object data=x></object>\n"
    )
    assert findings(text) == []


def test_a_live_tag_after_the_same_tag_in_code_is_placed_at_the_live_one():
    text = "Write `<b onclick=x>` like\n\n```\n<b onclick=x>\n```\n\nthis: <b onclick=x>b</b>"
    assert [(line, column) for line, column, _ in findings(text)] == [(7, 10)]


def test_repeated_identical_markup_is_placed_at_each_occurrence():
    text = "<kbd onclick=x>A</kbd> and\n<kbd onclick=x>B</kbd>"
    assert [(line, column) for line, column, _ in findings(text)] == [(1, 6), (2, 6)]


@pytest.mark.parametrize(
    ("field_html", "words"),
    [
        ('<p class="a" onclick="x()">p</p>', "`onclick` on `<p>`"),
        ('<p class="a" id="b">p</p>', "attribute `id` is not allowed on `<p>`"),
        ("<P>x</P><SCRIPT>x()</SCRIPT>", "`<script>` is not allowed"),
        ('<p class="a">x</p><p class=b>y</p><svg></svg>', "`<svg>` is not allowed"),
        ('<p class="a">[sound:media/a.svg]</p>', "names an image, not a sound file"),
        ('<p class="a">x</p><!-- <b> -->', "the HTML comment"),
        ('<p class="a">x <img src=x onerror=y></p>', "`onerror` on `<img>`"),
        ("<p>x</p>\n<p", "is an unfinished tag"),
    ],
)
def test_html_that_looks_plain_but_is_not_is_read_in_full(field_html, words):
    # Fields of plain allowed tags skip the parser: anything else must not.
    assert any(words in f.message for f in check_html(field_html)), check_html(field_html)


def test_plain_markdown_html_has_nothing_to_find():
    plain = '<div class="highlight"><pre><span></span><code><span class="nt">&lt;script&gt;</span>\n'
    plain += "</code></pre></div>\n<p><em>a</em> &amp; <strong>b</strong><br>\nc &gt; d</p>"
    assert inspect_field(plain, allow={"script"}) == inspect_field(plain) == FieldHtml((), ())


def test_markup_not_written_in_the_source_has_no_position():
    [finding] = check_html("<p><script>x</script></p>", source="something else")
    assert (finding.line, finding.column) == (0, 0)
    assert finding.text == "<script>"


# --- Opting in ---------------------------------------------------------------------------

MIXED = (
    '<script>x()</script> <b onclick="x()">b</b> <span style="color: red">r</span>\n'
    '<iframe src="https://www.youtube.com/embed/x" onload="x()"></iframe> [a](javascript:x())\n'
    '<span id="s">s</span>'
)
EVERY_FINDING = [
    "`<script>` is not allowed",
    "`onclick` on `<b>` is an event handler",
    "a `style` attribute on `<span>`",
    "`<iframe>` is not allowed",
    "`onload` on `<iframe>` is an event handler",
    '`<a href="javascript:x()">` is a script',
    "attribute `id` is not allowed on `<span>`",
]


def _kinds(text: str, allow: frozenset[str]) -> list[str]:
    found = [message for _, _, message in findings(text, allow)]
    return [kind for kind in EVERY_FINDING if any(message.startswith(kind) for message in found)]


def test_without_opt_ins_everything_is_flagged():
    assert _kinds(MIXED, frozenset()) == EVERY_FINDING
    assert len(findings(MIXED)) == len(EVERY_FINDING)


@pytest.mark.parametrize(
    ("allow", "lets_through"),
    [
        ({"script"}, ["`<script>` is not allowed"]),
        ({"event-handlers"}, ["`onclick` on `<b>`", "`onload` on `<iframe>`"]),
        ({"style-attributes"}, ["a `style` attribute on `<span>`"]),
        ({"iframe"}, ["`<iframe>` is not allowed"]),
        ({"javascript-urls"}, ['`<a href="javascript:x()">`']),
        ({"span"}, ["attribute `id` is not allowed on `<span>`"]),
        ({"SCRIPT", " iframe "}, ["`<script>` is not allowed", "`<iframe>` is not allowed"]),
    ],
)
def test_an_opt_in_lets_exactly_the_opted_in_thing_through(allow, lets_through):
    expected = [kind for kind in EVERY_FINDING if not any(kind.startswith(gone) for gone in lets_through)]
    assert len(expected) == len(EVERY_FINDING) - len(lets_through)
    assert _kinds(MIXED, frozenset(allow)) == expected


def test_an_opted_in_tag_may_still_not_hold_a_data_url():
    assert "is a data: URL" in findings('<iframe src="data:text/html,x"></iframe>', {"iframe"})[0][2]


def test_allow_entries_are_checked_with_a_suggestion():
    for good in ["iframe", "script", "video", "svg", "event-handlers", "style-attributes", "javascript-urls"]:
        assert allow_problem(good) is None
    assert allow_problem("ifrme") == (
        "'ifrme' in `html: allow` is neither an HTML tag name nor one of event-handlers, "
        "style-attributes, javascript-urls; did you mean 'iframe'?"
    )
    assert allow_problem("style-attribute").endswith("did you mean 'style-attributes'?")
    assert allow_problem("my-widget") is not None


# --- Media ---------------------------------------------------------------------------

MEDIA_MARKDOWN = """\
![A diagram](media/diagram.svg "Diagram")

<img alt="src=decoy" src='media/photo.JPG'> <img src=media/a&amp;b.png>
Listen: [sound:media/pod.mp3] <audio controls src="media/intro.ogg"></audio>

<audio controls><source src="media/talk.opus" type="audio/ogg"></audio>
"""


def test_every_media_reference_is_found_with_its_kind_and_place():
    rendered = render(MEDIA_MARKDOWN)
    refs = media_references(rendered, MEDIA_MARKDOWN)
    assert [(r.kind, r.src, r.line, r.column) for r in refs] == [
        ("image", "media/diagram.svg", 1, 14),  # the file, in Markdown's image syntax
        ("image", "media/photo.JPG", 3, 22),  # the `src` attribute of a tag
        ("image", "media/a&b.png", 3, 50),
        ("audio", "media/pod.mp3", 4, 9),  # the sound tag
        ("audio", "media/intro.ogg", 4, 47),
        ("audio", "media/talk.opus", 6, 25),
    ]
    for ref in refs:  # each span is exactly the value as written in the HTML
        assert rendered[ref.start : ref.end] in (ref.src, ref.src.replace("&", "&amp;"))
    assert inspect_field(rendered, MEDIA_MARKDOWN).media == refs
    assert check_html(rendered, MEDIA_MARKDOWN) == ()


def test_rewriting_media_changes_only_the_references():
    rendered = render(MEDIA_MARKDOWN)
    refs = media_references(rendered)
    names = {
        "media/diagram.svg": "diagram-0123456789ab.svg",
        "media/photo.JPG": "photo-0123456789ab.jpg",
        "media/a&b.png": "a&b-0123456789ab.png",
        "media/pod.mp3": "pod-0123456789ab.mp3",
        "media/talk.opus": "talk-0123456789ab.opus",
        # media/intro.ogg is not in the mapping: left as it is
    }
    expected = (
        rendered.replace('src="media/diagram.svg"', 'src="diagram-0123456789ab.svg"')
        .replace("src='media/photo.JPG'", "src='photo-0123456789ab.jpg'")
        .replace("src=media/a&amp;b.png", "src=a&amp;b-0123456789ab.png")
        .replace("[sound:media/pod.mp3]", "[sound:pod-0123456789ab.mp3]")
        .replace('src="media/talk.opus"', 'src="talk-0123456789ab.opus"')
    )
    assert expected.count("0123456789ab") == 5
    assert rewrite_media(rendered, refs, names) == expected
    assert rewrite_media(rendered, refs, {}) == rendered


def test_sound_tags_count_even_in_code_because_anki_plays_them_there():
    text = "`[sound:media/pod.mp3]`"
    [ref] = media_references(render(text), text)
    assert (ref.kind, ref.src, ref.line, ref.column) == ("audio", "media/pod.mp3", 1, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sound:media/pod.svg]", "`[sound:media/pod.svg]` names an image, not a sound file"),
        ("<img src=media/pod.mp3>", '`<img src="media/pod.mp3">` names a sound file, not an image'),
        ("![x](media/clip.mp4)", '`<img src="media/clip.mp4">` names a video, not an image'),
        ("[sound:media/notes.txt]", "`[sound:media/notes.txt]` is not a sound file cards can use: name a "),
        ("<audio src=media/pod></audio>", '`<audio src="media/pod">` is not a sound file cards can use'),
        ("![x](https://example.com/a.png)", '`<img src="https://example.com/a.png">` is not a local file'),
        ("<img src=//example.com/a.png>", "is not a local file: learners review offline"),
        ("[sound:http://example.com/a.mp3]", "`[sound:http://example.com/a.mp3]` is not a local file"),
        ("<img src=file:///tmp/a.png>", "is not a file under the cards folder"),
    ],
)
def test_unusable_media_is_an_error(text, message):
    field = inspect_field(render(text), text)
    assert field.media == ()
    [finding] = field.findings
    assert message in finding.message
    assert (finding.line, finding.column) != (0, 0)


def test_video_needs_an_opt_in_and_then_its_files_are_media():
    text = '<video controls poster="media/still.png"><source src="media/clip.mp4"></video>'
    assert findings(text)[0][2].startswith("`<video>` is not allowed in cards: video files are heavy")
    field = inspect_field(render(text), text, {"video"})
    assert field.findings == ()
    media = [(r.kind, r.src) for r in field.media]
    assert media == [("image", "media/still.png"), ("video", "media/clip.mp4")]


# --- Placing findings in a card file ------------------------------------------------------


def test_place_offsets_a_finding_from_where_its_text_starts_in_the_file():
    text = "first line\nx <script>y</script>"
    [finding] = check_html(render(text), text)
    assert (finding.line, finding.column) == (2, 3)
    start = Location("cards/ecs.yaml", 10, 12)
    assert str(place(finding, start)) == "cards/ecs.yaml:11:3"
    one_line = check_html(render("<script>y</script>"), "<script>y</script>")[0]
    assert str(place(one_line, start)) == "cards/ecs.yaml:10:12"
    nowhere = check_html("<script>", "")[0]
    assert place(nowhere, start) == start


CARD_FILE = """\
deck: Places
cards:
  - id: first
    front: What does `<script>` do?
    back: >-
      It runs code; so a card may not hold one, even
      a <script>alert(1)</script> like this, or an
      <img src="media/a.png"
        onerror="alert(2)">.
  - id: second
    front: Nothing <script>here</script>
"""


def test_findings_are_placed_exactly_in_a_card_file_even_in_folded_scalars():
    node = yaml.compose(CARD_FILE)
    cards = node.value[1][1].value
    back = next(value for key, value in cards[0].value if key.value == "back")
    start = Location("cards/places.yaml", back.start_mark.line + 1, back.start_mark.column + 1)
    assert str(start) == "cards/places.yaml:5:11"  # the `>-`, where the validator places the field
    value = yaml.safe_load(CARD_FILE)["cards"][0]["back"]
    found = check_html(render(value), source_from(CARD_FILE, start))
    assert [str(place(f, start)) for f in found] == ["cards/places.yaml:7:9", "cards/places.yaml:9:9"]
    # The parsed value has lost the file's lines and indentation: placed from it, both are wrong.
    from_value = [str(place(f, start)) for f in check_html(render(value), value)]
    assert from_value == ["cards/places.yaml:5:60", "cards/places.yaml:6:3"]


def test_source_from_starts_at_the_location():
    assert source_from("ab\ncdef\ngh", Location("x", 2, 3)) == "ef\ngh"
    assert source_from("ab", Location("x", 5, 1)) == ""


# --- The shipped deck stays clean ----------------------------------------------------------


def _shipped_fields() -> list[tuple[str, str, str]]:
    fields = []
    for path in sorted(Path(CARDS).glob("*.yaml")):
        if path.name == "deck.yaml":
            continue
        for card in yaml.safe_load(path.read_text(encoding="utf-8"))["cards"]:
            for key in ("front", "back", "extra", "text"):
                if key in card and not (card.get("type") == "type-in" and key == "back"):
                    fields.append((f"{path.name}:{card['id']}:{key}", str(card[key]), card.get("type", "")))
    return fields


def test_the_shipped_deck_has_no_findings():
    fields = _shipped_fields()
    assert len(fields) > 200
    assert any("```" in text for _, text, _ in fields) and any("|" in text for _, text, _ in fields)
    problems = {
        where: [f.message for f in check_html(render(text), text)]
        for where, text, _ in fields
        if check_html(render(text), text)
    }
    assert problems == {}
    images = [ref.src for _, text, _ in fields for ref in media_references(render(text), text)]
    assert images == ["media/sidecar-bind-mount.svg"]
