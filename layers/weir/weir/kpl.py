"""The Kinesis Producer Library's aggregated record format: many user records in one Kinesis record.

As the KPL documents it (awslabs/amazon-kinesis-producer, aggregation-format.md): the 4 magic bytes
``F3 89 9A C2``, then a protobuf (proto2) ``AggregatedRecord``, then the 16-byte MD5 of the protobuf
bytes::

    message AggregatedRecord {
      repeated string partition_key_table     = 1;
      repeated string explicit_hash_key_table = 2;
      repeated Record records                 = 3;
    }
    message Record {
      required uint64 partition_key_index     = 1;
      optional uint64 explicit_hash_key_index = 2;
      required bytes  data                    = 3;
      repeated Tag    tags                    = 4;   // not used by the KPL; skipped here
    }

A user record's place in the stream is its aggregate's sequence number and its subsequence number (its
index among the aggregate's records). The wire format is written and read here directly (a handful of
varints and length-delimited fields), so the layer needs no protobuf runtime; the KPL's, the KCL's and
``aws-kinesis-agg``'s readers and writers agree with it (tests/unit/test_kpl.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST_BYTES = 16
# protobuf wire types
_VARINT, _LENGTH_DELIMITED = 0, 2


class UnreadableAggregate(ValueError):
    """Data that begins with the KPL's magic bytes but is not a whole, intact aggregated record."""


@dataclass(frozen=True)
class UserRecord:
    partition_key: str
    data: bytes
    explicit_hash_key: str | None = None


def is_aggregated(data: bytes) -> bool:
    return data[:4] == MAGIC


EMPTY_AGGREGATE_BYTES = len(MAGIC) + _DIGEST_BYTES


def user_record_bytes(partition_key: str, data_bytes: int) -> int:
    """At most how many bytes one user record adds to an aggregate (its key counted as new to the
    table, its index at its largest): for packing aggregates to a size limit without building them."""
    key = len(partition_key.encode("utf-8"))
    entry = 1 + 10 + 1 + _varint_size(data_bytes) + data_bytes
    return 1 + _varint_size(key) + key + 1 + _varint_size(entry) + entry


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def user_record_count(data: bytes) -> int:
    """How many user records a Kinesis record's data holds: 1 unless it is a readable aggregate."""
    return len(user_data(data))


def user_data(data: bytes) -> list[bytes]:
    """The data of each user record a Kinesis record's data holds: the data itself unless it is a
    readable aggregate."""
    if is_aggregated(data):
        try:
            return [user.data for user in deaggregate(data)]
        except UnreadableAggregate:
            pass
    return [data]


def aggregate(records: Sequence[UserRecord]) -> bytes:
    """One aggregated record holding ``records``, in order; each key stored once in its table."""
    if not records:
        raise ValueError("an aggregated record holds at least one user record")
    keys: dict[str, int] = {}
    hash_keys: dict[str, int] = {}
    body = bytearray()
    for record in records:
        entry = bytearray()
        entry += _field_varint(1, keys.setdefault(record.partition_key, len(keys)))
        if record.explicit_hash_key is not None:
            entry += _field_varint(2, hash_keys.setdefault(record.explicit_hash_key, len(hash_keys)))
        entry += _field_bytes(3, record.data)
        body += _field_bytes(3, bytes(entry))
    message = b"".join(_field_bytes(1, key.encode()) for key in keys)
    message += b"".join(_field_bytes(2, key.encode()) for key in hash_keys)
    message += bytes(body)
    return MAGIC + message + hashlib.md5(message, usedforsecurity=False).digest()


def deaggregate(data: bytes) -> list[UserRecord]:
    """The user records of an aggregated record, in order; ``[]`` is never returned.

    Raises :class:`UnreadableAggregate` naming what is wrong: a short record, an MD5 that does not
    match, a message that does not parse, a key index outside its table.
    """
    if not is_aggregated(data):
        raise UnreadableAggregate("not an aggregated record: the magic bytes F3 89 9A C2 are missing")
    if len(data) < len(MAGIC) + _DIGEST_BYTES:
        raise UnreadableAggregate(f"an aggregated record of {len(data)} bytes is shorter than its magic and MD5")
    message, digest = data[len(MAGIC) : -_DIGEST_BYTES], data[-_DIGEST_BYTES:]
    if hashlib.md5(message, usedforsecurity=False).digest() != digest:
        raise UnreadableAggregate("the aggregated record's MD5 does not match its message")
    keys: list[str] = []
    hash_keys: list[str] = []
    entries: list[bytes] = []
    for number, value in _fields(message):
        if number == 1 and isinstance(value, bytes):
            keys.append(_text(value, "partition key"))
        elif number == 2 and isinstance(value, bytes):
            hash_keys.append(_text(value, "explicit hash key"))
        elif number == 3 and isinstance(value, bytes):
            entries.append(value)
    if not entries:
        raise UnreadableAggregate("the aggregated record holds no user record")
    return [_user_record(entry, keys, hash_keys, i) for i, entry in enumerate(entries)]


def _user_record(entry: bytes, keys: list[str], hash_keys: list[str], position: int) -> UserRecord:
    key_index: int | None = None
    hash_index: int | None = None
    data: bytes | None = None
    for number, value in _fields(entry):
        if number == 1 and isinstance(value, int):
            key_index = value
        elif number == 2 and isinstance(value, int):
            hash_index = value
        elif number == 3 and isinstance(value, bytes):
            data = value
    if key_index is None or data is None:
        raise UnreadableAggregate(f"user record {position} lacks its partition key index or its data")
    if key_index >= len(keys) or (hash_index is not None and hash_index >= len(hash_keys)):
        raise UnreadableAggregate(f"user record {position} names a key outside the aggregated record's tables")
    return UserRecord(keys[key_index], data, hash_keys[hash_index] if hash_index is not None else None)


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableAggregate(f"a {what} that is not UTF-8") from None


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3 | _VARINT) + _varint(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(value)) + value


def _read_varint(buffer: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(buffer) or shift > 63:
            raise UnreadableAggregate("the aggregated record's message is cut short or malformed")
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def _fields(buffer: bytes) -> Iterable[tuple[int, int | bytes]]:
    """(field number, value) of each field of a protobuf message: varints as ints, the rest as bytes."""
    position = 0
    while position < len(buffer):
        tag, position = _read_varint(buffer, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == _VARINT:
            value, position = _read_varint(buffer, position)
            yield number, value
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _read_varint(buffer, position)
            if position + length > len(buffer):
                raise UnreadableAggregate("the aggregated record's message is cut short")
            yield number, buffer[position : position + length]
            position += length
        elif wire_type == 1:  # 64-bit: no field of the format has it; skip it as protobuf does
            position += 8
        elif wire_type == 5:  # 32-bit
            position += 4
        else:
            raise UnreadableAggregate(f"the aggregated record's message has wire type {wire_type}")
