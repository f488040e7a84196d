"""The source-selection benchmark's metrics, intervals and tables (docs/benchmark/PROTOCOL.md).

Per (estimator, protocol, n, target X, seed s), the scores s(Y) of the candidate sources
are compared with the reference ground truth ḡ(Y→X), the gain over scratch averaged over
the seeds: Spearman ρ, weighted Kendall τ (scipy's defaults), top-1 hit and relative
regret. Ties: when several sources share the top score, the pick is one of them at
random, so top-1 and regret are their means over the tied picks (the expectation of a
random tie-break); a pick is a hit when its ḡ equals the maximum. Regret is undefined
where no source beats scratch (max ḡ ≤ 0): such (X, protocol, n) are left out of
regret and counted. ``random`` is scored exactly in expectation over every order of
the candidates (or 10,000 draws beyond 8 of them); the ``noise ceiling`` scores each
seed's own gains against the mean of the other seeds' gains. Means are over targets
and seeds; intervals are percentile bootstraps resampling targets and, within each,
seeds, with the reference ḡ held fixed.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import weightedtau

from simex.experiments.benchmark import ESTIMATOR_KINDS, SCRATCH
from simex.analysis.stats import spearman
from simex.base.datasets import legend_lines
from simex.analysis.tables import markdown_document, markdown_table
from simex.base.errors import SimexError

METRICS = ("rho", "tau", "top1", "regret")
METRIC_NAMES = {"rho": "Spearman ρ", "tau": "weighted τ", "top1": "top-1 hit", "regret": "relative regret"}
RANDOM = "random"
CEILING = "noise ceiling"
KINDS = {**ESTIMATOR_KINDS, RANDOM: "trivial", CEILING: "reference"}
EXACT_LIMIT = 40320  # 8!: random's expectation over every order up to 8 candidates, else draws
RANDOM_DRAWS = 10_000


class MetricError(SimexError, ValueError):
    """Scores and gains handed to a metric do not fit together."""


def _check(scores: Sequence[float], gains: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    s, g = np.asarray(scores, dtype=float), np.asarray(gains, dtype=float)
    if s.shape != g.shape or s.ndim != 1 or len(s) < 2:
        raise MetricError(f"need equal-length score and gain vectors of 2+ sources, got {s.shape} and {g.shape}")
    if not np.all(np.isfinite(g)):
        raise MetricError("gains must be finite")
    return s, g


def _picks(scores: np.ndarray) -> np.ndarray:
    """The sources sharing the top score (a non-finite score never wins unless all are)."""
    finite = np.where(np.isfinite(scores), scores, -np.inf)
    return np.flatnonzero(finite == finite.max())


def top1_hit(scores: Sequence[float], gains: Sequence[float]) -> float:
    """1 if the top-scored source has the largest gain; the mean over tied top scores."""
    s, g = _check(scores, gains)
    return float(np.mean(g[_picks(s)] >= g.max()))


def relative_regret(scores: Sequence[float], gains: Sequence[float]) -> float:
    """(max ḡ − ḡ(pick)) / max ḡ, mean over tied picks; NaN where max ḡ ≤ 0 (excluded)."""
    s, g = _check(scores, gains)
    best = g.max()
    if best <= 0:
        return math.nan
    return float(np.mean((best - g[_picks(s)]) / best))


def rank_agreement(scores: Sequence[float], gains: Sequence[float]) -> tuple[float, float]:
    """(Spearman ρ, weighted Kendall τ); NaN where either side is constant or a score is not finite."""
    s, g = _check(scores, gains)
    if not np.all(np.isfinite(s)) or np.ptp(s) == 0 or np.ptp(g) == 0:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spearman(s, g), float(weightedtau(s, g).statistic)


def cell_metrics(scores: Sequence[float], gains: Sequence[float]) -> dict[str, float]:
    rho, tau = rank_agreement(scores, gains)
    return {"rho": rho, "tau": tau, "top1": top1_hit(scores, gains), "regret": relative_regret(scores, gains)}


def random_metrics(gains: Sequence[float], rng: np.random.Generator | None = None) -> dict[str, float]:
    """A uniformly random order's expected metrics: exact over all orders (m! ≤ 8!), else 10,000 draws."""
    g = np.asarray(gains, dtype=float)
    m = len(g)
    if math.factorial(m) <= EXACT_LIMIT:
        orders: Any = (np.array(p, dtype=float) for p in itertools.permutations(range(m)))
    else:
        rng = rng or np.random.default_rng(0)
        orders = (rng.permutation(m).astype(float) for _ in range(RANDOM_DRAWS))
    taus, rhos = [], []
    for order in orders:
        rho, tau = rank_agreement(order, g)
        rhos.append(rho)
        taus.append(tau)
    best = g.max()
    regret = float(np.mean((best - g) / best)) if best > 0 else math.nan
    return {"rho": float(np.nanmean(rhos)) if np.ptp(g) > 0 else math.nan,
            "tau": float(np.nanmean(taus)) if np.ptp(g) > 0 else math.nan,
            "top1": float(np.mean(g >= best)), "regret": regret}


