"""A tiny run on a GPU from datasets made in the test: no network and no data source.

Part of the ``device`` subset (``pytest -m device``; scripts/gpu_check.sh runs it). Two
small synthetic datasets (bright bars across a dark ground; dark bars down a bright one)
are written in the pipeline's split format and read back; on the device, claimed as a timing job claims it, a fused fleet of
two autoencoders and a base classifier are trained and Δ is computed. The same run goes
on the CPU on every machine, so the test itself is exercised where there is no GPU; its
cuda variant is skipped there.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from simex import devices
from simex.base.artifacts import write_npz
from simex.data.acquire import load_split
from simex.training.autoencoders import train_autoencoder, train_autoencoders
from simex.inference.evaluate import accuracy
from simex.models.losses import SSIMWindow, per_sample_loss
from simex.inference.similarity import delta_matrix
from simex.training.loop import TrainConfig
from simex.experiments.transfer import StageSettings, train_base_classifier

pytestmark = pytest.mark.device
CPU = torch.device("cpu")
KINDS = [pytest.param("cpu", id="cpu"),
         pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                  reason="needs a CUDA device"))]
CODES = {"H": True, "V": False}  # bright bars across a dark ground; dark bars down a bright ground


def bars(n: int, seed: int, across: bool) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images with one bar, the label its position (ten classes): bright on dark
    across, or the negative of a bar down (dark on bright)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    for image, label in zip(images, labels):
        start = 2 + 2 * int(label)
        if across:
            image[start : start + 3, 3:25] = 230
        else:
            image[3:25, start : start + 3] = 230
    return (images if across else 255 - images), labels


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The datasets' train and test splits, written as the pipeline writes them (images, labels)."""
    folder = tmp_path_factory.mktemp("tiny-data")
    for code, across in CODES.items():
        (folder / code).mkdir()
        for split, n, seed in (("train", 320, 0), ("test", 160, 1)):
            images, labels = bars(n, seed + 10 * across, across)
            write_npz(folder / code / f"{split}.npz", images=images, labels=labels)
    return folder


@pytest.fixture
def device(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The device of the run: a GPU claimed alone, as the timing jobs claim theirs, or the CPU."""
    if request.param == "cpu":
        yield CPU
        return
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")  # select_device may narrow it: restore it afterwards
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible or "")
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    devices.release()
    try:
        claimed = devices.select_device(1, tmp_path / "locks", wait_s=0, share=False)
        assert claimed.type == "cuda", "CUDA is available but the job was given the CPU"
        assert devices.claim_record(claimed)["device_use"] == "alone"
        yield claimed
    finally:
        devices.release()


def on_cpu(model: torch.nn.Module) -> torch.nn.Module:
    return copy.deepcopy(model).to(CPU)


@pytest.mark.parametrize("device", KINDS, indirect=True)
def test_a_tiny_fleet_and_classifier_on_the_device(device: torch.device, splits: Path) -> None:
    train = {code: load_split(splits / code / "train.npz") for code in CODES}
    test = {code: load_split(splits / code / "test.npz")[0] for code in CODES}

    configs = [TrainConfig("rmsprop", 1e-3, epochs=4, batch_size=32, seed=seed) for seed in range(len(CODES))]
    fleet = train_autoencoders([train[code][0] for code in CODES], "mse", SSIMWindow.default(), configs, device)
    models = {code: model for code, (model, _) in zip(CODES, fleet)}
    assert {p.device.type for model in models.values() for p in model.parameters()} == {device.type}
    for _, result in fleet:
        losses = [record.train_loss for record in result.history]
        assert len(losses) == 4 and all(np.isfinite(losses)) and losses[-1] < losses[0]

    delta = delta_matrix(models, test, per_sample_loss("mse"), device)
    # the device's Δ equals the CPU's for the same models (float32 sums in another order)
    plain = delta_matrix({code: on_cpu(model) for code, model in models.items()}, test, per_sample_loss("mse"), CPU)
    np.testing.assert_allclose(delta.to_numpy(), plain.to_numpy(), rtol=1e-4)
    for code, other in (("H", "V"), ("V", "H")):  # each dataset is reconstructed best by its own autoencoder
        assert delta.loc[other, code] > 2 * delta.loc[code, code], delta  # on the CPU: 5-14 times

    stage = StageSettings(TrainConfig("adam", 1e-3, epochs=6, batch_size=32, seed=0), validation_fraction=0.2)
    classifier, result = train_base_classifier(*train["H"], stage, device)
    assert {p.device.type for p in classifier.parameters()} == {device.type}
    assert 1 <= result.best_epoch <= 6
    images, labels = load_split(splits / "H" / "test.npz")
    score = accuracy(classifier, images, labels, device)
    assert score > 0.5  # ten classes: chance is 0.1
    assert abs(score - accuracy(on_cpu(classifier), images, labels, CPU)) <= 2 / len(labels)  # a borderline argmax may flip


@pytest.mark.parametrize("device", KINDS, indirect=True)
def test_the_fused_fleet_equals_its_members_trained_alone_on_the_device(device: torch.device, splits: Path) -> None:
    """In float64, where rounding cannot drift the two apart (see tests/test_fused_training.py)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        image_sets = [load_split(splits / code / "train.npz")[0][:n] for code, n in zip(CODES, (96, 70))]
        configs = [TrainConfig("rmsprop", 1e-3, epochs=2, batch_size=16, seed=seed) for seed in (3, 4)]
        fused = train_autoencoders(image_sets, "issim", SSIMWindow.default(), configs, device, validation_fraction=0.25)
        for images, config, (model, result) in zip(image_sets, configs, fused):
            alone, alone_result = train_autoencoder(images, "issim", SSIMWindow.default(), config, device, 0.25)
            np.testing.assert_allclose([r.train_loss for r in result.history],
                                       [r.train_loss for r in alone_result.history], rtol=1e-7)
            np.testing.assert_allclose([r.val_loss for r in result.history],
                                       [r.val_loss for r in alone_result.history], rtol=1e-7)
            for fused_parameter, alone_parameter in zip(model.parameters(), alone.parameters()):
                torch.testing.assert_close(fused_parameter, alone_parameter, rtol=1e-6, atol=1e-9)
    finally:
        torch.set_default_dtype(previous)
