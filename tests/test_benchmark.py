"""The source-selection benchmark (simex.experiments.benchmark, simex.experiments.benchmark_metrics): known answers for its
pieces, and one end-to-end run of the `benchmark` target on a tiny configuration."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy.stats import weightedtau

from simex.experiments.benchmark import (ESTIMATORS, BenchmarkError, GroundTruthSettings, draw_seed, fit_probe,
                             mean_pairwise_squared_distance, sample_draw, target_ground_truth)
from simex.experiments.benchmark_metrics import (CEILING, RANDOM, MetricError, bootstrap_interval, cell_metrics, check_draws,
                                     gains_frame, metrics_frame, noise_ceiling, random_metrics, rank_agreement,
                                     relative_regret, summary_table, targets_check, top1_hit, views_of)
from simex.config import Probe, Training
from simex.models.networks import LeNet5Classifier
from simex.experiments.transfer import TransferError, stratified_holdout

# --- metrics on hand-made scores and gains -----------------------------------------------------


def test_top1_hit_is_one_when_the_top_score_has_the_largest_gain():
    assert top1_hit([3, 1, 2], [0.5, 0.1, 0.2]) == 1.0
    assert top1_hit([1, 3, 2], [0.5, 0.1, 0.2]) == 0.0


def test_top1_hit_averages_over_tied_top_scores_and_counts_tied_best_gains():
    assert top1_hit([2, 2, 0], [0.5, 0.1, 0.0]) == 0.5  # a random tie-break, in expectation
    assert top1_hit([0, 1, 0], [0.3, 0.3, 0.1]) == 1.0  # the pick shares the largest gain


def test_relative_regret_is_the_lost_share_of_the_best_gain():
    assert relative_regret([0, 0, 1], [0.4, 0.1, 0.2]) == pytest.approx(0.5)
    assert relative_regret([1, 0, 0], [0.4, 0.1, 0.2]) == 0.0
    # a pick worse than scratch loses more than the whole best gain
    assert relative_regret([0, 1, 0], [0.4, -0.2, 0.2]) == pytest.approx(1.5)


def test_relative_regret_excludes_targets_where_no_source_beats_scratch():
    assert math.isnan(relative_regret([1, 0, 0], [0.0, -0.1, -0.2]))
    assert math.isnan(relative_regret([1, 0, 0], [-0.05, -0.1, -0.2]))


def test_weighted_tau_and_rho_have_the_sign_of_the_agreement():
    gains = [0.4, 0.3, 0.1, -0.1, 0.2]
    assert rank_agreement(gains, gains) == pytest.approx((1.0, 1.0))
    assert rank_agreement([-g for g in gains], gains) == pytest.approx((-1.0, -1.0))
    # a distance (lower = closer) is negated into a score before it is compared
    rho, tau = rank_agreement([-d for d in [1.0, 2.0, 4.0, 5.0, 3.0]], gains)
    assert rho == pytest.approx(1.0) and tau == pytest.approx(1.0)


def test_weighted_tau_weighs_the_top_of_the_ranking_more():
    gains = [5, 4, 3, 2, 1]
    top_swapped = [4, 5, 3, 2, 1]
    bottom_swapped = [5, 4, 3, 1, 2]
    assert rank_agreement(top_swapped, gains)[1] < rank_agreement(bottom_swapped, gains)[1] < 1


def test_constant_scores_leave_rank_agreement_undefined():
    rho, tau = rank_agreement([1, 1, 1], [0.3, 0.2, 0.1])
    assert math.isnan(rho) and math.isnan(tau)
    assert cell_metrics([1, 1, 1], [0.3, 0.2, 0.1])["top1"] == pytest.approx(1 / 3)


def test_random_metrics_are_the_exact_expectation_over_every_order():
    gains = np.array([0.3, 0.2, 0.1, 0.25])
    result = random_metrics(gains)
    taus = [weightedtau(np.array(p, dtype=float), gains).statistic for p in itertools.permutations(range(4))]
    assert result["tau"] == pytest.approx(np.mean(taus))
    assert result["rho"] == pytest.approx(0.0, abs=1e-12)
    assert result["top1"] == pytest.approx(1 / 4)
    assert result["regret"] == pytest.approx(np.mean((0.3 - gains) / 0.3))


def test_noise_ceiling_scores_each_seed_against_the_mean_of_the_others():
    same = np.tile([0.3, 0.1, 0.2], (5, 1))
    for row in noise_ceiling(same):
        assert row["tau"] == pytest.approx(1.0) and row["top1"] == 1.0 and row["regret"] == 0.0
    two = np.array([[0.3, 0.1, 0.2], [0.1, 0.3, 0.2]])  # each seed against the other: reversed best
    first, second = noise_ceiling(two)
    assert first["top1"] == 0.0 and second["top1"] == 0.0
    assert first["regret"] == pytest.approx((0.3 - 0.1) / 0.3)
    assert first["rho"] == pytest.approx(-1.0)
    with pytest.raises(MetricError, match="2\\+ seeds"):
        noise_ceiling(np.array([[0.1, 0.2]]))


def test_bootstrap_of_a_constant_is_that_constant():
    mean, low, high = bootstrap_interval(np.full((8, 5), 0.25), 500, 0.95, np.random.default_rng(0))
    assert (mean, low, high) == pytest.approx((0.25, 0.25, 0.25))


def test_bootstrap_interval_brackets_the_mean_and_skips_undefined_entries():
    rng = np.random.default_rng(1)
    values = rng.normal(0.5, 0.1, size=(8, 5))
    values[2] = np.nan  # a target excluded from regret
    mean, low, high = bootstrap_interval(values, 2000, 0.95, np.random.default_rng(0))
    assert mean == pytest.approx(np.nanmean(values))
    assert low < mean < high and high - low < 0.2
    assert all(map(math.isnan, bootstrap_interval(np.full((3, 2), np.nan), 10, 0.95, rng)))
    with pytest.raises(MetricError, match="targets, seeds"):
        bootstrap_interval(np.zeros(5), 10, 0.95, rng)


def test_bootstrap_resamples_targets_and_seeds_within_targets():
    """Between-target spread dominates the interval when seeds within a target agree."""
    values = np.repeat(np.array([[0.0], [1.0]]), 5, axis=1)  # target 0 all 0, target 1 all 1
    _, low, high = bootstrap_interval(values, 4000, 0.95, np.random.default_rng(0))
    assert low == 0.0 and high == 1.0  # a resample of two copies of one target


# --- the n-sample draw and the hold-out -------------------------------------------------------------


def test_sample_draw_is_stratified_seeded_and_sorted():
    labels = np.repeat(np.arange(10), 30)[np.random.default_rng(0).permutation(300)]
    index = sample_draw(labels, 7, seed=3)
    assert np.array_equal(np.bincount(labels[index], minlength=10), np.full(10, 7))
    assert np.array_equal(index, np.sort(index)) and len(set(index)) == 70
    assert np.array_equal(index, sample_draw(labels, 7, seed=3))
    assert not np.array_equal(index, sample_draw(labels, 7, seed=4))
    with pytest.raises(BenchmarkError, match="fewer than the 31"):
        sample_draw(labels, 31, seed=3)


def test_each_target_n_and_seed_has_its_own_draw_seed():
    seeds = {draw_seed(7, s, x, n) for s in range(5) for x in ("M", "F") for n in (10, 100)}
    assert len(seeds) == 20
    assert draw_seed(7, 1, "M", 10) == draw_seed(7, 1, "M", 10)


def test_stratified_holdout_keeps_the_last_fifth_of_each_class():
    labels = np.repeat(np.arange(10), 10)
    train, validation = stratified_holdout(labels, 0.2)
    assert np.array_equal(np.bincount(labels[validation]), np.full(10, 2))
    assert np.array_equal(np.bincount(labels[train]), np.full(10, 8))
    assert set(validation) == {i * 10 + j for i in range(10) for j in (8, 9)}
    with pytest.raises(TransferError, match="at least one on each side"):
        stratified_holdout(np.repeat(np.arange(10), 2), 0.2)


# --- ground truth and estimator pieces -----------------------------------------------------------


def test_linear_probe_separates_separable_features_and_reports_its_cap():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 10)
    centres = rng.normal(0, 5, size=(10, 84))
    values = centres[labels] + rng.normal(0, 0.5, size=(100, 84))
    fit = fit_probe(values, labels, Probe(C=1.0, max_iter=5000, tol=1e-4))
    assert not fit.cap_hit
    assert (fit.predict(values) == labels).mean() == 1.0
    capped = fit_probe(values, labels, Probe(C=1.0, max_iter=2, tol=1e-12))
    assert capped.cap_hit and capped.iterations == 2


def test_mean_pairwise_squared_distance_matches_the_pairs():
    rng = np.random.default_rng(0)
    a, b = rng.random((6, 5)), rng.random((9, 5))
    brute = np.mean([((x - y) ** 2).sum() for x in a for y in b])
    assert mean_pairwise_squared_distance(a, b.mean(axis=0), float((b**2).sum(axis=1).mean())) == pytest.approx(brute)


STAGE = Training(optimizer="rmsprop", lr=1e-3, epochs=2, batch_size=8, patience=1, validation_fraction=0.2, steps=None)


def test_ground_truth_records_every_source_protocol_n_and_seed_with_shared_draws():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 6)
    train = (rng.integers(0, 255, size=(60, 28, 28), dtype=np.uint8), labels)
    test = (rng.integers(0, 255, size=(20, 28, 28), dtype=np.uint8), np.repeat(np.arange(10), 2))
    bases = {"A": [LeNet5Classifier().eval() for _ in range(2)], "B": [LeNet5Classifier().eval() for _ in range(2)]}
    before = {k: v.clone() for k, v in bases["A"][0].state_dict().items()}
    settings = GroundTruthSettings(seed=5, replicates=2, samples_per_class=(3, 5), finetune=STAGE, scratch=STAGE,
                                   probe=Probe(1.0, 100, 1e-4))
    record = target_ground_truth("X", train, test, bases, settings, torch.device("cpu"))
    runs = pd.DataFrame(record["records"])
    assert len(runs) == 2 * 2 * (1 + 2 * 2)  # n x seeds x (scratch + sources x protocols)
    assert set(runs["protocol"]) == {"scratch", "probe", "finetune"}
    assert runs["accuracy"].between(0, 1).all()
    assert record["draws"]["3"]["1"] == sample_draw(labels, 3, draw_seed(5, 1, "X", 3)).tolist()
    assert all(torch.equal(before[k], v) for k, v in bases["A"][0].state_dict().items())  # B(Y) left untouched
    with pytest.raises(BenchmarkError, match="its own candidate"):
        target_ground_truth("A", train, test, bases, settings, torch.device("cpu"))


def test_finetune_keeps_the_base_layers_and_reinitialises_only_the_last_one():
    """At a vanishing learning rate the fine-tuned copy is B(Y) with a fresh 84→10 layer."""
    from simex.experiments.benchmark import finetune
    from simex.experiments.transfer import stage_settings

    torch.manual_seed(0)
    base = LeNet5Classifier().eval()
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 255, size=(30, 28, 28), dtype=np.uint8), np.repeat(np.arange(10), 3)
    still = Training(optimizer="rmsprop", lr=1e-30, epochs=1, batch_size=8, patience=1, validation_fraction=0.2,
                     steps=None)
    model, _ = finetune(base, images, labels, stage_settings(still, 3), torch.device("cpu"))
    for (name, kept), original in zip(model.state_dict().items(), base.state_dict().values()):
        if name.startswith("classifier.4"):
            assert not torch.allclose(kept, original)
        else:
            assert torch.allclose(kept, original, atol=1e-6), name


def _records() -> tuple[list[dict], pd.DataFrame]:
    """Two targets, three sources, two seeds: gains of source S1 > S2 > S3 on target T1, reversed on T2."""
    ground_truth, scores = [], []
    order = {"T1": [0.5, 0.3, 0.1], "T2": [0.1, 0.3, 0.5]}
    for target, gains in order.items():
        runs = []
        for seed in (0, 1):
            runs.append({"source": "", "protocol": "scratch", "n": 10, "seed": seed, "accuracy": 0.2, "epochs": 5,
                         "cap_hit": False})
            for source, gain in zip(("S1", "S2", "S3"), gains):
                runs.append({"source": source, "protocol": "finetune", "n": 10, "seed": seed, "accuracy": 0.2 + gain,
                             "epochs": 5, "cap_hit": False})
                # "oracle" scores by the gain, "anti" against it
                scores += [{"target": target, "estimator": "oracle", "n": 10, "seed": seed, "source": source, "score": gain},
                           {"target": target, "estimator": "anti", "n": 10, "seed": seed, "source": source, "score": -gain}]
        ground_truth.append({"target": target, "draws": {}, "records": runs})
    return ground_truth, pd.DataFrame(scores)


def test_metrics_frame_scores_an_oracle_and_its_reverse():
    ground_truth, scores = _records()
    gains = gains_frame(ground_truth)
    assert gains["gain"].round(6).isin([0.1, 0.3, 0.5]).all()
    metrics = metrics_frame(gains, scores)
    oracle = metrics[metrics["estimator"] == "oracle"]
    anti = metrics[metrics["estimator"] == "anti"]
    assert oracle[["rho", "tau", "top1"]].to_numpy() == pytest.approx(np.ones((4, 3)))
    assert (oracle["regret"] == 0).all()
    assert anti[["rho", "tau"]].to_numpy() == pytest.approx(-np.ones((4, 2))) and (anti["top1"] == 0).all()
    assert anti["regret"].to_numpy() == pytest.approx(np.full(4, 0.8))
    assert set(metrics["estimator"]) == {"oracle", "anti", RANDOM, CEILING}
    timings = pd.DataFrame({"target": ["T1"], "estimator": ["oracle"], "n": [10], "seed": [0], "seconds": [0.5]})
    summary = summary_table(metrics, {"all": ["T1", "T2"]}, timings, 200, 0.95, 0)
    row = summary.set_index("estimator").loc["oracle"]
    assert (row["tau"], row["tau_low"], row["tau_high"], row["seconds"]) == pytest.approx((1.0, 1.0, 1.0, 0.5))
    assert row["top1_chance"] == pytest.approx(1 / 3)


def test_targets_check_judges_the_three_targets():
    summary = pd.DataFrame([
        {"view": "all", "protocol": "finetune", "n": 10, "estimator": "SimEx-iSSIM", "tau": 0.5, "top1": 0.7,
         "regret": 0.05, "seconds": 0.01},
        {"view": "all", "protocol": "finetune", "n": 10, "estimator": "static", "tau": 0.45, "top1": 0.5,
         "regret": 0.1, "seconds": 0.0},
        {"view": "all", "protocol": "finetune", "n": 10, "estimator": "LogME", "tau": 0.2, "top1": 0.4,
         "regret": 0.2, "seconds": 0.2},
    ])
    met = [t["met"] for t in targets_check(summary, "all", ("finetune", 10))]
    assert met == [True, False, True]  # τ only 0.05 above static


def test_check_draws_and_views_name_the_problem():
    with pytest.raises(MetricError, match="target M: the estimators' n-sample draws differ"):
        check_draws([{"target": "M", "draws": {"10": {"0": [1, 2]}}}], [{"target": "M", "draws": {"10": {"0": [1, 3]}}}])
    assert views_of(["M", "F", "BR"], ["BR"]) == {"all": ["M", "F", "BR"], "unseen": ["BR"]}
    assert views_of(["M", "F"], []) == {"all": ["M", "F"]}
    with pytest.raises(MetricError, match="unseen targets \\['D'\\]"):
        views_of(["M", "F"], ["D"])


# --- end to end -------------------------------------------------------------------------------------------

TINY_BENCHMARK = {
    "datasets": ["M", "E", "F"],
    "benchmark": {
        "results": "results/benchmark", "output": "out", "seeds": 2, "samples_per_class": [3, 5], "unseen": ["F"],
        "base": {"optimizer": "rmsprop", "lr": 0.001, "epochs": 3, "batch_size": 8, "patience": 2, "validation_fraction": 0.2},
        "finetune": {"optimizer": "rmsprop", "lr": 0.0001, "epochs": 3, "batch_size": 8, "patience": 2,
                     "validation_fraction": 0.2},
        "scratch": {"optimizer": "rmsprop", "lr": 0.001, "epochs": 3, "batch_size": 8, "patience": 2,
                    "validation_fraction": 0.2},
        "bootstrap": 200, "headline": {"protocol": "finetune", "samples_per_class": 3},
    },
}


@pytest.mark.e2e
def test_tiny_benchmark_end_to_end(workflow_copy: Path):
    """The `benchmark` target on 3 datasets, 2 seeds, n = 3 and 5, few epochs (a few minutes)."""
    import shutil

    from tests.conftest import DOWNLOAD_CACHE, deep_merge, snakemake, tiny_config

    (workflow_copy / "bench.yaml").write_text(yaml.safe_dump(deep_merge(tiny_config(), TINY_BENCHMARK)))
    if DOWNLOAD_CACHE.is_dir():
        shutil.copytree(DOWNLOAD_CACHE, workflow_copy / "results" / "downloads", dirs_exist_ok=True)
    result = snakemake(workflow_copy, "benchmark", configfile="bench.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    out = workflow_copy / "out"
    summary = pd.read_csv(out / "estimators.csv")
    cells = summary.groupby(["view", "protocol", "n"])
    assert len(cells) == 2 * 2 * 2  # views x protocols x n
    for _, cell in cells:
        assert set(cell["estimator"]) == {*ESTIMATORS, RANDOM, CEILING}
    for metric in ("rho", "tau"):
        assert summary[metric].dropna().between(-1, 1).all()
        # a percentile interval need not hold the point estimate (NaN cells, two seeds), only order its ends
        ends = summary[[f"{metric}_low", f"{metric}_high"]].dropna()  # NaN: the metric undefined in every draw
        assert (ends[f"{metric}_low"] <= ends[f"{metric}_high"] + 1e-9).all()
        assert ends.stack().between(-1, 1).all()
    assert summary["top1"].between(0, 1).all() and (summary["regret"].dropna() >= 0).all()
    timed = summary[summary["estimator"].isin(ESTIMATORS)]
    assert (timed["seconds"] >= 0).all() and timed["seconds"].notna().all()
    truth = pd.read_csv(out / "ground_truth.csv")
    assert len(truth) == 2 * 2 * 3 * 2  # protocols x n x targets x sources
    assert truth["cap_hit_share"].between(0, 1).all() and (truth["seeds"] == 2).all()
    assert set(truth["target"]) == {"M", "E*", "F"}  # the stand-in keeps its marker
    readme = (out / "README.md").read_text()
    assert "**Headline** (SimEx-iSSIM, full fine-tune, n = 3" in readme and "config/benchmark.yaml" in readme
    assert (out / "benchmark.png").stat().st_size > 10_000
    assert "ground_truth/E.log" in (out / "jobs.log").read_text()
