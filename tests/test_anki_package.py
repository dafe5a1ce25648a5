"""deckgen.anki_package reads every package format Anki writes, and refuses broken ones.

The packages are real: a deck written with genanki, imported into a real Anki collection
(the `anki` package's Rust backend) and exported by Anki itself, modern (zstd,
collection.anki21b) and legacy (collection.anki21), as .apkg and .colpkg. The broken
packages are made from those, or built byte by byte where a zip bomb needs it.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import genanki
import pytest
import zstandard
from anki.collection import DeckIdLimit, ExportAnkiPackageOptions

from deckgen.anki_package import (
    MAX_DATABASE_BYTES,
    MAX_MEMBERS,
    AnkiPackage,
    Card,
    CardTemplate,
    Deck,
    Note,
    NoteType,
    read_anki_package,
)
from deckgen.errors import DeckError

from anki_collection import AnkiCollection

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415478da63f8cfc000000301010018dd8db00000000049454e44ae426082"
)
CSS = ".card { font-family: serif; }\n.cloze { color: blue; }"
BASIC = genanki.Model(
    1607392319,
    "Test Basic (and reversed)",
    fields=[{"name": "Front"}, {"name": "Back"}, {"name": "ID"}],
    templates=[
        {"name": "Card 1", "qfmt": "{{Front}}", "afmt": "{{FrontSide}}<hr id=answer>{{Back}}"},
        {"name": "Card 2", "qfmt": "{{Back}}", "afmt": "{{FrontSide}}<hr id=answer>{{Front}}"},
    ],
    css=CSS,
    sort_field_index=2,
)
CLOZE = genanki.Model(
    1607392320,
    "Test Cloze",
    fields=[{"name": "Text"}, {"name": "Extra"}],
    templates=[{"name": "Cloze", "qfmt": "{{cloze:Text}}", "afmt": "{{cloze:Text}}<br>{{Extra}}"}],
    css=CSS,
    model_type=genanki.Model.CLOZE,
)
ROOT, TOPIC = "Root Deck", "Root Deck::Topic ü"
NOTES = {
    # guid: (model, fields, tags, deck)
    "guid-basic": (BASIC, ["Q <b>one</b>", 'A <img src="dot.png">', "one"], ["aws::ecs", "x"], TOPIC),
    "guid-unicode": (BASIC, ["Grüße — 日本", "séance", "two"], [], ROOT),
    "guid-cloze": (CLOZE, ["{{c1::Tasks}} run on {{c2::clusters}}.", "extra"], ["cloze"], TOPIC),
}
MOD = 1_700_000_000


def write_genanki_package(path: Path, media_folder: Path) -> Path:
    media_folder.mkdir(parents=True, exist_ok=True)
    (media_folder / "dot.png").write_bytes(PNG)
    decks = {
        ROOT: genanki.Deck(2059400110, ROOT, description="The <i>root</i>."),
        TOPIC: genanki.Deck(2059400111, TOPIC, description="A topic."),
    }
    for guid, (model, fields, tags, deck) in NOTES.items():
        decks[deck].add_note(genanki.Note(model=model, fields=fields, tags=tags, guid=guid))
    package = genanki.Package(list(decks.values()), media_files=[str(media_folder / "dot.png")])
    package.write_to_file(str(path), timestamp=MOD)
    return path


def anki_exports(package: Path, folder: Path, root_deck: str) -> dict[str, Path]:
    """`package` imported into a real Anki collection, then exported by Anki every way it can."""
    collection = AnkiCollection(folder / "anki")
    collection.import_package(package)
    root = DeckIdLimit(collection.col.decks.id_for_name(root_deck))
    out = {}
    for name, legacy in (("modern.apkg", False), ("legacy.apkg", True)):
        out[name] = folder / name
        options = ExportAnkiPackageOptions(
            with_scheduling=False, with_deck_configs=False, with_media=True, legacy=legacy
        )
        collection.col.export_anki_package(out_path=str(out[name]), options=options, limit=root)
    # Exporting a whole collection closes it: these come last.
    out["modern.colpkg"] = folder / "modern.colpkg"
    collection.col.export_collection_package(str(out["modern.colpkg"]), include_media=True, legacy=False)
    collection.col.reopen()
    out["legacy.colpkg"] = folder / "legacy.colpkg"
    collection.col.export_collection_package(str(out["legacy.colpkg"]), include_media=True, legacy=True)
    collection.col.reopen()
    collection.close()
    return out


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("packages")
    genanki_package = write_genanki_package(folder / "genanki.apkg", folder / "media")
    return {"genanki.apkg": genanki_package, **anki_exports(genanki_package, folder, ROOT)}


def problem(path: Path) -> str:
    with pytest.raises(DeckError) as raised:
        read_anki_package(path)
    (found,) = raised.value.problems
    return str(found)


# -- every format reads the same deck ----------------------------------------------------

FORMATS = {
    "genanki.apkg": ("collection.anki2", 11),
    "legacy.apkg": ("collection.anki21", 11),
    "modern.apkg": ("collection.anki21b", 18),
    "modern.colpkg": ("collection.anki21b", 18),
    "legacy.colpkg": ("collection.anki21", 11),
}


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_reads_the_same_deck(packages, name):
    package = read_anki_package(packages[name])

    assert (package.collection_file, package.schema_version) == FORMATS[name]
    by_guid = {note.guid: note for note in package.notes}
    assert set(by_guid) == set(NOTES)
    for guid, (model, fields, tags, deck) in NOTES.items():
        note = by_guid[guid]
        assert note.fields == tuple(fields)
        assert note.tags == tuple(tags)
        assert note.mod == MOD
        assert note.note_type_id == model.model_id
        note_type = package.note_type_of(note)
        assert note_type == NoteType(
            id=model.model_id,
            name=model.name,
            kind="cloze" if model.model_type == genanki.Model.CLOZE else "standard",
            fields=tuple(f["name"] for f in model.fields),
            templates=tuple(CardTemplate(t["name"], t["qfmt"], t["afmt"]) for t in model.templates),
            css=CSS,
            sort_field=model.sort_field_index,
            mod=note_type.mod,
        )
        assert package.fields_of(note) == dict(zip(note_type.fields, fields, strict=True))
        card_decks = {package.decks[card.deck_id].name for card in package.cards if card.note_id == note.id}
        assert card_decks == {deck}

    assert sorted(
        (package.decks[c.deck_id].name, by_guid_of(package, c.note_id), c.ord) for c in package.cards
    ) == [
        (ROOT, "guid-unicode", 0),
        (ROOT, "guid-unicode", 1),
        (TOPIC, "guid-basic", 0),
        (TOPIC, "guid-basic", 1),
        (TOPIC, "guid-cloze", 0),
        (TOPIC, "guid-cloze", 1),
    ]
    descriptions = {d.name: d.description for d in package.decks.values() if d.name != "Default"}
    assert descriptions == {ROOT: "The <i>root</i>.", TOPIC: "A topic."}

    assert set(package.media) == {"dot.png"}
    assert package.read_media("dot.png") == PNG
    assert package.media["dot.png"].size == len(PNG)


def by_guid_of(package: AnkiPackage, note_id: int) -> str:
    return next(note.guid for note in package.notes if note.id == note_id)


def test_the_genanki_package_keeps_its_own_ids(packages):
    package = read_anki_package(packages["genanki.apkg"])
    assert package.decks[2059400111] == Deck(2059400111, TOPIC, "A topic.", package.decks[2059400111].mod)
    assert set(package.note_types) == {BASIC.model_id, CLOZE.model_id}
    assert all(isinstance(note, Note) for note in package.notes)
    assert all(isinstance(card, Card) for card in package.cards)
    assert [note.id for note in package.notes] == sorted(note.id for note in package.notes)


def test_the_modern_export_is_not_read_as_its_stub(packages):
    """Anki 2.1.50+ puts a one-note "Please update" collection.anki2 beside the real one."""
    with zipfile.ZipFile(packages["modern.apkg"]) as archive:
        assert {"meta", "collection.anki21b", "collection.anki2", "media"} <= set(archive.namelist())
    package = read_anki_package(packages["modern.apkg"])
    assert len(package.notes) == len(NOTES)
    assert not any("Please update" in field for note in package.notes for field in note.fields)


def test_the_modern_media_list_is_checked_against_the_file(packages, tmp_path):
    """The media list declares each file's SHA-1; a file that does not match is damaged."""
    broken = rewrite(
        packages["modern.apkg"], tmp_path / "media.apkg", {"0": zstandard.compress(b"not the PNG")}
    )
    package = read_anki_package(broken)
    with pytest.raises(DeckError) as raised:
        package.read_media("dot.png")
    assert str(raised.value) == f"{broken}: not a readable Anki package: media file 'dot.png' is damaged" + (
        " (its checksum does not match)"
    )