def noise_ceiling(seed_gains: np.ndarray) -> list[dict[str, float]]:
    """Per seed: its own gains (S, Y) row scored against the mean of the other seeds' rows."""
    seed_gains = np.asarray(seed_gains, dtype=float)
    if seed_gains.ndim != 2 or seed_gains.shape[0] < 2:
        raise MetricError(f"the noise ceiling needs gains of 2+ seeds (seeds, sources), got shape {seed_gains.shape}")
    total = seed_gains.sum(axis=0)
    rest = len(seed_gains) - 1
    return [cell_metrics(row, (total - row) / rest) for row in seed_gains]


def bootstrap_interval(values: np.ndarray, resamples: int, confidence: float,
                       rng: np.random.Generator) -> tuple[float, float, float]:
    """(mean, low, high) of ``values`` (targets, seeds): the percentile bootstrap resampling
    targets with replacement and, within each, seeds with replacement. NaN entries (a
    metric undefined there) are left out of every mean."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.size == 0:
        raise MetricError(f"need a (targets, seeds) array, got shape {values.shape}")
    if np.all(np.isnan(values)):
        return math.nan, math.nan, math.nan
    n_targets, n_seeds = values.shape
    targets = rng.integers(0, n_targets, size=(resamples, n_targets))
    seeds = rng.integers(0, n_seeds, size=(resamples, n_targets, n_seeds))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(values[targets[:, :, None], seeds].reshape(resamples, -1), axis=1)
    tail = (1 - confidence) / 2
    low, high = np.nanquantile(means, [tail, 1 - tail])
    return float(np.nanmean(values)), float(low), float(high)


# --- tables from the jobs' records ----------------------------------------------------------


def gains_frame(ground_truth: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (target, source, protocol, n, seed): accuracy, scratch's accuracy and the gain."""
    rows = [{"target": record["target"], **run} for record in ground_truth for run in record["records"]]
    return gains_from_runs(pd.DataFrame(rows))


def gains_from_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The transfer rows of a runs table (scratch rows, and v2's rows of B(Y)'s own accuracy, left
    out), each with scratch's accuracy of the same target, n and seed and the gain over it."""
    scratch = frame[frame["protocol"] == SCRATCH].set_index(["target", "n", "seed"])["accuracy"]
    transfers = frame[~frame["protocol"].isin([SCRATCH, "base"])].copy()
    key = pd.MultiIndex.from_frame(transfers[["target", "n", "seed"]])
    if not key.isin(scratch.index).all():
        raise MetricError("a transfer has no scratch run with the same target, n and seed")
    transfers["scratch_accuracy"] = scratch.reindex(key).to_numpy()
    transfers["gain"] = transfers["accuracy"] - transfers["scratch_accuracy"]
    return transfers.reset_index(drop=True)


def scores_frame(estimates: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"target": record["target"], **row} for record in estimates for row in record["scores"]])


def timings_frame(estimates: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"target": record["target"], **row} for record in estimates for row in record["timings"]])


def check_draws(ground_truth: Sequence[Mapping[str, Any]], estimates: Sequence[Mapping[str, Any]]) -> None:
    """The ground truth and the estimators saw the same n samples of every (X, n, s)."""
    drawn = {record["target"]: record["draws"] for record in ground_truth}
    for record in estimates:
        if drawn.get(record["target"]) != record["draws"]:
            raise MetricError(f"target {record['target']}: the estimators' n-sample draws differ from the ground truth's")


