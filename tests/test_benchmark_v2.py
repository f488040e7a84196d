"""The source-selection benchmark v2 (docs/benchmark/PROTOCOL-v2.md): known answers for SimEx's
registered scorers, the resolution test, the metrics, the member-resampling bootstrap and the
decisions; the config checks that stop a run; your own estimator through the config; the v2
tables recomputed from the score files; one tiny end-to-end run (marked e2e)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simex.config import ConfigError, load
from simex.experiments.benchmark_v2 import (CEILING, RANDOM, SCORERS, SPLIT_HALF, Resamples, V2Error, V2Settings, read_score_files,
                                            bootstrap, cell_metrics, chance_metrics, draw_weights, member_draws,
                                            member_mean, required_resolved, resolution, scale_tables, simex_ensemble,
                                            simex_hub_corrected, simex_paper_norm, simex_self_calibrated, simex_single,
                                            split_half)

# Δ_k(X|Y) of K = 2 members over Y = 3 candidate sources
DELTA = np.array([[1.0, 2.0, 4.0],
                  [3.0, 2.0, 2.0]])


# --- SimEx's scorers, known answers ---------------------------------------------------------------------


def test_single_is_one_members_negated_delta_and_can_pick_a_member_per_source():
    assert simex_single(DELTA, 1) == pytest.approx([-3.0, -2.0, -2.0])
    assert simex_single(DELTA, np.array([1, 0, 0])) == pytest.approx([-3.0, -2.0, -4.0])
    assert simex_single(DELTA, np.array([[0, 0, 0], [1, 1, 1]])) == pytest.approx(-DELTA)


def test_ensemble_is_the_negated_member_mean_and_weights_are_a_multiset():
    assert simex_ensemble(DELTA) == pytest.approx([-2.0, -2.0, -3.0])
    # source 0 uses member 1 twice, the others each member once
    weights = np.array([[0.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    assert simex_ensemble(DELTA, weights) == pytest.approx([-3.0, -2.0, -3.0])
    with pytest.raises(V2Error, match="sources, members"):
        simex_ensemble(DELTA, np.ones((2, 3)))


def test_paper_norm_divides_by_each_sources_mean_l2_norm():
    assert simex_paper_norm(DELTA, np.array([2.0, 4.0, 1.0])) == pytest.approx([-1.0, -0.5, -3.0])
    with pytest.raises(V2Error, match="positive"):
        simex_paper_norm(DELTA, np.array([1.0, 0.0, 1.0]))


def test_self_calibrated_is_the_ratio_to_each_autoencoders_own_error():
    own = np.array([[1.0, 4.0, 1.0], [1.0, 0.0, 2.0]])  # Δ̄(Y|Y) = 1, 2, 1.5
    assert simex_self_calibrated(DELTA, own) == pytest.approx([-2.0, -1.0, -2.0])
    with pytest.raises(V2Error, match="Δ\\(Y\\|Y\\) must be positive"):
        simex_self_calibrated(DELTA, np.zeros((2, 3)))


def test_hub_corrected_subtracts_the_mean_over_the_other_known_datasets():
    # Δ_k(Z|Y): rows Y, columns Z; the diagonal (Δ(Y|Y)) must not count
    cross = np.array([[[9.0, 1.0, 3.0], [2.0, 9.0, 4.0], [5.0, 7.0, 9.0]]] * 2)
    hub = np.array([2.0, 3.0, 6.0])
    assert simex_hub_corrected(DELTA, cross) == pytest.approx(-(np.array([2.0, 2.0, 3.0]) - hub))
    # a hub that reconstructs everything well is no longer preferred for it
    assert np.argmax(simex_ensemble(DELTA)) == 0 and np.argmax(simex_hub_corrected(DELTA, cross)) == 2


def test_member_mean_broadcasts_over_member_draws():
    draws = member_draws(7, 1800, "mse", datasets=3, members=2, draws=50)
    assert draws.shape == (50, 3, 2) and set(np.unique(draws)) <= {0, 1}
    assert np.array_equal(draws, member_draws(7, 1800, "mse", 3, 2, 50))
    assert not np.array_equal(draws, member_draws(7, 8120, "mse", 3, 2, 50))
    weights = draw_weights(draws, 2)
    assert weights.shape == (50, 3, 2) and weights.sum(axis=-1) == pytest.approx(np.ones((50, 3)))
    means = member_mean(DELTA, weights)
    assert means.shape == (50, 3)
    d = 4
    expected = [np.mean([DELTA[m, y] for m in draws[d, y]]) for y in range(3)]
    assert means[d] == pytest.approx(expected)


# --- resolution and metrics -------------------------------------------------------------------------


def test_resolution_pairs_best_and_second_by_seed():
    noise = np.array([0.05, -0.05, 0.03, -0.03])
    g = np.column_stack([0.30 + noise, 0.28 + noise, 0.10 - noise])  # best − second = 0.02 every seed
    res = resolution(g)
    assert (res.best, res.second) == (0, 1) and res.gap == pytest.approx(0.02)
    assert res.gap_se == pytest.approx(0.0, abs=1e-12) and res.resolved  # paired: the shared noise cancels
    assert res.best_above_zero and not res.no_source_beats_scratch
    g2 = np.column_stack([0.30 + noise, 0.28 - noise, 0.10 + 0 * noise])  # the gap swings by ±0.1
    assert not resolution(g2).resolved
    assert resolution(-np.abs(g)).no_source_beats_scratch
    assert required_resolved(8) == 6


def test_cell_metrics_absolute_regret_in_points_and_relative_only_where_resolved():
    gains = [0.04, 0.01, 0.02]
    m = cell_metrics([0, 1, 0.5], gains)
    assert m["top1"] == 0 and m["regret_abs"] == pytest.approx(3.0) and m["pick_gain"] == pytest.approx(1.0)
    assert m["regret_rel"] == pytest.approx(0.75)
    assert math.isnan(cell_metrics([0, 1, 0.5], gains, relative=False)["regret_rel"])
    none = cell_metrics([1, 0, 0], [-0.01, -0.02, -0.03])
    assert math.isnan(none["regret_abs"]) and math.isnan(none["regret_rel"])  # excluded, counted elsewhere
    assert cell_metrics([1, 1, 0], gains)["top1"] == 0.5  # ties: the mean over tied picks


def test_rank_agreement_is_v1s_and_chance_is_its_exact_mean_over_every_order():
    import itertools

    from simex.experiments import benchmark_metrics as v1
    from simex.experiments.benchmark_v2 import average_ranks, rank_agreement

    rng = np.random.default_rng(0)
    for _ in range(50):
        s, g = rng.integers(0, 4, size=7).astype(float), rng.normal(size=7)  # ties in the scores
        assert rank_agreement(s, g) == pytest.approx(v1.rank_agreement(s, g), nan_ok=True)
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])) == pytest.approx([3.5, 1.0, 3.5, 2.0])
    gains = np.array([0.3, 0.1, 0.2, 0.25, 0.0])
    expected = v1.random_metrics(gains)
    chance = chance_metrics(gains)
    assert chance["tau"] == pytest.approx(expected["tau"]) and chance["rho"] == pytest.approx(expected["rho"], abs=1e-12)
    assert len(list(itertools.permutations(range(5)))) == 120


def test_chance_levels_per_metric():
    gains = np.array([0.3, 0.1, 0.2, 0.3])
    chance = chance_metrics(gains)
    assert chance["top1"] == 0.5  # two of four sources tied at the max
    assert chance["regret_abs"] == pytest.approx(100 * (0.3 - gains.mean()))
    assert chance["pick_gain"] == pytest.approx(100 * gains.mean())
    assert chance["regret_rel"] == pytest.approx(np.mean((0.3 - gains) / 0.3))


def test_split_half_of_identical_seeds_agrees_perfectly():
    g = np.tile([0.3, 0.1, 0.2], (6, 1))
    halves = split_half(g)
    assert halves["tau"] == pytest.approx(1.0) and halves["top1"] == 1.0 and halves["regret_abs"] == 0.0


def test_bootstrap_resamples_member_draws_as_well():
    """Targets and seeds agree; only the member draw moves the value: the interval is the draws' spread."""
    values = np.repeat(np.linspace(0, 1, 11)[:, None, None], 1, axis=0) * np.ones((11, 3, 4))
    rs = Resamples.draw(4000, 3, 4, 11, np.random.default_rng(0))
    low, high = bootstrap(values, rs, 0.95)
    assert low == pytest.approx(0.0) and high == pytest.approx(1.0)
    # paired against itself, the difference is exactly zero
    assert bootstrap(values, rs, 0.95, minus=values) == pytest.approx((0.0, 0.0))
    # one value for every draw: no spread
    assert bootstrap(np.full((1, 3, 4), 0.5), rs, 0.95) == pytest.approx((0.5, 0.5))


