"""Specification of segment_format.keys: object keys of a Redpanda tiered-storage bucket.

Expected strings are copied from Redpanda's tests: ``src/v/cloud_storage/tests/remote_path_provider_test.cc``
(ntp kafka/tp/5, initial revision 21, segment base 10 committed 11 size 1 MiB term 12 archiver term 13,
sname v3; topic override kafka/override; label deadbeef-0000-0000-0000-000000000000),
``partition_manifest_test.cc`` (``test_segment_path``, ``test_manifest_path``), ``topic_manifest_test.cc``
(``create_topic_manifest_correct_path``) and the docstrings of ``tests/rptest/utils/si_utils.py``.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format.errors import FormatError, ObjectKeyError
from segment_format.keys import (
    PartitionKey,
    SegmentKey,
    SegmentName,
    check_topic_name,
    labeled_partition_manifest_key,
    labeled_segment_key,
    labeled_topic_manifest_key,
    parse_partition_manifest_key,
    parse_segment_key,
    parse_segment_name,
    parse_spillover_manifest_key,
    parse_topic_manifest_key,
    partition_manifest_key,
    partition_manifest_prefix,
    segment_key,
    segment_name,
    spillover_manifest_key,
    topic_manifest_key,
    topic_manifest_prefix,
    xxh32,
)
from tests.hypothesis_support import examples

UUID = "deadbeef-0000-0000-0000-000000000000"
NAME_V3 = "10-11-1048576-12-v1.log"


def xxh32_reference(data: bytes, seed: int = 0) -> int:
    """XXH32 from its specification, independent of the xxhash package."""
    p1, p2, p3, p4, p5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
    m = 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & m

    def rnd(acc: int, lane: int) -> int:
        return (rotl((acc + lane * p2) & m, 13) * p1) & m

    n, i = len(data), 0
    if n >= 16:
        v = [(seed + p1 + p2) & m, (seed + p2) & m, seed & m, (seed - p1) & m]
        while i + 16 <= n:
            for j in range(4):
                v[j] = rnd(v[j], int.from_bytes(data[i + 4 * j : i + 4 * j + 4], "little"))
            i += 16
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & m
    else:
        h = (seed + p5) & m
    h = (h + n) & m
    while i + 4 <= n:
        h = (rotl((h + int.from_bytes(data[i : i + 4], "little") * p3) & m, 17) * p4) & m
        i += 4
    while i < n:
        h = (rotl((h + data[i] * p5) & m, 11) * p1) & m
        i += 1
    h ^= h >> 15
    h = (h * p2) & m
    h ^= h >> 13
    h = (h * p3) & m
    return h ^ (h >> 16)


def test_xxh32_matches_the_specification() -> None:
    assert xxh32("") == xxh32_reference(b"") == 0x02CC5D05  # the published empty-input value
    assert xxh32("kafka/tp/5_21/" + NAME_V3) == xxh32_reference(b"kafka/tp/5_21/" + NAME_V3.encode()) == 0xD13F1C8E


@settings(max_examples=examples(100), deadline=None)
@given(st.text(max_size=80))
def test_xxh32_property(s: str) -> None:
    assert xxh32(s) == xxh32_reference(s.encode("utf-8"))


# ---------------------------------------------------------------- remote_path_provider_test.cc


def test_prefixed_segment_paths() -> None:
    assert segment_key("kafka", "tp", 5, 21, NAME_V3, 13) == "d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.13"
    assert segment_key("kafka", "tp", 5, 21, NAME_V3) == "d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log"
    assert segment_key("kafka", "override", 5, 21, NAME_V3, 13) == (
        "426917a1/kafka/override/5_21/10-11-1048576-12-v1.log.13"
    )
    # companion objects append to the full key
    assert segment_key("kafka", "tp", 5, 21, NAME_V3, 13) + ".index" == (
        "d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.13.index"
    )


def test_labeled_segment_paths() -> None:
    assert labeled_segment_key(UUID, "kafka", "tp", 5, 21, NAME_V3, 13) == f"{UUID}/kafka/tp/5_21/{NAME_V3}.13"
    assert labeled_segment_key(UUID, "kafka", "tp", 5, 21, NAME_V3) == f"{UUID}/kafka/tp/5_21/{NAME_V3}"
    assert labeled_segment_key(UUID, "kafka", "override", 5, 21, NAME_V3, 13) == (
        f"{UUID}/kafka/override/5_21/{NAME_V3}.13"
    )


def test_prefixed_partition_manifest_paths() -> None:
    assert partition_manifest_prefix("kafka", "tp", 5, 21) == "e0000000/meta/kafka/tp/5_21"
    assert partition_manifest_key("kafka", "tp", 5, 21, fmt="bin") == "e0000000/meta/kafka/tp/5_21/manifest.bin"
    assert partition_manifest_key("kafka", "tp", 5, 21) == "e0000000/meta/kafka/tp/5_21/manifest.json"
    assert partition_manifest_key("kafka", "override", 5, 21, fmt="bin") == (
        "50000000/meta/kafka/override/5_21/manifest.bin"
    )
    assert partition_manifest_key("kafka", "override", 5, 21, fmt="json") == (
        "50000000/meta/kafka/override/5_21/manifest.json"
    )
    spill = dict(base=10, last=11, base_kafka=0, next_kafka=1, base_ts=999, last_ts=1000)
    assert spillover_manifest_key(partition_manifest_prefix("kafka", "tp", 5, 21), **spill) == (
        "e0000000/meta/kafka/tp/5_21/manifest.bin.10.11.0.1.999.1000"
    )
    assert spillover_manifest_key(partition_manifest_prefix("kafka", "override", 5, 21), **spill) == (
        "50000000/meta/kafka/override/5_21/manifest.bin.10.11.0.1.999.1000"
    )


def test_labeled_partition_manifest_paths() -> None:
    assert labeled_partition_manifest_key(UUID, "kafka", "tp", 5, 21) == f"{UUID}/meta/kafka/tp/5_21/manifest.bin"
    assert spillover_manifest_key(f"{UUID}/meta/kafka/tp/5_21", base=10, last=11, base_kafka=0, next_kafka=1,
                                  base_ts=999, last_ts=1000) == (
        f"{UUID}/meta/kafka/tp/5_21/manifest.bin.10.11.0.1.999.1000"
    )  # fmt: skip


def test_topic_manifest_paths() -> None:
    assert topic_manifest_prefix("kafka", "tp") == "e0000000/meta/kafka/tp"
    assert topic_manifest_key("kafka", "tp", fmt="bin") == "e0000000/meta/kafka/tp/topic_manifest.bin"
    assert topic_manifest_key("kafka", "tp") == "e0000000/meta/kafka/tp/topic_manifest.json"
    assert topic_manifest_key("kafka", "override", fmt="bin") == "10000000/meta/kafka/override/topic_manifest.bin"
    assert labeled_topic_manifest_key(UUID, "kafka", "tp", 21) == f"meta/kafka/tp/{UUID}/21/topic_manifest.bin"
    assert labeled_topic_manifest_key(UUID, "kafka", "override", 21) == (
        f"meta/kafka/override/{UUID}/21/topic_manifest.bin"
    )


# ---------------------------------------------------------------- partition/topic manifest tests


def test_paths_from_manifest_tests() -> None:
    # partition_manifest_test.cc test_segment_path (the comment there says "murmur", it is xxh32)
    assert segment_key("test-ns", "test-topic", 42, 0, "22-11-v1.log", 123) == (
        "2bea9275/test-ns/test-topic/42_0/22-11-v1.log.123"
    )
    # test_manifest_path / test_complete_manifest_update
    assert partition_manifest_key("test-ns", "test-topic", 42, 0, fmt="bin") == (
        "20000000/meta/test-ns/test-topic/42_0/manifest.bin"
    )
    assert partition_manifest_key("test-ns", "test-topic", 42, 1, fmt="bin") == (
        "60000000/meta/test-ns/test-topic/42_1/manifest.bin"
    )
    # topic_manifest_test.cc
    assert topic_manifest_key("cfg-test-namespace", "cfg-test-topic") == (
        "50000000/meta/cfg-test-namespace/cfg-test-topic/topic_manifest.json"
    )
    assert topic_manifest_key("cfg-test-namespace", "cfg-test-topic", fmt="bin") == (
        "50000000/meta/cfg-test-namespace/cfg-test-topic/topic_manifest.bin"
    )
    assert topic_manifest_key("test-namespace", "test-topic", fmt="bin") == (
        "70000000/meta/test-namespace/test-topic/topic_manifest.bin"
    )


# ---------------------------------------------------------------- si_utils.py docstrings


def test_si_utils_docstring_keys() -> None:
    # parse_s3_segment_path: "b525cddd/kafka/panda-topic/0_9/4109-1-v1.log" (a real, hash-consistent key)
    sk = parse_segment_key("b525cddd/kafka/panda-topic/0_9/4109-1-v1.log")
    assert sk == SegmentKey("kafka", "panda-topic", 0, 9, SegmentName(4109, 1), None)
    # parse_s3_manifest_path: "50000000/meta/kafka/panda-topic/0_19/manifest.json"
    assert parse_partition_manifest_key("50000000/meta/kafka/panda-topic/0_19/manifest.json") == PartitionKey(
        "kafka", "panda-topic", 0, 19, "json"
    )
    label = "6e94ccdc-443a-4807-b105-0bb86e8f97f7"
    assert parse_partition_manifest_key(f"{label}/meta/kafka/panda-topic/0_18/manifest.bin") == PartitionKey(
        "kafka", "panda-topic", 0, 18, "bin", cluster_uuid=label
    )
    # parse_s3_partition_path_label: a labeled spillover manifest
    prefix, nums = parse_spillover_manifest_key(
        f"{label}/meta/kafka/panda-topic/0_18/manifest.bin.0.21.0.20.1719867209267.1719867209268"
    )
    assert prefix == f"{label}/meta/kafka/panda-topic/0_18"
    assert nums == dict(base=0, last=21, base_kafka=0, next_kafka=20, base_ts=1719867209267, last_ts=1719867209268)
    # parse_s3_topic_label's first sample "50000000/meta/kafka/panda-topic/topic_manifest.json" carries a
    # made-up hash (xxh32("kafka/panda-topic") = 0xd754fdce): we reject keys Redpanda would never write.
    with pytest.raises(ObjectKeyError, match=r"d0000000/meta/kafka/panda-topic/topic_manifest\.json"):
        parse_topic_manifest_key("50000000/meta/kafka/panda-topic/topic_manifest.json")
    assert parse_topic_manifest_key("d0000000/meta/kafka/panda-topic/topic_manifest.json") == (
        "kafka", "panda-topic", "json", None
    )
    # its second sample is a labeled *.json topic manifest; Redpanda only writes (and its
    # tp_ns_from_labeled_path only matches) topic_manifest.bin under a label
    with pytest.raises(ObjectKeyError):
        parse_topic_manifest_key(f"meta/kafka/panda-topic/{label}/0/topic_manifest.json")
    assert parse_topic_manifest_key(f"meta/kafka/panda-topic/{label}/0/topic_manifest.bin") == (
        "kafka", "panda-topic", "bin", label
    )


# ---------------------------------------------------------------- names


def test_segment_names() -> None:
    assert segment_name(base_offset=10, term=12) == "10-12-v1.log"
    for fmt in (2, 3):
        assert segment_name(base_offset=10, term=12, sname_format=fmt, committed_offset=11,
                            size_bytes=1048576) == NAME_V3  # fmt: skip
    with pytest.raises(ObjectKeyError, match="sname_format 4"):
        segment_name(base_offset=1, term=1, sname_format=4)
    assert parse_segment_name("3587-1-v1.log") == SegmentName(3587, 1)  # test_segment_name_parsing
    assert parse_segment_name(NAME_V3) == SegmentName(10, 12, 11, 1048576)
    assert str(SegmentName(3587, 1)) == "3587-1-v1.log"
    assert str(SegmentName(10, 12, 11, 1048576)) == NAME_V3


@pytest.mark.parametrize(
    "bad",
    [
        "-1-v1.log",  # test_segment_name_parsing_failure_1
        "abc-1-v1.log",  # test_segment_name_parsing_failure_2
        "1-1-v2.log",
        "1-2-3-v1.log",
        "1-1-v1.log.1",
        "\u0663-1-v1.log",  # ARABIC-INDIC DIGIT THREE: int() accepts it, Redpanda never writes it
        "1-\uff11-v1.log",  # FULLWIDTH DIGIT ONE
        "9223372036854775808-1-v1.log",  # base offset past int64
        "1" * 5000 + "-1-v1.log",  # past Python's int() digit limit
        "",
    ],
)
def test_bad_segment_names(bad: str) -> None:
    with pytest.raises(ObjectKeyError):
        parse_segment_name(bad)


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a b", "x" * 250, "tópic", "a\x00b", "../etc"])
def test_bad_topic_names(bad: str) -> None:
    with pytest.raises(ObjectKeyError):
        check_topic_name(bad)
    with pytest.raises(ObjectKeyError):
        segment_key("kafka", bad, 0, 1, "0-1-v1.log")
    with pytest.raises(ObjectKeyError):
        topic_manifest_key(bad, "t")


@pytest.mark.parametrize("partition", [-1, 2**31, 1.5])
def test_bad_partitions(partition: object) -> None:
    with pytest.raises(ObjectKeyError):
        partition_manifest_key("kafka", "t", partition, 1)  # type: ignore[arg-type]


def test_bad_formats() -> None:
    with pytest.raises(ValueError, match="xml"):
        partition_manifest_key("kafka", "t", 0, 1, fmt="xml")
    with pytest.raises(ValueError, match="xml"):
        topic_manifest_key("kafka", "t", fmt="xml")


# ---------------------------------------------------------------- parsing


def test_parse_segment_key_golden() -> None:
    assert parse_segment_key("d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.13") == SegmentKey(
        "kafka", "tp", 5, 21, SegmentName(10, 12, 11, 1048576), 13
    )
    assert parse_segment_key("d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.13.tx").suffix == ".tx"
    sk = parse_segment_key("d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.index")
    assert (sk.archiver_term, sk.suffix) == (None, ".index")
    lk = parse_segment_key(f"{UUID}/kafka/tp/5_21/{NAME_V3}.13")
    assert lk == SegmentKey("kafka", "tp", 5, 21, SegmentName(10, 12, 11, 1048576), 13, cluster_uuid=UUID)


@pytest.mark.parametrize(
    "bad",
    [
        "d13f1c8f/kafka/tp/5_21/10-11-1048576-12-v1.log.13",  # wrong hash
        "D13F1C8E/kafka/tp/5_21/10-11-1048576-12-v1.log.13",  # upper-case hex
        "d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.-13",
        "d13f1c8e/kafka/tp/5/10-11-1048576-12-v1.log.13",  # no revision
        "d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.13.idx",
        "d13f1c8e/kafka/../5_21/10-11-1048576-12-v1.log.13",
        "d13f1c8e/kafka/tp/\u0665_21/10-11-1048576-12-v1.log.13",  # non-ASCII digit partition
        "d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.99999999999999999999",  # archiver term past int64
        "d13f1c8e/kafka/tp/99999999999_21/10-11-1048576-12-v1.log.13",  # partition past int32
        "/kafka/tp/5_21/10-11-1048576-12-v1.log",
        "",
    ],
)
def test_parse_segment_key_rejects(bad: str) -> None:
    with pytest.raises(ObjectKeyError):
        parse_segment_key(bad)


def test_parse_manifest_keys() -> None:
    assert parse_partition_manifest_key("e0000000/meta/kafka/tp/5_21/manifest.bin") == PartitionKey(
        "kafka", "tp", 5, 21, "bin"
    )
    assert parse_partition_manifest_key(f"{UUID}/meta/kafka/tp/5_21/manifest.bin").cluster_uuid == UUID
    for bad in (
        "f0000000/meta/kafka/tp/5_21/manifest.bin",  # wrong prefix
        f"{UUID}/meta/kafka/tp/5_21/manifest.json",  # labeled manifests are serde only
        "e0000000/meta/kafka/tp/5_21/manifest.bin.10.11.0.1.999.1000",
        "e0000000/meta/kafka/tp/manifest.bin",
    ):
        with pytest.raises(ObjectKeyError):
            parse_partition_manifest_key(bad)
    assert parse_topic_manifest_key("10000000/meta/kafka/override/topic_manifest.bin") == (
        "kafka", "override", "bin", None
    )
    prefix, nums = parse_spillover_manifest_key("e0000000/meta/kafka/tp/5_21/manifest.bin.10.11.0.1.999.1000")
    assert prefix == "e0000000/meta/kafka/tp/5_21"
    assert nums == dict(base=10, last=11, base_kafka=0, next_kafka=1, base_ts=999, last_ts=1000)
    assert parse_spillover_manifest_key("e0000000/meta/kafka/tp/5_21/manifest.bin.1.2.0.1.-1.-1")[1]["base_ts"] == -1
    for bad in (
        "f0000000/meta/kafka/tp/5_21/manifest.bin.10.11.0.1.999.1000",  # wrong prefix
        "e0000000/meta/kafka/tp/5_21/manifest.bin.10.11.0.1.999",
        "e0000000/meta/kafka/tp/5_21/manifest.bin",
    ):
        with pytest.raises(ObjectKeyError):
            parse_spillover_manifest_key(bad)


# ---------------------------------------------------------------- properties

names = st.from_regex(r"\A[a-zA-Z0-9._\-]{1,40}\Z").filter(lambda s: s not in (".", ".."))
offsets = st.integers(0, 2**63 - 1)


@settings(max_examples=examples(150), deadline=None)
@given(names, names, st.integers(0, 2**31 - 1), st.integers(-(2**31), 2**62), offsets, offsets, offsets,
       st.integers(0, 2**63 - 1), st.sampled_from([1, 2, 3]), st.none() | offsets, st.sampled_from(["", ".index", ".tx"]),
       st.booleans())  # fmt: skip
def test_segment_key_round_trip(
    ns: str, topic: str, p: int, rev: int, base: int, committed: int, size: int, term: int, fmt: int,
    archiver_term: int | None, suffix: str, labeled: bool,
) -> None:  # fmt: skip
    name = segment_name(base_offset=base, term=term, sname_format=fmt, committed_offset=committed, size_bytes=size)
    if labeled:
        key = labeled_segment_key(UUID, ns, topic, p, rev, name, archiver_term) + suffix
    else:
        key = segment_key(ns, topic, p, rev, name, archiver_term) + suffix
    sk = parse_segment_key(key)
    assert (sk.namespace, sk.topic, sk.partition, sk.revision) == (ns, topic, p, rev)
    assert str(sk.name) == name and sk.name.base_offset == base and sk.name.term == term
    assert (sk.archiver_term, sk.suffix, sk.cluster_uuid) == (archiver_term, suffix, UUID if labeled else None)


@settings(max_examples=examples(100), deadline=None)
@given(names, names, st.integers(0, 2**31 - 1), st.integers(-(2**31), 2**62), st.sampled_from(["json", "bin"]))
def test_manifest_keys_round_trip(ns: str, topic: str, p: int, rev: int, fmt: str) -> None:
    key = partition_manifest_key(ns, topic, p, rev, fmt=fmt)
    assert key.startswith(partition_manifest_prefix(ns, topic, p, rev) + "/")
    assert key[1:8] == "0000000"  # only the top nibble of the hash
    assert parse_partition_manifest_key(key) == PartitionKey(ns, topic, p, rev, fmt)
    lkey = labeled_partition_manifest_key(UUID, ns, topic, p, rev)
    assert parse_partition_manifest_key(lkey) == PartitionKey(ns, topic, p, rev, "bin", cluster_uuid=UUID)
    assert parse_topic_manifest_key(topic_manifest_key(ns, topic, fmt=fmt)) == (ns, topic, fmt, None)
    assert parse_topic_manifest_key(labeled_topic_manifest_key(UUID, ns, topic, rev)) == (ns, topic, "bin", UUID)
    sp = spillover_manifest_key(partition_manifest_prefix(ns, topic, p, rev), base=1, last=2, base_kafka=0,
                                next_kafka=1, base_ts=-1, last_ts=5)  # fmt: skip
    assert parse_spillover_manifest_key(sp)[0] == partition_manifest_prefix(ns, topic, p, rev)


PARSERS = [parse_segment_key, parse_partition_manifest_key, parse_topic_manifest_key,
           parse_spillover_manifest_key, parse_segment_name]  # fmt: skip


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=120) | st.from_regex(r"\A[0-9a-f]{8}/[a-z]{1,3}/[a-z.]{1,3}/[0-9_\-]{1,6}/[0-9\-]{1,12}-v1\.log(\.[0-9]{1,3})?\Z"))
def test_parsers_only_raise_object_key_errors(key: str) -> None:
    for parse in PARSERS:
        try:
            parse(key)  # type: ignore[operator]
        except ObjectKeyError:
            pass
        except FormatError as e:  # pragma: no cover - a different FormatError would be a bug too
            raise AssertionError(f"{parse.__name__} raised {type(e).__name__}") from e


@settings(max_examples=examples(150), deadline=None)
@given(st.data())
def test_mutated_keys_only_raise_object_key_errors(data: st.DataObject) -> None:
    key = list("d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.13.index")
    for _ in range(data.draw(st.integers(1, 4))):
        key[data.draw(st.integers(0, len(key) - 1))] = data.draw(st.characters())
    with contextlib.suppress(ObjectKeyError):
        parse_segment_key("".join(key))
