"""The command line as a user types it: every command listed, global options after the subcommand, and a
command imports only what it needs (a `sync` never loads the HTTP or SQL faces)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import COMMAND_MODULES, main
from tests.process_support import CLI

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not

REPO = Path(__file__).resolve().parent.parent
SHADOWREPLICA = CLI


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SHADOWREPLICA), *args], capture_output=True, text=True, cwd=REPO, timeout=60)


def test_help_lists_every_command() -> None:
    done = cli("--help")
    assert done.returncode == 0
    for name in ("sync", "verify", "status", "serve", "groups", "http", "run", "export", "sql", "seed", "inspect"):
        assert name in COMMAND_MODULES and f"    {name} " in done.stdout, name


def test_every_command_builds_its_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    """Each command's ``--help`` (in this process: the console script's lazy imports per command are
    test_a_command_imports_only_its_face's, and starting eleven interpreters here cost ~11 s of CPU)."""
    for name in COMMAND_MODULES:
        with pytest.raises(SystemExit) as exited:
            main([name, "--help"])
        out = capsys.readouterr().out
        assert exited.value.code == 0, name
        assert f"usage: shadowreplica {name}" in out and "--config" in out and "--log-level" in out, name


def test_global_options_after_the_subcommand(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    for argv in (["--config", str(missing), "status", "--dest", "s3://b"],
                 ["status", "--config", str(missing), "--dest", "s3://b"],
                 ["serve", "--config", str(missing), "--bucket", "s3://b"]):
        done = cli(*argv)
        assert done.returncode == 2, (argv, done.stderr)
        assert f"config file not found: {missing}" in done.stderr, (argv, done.stderr)
    bad = tmp_path / "bad.toml"
    bad.write_text("[source\n")
    done = cli("verify", "--dest", "s3://b", "--log-level", "ERROR", "--config", str(bad))
    assert done.returncode == 2 and "is not valid TOML" in done.stderr, done.stderr


def test_a_command_imports_only_its_face() -> None:
    probe = ("import json, sys; from app.cli import build_parser; build_parser(sys.argv[1:]).parse_args(sys.argv[1:]);"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'duckdb', 'pyiceberg',"
             " 'uvicorn', 'app'))))")
    def loaded(*argv: str) -> set[str]:
        done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, cwd=REPO,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return set(json.loads(done.stdout))

    sync = loaded("sync", "--source", "s3://a", "--dest", "s3://b")
    assert "app.replicator.loop" in sync
    assert not {m for m in sync if m.startswith(("fastapi", "duckdb", "pyiceberg", "uvicorn", "app.http", "app.lake",
                                                   "app.kafka"))}, sync
    serve = loaded("serve", "--bucket", "s3://b")
    assert "app.kafka.cli" in serve and not {m for m in serve if m.startswith(("app.lake", "duckdb"))}, serve


def test_the_console_script_skips_the_http_backend_it_never_uses() -> None:
    """aiobotocore imports httpx (and httpx its own CLI: click, rich, pygments) whenever it is installed, as
    it is here with the test extras; the console script never selects that backend (~0.13 s of CPU each)."""
    done = subprocess.run([sys.executable, "-X", "importtime", str(SHADOWREPLICA), "verify", "--help"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert {"aiobotocore.endpoint", "aiohttp"} <= imported  # the S3 client was loaded ...
    # ... alone: the two attempts are refused at once (a line each, no submodule), httpx's CLI never loads
    assert not {m for m in imported if m.startswith(("httpx.", "httpx2.")) or m.split(".")[0] in ("rich", "click")}
    assert done.stdout.startswith("usage: shadowreplica verify")


def test_the_console_script_imports_with_the_collector_off_then_freezes_what_it_imported() -> None:
    """``entry`` turns the collector off for start-up; once the command's modules are loaded they are frozen
    out of later collections and the collector is on again. In an embedding process (collector on), nothing."""
    import gc

    from app.cli import imports_done

    frozen = gc.get_freeze_count()
    imports_done()
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()
    try:
        imports_done()
        assert gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.enable()
        gc.unfreeze()
    # the console script's own path: off while importing, on and frozen when the command runs
    probe = ("import gc, sys; sys.argv = ['shadowreplica', 'inspect', '/nonexistent/segment.log'];"
             "import app.cli; done = app.cli.imports_done;"
             "app.cli.imports_done = lambda: (print('importing', gc.isenabled(), file=sys.stderr), done(),"
             " print('running', gc.isenabled(), gc.get_freeze_count() > 1000, file=sys.stderr));"
             "app.cli.entry()")
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert ran.returncode == 2 and ran.stderr.startswith("importing False\nrunning True True\nerror: "), ran.stderr
