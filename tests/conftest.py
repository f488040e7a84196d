"""Shared fixtures: a tiny end-to-end run of the whole Snakemake DAG, made once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ("Snakefile", "rules", "workflow_scripts", "config", "report", "environment.yml")
DOWNLOAD_CACHE = REPO / "results" / "downloads"


# One intra-op thread: tests train small models, and two cores shared with another
# process thrash when torch spins up a thread per core.
torch.set_num_threads(1)


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def tiny_config() -> dict[str, Any]:
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return deep_merge(base, yaml.safe_load((REPO / "tests" / "tiny_overrides.yaml").read_text()))


def copy_workflow(destination: Path) -> None:
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, destination / part)
        else:
            shutil.copy2(source, destination / part)


def snakemake(workdir: Path, *args: str, timeout: float = 1800, configfile: str = "tiny.yaml") -> subprocess.CompletedProcess[str]:
    # Targets first: --configfile takes a list and would swallow them.
    command = [sys.executable, "-m", "snakemake", *args, "--cores", "2", "--configfile", configfile]
    env = dict(os.environ, SIMEX_GPU_LOCK_DIR=str(workdir / "gpu-locks"))
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`pytest -m "not e2e"` must never build the tiny pipeline: its users carry the mark."""
    unmarked = [item.nodeid for item in items
                if "tiny_run" in getattr(item, "fixturenames", ()) and item.get_closest_marker("e2e") is None]
    if unmarked:
        raise pytest.UsageError("tests using tiny_run must be marked @pytest.mark.e2e: " + ", ".join(unmarked))


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workflow alone (no results) in a folder of its own, one per test module."""
    workdir = tmp_path_factory.mktemp("workflow")
    copy_workflow(workdir)
    return workdir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of `rule all` on the tiny config; tests read its artifacts."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    copy_workflow(workdir)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(tiny_config()))
    if DOWNLOAD_CACHE.is_dir():  # reuse the pip-downloaded MNIST wheel
        shutil.copytree(DOWNLOAD_CACHE, workdir / "results" / "downloads")
    result = snakemake(workdir)
    if result.returncode != 0:
        pytest.fail(f"tiny pipeline run failed:\n{result.stderr[-6000:]}")
    return workdir


@pytest.fixture
def float64():
    """torch's default dtype float64 for the test: equality checks of fused and plain training
    (tests/test_fused_training.py says why float32 cannot be compared over many steps)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
