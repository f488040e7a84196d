"""The Table 1 protocol sweep and the data it rests on: classifier splits, R†/B† disjoint
from M's test split, Δ at several step budgets from one run, the crossing of all variants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from simex.data.acquire import (AcquisitionPlan, acquisition_per_class, balanced_split, classifier_split,
                                mnist_digits_to_regenerate, same_images)
from simex.training.autoencoders import train_autoencoder
from simex.models.losses import SSIMWindow
from simex.experiments.protocol_sweep import autoencoder_snapshots, sweep_markdown, sweep_table
from simex.training.loop import TrainConfig
from simex.experiments.transfer import variance_shares

CPU = torch.device("cpu")
LABELS = {"M": "M", "E": "E*", "R": "R†", "B": "B†", "F": "F"}


def digits(n_per_class: int, n_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random uint8 images, ``n_per_class`` of each class, interleaved."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(n_classes), n_per_class)
    return rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8), labels.astype(np.int64)


# --- data ------------------------------------------------------------------------------


def test_regenerated_variants_never_use_a_digit_of_ms_test_split(tmp_path: Path):
    images, labels = digits(30)
    np.savez(tmp_path / "raw.npz", images=images, labels=labels)
    m_test = balanced_split(images, labels, "M", 200, 5, seed=1)["test"]
    np.savez(tmp_path / "test.npz", images=m_test[0], labels=m_test[1])
    # 20 a class of M are in its test split... (200/10 = 20 a class, 3 of them test); ask for all the rest
    plan = AcquisitionPlan("R", ["fallback"], tmp_path, 1, samples_per_class=27, seed=0,
                           mnist_raw=tmp_path / "raw.npz", mnist_test=tmp_path / "test.npz")
    chosen, chosen_labels, _ = mnist_digits_to_regenerate(plan)
    assert not same_images(chosen, m_test[0]).any()
    assert np.bincount(chosen_labels).tolist() == [27] * 10
    with pytest.raises(Exception, match="28 are needed"):
        mnist_digits_to_regenerate(AcquisitionPlan("R", ["fallback"], tmp_path, 1, 28, 0, mnist_raw=tmp_path / "raw.npz",
                                                   mnist_test=tmp_path / "test.npz"))
    with pytest.raises(Exception, match="M's test split must be given"):
        mnist_digits_to_regenerate(AcquisitionPlan("R", ["fallback"], tmp_path, 1, 3, 0, mnist_raw=tmp_path / "raw.npz"))


def test_letters_classifier_split_has_ten_classes_at_the_digit_datasets_count():
    assert acquisition_per_class("E", 1800) == 180 and acquisition_per_class("M", 1800) == 180
    images, labels = digits(180, n_classes=26)
    splits = classifier_split(images, labels, "E", 1800, 5, seed=3)
    assert np.bincount(splits["train"][1]).tolist() == [150] * 10
    assert np.bincount(splits["test"][1]).tolist() == [30] * 10
    assert not same_images(splits["train"][0], splits["test"][0]).any()


def test_a_ten_class_datasets_classifier_split_is_its_balanced_split():
    images, labels = digits(40)
    ours, balanced = classifier_split(images, labels, "F", 300, 5, seed=4), balanced_split(images, labels, "F", 300, 5, seed=4)
    for name in ("train", "test"):
        assert np.array_equal(ours[name][0], balanced[name][0]) and np.array_equal(ours[name][1], balanced[name][1])


# --- autoencoders: one run, several budgets ----------------------------------------------


def test_the_step_s_snapshot_is_the_autoencoder_a_budget_s_run_ends_with():
    images, _ = digits(5)  # 50 images, batch 16: 4 steps an epoch, so budget 6 ends mid-epoch
    window = SSIMWindow.default()
    snapshots = autoencoder_snapshots(images, "mse", window, TrainConfig("rmsprop", 1e-3, 1, 16, 7, steps=9), [3, 6, 9], CPU)
    for budget in (3, 6, 9):
        alone, _ = train_autoencoder(images, "mse", window, TrainConfig("rmsprop", 1e-3, 1, 16, 7, steps=budget), CPU)
        for name, value in alone.state_dict().items():
            assert torch.equal(value, snapshots[budget].state_dict()[name]), (budget, name)
    assert not torch.equal(snapshots[3].state_dict()["encoder.0.weight"], snapshots[9].state_dict()["encoder.0.weight"])
    with pytest.raises(ValueError, match="longest budget"):
        autoencoder_snapshots(images, "mse", window, TrainConfig("rmsprop", 1e-3, 1, 16, 7, steps=6), [3, 9], CPU)


# --- crossing --------------------------------------------------------------------------


def transfer_record(raw: np.ndarray, protocols: dict[str, dict]) -> dict:
    codes = list(LABELS)
    bases = {base: {"base_accuracy": raw[i][i], "targets": {x: {"accuracy": raw[i][j]} for j, x in enumerate(codes) if j != i}}
             for i, base in enumerate(codes)}
    return {"labels": LABELS, "protocols": {name: {"protocol": settings, "bases": bases} for name, settings in protocols.items()}}


def test_sweep_table_crosses_every_variant_with_ranges_over_seeds():
    labels = list(LABELS.values())
    rng = np.random.default_rng(5)
    delta = pd.DataFrame(rng.uniform(0.01, 0.2, size=(5, 5)), index=labels, columns=labels)
    protocols = {"n10-base-conv": {"samples_per_class": 10, "fc_init": "base", "frozen": "conv"},
                 "all-base-conv": {"samples_per_class": "all", "fc_init": "base", "frozen": "conv"}}
    agreeing = 1.0 - delta.to_numpy()  # accuracy ordered exactly as Δ: ρ = 1 everywhere
    deltas = {(300, seed, "mse"): {5: delta, 20: delta} for seed in (0, 1)}
    transfers = {(300, 0): transfer_record(agreeing, protocols), (300, 1): transfer_record(delta.to_numpy(), protocols)}
    table = sweep_table(deltas, transfers)
    assert len(table) == 4 and set(table["seeds"]) == {2}
    assert list(table["protocol"][:2]) == ["n10-base-conv", "all-base-conv"]  # n ascending, all last
    row = table.iloc[0]
    assert (row["table1_mean_min"], row["table1_mean_max"]) == pytest.approx((-1.0, 1.0))
    assert row["top1_max"] == 5 and row["top1_min"] == 0
    shares = [variance_shares(pd.DataFrame(m, index=labels, columns=labels))["source"] for m in (agreeing, delta.to_numpy())]
    assert row["source_share"] == pytest.approx(np.mean(shares))
    assert (row["source_share_min"], row["source_share_max"]) == pytest.approx((min(shares), max(shares)))
    markdown = sweep_markdown(table, "snakemake protocol_sweep")
    assert "| mse | 300 | 5 | n10-base-conv | 0.00 [-1.00, 1.00] |" in markdown
    with pytest.raises(ValueError, match="no transfer record"):
        sweep_table({(300, 2, "mse"): {5: delta}}, transfers)


# --- end to end ------------------------------------------------------------------------


@pytest.mark.e2e
def test_tiny_protocol_sweep_end_to_end(tmp_path: Path):
    """The protocol_sweep target on tests/protocol_sweep_tiny.yaml: a table row per variant and a figure (a few minutes)."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    override = tmp_path / "protocol_sweep.yaml"
    override.write_text(json.dumps({"protocol_sweep": {"results": str(tmp_path / "results"), "output": str(tmp_path / "out"),
                                              "sizes": [312], "seeds": 2, "ae_steps": [5, 20],
                                              "protocols": {"samples_per_class": ["all", 4], "fc_init": ["base", "reinit"],
                                                            "frozen": ["conv"]}}}))
    subprocess.run([sys.executable, "-m", "snakemake", "--configfile", str(repo / "tests/tiny_overrides.yaml"), str(override),
                    "--cores", "2", "--nolock", "protocol_sweep"], cwd=repo, check=True, capture_output=True)
    table = pd.read_csv(tmp_path / "out" / "protocol_sweep_table.csv")
    assert len(table) == 2 * 2 * 4  # losses x AE steps x protocols
    assert set(table["seeds"]) == {2}
    assert table[["source_share", "target_share"]].notna().all().all()
    assert (tmp_path / "out" / "protocol_sweep_figure.png").stat().st_size > 10_000
