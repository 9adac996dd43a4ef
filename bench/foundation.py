"""Foundation benchmarks: seed generation and batch decoding, against a plain ``bytes`` copy of the same data.

Figures (MiB/s) and the ratio to the baseline measured in the same run:
* **seed**: generating segments (records, compression, CRCs, index objects) in one process;
* **scan**: iterating a segment's batches with both CRCs verified (what the shim and replicator verify do);
* **decode**: scan + decompress + decode every record (what the HTTP API and `inspect --records` do);
* **baseline**: ``bytes(memoryview(segment))`` copies of the same bytes.
"""

from __future__ import annotations

import os
import time

from app.tools.seedgen import PartitionState, SeedSpec, generate_segment, partition_manifest, segment_objects
from segment_format.segment import iter_batches

MiB = 1024 * 1024


def _best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    total = int(os.environ.get("BENCH_SEED_MIB", "32")) * MiB
    spec = SeedSpec(topics=1, partitions=1, total_bytes=total, segment_bytes=8 * MiB)

    segments: list[bytes] = []
    t = time.perf_counter()
    state = PartitionState()
    made = 0
    while made < total:
        body, meta, tx, state = generate_segment(spec, 0, 0, state)
        segment_objects(partition_manifest(spec, 0, 0, state), body, meta, tx)  # index object too
        segments.append(body)
        made += len(body)
    seed_s = time.perf_counter() - t
    data_mib = made / MiB

    def copy() -> None:
        for s in segments:
            bytes(memoryview(s))

    def scan() -> None:
        for s in segments:
            for _ in iter_batches(s, verify_crc=True):
                pass

    def decode() -> None:
        for s in segments:
            for b in iter_batches(s, verify_crc=True):
                b.decode_records()

    base_s = _best(copy)
    scan_s = _best(scan)
    decode_s = _best(decode, repeat=1)
    rate = lambda s: data_mib / s  # noqa: E731
    print(f"data: {data_mib:.1f} MiB in {len(segments)} segments (every codec, headers, mixed batch types)")
    print(f"baseline bytes copy      {rate(base_s):10.1f} MiB/s   (1.00x)")
    print(f"seed generation          {rate(seed_s):10.1f} MiB/s   ({base_s / seed_s:.5f}x of baseline)")
    print(f"batch scan + both CRCs   {rate(scan_s):10.1f} MiB/s   ({base_s / scan_s:.4f}x of baseline)")
    print(f"scan + decode records    {rate(decode_s):10.1f} MiB/s   ({base_s / decode_s:.5f}x of baseline)")