# -- broken packages ------------------------------------------------------------------------


def rewrite(
    source: Path, target: Path, replace: dict[str, bytes | None], add: dict[str, bytes] | None = None
) -> Path:
    """A copy of a package with some members replaced (or dropped, for None)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = replace.get(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info.filename, data)
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return target


def test_missing_file(tmp_path):
    assert problem(tmp_path / "nope.apkg") == f"{tmp_path / 'nope.apkg'}: file not found"


def test_a_folder(tmp_path):
    assert problem(tmp_path) == f"{tmp_path}: is a folder, not an Anki package"


def test_not_a_zip(tmp_path):
    path = tmp_path / "notes.apkg"
    path.write_text("just some text, long enough to look like a file" * 10)
    assert problem(path) == f"{path}: not a readable Anki package: it is not a zip file"


def test_empty_file(tmp_path):
    path = tmp_path / "empty.apkg"
    path.write_bytes(b"")
    assert problem(path) == f"{path}: not a readable Anki package: it is not a zip file"


def test_zip_without_collection(tmp_path):
    path = tmp_path / "photos.apkg"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("media", "{}")
        archive.writestr("holiday.jpg", b"\xff\xd8")
    assert problem(path) == f"{path}: not an Anki package: no collection inside"


def test_modern_meta_without_its_collection(packages, tmp_path):
    """Version 3 must read collection.anki21b: the stub beside it is not the deck."""
    path = rewrite(packages["modern.apkg"], tmp_path / "stub-only.apkg", {"collection.anki21b": None})
    assert problem(path) == f"{path}: not an Anki package: no collection inside"


def test_truncated_database(packages, tmp_path):
    with zipfile.ZipFile(packages["genanki.apkg"]) as archive:
        database = archive.read("collection.anki2")
    path = rewrite(
        packages["genanki.apkg"], tmp_path / "cut.apkg", {"collection.anki2": database[: len(database) // 2]}
    )
    assert (
        problem(path)
        == f"{path}: not a readable Anki package: its collection database is damaged (truncated)"
    )


def test_truncated_zstd_collection(packages, tmp_path):
    with zipfile.ZipFile(packages["modern.apkg"]) as archive:
        packed = archive.read("collection.anki21b")
    path = rewrite(
        packages["modern.apkg"], tmp_path / "cut.apkg", {"collection.anki21b": packed[: len(packed) // 2]}
    )
    message = problem(path)
    assert message.startswith(f"{path}: not a readable Anki package: collection.anki21b is damaged (")


def test_not_a_database(packages, tmp_path):
    path = rewrite(packages["genanki.apkg"], tmp_path / "junk.apkg", {"collection.anki2": b"\x00junk" * 4096})
    assert problem(path) == f"{path}: not a readable Anki package: its collection is not an SQLite database"


def test_damaged_database_pages(packages, tmp_path):
    """Pages overwritten with junk: SQLite's own error, not a traceback or a wrong deck."""
    with zipfile.ZipFile(packages["genanki.apkg"]) as archive:
        database = bytearray(archive.read("collection.anki2"))
    page_size = int.from_bytes(database[16:18], "big")
    database[page_size:] = b"\xa5" * (len(database) - page_size)  # every page but the first
    path = rewrite(packages["genanki.apkg"], tmp_path / "junk.apkg", {"collection.anki2": bytes(database)})
    assert problem(path).startswith(
        f"{path}: not a readable Anki package: its collection database is damaged ("
    )


