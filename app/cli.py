"""The `shadowreplica` command line.

:data:`COMMAND_MODULES` lists every subcommand and the module that registers it in :data:`COMMANDS`
(``@command(name)(add_arguments)(run)``); ``run`` returns an exit code.
Errors the user can act on (bad flags, missing objects, corrupt data, S3 failures) print one line on stderr
and exit non-zero; a traceback means a bug.

    shadowreplica seed     --bucket s3://source --topics 2 --partitions 3 --size 1GiB [--seed 42] [--append]
    shadowreplica inspect  s3://bucket/key | PATH [--records] [--json]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from app.config import load_file, s3_side
from app.errors import ConfigError, ObjectMissing, ShadowReplicaError
from segment_format.errors import FormatError

Runner = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Runner]] = {}


def command(name: str) -> Callable[[Callable[[argparse.ArgumentParser], None]], Callable[[Runner], Runner]]:
    """Register ``name`` with its argument builder, then its runner: ``@command(...)(args)(run)``."""

    def with_args(add: Callable[[argparse.ArgumentParser], None]) -> Callable[[Runner], Runner]:
        def with_run(run: Runner) -> Runner:
            COMMANDS[name] = (add, run)
            return run

        return with_run

    return with_args


def add_s3_flags(p: argparse.ArgumentParser, side: str = "", *, url_flag: str | None = None) -> None:
    """``--{side-}region`` and ``--{side-}endpoint-url``; credentials come from env or the config file."""
    dash = f"{side}-" if side else ""
    if url_flag:
        p.add_argument(f"--{url_flag}", required=True, metavar="s3://BUCKET[/PREFIX]")
    p.add_argument(f"--{dash}region", default=None, help="AWS region (default: AWS_REGION or us-east-1)")
    p.add_argument(f"--{dash}endpoint-url", default=None, help="S3 endpoint (default: AWS_ENDPOINT_URL)")


def add_cluster_flag(p: argparse.ArgumentParser) -> None:
    """``--cluster-uuid``: one cluster of a bucket several clusters share (``sync``, ``verify``, ``status``,
    ``serve``, ``http``, ``run``)."""
    p.add_argument("--cluster-uuid", default=None, metavar="UUID",
                   help="only this cluster's labeled topics (sync/verify/status); the topic a name means when "
                        "clusters share the bucket (serve/http/run; default: the newest)")


def side_from_args(args: argparse.Namespace, url: str, side: str, dash: str = "") -> Any:
    file_cfg = load_file(getattr(args, "config", None))
    attr = dash.replace("-", "_")
    return s3_side(
        url,
        side=side,
        file_section=file_cfg.get(side, {}),
        region=getattr(args, f"{attr}region", None),
        endpoint_url=getattr(args, f"{attr}endpoint_url", None),
    )


# ---------------------------------------------------------------- main


# Every subcommand, in the order `--help` lists them: name -> (module that registers it, one-line help).
# Only the chosen command's module is imported, so `sync` never pays for FastAPI or DuckDB.
COMMAND_MODULES: dict[str, tuple[str, str]] = {
    "sync": ("app.replicator.cli", "replicate a tiered-storage bucket server-side, manifest last"),
    "verify": ("app.replicator.cli", "check that every object a destination manifest names exists and matches"),
    "status": ("app.replicator.cli", "replication status of a destination (JSON), compared with the source if given"),
    "serve": ("app.kafka.cli", "serve the bucket read-only to Kafka clients"),
    "groups": ("app.kafka.cli", "consumer-group offsets of the replica (import)"),
    "http": ("app.http.cli", "serve the HTTP API and web page for one bucket"),
    "run": ("app.run", "replicator + Kafka shim + HTTP API in one process, from one config"),
    "export": ("app.lake.cli", "write the replica's topics as Iceberg tables (Redpanda's key_value schema)"),
    "sql": ("app.lake.cli", "run one SELECT over the exported Iceberg tables (DuckDB, read-only)"),
    "seed": ("app.tools.cli", "write a realistic Redpanda tiered-storage bucket"),
    "inspect": ("app.tools.cli", "describe a manifest, segment, index or tx object"),
}


def _add_global_flags(p: argparse.ArgumentParser, *, default: Any) -> None:
    """``--config`` and ``--log-level``: accepted before the subcommand and after it."""
    p.add_argument("--config", default=default, help="TOML config file (or SHADOWREPLICA_CONFIG)")
    p.add_argument("--log-level", default=default if default is argparse.SUPPRESS else "INFO",
                   help="DEBUG, INFO, WARNING, ERROR (default INFO)")


def _chosen(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is one), without parsing the rest."""
    return next((word for word in argv if word in COMMAND_MODULES), None)


