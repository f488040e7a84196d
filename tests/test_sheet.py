"""The dataset sheet: its checks, and the job set the pipeline plans for a sheet with a user's datasets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from simex.data.acquire import acquire_user_dataset
from simex.base.datasets import BUILTIN, SheetError, dataset_info, read_sheet, sheet_class_names
from tests.conftest import REPO, copy_workflow, tiny_config
from tests.test_images import pattern, write_pngs

HEADER = "name\tlabel\tsource\tpath\tlabels\n"


def sheet(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "datasets.tsv"
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def test_the_default_sheet_is_the_papers_five_and_the_other_builtins() -> None:
    entries = read_sheet(REPO / "config" / "datasets.tsv")
    assert list(entries) == ["M", "E", "R", "B", "F", "BR", "RBI", "A"] and all(e.builtin for e in entries.values())
    assert sheet_class_names(entries["E"])[:3] == ("a", "b", "c")


@pytest.mark.parametrize("row, message", [
    ("M\tMNIST\tM\t\t\nM\tagain\tM\t\t", "used twice"),
    ("X\tmine\tM\t\t", "keeps its code as its name"),
    ("F\tmine\tnpz\t/x.npz\t", "a built-in dataset's code"),
    ("RBI\tmine\tnpz\t/x.npz\t", "a built-in dataset's code"),
    ("mine\tmine\tnpz\t\t", "needs a path"),
    ("mine\tmine\tpictures\t/x\t", "unknown source 'pictures'"),
    ("mine\tmine\tnpz\t/x.npz\t/y", "labels file goes with an IDX"),
    ("mine\t\tnpz\t/x.npz\t", "name, label and source are required"),
])
def test_bad_rows_are_named(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(SheetError, match=message):
        read_sheet(sheet(tmp_path, row))


def user_data(root: Path) -> tuple[Path, Path]:
    write_pngs(root / "shapes" / "square", pattern("squares", 30, 40, 1))
    write_pngs(root / "shapes" / "frame", pattern("bright", 30, 40, 2))
    np.savez(root / "stripes.npz", images=pattern("stripes", 40, 32, 3, channels=3))
    return root / "shapes", root / "stripes.npz"


def test_a_user_dataset_is_acquired_with_its_path_hash_and_classes(tmp_path: Path) -> None:
    shapes, stripes = user_data(tmp_path)
    entries = read_sheet(sheet(tmp_path, f"shapes\tmy shapes\tclass-folders\t{shapes}\t",
                               f"stripes\tmy stripes\tnpz\t{stripes}\t"))
    assert sheet_class_names(entries["shapes"]) == ("frame", "square")
    assert sheet_class_names(entries["stripes"]) == ("all",)  # no labels: one class
    images, labels, record = acquire_user_dataset(entries["shapes"])
    assert images.shape == (60, 28, 28) and images.dtype == np.uint8 and np.bincount(labels).tolist() == [30, 30]
    assert record["provenance"] == "user" and record["details"]["path"] == str(shapes)
    assert len(record["details"]["sha256"]) == 64 and "40×40 grayscale → 1×28×28" in record["details"]["conversion"]
    registry = BUILTIN.with_record(json.loads(json.dumps(record)))
    assert dataset_info("shapes", registry).class_names == ("frame", "square")
    assert "shapes" not in BUILTIN  # a value: the built-in registry is unchanged


def test_dry_run_on_a_custom_sheet_plans_every_experiment_that_makes_sense(tmp_path: Path) -> None:
    shapes, stripes = user_data(tmp_path / "data")
    workdir = tmp_path / "run"
    workdir.mkdir()
    copy_workflow(workdir)
    custom = sheet(tmp_path, "M\tMNIST\tM\t\t", "F\tFashion-MNIST\tF\t\t",
                   f"shapes\tmy shapes\tclass-folders\t{shapes}\t", f"stripes\tmy stripes\tnpz\t{stripes}\t")
    (workdir / "tiny.yaml").write_text(yaml.safe_dump({**tiny_config(), "dataset_sheet": str(custom),
                                                       "datasets": ["M", "F", "shapes", "stripes"]}))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--quiet", "rules",
                             "--configfile", "tiny.yaml"], cwd=workdir, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    counts = {line.split()[0]: int(line.split()[1]) for line in output.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["acquire_dataset"] == 4 and counts["train_dataset_autoencoders"] == 2  # 2 losses, 4 datasets each
    assert counts["train_dataset_autoencoder_replicas"] == 2  # the dataset fleets' further members, per loss
    assert counts["export_fleet"] == 6  # dataset, class-M and class-shapes fleets × 2 losses
    assert counts["delta_dataset"] == 2 and counts["fleet_rank_check"] == 1
    assert "table1" not in counts and "latency_fig6" not in counts  # shapes has 2 classes, stripes 1
    assert "skipping table1: it needs ten classes in every dataset" in output and "skipping fig6" in output


def test_a_name_not_in_the_sheet_is_refused(tmp_path: Path) -> None:
    copy_workflow(tmp_path)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**tiny_config(), "datasets": ["M", "Q"]}))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "bad.yaml"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "'Q' not in the dataset sheet" in result.stdout + result.stderr
