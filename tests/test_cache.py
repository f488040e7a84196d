"""Snakemake's between-workflow output cache (`--cache`) for datasets and autoencoders.

Two separate workflow directories share one SNAKEMAKE_OUTPUT_CACHE: the second gets
every dataset and autoencoder from the cache without running a job, and distinct
wildcards (datasets, losses) never collide on one cache entry (the cache hashes params,
not wildcards: the rules carry their wildcards in a `cache_key` param).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import DOWNLOAD_CACHE, copy_workflow, tiny_config

pytestmark = pytest.mark.e2e

TARGETS = [
    "results/models/ae/dataset/M/mse.pt",
    "results/models/ae/dataset/M/issim.pt",
    "results/data/E/provenance.json",
    "results/models/ae/class/M/mse/0.pt",  # one job trains, and one cache entry holds, M's ten per-class AEs
]


def run_cached(workdir: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    workdir.mkdir()
    copy_workflow(workdir)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(tiny_config()))
    if DOWNLOAD_CACHE.is_dir():
        shutil.copytree(DOWNLOAD_CACHE, workdir / "results" / "downloads")
    # --configfile and --cache take lists (--cache: rule names): targets go first
    command = [sys.executable, "-m", "snakemake", *TARGETS, "--cores", "2", "--configfile", "tiny.yaml", "--cache"]
    env = dict(os.environ, SNAKEMAKE_OUTPUT_CACHE=str(cache), SIMEX_GPU_LOCK_DIR=str(workdir / "gpu-locks"))
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=1800, env=env)
    assert result.returncode == 0, result.stderr[-6000:]
    return result


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_second_workflow_takes_datasets_and_fleet_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    first, second = tmp_path / "first", tmp_path / "second"
    run_cached(first, cache)
    stored = sorted(cache.iterdir())
    # M's dataset autoencoders are trained in one fused job per loss with every dataset's (five):
    # each dataset's raw + record, train + test + provenance; 2 x 5 dataset autoencoders; M's ten per-class ones (mse)
    assert len(stored) == 5 * 2 + 5 * 3 + 2 * 5 + 10, [p.name for p in stored]

    result = run_cached(second, cache)
    assert "Building DAG" in result.stderr
    for target in TARGETS:
        assert (second / target).is_symlink() and (second / target).resolve().parent == cache.resolve()
    for label in range(10):  # the fused job's every output came back from its one cache entry
        assert (second / f"results/models/ae/class/M/mse/{label}.pt").is_symlink(), label
    for log in ("logs/models/ae/dataset/mse.log", "logs/data/M/acquire.log"):  # no job ran:
        assert not (second / log).exists() or not (second / log).read_text(), log  # at most an empty log

    # distinct wildcards, distinct entries: the cache key carries dataset and loss
    models = second / "results/models/ae/dataset/M"
    assert digest(models / "mse.pt") != digest(models / "issim.pt")
    data = second / "results/data"
    assert digest(data / "M/raw.npz") != digest(data / "E/raw.npz")
    assert yaml.safe_load((data / "E/provenance.json").read_text())["label"].startswith("E")
