"""Typed views of the validated pipeline config, so scripts stay thin glue."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from simex.data.acquire import AcquisitionPlan, acquisition_per_class
from simex.data.standin import StandinSpec
from simex.data.variants import BackgroundSpec
from simex.losses import SSIMWindow
from simex.training import TrainConfig


def ssim_window(config: Mapping[str, Any]) -> SSIMWindow:
    section = config.get("ssim", {})
    return SSIMWindow(size=section.get("win_size", 11), sigma=section.get("win_sigma", 1.5))


def train_config(section: Mapping[str, Any], seed: int, checkpoint_epochs: tuple[int, ...] = ()) -> TrainConfig:
    return TrainConfig(
        optimizer=section["optimizer"],
        lr=float(section["lr"]),
        epochs=int(section["epochs"]),
        batch_size=int(section["batch_size"]),
        seed=seed,
        patience=int(section.get("patience", 0)),
        checkpoint_epochs=checkpoint_epochs,
        steps=None if section.get("steps") is None else int(section["steps"]),
    )


def derived_seed(config: Mapping[str, Any], *parts: object) -> int:
    """A seed per artifact, stable across runs and independent of job order."""
    import zlib

    return (int(config["seed"]) + zlib.crc32("/".join(map(str, parts)).encode())) % 2**31


def acquisition_plan(config: Mapping[str, Any], dataset: str, download_dir: Path, mnist_raw: Path | None,
                     mnist_test: Path | None = None) -> AcquisitionPlan:
    data = config["data"]
    background = data["background"]
    standin = data["emnist_standin"]
    return AcquisitionPlan(
        dataset=dataset,
        source_chain=list(data["source_chain"]),
        download_dir=download_dir,
        timeout_s=float(data.get("download_timeout_s", 20)),
        samples_per_class=acquisition_per_class(dataset, int(data["samples_per_dataset"])),
        seed=derived_seed(config, "acquire", dataset),
        background=BackgroundSpec(list(background["images"]), background["composite"], float(background["min_patch_std"])),
        standin=StandinSpec(
            font_globs=list(standin["font_globs"]),
            max_rotation_deg=float(standin.get("max_rotation_deg", 12)),
            max_shear=float(standin.get("max_shear", 0.3)),
            elastic_alpha=float(standin.get("elastic_alpha", 3.0)),
            elastic_sigma=float(standin.get("elastic_sigma", 4.0)),
            max_stroke_width=int(standin.get("max_stroke_width", 3)),
            blur_sigma=tuple(standin.get("blur_sigma", (0.4, 1.2))),
        ),
        mnist_raw=mnist_raw,
        mnist_test=mnist_test,
    )
