"""How the lake is reached, from the command line: the ``--warehouse``/``--catalog`` flags and what they open.

Shared by the lake's own commands (``export``, ``sql``) and by the commands that compose the lake into
another face (``http --warehouse`` serves ``GET /sql``; ``run --with export``); none of them reaches into
another command's module.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli import add_s3_flags, side_from_args
from app.config import S3Side
from app.errors import ConfigError
from app.lake.warehouse import Warehouse, default_catalog_file, find_tables, open_catalog, register_missing

__all__ = ["LakeOptions", "add_lake_flags", "lake_from_args", "open_lake", "table_locations", "topic_filter"]


@dataclasses.dataclass(frozen=True, slots=True)
class LakeOptions:
    warehouse: Warehouse
    catalog_uri: str | None
    catalog_properties: dict[str, str]
    catalog_file: Path


def add_lake_flags(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--warehouse", required=required, default=None, metavar="s3://BUCKET/PREFIX",
                   help="where the Iceberg tables live")
    add_s3_flags(p, "warehouse")
    p.add_argument("--catalog", default=None, metavar="URI",
                   help="a pyiceberg catalog (REST http(s)://..., sqlite:///..., postgresql://...); default: an "
                        "embedded SQLite catalog, rebuilt from the warehouse when missing")
    p.add_argument("--catalog-property", action="append", default=[], metavar="KEY=VALUE",
                   help="pyiceberg catalog property (repeatable), e.g. type=glue or credential=id:secret")
    p.add_argument("--catalog-file", default=None, help="the embedded SQLite catalog file")
    p.add_argument("--namespace", default=None, help="Iceberg namespace (default redpanda)")


def lake_from_args(args: argparse.Namespace, *, base: S3Side | None, cache_dir: Path,
                   warehouse_url: str | None = None) -> LakeOptions:
    url = warehouse_url or args.warehouse
    if not url:
        raise ConfigError("--warehouse is required (s3://bucket/prefix)")
    side = side_from_args(args, url, "dest", "warehouse-")
    if base is not None:  # the warehouse reaches S3 the way the bucket does unless told otherwise
        side = dataclasses.replace(
            side, region=args.warehouse_region or base.region,
            endpoint_url=args.warehouse_endpoint_url or base.endpoint_url,
            access_key_id=side.access_key_id or base.access_key_id,
            secret_access_key=side.secret_access_key or base.secret_access_key,
            session_token=side.session_token or base.session_token)
    if not side.url.prefix:
        raise ConfigError(f"--warehouse needs a prefix below the bucket (s3://{side.url.bucket}/lake), so the "
                          f"tables never mix with the replica's objects")
    props = {}
    for item in args.catalog_property:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--catalog-property takes KEY=VALUE, not {item!r}")
        props[key.strip()] = value
    warehouse = Warehouse(side)
    catalog_file = Path(args.catalog_file) if args.catalog_file else default_catalog_file(cache_dir, warehouse)
    return LakeOptions(warehouse, args.catalog, props, catalog_file)


async def open_lake(opts: LakeOptions) -> Any:
    """The pyiceberg catalog; the embedded one gets every warehouse table it does not know registered."""
    catalog = await asyncio.to_thread(open_catalog, opts.warehouse, uri=opts.catalog_uri,
                                      properties=opts.catalog_properties, catalog_file=opts.catalog_file)
    if opts.catalog_uri is None:
        tables = await find_tables(opts.warehouse)
        await asyncio.to_thread(register_missing, catalog, tables)
    return catalog


def topic_filter(spec: str | None) -> Callable[[str], bool] | None:
    """``a,b,logs-*`` → a predicate (fnmatch patterns); None for every topic."""
    if not spec:
        return None
    patterns = [t.strip() for t in spec.split(",") if t.strip()]
    return lambda topic: any(fnmatch.fnmatchcase(topic, pat) for pat in patterns)


async def table_locations(opts: LakeOptions) -> dict[tuple[str, str], str]:
    """``(namespace, table)`` → current metadata file: from the catalog when one is named, else the warehouse."""
    if opts.catalog_uri is None:
        return {k: v.metadata_location for k, v in (await find_tables(opts.warehouse)).items()}

    def from_catalog() -> dict[tuple[str, str], str]:
        catalog = open_catalog(opts.warehouse, uri=opts.catalog_uri, properties=opts.catalog_properties)
        out = {}
        for ns in catalog.list_namespaces():
            for ident in catalog.list_tables(ns):
                out[(ident[0], ident[-1])] = catalog.load_table(ident).metadata_location
        return out

    return await asyncio.to_thread(from_catalog)
