"""The raw ``CopyObject`` loop as a process of its own, the way a user would write it with aiobotocore alone:
LIST the source bucket, ``CopyObject`` every key, ``CONCURRENCY`` at a time, nothing else. Its wall time pays
the same interpreter and import start-up as the console script, so the two compare like for like.

    python -m bench.raw_copy SOURCE_BUCKET DEST_BUCKET CONCURRENCY   (endpoint and keys from AWS_* env)
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session


async def copy_all(source: str, dest: str, concurrency: int) -> int:
    config = AioConfig(max_pool_connections=2 * concurrency, s3={"addressing_style": "path"},
                       retries={"mode": "standard"})
    async with get_session().create_client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                                           region_name=os.environ.get("AWS_REGION", "us-east-1"),
                                           config=config) as s3:
        keys = [o["Key"] async for page in s3.get_paginator("list_objects_v2").paginate(Bucket=source)
                for o in page.get("Contents", ())]
        sem = asyncio.Semaphore(concurrency)

        async def one(key: str) -> None:
            async with sem:
                await s3.copy_object(Bucket=dest, Key=key, CopySource={"Bucket": source, "Key": key})

        await asyncio.gather(*(one(k) for k in keys))
    return len(keys)


def main() -> None:
    source, dest, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(asyncio.run(copy_all(source, dest, concurrency)))


if __name__ == "__main__":
    main()
