"""Fleets with several autoencoders (replicas) per known dataset: the two-level bootstrap's known
answers, a fleet whose members disagree, one-member fleets ranking exactly as before, the
manifest's replica field (old manifests without it), seeds, and `simex fleet build --members`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from simex.analysis.stats import bootstrap_group_means, bootstrap_means, group_means, percentile_intervals
from simex.analysis.tables import ranking_csv, ranking_json, ranking_text
from simex.cli import build_parser
from simex.config import autoencoder_seed, derived_seed, schema_default
from simex.fleets.build import build_fleet
from simex.fleets.folder import export_fleet
from simex.fleets.rank import Fleet, RankSettings
from simex.inference.evaluate import FleetEvaluator
from simex.models.losses import per_sample_loss
from simex.models.networks import LeNet5AutoEncoder
from simex.training.autoencoders import AutoencoderCard, FleetError, load_autoencoder, save_autoencoder
from simex.training.loop import TrainConfig
from tests.test_images import pattern, write_pngs
from tests.test_rank import bright, make_fleet, squares


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


# --- the two-level bootstrap: known answers ----------------------------------------------


def test_one_member_per_group_is_exactly_the_samples_bootstrap() -> None:
    errors = np.random.default_rng(0).gamma(2.0, 0.1, size=(57, 4))
    one, two = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(bootstrap_group_means(errors, [[0], [1], [2], [3]], 300, one),
                                  bootstrap_means(errors, 300, two))
    assert one.integers(0, 2**31) == two.integers(0, 2**31)  # the same draws consumed: express mode is unchanged


def test_members_alone_known_distribution_interval_and_p_first() -> None:
    # No sample noise (every sample's δ equal): only the members vary. Label A's two members
    # have Δ 1 and 3, so a resample's A is 1, 2 or 3 with probabilities 1/4, 1/2, 1/4; B's two
    # members both have Δ 2.25, so A comes first exactly when it is 1 or 2: P = 3/4.
    errors = np.tile([1.0, 3.0, 2.25, 2.25], (20, 1))
    groups = [[0, 1], [2, 3]]
    means = bootstrap_group_means(errors, groups, 40_000, np.random.default_rng(1))
    values, counts = np.unique(means[:, 0], return_counts=True)
    np.testing.assert_allclose(values, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(counts / len(means), [0.25, 0.5, 0.25], atol=0.01)
    np.testing.assert_array_equal(means[:, 1], 2.25)
    assert abs(np.mean(means.argmin(axis=1) == 0) - 0.75) < 0.01
    low, high = percentile_intervals(means, 0.95)
    np.testing.assert_allclose([low[0], high[0]], [1.0, 3.0])
    np.testing.assert_allclose(group_means(errors.mean(axis=0), groups), [2.0, 2.25])


def test_two_level_variance_adds_the_members_spread_to_the_samples_noise() -> None:
    # Member m's δ = its offset + noise shared by all members (paired). The variance of a
    # group's resampled mean: the samples' part (σ²/N) plus the members' part, whose bootstrap
    # variance is the offsets' population variance / k.
    rng = np.random.default_rng(2)
    n, offsets, sigma = 400, np.array([0.0, 0.3, 0.6]), 1.0
    errors = rng.normal(0, sigma, size=(n, 1)) + offsets
    means = bootstrap_group_means(errors, [[0, 1, 2]], 20_000, np.random.default_rng(3))[:, 0]
    expected = errors[:, 0].var() / n + offsets.var() / len(offsets)
    assert means.mean() == pytest.approx(errors.mean(), abs=0.005)
    assert means.var() == pytest.approx(expected, rel=0.05)


# --- a fleet whose members disagree --------------------------------------------------------


def random_autoencoders(count: int) -> list[LeNet5AutoEncoder]:
    """Untrained autoencoders: their seed alone sets their Δ, by more than the samples' noise."""
    models = []
    for seed in range(count):
        torch.manual_seed(seed)
        models.append(LeNet5AutoEncoder().eval())
    return models


def card(dataset: str, replica: int | None) -> AutoencoderCard:
    return AutoencoderCard.from_metadata({"dataset": dataset, "label": dataset, "loss": "mse", "replica": replica,
                                          "provenance": "original", "source": "test", "n_samples": 100})


def export(folder: Path, members: list[tuple[str, int | None, LeNet5AutoEncoder]], name: str) -> Path:
    files = []
    for dataset, replica, model in members:
        path = folder / "models" / name / f"{dataset}-{replica}.pt"
        save_autoencoder(path, model, card(dataset, replica))
        files.append(path)
    export_fleet(files, folder / name, name)
    return folder / name


