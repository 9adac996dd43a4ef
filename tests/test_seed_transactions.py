"""The seed generator's transactions, checked from the raw batches (``struct`` over the 61-byte Redpanda
header, as Redpanda's offline log viewer reads it; no ``segment_format``): per transactional producer a
``tx_fence`` before each transaction, transactional batches, then one commit or abort marker; producer ids
kept across transactions; every segment's ``.tx`` lists exactly the aborted ranges (Redpanda offsets of
the first and last data record) overlapping it, spanning ones included; nothing left open at the end;
the same seed gives the same bytes."""

from __future__ import annotations

import json
import re
import struct
from collections import Counter

from app.tools.seedgen import SeedSpec, generate_partition

RP_HEADER = struct.Struct("<IiqbIhiqqqhii")
RAFT_DATA, TX_FENCE = 1, 10
TRANSACTIONAL, CONTROL = 0x10, 0x20
SPEC = SeedSpec(topics=2, partitions=1, total_bytes=4 << 20, segment_bytes=16 << 10, seed=42)


def _objects(spec: SeedSpec = SPEC) -> dict[str, bytes]:
    return {o.key: o.body for o in generate_partition(spec, 1, 0)}


def _batches(body: bytes) -> list[tuple[int, ...]]:
    out, pos = [], 0
    while pos + RP_HEADER.size <= len(body):
        h = RP_HEADER.unpack_from(body, pos)
        out.append(h)
        key = None
        if h[3] == RAFT_DATA and h[5] & CONTROL:
            # one uncompressed record: length, attributes, timestamp delta, offset delta, key length (one byte
            # each, small varints), then the 4-byte key (version, type: 0 abort, 1 commit)
            rec = body[pos + RP_HEADER.size :]
            key = struct.unpack(">hh", rec[5:9])
        out[-1] = (*h, key)
        pos += h[1]
    return out


def test_transactions_and_tx_objects_agree_with_the_batches() -> None:
    objs = _objects()
    segments = sorted((int(m[1]), k) for k in objs if (m := re.search(r"/(\d+)-[^/]*\.log\.\d+$", k)))
    assert len(segments) > 20
    open_txn: dict[int, list[int]] = {}  # pid -> [first data offset, last data offset]
    fenced: set[int] = set()
    aborted: list[tuple[int, int, int]] = []
    outcomes: dict[int, list[bool]] = {}
    spans: list[tuple[int, int, str]] = []
    for _, key in segments:
        batches = _batches(objs[key])
        spans.append((batches[0][2], batches[-1][2] + batches[-1][6], key))
        for (_c, _s, base, typ, _crc, attrs, lod, _f, _m, pid, _e, _seq, _n, ctl) in batches:
            if typ == TX_FENCE:
                assert pid not in open_txn and pid not in fenced, "a fence starts a producer's next transaction"
                fenced.add(pid)
            elif typ == RAFT_DATA and attrs & CONTROL:
                _version, kind = ctl
                first, last = open_txn.pop(pid)
                fenced.discard(pid)
                outcomes.setdefault(pid, []).append(kind == 1)
                if kind == 0:
                    aborted.append((pid, first, last))
            elif typ == RAFT_DATA and attrs & TRANSACTIONAL:
                assert pid in fenced, "transactional data after its producer's fence"
                open_txn.setdefault(pid, [base, base])[1] = base + lod
    assert not open_txn and not fenced, "the seed ends with every transaction closed"
    primary = min(outcomes)
    assert outcomes[primary][:8] == [False, False, True, False] * 2  # aborts twice, commits, aborts again
    assert len(outcomes) == 3 and all(len(o) > 3 for o in outcomes.values())  # ids kept across transactions
    listed: Counter[tuple[int, int, int]] = Counter()
    for lo, hi, key in spans:
        want = sorted(a for a in aborted if a[1] <= hi and a[2] >= lo)
        got = []
        if key + ".tx" in objs:
            got = sorted((r["pid.id"], r["first"], r["last"]) for r in json.loads(objs[key + ".tx"])["ranges"])
        assert got == want, key
        listed.update(got)
    assert sum(n > 1 for n in listed.values()) >= 2, "some aborted transactions continue into the next segment"


def test_same_seed_same_bytes() -> None:
    assert _objects() == _objects()