def test_crc_mismatch(packages, tmp_path):
    """A member whose bytes do not match its CRC is damaged, even if SQLite could open it."""
    data = bytearray(packages["genanki.apkg"].read_bytes())
    # zipfile checks the CRC the central directory declares: zero it for the collection.
    for at in find_all(data, b"PK\x01\x02"):
        name_length = int.from_bytes(data[at + 28 : at + 30], "little")
        if bytes(data[at + 46 : at + 46 + name_length]) == b"collection.anki2":
            data[at + 16 : at + 20] = b"\x00\x00\x00\x00"
    path = tmp_path / "crc.apkg"
    path.write_bytes(bytes(data))
    assert problem(path) == (
        f"{path}: not a readable Anki package:"
        " collection.anki2 is damaged (Bad CRC-32 for file 'collection.anki2')"
    )


def find_all(data: bytes | bytearray, needle: bytes) -> list[int]:
    found, at = [], data.find(needle)
    while at >= 0:
        found.append(at)
        at = data.find(needle, at + 1)
    return found


def test_package_version_newer_than_anki_21_50(packages, tmp_path):
    path = rewrite(packages["modern.apkg"], tmp_path / "future.apkg", {"meta": b"\x08\x04"})
    assert problem(path) == (
        f"{path}: not a readable Anki package: it was made by a newer Anki than deckgen can read"
        " (package version 4); export it again with 'Support older Anki versions' ticked"
    )


