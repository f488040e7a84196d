"""The source-selection benchmark v2's scorers, metrics, intervals and decisions (docs/benchmark/PROTOCOL-v2.md).

Everything here is a function of the committed score files of one scale (``runs``, ``scores``,
``deltas``, ``norms``, ``timings``: :func:`scale_tables`), so anyone can re-score without
rerunning. The pieces, each as the protocol registers it:

- **SimEx's scorers** (:func:`simex_single`, :func:`simex_ensemble`, :func:`simex_paper_norm`,
  :func:`simex_self_calibrated`, :func:`simex_hub_corrected`): small pure functions of the
  Δ arrays of K members (member-first, ``(K, Y)``), higher = better, averaged over a member
  multiset given as weights ``(..., Y, K)`` (all K for the point estimate, a drawn multiset
  M_d(Y) in resamples: :func:`member_draws`).
- **Resolution** (:func:`resolution`): best − second best source, paired by seed, > 2 SE.
- **Metrics** per (estimator, cell, target, seed) against the seed-mean ḡ (:func:`cell_metrics`):
  weighted τ, top-1 hit, absolute regret (accuracy points; the primary regret), relative
  regret (only where the best gain is resolved above 0), pick gain, Spearman ρ; where no
  source beats scratch both regrets are NaN (excluded, counted). Chance levels per metric
  (:func:`chance_metrics`), the noise ceiling (each seed's own gains as scores) and split-half
  agreement (:func:`split_half`).
- **Intervals** (:func:`bootstrap`): 95 % percentile bootstrap resampling targets, seeds within
  targets and, for SimEx, one of D member draws; paired differences share (d, targets, seeds).
- **Decisions** (:func:`decisions`): R, H1 (Bonferroni over the 10 scorers) and H2 in the
  headline cell of the headline scale; elsewhere "secondary, not decided".
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import weightedtau

# scipy's weightedtau without its NaN-policy wrapper (2.5x its per-call time on 7 sources; the
# inputs here are finite, checked before): the same statistic
_weightedtau = getattr(weightedtau, "__wrapped__", weightedtau)

from simex.analysis.tables import markdown_table
from simex.base.errors import SimexError
from simex.config import derived_seed
from simex.experiments.benchmark import LOSS_LABELS, SCRATCH, V2_TAG
from simex.experiments.benchmark_metrics import EXACT_LIMIT, gains_from_runs

VARIANTS = ("single", "ensemble", "paper-norm", "self-calibrated", "hub-corrected")
LOSSES = ("mse", "issim")
# H1's candidates, in the protocol's order (ties of the highest mean τw go to the first)
SCORERS = tuple(f"SimEx-{LOSS_LABELS[loss]} {variant}" for loss in LOSSES for variant in VARIANTS)
METRICS = ("tau", "top1", "top1_resolved", "regret_abs", "regret_rel", "pick_gain", "rho")
METRIC_NAMES = {"tau": "weighted τ", "top1": "top-1 hit", "top1_resolved": "top-1 hit (resolved targets)",
                "regret_abs": "absolute regret (points)", "regret_rel": "relative regret", "pick_gain": "pick gain (points)",
                "rho": "Spearman ρ"}
DIFFERENCE_METRICS = METRICS  # "for every SimEx scorer, metric, cell and scale"
RANDOM = "random"
CEILING = "noise ceiling"
SPLIT_HALF = "split-half"
PROTOCOL_NAMES = {"probe": "linear probe", "finetune": "full fine-tune"}
KINDS = {**{name: "SimEx (label-free)" for name in SCORERS},
         "sample-MSE": "label-free", "embeddings": "label-free", "Fréchet": "label-free",
         "LogME": "label-using", "LogME (tol 1e-10)": "label-using", "LEEP": "label-using", "NCE": "label-using",
         "H-score": "label-using", "H-score (shrinkage)": "label-using", "k-NN": "label-using", "OTDD": "label-using",
         "static": "trivial", RANDOM: "trivial", CEILING: "reference", SPLIT_HALF: "reference"}
OWN_KIND = "own (not registered)"


class V2Error(SimexError, ValueError):
    """The v2 benchmark's scores, Δ or gains do not fit together."""


def scorer_name(loss: str, variant: str) -> str:
    return f"SimEx-{LOSS_LABELS[loss]} {variant}"


# --- SimEx's registered scorers on Δ arrays ------------------------------------------------------


def _weights(k: int, y: int, weights: np.ndarray | None) -> np.ndarray:
    """Member weights (..., Y, K), each row summing to 1; None: every member equally."""
    if weights is None:
        return np.full((y, k), 1.0 / k)
    weights = np.asarray(weights, dtype=float)
    if weights.shape[-2:] != (y, k):
        raise V2Error(f"member weights must end in (sources, members) = ({y}, {k}), got {weights.shape}")
    return weights


