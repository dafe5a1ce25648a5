"""Reading Anki packages, the zip: bounded unpacking of untrusted zip and zstd data.

Part of the way back in from Anki (anki_package.py reads packages for `deckgen diff`
and `deckgen import`). A package is a zip whose members may be zstd-compressed; this
module opens it and unpacks members, checking every declared size against the limits
below before anything is unpacked, and stopping at them while unpacking, so that a
hostile package cannot fill the disk or the memory. Whatever is wrong with a package
is raised as `Refused`, which anki_package.py locates at the package's path.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import zstandard

# -- limits ----------------------------------------------------------------------------
# Bigger than any deck deckgen is meant for, small enough that a hostile package cannot
# fill the disk or the memory. A package over a limit is refused, never half read.

MAX_MEMBERS = 100_000  # files in the zip: the collection, the media list, one per media file
MAX_DIRECTORY_BYTES = 32 * 1024**2  # the zip's central directory, checked before it is parsed
MAX_DATABASE_BYTES = 1024**3  # the unpacked SQLite collection, written to a temporary file
MAX_MEDIA_FILE_BYTES = 100 * 1024**2  # one media file; AnkiWeb syncs none larger either
MAX_MEDIA_LIST_BYTES = 64 * 1024**2  # the unpacked `media` list
MAX_META_BYTES = 64 * 1024  # `meta` is two bytes in practice
MAX_PACKAGE_BYTES = 4 * 1024**3  # everything in the package, unpacked
# Real collections and media pack 2 to 40 times smaller; a zip or zstd bomb packs a
# thousand times or more. The ratio is judged only past RATIO_FLOOR bytes, where a few
# empty SQLite pages can no longer make an honest file look like a bomb.
MAX_RATIO = 100
RATIO_FLOOR = 4 * 1024**2

CHUNK = 1024**2
ZSTD_SLICE = 1024  # zstd bytes per decompress call: see _unzstd
ZSTD_MAX_WINDOW = 1 << 27  # zstd's own default cap on decoder memory (128 MiB)

COLLECTION_FILES = ("collection.anki21b", "collection.anki21", "collection.anki2")
# What Anki's export screen calls a legacy export (collection.anki21), which deckgen reads.
OLDER_EXPORT = "export it again with 'Support older Anki versions' ticked"


class Refused(Exception):
    """Why a package cannot be read; `read_anki_package` locates it at the package's path."""


