"""Kafka's partitioning rule for ``__consumer_offsets`` with values Java gives (``String.hashCode``)."""

from __future__ import annotations

import pytest

from app.kafka.protocol.consumer_offsets import java_string_hash, partition_for_group


@pytest.mark.parametrize(("text", "java"), [
    ("", 0), ("a", 97), ("hello", 99162322),
    ("polygenelubricants", -2147483648),  # Integer.MIN_VALUE: Utils.abs maps it to 0
    ("ü", 252), ("😀", 1772899),  # one UTF-16 surrogate pair: 0xD83D * 31 + 0xDE00
])
def test_java_string_hash(text: str, java: int) -> None:
    assert java_string_hash(text) == java


def test_partition_for_group_follows_utils_abs() -> None:
    assert partition_for_group("polygenelubricants", 16) == 0
    assert partition_for_group("hello", 50) == 99162322 % 50
    assert partition_for_group("a", 16) == 97 % 16
