"""Building a fleet from a user's own datasets, outside the pipeline (``simex fleet build``).

Every dataset is read and converted to the fleet's input shape first (:mod:`simex.data.images`),
so that any bad input stops the build before a single autoencoder is trained. Each member
(``members`` replicas per dataset, or per class with ``per_class``, each with its own seed:
:func:`simex.config.autoencoder_seed`, replica 0's as the pipeline's) is then trained with the
pipeline's training code (:func:`simex.training.autoencoders.train_autoencoder`) into a scratch folder
beside the destination, and the fleet is exported with the pipeline's manifest and
checksums (:func:`simex.fleets.rank.export_fleet`), which assembles it in a staging folder and
renames it into place: a build that is killed or fails leaves no folder ``simex rank``
would accept.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from simex.training.autoencoders import AutoencoderCard, FleetError, save_autoencoder, train_autoencoders
from simex.data.images import (DEFAULT_SHAPE, DatasetInputError, DuplicateNameError, ImageDataset, InputShape,
                          check_samples, read_dataset)
from simex.models.losses import LOSSES, SSIMWindow
from simex.fleets.folder import export_fleet
from simex.config import autoencoder_seed, schema_default
from simex.training.loop import TrainConfig

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # a member's key is its file name


@dataclass(frozen=True)
class MemberPlan:
    key: str
    dataset: ImageDataset
    class_index: int | None
    replica: int = 0  # which of the known dataset's (class's) autoencoders

    @property
    def stem(self) -> str:
        return self.key if self.replica == 0 else f"{self.key}@{self.replica}"

    @property
    def images(self) -> np.ndarray:
        if self.class_index is None:
            return self.dataset.images
        assert self.dataset.labels is not None
        return self.dataset.images[self.dataset.labels == self.class_index]


def parse_dataset_arguments(arguments: Sequence[str]) -> list[tuple[str, str]]:
    """``NAME=PATH`` pairs; each name once, usable as a file name."""
    pairs: list[tuple[str, str]] = []
    for argument in arguments:
        name, separator, path = argument.partition("=")
        if not separator or not name or not path:
            raise DatasetInputError(f"{argument!r}: expected NAME=PATH")
        if not NAME_PATTERN.fullmatch(name):
            raise DatasetInputError(f"{argument!r}: a dataset name may hold letters, digits, '_', '.' and '-' and "
                                    f"must start with a letter or digit")
        if any(name == seen for seen, _ in pairs):
            raise DuplicateNameError(f"dataset name {name!r} is used twice; each known dataset needs its own name")
        pairs.append((name, path))
    if not pairs:
        raise DatasetInputError("no datasets given; expected NAME=PATH [NAME=PATH ...]")
    return pairs


def plan_members(datasets: Sequence[ImageDataset], per_class: bool, min_samples: int,
                 members: int = 1) -> list[MemberPlan]:
    """Every autoencoder to train: ``members`` replicas of each dataset (or class), a label's together."""
    if members < 1:
        raise DatasetInputError(f"--members must be at least 1, got {members}")
    plans = []
    for dataset in datasets:
        if per_class and not dataset.labelled:
            raise DatasetInputError(f"dataset {dataset.name}: --per-class needs labels, and {dataset.path} "
                                    f"({dataset.kind}) has none")
        check_samples(dataset, min_samples, per_class)
        if per_class:
            assert dataset.class_names is not None
            plans += [MemberPlan(f"{dataset.name}{k}", dataset, k) for k in range(len(dataset.class_names))]
        else:
            plans.append(MemberPlan(dataset.name, dataset, None))
    return [replace(plan, replica=r) for plan in plans for r in range(members)]


def build_fleet(datasets: Sequence[tuple[str, str]], out: Path | str, loss: str, config: TrainConfig, *,
                per_class: bool = False, shape: InputShape = DEFAULT_SHAPE, window: SSIMWindow | None = None,
                device: torch.device | str = "cpu", min_samples: int = 20, name: str | None = None,
                progress: bool = True, report=print, members: int | None = None) -> dict[str, Any]:
    """Train ``members`` autoencoders per dataset (or class; default: config/schema.yaml's
    ``fleets.members``) as one fused job and write the fleet to ``out/{loss}``.

    ``report`` receives the lines that say what was read and converted. Returns the manifest.
    """
    members_per_label = int(schema_default("fleets", "members") if members is None else members)
    if loss not in LOSSES:
        raise DatasetInputError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
    destination = Path(out) / loss
    with build_lock(destination):
        return _build_fleet(datasets, destination, Path(out), loss, config, per_class=per_class, shape=shape,
                            window=window, device=device, min_samples=min_samples, name=name, progress=progress,
                            report=report, members_per_label=members_per_label)


