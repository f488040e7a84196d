"""Statistics of the project: rank agreement between similarity orderings (the one Spearman
routine) and the paired bootstrap behind `simex rank`'s confidence intervals."""

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


def percentile_intervals(means: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the central ``confidence`` interval of the bootstrap ``means`` (R, K)."""
    tail = (1.0 - confidence) / 2.0
    return np.quantile(means, tail, axis=0), np.quantile(means, 1.0 - tail, axis=0)