def test_schema_newer_than_18(packages, tmp_path):
    with zipfile.ZipFile(packages["genanki.apkg"]) as archive:
        database = tmp_path / "collection.anki2"
        database.write_bytes(archive.read("collection.anki2"))
    connection = sqlite3.connect(database)
    connection.execute("update col set ver = 19")
    connection.commit()
    connection.close()
    path = rewrite(
        packages["genanki.apkg"], tmp_path / "schema19.apkg", {"collection.anki2": database.read_bytes()}
    )
    assert problem(path) == (
        f"{path}: not a readable Anki package: its collection uses schema 19, newer than deckgen can read"
        " (up to 18); export it again with 'Support older Anki versions' ticked"
    )


def test_unsafe_media_name(packages, tmp_path):
    path = rewrite(packages["genanki.apkg"], tmp_path / "escape.apkg", {"media": b'{"0": "../../.bashrc"}'})
    assert problem(path) == (
        f"{path}: not a readable Anki package: it holds a media file with an unsafe name '../../.bashrc'"
    )


def test_media_list_naming_a_missing_file(packages, tmp_path):
    path = rewrite(
        packages["genanki.apkg"], tmp_path / "lost.apkg", {"media": b'{"0": "dot.png", "7": "lost.png"}'}
    )
    assert problem(path) == f"{path}: not a readable Anki package: media file 'lost.png' is missing from it"


def test_damaged_modern_media_list(packages, tmp_path):
    path = rewrite(
        packages["modern.apkg"], tmp_path / "list.apkg", {"media": zstandard.compress(b"\x0a\xff")}
    )
    assert problem(path) == f"{path}: not a readable Anki package: the media list is damaged"


