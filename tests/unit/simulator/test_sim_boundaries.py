"""The simulator is an honest test bed: it never imports edge-agent or cloud code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = ("walkout_edge", "functions", "walkout.attribution")
ALLOWED_WALKOUT = {
    "walkout",
    "walkout.store",
    "walkout.catalog",
    "walkout.definition",
    "walkout._base",
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sources() -> list[Path]:
    files = [*sorted((ROOT / "simulator").rglob("*.py")), ROOT / "walkout_cli" / "sim.py"]
    assert len(files) > 5
    return files


def test_no_simulator_module_imports_edge_or_cloud_code() -> None:
    # Given every simulator source file / Then none imports the edge agent or the cloud side
    for path in _sources():
        for name in _imports(path):
            for banned in FORBIDDEN:
                assert name != banned and not name.startswith(banned + "."), (
                    f"{path.name} imports {name}"
                )
            if name.startswith("walkout.") and name.split(".")[1] not in {
                "store",
                "catalog",
                "definition",
                "_base",
            }:
                raise AssertionError(
                    f"{path.name} imports {name}: only the store contract is allowed"
                )


def test_importing_the_simulator_loads_no_edge_or_cloud_module() -> None:
    # Given a fresh interpreter / When every simulator module is imported
    code = (
        "import sys, pkgutil, importlib, simulator\n"
        "for m in pkgutil.iter_modules(simulator.__path__):\n"
        "    importlib.import_module('simulator.' + m.name)\n"
        "import walkout_cli.sim\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN[:2]!r} "
        "or m.startswith('walkout.attribution')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    # Then no edge-agent or cloud module is loaded
    assert out.stdout.strip() == ""
