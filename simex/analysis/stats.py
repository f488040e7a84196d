"""Statistics of the project: rank agreement between similarity orderings (the one Spearman
routine) and the paired bootstrap behind `simex rank`'s confidence intervals: over samples
(:func:`bootstrap_means`) and, for a fleet of several autoencoders per known dataset, over
samples and members (:func:`bootstrap_group_means`)."""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

Direction = Literal["ascending", "descending"]


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's ρ between two score vectors over the same items (scipy.stats.spearmanr)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"need two equal-length score vectors of 2+ items, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("scores must be finite")
    return float(spearmanr(a, b).statistic)


def similarity_scores(values: Sequence[float], more_similar: Direction) -> np.ndarray:
    """Scores where larger = more similar: losses ('ascending' = smaller first) are negated."""
    values = np.asarray(values, dtype=float)
    return -values if more_similar == "ascending" else values


def ordering_rho(a: Sequence[float], a_order: Direction, b: Sequence[float], b_order: Direction) -> float:
    """ρ between the orderings of the same items by two methods, each with its own sense.

    E.g. Δ(X|Y) ordered ascending (smaller loss = more similar) against transferred
    accuracy ordered descending (higher = more similar).
    """
    return spearman(similarity_scores(a, a_order), similarity_scores(b, b_order))


def rowwise_rho(a: pd.DataFrame, a_order: Direction, b: pd.DataFrame, b_order: Direction,
                exclude_diagonal: bool = False) -> pd.Series:
    """ρ per row between two matrices over the same rows and columns (in the same order).

    With ``exclude_diagonal`` each row's own column is left out (ordering the *other*
    classes, as Table 2 does).
    """
    if a.shape != b.shape:
        raise ValueError(f"matrices differ in shape: {a.shape} vs {b.shape}")
    result = {}
    for i, row in enumerate(a.index):
        keep = [j for j in range(a.shape[1]) if not (exclude_diagonal and j == i)]
        result[row] = ordering_rho(a.iloc[i, keep].to_numpy(), a_order, b.iloc[i, keep].to_numpy(), b_order)
    return pd.Series(result, name="rho")


def bootstrap_means(errors: np.ndarray, resamples: int, rng: np.random.Generator, chunk: int = 64) -> np.ndarray:
    """Means of ``errors`` (N, K) over ``resamples`` paired resamples of the samples: (R, K)."""
    n = len(errors)
    means = []
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        index = rng.integers(0, n, size=(count, n))
        means.append(errors[index].mean(axis=1))
    return np.concatenate(means)


def group_means(member_means: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """Per group, the mean over its members' columns of ``member_means`` (..., M): (..., G)."""
    return np.stack([member_means[..., list(group)].mean(axis=-1) for group in groups], axis=-1)


def bootstrap_group_means(errors: np.ndarray, groups: Sequence[Sequence[int]], resamples: int,
                          rng: np.random.Generator, chunk: int = 64) -> np.ndarray:
    """A two-level bootstrap of the groups' mean Δ: (R, G).

    ``errors`` (N, M): δ of each sample through each member; ``groups``: the member columns of
    each group (a known dataset's replicas). Each resample draws the N samples with replacement,
    paired across members (:func:`bootstrap_means`), then, per group, as many of its members as
    it holds, with replacement; the group's value is the mean of the drawn members' sample means.
    So a group's interval holds both the samples' noise and its members' spread. A group of one
    member draws nothing at the second level: with one member per group (in column order) the
    result and ``rng``'s state are exactly :func:`bootstrap_means`'.
    """
    member_means = bootstrap_means(errors, resamples, rng, chunk)
    result = np.empty((resamples, len(groups)))
    for g, group in enumerate(groups):
        columns = member_means[:, list(group)]
        if len(group) == 1:
            result[:, g] = columns[:, 0]
            continue
        draws = rng.integers(0, len(group), size=(resamples, len(group)))
        result[:, g] = np.take_along_axis(columns, draws, axis=1).mean(axis=1)
    return result


def percentile_intervals(means: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the central ``confidence`` interval of the bootstrap ``means`` (R, K)."""
    tail = (1.0 - confidence) / 2.0
    return np.quantile(means, tail, axis=0), np.quantile(means, 1.0 - tail, axis=0)
