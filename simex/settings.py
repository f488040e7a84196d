"""Typed views of the validated pipeline config, so scripts stay thin glue.

Every default lives in config/schema.yaml and is filled in by Snakemake's ``validate``
before any rule sees the config, so these functions read keys, never guess them.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, Mapping

from simex.data.acquire import AcquisitionPlan, acquisition_per_class
from simex.data.standin import StandinSpec
from simex.data.variants import BackgroundSpec, RandomBackgroundSpec, RotationSpec, VariantSpec
from simex.losses import SSIMWindow
from simex.training import TrainConfig


def ssim_window(section: Mapping[str, Any]) -> SSIMWindow:
    """The config's ``ssim`` section."""
    return SSIMWindow(size=int(section["win_size"]), sigma=float(section["win_sigma"]))


def train_config(section: Mapping[str, Any], seed: int, checkpoint_epochs: tuple[int, ...] = ()) -> TrainConfig:
    """A validated training section (``autoencoder``, ``classifier.base``, ...)."""
    return TrainConfig(
        optimizer=section["optimizer"],
        lr=float(section["lr"]),
        epochs=int(section.get("epochs", 1)),  # unused when the section sets a budget in steps
        batch_size=int(section["batch_size"]),
        seed=seed,
        patience=int(section["patience"]),
        checkpoint_epochs=checkpoint_epochs,
        steps=None if section["steps"] is None else int(section["steps"]),
    )


def derived_seed(seed: int, *parts: object) -> int:
    """A seed per artifact, stable across runs and independent of job order."""
    return (int(seed) + zlib.crc32("/".join(map(str, parts)).encode())) % 2**31


def acquisition_plan(data: Mapping[str, Any], seed: int, dataset: str, download_dir: Path,
                     mnist_raw: Path | None, mnist_test: Path | None = None) -> AcquisitionPlan:
    """The config's ``data`` section for one dataset."""
    background = data["background"]
    standin = data["emnist_standin"]
    return AcquisitionPlan(
        dataset=dataset,
        source_chain=list(data["source_chain"]),
        download_dir=download_dir,
        timeout_s=float(data["download_timeout_s"]),
        samples_per_class=acquisition_per_class(dataset, int(data["samples_per_dataset"])),
        seed=derived_seed(seed, "acquire", dataset),
        variant=VariantSpec(
            rotation=RotationSpec(int(data["rotation"]["interpolation_order"])),
            background=BackgroundSpec(list(background["images"]), background["composite"],
                                      float(background["min_patch_std"]), int(background["patch_size"])),
            random_background=RandomBackgroundSpec(float(data["random_background"]["low"]),
                                                   float(data["random_background"]["high"])),
            composite=background["composite"],
        ),
        standin=StandinSpec(
            font_globs=list(standin["font_globs"]),
            max_rotation_deg=float(standin["max_rotation_deg"]),
            max_shear=float(standin["max_shear"]),
            elastic_alpha=float(standin["elastic_alpha"]),
            elastic_sigma=float(standin["elastic_sigma"]),
            max_stroke_width=int(standin["max_stroke_width"]),
            blur_sigma=tuple(standin["blur_sigma"]),
        ),
        mnist_raw=mnist_raw,
        mnist_test=mnist_test,
    )