def member_mean(delta: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Δ̄(X|Y) per source: Δ (K, Y) averaged over members with ``weights`` (..., Y, K) -> (..., Y).
    A Δ of (K, Y, Z) (each Y's members on other sets Z) gives (..., Y, Z)."""
    delta = np.asarray(delta, dtype=float)
    w = _weights(delta.shape[0], delta.shape[1], weights)
    return np.einsum("...yk,ky->...y", w, delta) if delta.ndim == 2 else np.einsum("...yk,kyz->...yz", w, delta)


def simex_single(delta: np.ndarray, member: int | np.ndarray) -> np.ndarray:
    """SimEx single: −Δ_k(X|Y) of one member, ``member`` an index or one per source (..., Y)."""
    delta = np.asarray(delta, dtype=float)
    if np.ndim(member) == 0:
        return -delta[int(member)]
    return -delta[np.asarray(member), np.arange(delta.shape[1])]


def simex_ensemble(delta: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """SimEx ensemble: −Δ̄(X|Y), the mean over the member multiset."""
    return -member_mean(delta, weights)


def simex_paper_norm(delta: np.ndarray, norms: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The paper's §5.1 normalisation: −Δ̄(X|Y) / N(Y), N(Y) the mean L2 norm of Y's samples."""
    norms = np.asarray(norms, dtype=float)
    if np.any(norms <= 0):
        raise V2Error(f"mean L2 norms must be positive, got {norms}")
    return -member_mean(delta, weights) / norms


def simex_self_calibrated(delta: np.ndarray, delta_self: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Self-calibrated: −Δ̄(X|Y) / Δ̄(Y|Y), Δ(Y|Y) each A(Y)'s error on Y's own test split (K, Y).
    A ratio, as registered; Δ̄(Y|Y) ≤ 0 stops the run."""
    own = member_mean(delta_self, weights)
    if np.any(own <= 0):
        raise V2Error(f"Δ(Y|Y) must be positive for the self-calibrated scorer, got {own}")
    return -member_mean(delta, weights) / own


def simex_hub_corrected(delta: np.ndarray, delta_cross: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Hub-corrected (CSLS-style): −(Δ̄(X|Y) − H_X(Y)), H_X(Y) the mean of Δ̄(Z|Y) over the other
    candidates Z ≠ Y. ``delta_cross`` (K, Y, Z): A_k(Y)'s Δ on Z's test split, Z over the same
    candidates as Y (its diagonal, Δ(Y|Y), is left out)."""
    cross = member_mean(delta_cross, weights)  # (..., Y, Z)
    y = cross.shape[-1]
    if cross.shape[-2] != y or y < 2:
        raise V2Error(f"the hub correction needs Δ(Z|Y) over the same 2+ candidates, got {cross.shape}")
    hub = (cross.sum(axis=-1) - np.diagonal(cross, axis1=-2, axis2=-1)) / (y - 1)
    return -(member_mean(delta, weights) - hub)


def member_draws(seed: int, scale: int, loss: str, datasets: int, members: int, draws: int) -> np.ndarray:
    """D member multisets: (D, datasets, K) member indices, each dataset's K drawn with replacement
    from its K (``default_rng(derived_seed(seed, "benchmark-v2", "members", scale, loss))``)."""
    rng = np.random.default_rng(derived_seed(seed, V2_TAG, "members", scale, loss))
    return rng.integers(0, members, size=(draws, datasets, members))


def draw_weights(draws: np.ndarray, members: int) -> np.ndarray:
    """Each multiset as member weights: (D, datasets, K), the share of each member in it."""
    counts = (draws[..., None] == np.arange(members)).sum(axis=-2)
    return counts / draws.shape[-1]


# --- ground truth and its resolution ------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    best: int
    second: int
    gap: float  # mean over seeds of g_s(best) − g_s(second)
    gap_se: float
    resolved: bool
    best_gain: float
    best_gain_se: float
    best_above_zero: bool  # the best gain resolved above 0
    no_source_beats_scratch: bool


def resolution(seed_gains: np.ndarray) -> Resolution:
    """Of one (X, cell): gains (seeds, sources). Best = argmax of the seed mean, second the next;
    resolved if mean(d) > 2 sd(d, ddof 1)/√S for d the paired per-seed difference."""
    g = np.asarray(seed_gains, dtype=float)
    if g.ndim != 2 or g.shape[0] < 2 or g.shape[1] < 2:
        raise V2Error(f"resolution needs gains of 2+ seeds and 2+ sources, got shape {g.shape}")
    mean = g.mean(axis=0)
    order = np.argsort(-mean, kind="stable")
    best, second = int(order[0]), int(order[1])
    d = g[:, best] - g[:, second]
    root = math.sqrt(len(g))
    gap_se = float(d.std(ddof=1) / root)
    best_se = float(g[:, best].std(ddof=1) / root)
    return Resolution(best, second, float(d.mean()), gap_se, bool(d.mean() > 2 * gap_se), float(mean[best]), best_se,
                      bool(mean[best] > 2 * best_se), bool(mean.max() <= 0))


def required_resolved(targets: int) -> int:
    """Resolved targets a cell needs: 6 of 8 as registered (three quarters of another count)."""
    return math.ceil(0.75 * targets)


# --- metrics -------------------------------------------------------------------------------------


def _finite(scores: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(scores), scores, -np.inf)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank (scipy's ``rankdata``, for short vectors fast)."""
    values = np.asarray(values, dtype=float)
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def rank_agreement(scores: np.ndarray, gains: np.ndarray) -> tuple[float, float]:
    """(Spearman ρ, weighted Kendall τ) exactly as v1's (simex.experiments.benchmark_metrics.rank_agreement:
    scipy's spearmanr and weightedtau with defaults; NaN where either side is constant or a score is
    not finite), ρ computed on average ranks directly (scipy's per-call overhead dominated the tables)."""
    s, g = np.asarray(scores, dtype=float), np.asarray(gains, dtype=float)
    if not np.all(np.isfinite(s)) or np.ptp(s) == 0 or np.ptp(g) == 0:
        return math.nan, math.nan
    a, b = average_ranks(s), average_ranks(g)
    a, b = a - a.mean(), b - b.mean()
    rho = float(a @ b / math.sqrt((a @ a) * (b @ b)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rho, float(_weightedtau(s, g).statistic)


def cell_metrics(scores: Sequence[float], gains: Sequence[float], relative: bool = True) -> dict[str, float]:
    """One score vector against the reference ḡ: every metric of the protocol. Ties at the top:
    means over the tied picks. Both regrets are NaN where no source beats scratch; the relative
    regret also where ``relative`` is False (the best gain not resolved above 0)."""
    s, g = np.asarray(scores, dtype=float), np.asarray(gains, dtype=float)
    if s.shape != g.shape or s.ndim != 1 or len(s) < 2:
        raise V2Error(f"need equal-length score and gain vectors of 2+ sources, got {s.shape} and {g.shape}")
    finite = _finite(s)
    picked = g[finite == finite.max()]
    best = g.max()
    rho, tau = rank_agreement(s, g)
    pick = float(picked.mean())
    return {"tau": tau, "top1": float(np.mean(picked >= best)), "regret_abs": 100 * (best - pick) if best > 0 else math.nan,
            "regret_rel": (best - pick) / best if best > 0 and relative else math.nan, "pick_gain": 100 * pick,
            "rho": rho}


class MetricCache:
    """cell_metrics of one reference ḡ, remembered by the scores' rank pattern (every metric
    depends on the scores through their order and ties only)."""

    def __init__(self, gains: np.ndarray, relative: bool) -> None:
        self.gains, self.relative, self.seen = np.asarray(gains, dtype=float), relative, {}

    def __call__(self, scores: np.ndarray) -> dict[str, float]:
        return self.many(np.asarray(scores, dtype=float)[None, :])[0]

    def many(self, matrix: np.ndarray) -> list[dict[str, float]]:
        """The metrics of every row of a (rows, sources) score matrix. A row's key is its order
        (stable argsort), which neighbours in that order tie, and whether it is all finite: two
        rows with the same key have the same ranks, so the same metrics."""
        matrix = np.asarray(matrix, dtype=float)
        finite = _finite(matrix)
        order = np.argsort(finite, axis=1, kind="stable")
        ties = np.diff(np.take_along_axis(finite, order, axis=1), axis=1) == 0
        keys = np.concatenate([order.astype(np.int16), ties, np.isfinite(matrix).all(axis=1, keepdims=True)], axis=1)
        rows = []
        for key, scores in zip(map(bytes, keys.astype(np.int16)), matrix):
            if key not in self.seen:
                self.seen[key] = cell_metrics(scores, self.gains, self.relative)
            rows.append(self.seen[key])
        return rows


def chance_metrics(gains: Sequence[float], relative: bool = True) -> dict[str, float]:
    """A uniformly random order's metrics, in expectation: τ and ρ exactly over every order,
    top-1 = (sources tied at the max)/Y, absolute regret 100·(max − mean ḡ), relative regret
    the mean of (max − ḡ)/max, pick gain 100·mean ḡ."""
    g = np.asarray(gains, dtype=float)
    if math.factorial(len(g)) > EXACT_LIMIT:
        raise V2Error(f"the exact chance level is computed over every order of up to 8 sources, got {len(g)}")
    best = g.max()
    if np.ptp(g) > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tau = float(np.mean([_weightedtau(np.array(order, dtype=float), g).statistic
                                 for order in itertools.permutations(range(len(g)))]))
        rho = 0.0  # every order's ρ sums to 0: the mean over all orders is exactly 0
    else:
        tau = rho = math.nan
    return {"tau": tau, "top1": float(np.mean(g >= best)), "regret_abs": 100 * (best - g.mean()) if best > 0 else math.nan,
            "regret_rel": float(np.mean((best - g) / best)) if best > 0 and relative else math.nan,
            "pick_gain": 100 * float(g.mean()), "rho": rho}


def split_half(seed_gains: np.ndarray, relative: bool = True) -> dict[str, float]:
    """Split-half agreement of one (X, cell): over every split of the seeds into halves A (holding
    seed 0, S // 2 seeds) and B, the metrics of ḡ_A as scores against ḡ_B and of ḡ_B against ḡ_A,
    averaged: the reliability of a half-size seed mean (126 splits of 10 seeds)."""
    g = np.asarray(seed_gains, dtype=float)
    seeds = len(g)
    if seeds < 2:
        raise V2Error("split-half needs 2+ seeds")
    rows = []
    for rest in itertools.combinations(range(1, seeds), seeds // 2 - 1):
        a = [0, *rest]
        b = [s for s in range(seeds) if s not in a]
        mean_a, mean_b = g[a].mean(axis=0), g[b].mean(axis=0)
        rows += [cell_metrics(mean_a, mean_b, relative), cell_metrics(mean_b, mean_a, relative)]
    frame = pd.DataFrame(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {metric: float(np.nanmean(frame[metric])) if frame[metric].notna().any() else math.nan
                for metric in frame.columns}


# --- intervals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resamples:
    """One set of bootstrap indices shared by every estimator of a scale (so differences pair):
    targets (R, T), seeds within each drawn target (R, T, S), member draws (R,)."""

    targets: np.ndarray
    seeds: np.ndarray
    draws: np.ndarray

    @classmethod
    def draw(cls, resamples: int, targets: int, seeds: int, member_draws_: int, rng: np.random.Generator) -> "Resamples":
        return cls(rng.integers(0, targets, size=(resamples, targets)),
                   rng.integers(0, seeds, size=(resamples, targets, seeds)),
                   rng.integers(0, member_draws_, size=resamples))


def _resampled(values: np.ndarray, resamples: Resamples) -> np.ndarray:
    """(D or 1, T, S) values -> (R, T, S) as each resample draws them."""
    d = resamples.draws if values.shape[0] > 1 else np.zeros_like(resamples.draws)
    return values[d[:, None, None], resamples.targets[:, :, None], resamples.seeds]


def bootstrap(values: np.ndarray, resamples: Resamples, confidence: float,
              minus: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` (D or 1, T, S) over the resamples; with
    ``minus``, of the paired difference (same draw, targets and seeds). NaN entries are left out
    of every mean (and a pair with a NaN side)."""
    sample = _resampled(values, resamples)
    if minus is not None:
        sample = sample - _resampled(minus, resamples)
    flat = sample.reshape(len(sample), -1)
    if np.all(np.isnan(flat)):
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(flat, axis=1)
    tail = (1 - confidence) / 2
    low, high = np.nanquantile(means, [tail, 1 - tail])
    return float(low), float(high)


def point(values: np.ndarray, minus: np.ndarray | None = None) -> float:
    """The mean over targets and seeds of a (T, S) point array (or of a paired difference)."""
    values = np.asarray(values, dtype=float) - (0 if minus is None else np.asarray(minus, dtype=float))
    if np.all(np.isnan(values)):
        return math.nan
    return float(np.nanmean(values))


# --- the tables of one scale ---------------------------------------------------------------------


@dataclass(frozen=True)
class V2Settings:
    scale: int
    datasets: tuple[str, ...]  # every target, in table order (labels as in the files)
    cells: tuple[tuple[str, int], ...]
    headline: tuple[str, int, int]  # protocol, n, scale
    members: int
    member_draws: int
    bootstrap: int
    confidence: float
    seed: int
    registered: bool = True
    losses: tuple[str, ...] = LOSSES
    estimators: tuple[str, ...] = ()  # the registered non-SimEx estimators present
    own: tuple[str, ...] = ()

    @property
    def decided(self) -> bool:
        return self.registered and self.scale == self.headline[2]


@dataclass
class Arrays:
    """Per estimator and metric: the point array (T, S) and the resample array (D or 1, T, S)."""

    point: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    draws: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def _candidate_arrays(deltas: pd.DataFrame, loss: str, target: str, sources: list[str], n: int, seeds: int,
                      members: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Δ_k(X|Y) of the draws (S, K, Y), Δ_k(Y|Y) (K, Y), Δ_k(Z|Y) (K, Y, Z) over the candidates."""
    part = deltas[deltas["loss"] == loss]
    draw = part[(part["split"] == "draw") & (part["x"] == target) & (part["n"] == n)]
    grid = draw.set_index(["seed", "member", "y"])["delta"]
    index = pd.MultiIndex.from_product([range(seeds), range(members), sources])
    missing = index.difference(grid.index)
    if len(missing):
        raise V2Error(f"Δ of X={target}, n={n}, loss {loss} missing for {list(missing[:3])}...")
    on_draws = grid.reindex(index).to_numpy().reshape(seeds, members, len(sources))
    test = part[part["split"] == "test"].set_index(["member", "y", "x"])["delta"]
    index = pd.MultiIndex.from_product([range(members), sources, sources])
    missing = index.difference(test.index)
    if len(missing):
        raise V2Error(f"zoo Δ(Z|Y) of loss {loss} missing for {list(missing[:3])}...")
    cross = test.reindex(index).to_numpy().reshape(members, len(sources), len(sources))
    return on_draws, np.stack([np.diagonal(cross[k]) for k in range(members)]), cross


def scale_tables(runs: pd.DataFrame, scores: pd.DataFrame, deltas: pd.DataFrame, norms: pd.DataFrame,
                 timings: pd.DataFrame, settings: V2Settings) -> dict[str, pd.DataFrame]:
    """Every table of one scale from its score files: ``resolution``, ``metrics`` (point metrics
    per estimator, cell, target, seed), ``summary`` (per cell and estimator, each metric's mean
    with its interval and chance), ``differences`` (paired), ``decisions``, ``simex_scores`` (the
    SimEx scorers' point scores, for scores.csv.gz)."""
    targets = list(settings.datasets)
    seeds = int(runs.loc[runs["protocol"] != "base", "seed"].max()) + 1
    k, d_count = settings.members, settings.member_draws
    norm = norms.set_index("dataset")["mean_l2_norm"]
    draws = {loss: member_draws(settings.seed, settings.scale, loss, len(targets), k, d_count) for loss in settings.losses}
    weights = {loss: draw_weights(draws[loss], k) for loss in settings.losses}
    rng = np.random.default_rng(derived_seed(settings.seed, V2_TAG, "bootstrap", settings.scale))
    resamples = Resamples.draw(settings.bootstrap, len(targets), seeds, d_count, rng)
    gains = gains_from_runs(runs)
    reference = gains.groupby(["protocol", "n", "target", "source"])["gain"].mean()
    resolution_rows, metric_rows, simex_rows, summary_rows, difference_rows = [], [], [], [], []
    arrays_by_cell: dict[tuple[str, int], Arrays] = {}
    estimators = [*settings.estimators, *settings.own]
    for protocol, n in settings.cells:
        arrays = Arrays()
        arrays_by_cell[(protocol, n)] = arrays
        names = [*(scorer_name(loss, v) for loss in settings.losses for v in VARIANTS), *estimators, RANDOM, CEILING,
                 SPLIT_HALF]
        for name in names:
            shape = (d_count if name.startswith("SimEx") else 1, len(targets), seeds)
            arrays.point[name] = {m: np.full((len(targets), seeds), np.nan) for m in METRICS}
            arrays.draws[name] = {m: np.full(shape, np.nan) for m in METRICS}
        cell_resolved = []
        for t, target in enumerate(targets):
            sources = [y for y in targets if y != target]
            part = gains[(gains["protocol"] == protocol) & (gains["n"] == n) & (gains["target"] == target)]
            per_seed = part.pivot(index="seed", columns="source", values="gain").reindex(index=range(seeds),
                                                                                           columns=sources)
            if per_seed.isna().any().any():
                raise V2Error(f"X={target}, {protocol} n={n}: gains missing for some source or seed")
            g = per_seed.to_numpy()
            gbar = reference.loc[(protocol, n, target)].reindex(sources).to_numpy()
            res = resolution(g)
            cell_resolved.append(res.resolved)
            resolution_rows.append({"scale": settings.scale, "protocol": protocol, "n": n, "target": target,
                                    "best": sources[res.best], "second": sources[res.second],
                                    "best_gain": res.best_gain, "best_gain_se": res.best_gain_se,
                                    "gap": res.gap, "gap_se": res.gap_se, "gap_over_2se": res.gap / (2 * res.gap_se)
                                    if res.gap_se > 0 else math.inf, "resolved": res.resolved,
                                    "best_above_zero": res.best_above_zero,
                                    "no_source_beats_scratch": res.no_source_beats_scratch})
            measure = MetricCache(gbar, res.best_above_zero)

            def store(name: str, s: int, values: Mapping[str, float], member: Any = "") -> None:
                row = dict(values)
                row["top1_resolved"] = row["top1"] if res.resolved else math.nan
                if member == "":
                    for m in METRICS:
                        arrays.point[name][m][t, s] = row[m]
                metric_rows.append({"protocol": protocol, "n": n, "target": target, "seed": s, "estimator": name,
                                    "member": member, **{m: row[m] for m in METRICS}})

            def store_draws(name: str, s: int, rows: Sequence[Mapping[str, float]]) -> None:
                for m in METRICS:
                    if m == "top1_resolved":
                        values = [r["top1"] if res.resolved else math.nan for r in rows]
                    else:
                        values = [r[m] for r in rows]
                    arrays.draws[name][m][:, t, s] = values

            chance = chance_metrics(gbar, res.best_above_zero)
            halves = split_half(g, res.best_above_zero)
            for s in range(seeds):
                store(RANDOM, s, chance)
                store_draws(RANDOM, s, [{**chance}])
                ceiling = measure(g[s])
                store(CEILING, s, ceiling)
                store_draws(CEILING, s, [ceiling])
                store(SPLIT_HALF, s, halves)
                store_draws(SPLIT_HALF, s, [halves])
            mine = scores[(scores["target"] == target) & (scores["n"] == n)]
            for name in estimators:
                table = mine[mine["estimator"] == name].pivot(index="seed", columns="source", values="score")
                table = table.reindex(index=range(seeds), columns=sources)
                if table.isna().all(axis=1).any():
                    raise V2Error(f"{name} on X={target}, n={n}: no scores for some seed")
                for s in range(seeds):
                    values = measure(table.loc[s].to_numpy())
                    store(name, s, values)
                    store_draws(name, s, [values])
            rows_of = [targets.index(y) for y in sources]
            for loss in settings.losses:
                on_draws, own, cross = _candidate_arrays(deltas, loss, target, sources, n, seeds, k)
                w_all = weights[loss][:, rows_of, :]  # (D, Y, K)
                first = draws[loss][:, rows_of, 0]  # (D, Y)
                n_y = norm.reindex(sources).to_numpy()
                for s in range(seeds):
                    delta = on_draws[s]
                    point_scores = {
                        "ensemble": simex_ensemble(delta), "paper-norm": simex_paper_norm(delta, n_y),
                        "self-calibrated": simex_self_calibrated(delta, own),
                        "hub-corrected": simex_hub_corrected(delta, cross)}
                    drawn_scores = {
                        "single": simex_single(delta, first), "ensemble": simex_ensemble(delta, w_all),
                        "paper-norm": simex_paper_norm(delta, n_y, w_all),
                        "self-calibrated": simex_self_calibrated(delta, own, w_all),
                        "hub-corrected": simex_hub_corrected(delta, cross, w_all)}
                    single = [measure(simex_single(delta, member)) for member in range(k)]
                    name = scorer_name(loss, "single")
                    for member, values in enumerate(single):
                        store(name, s, values, member)
                    store(name, s, {m: float(np.nanmean([r[m] for r in single])) if any(
                        not math.isnan(r[m]) for r in single) else math.nan for m in single[0]})
                    for variant, values in point_scores.items():
                        store(scorer_name(loss, variant), s, measure(values))
                        simex_rows += [{"estimator": scorer_name(loss, variant), "target": target, "n": n, "seed": s,
                                        "source": y, "member": "", "score": float(v)} for y, v in zip(sources, values)]
                    for variant, matrix in drawn_scores.items():
                        store_draws(scorer_name(loss, variant), s, measure.many(matrix))
        resolved_count = int(sum(cell_resolved))
        resolved_cell = resolved_count >= required_resolved(len(targets))
        timing = timings[timings["n"] == n].groupby("estimator")["seconds"].median()
        for name in names:
            kind = KINDS.get(name, OWN_KIND if name in settings.own else "")
            row: dict[str, Any] = {"scale": settings.scale, "protocol": protocol, "n": n, "estimator": name, "kind": kind,
                                   "resolved_targets": resolved_count, "targets": len(targets),
                                   "cell_resolved": resolved_cell}
            for m in METRICS:
                row[m] = point(arrays.point[name][m])
                row[f"{m}_low"], row[f"{m}_high"] = bootstrap(arrays.draws[name][m], resamples, settings.confidence)
                row[f"{m}_chance"] = point(arrays.point[RANDOM][m])
            row["oracle_gain"] = float(np.mean([100 * reference.loc[(protocol, n, x)].max() for x in targets]))
            row["regret_excluded"] = int(sum(r["no_source_beats_scratch"] for r in resolution_rows
                                             if r["protocol"] == protocol and r["n"] == n))
            row["relative_targets"] = int(sum(r["best_above_zero"] for r in resolution_rows
                                              if r["protocol"] == protocol and r["n"] == n))
            row["seconds"] = float(timing.get(name, math.nan))
            summary_rows.append(row)
        simex_names = [nm for nm in names if nm.startswith("SimEx")]
        for name in simex_names:
            loss_label, variant = name.removeprefix("SimEx-").split(" ", 1)
            others = [other for other in ("static", "embeddings", "LogME") if other in arrays.point]
            if variant != "single":
                others.append(f"SimEx-{loss_label} single")
            for other in others:
                for m in DIFFERENCE_METRICS:
                    low, high = bootstrap(arrays.draws[name][m], resamples, settings.confidence, arrays.draws[other][m])
                    difference_rows.append({"scale": settings.scale, "protocol": protocol, "n": n, "estimator": name,
                                            "minus": other, "metric": m,
                                            "difference": point(arrays.point[name][m], arrays.point[other][m]),
                                            "low": low, "high": high, "cell_resolved": resolved_cell})
    summary = pd.DataFrame(summary_rows)
    resolution_table = pd.DataFrame(resolution_rows)
    decided = decisions(summary, arrays_by_cell, resamples, settings, resolution_table)
    return {"resolution": resolution_table, "metrics": pd.DataFrame(metric_rows), "summary": summary,
            "differences": pd.DataFrame(difference_rows), "decisions": decided,
            "simex_scores": pd.DataFrame(simex_rows), "caps": cap_table(runs)}


def cap_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per protocol (scratch included) and n: the share of runs stopped at their cap (epochs; L-BFGS
    iterations for the probe); more than half is a protocol failure, as v1."""
    part = runs[runs["protocol"] != "base"]
    table = part.groupby(["protocol", "n"]).agg(runs=("cap_hit", "size"), cap_hit_share=("cap_hit", "mean"),
                                                median_epochs=("epochs", "median")).reset_index()
    table["protocol_failure"] = table["cap_hit_share"] > 0.5
    return table


def decisions(summary: pd.DataFrame, arrays_by_cell: Mapping[tuple[str, int], Arrays], resamples: Resamples,
              settings: V2Settings, resolution_table: pd.DataFrame) -> pd.DataFrame:
    """R, H1, H2 in this scale's headline cell, as registered (met, missed, or undecided where the
    ground truth is unresolved; "secondary, not decided" at another scale or outside the
    registration), and whether the ensemble ranks better than a single autoencoder, per loss."""
    protocol, n, _ = settings.headline
    if (protocol, n) not in arrays_by_cell:
        return pd.DataFrame()
    arrays = arrays_by_cell[(protocol, n)]
    cell = summary[(summary["protocol"] == protocol) & (summary["n"] == n)].set_index("estimator")
    candidates = [name for name in SCORERS if name in cell.index]
    resolved = resolution_table[(resolution_table["protocol"] == protocol) & (resolution_table["n"] == n)]
    count, needed = int(resolved["resolved"].sum()), required_resolved(len(resolved))
    r_met = count >= needed
    status = "decided" if settings.decided else "secondary, not decided"
    short = resolved[~resolved["resolved"]]
    rows = [{"hypothesis": "R", "status": status, "outcome": "met" if r_met else "missed",
             "measured": f"{count} of {len(resolved)} targets resolved (needs {needed})",
             "detail": "; ".join(f"{r.target}: gap {100 * r.gap:+.2f} points, 2 SE {200 * r.gap_se:.2f}"
                                 for r in short.itertuples())}]
    if not candidates:
        return pd.DataFrame(rows)
    taus = [cell.loc[name, "tau"] for name in candidates]
    chosen = candidates[int(np.nanargmax(taus))] if not all(map(math.isnan, taus)) else candidates[0]
    tau = {name: arrays.draws[name]["tau"] for name in arrays.draws}
    tau_point = {name: arrays.point[name]["tau"] for name in arrays.point}

    def interval(a: str, b: str, confidence: float) -> tuple[float, float]:
        return bootstrap(tau[a], resamples, confidence, tau[b])

    def outcome(met: bool) -> str:
        if not r_met:
            return f"undecided (ground truth unresolved, {count} of {len(resolved)})"
        return "met" if met else "missed"

    bonferroni = 1 - 0.05 / len(candidates)
    if "static" in tau:
        low, high = interval(chosen, "static", bonferroni)
        low95, high95 = interval(chosen, "static", 0.95)
        rows.append({"hypothesis": "H1", "status": status, "outcome": outcome(low > 0), "chosen": chosen,
                     "measured": f"τw({chosen}) − τw(static) = {point(tau_point[chosen], tau_point['static']):+.3f}, "
                                 f"{bonferroni:.1%} [{low:+.3f}, {high:+.3f}] (95 % [{low95:+.3f}, {high95:+.3f}])",
                     "low": low, "high": high})
    if "LogME" in tau:
        low, high = interval(chosen, "LogME", 0.95)
        rows.append({"hypothesis": "H2", "status": status, "outcome": outcome(high >= 0), "chosen": chosen,
                     "measured": f"τw({chosen}) − τw(LogME) = {point(tau_point[chosen], tau_point['LogME']):+.3f}, "
                                 f"95 % [{low:+.3f}, {high:+.3f}]" + (
                                     " (LogME's advantage is not shown; not that the two are equal)" if high >= 0 else ""),
                     "low": low, "high": high})
    for loss in settings.losses:
        ensemble, single = scorer_name(loss, "ensemble"), scorer_name(loss, "single")
        if ensemble in tau and single in tau:
            low, high = interval(ensemble, single, 0.95)
            rows.append({"hypothesis": f"ensemble vs single ({LOSS_LABELS[loss]})",
                         "status": "finding" if r_met else "finding (ground truth unresolved)",
                         "outcome": "ensemble better" if low > 0 else "not shown",
                         "measured": f"τw(ensemble) − τw(single) = {point(tau_point[ensemble], tau_point[single]):+.3f}, "
                                     f"95 % [{low:+.3f}, {high:+.3f}]", "low": low, "high": high})
    return pd.DataFrame(rows)


# --- Markdown ---------------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def interval_text(row: Mapping[str, Any], metric: str, digits: int = 2) -> str:
    if pd.isna(row[metric]):
        return "–"
    return f"{row[metric]:.{digits}f} [{_fmt(row[f'{metric}_low'], digits)}, {_fmt(row[f'{metric}_high'], digits)}]"


def resolution_markdown(table: pd.DataFrame) -> str:
    parts = []
    for (protocol, n), cell in table.groupby(["protocol", "n"], sort=False):
        count, needed = int(cell["resolved"].sum()), required_resolved(len(cell))
        label = "resolved" if count >= needed else "**unresolved**: its tables are published, nothing is ranked or decided on it"
        parts.append(f"### {PROTOCOL_NAMES.get(protocol, protocol)}, n = {n}: {count} of {len(cell)} targets resolved "
                     f"({label})\n\n")
        parts.append(markdown_table(
            ["target", "best", "second", "best gain (points)", "gap (points)", "2 SE", "resolved", "best > 0 resolved",
             "no source beats scratch"],
            [[r.target, r.best, r.second, f"{100 * r.best_gain:+.2f} ± {200 * r.best_gain_se:.2f}", f"{100 * r.gap:+.2f}",
              f"{200 * r.gap_se:.2f}", "yes" if r.resolved else "no", "yes" if r.best_above_zero else "no",
              "yes" if r.no_source_beats_scratch else "no"] for r in cell.itertuples()], "lllrrrlll") + "\n")
    return "".join(parts)


def summary_markdown(summary: pd.DataFrame, confidence: float, resamples: int) -> str:
    parts = []
    for (protocol, n), cell in summary.groupby(["protocol", "n"], sort=False):
        first = cell.iloc[0]
        label = "" if first["cell_resolved"] else " — **unresolved cell: published, not ranked**"
        parts.append(f"### {PROTOCOL_NAMES.get(protocol, protocol)}, n = {n}{label}\n\n")
        header = ["estimator", "kind", *(METRIC_NAMES[m] for m in METRICS), "time per target (s)"]
        rows = [[r["estimator"], r["kind"], *(interval_text(r, m, 1 if m in ("regret_abs", "pick_gain") else 2)
                                              for m in METRICS), _fmt(r["seconds"], 4)] for _, r in cell.iterrows()]
        parts.append(markdown_table(header, rows))
        chance = ", ".join(f"{METRIC_NAMES[m]} {_fmt(first[f'{m}_chance'], 3)}" for m in METRICS if m != "top1_resolved")
        parts.append(f"\nChance (random order, in expectation): {chance}; oracle pick gain {first['oracle_gain']:.2f} points. "
                     f"Resolved targets: {int(first['resolved_targets'])} of {int(first['targets'])}. Regrets leave out "
                     f"{int(first['regret_excluded'])} target(s) where no source beats scratch; relative regret is over the "
                     f"{int(first['relative_targets'])} target(s) whose best gain is resolved above 0.\n\n")
    note = (f"Mean over targets and seeds; [{confidence:.0%} percentile bootstrap, {resamples} resamples of targets, seeds "
            "within targets and, for SimEx, member draws]. SimEx single: the mean over its K members. Time: median over "
            "(X, seed) of the wall time to score all candidates, one CPU thread (SimEx's scorers other than single: the "
            "fused pass through all K members). Noise ceiling: each seed's own gains scored against the all-seed mean ḡ, "
            "as the estimators are (not an upper bound: an estimator of expected gains can exceed one noisy seed). "
            "Split-half: the mean over every split of the seeds into halves (126 at 10 seeds) of one half's mean gains "
            "scored against the other's, per target: the reliability of a half-size seed mean.\n")
    return "".join(parts) + note


def differences_markdown(differences: pd.DataFrame, confidence: float) -> str:
    parts = []
    for (protocol, n), cell in differences.groupby(["protocol", "n"], sort=False):
        label = "" if cell["cell_resolved"].iloc[0] else " (unresolved cell)"
        parts.append(f"### {PROTOCOL_NAMES.get(protocol, protocol)}, n = {n}{label}\n\n")
        wide = []
        for (name, other), rows in cell.groupby(["estimator", "minus"], sort=False):
            values = rows.set_index("metric")
            wide.append([name, other, *(f"{values.loc[m, 'difference']:+.2f} [{_fmt(values.loc[m, 'low'])}, "
                                        f"{_fmt(values.loc[m, 'high'])}]" if m in values.index and
                                        not pd.isna(values.loc[m, "difference"]) else "–" for m in DIFFERENCE_METRICS)])
        parts.append(markdown_table(["SimEx scorer", "minus", *(METRIC_NAMES[m] for m in DIFFERENCE_METRICS)], wide) + "\n")
    return "".join(parts) + (f"Paired differences: mean [{confidence:.0%} percentile bootstrap over the same resamples of "
                             "targets, seeds and member draws on both sides].\n")


def decisions_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "The headline cell is not among this run's cells.\n"
    return markdown_table(["hypothesis", "status", "outcome", "measured", "why missed/undecided"],
                          [[r["hypothesis"], r["status"], r["outcome"], r["measured"],
                            r.get("detail", "") if isinstance(r.get("detail", ""), str) else ""]
                           for _, r in table.iterrows()])


def scale_table(summaries: pd.DataFrame, headline: tuple[str, int]) -> pd.DataFrame:
    """The headline cell at every scale: per estimator, τw, top-1 hit and absolute regret with intervals."""
    cell = summaries[(summaries["protocol"] == headline[0]) & (summaries["n"] == headline[1])]
    return cell[["scale", "estimator", "kind", "resolved_targets", "targets",
                 *(f"{m}{suffix}" for m in ("tau", "top1", "regret_abs") for suffix in ("", "_low", "_high"))]]


def scale_markdown(table: pd.DataFrame) -> str:
    scales = sorted(table["scale"].unique())
    rows = []
    for name in dict.fromkeys(table["estimator"]):
        mine = table[table["estimator"] == name].set_index("scale")
        rows.append([name, *(interval_text(mine.loc[s], m, 1 if m == "regret_abs" else 2) if s in mine.index else "–"
                             for m in ("tau", "top1", "regret_abs") for s in scales)])
    header = ["estimator", *(f"{METRIC_NAMES[m]} at {s:,}" for m in ("tau", "top1", "regret_abs") for s in scales)]
    resolved = ", ".join(f"{s:,}: {int(table[table['scale'] == s]['resolved_targets'].iloc[0])} of "
                         f"{int(table[table['scale'] == s]['targets'].iloc[0])}" for s in scales)
    return markdown_table(header, rows) + f"\nResolved targets in this cell per scale: {resolved}.\n"


# --- the score files: from the jobs' records, and back ------------------------------------------------

SCORE_FILES = ("runs", "scores", "deltas", "norms", "draws", "timings")


def score_files(scale: int, ground_truth: Sequence[Mapping[str, Any]], estimates: Sequence[Mapping[str, Any]],
                zoos: Sequence[Mapping[str, Any]], base_accuracy: Mapping[str, Sequence[float]],
                labels: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """The committed files of one scale (PROTOCOL-v2.md, "What is committed") from the jobs' records,
    datasets named by their display labels: runs (every transfer and scratch run, and B(Y)'s own
    accuracy per seed as protocol "base"), scores (every estimator; SimEx single per member), deltas
    (every Δ_k(X|Y) of the draws, split "draw"; Δ_k(Z|Y) on Z's test split, split "test"), norms,
    draws, timings."""
    label = lambda code: labels.get(code, code)  # noqa: E731
    runs = [{"scale": scale, "target": label(r["target"]), **{**run, "source": label(run["source"]) if run["source"] else ""}}
            for r in ground_truth for run in r["records"]]
    runs += [{"scale": scale, "target": "", "source": label(y), "protocol": "base", "n": 0, "seed": s, "accuracy": acc}
             for y, values in base_accuracy.items() for s, acc in enumerate(values)]
    runs_frame = pd.DataFrame(runs)
    gains = gains_from_runs(runs_frame).set_index(["target", "source", "protocol", "n", "seed"])
    key = pd.MultiIndex.from_frame(runs_frame[["target", "source", "protocol", "n", "seed"]])
    runs_frame["scratch_accuracy"] = gains["scratch_accuracy"].reindex(key).to_numpy()
    runs_frame["gain"] = gains["gain"].reindex(key).to_numpy()
    scores = [{"scale": scale, "estimator": row["estimator"], "target": label(r["target"]), "n": row["n"],
               "seed": row["seed"], "source": label(row["source"]), "member": row.get("member", ""), "score": row["score"]}
              for r in estimates for row in r["scores"]]
    deltas = [{"scale": scale, "loss": row["loss"], "member": row["member"], "y": label(row["source"]),
               "x": label(r["target"]), "split": "draw", "n": row["n"], "seed": row["seed"], "delta": row["delta"]}
              for r in estimates for row in r.get("deltas", [])]
    deltas += [{"scale": scale, "loss": zoo["loss"], "member": row["member"], "y": label(row["y"]), "x": label(row["x"]),
                "split": "test", "n": "", "seed": "", "delta": row["delta"]} for zoo in zoos for row in zoo["test"]]
    norms = [{"scale": scale, "dataset": label(d), "mean_l2_norm": value} for d, value in zoos[0]["norms"].items()]
    draws = [{"scale": scale, "target": label(r["target"]), "n": int(n), "seed": int(s), "indices": " ".join(map(str, idx))}
             for r in ground_truth for n, per_seed in r["draws"].items() for s, idx in per_seed.items()]
    timings = [{"scale": scale, "target": label(r["target"]), **row} for r in estimates for row in r["timings"]]
    return {"runs": runs_frame, "scores": pd.DataFrame(scores), "deltas": pd.DataFrame(deltas),
            "norms": pd.DataFrame(norms), "draws": pd.DataFrame(draws), "timings": pd.DataFrame(timings)}


def read_score_files(folder: Any) -> dict[str, pd.DataFrame]:
    """The score files of one scale as committed (``<name>.csv.gz``), for :func:`scale_tables`."""
    from pathlib import Path

    frames = {name: pd.read_csv(Path(folder) / f"{name}.csv.gz", keep_default_na=True) for name in SCORE_FILES}
    for name in ("runs", "scores", "draws", "timings"):
        for column in ("target", "source"):
            if column in frames[name]:
                frames[name][column] = frames[name][column].fillna("")
    return frames


def scale_readme(tables: Mapping[str, pd.DataFrame], settings: V2Settings, command: str,
                 job_times: Mapping[str, tuple[float, float]], commit: str = "unknown") -> str:
    """The results page of one scale: decisions and resolution first, then every cell's table,
    the paired differences, and the files."""
    scope = ("registered run" if settings.registered else "**outside the registration** (not a v2 result)")
    where = ("the headline scale: the hypotheses are decided here" if settings.decided
             else "secondary, not decided (the hypotheses are decided at the headline scale only)")
    protocol, n, scale = settings.headline
    lines = [f"# Source-selection benchmark v2: {settings.scale:,} samples per dataset", "",
             f"Protocol: [PROTOCOL-v2.md](PROTOCOL-v2.md) ({scope}; {where}). Made at commit {commit} by:", "",
             f"    {command}", "",
             f"## Hypotheses in the headline cell ({PROTOCOL_NAMES.get(protocol, protocol)}, n = {n})", "",
             decisions_markdown(tables["decisions"]),
             "## Is the best source resolved? (best − second, paired by seed, > 2 SE)", "",
             resolution_markdown(tables["resolution"]),
             "## Every estimator, every cell", "", summary_markdown(tables["summary"], settings.confidence,
                                                                     settings.bootstrap),
             "## Paired differences", "",
             "Only the headline cell at the headline scale decides anything; every other cell and scale is "
             "secondary, not decided.", "", differences_markdown(tables["differences"], settings.confidence),
             "## Runs stopped at their cap (epochs; L-BFGS iterations for the probe)", "",
             markdown_table(["protocol", "n", "runs", "cap-hit share", "median epochs/iterations", "protocol failure"],
                            [[r.protocol, r.n, r.runs, f"{r.cap_hit_share:.3f}", f"{r.median_epochs:.0f}",
                              "**yes**" if r.protocol_failure else "no"] for r in tables["caps"].itertuples()]),
             "## Files", "",
             "- `summary.md` / `summary.csv`: estimator × metric with intervals and chance, every cell",
             "- `resolution.md` / `resolution.csv`: best and second source per target and cell, resolved or not",
             "- `differences.md` / `differences.csv`: SimEx − static, − embeddings, − LogME, variant − single",
             "- `decisions.csv`: R, H1, H2 and the ensemble finding",
             "- `runs.csv.gz`: every run (accuracy, scratch accuracy, gain, epochs, cap hit; B(Y)'s own accuracy as "
             "protocol `base`)",
             "- `scores.csv.gz`: every estimator's score per (target, n, seed, source); SimEx single per member",
             "- `deltas.csv.gz`: every Δ_k(X|Y) of the draws (split `draw`) and Δ_k(Z|Y) on Z's test split (`test`)",
             "- `norms.csv.gz`, `draws.csv.gz`, `timings.csv.gz`, `metrics.csv.gz` (point metrics per estimator, cell, "
             "target, seed; SimEx single also per member)",
             "- `jobs.log.gz`: the jobs' logs", "",
             "Every table here recomputes from the score files: "
             "`simex.experiments.benchmark_v2.scale_tables(**read_score_files(folder), settings=...)`.", "",
             "Time of the jobs (Snakemake benchmark files, seconds):", "",
             markdown_table(["job", "wall (s)", "CPU (s)"],
                            [[name, f"{wall:.0f}", f"{cpu:.0f}"] for name, (wall, cpu) in job_times.items()], "lrr")]
    return "\n".join(lines)


def report_readme(scale_frame: pd.DataFrame, decisions_by_scale: Mapping[int, pd.DataFrame],
                  resolution_by_scale: Mapping[int, pd.DataFrame], headline: tuple[str, int, int], registered: bool,
                  command: str) -> str:
    """The v2 results page across scales: the decisions (headline scale), the scale table and figure,
    the resolved counts per cell and scale, and the per-scale pages."""
    protocol, n, decided_scale = headline
    scope = "registered run" if registered else "**outside the registration** (not a v2 result)"
    lines = ["# Source-selection benchmark v2: results", "",
             f"Protocol: [PROTOCOL-v2.md](PROTOCOL-v2.md) ({scope}). Made by:", "", f"    {command}", ""]
    if decided_scale in decisions_by_scale:
        lines += [f"## Decisions: headline cell ({PROTOCOL_NAMES.get(protocol, protocol)}, n = {n}) at "
                  f"{decided_scale:,} samples per dataset", "", decisions_markdown(decisions_by_scale[decided_scale])]
    lines += [f"## Each estimator at every scale ({PROTOCOL_NAMES.get(protocol, protocol)}, n = {n})", "",
              "![scale](scale.png)", "", scale_markdown(scale_frame),
              "Mean over targets and seeds [95 % percentile bootstrap: targets, seeds within targets and, for SimEx, "
              "member draws]. A cell with fewer than 6 of 8 resolved targets is unresolved: published, not ranked.", "",
              "## Resolved targets per cell and scale", "",
              markdown_table(["scale", *(f"{PROTOCOL_NAMES.get(p, p)}, n = {m}" for p, m in
                                         dict.fromkeys(zip(*(next(iter(resolution_by_scale.values()))[c]
                                                             for c in ("protocol", "n")))))],
                             [[f"{scale:,}", *(f"{int(cell['resolved'].sum())} of {len(cell)}" for _, cell in
                                               table.groupby(["protocol", "n"], sort=False))]
                              for scale, table in resolution_by_scale.items()]),
              "## Per scale", "", *(f"- [{scale:,} samples per dataset](scale{scale}/README.md)"
                                    for scale in resolution_by_scale), ""]
    return "\n".join(lines)