def load_command(name: str) -> tuple[Callable[[argparse.ArgumentParser], None], Runner]:
    """Import the module that registers ``name`` and return its (add_arguments, run)."""
    import importlib

    module, _help = COMMAND_MODULES[name]
    importlib.import_module(module)
    if name not in COMMANDS:
        raise RuntimeError(f"{module} does not register the command {name!r}")
    return COMMANDS[name]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; only the chosen command's module (``argv``'s, or every one when ``argv`` is None)
    is imported and given its arguments."""
    chosen = _chosen(argv) if argv is not None else None
    parser = argparse.ArgumentParser(prog="shadowreplica", description=__doc__.split("\n\n")[0] if __doc__ else None)
    _add_global_flags(parser, default=None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_module, help) in COMMAND_MODULES.items():
        p = sub.add_parser(name, help=help, description=help)
        if argv is None or name == chosen:
            add, _run = load_command(name)
            add(p)
            _add_global_flags(p, default=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "aiobotocore", "urllib3", "s3transfer", "asyncio", "pyiceberg"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    _add, run = load_command(args.command)
    imports_done()
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except ConfigError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except ObjectMissing as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    except ShadowReplicaError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    except FormatError as e:
        print(f"error: {getattr(args, 'target', '')}: {e}".replace("error: : ", "error: "), file=sys.stderr)
        return 1


# Packages a command process never uses but would import: aiobotocore imports httpx (or its fork httpx2)
# whenever it is installed, for an HTTP backend the service never selects (it uses aiohttp), and httpx then
# imports its own command line (click, rich, pygments). Where the test extras are installed that is about
# 0.1 s of CPU in every command process; aiobotocore runs unchanged without them.
UNUSED_OPTIONAL_IMPORTS = ("httpx", "httpx2")


def skip_unused_optional_imports() -> None:
    """Make :data:`UNUSED_OPTIONAL_IMPORTS` unimportable in this process (``sys.modules[name] = None`` makes
    ``import name`` raise ImportError), unless something imported one already. Only for the console script:
    a process that embeds the service (tests use httpx's client) keeps them."""
    for name in UNUSED_OPTIONAL_IMPORTS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def imports_done() -> None:
    """The console script imports with the garbage collector off (:func:`entry`): every object created while
    importing the command's modules lives until the process ends, so collecting during start-up only walks
    them again and again (~50 ms of CPU per process, measured on `sync --help`); they are then frozen out of
    every later collection, which a long-running `serve` or `run` also saves. Where the collector is on (a
    process that embeds :func:`main`) this does nothing."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def entry() -> None:
    """The console script: :func:`main`, then exit without the interpreter's teardown. Freeing every module
    of botocore, aiohttp and pyarrow one by one takes ~0.15 s of CPU at the end of each command and keeps
    nothing safe that the command has not already closed, committed or flushed; logs and the standard
    streams are flushed here."""
    gc.disable()  # until the command's modules are imported: imports_done()
    skip_unused_optional_imports()
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be written anyway
            code = code or 1
    os._exit(code)


if __name__ == "__main__":  # `python -m app.cli`: run the importable module, whose COMMANDS the faces fill
    from app.cli import entry as _entry

    _entry()