def open_package(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise Refused("file not found") from None
    except IsADirectoryError:
        raise Refused("is a folder, not an Anki package") from None
    except OSError as error:
        raise Refused(f"cannot be read ({error.strerror})") from None


# -- the zip -------------------------------------------------------------------------


def open_zip(file: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise Refused("not a readable Anki package: it is not a zip file") from None


def check_zip_directory(file: BinaryIO) -> None:
    """Refuse a zip whose central directory is too big before zipfile parses all of it.

    zipfile builds an object per member up front; this reads only the end record.
    """
    file.seek(0, io.SEEK_END)
    size = file.tell()
    tail_start = max(0, size - (22 + 65535))  # the end record, and a comment of at most 64 KiB
    file.seek(tail_start)
    tail = file.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise Refused("not a readable Anki package: it is not a zip file")
    entries = int.from_bytes(tail[at + 10 : at + 12], "little")
    directory = int.from_bytes(tail[at + 12 : at + 16], "little")
    locator_at = tail_start + at - 20
    if (entries == 0xFFFF or directory == 0xFFFFFFFF) and locator_at >= 0:
        file.seek(locator_at)
        locator = file.read(20)
        if locator[:4] == b"PK\x06\x07":
            file.seek(int.from_bytes(locator[8:16], "little"))
            record = file.read(56)
            if record[:4] == b"PK\x06\x06" and len(record) == 56:
                entries = int.from_bytes(record[32:40], "little")
                directory = int.from_bytes(record[40:48], "little")
    if entries > MAX_MEMBERS:
        raise Refused(f"refused: the package holds {entries} files, more than the {MAX_MEMBERS} allowed")
    if directory > MAX_DIRECTORY_BYTES:
        raise Refused(
            f"refused: the package's list of files is {_size(directory)},"
            f" more than the {_size(MAX_DIRECTORY_BYTES)} allowed"
        )
    file.seek(0)


def _member_limit(name: str) -> int:
    if name in COLLECTION_FILES:
        return MAX_DATABASE_BYTES
    if name == "meta":
        return MAX_META_BYTES
    if name == "media":
        return MAX_MEDIA_LIST_BYTES
    return MAX_MEDIA_FILE_BYTES


def check_members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Every member's declared size, ratio and method, checked before anything is unpacked."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise Refused(f"refused: the package holds {len(infos)} files, more than the {MAX_MEMBERS} allowed")
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        if name in members:
            raise Refused(f"not a readable Anki package: it holds two files named {name!r}")
        members[name] = info
        if info.flag_bits & 0x1:
            raise Refused(f"not a readable Anki package: {name} is encrypted")
        # Anki and genanki write only these two; refusing the others (bzip2, lzma) keeps
        # their decompressors, and their own bombs, out of reach.
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Refused(f"not a readable Anki package: {name} uses a compression Anki never writes")
        limit = _member_limit(name)
        if info.file_size > limit:
            raise Refused(too_big(name, info.file_size, limit))
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise Refused(
                f"refused: {name} would unpack to {_size(info.file_size)} from {_size(info.compress_size)},"
                f" more than {MAX_RATIO} times its packed size (a zip bomb?)"
            )
        total += info.file_size
    if total > MAX_PACKAGE_BYTES:
        raise Refused(too_big("the package", total, MAX_PACKAGE_BYTES))
    return members


def member_info(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    try:
        return archive.getinfo(name)
    except KeyError:
        return None


def unpack(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: BinaryIO, *, zstd: bool, limit: int
) -> int:
    """Copy one member, unpacked, to `target`; stop and refuse past `limit` bytes or MAX_RATIO."""
    name = info.filename
    try:
        with archive.open(info) as member:
            if zstd:
                return _unzstd(member, target, name, limit)
            # zipfile never returns more than the declared size, which check_members
            # bounded, and checks the CRC at the end.
            written = 0
            while chunk := member.read(CHUNK):
                written = _write_bounded(target, chunk, written, info.compress_size, name, limit)
            return written
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        zstandard.ZstdError,
        NotImplementedError,
    ) as error:
        raise Refused(f"not a readable Anki package: {name} is damaged ({error})") from None


def _unzstd(member: BinaryIO, target: BinaryIO, name: str, limit: int) -> int:
    """Decompress a zstd member (one frame or several, as Anki's copy_decode reads them).

    zstandard's stream readers end quietly on a truncated frame, so this feeds a
    decompressobj, whose `eof` says the frame really ended, ZSTD_SLICE bytes at a time:
    one zstd byte unpacks to at most 32 KiB (an RLE block), so no single call can
    produce more than 32 MiB, however the data was crafted.
    """
    decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    frame = decompressor.decompressobj()
    packed = written = 0
    first = True
    while chunk := member.read(64 * 1024):
        if first:
            _refuse_declared_zstd_size(chunk, name, limit)
            first = False
        for start in range(0, len(chunk), ZSTD_SLICE):
            data = chunk[start : start + ZSTD_SLICE]
            packed += len(data)
            while data:
                if frame.eof:
                    frame = decompressor.decompressobj()
                out = frame.decompress(data)
                data = frame.unused_data if frame.eof else b""
                written = _write_bounded(target, out, written, packed, name, limit)
    if not frame.eof:
        raise Refused(f"not a readable Anki package: {name} is damaged (it ends too early)")
    return written


def _refuse_declared_zstd_size(start: bytes, name: str, limit: int) -> None:
    """Refuse before unpacking when the zstd frame header itself declares too big a size."""
    try:
        declared = zstandard.get_frame_parameters(start[:18]).content_size  # 18: the longest header
    except zstandard.ZstdError:
        return  # damaged: decompressing says so
    if declared != zstandard.CONTENTSIZE_UNKNOWN and declared > limit:
        raise Refused(too_big(name, declared, limit))


def _write_bounded(target: BinaryIO, data: bytes, written: int, packed: int, name: str, limit: int) -> int:
    written += len(data)
    if written > limit:
        raise Refused(f"refused: {name} unpacks to more than the {_size(limit)} allowed")
    if written > RATIO_FLOOR and written > MAX_RATIO * max(packed, 1):
        raise Refused(f"refused: {name} unpacks to more than {MAX_RATIO} times its packed size (a zip bomb?)")
    target.write(data)
    return written


def read_small(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, zstd: bool, limit: int) -> bytes:
    buffer = io.BytesIO()
    unpack(archive, info, buffer, zstd=zstd, limit=limit)
    return buffer.getvalue()


def too_big(what: str, size: int, limit: int) -> str:
    return f"refused: {what} would unpack to {_size(size)}, more than the {_size(limit)} allowed"


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{count} bytes"
