"""Every error status of the HTTP API, with its stable JSON shape, and never a traceback.

Shape: ``{"error": <class name>, "message": str, "status": <http status>, ...details}``; S3 failures add
``retriable``. S3 failures are real: a fault-injecting proxy in front of the S3 server process answers
with S3 errors (503 SlowDown, 403 AccessDenied); corrupt data is a segment whose bytes were damaged in
the bucket.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import HttpSettings
from app.store import ObjectStore, ensure_bucket
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec
from tests.http_fixtures import Seeded, drop_buckets, open_app, seed_pair, side


@pytest.fixture(scope="module")
def seeded(s3_server: str) -> Iterator[Seeded]:
    pair = seed_pair(s3_server)
    yield pair
    drop_buckets(pair)


def check(resp: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body: dict[str, Any] = resp.json()
    assert body["error"] == error and body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    return body


RECORDS = "/topics/orders/partitions/0/records"


async def test_400_contradictory_parameters(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        body = check(await t.client.get(RECORDS, params={"offset": 1, "timestamp": 5}), 400, "InvalidRequest")
        assert body["parameter"] == "timestamp"
        check(await t.client.get(RECORDS, params={"window": 10}), 400, "InvalidRequest")


async def test_401_without_the_token(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path, http=HttpSettings(token="t0ken")) as t:
        resp = await t.client.get("/topics")
        check(resp, 401, "AccessDenied")
        assert resp.headers["www-authenticate"] == 'Bearer realm="shadowreplica"'


async def test_404_unknown_topic_partition_segment_route(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        body = check(await t.client.get("/topics/nope/partitions/0/records"), 404, "UnknownTopic")
        assert body["topic"] == "nope"
        check(await t.client.get("/topics/nope"), 404, "UnknownTopic")
        body = check(await t.client.get("/topics/orders/partitions/7"), 404, "UnknownPartition")
        assert body["partition"] == 7 and body["partitions"] == [0, 1]
        check(await t.client.get("/topics/orders/partitions/7/segments"), 404, "UnknownPartition")
        body = check(await t.client.get("/topics/orders/partitions/0/segments/0-1-v1.log"), 404, "ObjectMissing")
        assert body["name"] == "0-1-v1.log"
        check(await t.client.get("/no/such/route"), 404, "NotFound")


async def test_405_on_any_write(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        resp = await t.client.delete("/topics/orders")
        body = check(resp, 405, "ReadOnly")
        assert body["method"] == "DELETE" and resp.headers["allow"] == "GET, HEAD"


async def test_416_offset_and_byte_range_out_of_range(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        hw = t.dest.catalog.partition("orders", 0).high_watermark
        body = check(await t.client.get(RECORDS, params={"offset": hw + 1}), 416, "OffsetOutOfRange")
        assert (body["start"], body["end"], body["topic"], body["partition"]) == (0, hw, "orders", 0)
        seg = (await t.client.get("/topics/orders/partitions/0/segments")).json()["segments"][0]
        resp = await t.client.get(seg["download"], headers={"Range": f"bytes={seg['size_bytes']}-"})
        body = check(resp, 416, "OffsetOutOfRange")
        assert resp.headers["content-range"] == f"bytes */{seg['size_bytes']}" and body["end"] == seg["size_bytes"]
        check(await t.client.get(seg["download"], headers={"Range": "bytes=-0"}), 416, "OffsetOutOfRange")


async def test_422_bad_parameters(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path, http=HttpSettings(max_records=50)) as t:
        cases: list[tuple[str, dict[str, Any], str]] = [
            (RECORDS, {"limit": 0}, "limit"),
            (RECORDS, {"limit": 51}, "limit"),
            (RECORDS, {"offset": -1}, "offset"),
            (RECORDS, {"decode": "rot13"}, "decode"),
            (RECORDS, {"format": "xml"}, "format"),
            (RECORDS, {"timestamp": "yesterday"}, "timestamp"),
            (RECORDS, {"key": "zz", "key_encoding": "hex"}, "key"),
            (RECORDS, {"key": "a", "until": "x"}, "until"),
            ("/topics/orders/partitions/x", {}, "partition"),
            ("/topics/orders/partitions/-1", {}, "partition"),
        ]
        for path, params, parameter in cases:
            body = check(await t.client.get(path, params=params), 422, "InvalidParameter")
            assert body["parameter"] == parameter, (params, body)
        # data that cannot be shown as asked: text values as JSON, binary ones as UTF-8
        body = check(await t.client.get("/topics/payments/partitions/0/records", params={"decode": "json"}),
                     422, "InvalidParameter")
        assert body["parameter"] == "decode" and body["field"] == "value" and body["offset"] >= 0
        check(await t.client.get("/topics/clickstream/partitions/0/records", params={"decode": "utf8"}),
              422, "InvalidParameter")


async def test_422_corrupt_data_names_the_object_and_position(s3_server: str, tmp_path: Path) -> None:
    bucket = side(s3_server, f"h-corrupt-{tmp_path.name[-8:].lower().replace('_', '-')}", "eu-west-1")
    await ensure_bucket(bucket)
    await seed_bucket(bucket, SeedSpec(topics=1, partitions=1, total_bytes=300 * 1024, segment_bytes=256 * 1024,
                                       seed=3), progress=False, workers=0)
    pair = Seeded(s3_server, bucket, bucket)
    async with open_app(pair, tmp_path, with_source=False) as t:
        rec = (await t.client.get(RECORDS, params={"offset": 300, "limit": 1})).json()["records"][0]
        key = t.dest.catalog.partition("orders", 0).segments[0].key
        assert rec["batch"]["segment"] == key.rsplit("/", 1)[-1]
        position = rec["batch"]["position"]
        async with ObjectStore(bucket) as store:
            body = bytearray((await store.get(key)).body)
            body[position + 100] ^= 0xFF  # a byte inside the batch's records: its CRC no longer matches
            await store.put(key, bytes(body))
    async with open_app(pair, tmp_path / "fresh", with_source=False) as t:  # a cold cache reads the damage
        body = check(await t.client.get(RECORDS, params={"offset": 300, "limit": 1}), 422, "CorruptData")
        assert body["key"] == key and body["position"] == position
        # NDJSON already sent 200: the error arrives as the last line, same shape
        lines = (await t.client.get(RECORDS, params={"offset": 0, "limit": 5000, "format": "ndjson"})).text.splitlines()
        last = json.loads(lines[-1])
        assert last["error"]["error"] == "CorruptData" and last["error"]["status"] == 422
        assert last["error"]["key"] == key and last["error"]["position"] == position
    async with ObjectStore(bucket) as store:
        await store.delete_many([i.key async for i in store.list("")])


async def test_500_is_json_without_a_traceback(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        async def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError("secret internals")

        t.reader.read = broken  # type: ignore[method-assign]
        resp = await t.client.get(RECORDS, params={"offset": 1})
        check(resp, 500, "ShadowReplicaError")
        assert "secret" not in resp.text and "RuntimeError" not in resp.text


@pytest.mark.parametrize(("status", "code", "expected", "error", "retriable"), [
    (503, "SlowDown", 503, "StorageUnavailable", True),
    (500, "InternalError", 503, "StorageUnavailable", True),
    (403, "AccessDenied", 502, "StorageError", False),
])
async def test_s3_failures_are_502_or_503(seeded: Seeded, tmp_path: Path,
                                          s3_fault_proxy: Callable[[str], Awaitable[Any]],
                                          status: int, code: str, expected: int, error: str, retriable: bool) -> None:
    from conftest import Fault

    proxy = await s3_fault_proxy(seeded.endpoint)
    through_proxy = dataclasses.replace(seeded.dest, endpoint_url=proxy.endpoint, max_attempts=1)
    async with open_app(seeded, tmp_path, dest_side=through_proxy, with_source=False) as t:
        seg = (await t.client.get("/topics/orders/partitions/0/segments")).json()["segments"][0]
        proxy.faults.append(Fault(method="GET", target="-v1.log", status=status, code=code))
        for resp in (await t.client.get(RECORDS, params={"offset": 10, "limit": 1}),
                     await t.client.get(seg["download"])):
            body = check(resp, expected, error)
            assert body["retriable"] is retriable
            assert (resp.headers.get("retry-after") == "1") is retriable
        assert proxy.faults[0].hits >= 2
        proxy.faults.clear()  # S3 is back: the same requests work
        assert (await t.client.get(RECORDS, params={"offset": 10, "limit": 1})).status_code == 200
        assert (await t.client.get(seg["download"])).status_code == 200