# --- the tables of a scale, from score files -----------------------------------------------------------

TARGETS = ("P", "Q", "U", "V")


def synthetic_files(seeds: int = 4, members: int = 3) -> dict[str, pd.DataFrame]:
    """4 datasets; on every target, source gains follow a fixed order (P > Q > U > V among the
    candidates) with small seed noise; an "oracle" estimator scores by that order, an "anti" one
    against it; Δ of every member ranks sources as the oracle does."""
    rng = np.random.default_rng(0)
    value = {"P": 0.30, "Q": 0.20, "U": 0.10, "V": 0.05}
    runs, scores, deltas = [], [], []
    for x in TARGETS:
        for protocol, n in (("probe", 10), ("finetune", 10)):
            for s in range(seeds):
                if protocol == "probe":  # one scratch run per (X, n, s), shared by the protocols
                    runs.append({"target": x, "source": "", "protocol": "scratch", "n": n, "seed": s, "accuracy": 0.5,
                                 "epochs": 5, "cap_hit": False})
                for y in TARGETS:
                    if y != x:
                        runs.append({"target": x, "source": y, "protocol": protocol, "n": n, "seed": s,
                                     "accuracy": 0.5 + value[y] + rng.normal(0, 0.001), "epochs": 5,
                                     "cap_hit": protocol == "probe"})
        for s in range(seeds):
            for y in TARGETS:
                if y == x:
                    continue
                for name, score in (("oracle", value[y]), ("anti", -value[y]), ("static", value[y]),
                                    ("LogME", -value[y])):
                    scores.append({"estimator": name, "target": x, "n": 10, "seed": s, "source": y, "member": "",
                                   "score": score})
                for k in range(members):
                    deltas.append({"loss": "mse", "member": k, "y": y, "x": x, "split": "draw", "n": 10, "seed": s,
                                   "delta": 1.0 - value[y] + 0.001 * k})
    for y in TARGETS:
        for z in TARGETS:
            for k in range(members):
                deltas.append({"loss": "mse", "member": k, "y": y, "x": z, "split": "test", "n": 0, "seed": 0,
                               "delta": 0.5 if y == z else 1.0})
    norms = pd.DataFrame({"dataset": list(TARGETS), "mean_l2_norm": [1.0] * 4})
    timings = pd.DataFrame({"estimator": ["oracle"], "target": ["P"], "n": [10], "seed": [0], "seconds": [0.1]})
    return {"runs": pd.DataFrame(runs), "scores": pd.DataFrame(scores), "deltas": pd.DataFrame(deltas),
            "norms": norms, "timings": timings}


def synthetic_settings(**changes) -> V2Settings:
    base = dict(scale=1800, datasets=TARGETS, cells=(("probe", 10), ("finetune", 10)), headline=("finetune", 10, 1800),
                members=3, member_draws=20, bootstrap=300, confidence=0.95, seed=1, registered=True, losses=("mse",),
                estimators=("static", "LogME"), own=("oracle", "anti"))
    base.update(changes)
    return V2Settings(**base)


def test_scale_tables_score_an_oracle_its_reverse_and_simex_from_the_files():
    files = synthetic_files()
    tables = scale_tables(**files, settings=synthetic_settings())
    summary = tables["summary"].set_index(["protocol", "estimator"])
    oracle, anti = summary.loc[("finetune", "oracle")], summary.loc[("finetune", "anti")]
    assert (oracle["tau"], oracle["top1"], oracle["regret_abs"]) == pytest.approx((1.0, 1.0, 0.0))
    assert anti["tau"] == pytest.approx(-1.0) and anti["top1"] == 0.0 and anti["regret_abs"] > 0
    # SimEx's Δ order is the oracle's: every scorer but hub-corrected (its hub is flat here) ranks perfectly
    for variant in ("single", "ensemble", "paper-norm", "self-calibrated", "hub-corrected"):
        assert summary.loc[("finetune", f"SimEx-MSE {variant}"), "tau"] == pytest.approx(1.0), variant
    assert {RANDOM, CEILING, SPLIT_HALF} <= set(tables["summary"]["estimator"])
    resolution_table = tables["resolution"]
    assert resolution_table["resolved"].all() and len(resolution_table) == 2 * 4
    decisions = tables["decisions"].set_index("hypothesis")
    assert decisions.loc["R", "outcome"] == "met" and decisions.loc["R", "status"] == "decided"
    # H1: the best scorer (τ 1, the first in the protocol's order) only ties static (τ 1): missed; H2: above LogME (τ −1)
    assert decisions.loc["H1", "chosen"] == "SimEx-MSE single" and decisions.loc["H1", "outcome"] == "missed"
    assert decisions.loc["H2", "outcome"] == "met" and decisions.loc["H2", "low"] == pytest.approx(2.0)
    outside = scale_tables(**files, settings=synthetic_settings(registered=False))["decisions"].set_index("hypothesis")
    assert (outside["status"].iloc[:3] == "secondary, not decided").all()
    metrics = tables["metrics"]
    single = metrics[(metrics["estimator"] == "SimEx-MSE single") & (metrics["member"] != "")]
    assert set(single["member"]) == {0, 1, 2}
    assert len(tables["simex_scores"]) == 2 * 4 * 4 * 4 * 3  # cells x targets x seeds x scorers but single x sources
    caps = tables["caps"].set_index("protocol")
    assert bool(caps.loc["probe", "protocol_failure"]) and not bool(caps.loc["finetune", "protocol_failure"])
    differences = tables["differences"]
    assert set(differences["minus"]) == {"SimEx-MSE single", "static", "LogME"}
    row = differences[(differences["estimator"] == "SimEx-MSE ensemble") & (differences["minus"] == "LogME")
                      & (differences["metric"] == "tau") & (differences["protocol"] == "finetune")].iloc[0]
    assert (row["difference"], row["low"], row["high"]) == pytest.approx((2.0, 2.0, 2.0))


def test_scale_tables_say_undecided_where_the_ground_truth_is_unresolved():
    files = synthetic_files()
    runs = files["runs"]
    rng = np.random.default_rng(3)
    noisy = runs["protocol"] == "finetune"
    runs.loc[noisy, "accuracy"] = 0.5 + rng.normal(0, 0.2, size=int(noisy.sum()))
    tables = scale_tables(**files, settings=synthetic_settings())
    decisions = tables["decisions"].set_index("hypothesis")
    assert decisions.loc["R", "outcome"] == "missed"
    assert "gap" in decisions.loc["R", "detail"]
    # an unresolved headline cell decides nothing, whichever way the intervals fall
    assert decisions.loc["H1", "outcome"].startswith("undecided (ground truth unresolved")
    assert decisions.loc["H2", "outcome"].startswith("undecided (ground truth unresolved")


# --- config checks ------------------------------------------------------------------------------------


def test_registered_config_is_the_protocols():
    section = load("config/config.yaml", {"datasets": ["M", "E", "R", "B", "F", "BR", "RBI", "A"],
                                          "benchmark_v2": {}}).benchmark_v2
    assert section.scales == (1800, 8120) and section.seeds == 10 and section.members == 5
    assert section.cell_keys == [("probe", 10), ("finetune", 10), ("probe", 100)]


@pytest.mark.parametrize("override, message", [
    ({"scales": [1800, 8130]}, "need 813 a class of A, which holds 812 a class: the largest allowed is 8129"),
    ({"seeds": 3}, "benchmark_v2.seeds = 3: the registered protocol needs at least 10"),
    ({"members": 2}, "benchmark_v2.members = 2"),
    ({"cells": [{"protocol": "finetune", "samples_per_class": 10}, {"protocol": "finetune", "samples_per_class": 100}]},
     "\\('finetune', 100\\) is not registered"),
    ({"estimators": ["LogME", "GBC"]}, "'GBC' is not registered"),
    ({"registered": False, "scales": [200], "seeds": 3, "headline": {"scale": 200, "samples_per_class": 18},
      "cells": [{"protocol": "finetune", "samples_per_class": 18}]},
     "at scale 200: the classifier train split holds 17 a class, fewer than n = 18"),
    ({"registered": False, "scales": [60], "seeds": 3, "headline": {"scale": 60, "samples_per_class": 5},
      "cells": [{"protocol": "finetune", "samples_per_class": 5}]},
     "benchmark_v2.seeds = 3: at scale 60 and n = 5 only 1 distinct draws exist"),
])
def test_values_that_cannot_run_together_stop_with_a_message_naming_them(override, message):
    with pytest.raises(ConfigError, match=message):
        load("config/config.yaml", {"datasets": ["M", "E", "R", "B", "F", "BR", "RBI", "A"], "benchmark_v2": override})


def test_the_committed_v2_config_loads():
    import yaml

    from simex.config import deep_merge

    raw = yaml.safe_load(Path("config/benchmark-v2.yaml").read_text())
    config = load("config/config.yaml", raw)
    assert config.benchmark_v2.registered and config.benchmark_v2.scales == (1800, 8120)
    assert len(config.datasets) == 8 and deep_merge({}, raw)


def test_the_whole_dataset_config_runs_outside_the_registration_without_animal_mnist():
    """config/benchmark-v2-whole.yaml (for a GPU machine): 48,000 samples per dataset, the 7
    datasets that hold it, unregistered; with Animal-MNIST added it stops, naming A's capacity."""
    import yaml

    raw = yaml.safe_load(Path("config/benchmark-v2-whole.yaml").read_text())
    section = load("config/config.yaml", raw).benchmark_v2
    assert not section.registered and section.scales == (48000,) and section.headline.scale == 48000
    assert section.seeds == 10 and section.members == 5 and "A" not in raw["datasets"]
    with pytest.raises(ConfigError, match="need 4800 a class of A, which holds 812 a class"):
        load("config/config.yaml", {**raw, "datasets": [*raw["datasets"], "A"]})


# --- your own estimator, scored beside the registered ones -----------------------------------------------


def test_own_estimator_loads_by_dotted_path_and_names_a_bad_one():
    from simex.experiments.benchmark import BenchmarkError, load_own_estimator

    function = load_own_estimator("tests.v2_estimators.my_estimators.brightness_gap")
    assert function.__name__ == "brightness_gap"
    assert load_own_estimator("tests.v2_estimators.my_estimators:brightness_gap") is function
    with pytest.raises(BenchmarkError, match="'tests.v2_estimators.my_estimators.nothing' cannot be imported"):
        load_own_estimator("tests.v2_estimators.my_estimators.nothing")


def test_v2_scoring_records_simex_per_member_the_registered_estimators_and_your_own():
    import torch

    from simex.experiments.benchmark import (V2_LOGME, EstimatorSettings, Source, SourceZoo, V2Zoo, load_own_estimator,
                                             score_target_v2)
    from simex.models.losses import per_sample_loss
    from simex.models.networks import LeNet5AutoEncoder, LeNet5Classifier

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    device = torch.device("cpu")
    labels = np.repeat(np.arange(10), 4)
    images = lambda: rng.integers(0, 255, size=(40, 28, 28), dtype=np.uint8)  # noqa: E731
    members = {"mse": [[LeNet5AutoEncoder().eval() for _ in range(2)] for _ in range(2)]}
    sources = [Source(code, [LeNet5Classifier().eval()], [0.9], {"mse": members["mse"][i][0]}, images(), images(), labels)
               for i, code in enumerate(("Y1", "Y2"))]
    zoo = V2Zoo(SourceZoo(sources, {}, EstimatorSettings("mse", None, 64, **V2_LOGME), device), members,
                {"mse": per_sample_loss("mse", None)})
    own = {"brightness": load_own_estimator("tests.v2_estimators.my_estimators.brightness_gap")}
    record = score_target_v2("X", zoo, (images(), labels), seed=3, replicates=1, samples_per_class=[2],
                             estimators=["static", "LogME", "H-score (shrinkage)"], own=own)
    scores = pd.DataFrame(record["scores"])
    assert set(scores["estimator"]) == {"static", "LogME", "H-score (shrinkage)", "brightness", "SimEx-MSE single"}
    single = scores[scores["estimator"] == "SimEx-MSE single"]
    assert len(single) == 2 * 2 and set(single["member"]) == {0, 1}  # sources x members
    deltas = pd.DataFrame(record["deltas"])
    assert (single["score"].to_numpy() == -deltas["delta"].to_numpy()).all()
    assert np.isfinite(scores["score"]).all()
    timed = set(pd.DataFrame(record["timings"])["estimator"])
    assert {"SimEx-MSE single", "SimEx-MSE ensemble", "SimEx-MSE hub-corrected", "brightness"} <= timed


# --- end to end ---------------------------------------------------------------------------------------------

STAGE = {"optimizer": "rmsprop", "lr": 0.001, "epochs": 2, "batch_size": 8, "patience": 1, "validation_fraction": 0.2}
TINY_V2 = {
    "datasets": ["M", "E", "F"],
    "benchmark": {"base": STAGE, "finetune": {**STAGE, "lr": 0.0001}, "scratch": STAGE},
    "benchmark_v2": {
        "registered": False, "results": "results/benchmark-v2", "output": "out", "scales": [312], "seeds": 2,
        "members": 2, "cells": [{"protocol": "probe", "samples_per_class": 3},
                                {"protocol": "finetune", "samples_per_class": 3}],
        "headline": {"protocol": "finetune", "samples_per_class": 3, "scale": 312},
        "estimators": ["static", "LogME", "H-score (shrinkage)", "embeddings"], "otdd_max_samples": 50,
        "member_draws": 5, "bootstrap": 100,
    },
}


@pytest.mark.e2e
def test_tiny_benchmark_v2_end_to_end_and_your_own_estimator_through_the_config(workflow_copy: Path):
    """benchmark_v2 on 3 datasets, one tiny scale, 2 seeds, K = 2; the tables recompute from the
    score files; then an estimator added in the config is scored without rerunning anything else."""
    import shutil

    import yaml

    from tests.conftest import DOWNLOAD_CACHE, deep_merge, snakemake, tiny_config

    (workflow_copy / "v2.yaml").write_text(yaml.safe_dump(deep_merge(tiny_config(), TINY_V2), allow_unicode=True))
    if DOWNLOAD_CACHE.is_dir():
        shutil.copytree(DOWNLOAD_CACHE, workflow_copy / "results" / "downloads", dirs_exist_ok=True)
    result = snakemake(workflow_copy, "benchmark_v2", configfile="v2.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    out = workflow_copy / "out"
    folder = out / "scale312"
    summary = pd.read_csv(folder / "summary.csv")
    assert set(SCORERS) <= set(summary["estimator"]) and {"static", "LogME", RANDOM, CEILING} <= set(summary["estimator"])
    assert summary["tau"].dropna().between(-1, 1).all() and summary["top1"].between(0, 1).all()
    # the tables recompute from the committed score files
    files = read_score_files(folder)
    settings = V2Settings(scale=312, datasets=("M", "E*", "F"), cells=(("probe", 3), ("finetune", 3)),
                          headline=("finetune", 3, 312), members=2, member_draws=5, bootstrap=100, confidence=0.95,
                          seed=tiny_config()["seed"], registered=False,
                          estimators=("static", "LogME", "H-score (shrinkage)", "embeddings"))
    again = scale_tables(**{k: v for k, v in files.items() if k != "draws"}, settings=settings)
    pd.testing.assert_frame_equal(again["summary"].reset_index(drop=True), summary, check_dtype=False, rtol=1e-5)
    deltas = files["deltas"]
    assert set(deltas["split"]) == {"draw", "test"} and set(deltas["member"]) == {0, 1}
    assert "outside the registration" in (folder / "README.md").read_text()
    assert (out / "scale.png").stat().st_size > 10_000 and "Decisions" in (out / "README.md").read_text()
    # your own estimator, named in the config: only its job and the tables run
    config = yaml.safe_load((workflow_copy / "v2.yaml").read_text())
    config["benchmark_v2"]["own_estimators"] = {"brightness": "v2_estimators.my_estimators.brightness_gap"}
    shutil.copytree(Path(__file__).parent / "v2_estimators", workflow_copy / "v2_estimators")
    (workflow_copy / "v2.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    plan = snakemake(workflow_copy, "benchmark_v2", "-n", configfile="v2.yaml")
    assert plan.returncode == 0, plan.stderr[-3000:]
    planned = plan.stdout + plan.stderr
    assert "rule v2_own_estimators:" in planned and "rule v2_tables:" in planned
    for upstream in ("v2_ground_truth", "v2_base_classifiers", "v2_autoencoders", "v2_estimators"):
        assert f"rule {upstream}:" not in planned, planned[-3000:]
    result = snakemake(workflow_copy, "benchmark_v2", configfile="v2.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    summary = pd.read_csv(folder / "summary.csv").set_index(["protocol", "estimator"])
    assert summary.loc[("finetune", "brightness"), "kind"] == "own (not registered)"
    assert not math.isnan(summary.loc[("finetune", "brightness"), "top1"])
    scores = pd.read_csv(folder / "scores.csv.gz")
    assert (scores["estimator"] == "brightness").sum() == 3 * 1 * 2 * 2  # targets x n x seeds x sources


# --- the committed v2 results recompute from their committed score files ---------------------------------

REGISTERED_SCALES = (1800, 8120)


@pytest.mark.e2e
@pytest.mark.parametrize("scale", REGISTERED_SCALES)
def test_committed_v2_tables_recompute_from_the_committed_score_files(scale: int):
    """runs/benchmark-v2/scale<N>/: the resolution, summary, paired differences and decisions as
    published equal the tables recomputed here from the committed csv.gz files and the committed
    config (full bootstrap: about half a minute per scale, hence the e2e mark)."""
    import yaml

    folder = Path("runs/benchmark-v2") / f"scale{scale}"
    assert (folder / "scores.csv.gz").is_file(), f"{folder} holds no published v2 run"
    v2 = load("config/config.yaml", yaml.safe_load(Path("config/benchmark-v2.yaml").read_text())).benchmark_v2
    files = read_score_files(folder)
    settings = V2Settings(scale=scale, datasets=tuple(dict.fromkeys(files["runs"]["target"].loc[lambda t: t != ""])),
                          cells=tuple(v2.cell_keys), headline=(v2.headline.protocol, v2.headline.samples_per_class,
                                                                v2.headline.scale),
                          members=v2.members, member_draws=v2.member_draws, bootstrap=v2.bootstrap,
                          confidence=v2.confidence, seed=load("config/config.yaml", {}).seed,
                          registered=v2.registered, estimators=tuple(v2.estimators))
    again = scale_tables(**{k: v for k, v in files.items() if k != "draws"}, settings=settings)
    for name in ("resolution", "summary", "differences", "decisions"):
        published = pd.read_csv(folder / f"{name}.csv")
        pd.testing.assert_frame_equal(again[name].reset_index(drop=True), published, check_dtype=False, rtol=1e-5,
                                      obj=f"{folder}/{name}.csv")