@pytest.fixture(scope="module")
def disagreeing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """Two labels, three members each, whose member Δ interleave on the data: A holds the lowest
    and the two highest, B the three between. The fleet of replica 0 alone puts A's lowest
    against B's lowest."""
    folder = tmp_path_factory.mktemp("disagree")
    data = squares(300, 5)
    models = random_autoencoders(6)
    x = torch.from_numpy(data[:, None].astype(np.float32) / 255.0)
    order = np.argsort(FleetEvaluator(models, per_sample_loss("mse")).errors(x).numpy().mean(axis=0))
    a, b = [models[i] for i in order[[0, 3, 4]]], [models[i] for i in order[[1, 2, 5]]]
    full = export(folder, [("A", r, m) for r, m in enumerate(a)] + [("B", r, m) for r, m in enumerate(b)], "three")
    single = export(folder, [("A", None, a[0]), ("B", None, b[0])], "one")
    return full, single, data


def test_a_fleet_whose_members_disagree_is_not_called_certain(disagreeing) -> None:
    full, single, data = disagreeing
    settings = RankSettings.from_config(seed=0)
    one = Fleet.load(single).rank(data, settings=settings).table.set_index("label")
    three = Fleet.load(full).rank(data, settings=settings).table.set_index("label")
    # One autoencoder per label: A first with near-certainty, a narrow interval.
    assert one["p_top"].max() >= 0.99 and one["p_top"].idxmax() == "A"
    width_one = (one["ci_high"] - one["ci_low"]).max()
    # Three: the members' spread is in the interval and in P(first).
    assert three["members"].tolist() == [3, 3]
    assert three["p_top"].max() <= 0.9
    width_three = (three["ci_high"] - three["ci_low"]).min()
    assert width_three > 20 * width_one
    assert (three["delta_max"] - three["delta_min"] > 10 * width_one).all()
    for label in ("A", "B"):  # the intervals overlap: neither is settled
        assert three.loc[label, "ci_low"] < three.drop(index=label)["ci_high"].iloc[0]
    print(f"\none member: {one[['delta', 'ci_low', 'ci_high', 'p_top']].to_dict('index')}"
          f"\nthree members: {three[['delta', 'delta_min', 'delta_max', 'ci_low', 'ci_high', 'p_top']].to_dict('index')}")


def test_outputs_show_the_members_spread(disagreeing) -> None:
    full, _, data = disagreeing
    ranking = Fleet.load(full).rank(data[:60])
    text = ranking_text(ranking)
    assert "members: min–max" in text and "of the samples and of each known dataset's autoencoders" in text
    row = ranking.table.iloc[0]
    assert f"3: {row.delta_min:#.5g}–{row.delta_max:#.5g}" in text
    payload = json.loads(ranking_json(ranking))
    assert payload["resampled"] == "samples and members"
    assert {"members", "delta_sd", "delta_min", "delta_max"} <= set(payload["ranking"][0])
    assert ranking_csv(ranking).splitlines()[0].startswith(
        "rank,label,key,dataset,class,delta,ci_low,ci_high,p_top,members,delta_sd,delta_min,delta_max")


def test_express_mode_ranks_a_fleet_of_replicas(disagreeing) -> None:
    full, _, data = disagreeing
    settings = RankSettings(**{**RankSettings.from_config(seed=1).__dict__, "express": True, "step": 50,
                               "min_samples": 50, "budget": 200})
    ranking = Fleet.load(full).rank(data, settings=settings)
    assert ranking.stop_reason == "budget" and ranking.n_used == 200  # the members' spread never settles


# --- one member per label: exactly as before ------------------------------------------------


def test_a_one_member_fleet_ranks_exactly_as_the_samples_only_bootstrap(tmp_path: Path) -> None:
    fleet = Fleet.load(make_fleet(tmp_path))
    data = np.concatenate([squares(70, 3), bright(50, 4)])
    settings = RankSettings.from_config(seed=9)
    ranking = fleet.rank(data, settings=settings)
    # the path before replicas (simex.fleets.rank.summarize at 0383562), on the same δ
    errors = fleet.errors(data)
    delta = errors.mean(axis=0)
    means = bootstrap_means(errors, settings.bootstrap, np.random.default_rng(settings.seed))
    low, high = percentile_intervals(means, settings.confidence)
    p_top = np.bincount(means.argmin(axis=1), minlength=len(delta)) / len(means)
    order = np.argsort(delta, kind="stable")
    assert ranking.order == [fleet.members[i].label for i in order]
    for column, expected in (("delta", delta), ("ci_low", low), ("ci_high", high), ("p_top", p_top)):
        np.testing.assert_array_equal(ranking.table[column].to_numpy(), expected[order])
    assert ranking.table["members"].tolist() == [1, 1] and ranking.table["delta_sd"].isna().all()
    np.testing.assert_array_equal(ranking.table["delta_min"], ranking.table["delta"])
    assert "resamples of the samples only" in ranking_text(ranking) and "1: —" in ranking_text(ranking)


