"""What a GPU machine with torch, no network and a 64 MiB carry limit needs to run scripts/gpu_bench.sh.

    .venv/bin/python scripts/device_carry.py [--kinds KINDS.md] [--python 3.12] [--dest .whl]
        [--data results/data] [--data-dest .devdata]

**Wheels.** Walks the dependency closure of snakemake and pytorch-msssim as installed in this
environment (the same versions), less LEFT_OUT, leaves out every package the GPU machine's image already
holds (read from the device tool's KINDS.md: its "Packages:" list for ``--kind``; carrying a
second numpy or torch beside the image's would break it), and puts a wheel of each of the
others for ``--python`` on x86-64 Linux into ``--dest``: PyPI's binary wheel where there is
one, else a wheel built here from the sdist (pure-Python packages only). The folder is
git-ignored; ``scripts/gpu_bench.sh`` installs it on the GPU machine before anything else.

**Prepared data** of the default run (``results/data`` after a run), for
``perf/bench_pipeline.py``, which runs every job after data preparation: each
dataset's splits (autoencoder and classifier splits) and records as they are, M's raw
archive re-saved compressed (the augmentation test set reads it), and every other raw
archive as an empty placeholder with the original's modification time (no job after the
preparation reads them, and the pipeline runs with ``--rerun-triggers mtime``, so the
preparation does not rerun). About 21 MiB.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

TOPS = ("snakemake", "pytorch-msssim")
# Too large for the carry limit and not needed there: POT (31 MiB) serves only the benchmark's
# OTDD; without PuLP (16 MiB) Snakemake says so and schedules greedily instead of by ILP.
LEFT_OUT = {"pot", "pulp"}
# What acquire_dataset, prepare_dataset and prepare_classifier_split write: the data preparation
PREPARED = ("acquired.json", "raw.npz", "provenance.json", "train.npz", "test.npz", "classifier_train.npz",
            "classifier_test.npz")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")


def closure(tops: tuple[str, ...]) -> dict[str, str]:
    """name -> installed version of every distribution the tops need (no extras), themselves included."""
    found: dict[str, str] = {}

    def walk(name: str) -> None:
        key = canonicalize_name(name)
        if key in found:
            return
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            return
        found[key] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                walk(requirement.name)

    for top in tops:
        walk(top)
    return found


def image_packages(kinds: Path, kind: str) -> set[str]:
    lines = [line for line in kinds.read_text().splitlines() if line.startswith(f"{kind}: their image")]
    if not lines or "Packages:" not in lines[0]:
        sys.exit(f"device_wheels: no package list for {kind!r} in {kinds}")
    return {canonicalize_name(name.strip().rstrip(".")) for name in lines[0].split("Packages:", 1)[1].split(",")}


def prepared_data(source: Path, dest: Path, keep_raw: tuple[str, ...] = ("M",)) -> None:
    """Copy the prepared datasets under ``source`` to ``dest`` as the module docstring says."""
    import numpy as np

    if dest.exists():
        shutil.rmtree(dest)
    for folder in sorted(path for path in source.iterdir() if path.is_dir()):
        target = dest / folder.name
        target.mkdir(parents=True)
        for path in sorted(folder.iterdir()):
            copy = target / path.name
            if path.name not in PREPARED:  # a later job's output: that job runs there
                continue
            if path.name != "raw.npz":
                shutil.copy2(path, copy)
                continue
            if folder.name in keep_raw:
                with np.load(path) as archive:
                    np.savez_compressed(copy, **{key: archive[key] for key in archive.files})
            else:
                copy.write_bytes(b"")
            stat = path.stat()
            os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    size = sum(path.stat().st_size for path in dest.rglob("*") if path.is_file())
    print(f"prepared data of {', '.join(sorted(p.name for p in dest.iterdir()))}: {size / 2**20:.1f} MiB in {dest}/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", type=Path, default=Path("/work/.library/device/KINDS.md"))
    parser.add_argument("--kind", default="nvidia-h200")
    parser.add_argument("--python", default="3.12")
    parser.add_argument("--dest", type=Path, default=Path(".whl"))
    parser.add_argument("--data", type=Path, default=Path("results/data"), help="the default run's prepared data")
    parser.add_argument("--data-dest", type=Path, default=Path(".devdata"))
    parser.add_argument("--datasets", nargs="+", default=["M", "E", "R", "B", "F"], help="the default run's")
    args = parser.parse_args()
    if args.data.is_dir():
        staged = args.data_dest.with_name(args.data_dest.name + ".selected")
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir()
        for name in args.datasets:
            (staged / name).symlink_to((args.data / name).resolve())
        prepared_data(staged, args.data_dest)
        shutil.rmtree(staged)
    else:
        print(f"no prepared data at {args.data}: run the default pipeline first for perf/bench_pipeline.py")
    there = image_packages(args.kinds, args.kind)
    wanted = {name: version for name, version in closure(TOPS).items() if name not in there | LEFT_OUT}
    args.dest.mkdir(exist_ok=True)
    platforms = [option for platform in PLATFORMS for option in ("--platform", platform)]
    for name, version in sorted(wanted.items()):
        binary = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                  "--python-version", args.python, "--implementation", "cp", *platforms, "-d", str(args.dest),
                  f"{name}=={version}"]
        if subprocess.run(binary, capture_output=True).returncode == 0:
            print(f"{name}=={version}: wheel from PyPI")
            continue
        built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(args.dest),
                                f"{name}=={version}"], capture_output=True, text=True)
        if built.returncode != 0:
            sys.exit(f"device_wheels: no wheel for {name}=={version}: {built.stderr.strip()[-500:]}")
        print(f"{name}=={version}: built here from the sdist")
    impure = [path.name for path in args.dest.glob("*.whl") if re.search(r"-cp3\d+-", path.name)
              and f"cp{args.python.replace('.', '')}" not in path.name and "abi3" not in path.name]
    if impure:
        sys.exit(f"device_wheels: wheels for another Python: {impure}")
    size = sum(path.stat().st_size for path in args.dest.glob("*.whl"))
    print(f"{len(wanted)} packages, {size / 2**20:.1f} MiB in {args.dest}/")


if __name__ == "__main__":
    main()
