"""The web page in a real headless browser: Debian's Chromium driven by Playwright (``executable_path``).

`shadowreplica http` runs as a subprocess against seeded buckets, with a bearer token so the page's token
dialog is exercised too. The test browses to a record and checks its value is shown as the API returns it,
jumps by time, pages forward, opens the segment timeline and the replication view, and saves screenshots
under ``tests/output/``.

Chromium comes from Debian (``tests/debian/install.sh``, run here when ``/usr/bin/chromium`` is
missing): Playwright never downloads a browser of its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.browser_support import CHROMIUM_FLAGS, OUTPUT, ensure_chromium
from tests.http_fixtures import Seeded, drop_buckets, running, seed_pair

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not

TOKEN = "browser-token"


@pytest.fixture(scope="module")
def chromium() -> Path:
    return ensure_chromium()


@pytest.fixture(scope="module")
def seeded(s3_server: str) -> Iterator[Seeded]:
    pair = seed_pair(s3_server)
    yield pair
    drop_buckets(pair)


async def shot(page: Page, name: str) -> Path:
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"http_browser_{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


async def test_page_browses_to_a_record(chromium: Path, seeded: Seeded, tmp_path: Path) -> None:
    args = ["http", "--bucket", str(seeded.dest.url), "--region", "eu-west-1", "--endpoint-url", seeded.endpoint,
            "--source", str(seeded.source.url), "--source-region", "us-east-1",
            "--source-endpoint-url", seeded.endpoint, "--listen", "127.0.0.1:0", "--cache-dir", str(tmp_path)]
    env = {"SHADOWREPLICA_HTTP_TOKEN": TOKEN, "SHADOWREPLICA_HTTP_LAG_HISTORY_INTERVAL": "0.2"}
    async with running(*args, env=env) as url, \
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as api, \
            async_playwright() as pw:
        offset = 777
        want = (await api.get("/topics/orders/partitions/1/records", params={"offset": offset, "limit": 1})).json()
        record = want["records"][0]
        assert record["value_encoding"] == "json"

        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_FLAGS,
                                           env={**os.environ, "HOME": str(tmp_path)})
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            # the overview asks for the token first (401), then lists topics and partitions
            await page.goto(url + "/")
            await expect(page.locator("#token-dialog")).to_be_visible()
            await page.fill("#token-input", TOKEN)
            await page.click("#token-dialog button[type=submit]")
            row = page.locator('tr[data-topic="orders"][data-partition="1"]')
            await expect(row).to_be_visible()
            lag = next(r for r in (await api.get("/replication")).json()["partitions"]
                       if (r["topic"], r["partition"]) == ("orders", 1))
            await expect(row.locator("td").nth(6)).to_contain_text(f"{lag['lag_offsets']:,} · ")
            await shot(page, "overview")

            # browse orders/1, jump to an offset: the record's value is shown, JSON pretty-printed
            await row.locator("a.browse-link").click()
            await expect(page.locator("#browse-form")).to_be_visible()
            await page.fill("#offset", str(offset))
            await page.click("#go-offset")
            shown = page.locator(f'tr.record[data-offset="{offset}"]')
            await expect(shown).to_be_visible()
            value_text = await shown.locator("td.value pre").inner_text()
            assert value_text == json.dumps(record["value"], indent=2, ensure_ascii=False)
            await expect(shown).to_contain_text(record["key"] or "null")
            for h in record["headers"]:
                await expect(shown.locator("ul.headers")).to_contain_text(h["key"])
            await shot(page, "browse")

            # page forward: the next page starts where the API says
            first_next = (await api.get("/topics/orders/partitions/1/records",
                                        params={"offset": offset, "limit": 20})).json()["next_offset"]
            await page.click("#next")
            await expect(page.locator("tr.record").first).to_have_attribute("data-offset", str(first_next))

            # jump to a time: the first record at or after it
            by_time = (await api.get("/topics/orders/partitions/1/records",
                                     params={"timestamp": "2026-01-01T00:00:07Z", "limit": 1})).json()
            await page.fill("#time", "2026-01-01T00:00:07Z")
            await page.click("#go-time")
            await expect(page.locator("tr.record").first).to_have_attribute(
                "data-offset", str(by_time["records"][0]["offset"]))

            # key search in a window
            key = record["key"]
            if key is not None:
                await page.fill("#key", key)
                await page.fill("#offset", "0")
                await page.click("#go-key")
                await expect(page.locator("tr.record").first).to_be_visible()
                keys = await page.locator("tr.record td:nth-child(3)").all_inner_texts()
                assert keys and all(k.startswith(key) for k in keys)

            # the segment timeline and the lag chart
            await page.goto(url + "/#/partition/orders/1")
            segments = (await api.get("/topics/orders/partitions/1/segments")).json()["segments"]
            await expect(page.locator("#timeline rect.seg")).to_have_count(2 * len(segments))
            await expect(page.locator("#lag-chart path.line")).to_have_count(1)
            await shot(page, "partition")

            # the replication view refreshes itself
            await page.goto(url + "/#/replication")
            await expect(page.locator("#replication-table tbody tr")).to_have_count(6)
            await expect(page.locator("#replication-table .badge.lagging")).to_have_count(6)
            before = await page.locator("#status").inner_text()
            await expect(page.locator("#status")).not_to_have_text(before, timeout=8000)
            await expect(page.locator("#replication-chart path.line")).to_have_count(6)
            # what following costs, from the same /replication document
            cost = (await api.get("/replication")).json()
            assert cost["following"]["mode"] == "polling" and cost["cost"]["sides"]
            await expect(page.locator("#following")).to_contain_text("following by polling")
            assert await page.locator("#cost-table tbody tr").count() >= 1
            await shot(page, "replication")
        finally:
            await browser.close()
        assert errors == []