def test_a_manifest_from_before_replicas_still_loads_and_ranks_the_same(tmp_path: Path) -> None:
    new = make_fleet(tmp_path)
    old = tmp_path / "old"
    shutil.copytree(new, old)
    manifest = json.loads((old / "manifest.json").read_text())
    for member in manifest["members"]:
        del member["replica"]
    (old / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    fleet = Fleet.load(old)
    assert [m.replica for m in fleet.members] == [0, 0] and fleet.groups == [[0], [1]]
    data = squares(40, 8)
    settings = RankSettings.from_config(seed=2)
    assert fleet.rank(data, settings=settings).table.equals(Fleet.load(new).rank(data, settings=settings).table)


# --- the manifest's replicas ----------------------------------------------------------------


def test_replicas_are_recorded_and_grouped_by_label(tmp_path: Path) -> None:
    a, b, c = random_autoencoders(3)
    path = export(tmp_path, [("M", None, a), ("E", None, b), ("M", 1, c)], "f")
    manifest = json.loads((path / "manifest.json").read_text())
    assert [(m["label"], m["replica"], m["file"]) for m in manifest["members"]] == [
        ("M", 0, "members/M.pt"), ("E", 0, "members/E.pt"), ("M", 1, "members/M@1.pt")]
    fleet = Fleet.load(path)
    assert fleet.labels == ["M", "E"] and fleet.groups == [[0, 2], [1]]
    ranking = fleet.rank(squares(30, 1))
    assert dict(zip(ranking.table["label"], ranking.table["members"])) == {"M": 2, "E": 1}


@pytest.mark.parametrize("damage, message", [
    (lambda members: members[1].update(replica=0, label="M", dataset="M"), "both M, replica 0"),
    (lambda members: members[1].update(replica="x"), "field 'replica' is 'x'"),  # the manifest's type check
    (lambda members: members[1].update(replica=-1), "not a non-negative integer"),
    (lambda members: members[1].update(label="M", replica=1), "trained on different data"),
])
def test_bad_replicas_in_a_manifest_are_refused(tmp_path: Path, damage, message: str) -> None:
    a, b = random_autoencoders(2)
    path = export(tmp_path, [("M", None, a), ("E", None, b)], "f")
    manifest = json.loads((path / "manifest.json").read_text())
    damage(manifest["members"])
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FleetError, match=message):
        Fleet.load(path)


def test_export_refuses_the_same_replica_twice(tmp_path: Path) -> None:
    a, b = random_autoencoders(2)
    with pytest.raises(FleetError, match="both M, replica 1"):
        export(tmp_path, [("M", 1, a), ("M", 1, b)], "f")


# --- seeds and `simex fleet build --members` ----------------------------------------------------


def test_replica_0_keeps_the_seed_and_the_others_get_their_own() -> None:
    assert autoencoder_seed(7, "M", "mse") == derived_seed(7, "ae", "M", "mse", None)
    assert autoencoder_seed(7, "M", "mse", replica=0) == autoencoder_seed(7, "M", "mse")
    seeds = {autoencoder_seed(7, "M", "mse", None, r) for r in range(5)} | {autoencoder_seed(7, "E", "mse")}
    assert len(seeds) == 6
    assert autoencoder_seed(7, "M", "mse", 3, 2) != autoencoder_seed(7, "M", "mse", 3, 1)


def test_fleet_build_trains_the_replicas_fused_and_replica_0_as_a_one_member_build(tmp_path: Path) -> None:
    pairs = [("sq", str(write_pngs(tmp_path / "sq", pattern("squares", 40, 28, 1)))),
             ("br", str(write_pngs(tmp_path / "br", pattern("bright", 40, 28, 2))))]
    config = TrainConfig("rmsprop", 3e-3, epochs=1, batch_size=16, seed=3, steps=10)
    lines: list[str] = []
    manifest = build_fleet(pairs, tmp_path / "three", "mse", config, members=3, progress=False, report=lines.append)
    assert [(m["label"], m["replica"]) for m in manifest["members"]] == [
        ("sq", 0), ("sq", 1), ("sq", 2), ("br", 0), ("br", 1), ("br", 2)]
    assert "6 members: 2 known × 3" in lines[-1]
    build_fleet(pairs, tmp_path / "one", "mse", config, members=1, progress=False, report=lambda line: None)
    one = {m.label: load_autoencoder(tmp_path / "one" / "mse" / m.file)[1] for m in Fleet.load(tmp_path / "one").members}
    three = Fleet.load(tmp_path / "three")
    cards = [load_autoencoder(three.root / m.file)[1] for m in three.members]
    seeds = [c.training["seed"] for c in cards]
    assert len(set(seeds)) == 6 and cards[0].replica == 0 and cards[2].replica == 2
    assert seeds[0] == one["sq"].training["seed"] and seeds[3] == one["br"].training["seed"]
    assert three.rank(pattern("squares", 20, 28, 9)).table["members"].tolist() == [3, 3]


def test_the_cli_default_is_the_schemas_members() -> None:
    args = build_parser().parse_args(["fleet", "build", "--out", "x", "--loss", "mse", "a=b"])
    assert args.members == schema_default("fleets", "members") == 3
