"""Table tests for the replicator's pure parts and the read path's batch runs, in milliseconds (no S3): the
expected values are worked out by hand from the rules in the modules' docstrings (AIMD as TCP does it,
full-jitter back-off, runs of served batches)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from app.batch_runs import BatchRuns
from app.errors import StorageUnavailable
from app.replicator.limiter import AdaptiveLimiter, RetryPolicy, error_kind

# ------------------------------------------------------------------------------------------ limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("start", "events", "limit", "cuts"), [
    # a throttle halves the limit, at most once per cooldown (0.5 s)
    (32, [("throttle", 0.0)], 16.0, 1),
    (32, [("throttle", 0.0), ("throttle", 0.1)], 16.0, 1),
    (32, [("throttle", 0.0), ("throttle", 0.6)], 8.0, 2),
    # never below min_limit (1)
    (2, [("throttle", 0.0), ("throttle", 1.0), ("throttle", 2.0)], 1.0, 3),
    # additive increase: + 1/limit per success, capped at the start value
    (4, [("throttle", 0.0), ("success", 0.0), ("success", 0.0)], 2.0 + 1 / 2 + 1 / 2.5, 1),
    (4, [("success", 0.0)] * 5, 4.0, 0),
])
def test_limiter_aimd(start: int, events: list[tuple[str, float]], limit: float, cuts: int) -> None:
    clock = FakeClock()
    lim = AdaptiveLimiter(start, clock=clock)
    base = clock.now
    for kind, at in events:
        clock.now = base + at
        (lim.on_throttle if kind == "throttle" else lim.on_success)()
    assert lim.limit == pytest.approx(limit) and lim.cuts == cuts


def test_limiter_is_fifo_and_counts_multi_slot_requests() -> None:
    async def go() -> list[str]:
        lim = AdaptiveLimiter(3)
        order: list[str] = []
        first = await lim.acquire(2)  # 2 of 3 in use
        big = asyncio.create_task(lim.acquire(2))  # must wait: 2 + 2 > 3
        await asyncio.sleep(0)
        small = asyncio.create_task(lim.acquire(1))  # fits, but FIFO: waits behind the big one
        await asyncio.sleep(0)
        assert not big.done() and not small.done() and lim.in_use == 2
        lim.release(first)
        await asyncio.sleep(0)
        order.append(f"big={big.done()} small={small.done()} in_use={lim.in_use}")
        assert await big == 2
        # a request for more than the maximum takes the maximum
        lim.release(2)
        await small
        lim.release(1)
        assert await lim.acquire(10) == 3
        return order

    assert asyncio.run(go()) == ["big=True small=True in_use=3"]


@pytest.mark.parametrize(("code", "kind"), [
    ("SlowDown", "throttled"), ("503", "throttled"), ("429", "throttled"), ("InternalError", "unavailable"),
])
def test_error_kind(code: str, kind: str) -> None:
    assert error_kind(StorageUnavailable(f"S3 unavailable ({code}: x)", code=code)) == kind


@pytest.mark.parametrize(("base", "cap", "retry", "upper"), [
    (0.1, 10.0, 1, 0.2), (0.1, 10.0, 3, 0.8), (0.1, 10.0, 10, 10.0), (1.0, 5.0, 2, 4.0), (1.0, 5.0, 3, 5.0),
])
def test_retry_policy_full_jitter_bounds(base: float, cap: float, retry: int, upper: float) -> None:
    policy = RetryPolicy(base=base, cap=cap, rng=random.Random(7))
    delays = [policy.delay(retry) for _ in range(2000)]
    assert min(delays) >= 0.0 and max(delays) <= upper
    assert max(delays) > upper * 0.95 and min(delays) < upper * 0.05  # uniform over [0, upper]


# --------------------------------------------------------------------------------------- batch runs


@dataclass(frozen=True)
class _Meta:
    size_bytes: int = 10_000


@dataclass(frozen=True)
class _Seg:
    key: str
    first: int
    next: int
    meta: _Meta = field(default_factory=_Meta)


class _View:
    """The parts of a PartitionView that BatchRuns uses."""

    def __init__(self, segs: list[_Seg], revision: int = 1) -> None:
        self.topic, self.partition, self.revision = "t", 0, revision
        self.segments = segs

    def segment_for_kafka_offset(self, offset: int) -> _Seg | None:
        return next((s for s in self.segments if s.first <= offset < s.next), None)


@dataclass(frozen=True)
class _Header:
    producer_id: int = -1
    base_offset: int = 0
    is_transactional: bool = False


@dataclass(frozen=True)
class _Batch:
    kafka_offset: int
    kafka_last_offset: int
    segment_key: str
    position: int
    size: int
    header: _Header = field(default_factory=_Header)

    def kafka_header(self) -> bytes:
        return b"h%d" % self.kafka_offset


@dataclass
class _Result:
    batches: list[_Batch]

    @property
    def next_offset(self) -> int | None:
        return self.batches[-1].kafka_last_offset + 1 if self.batches else None


def _batches(first: int, count: int, records: int = 10, size: int = 100, key: str = "s1") -> list[_Batch]:
    return [_Batch(first + i * records, first + i * records + records - 1, key, i * size, size)
            for i in range(count)]


@pytest.mark.parametrize(("offset", "max_bytes", "want_first", "want_count"), [
    (0, 1000, 0, 10),  # the whole run
    (35, 250, 30, 2),  # from the batch holding 35, while they fit: 100 + 100; a third would make 300 > 250
    (35, 50, 30, 1),  # the first batch always, even past max_bytes
    (99, 1000, 90, 1),  # the last batch
    (100, 1000, None, 0),  # the run's end: not covered
])
def test_batch_runs_lookup(offset: int, max_bytes: int, want_first: int | None, want_count: int) -> None:
    runs = BatchRuns()
    view = _View([_Seg("s1", 0, 100)])
    runs.record(view, 0, _Result(_batches(0, 10)))  # type: ignore[arg-type]
    got = runs.lookup(view, offset, max_bytes)  # type: ignore[arg-type]
    if want_first is None:
        assert got is None
    else:
        assert got is not None and got[0].kafka_offset == want_first and len(got) == want_count


def test_batch_runs_extend_forget_moved_views_and_stay_bounded() -> None:
    runs = BatchRuns(max_entries=25, runs_per_partition=2)
    view = _View([_Seg("s1", 0, 100), _Seg("s2", 100, 200)])
    runs.record(view, 0, _Result(_batches(0, 10)))  # type: ignore[arg-type]
    runs.record(view, 100, _Result(_batches(100, 10, key="s2")))  # type: ignore[arg-type]  # extends the run
    assert runs.entries == 20
    got = runs.lookup(view, 95, 10_000)  # type: ignore[arg-type]
    assert got is not None and [e.kafka_offset for e in got][:2] == [90, 100]
    # retention dropped s1: a new view without it invalidates the run that names s1
    moved = _View([_Seg("s2", 100, 200)])
    assert runs.lookup(moved, 150, 100) is None  # type: ignore[arg-type]
    assert runs.entries == 0
    # bounded: another partition's runs push the oldest out past max_entries
    runs.record(view, 0, _Result(_batches(0, 10)))  # type: ignore[arg-type]
    other = _View([_Seg("o1", 0, 1000)], revision=2)
    runs.record(other, 0, _Result(_batches(0, 20, key="o1")))  # type: ignore[arg-type]
    assert runs.entries <= 25
    assert runs.lookup(other, 0, 100) is not None  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- planner

from datetime import UTC, datetime  # noqa: E402

from app.bucket import ManifestObject, PartitionId, encode_partition_manifest  # noqa: E402
from app.replicator.plan import plan_partition, restorable  # noqa: E402
from segment_format.manifest import PartitionManifest, SegmentMeta  # noqa: E402

PID = PartitionId("kafka", "tp", 0, 7)


def _seg(base: int, last: int, size: int = 1000, term: int = 1, max_ts: int | None = None) -> SegmentMeta:
    return SegmentMeta(base_offset=base, committed_offset=last, size_bytes=size, segment_term=term,
                       base_timestamp=base * 10, max_timestamp=max_ts if max_ts is not None else last * 10,
                       delta_offset=0, delta_offset_end=0)


def _manifest(*segs: SegmentMeta, start: int | None = None) -> PartitionManifest:
    return PartitionManifest(namespace="kafka", topic="tp", partition=0, revision=7,
                             last_offset=segs[-1].committed_offset if segs else 0, segments=segs,
                             start_offset=start if start is not None else (segs[0].base_offset if segs else 0))


def _obj(m: PartitionManifest, etag: str = "e1") -> ManifestObject:
    return ManifestObject(key=m.manifest_key("json"), fmt="json", etag=etag, last_modified=datetime.now(UTC),
                          body=encode_partition_manifest(m, "json"), manifest=m)


S1, S2, S3 = _seg(0, 99), _seg(100, 199), _seg(200, 299)


@pytest.mark.parametrize(("source", "dest", "retention", "copy", "delete", "unchanged"), [
    # nothing at the destination: every segment, in offset order
    ((S1, S2, S3), None, "mirror", [0, 100, 200], 0, False),
    # the destination holds a prefix: only what is missing
    ((S1, S2, S3), (S1,), "mirror", [100, 200], 0, False),
    # equal: nothing to do
    ((S1, S2), (S1, S2), "mirror", [], 0, True),
    # source retention dropped S1: mirror deletes its objects after the commit, keep does not
    ((S2, S3), (S1, S2), "mirror", [200], 1, False),
    ((S2, S3), (S1, S2), "keep", [200], 0, False),
])
def test_plan_partition(source: tuple[SegmentMeta, ...], dest: tuple[SegmentMeta, ...] | None, retention: str,
                        copy: list[int], delete: int, unchanged: bool) -> None:
    src = _obj(_manifest(*source))
    dst = _obj(_manifest(*dest), "e0") if dest is not None else None
    plan = plan_partition(pid=PID, source=src, source_spills={}, source_spill_bodies={}, dest=dst,
                          dest_manifest_fmts=("json",) if dest else (), retention=retention)  # type: ignore[arg-type]
    assert [u.meta.base_offset for u in plan.units] == copy
    assert plan.bytes_to_copy == 1000 * len(copy)
    # each unit copies the segment and its companions, keys in the partition's own layout
    for u in plan.units:
        assert u.key == src.manifest.segment_key(u.meta)
        assert {o.key for o in u.objects} >= {u.key}
    segment_deletions = [k for k in plan.deletions if k.endswith("-v1.log")]  # the segment; its .index/.tx too
    assert len(segment_deletions) == delete, plan.deletions
    assert len(plan.deletions) == 3 * delete  # segment, .index, .tx
    assert plan.unchanged is unchanged
    if retention == "keep" and dest is not None:
        assert plan.target.segments[0].base_offset == dest[0].base_offset  # the kept prefix stays named


@pytest.mark.parametrize(("segs", "want"), [
    ((), (-1, None)),
    ((S1,), (99, 990)),
    ((S1, _seg(100, 149, max_ts=5000)), (149, 5000)),
])
def test_restorable(segs: tuple[SegmentMeta, ...], want: tuple[int, int | None]) -> None:
    assert restorable(_manifest(*segs)) == want


# ------------------------------------------------------------------------------------------ byte budget


async def test_byte_budget_bounds_what_is_held_first_come_first_served() -> None:
    from app.store import ByteBudget

    budget = ByteBudget(10)
    order: list[str] = []
    release = {name: asyncio.Event() for name in "abcd"}

    async def part(name: str, size: int) -> None:
        async with budget.hold(size):
            order.append(name)
            assert budget.in_use <= budget.limit
            await release[name].wait()

    tasks = [asyncio.create_task(part(n, s)) for n, s in (("a", 6), ("b", 6), ("c", 2), ("d", 30))]
    await asyncio.sleep(0)
    assert order == ["a"]  # b waits for room; c, small enough, waits behind b (first come, first served)
    release["a"].set()
    await asyncio.sleep(0.01)
    assert order == ["a", "b", "c"] and budget.in_use == 8
    release["b"].set()
    release["c"].set()
    await asyncio.sleep(0.01)
    assert order[-1] == "d" and budget.in_use == 10  # bigger than the budget: held alone, as the whole budget
    release["d"].set()
    await asyncio.gather(*tasks)
    assert budget.in_use == 0 and budget.peak == 10


async def test_byte_budget_gives_back_a_cancelled_waiters_share() -> None:
    from app.store import ByteBudget

    budget = ByteBudget(4)
    holding = asyncio.Event()

    async def hold(size: int, until: asyncio.Event) -> None:
        async with budget.hold(size):
            holding.set()
            await until.wait()

    stop_first = asyncio.Event()
    first = asyncio.create_task(hold(4, stop_first))
    await holding.wait()
    waiting = asyncio.create_task(hold(3, asyncio.Event()))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    stop_first.set()
    await first
    assert budget.in_use == 0
    async with budget.hold(4):
        assert budget.in_use == 4


# ------------------------------------------------------------------------------------------ cursor


def test_the_partition_cursor_and_destination_state_are_values() -> None:
    import dataclasses

    from app.replicator.partition import DestState, PartitionCursor

    dest = DestState(None, {"json": '"a"'}, frozenset({"spill-1"}))
    moved = dest.with_etag("bin", '"b"').with_etag("json", None)
    assert dict(dest.etags) == {"json": '"a"'} and dict(moved.etags) == {"bin": '"b"'}  # the old one unchanged
    cursor = PartitionCursor(source_fmt="bin", dest=dest)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cursor.needs_probe = False  # type: ignore[misc]
    later = dataclasses.replace(cursor, verified=cursor.verified | {"k"})
    assert cursor.verified == frozenset() and later.verified == {"k"} and later.dest is dest


async def test_byte_budget_a_waiter_cancelled_and_dropped_by_a_release_raises_cancelled() -> None:
    """Cancelled while queued, then a release runs before the cancelled task does (and drops its entry):
    the task still ends with CancelledError (not a ValueError from the queue), and the budget is whole."""
    from app.store import ByteBudget

    budget = ByteBudget(4)
    entered = asyncio.Event()

    async def hold() -> None:
        async with budget.hold(4):
            entered.set()
            await asyncio.Event().wait()

    first = asyncio.create_task(hold())
    await entered.wait()
    queued = asyncio.create_task(hold())
    await asyncio.sleep(0)
    assert len(budget._waiters) == 1
    queued.cancel()  # its waiter future is cancelled at once; the task runs its except block later
    first.cancel()
    budget.in_use -= 4  # the release of `first`, run before `queued` resumes (as its finally would):
    budget._wake()  # drops the cancelled entry
    budget.in_use += 4  # (first's own finally gives it back when it runs)
    for task in (queued, first):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert budget.in_use == 0 and not budget._waiters


async def test_a_sleep_woken_in_the_same_pass_as_its_cancel_still_ends() -> None:
    """The replicator's workers and meta loop sleep on an event with a timeout. With ``asyncio.wait_for`` (Python
    3.11), a cancel arriving in the loop pass that also sets the event was swallowed: the worker slept again,
    and ``run_forever`` waited for it for ever after ``stop`` (seen once in a full test run). The cancel wins."""
    from app.config import BucketUrl, S3Side
    from app.replicator import Replicator
    from app.store import ObjectStore
    from tests.replicator_support import config

    side = S3Side(url=BucketUrl.parse("s3://never-contacted"))
    rep = Replicator(ObjectStore(side), ObjectStore(side), config())
    for _ in range(3):
        wake = asyncio.Event()
        sleeper = asyncio.create_task(rep._sleep(wake, 60.0))
        await asyncio.sleep(0)  # the sleeper waits on the event
        wake.set()
        sleeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeper
