"""Snapshot expiry of exported tables (``app.lake.history.expiry_cutoff``): Iceberg's rule, by hand.

Iceberg (``ExpireSnapshots`` in the Java reference, the rule Redpanda's writer and Spark's procedure follow):
a snapshot older than ``history.expire.max-snapshot-age-ms`` expires unless it is among the
``history.expire.min-snapshots-to-keep`` newest. Each row below gives the snapshots' timestamps after the
commit (the committed one at ``now``), and which ones a reader of that rule expects to expire.
"""

from __future__ import annotations

import pytest

from app.lake.history import MAX_SNAPSHOT_AGE, expiry_cutoff, retention_properties

NOW = 1_000_000


@pytest.mark.parametrize(("timestamps", "max_age", "min_keep", "expired"), [
    # one hour of age, keep 1: everything older than now - 3600 s goes
    ([NOW - 7_200_000, NOW - 3_600_001, NOW - 3_599_999, NOW], 3_600_000, 1, [NOW - 7_200_000, NOW - 3_600_001]),
    # exactly at the age limit: not older than it, stays
    ([NOW - 3_600_000, NOW], 3_600_000, 1, []),
    # age 0: every snapshot before the one committed now goes
    ([NOW - 3, NOW - 2, NOW - 1, NOW], 0, 1, [NOW - 3, NOW - 2, NOW - 1]),
    # keep 3: the three newest stay although all are old
    ([NOW - 40, NOW - 30, NOW - 20, NOW - 10, NOW], 0, 3, [NOW - 40, NOW - 30]),
    # keep more than there are: nothing goes
    ([NOW - 20, NOW - 10, NOW], 0, 5, []),
    # keep 0 (an allowed value): the age alone decides; the new snapshot is not older than itself
    ([NOW - 20, NOW], 0, 0, [NOW - 20]),
    # nothing old enough
    ([NOW - 5, NOW], 10, 1, []),
    # ties at the kept boundary stay together
    ([NOW - 10, NOW - 10, NOW - 20, NOW], 0, 2, [NOW - 20]),
    # unordered input
    ([NOW, NOW - 30, NOW - 10, NOW - 20], 15, 1, [NOW - 30, NOW - 20]),
])
def test_expiry_follows_icebergs_age_and_keep_rule(timestamps: list[int], max_age: int, min_keep: int,
                                                    expired: list[int]) -> None:
    cutoff = expiry_cutoff(timestamps, max_age_ms=max_age, min_keep=min_keep, now_ms=NOW)
    got = [] if cutoff is None else sorted(ts for ts in timestamps if ts < cutoff)
    assert got == sorted(expired)


def test_tables_get_the_age_in_milliseconds_and_old_metadata_deleted() -> None:
    props = retention_properties(3600.0)
    assert props[MAX_SNAPSHOT_AGE] == "3600000"
    assert props["write.metadata.delete-after-commit.enabled"] == "true"


def test_a_malformed_age_on_the_table_falls_back_to_the_setting_not_to_zero() -> None:
    """A typo in the property must not expire the whole history: 10 minutes old stays under a 1-hour setting."""
    from types import SimpleNamespace

    from app.lake.history import plan_expiry

    meta = SimpleNamespace(properties={MAX_SNAPSHOT_AGE: "1 day"}, refs={},
                           snapshots=[SimpleNamespace(timestamp_ms=NOW - 600_000)])
    assert plan_expiry(meta, default_max_age_seconds=3600.0, now_ms=NOW).cutoff_ms is None