# -- bombs ------------------------------------------------------------------------------------


def raw_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A zip written byte by byte: (name, packed bytes, method, declared size, CRC) per member.

    zipfile cannot write a member whose declared size is a lie, which is what bombs do.
    """
    body, directory = b"", b""
    for name, packed, method, size, crc in members:
        encoded = name.encode()
        fields = struct.pack("<HHHHHIII", 20, 0, method, 0, 0x21, crc, len(packed), size)
        directory += (
            b"PK\x01\x02"
            + struct.pack("<H", 20)
            + fields
            + struct.pack("<HHHHHII", len(encoded), 0, 0, 0, 0, 0, len(body))
            + encoded
        )
        body += b"PK\x03\x04" + fields + struct.pack("<HH", len(encoded), 0) + encoded + packed
    end = b"PK\x05\x06" + struct.pack(
        "<HHHHIIH", 0, 0, len(members), len(members), len(directory), len(body), 0
    )
    path.write_bytes(body + directory + end)
    return path


def deflated_zeros(mebibytes: int) -> bytes:
    """Raw deflate of `mebibytes` MiB of zeros, in about a KiB per MiB: fast to make."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(1024**2)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * mebibytes + compressor.flush()


def zstd_zeros(mebibytes: int) -> bytes:
    """A zstd frame of `mebibytes` MiB of zeros that does not declare its size, as Anki writes."""
    stream = zstandard.ZstdCompressor(level=1, write_content_size=False).compressobj()
    return b"".join([stream.compress(bytes(1024**2)) for _ in range(mebibytes)] + [stream.flush()])


def zstd_frame_start(declared: int) -> bytes:
    """The first block of a zstd frame whose header pledges `declared` bytes."""
    stream = zstandard.ZstdCompressor(level=1).compressobj(size=declared)
    return stream.compress(bytes(1024**2)) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """Where the reader may write its temporary files during the test, to look at after."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def refused_quickly(path: Path, scratch: Path) -> str:
    started = time.perf_counter()
    message = problem(path)
    assert time.perf_counter() - started < 0.5
    assert list(scratch.iterdir()) == []  # nothing left behind
    return message


def test_one_megabyte_zip_bomb_is_refused_before_unpacking(tmp_path, scratch):
    packed = deflated_zeros(1024)  # 1 GiB of zeros in about 1 MB
    assert len(packed) < 1_100_000
    path = raw_zip(tmp_path / "bomb.apkg", [("collection.anki2", packed, zipfile.ZIP_DEFLATED, 1024**3, 0)])
    assert refused_quickly(path, scratch) == (
        f"{path}: refused: collection.anki2 would unpack to 1 GiB from 1 MiB,"
        " more than 100 times its packed size (a zip bomb?)"
    )


def test_member_declaring_a_huge_size_is_refused(tmp_path, scratch):
    path = raw_zip(tmp_path / "huge.apkg", [("collection.anki2", b"", zipfile.ZIP_STORED, 3 * 1024**3, 0)])
    assert refused_quickly(path, scratch) == (
        f"{path}: refused: collection.anki2 would unpack to 3 GiB, more than the 1 GiB allowed"
    )
    assert MAX_DATABASE_BYTES == 1024**3


def test_member_lying_about_its_size_stops_at_the_declared_size(tmp_path, scratch):
    """Declares 2 MiB, inflates to 1 GiB: unpacking stops at 2 MiB and the CRC says damaged."""
    packed = deflated_zeros(1024)
    path = raw_zip(
        tmp_path / "liar.apkg", [("collection.anki2", packed, zipfile.ZIP_DEFLATED, 2 * 1024**2, 0)]
    )
    assert refused_quickly(path, scratch).startswith(
        f"{path}: not a readable Anki package: collection.anki2 is damaged ("
    )


def test_zstd_bomb_is_refused_while_unpacking(tmp_path, scratch):
    """The zip stores it uncompressed (as Anki does); zstd would make 256 MiB of 8 KB."""
    packed = zstd_zeros(256)
    path = raw_zip(
        tmp_path / "zstd-bomb.apkg",
        [
            ("meta", b"\x08\x03", zipfile.ZIP_STORED, 2, zlib.crc32(b"\x08\x03")),
            ("collection.anki21b", packed, zipfile.ZIP_STORED, len(packed), zlib.crc32(packed)),
        ],
    )
    assert refused_quickly(path, scratch) == (
        f"{path}: refused: collection.anki21b unpacks to more than 100 times its packed size (a zip bomb?)"
    )


def test_zstd_frame_declaring_a_huge_size_is_refused_before_unpacking(tmp_path, scratch):
    packed = zstd_frame_start(1536 * 1024**2)
    assert zstandard.get_frame_parameters(packed).content_size == 1536 * 1024**2
    path = raw_zip(
        tmp_path / "zstd-huge.apkg",
        [
            ("meta", b"\x08\x03", zipfile.ZIP_STORED, 2, zlib.crc32(b"\x08\x03")),
            ("collection.anki21b", packed, zipfile.ZIP_STORED, len(packed), zlib.crc32(packed)),
        ],
    )
    assert refused_quickly(path, scratch) == (
        f"{path}: refused: collection.anki21b would unpack to 1.5 GiB, more than the 1 GiB allowed"
    )


def test_too_many_members_is_refused_before_zipfile_reads_them(tmp_path, scratch):
    """Only the (zip64) end record claims more members than allowed: nothing else is parsed."""
    count = MAX_MEMBERS + 1
    zip64_end = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, count, count, 46 * count, 0)
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, 0, 1)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path = tmp_path / "many.apkg"
    path.write_bytes(zip64_end + locator + end)
    assert (
        refused_quickly(path, scratch)
        == f"{path}: refused: the package holds 100001 files, more than the 100000 allowed"
    )


def test_sha1_is_what_anki_declares(packages):
    """The reader's checksum is Anki's own: the modern media list's SHA-1 of the file."""
    package = read_anki_package(packages["modern.apkg"])
    assert package.media["dot.png"].sha1 == hashlib.sha1(PNG).digest()


