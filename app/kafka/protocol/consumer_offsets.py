"""``__consumer_offsets`` records in Kafka's own formats, without I/O.

Field layouts are apache/kafka's group-coordinator message JSONs
(``group-coordinator/src/main/resources/common/message/``):

* key ``OffsetCommitKey`` (record type 1; the type is the int16 the key starts with, the "version" of the
  old key schemas): ``group`` string, ``topic`` string, ``partition`` int32;
* value ``OffsetCommitValue`` version 3 (the newest non-flexible one): ``offset`` int64, ``leaderEpoch``
  int32, ``metadata`` string, ``commitTimestamp`` int64;
* key ``GroupMetadataKey`` (record type 2): ``group`` string;
* value ``GroupMetadataValue`` version 3: ``protocolType`` string, ``generation`` int32, ``protocol`` and
  ``leader`` nullable strings, ``currentStateTimestamp`` int64, ``members`` array of ``memberId`` string,
  ``groupInstanceId`` nullable string, ``clientId`` string, ``clientHost`` string, ``rebalanceTimeout``
  int32, ``sessionTimeout`` int32, ``subscription`` bytes, ``assignment`` bytes.

Strings are an int16 length and UTF-8 bytes (-1: null), bytes an int32 length, arrays an int32 count: the
classic (non-flexible) encoding, which Kafka's ``GroupMetadataManager`` formatter and Burrow read.

A group's records go to partition ``abs(String.hashCode(group)) % partitions`` (Kafka's
``Utils.abs(groupId.hashCode) % groupMetadataTopicPartitionCount``; Java's ``hashCode`` over UTF-16 code
units, ``Utils.abs`` maps ``Integer.MIN_VALUE`` to 0).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CONSUMER_OFFSETS", "GroupMember", "encode_group_metadata_key", "encode_group_metadata_value",
           "encode_offset_commit_key", "encode_offset_commit_value", "java_string_hash", "partition_for_group"]

CONSUMER_OFFSETS = "__consumer_offsets"
OFFSET_COMMIT_KEY_TYPE = 1
GROUP_METADATA_KEY_TYPE = 2
OFFSET_COMMIT_VALUE_VERSION = 3
GROUP_METADATA_VALUE_VERSION = 3


def _string(value: str | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    data = value.encode()
    if len(data) > 0x7FFF:
        raise ValueError(f"string of {len(data)} bytes does not fit an int16 length")
    return struct.pack(">h", len(data)) + data


def _bytes(value: bytes) -> bytes:
    return struct.pack(">i", len(value)) + value


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode`` (signed 32-bit, over UTF-16 code units)."""
    h = 0
    units = text.encode("utf-16-be")
    for i in range(0, len(units), 2):
        h = (31 * h + ((units[i] << 8) | units[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_group(group: str, partitions: int) -> int:
    """Kafka's ``partitionFor(groupId)``: ``Utils.abs(hashCode) % partitions``."""
    h = java_string_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def encode_offset_commit_key(group: str, topic: str, partition: int) -> bytes:
    return struct.pack(">h", OFFSET_COMMIT_KEY_TYPE) + _string(group) + _string(topic) + struct.pack(">i", partition)


def encode_offset_commit_value(offset: int, leader_epoch: int, metadata: str | None, commit_timestamp: int) -> bytes:
    return (struct.pack(">hqi", OFFSET_COMMIT_VALUE_VERSION, offset, leader_epoch) + _string(metadata or "")
            + struct.pack(">q", commit_timestamp))


def encode_group_metadata_key(group: str) -> bytes:
    return struct.pack(">h", GROUP_METADATA_KEY_TYPE) + _string(group)


@dataclass(frozen=True, slots=True)
class GroupMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes
    assignment: bytes


def encode_group_metadata_value(protocol_type: str, generation: int, protocol: str | None, leader: str | None,
                                current_state_timestamp: int, members: Sequence[GroupMember]) -> bytes:
    out = [struct.pack(">h", GROUP_METADATA_VALUE_VERSION), _string(protocol_type), struct.pack(">i", generation),
           _string(protocol), _string(leader), struct.pack(">q", current_state_timestamp),
           struct.pack(">i", len(members))]
    for m in members:
        out += [_string(m.member_id), _string(m.group_instance_id), _string(m.client_id), _string(m.client_host),
                struct.pack(">ii", m.rebalance_timeout_ms, m.session_timeout_ms), _bytes(m.subscription),
                _bytes(m.assignment)]
    return b"".join(out)
