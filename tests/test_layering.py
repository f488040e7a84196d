"""The package's layering, as docs/architecture.md documents it, read from the code's imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "simex"
DOC = REPO / "docs" / "architecture.md"


def documented_layers() -> list[tuple[str, list[str]]]:
    """The rows of the "Layers of the package" table, in order: (layer, its modules)."""
    text = DOC.read_text()
    section = text.split("## Layers of the package", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| layer ")]
    layers = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        layers.append((cells[0], re.findall(r"`([\w.]+)`", cells[1])))
    return layers


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[1:-1] if parts[-1] == "__init__" else parts[1:]) or "simex"


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The simex modules ``path`` imports (anywhere in it, except under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text())
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
               for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name == "simex" or name.startswith("simex."):
                module = name.removeprefix("simex.") if name != "simex" else "simex"
                while module not in known and "." in module:  # simex.data.acquire.load_split -> data.acquire
                    module = module.rsplit(".", 1)[0]
                if module in known:
                    found.add(module)
    return found


def test_every_module_is_in_exactly_one_documented_layer():
    layers = documented_layers()
    assert [name for name, _ in layers][:2] == ["foundations", "config"]
    listed = [module for _, modules in layers for module in modules]
    actual = {module_name(path) for path in PACKAGE.rglob("*.py")}
    assert sorted(set(listed)) == sorted(listed), "a module is listed twice"
    assert set(listed) == actual, (f"not in docs/architecture.md's layers: {sorted(actual - set(listed))}; "
                                   f"listed but gone: {sorted(set(listed) - actual)}")


def test_no_module_imports_from_a_later_layer():
    layers = documented_layers()
    rank = {module: index for index, (_, modules) in enumerate(layers) for module in modules}
    back_arrows = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for target in imported_modules(path, set(rank)):
            if target != "simex" and rank[target] > rank[module]:
                back_arrows.append(f"{module} ({layers[rank[module]][0]}) imports {target} ({layers[rank[target]][0]})")
    assert not back_arrows, "imports against docs/architecture.md's layers:\n" + "\n".join(back_arrows)


def test_the_check_finds_a_back_arrow(tmp_path):
    """The reader sees lazy imports and skips TYPE_CHECKING ones (so the test above can fail)."""
    source = tmp_path / "example.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from simex.rank import Ranking\n"
                      "def f():\n    from simex.data.acquire import load_split\n    import simex.tables\n")
    assert imported_modules(source, {"rank", "data.acquire", "data", "tables"}) == {"data.acquire", "tables"}


@pytest.mark.parametrize("module", ["config", "datasets"])
def test_the_config_layer_imports_no_torch(module):
    """config (and what it builds on) stays torch-free: rules import it while Snakemake parses them."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "torch" not in imported
