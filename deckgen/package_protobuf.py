"""Reading Anki packages, protobuf by hand: the few small messages a package holds.

Part of the way back in from Anki (anki_package.py). Anki 2.1.50+ packages keep their
version (`meta`) and media list in protobuf, and modern collections keep note type and
deck settings in protobuf blobs (package_collection.py). The few messages read are
small and stable; decoding them by hand keeps the protobuf runtime and Anki's generated
code out of deckgen's dependencies.
"""

from __future__ import annotations

from .package_archive import Refused

ProtobufFields = dict[int, list[int | bytes]]


def _varint(data: bytes, at: int, what: str) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if at >= len(data):
            break
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
    raise Refused(f"not a readable Anki package: {what} is damaged")


def parse_protobuf(data: bytes, what: str) -> ProtobufFields:
    """A message's fields: number -> values in order (varints as int, the rest as bytes)."""
    fields: ProtobufFields = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at, what)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, at = _varint(data, at, what)
        elif wire_type == 2:
            length, at = _varint(data, at, what)
            value, at = data[at : at + length], at + length
        elif wire_type in (1, 5):
            width = 8 if wire_type == 1 else 4
            value, at = data[at : at + width], at + width
        else:
            raise Refused(f"not a readable Anki package: {what} is damaged")
        if at > len(data) or number == 0:
            raise Refused(f"not a readable Anki package: {what} is damaged")
        fields.setdefault(number, []).append(value)
    return fields


def protobuf_integer(fields: ProtobufFields, number: int) -> int:
    values = fields.get(number)
    if not values:
        return 0
    value = values[-1]  # proto3: the last one wins
    return value if isinstance(value, int) else 0


def protobuf_bytes(fields: ProtobufFields, number: int) -> bytes:
    values = fields.get(number)
    if not values:
        return b""
    value = values[-1]
    return value if isinstance(value, bytes) else b""


def protobuf_text(fields: ProtobufFields, number: int, what: str) -> str:
    try:
        return protobuf_bytes(fields, number).decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(f"not a readable Anki package: {what} is damaged") from None


def protobuf_messages(fields: ProtobufFields, number: int) -> list[bytes]:
    return [value for value in fields.get(number, []) if isinstance(value, bytes)]
