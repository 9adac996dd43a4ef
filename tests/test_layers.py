"""The layer rules of ARCHITECTURE.md, read from every module's imports (function-level imports included):
the codec imports nothing of the service and no I/O framework; the faces never import each other, and no
module imports a command module (``cli.py``) but the command table. A face's own command module may compose
another face's library (``http --warehouse`` serves the lake's ``GET /sql``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FACES = ("app.replicator", "app.kafka", "app.http", "app.lake")


def imports_of(path: Path) -> set[str]:
    """Every module name ``path`` imports, at any depth of its code (relative imports resolved)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
    return names


def modules(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("segment_format"), ids=lambda p: p.name)
def test_the_codec_imports_nothing_of_the_service_and_no_io(path: Path) -> None:
    bad = {n for n in imports_of(path)
           if n.split(".")[0] in {"app", "localstack", "asyncio", "aiobotocore", "botocore", "boto3", "socket"}}
    assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


@pytest.mark.parametrize("face", FACES)
def test_faces_never_import_each_other(face: str) -> None:
    folder = REPO / Path(*face.split("."))
    for path in sorted(folder.rglob("*.py")):
        if path.name == "cli.py":
            continue  # the face's command: composition (checked below for command modules)
        others = {n for n in imports_of(path) for f in FACES if f != face and (n == f or n.startswith(f + "."))}
        assert not others, f"{path.relative_to(REPO)} imports {sorted(others)}"


@pytest.mark.parametrize("path", modules("app"), ids=lambda p: str(p.relative_to(REPO / "app")))
def test_no_module_imports_a_command_module(path: Path) -> None:
    """Commands are registered by the table in app/cli.py (``COMMAND_MODULES``, loaded by name), so no module
    needs to import another's command module; ``app.cli`` itself (flag helpers) is the table, not a command.
    The one exception is ``app/run.py``, the top floor: ``run`` is every face's command at once and takes
    their flags and face builders from them."""
    if path == REPO / "app" / "run.py":
        return
    bad = {n for n in imports_of(path) if n.endswith(".cli") and n != "app.cli"
           and n != ".".join(path.relative_to(REPO).with_suffix("").parts)}
    assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"