def test_compression_anki_never_writes(packages, tmp_path):
    """bzip2 and lzma members are refused unread: their decompressors have bombs of their own."""
    path = tmp_path / "bzip2.apkg"
    with zipfile.ZipFile(packages["genanki.apkg"]) as old, zipfile.ZipFile(path, "w") as new:
        new.writestr("collection.anki2", old.read("collection.anki2"), compress_type=zipfile.ZIP_BZIP2)
    assert problem(path) == (
        f"{path}: not a readable Anki package: collection.anki2 uses a compression Anki never writes"
    )


def test_values_of_the_wrong_type(packages, tmp_path):
    """SQLite does not enforce column types: a blob where Anki keeps a deck name is damage."""
    with zipfile.ZipFile(packages["modern.apkg"]) as archive:
        database = zstandard.ZstdDecompressor().decompressobj().decompress(archive.read("collection.anki21b"))
    (tmp_path / "collection.db").write_bytes(database)
    connection = sqlite3.connect(tmp_path / "collection.db")
    connection.create_collation("unicase", lambda a, b: (a.lower() > b.lower()) - (a.lower() < b.lower()))
    connection.execute("pragma journal_mode = delete")
    connection.execute("update decks set name = x'00ff' where name = ?", (ROOT,))
    connection.commit()
    connection.close()
    packed = zstandard.compress((tmp_path / "collection.db").read_bytes())
    path = rewrite(packages["modern.apkg"], tmp_path / "blob.apkg", {"collection.anki21b": packed})
    assert problem(path) == (
        f"{path}: not a readable Anki package: its collection database is damaged (unexpected values)"
    )