@contextlib.contextmanager
def build_lock(destination: Path) -> Iterator[None]:
    """One ``simex fleet build`` at a time per fleet folder: an advisory lock on the folder
    that will hold it (released by the kernel if the process dies; no lock file is left),
    so that a second build fails at once with a clear message instead of training and then
    racing the first to the folder."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(destination.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FleetError(f"{destination}: another simex fleet build is writing to {destination.parent} now; "
                             f"wait for it to finish or choose another --out") from None
        yield
    finally:
        os.close(descriptor)


def _build_fleet(datasets: Sequence[tuple[str, str]], destination: Path, out: Path, loss: str, config: TrainConfig, *,
                 per_class: bool, shape: InputShape, window: SSIMWindow | None, device: torch.device | str,
                 min_samples: int, name: str | None, progress: bool, report: Callable[[str], Any],
                 members_per_label: int) -> dict[str, Any]:
    if destination.exists():
        raise DatasetInputError(f"{destination} already exists; remove it or choose another --out")
    loaded = [read_dataset(dataset_name, path, shape) for dataset_name, path in datasets]
    members = plan_members(loaded, per_class, min_samples, members_per_label)
    for dataset in loaded:
        classes = f", {len(dataset.class_names)} classes" if dataset.class_names else ", unlabelled"
        report(f"{dataset.name}: {dataset.path} ({dataset.kind}, {len(dataset.images)} images{classes}); "
               f"conversion: {dataset.conversion}")
    device = torch.device(device)
    destination.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{destination.name}.build.", dir=destination.parent))
    try:
        window = window or SSIMWindow.default()
        paths = train_members_fused(members, loss, window, config, device, scratch, progress)
        manifest = export_fleet(paths, destination, name or out.name, replace=False,
                                description=f"built by simex fleet build from {', '.join(d.name for d in loaded)}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(f"fleet written: {destination} ({len(members)} members: {len(members) // members_per_label} known "
           f"× {members_per_label}, loss {loss}, input shape {shape})")
    return manifest


def member_seed(seed: int, member: MemberPlan, loss: str) -> int:
    """The pipeline's seed for this autoencoder (simex.config.autoencoder_seed): replica 0's is the
    seed of a one-member fleet, so a fleet built with --members 1 is the one built before replicas."""
    return autoencoder_seed(seed, member.dataset.name, loss, member.class_index, member.replica)


def train_members_fused(members: Sequence[MemberPlan], loss: str, window: SSIMWindow, config: TrainConfig,
                        device: torch.device, folder: Path, progress: bool) -> list[Path]:
    """Train every member at once with the fused trainer (simex.training.autoencoders.train_autoencoders: each
    member as it would train alone, its own seed), one progress bar over all members' epochs;
    returns the checkpoints."""
    epochs = [config.epochs_for(len(member.images)) for member in members]
    configs = [replace(config, seed=member_seed(config.seed, member, loss)) for member in members]
    with tqdm(total=sum(epochs), desc=f"{len(members)} autoencoders ({sum(len(m.images) for m in members)} images)",
              unit="epoch", disable=not progress, dynamic_ncols=True) as bar:
        def advance(_member: int, record: Any) -> None:
            bar.set_postfix(loss=f"{record.train_loss:.4f}", refresh=False)
            bar.update(1)

        trained = train_autoencoders([member.images for member in members], loss, window, configs, device,
                                     on_epoch=advance)
    paths = []
    for member, member_config, (model, result) in zip(members, configs, trained):
        dataset = member.dataset
        class_name = None if member.class_index is None else dataset.class_names[member.class_index]  # type: ignore[index]
        path = folder / f"{member.stem}.pt"
        save_autoencoder(path, model, AutoencoderCard.of_training(
            member_config, result, model, window, device, dataset=dataset.name, label=dataset.name,
            class_index=member.class_index, class_name=class_name, loss=loss, provenance="user",
            source=f"{dataset.kind} {dataset.path}", sha256_source=dataset.sha256, conversion=dataset.conversion,
            n_samples=int(len(member.images)), replica=member.replica,
            trained_with=f"{len(members)} autoencoders fused (elapsed_s: the joint time)" if len(members) > 1 else None))
        log.info("trained %s: final loss %.6f", member.key, result.history[-1].train_loss)
        paths.append(path)
    return paths