def metrics_frame(gains: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Per (estimator, protocol, n, target, seed): ρ, τ, top-1, regret against the 5-seed mean ḡ;
    random (in expectation) and the noise ceiling beside the estimators."""
    rows = []
    reference = gains.groupby(["protocol", "n", "target", "source"])["gain"].mean()
    for (protocol, n, target), part in gains.groupby(["protocol", "n", "target"], sort=False):
        sources = sorted(part["source"].unique())
        mean_gain = reference.loc[(protocol, n, target)].reindex(sources).to_numpy()
        seeds = sorted(part["seed"].unique())
        per_seed = part.pivot(index="seed", columns="source", values="gain").reindex(index=seeds, columns=sources)
        chance = random_metrics(mean_gain)
        for s, ceiling in zip(seeds, noise_ceiling(per_seed.to_numpy())):
            base = {"protocol": protocol, "n": n, "target": target, "seed": s}
            rows.append({**base, "estimator": RANDOM, **chance})
            rows.append({**base, "estimator": CEILING, **ceiling})
        target_scores = scores[(scores["target"] == target) & (scores["n"] == n)]
        for (estimator, s), cell in target_scores.groupby(["estimator", "seed"], sort=False):
            values = cell.set_index("source")["score"]
            if set(values.index) != set(sources):
                raise MetricError(f"{estimator} on X={target}, n={n}, seed {s}: scores for {sorted(values.index)}, "
                                  f"ground truth for {sources}")
            rows.append({"protocol": protocol, "n": n, "target": target, "seed": s, "estimator": estimator,
                         **cell_metrics(values.reindex(sources).to_numpy(), mean_gain)})
    return pd.DataFrame(rows)


def estimator_order(estimators: Sequence[str]) -> list[str]:
    known = [e for e in KINDS if e in set(estimators)]
    return known + sorted(set(estimators) - set(known))


def summary_table(metrics: pd.DataFrame, views: Mapping[str, Sequence[str]], timings: pd.DataFrame,
                  resamples: int, confidence: float, seed: int) -> pd.DataFrame:
    """Per (view, protocol, n, estimator): each metric's mean over targets and seeds with its
    bootstrap interval, the chance level (random's mean), the targets regret leaves out,
    and the median time to score all candidates per (X, s)."""
    rng = np.random.default_rng(seed)
    rows = []
    for view, targets in views.items():
        part = metrics[metrics["target"].isin(targets)]
        for (protocol, n), cell in part.groupby(["protocol", "n"], sort=False):
            chance = cell[cell["estimator"] == RANDOM][list(METRICS)].mean()
            for estimator in estimator_order(cell["estimator"].unique()):
                rows_of = cell[cell["estimator"] == estimator]
                row: dict[str, Any] = {"view": view, "protocol": protocol, "n": n, "estimator": estimator,
                                       "kind": KINDS.get(estimator, ""), "targets": rows_of["target"].nunique()}
                for metric in METRICS:
                    grid = rows_of.pivot(index="target", columns="seed", values=metric).to_numpy(dtype=float)
                    mean, low, high = bootstrap_interval(grid, resamples, confidence, rng)
                    row.update({metric: mean, f"{metric}_low": low, f"{metric}_high": high,
                                f"{metric}_chance": float(chance[metric])})
                row["regret_excluded"] = int(rows_of.groupby("target")["regret"].apply(lambda v: v.isna().all()).sum())
                times = timings[(timings["estimator"] == estimator) & (timings["n"] == n)
                                & timings["target"].isin(targets)]["seconds"]
                row["seconds"] = float(times.median()) if len(times) else math.nan
                rows.append(row)
    return pd.DataFrame(rows)


def per_target_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (protocol, n, target, estimator): the metrics' means over seeds."""
    table = metrics.groupby(["protocol", "n", "target", "estimator"], sort=False)[list(METRICS)].mean()
    return table.reset_index()


def ground_truth_table(gains: pd.DataFrame) -> pd.DataFrame:
    """Per (protocol, n, target, source): mean and sd over seeds of accuracy and gain, scratch's mean
    accuracy, and the share of runs that stopped at a cap."""
    grouped = gains.groupby(["protocol", "n", "target", "source"], sort=False)
    table = grouped.agg(accuracy=("accuracy", "mean"), accuracy_sd=("accuracy", "std"), gain=("gain", "mean"),
                        gain_sd=("gain", "std"), scratch_accuracy=("scratch_accuracy", "mean"),
                        cap_hit_share=("cap_hit", "mean"), epochs=("epochs", "median"), seeds=("seed", "nunique"))
    return table.reset_index()


def cap_table(ground_truth: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Share of runs that stopped at their cap (epochs; L-BFGS iterations for the probe), per protocol and n."""
    runs = pd.DataFrame([run for record in ground_truth for run in record["records"]])
    table = runs.groupby(["protocol", "n"]).agg(runs=("cap_hit", "size"), cap_hit_share=("cap_hit", "mean"),
                                                median_epochs=("epochs", "median"))
    return table.reset_index()


# --- Markdown -----------------------------------------------------------------------------------


def _interval(row: Mapping[str, Any], metric: str) -> str:
    if pd.isna(row[metric]):
        return "–"
    return f"{row[metric]:.2f} [{row[f'{metric}_low']:.2f}, {row[f'{metric}_high']:.2f}]"


def summary_markdown(summary: pd.DataFrame, confidence: float, resamples: int) -> str:
    """One table per (view, protocol, n): estimator × metric, mean [interval], chance stated."""
    parts = []
    for (view, protocol, n), cell in summary.groupby(["view", "protocol", "n"], sort=False):
        first = cell.iloc[0]
        parts.append(f"### View {view}, {PROTOCOL_NAMES.get(protocol, protocol)}, n = {n}\n\n")
        header = ["estimator", "kind", *(METRIC_NAMES[m] for m in METRICS), "time per target (s)"]
        rows = [[r["estimator"], r["kind"], *(_interval(r, m) for m in METRICS),
                 "–" if pd.isna(r["seconds"]) else f"{r['seconds']:.4f}"] for _, r in cell.iterrows()]
        parts.append(markdown_table(header, rows))
        chance = ", ".join(f"{METRIC_NAMES[m]} {first[f'{m}_chance']:.3f}" for m in METRICS)
        parts.append(f"\nChance (random order, in expectation): {chance}. Targets: {int(first['targets'])}; "
                     f"regret leaves out {int(first['regret_excluded'])} where no source beats scratch. "
                     f"Order by mean τ: {' > '.join(by_tau(cell))}.\n\n")
    note = (f"Mean over targets and seeds; [{confidence:.0%} percentile bootstrap, {resamples} resamples of targets "
            "and, within each, seeds]. Time: median over (X, seed) of the wall time to score all candidates, "
            "feature extraction included, one CPU thread.\n")
    return "".join(parts) + note


PROTOCOL_NAMES = {"probe": "linear probe", "finetune": "full fine-tune"}


def by_tau(cell: pd.DataFrame) -> list[str]:
    """Estimators of one cell ordered by mean weighted τ, highest first (the noise ceiling left out)."""
    rows = cell[cell["estimator"] != CEILING].sort_values("tau", ascending=False, kind="stable")
    return list(rows["estimator"])


def stability(summary: pd.DataFrame, view: str, headline: tuple[str, int]) -> pd.DataFrame:
    """Kendall's τ between the headline cell's order of estimators by mean τ and each other cell's."""
    from scipy.stats import kendalltau

    part = summary[summary["view"] == view]
    reference = part[(part["protocol"] == headline[0]) & (part["n"] == headline[1])].set_index("estimator")["tau"]
    rows = []
    for (protocol, n), cell in part.groupby(["protocol", "n"], sort=False):
        other = cell.set_index("estimator")["tau"].reindex(reference.index)
        keep = reference.notna() & other.notna() & (reference.index != CEILING)
        rows.append({"protocol": protocol, "n": n, "order_tau": float(kendalltau(reference[keep], other[keep]).statistic),
                     "order": " > ".join(by_tau(cell))})
    return pd.DataFrame(rows)


def targets_check(summary: pd.DataFrame, view: str, headline: tuple[str, int], simex: str = "SimEx-iSSIM",
                  static: str = "static", reference: str = "LogME") -> list[dict[str, Any]]:
    """The protocol's three targets, judged in the headline cell: met or missed, with the figures."""
    cell = summary[(summary["view"] == view) & (summary["protocol"] == headline[0])
                   & (summary["n"] == headline[1])].set_index("estimator")
    if simex not in cell.index:
        raise MetricError(f"{simex} is not in the headline cell")
    row = cell.loc[simex]
    tau_gap = float(row["tau"] - cell.loc[static, "tau"]) if static in cell.index else math.nan
    time_ratio = float(row["seconds"] / cell.loc[reference, "seconds"]) if reference in cell.index else math.nan
    return [
        {"target": "top-1 hit ≥ 0.6 and mean relative regret ≤ 0.1",
         "measured": f"top-1 {row['top1']:.2f}, regret {row['regret']:.2f}",
         "met": bool(row["top1"] >= 0.6 and row["regret"] <= 0.1)},
        {"target": f"weighted τ at least 0.1 above {static}'s",
         "measured": f"τ {row['tau']:.2f} vs {cell.loc[static, 'tau']:.2f} ({tau_gap:+.2f})" if static in cell.index else "–",
         "met": bool(tau_gap >= 0.1)},
        {"target": f"time per target at most 0.1 × {reference}'s",
         "measured": f"{row['seconds']:.4f} s vs {cell.loc[reference, 'seconds']:.4f} s ({time_ratio:.3f}×)"
         if reference in cell.index else "–",
         "met": bool(time_ratio <= 0.1)},
    ]


def per_target_markdown(per_target: pd.DataFrame, headline: tuple[str, int]) -> str:
    """The headline cell per target: weighted τ (top-1 hit, regret) of every estimator."""
    part = per_target[(per_target["protocol"] == headline[0]) & (per_target["n"] == headline[1])]
    targets = list(dict.fromkeys(part["target"]))
    rows = []
    for estimator in estimator_order(part["estimator"].unique()):
        mine = part[part["estimator"] == estimator].set_index("target")
        rows.append([estimator, *(_target_cell(mine.loc[t]) if t in mine.index else "–" for t in targets)])
    title = (f"Per target X, {PROTOCOL_NAMES.get(headline[0], headline[0])}, n = {headline[1]}: weighted τ "
             "(top-1 hit, relative regret), means over seeds")
    return markdown_document(title, markdown_table(["estimator", *targets], rows), legend_lines(targets))


def _target_cell(row: pd.Series) -> str:
    def fmt(value: float) -> str:
        return "–" if pd.isna(value) else f"{value:.2f}"

    return f"{fmt(row['tau'])} ({fmt(row['top1'])}, {fmt(row['regret'])})"


def ground_truth_markdown(table: pd.DataFrame, caps: pd.DataFrame) -> str:
    """Per (protocol, n): the mean gain matrix (rows source Y, columns target X) with scratch's accuracy,
    then the raw accuracies, then the cap-hit shares."""
    parts = []
    for (protocol, n), cell in table.groupby(["protocol", "n"], sort=False):
        targets = list(dict.fromkeys(cell["target"]))
        sources = [t for t in targets if t in set(cell["source"])] + sorted(set(cell["source"]) - set(targets))
        for value, title in (("gain", "gain over scratch"), ("accuracy", "raw accuracy")):
            matrix = cell.pivot(index="source", columns="target", values=value).reindex(index=sources, columns=targets)
            parts.append(f"### {PROTOCOL_NAMES.get(protocol, protocol)}, n = {n}: {title} "
                         f"(mean over seeds; rows B(Y), columns X)\n\n")
            rows = [[y, *("" if pd.isna(v) else f"{v:+.3f}" if value == "gain" else f"{v:.3f}" for v in matrix.loc[y])]
                    for y in sources]
            scratch = cell.groupby("target")["scratch_accuracy"].first().reindex(targets)
            rows.append(["scratch", *(f"{v:.3f}" for v in scratch)])
            parts.append(markdown_table(["Y \\ X", *targets], rows) + "\n")
    parts.append("### Runs that stopped at their cap (epochs; L-BFGS iterations for the probe)\n\n")
    parts.append(markdown_table(["protocol", "n", "runs", "cap-hit share", "median epochs/iterations"],
                                [[r["protocol"], r["n"], r["runs"], f"{r['cap_hit_share']:.3f}", f"{r['median_epochs']:.0f}"]
                                 for _, r in caps.iterrows()]))
    legend = legend_lines(table["target"].unique())
    if legend:
        parts.append("\n" + "  \n".join(legend) + "\n")
    failing = caps[caps["cap_hit_share"] > 0.5]
    if len(failing):
        parts.append("\n**Protocol failure**: more than half the runs hit their cap in "
                     + ", ".join(f"{r['protocol']} n = {r['n']}" for _, r in failing.iterrows()) + ".\n")
    return "".join(parts)


def views_of(targets: Sequence[str], unseen: Sequence[str]) -> dict[str, list[str]]:
    """View *all* (every target) and, when the config names some, view *unseen*."""
    missing = sorted(set(unseen) - set(targets))
    if missing:
        raise MetricError(f"unseen targets {missing} are not among the benchmark's datasets {list(targets)}")
    views = {"all": list(targets)}
    if unseen:
        views["unseen"] = [t for t in targets if t in set(unseen)]
    return views



def results_readme(summary: pd.DataFrame, headline: tuple[str, int], view: str, command: str, output: str,
                   job_times: Mapping[str, tuple[float, float]], confidence: float, resamples: int) -> str:
    """docs/benchmark/README.md: the command, the headline cell, the targets met or missed, stability."""
    cell = summary[(summary["view"] == view) & (summary["protocol"] == headline[0]) & (summary["n"] == headline[1])]
    simex = cell.set_index("estimator").loc["SimEx-iSSIM"]
    lines = [
        "# Source-selection benchmark: results", "",
        "Protocol: [PROTOCOL.md](PROTOCOL.md) (registered before any result; what changed since is listed in its "
        "Deviations section). Made by:", "",
        f"    {command}", "",
        f"**Headline** (SimEx-iSSIM, {PROTOCOL_NAMES.get(headline[0], headline[0])}, n = {headline[1]}, view {view}): "
        f"mean weighted τ {_interval(simex, 'tau')}, top-1 hit {_interval(simex, 'top1')}, "
        f"relative regret {_interval(simex, 'regret')}.", "",
        "## The headline cell, every estimator", "",
        markdown_table(["estimator", "kind", "weighted τ", "top-1 hit", "relative regret", "time per target (s)"],
                       [[r["estimator"], r["kind"], _interval(r, "tau"), _interval(r, "top1"), _interval(r, "regret"),
                         "–" if pd.isna(r["seconds"]) else f"{r['seconds']:.4f}"] for _, r in cell.iterrows()]),
        "## Targets (issue 19), judged in the headline cell", "",
        markdown_table(["target", "measured", "met"],
                       [[t["target"], t["measured"], "met" if t["met"] else "**missed**"]
                        for t in targets_check(summary, view, headline)]),
        "## Stability: the order of estimators by mean τ in every cell", "",
    ]
    for view_name in dict.fromkeys(summary["view"]):
        table = stability(summary, view_name, headline)
        lines += [f"View {view_name} (Kendall τ of each cell's order against the headline cell's):", "",
                  markdown_table(["protocol", "n", "τ vs headline order", "order (highest τ first)"],
                                 [[r["protocol"], r["n"], f"{r['order_tau']:.2f}", r["order"]] for _, r in table.iterrows()])]
    lines += ["## Details the protocol leaves open, as implemented (fixed in code before any result)", "",
              "- Ties: where several sources share the top score, top-1 hit and regret are their means over the tied "
              "picks (a random tie-break, in expectation); a pick is a hit when its ḡ equals the largest.",
              "- Relative regret can exceed 1 where the pick's mean gain is negative (worse than scratch).",
              "- sample-MSE: the mean pairwise squared pixel distance, computed exactly from Y's pixel mean and mean "
              "squared norm; sample-MSE and embeddings compare X with the split A(Y) learnt (`train.npz`), Fréchet and "
              "OTDD with the split B(Y) learnt (the ten-class classifier train split).",
              "- Timing: each estimator extracts its own features (no sharing between estimators); A(Y)'s fused "
              "fleet, B(Y) and Y's statistics are the zoo, built before the clock starts; one warm-up call per "
              "estimator and target.",
              "- Fine-tune and scratch: the stratified hold-out is the last 20 % of each class in the draw's order; "
              "the probe's L-BFGS is scipy's (gradient tolerance `benchmark.probe.tol`), started from zero.", ""]
    lines += ["## Files", "",
              "- `estimators.md` / `estimators.csv`: estimator × metric with intervals, every (view, protocol, n) cell",
              "- `per_target.md` / `per_target.csv`: every metric per target (means over seeds)",
              "- `ground_truth.md` / `ground_truth.csv`: raw accuracies, gains over scratch, cap-hit shares",
              "- `metrics.csv`: every (estimator, protocol, n, target, seed); `timings.csv`: every timed call",
              "- `benchmark.png`: weighted τ per estimator and cell", "- `jobs.log`: the per-target jobs' logs",
              f"- `run.log`: the run's Snakemake log (`{command} 2>&1 | tee {output}/run.log`)", "",
              f"Intervals: {confidence:.0%} percentile bootstrap, {resamples} resamples of targets and, within each, seeds.",
              "", "Time of the per-target jobs (Snakemake benchmark files, seconds; CPU time counts only this job's "
              "work, as Snakemake samples it, every 30 s after the first 30 s; wall time also counts any wait for a "
              "core shared with other work):", "",
              markdown_table(["job", "wall (s)", "CPU (s)"],
                             [[name, f"{wall:.0f}", f"{cpu:.0f}"] for name, (wall, cpu) in job_times.items()])]
    return "\n".join(lines)
