"""An export commit, and how long a table's snapshots live: Iceberg's own expiry rule, in every commit.

Every export commit is one snapshot, and nothing else ever removes one. Left alone, the metadata file grows by
about 0.9 KB a snapshot (each summary names every partition's next offset) for every reader to parse, and
pyiceberg's commit grows with it: it copies the whole metadata on each access, so one commit took 15 ms at 1
snapshot, 73 ms at 100, 717 ms at 600 (measured here); a table committed every 10 s reached seconds per commit
within a day. So each commit also expires what Iceberg's standard table properties let go, the ones
Redpanda's own Iceberg writer and Spark's ``expire_snapshots`` read:

* ``history.expire.max-snapshot-age-ms``: snapshots older than this go. Tables that export creates (or that
  lack it) get ``ExportSettings.snapshot_max_age`` (1 hour); anyone may set another value from any engine
  (``ALTER TABLE ... SET TBLPROPERTIES``), and the next commit honours it;
* ``history.expire.min-snapshots-to-keep`` (Iceberg's default 1): the newest ones stay whatever their age,
  the snapshot being committed included.

Branch and tag heads are never expired (pyiceberg protects them). With one commit per
``ExportSettings.commit_interval`` the table keeps about max age / interval snapshots (60 with the defaults).
After the commit lands, the expired snapshots' manifest lists are deleted (as Redpanda does). Their data files
stay: newer snapshots of this append-only table still name every one. Manifests stay too; once pyiceberg's
merge_append folds them into one (at ``commit.manifest.min-count-to-merge``, 100) the folded ones are named by
expired snapshots only: a few KB each, left for an engine's orphan-file removal (Spark's
``remove_orphan_files``). Old metadata files are deleted by pyiceberg itself
(``write.metadata.delete-after-commit.enabled``, set on the same tables), keeping
``write.metadata.previous-versions-max`` (100).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

MAX_SNAPSHOT_AGE = "history.expire.max-snapshot-age-ms"
MIN_SNAPSHOTS_TO_KEEP = "history.expire.min-snapshots-to-keep"
DELETE_OLD_METADATA = "write.metadata.delete-after-commit.enabled"

__all__ = ["DELETE_OLD_METADATA", "MAX_SNAPSHOT_AGE", "MIN_SNAPSHOTS_TO_KEEP", "Expiry", "commit_data_files",
           "expiry_cutoff", "plan_expiry", "retention_properties"]


def retention_properties(max_age_seconds: float) -> dict[str, str]:
    """The table properties export writes into the tables it creates (and into its tables that lack them)."""
    return {MAX_SNAPSHOT_AGE: str(max(0, round(max_age_seconds * 1000))), DELETE_OLD_METADATA: "true"}


def expiry_cutoff(timestamps_ms: Sequence[int], *, max_age_ms: int, min_keep: int, now_ms: int) -> int | None:
    """The timestamp below which snapshots expire (pure), or None when none does.

    ``timestamps_ms`` are every snapshot's after the commit (the one being committed, at ``now_ms``, included):
    those older than ``now_ms - max_age_ms`` go, except that the ``min_keep`` newest always stay. Snapshots at
    the cutoff itself stay (a tie keeps both)."""
    cutoff = now_ms - max_age_ms
    if min_keep > 0:
        newest = sorted(timestamps_ms, reverse=True)
        if len(newest) < min_keep:
            return None
        cutoff = min(cutoff, newest[min_keep - 1])
    return cutoff if any(ts < cutoff for ts in timestamps_ms) else None


@dataclass(frozen=True, slots=True)
class Expiry:
    """What one commit does to the table's history: the properties it adds, the cutoff (None: none expires)."""

    set_properties: dict[str, str]
    cutoff_ms: int | None


def _int_property(properties: dict[str, str], name: str, default: int) -> int:
    raw = properties.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        log.warning("table property %s=%r is not an integer: using %d", name, raw, default)
        return default


def plan_expiry(metadata: Any, *, default_max_age_seconds: float, now_ms: int) -> Expiry:
    """The expiry of a commit at ``now_ms`` on a table whose current metadata is ``metadata`` (pure: reads
    its properties and snapshots, the snapshot being committed counted as one more at ``now_ms``)."""
    properties = dict(metadata.properties)
    defaults = retention_properties(default_max_age_seconds)
    missing = {k: v for k, v in defaults.items() if k not in properties}
    # a value that is not a number falls back to the setting's age, never to 0 (which would expire everything)
    max_age = _int_property(properties, MAX_SNAPSHOT_AGE, int(defaults[MAX_SNAPSHOT_AGE]))
    min_keep = _int_property(properties, MIN_SNAPSHOTS_TO_KEEP, 1)
    cutoff = expiry_cutoff([s.timestamp_ms for s in metadata.snapshots] + [now_ms], max_age_ms=max_age,
                           min_keep=min_keep, now_ms=now_ms)
    return Expiry(missing, cutoff)


def commit_data_files(table: Any, data_files: Sequence[Any], snapshot_properties: dict[str, str], *,
                      snapshot_max_age: float) -> int:
    """One append snapshot naming ``data_files``, with the progress in its summary properties, that also
    expires the snapshots the table's history properties let go; then deletes their manifest lists. Returns
    how many snapshots expired (blocking)."""
    from pyiceberg.table.update.snapshot import ExpireSnapshots

    expiry = plan_expiry(table.metadata, default_max_age_seconds=snapshot_max_age, now_ms=int(time.time() * 1000))
    before = {s.snapshot_id: s.manifest_list for s in table.metadata.snapshots}
    with table.transaction() as tx:
        if expiry.set_properties:
            tx.set_properties(expiry.set_properties)
        with tx.update_snapshot(snapshot_properties=snapshot_properties).merge_append() as append:
            for data_file in data_files:
                append.append_data_file(data_file)
        if expiry.cutoff_ms is not None:
            ExpireSnapshots(tx).older_than(datetime.fromtimestamp(expiry.cutoff_ms / 1000, UTC)).commit()
    # what the landed metadata no longer names (branch and tag heads were kept by pyiceberg)
    after = {s.snapshot_id for s in table.metadata.snapshots}
    expired = [path for snapshot_id, path in before.items() if snapshot_id not in after]
    for path in expired:
        try:
            if path:
                table.io.delete(path)
        except Exception as e:  # an orphan file, never read: say so and go on
            log.warning("could not delete the manifest list %s of an expired snapshot: %s", path, e)
    return len(expired)
