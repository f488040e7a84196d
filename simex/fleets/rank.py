"""Ranking an unknown dataset against a fleet of trained autoencoders (§3.1, §4).

A *fleet* is a folder of autoencoders with a manifest (simex.fleets.folder).
``Fleet.load(path).rank(images)`` evaluates every autoencoder on the images and orders
the known datasets (or classes) by Δ(X|Y), the mean δ of the fleet's loss, smallest
(most similar) first. A fleet may hold several autoencoders (replicas, own seeds) per known
dataset: its Δ is then the members' mean Δ, the table shows their spread, and the percentile
bootstrap interval and P(first) (the fraction of resamples ranking it first) resample
members as well as samples (simex.analysis.stats.bootstrap_group_means), so a gap smaller
than the autoencoders' own spread is not called certain. With one autoencoder per known
dataset this is exactly the samples-only bootstrap. simex.analysis.tables renders a
:class:`Ranking` as text, JSON or CSV. Express mode reads the samples in a seeded random
order, a step at a time, and stops once the top two known datasets' intervals no longer
overlap, or when a sample budget is spent.

Speed: the fused evaluator of :mod:`simex.inference.evaluate` runs all members in one pass per batch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from simex.config import Fleets
from simex.fleets.folder import FleetFolder, read_fleet
from simex.data.images import InputShape
from simex.inference.evaluate import FleetEvaluator, batched
from simex.models.losses import per_sample_loss
from simex.data.readers import ArraySource, SampleSource, open_samples
from simex.data.images import InputError
from simex.base.errors import below_minimum
from simex.analysis.stats import bootstrap_group_means, group_means, percentile_intervals


# --- the fleet -------------------------------------------------------------------------


@dataclass
class Fleet(FleetFolder):
    """A verified fleet folder, ranking with its autoencoders on ``device``."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    _evaluator: FleetEvaluator | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path | str, loss: str | None = None, device: torch.device | str = "cpu") -> "Fleet":
        """Load and verify a fleet folder (simex.fleets.folder.read_fleet) to rank on ``device``."""
        folder = read_fleet(path, loss)
        return cls(**{f.name: getattr(folder, f.name) for f in fields(FleetFolder)}, device=torch.device(device))

    @property
    def groups(self) -> list[list[int]]:
        """Per known label (in the order of first appearance), the indices of its members (replicas)."""
        by_label: dict[str, list[int]] = {}
        for index, member in enumerate(self.members):
            by_label.setdefault(member.label, []).append(index)
        return list(by_label.values())

    @property
    def labels(self) -> list[str]:
        """The known datasets (or classes), one per label however many replicas it holds."""
        return [self.members[group[0]].label for group in self.groups]

    @property
    def evaluator(self) -> FleetEvaluator:
        if self._evaluator is None:
            self._evaluator = FleetEvaluator(self.models, per_sample_loss(self.loss, self.window), self.device)
        return self._evaluator

    def errors(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """δ of every sample through every member, (N, K); images float in [0, 1] or uint8."""
        source = as_source(images, self.input_shape)
        return self._errors(source.take(np.arange(len(source))), batch_size)

    def _errors(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        if batch_size < 1:
            raise InputError(f"batch size must be positive, got {batch_size}")
        tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        if self.device.type == "cuda":
            tensor = tensor.pin_memory()
        return batched(self.evaluator.errors, tensor, batch_size).cpu().numpy().astype(np.float64)

    def rank(self, images: np.ndarray | str | Path | SampleSource, batch_size: int = 1024,
             settings: "RankSettings | None" = None) -> "Ranking":
        """Order the members by Δ (most similar first) for the unknown ``images``."""
        settings = settings or RankSettings.from_config()
        started = time.perf_counter()
        source = as_source(images, self.input_shape)
        n_total = len(source)
        rng = np.random.default_rng(settings.seed)
        if not settings.express:
            errors = self._errors(source.take(np.arange(n_total)), batch_size)
            stop_reason = "all samples"
        else:
            order = rng.permutation(n_total)
            limit = min(n_total, settings.budget) if settings.budget else n_total
            chunks, used, stop_reason = [], 0, "all samples"
            while used < limit:
                step = min(settings.step, limit - used)
                chunks.append(self._errors(source.take(order[used : used + step]), batch_size))
                used += step
                if (used >= settings.min_samples and used < limit
                        and settled(np.concatenate(chunks), self.groups, settings, rng)):
                    stop_reason = "settled"
                    break
            else:
                stop_reason = "budget" if limit < n_total else "all samples"
            errors = np.concatenate(chunks)
        return summarize(self, errors, n_total, stop_reason, time.perf_counter() - started, settings, rng,
                         source.conversion)


def as_source(images: np.ndarray | str | Path | SampleSource, shape: InputShape) -> SampleSource:
    if isinstance(images, (str, Path)):
        return open_samples(images, shape)
    if isinstance(images, np.ndarray):
        return ArraySource(images, "images", shape)
    if torch.is_tensor(images):
        return ArraySource(images.detach().cpu().numpy(), "images", shape)
    return images


# --- bootstrap and the ranking ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RankSettings:
    """How `simex rank` ranks: the config's ``fleets`` section (defaults in config/schema.yaml)
    with a seed, and whether to read in express mode."""

    bootstrap: int  # resamples for the confidence intervals
    confidence: float
    seed: int
    express: bool
    budget: int  # express: read at most this many samples (0: no budget)
    step: int  # express: samples read between checks
    min_samples: int  # express: never stop before this many
    check_resamples: int  # express: resamples per check

    @classmethod
    def from_config(cls, fleets: Fleets | None = None, seed: int = 0, express: bool = False) -> "RankSettings":
        """From a ``fleets`` section (default: the schema's)."""
        fleets = fleets or Fleets.default()
        return cls(bootstrap=int(fleets.bootstrap), confidence=float(fleets.confidence), seed=int(seed), express=express,
                   budget=int(fleets.express.budget), step=int(fleets.express.step),
                   min_samples=int(fleets.express.min_samples), check_resamples=int(fleets.express.check_resamples))

    def __post_init__(self) -> None:
        # each check names the `simex rank` option (and fleets.* config key) it comes from
        problems = below_minimum([("--bootstrap", self.bootstrap, 1), ("--step", self.step, 1),
                                  ("--min-samples", self.min_samples, 0), ("--budget", self.budget, 0),
                                  ("--seed", self.seed, 0), ("--check-resamples", self.check_resamples, 1)])
        if not 0.0 < self.confidence < 1.0:
            problems.append(f"--confidence must lie in (0, 1), got {self.confidence}")
        if problems:
            raise InputError("invalid ranking settings: " + "; ".join(problems))


def settled(errors: np.ndarray, groups: list[list[int]], settings: RankSettings, rng: np.random.Generator) -> bool:
    """The top two known labels' bootstrap intervals (samples and members) no longer overlap."""
    if len(groups) < 2:
        return True
    low, high = percentile_intervals(bootstrap_group_means(errors, groups, settings.check_resamples, rng),
                                     settings.confidence)
    first, second = np.argsort(group_means(errors.mean(axis=0), groups), kind="stable")[:2]
    return bool(high[first] < low[second])


@dataclass
class Ranking:
    fleet: str
    fleet_path: str
    loss: str
    # rank, label, key, dataset, class, delta (the members' mean Δ), ci_low, ci_high, p_top, then the
    # members' spread: members (autoencoders of the label), delta_sd (their Δ's SD; NaN for one),
    # delta_min, delta_max
    table: pd.DataFrame
    n_used: int
    n_total: int
    stop_reason: str  # "all samples" | "settled" | "budget"
    seconds: float
    conversion: str  # what was done to the data to fit the fleet's input shape
    bootstrap: int
    confidence: float

    @property
    def stopped_early(self) -> bool:
        return self.n_used < self.n_total

    @property
    def members(self) -> int:
        """Autoencoders per known label: the most any label holds (1: the samples' noise only)."""
        return int(self.table["members"].max())

    @property
    def top(self) -> str:
        return str(self.table["label"].iloc[0])

    @property
    def order(self) -> list[str]:
        return list(self.table["label"])

    def summary(self) -> dict[str, Any]:
        return {"fleet": self.fleet, "fleet_path": self.fleet_path, "loss": self.loss, "n_used": self.n_used,
                "n_total": self.n_total, "stopped_early": self.stopped_early, "stop_reason": self.stop_reason,
                "seconds": round(self.seconds, 4), "conversion": self.conversion,
                "bootstrap": self.bootstrap, "confidence": self.confidence,
                "resampled": "samples and members" if self.members > 1 else "samples"}


def summarize(fleet: Fleet, errors: np.ndarray, n_total: int, stop_reason: str, seconds: float,
              settings: RankSettings, rng: np.random.Generator, conversion: str) -> Ranking:
    groups = fleet.groups
    member_delta = errors.mean(axis=0)
    delta = group_means(member_delta, groups)
    means = bootstrap_group_means(errors, groups, settings.bootstrap, rng)
    low, high = percentile_intervals(means, settings.confidence)
    p_top = np.bincount(means.argmin(axis=1), minlength=len(delta)) / len(means)
    order = np.argsort(delta, kind="stable")
    first = [fleet.members[groups[g][0]] for g in order]
    spread = [member_delta[groups[g]] for g in order]
    table = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1),
        "label": [m.label for m in first],
        "key": [m.key for m in first],
        "dataset": [m.dataset for m in first],
        "class": [m.class_name for m in first],
        "delta": delta[order], "ci_low": low[order], "ci_high": high[order], "p_top": p_top[order],
        "members": [len(s) for s in spread],
        "delta_sd": [float(np.std(s, ddof=1)) if len(s) > 1 else float("nan") for s in spread],
        "delta_min": [float(s.min()) for s in spread], "delta_max": [float(s.max()) for s in spread],
    })
    if not math.isfinite(float(delta.sum())):
        raise InputError("δ is not finite for some samples; the input holds values the autoencoders cannot handle")
    return Ranking(fleet.name, str(fleet.root), fleet.loss, table, int(len(errors)), n_total, stop_reason, seconds,
                   conversion, settings.bootstrap, settings.confidence)
