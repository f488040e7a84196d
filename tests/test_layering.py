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
    """The rows of the "Layers of the package" table, in order: (layer, the paths it holds)."""
    text = DOC.read_text()
    section = text.split("## Layers of the package", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| layer ")]
    layers = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        layers.append((cells[0], re.findall(r"`(simex/[\w/.]*)`", cells[1])))
    return layers


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[1:-1] if parts[-1] == "__init__" else parts[1:]) or "simex"


def layer_of(path: Path, layers: list[tuple[str, list[str]]]) -> list[int]:
    """The indices of the layers whose folder or file holds ``path`` (exactly one when the tree is right)."""
    relative = path.relative_to(REPO).as_posix()
    return [index for index, (_, places) in enumerate(layers) for place in places
            if relative == place or (place.endswith("/") and relative.startswith(place))]


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


def modules_by_layer() -> tuple[list[tuple[str, list[str]]], dict[str, int]]:
    layers = documented_layers()
    return layers, {module_name(path): layer_of(path, layers)[0] for path in PACKAGE.rglob("*.py")}


def test_every_module_is_in_exactly_one_documented_layer():
    layers = documented_layers()
    assert [name for name, _ in layers][:2] == ["foundations", "config"]
    assert [name for name, _ in layers][-2:] == ["experiments", "entry points"]
    homeless = [str(path.relative_to(REPO)) for path in PACKAGE.rglob("*.py") if len(layer_of(path, layers)) != 1]
    assert not homeless, f"in no layer of docs/architecture.md, or in two: {homeless}"
    missing = [place for _, places in layers for place in places if not (REPO / place).exists()]
    assert not missing, f"docs/architecture.md lists what the tree lacks: {missing}"
    for folder in {path.parent for path in PACKAGE.rglob("*.py")} - {PACKAGE}:  # a layer is a folder of the tree
        assert len({tuple(layer_of(path, layers)) for path in folder.glob("*.py")}) == 1, folder


def test_no_module_imports_from_a_later_layer():
    layers, rank = modules_by_layer()
    back_arrows = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for target in imported_modules(path, set(rank)):
            if target != "simex" and rank[target] > rank[module]:
                back_arrows.append(f"{module} ({layers[rank[module]][0]}) imports {target} ({layers[rank[target]][0]})")
    assert not back_arrows, "imports against docs/architecture.md's layers:\n" + "\n".join(back_arrows)


def test_the_library_imports_no_experiment():
    """The method and the product (every layer above experiments/) stand without the paper's experiments."""
    layers, rank = modules_by_layer()
    experiments = next(index for index, (name, _) in enumerate(layers) if name == "experiments")
    offenders = [f"{module_name(path)} imports {target}" for path in sorted(PACKAGE.rglob("*.py"))
                 if rank[module_name(path)] < experiments or module_name(path) in {"simex", "cli", "jobs", "devices"}
                 for target in imported_modules(path, set(rank)) if target.startswith("experiments")]
    assert not offenders, "the library imports an experiment:\n" + "\n".join(offenders)


def test_the_check_finds_a_back_arrow(tmp_path):
    """The reader sees lazy imports and skips TYPE_CHECKING ones (so the test above can fail)."""
    source = tmp_path / "example.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from simex.fleets.rank import Ranking\n"
                      "def f():\n    from simex.data.acquire import load_split\n    import simex.analysis.tables\n")
    assert imported_modules(source, {"fleets.rank", "data.acquire", "data", "analysis.tables"}) == {"data.acquire", "analysis.tables"}


@pytest.mark.parametrize("module", ["config", "base/datasets", "base/errors"])
def test_the_config_layer_imports_no_torch(module):
    """config (and what it builds on) stays torch-free: rules import it while Snakemake parses them."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "torch" not in imported
