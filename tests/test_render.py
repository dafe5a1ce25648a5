"""Markdown fields -> HTML: what Anki shows, and what must pass through untouched."""

from pathlib import Path

import pytest

from deckgen.build import build
from deckgen.render import Renderer, plain_text

from anki_collection import read_package
from conftest import write_deck


@pytest.fixture
def renderer(tmp_path):
    return Renderer(tmp_path)


def html(renderer, text, base=None):
    result = renderer.render_field(text, base or renderer.media.cards_dir)
    assert result.errors == ()
    return result.html


def test_emphasis_lists_links_and_inline_code(renderer):
    assert html(renderer, "**bold** and *it* and `code`") == (
        "<p><strong>bold</strong> and <em>it</em> and <code>code</code></p>"
    )
    assert html(renderer, "- one\n- two") == "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"
    assert html(renderer, "[docs](https://docs.aws.amazon.com/)") == (
        '<p><a href="https://docs.aws.amazon.com/">docs</a></p>'
    )


def test_tables(renderer):
    out = html(renderer, "| a | b |\n|---|---|\n| 1 | 2 |")
    assert out.startswith("<table>") and "<th>a</th>" in out and "<td>2</td>" in out


def test_fenced_code_is_highlighted_with_pygments_classes(renderer):
    out = html(renderer, '```json\n{"essential": true}\n```')
    assert out.startswith('<div class="highlight"><pre>')
    assert (
        '<span class="nt">&quot;essential&quot;</span>' in out or '<span class="nt">"essential"</span>' in out
    )
    assert '<span class="kc">true</span>' in out


def test_mathjax_passes_through_intact(renderer):
    out = html(renderer, r"Inline \(x_1 < y_2\) and display \[a * b * c\]")
    assert r"\(x_1 &lt; y_2\)" in out
    assert r"\[a * b * c\]" in out
    assert "<em>" not in out


def test_cloze_markers_pass_through_markdown_and_code(renderer):
    assert html(renderer, "The {{c1::**essential**::hint}} container") == (
        "<p>The {{c1::<strong>essential</strong>::hint}} container</p>"
    )
    code = html(renderer, '```json\n{"type": "{{c1::binpack}}"}\n```')
    assert "{{c1::binpack}}" in code


def test_images_resolve_relative_to_the_card_file(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "d.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    renderer = Renderer(tmp_path)
    result = renderer.render_field("![diagram](media/d.svg)", tmp_path)
    (media,) = result.media
    assert media.source == (tmp_path / "media" / "d.svg").resolve()
    assert media.name.startswith("d-") and media.name.endswith(".svg")
    assert f'src="{media.name}"' in result.html


def test_plain_text():
    assert plain_text("<p>A &amp; <b>B</b></p>\n<p>C</p>") == "A & B C"


def test_images_are_packaged_as_media(tmp_path):
    cards = write_deck(
        tmp_path / "cards",
        {"t": "deck: T\ncards:\n  - id: a\n    front: '![d](media/d.svg)'\n    back: A\n"},
    )
    (cards / "media").mkdir()
    (cards / "media" / "d.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    build(cards, tmp_path / "out", now=1_700_000_000)
    for name in ("test-deck.apkg", "test-deck-t.apkg"):
        (media_name,) = read_package(tmp_path / "out" / name)["media"].values()
        assert media_name.startswith("d-") and media_name.endswith(".svg")


def test_real_deck_packages_the_sidecar_diagram(real_cards, tmp_path, anki):
    build(real_cards, tmp_path / "out", now=1_700_000_000)
    media = read_package(tmp_path / "out" / "aws-containers.apkg")["media"]
    assert any(name.startswith("sidecar-bind-mount-") for name in media.values())
    anki.import_package(tmp_path / "out" / "aws-containers.apkg")
    media_dir = Path(anki.col.media.dir())
    assert any(p.name.startswith("sidecar-bind-mount-") for p in media_dir.iterdir())


def test_records_sent_back_by_workers_pickle_as_plain_tuples(tmp_path, monkeypatch):
    """Cards and rendered fields cross between processes by the thousand: each comes back
    equal, without asking dataclasses for its fields (slow, once per object)."""
    import dataclasses
    import pickle

    from deckgen.cards import Card
    from deckgen.errors import Location
    from deckgen.package import NoteTypeArgs, PackageNote
    from deckgen.render import FieldRequest, MediaFile, RenderedField

    where = Location("cards/a.yaml", 3, 5)
    records = [
        where,
        Card("a1", "basic", {"front": "Q"}, {"front": where}, ("t",), where, ("quality",), "", True, where),
        FieldRequest("a", tmp_path, "**Q**", frozenset({"style"}), False),
        RenderedField("<p>Q</p>", (MediaFile(tmp_path / "a.png", "a-123.png"),), (), ("a.png",)),
        PackageNote(
            "guid", NoteTypeArgs(1, "Basic", ("Front",), (), "", False, 2), ["Q"], ("t",), 3, 4, (0,)
        ),
    ]
    data = pickle.dumps(records)
    monkeypatch.setattr(dataclasses, "fields", lambda *_: pytest.fail("fields() asked while loading"))
    assert pickle.loads(data) == records
