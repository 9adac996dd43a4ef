"""Where the tables live: the warehouse (``s3://bucket/prefix``), the pyiceberg catalog that names them, and
the table files found by listing the warehouse.

* **FileIO**: pyiceberg writes data and metadata through pyarrow's S3 filesystem, configured from the same
  :class:`~app.config.S3Side` as every other bucket (endpoint, region, credentials; path-style addressing).
  Our own S3 traffic (listing the warehouse, the write probe) goes through :class:`~app.store.ObjectStore`.
* **Catalog**: by default pyiceberg's SQL catalog on a local SQLite file (:func:`default_catalog_file`). That
  file is a cache of the warehouse, not the state: when it is missing (a new machine, a wiped cache) every
  table found in the warehouse is registered again at its newest metadata file (:func:`register_missing`).
  ``--catalog URI`` (plus ``--catalog-property k=v``) opens any pyiceberg catalog instead: a REST catalog
  (Polaris, Nessie, Lakekeeper: ``http(s)://``), Glue (``type=glue``), Postgres (``postgresql+psycopg2://``).
* **Layout**: ``<warehouse>/<namespace>/<topic>/metadata/NNNNN-<uuid>.metadata.json`` and ``.../data/...``;
  the table identifier is the tuple ``(namespace, topic)`` so a dotted topic name stays one name.

All pyiceberg calls here are blocking: callers run them in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.config import BucketUrl, S3Side
from app.errors import ConfigError, ShadowReplicaError, StorageError
from app.store import ObjectStore

__all__ = ["LakeError", "TableFiles", "Warehouse", "default_catalog_file", "find_tables", "open_catalog",
           "register_missing"]

_METADATA = re.compile(r"^(?P<ns>[^/]+)/(?P<table>[^/]+)/metadata/(?P<version>\d+)-[^/]*\.metadata\.json$")


class LakeError(ShadowReplicaError):
    """The warehouse or a table cannot be used as asked (not writable, someone else's table, ...)."""


@dataclass(frozen=True, slots=True)
class Warehouse:
    """The warehouse location and how to reach its bucket."""

    side: S3Side

    @property
    def url(self) -> BucketUrl:
        return self.side.url

    @property
    def location(self) -> str:
        return str(self.side.url)

    def table_location(self, namespace: str, table: str) -> str:
        return f"{self.location}/{namespace}/{table}"

    def fileio_properties(self) -> dict[str, str]:
        """pyiceberg FileIO properties (pyarrow's S3 filesystem) for this bucket."""
        props = {"py-io-impl": "app.lake.fileio.WarehouseFileIO", "s3.region": self.side.region,
                 "s3.force-virtual-addressing": "false"}
        if self.side.endpoint_url:
            props["s3.endpoint"] = self.side.endpoint_url
        if self.side.access_key_id:
            props["s3.access-key-id"] = self.side.access_key_id
        if self.side.secret_access_key:
            props["s3.secret-access-key"] = self.side.secret_access_key
        if self.side.session_token:
            props["s3.session-token"] = self.side.session_token
        return props

    async def check_writable(self) -> None:
        """Put and delete a probe object: a read-only or missing warehouse fails here, before any work."""
        probe = ".shadowreplica-write-probe"
        try:
            async with ObjectStore(self.side) as store:
                await store.put(probe, b"probe")
                await store.delete_many([probe])
        except StorageError as e:
            raise LakeError(f"warehouse {self.location} is not writable: {e.message}",
                            warehouse=self.location) from e


@dataclass(frozen=True, slots=True)
class TableFiles:
    namespace: str
    table: str
    metadata_location: str  # the newest metadata file
    version: int


async def find_tables(warehouse: Warehouse, store: ObjectStore | None = None) -> dict[tuple[str, str], TableFiles]:
    """Every table of the warehouse by listing it: ``(namespace, table)`` → its newest metadata file.

    A writer killed between writing metadata file N and swapping its catalog's pointer leaves an orphan N;
    the next run commits its own N from the same parent. Of two files with the newest version the later
    commit (``last-updated-ms``, read from each) is the table: the orphan's successor, never the orphan.
    """
    newest: dict[tuple[str, str], tuple[int, list[str]]] = {}

    async def scan(s: ObjectStore) -> dict[tuple[str, str], TableFiles]:
        async for info in s.list(""):
            m = _METADATA.match(info.key)
            if m is None:
                continue
            ident, version = (m["ns"], m["table"]), int(m["version"])
            best = newest.get(ident)
            if best is None or version > best[0]:
                newest[ident] = (version, [info.key])
            elif version == best[0]:
                best[1].append(info.key)
        found = {}
        for ident, (version, keys) in newest.items():
            key = keys[0] if len(keys) == 1 else max(await asyncio.gather(*(_commit_order(s, k) for k in keys)))[1]
            found[ident] = TableFiles(ident[0], ident[1], f"{warehouse.location}/{key}", version)
        return found

    if store is not None:
        return await scan(store)
    async with ObjectStore(warehouse.side) as s:
        return await scan(s)


async def _commit_order(store: ObjectStore, key: str) -> tuple[int, str]:
    """``(last-updated-ms, key)`` of a metadata file; an unreadable one sorts first."""
    try:
        stamp = json.loads((await store.get(key)).body).get("last-updated-ms", -1)
    except (StorageError, ValueError, AttributeError):
        stamp = -1
    return (stamp if isinstance(stamp, int) else -1), key


def default_catalog_file(cache_dir: Path, warehouse: Warehouse) -> Path:
    """One SQLite file per warehouse (endpoint + location) under the cache directory."""
    ident = f"{warehouse.side.endpoint_url or 'aws'}\0{warehouse.location}"
    return cache_dir / "lake" / f"catalog-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.db"


def open_catalog(warehouse: Warehouse, *, uri: str | None, properties: dict[str, str] | None = None,
                 catalog_file: Path | None = None, name: str = "shadowreplica") -> Any:
    """A pyiceberg catalog: ``uri`` (any pyiceberg catalog) or the embedded SQLite file (blocking)."""
    from pyiceberg.catalog import load_catalog
    from pyiceberg.exceptions import NoSuchTableError  # noqa: F401 - import check: pyiceberg present

    props: dict[str, Any] = {"warehouse": warehouse.location, **warehouse.fileio_properties(),
                             **(properties or {})}
    if uri is None:
        if catalog_file is None:
            raise ConfigError("open_catalog needs a catalog URI or a catalog file")
        catalog_file.parent.mkdir(parents=True, exist_ok=True)
        props.update(type="sql", uri=f"sqlite:///{catalog_file}", init_catalog_tables="true")
    else:
        props["uri"] = uri
    try:
        return load_catalog(name, **props)
    except Exception as e:  # pyiceberg raises plain ValueError/NotInstalledError/connection errors here
        raise ConfigError(f"cannot open the Iceberg catalog {uri or catalog_file}: {e}") from e


def register_missing(catalog: Any, tables: dict[tuple[str, str], TableFiles]) -> list[tuple[str, str]]:
    """Register every warehouse table the catalog does not know, at its newest metadata file (blocking)."""
    registered = []
    for (ns, table), files in sorted(tables.items()):
        catalog.create_namespace_if_not_exists(ns)
        if catalog.table_exists((ns, table)):
            continue
        catalog.register_table((ns, table), files.metadata_location)
        registered.append((ns, table))
    return registered
