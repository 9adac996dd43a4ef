"""Fuzzing at volume: the targets of ``tests/test_fuzz.py`` (Kafka frames + requests, segments, batches,
record blocks) with 100,000 cases in all (``BENCH_FUZZ_CASES`` overrides the total), printing cases/s.

    make fuzz                       # this module alone
    BENCH_FUZZ_CASES=20000 python -m bench fuzz

A failing case raises after hypothesis has shrunk it (the runner prints it and exits non-zero). The
baseline of the rate is the hypothesis overhead alone: the same strategies and example count with a check
that does nothing (so a run takes about twice the fuzzing time).
"""

from __future__ import annotations

import os

from tests.test_fuzz import TARGETS, RunResult, Target, run_target

SHARES = {"segment_bytes": 0.25, "segment_mutated": 0.35, "records_block": 0.20, "kafka_stream": 0.20}


def main() -> None:
    total = int(os.environ.get("BENCH_FUZZ_CASES", "100000"))
    results: list[RunResult] = []
    for name, share in SHARES.items():
        target = TARGETS[name]
        examples = max(1, round(total * share))
        result = run_target(target, examples)
        # measured after, on the same example count, so both runs pay the same generation costs
        baseline = run_target(Target(name, target.what, target.strategy, lambda case: None), examples)
        results.append(result)
        print(f"{name:16} {result.cases:8,} cases in {result.seconds:6.1f} s  {result.rate:7.0f} cases/s "
              f"(generation alone {baseline.rate:7.0f}/s: {result.rate / baseline.rate:.2f}x)  {target.what}",
              flush=True)
    cases = sum(r.cases for r in results)
    seconds = sum(r.seconds for r in results)
    print(f"{'total':16} {cases:8,} cases in {seconds:6.1f} s  {cases / seconds:7.0f} cases/s; "
          "outcomes: values or typed errors only (no other exception, no hang)")
    if cases < total * 0.95:
        raise AssertionError(f"only {cases} of {total} cases ran")
