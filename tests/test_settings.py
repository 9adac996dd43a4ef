"""The one settings object (`app.config.load_settings`): every section built in one place, defaults → config
file → ``SHADOWREPLICA_<SECTION>_<FIELD>`` → flags, and a typo in the config file is an error."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from app.config import GiB, Settings, load_settings
from app.errors import ConfigError


def test_defaults_are_the_dataclass_defaults() -> None:
    built = load_settings({}, environ={})
    assert built == dataclasses.replace(Settings(), cost=built.cost)
    assert built.cache.memory_bytes == 64 * 1024 * 1024 and built.kafka.consumer_offsets_partitions == 16


def test_file_then_environment_then_flags() -> None:
    file_cfg = {"cache": {"chunk_size": 1024 * 1024, "max_bytes": GiB, "directory": "/from/file"},
                "http": {"listen": "127.0.0.1:1", "max_records": 5}, "sql": {"max_rows": 7},
                "replicator": {"concurrency": 8, "checkpoint": "/tmp/cp.json"}}  # checkpoint: a per-sync option
    environ = {"SHADOWREPLICA_CACHE_MAX_BYTES": str(2 * GiB), "SHADOWREPLICA_HTTP_LISTEN": "127.0.0.1:2",
               "SHADOWREPLICA_EVENTS_WAIT_SECONDS": "5", "SHADOWREPLICA_KAFKA_ACLS": '{"bob": {"topics": ["a*"]}}'}
    args = argparse.Namespace(listen="127.0.0.1:3", cache_size="3GiB", max_rows=None, peers="h1:1, h2:2",
                              events_queue="http://q", commit_bytes="8MiB")
    built = load_settings(file_cfg, args, environ=environ)
    assert built.cache.chunk_size == 1024 * 1024  # file
    assert built.cache.directory == Path("/from/file")  # file, coerced to a path
    assert built.cache.max_bytes == 3 * GiB  # flag over environment over file
    assert built.http.listen == "127.0.0.1:3" and built.http.max_records == 5
    assert built.sql.max_rows == 7  # a flag left at None does not override
    assert built.events.wait_seconds == 5.0 and built.events.queue == "http://q"
    assert built.kafka.peers == ("h1:1", "h2:2") and built.kafka.acls == {"bob": {"topics": ["a*"]}}
    assert built.export.commit_bytes == 8 * 1024 * 1024 and built.replicator.concurrency == 8


@pytest.mark.parametrize(("file_cfg", "environ", "message"), [
    ({"cahce": {"max_bytes": 1}}, {}, "unknown section.*cahce"),
    ({"cache": {"max_byte": 1}}, {}, r"unknown setting.*\[cache\]: max_byte"),
    ({"http": {"max_records": "many"}}, {}, "bad value for http.max_records"),
    ({}, {"SHADOWREPLICA_KAFKA_USERS": "{not json"}, "SHADOWREPLICA_KAFKA_USERS is not JSON"),
    ({"cache": {"cluster_uuid": "not-a-uuid"}}, {}, "not a cluster UUID"),
])
def test_bad_settings_are_named(file_cfg: dict[str, dict[str, object]], environ: dict[str, str],
                                message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(file_cfg, environ=environ)
