"""Known-answer checks of δ and Δ."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.signal import correlate2d

from simex.training.autoencoders import AutoencoderCard, load_autoencoder, save_autoencoder, train_autoencoder
from simex.models.losses import SSIMWindow, gaussian_window, issim_per_sample, mse_per_sample, per_sample_loss
from simex.data.images import InputError
from simex.models.networks import LeNet5AutoEncoder
from simex.inference.similarity import delta_matrix, mean_l2_norm, per_sample_errors
from simex.training.loop import TrainConfig

CPU = torch.device("cpu")


def reference_ssim(x: np.ndarray, y: np.ndarray, size: int, sigma: float) -> float:
    """Wang et al. (2004) SSIM with a Gaussian window, valid region, data range 1."""
    coords = np.arange(size) - size // 2
    g = np.exp(-(coords**2) / (2 * sigma**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    blur = lambda image: correlate2d(image, window, mode="valid")  # noqa: E731
    c1, c2 = 0.01**2, 0.03**2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(ssim_map.mean())


def test_issim_matches_a_reference_ssim_on_the_projects_window():
    rng = np.random.default_rng(0)
    x = rng.random((28, 28))
    y = np.clip(x + rng.normal(0, 0.2, (28, 28)), 0, 1)
    window = SSIMWindow.default()  # the project's window: 11 pixels, sigma 1.5
    ours = issim_per_sample(torch.tensor(x[None, None]), torch.tensor(y[None, None]), window)
    assert ours.item() == pytest.approx(1 - reference_ssim(x, y, 11, 1.5), abs=1e-6)


def test_delta_of_identical_images_is_zero():
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(issim_per_sample(x, x.clone()), torch.zeros(3), atol=1e-6)
    assert torch.equal(mse_per_sample(x, x.clone()), torch.zeros(3))


def test_mse_per_sample_known_value():
    x = torch.zeros(2, 1, 28, 28)
    y = torch.full((2, 1, 28, 28), 0.5)
    assert mse_per_sample(x, y).tolist() == [0.25, 0.25]


def stripes(orientation: str, n: int, seed: int) -> np.ndarray:
    """Three families built to be mutually dissimilar: horizontal bars, vertical bars, blobs."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    for image in images:
        if orientation == "blob":
            cy, cx = rng.integers(8, 20, 2)
            yy, xx = np.mgrid[:28, :28]
            image[(yy - cy) ** 2 + (xx - cx) ** 2 < rng.integers(16, 40)] = 255
            continue
        for start in rng.choice(np.arange(2, 24, 4), size=3, replace=False):
            if orientation == "horizontal":
                image[start : start + 2, 3:25] = 255
            else:
                image[3:25, start : start + 2] = 255
    return images


@pytest.mark.parametrize("loss", ["mse", "issim"])
def test_each_autoencoder_reconstructs_its_own_data_best(loss):
    families = ("horizontal", "vertical", "blob")
    config = TrainConfig(optimizer="rmsprop", lr=1e-3, epochs=5, batch_size=16, seed=0)
    models = {f: train_autoencoder(stripes(f, 192, seed=1), loss, SSIMWindow.default(), config, CPU)[0] for f in families}
    held_out = {f: stripes(f, 64, seed=2) for f in families}
    matrix = delta_matrix(models, held_out, per_sample_loss(loss), CPU)
    for family in families:
        assert matrix.loc[family].idxmin() == family, matrix


def test_delta_is_independent_of_batch_size():
    model = train_autoencoder(stripes("blob", 64, 3), "mse", SSIMWindow.default(),
                              TrainConfig("rmsprop", 1e-3, 1, 16, seed=0), CPU)[0]
    images = stripes("vertical", 50, 4)
    a = per_sample_errors(model, images, mse_per_sample, CPU, batch_size=7)
    b = per_sample_errors(model, images, mse_per_sample, CPU, batch_size=1024)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_saved_autoencoder_round_trips(tmp_path):
    model, _ = train_autoencoder(stripes("blob", 32, 5), "mse", SSIMWindow.default(),
                                 TrainConfig("rmsprop", 1e-3, 1, 16, seed=0), CPU)
    save_autoencoder(tmp_path / "a.pt", model, AutoencoderCard(dataset="M", loss="mse"))
    loaded, card = load_autoencoder(tmp_path / "a.pt")
    assert card == AutoencoderCard(dataset="M", loss="mse")
    images = stripes("blob", 8, 6)
    np.testing.assert_array_equal(per_sample_errors(model, images, mse_per_sample, CPU),
                                  per_sample_errors(loaded, images, mse_per_sample, CPU))


@pytest.mark.parametrize(
    ("images", "message"),
    [(np.zeros((0, 28, 28), np.uint8), "no samples"), (np.zeros((3, 32, 32), np.uint8), r"\(N, 28, 28\)"),
     (np.zeros((3, 28, 28), np.float64), "uint8")],
)
def test_bad_images_are_named(images, message):
    model = train_autoencoder(stripes("blob", 16, 7), "mse", SSIMWindow.default(), TrainConfig("sgd", 1e-2, 1, 16, 0), CPU)[0]
    with pytest.raises(InputError, match=message):
        per_sample_errors(model, images, mse_per_sample, CPU)


def test_mean_l2_norm_known_value():
    images = np.zeros((2, 28, 28), np.uint8)
    images[0, :2, :2] = 255  # norm 2
    assert mean_l2_norm(images) == pytest.approx(1.0)


def test_the_checkpoint_card_round_trips_and_reads_older_checkpoints(tmp_path):
    model = LeNet5AutoEncoder()
    card = AutoencoderCard(dataset="E", loss="issim", label="E*", class_index=3, class_name="d", provenance="stand-in",
                           source="test", n_samples=57, input_shape=(1, 28, 28), ssim=SSIMWindow(7, 1.0))
    save_autoencoder(tmp_path / "a.pt", model, card)
    assert load_autoencoder(tmp_path / "a.pt")[1] == card
    assert card.metadata()["class"] == 3 and card.metadata()["ssim"] == {"win_size": 7, "win_sigma": 1.0}
    # a checkpoint written before input_shape and provenance were recorded still reads, as the paper's shape
    old = AutoencoderCard.from_metadata({"dataset": "M", "loss": "mse", "class": None, "unknown_key": 1})
    assert old.shape == (1, 28, 28) and old.provenance is None


@pytest.mark.parametrize("shape", [(6, 1, 28, 28), (4, 3, 32, 32), (3, 1, 28, 9)])
def test_issim_equals_pytorch_msssim_values_and_gradients(shape):
    """The matrix-product blur is a fast path: pytorch-msssim's ssim is the plain one (a 9-pixel
    axis is shorter than the window, where both skip the blur along it)."""
    msssim = pytest.importorskip("pytorch_msssim.ssim")
    window = SSIMWindow.default()
    torch.manual_seed(0)
    x = torch.rand(shape, dtype=torch.float64)
    y = (x + 0.2 * torch.randn(shape, dtype=torch.float64)).clamp(0, 1)
    y_fast, y_plain = y.clone().requires_grad_(), y.clone().requires_grad_()
    ours = issim_per_sample(x, y_fast, window)
    taps = gaussian_window(window)  # pytorch-msssim's taps, made in float64 (its own are float32)
    assert torch.allclose(taps.float(), msssim._fspecial_gauss_1d(window.size, window.sigma).flatten(), atol=1e-7)
    win = taps.view(1, 1, 1, -1).repeat(shape[1], 1, 1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the skipped axis
        theirs = 1 - msssim.ssim(x, y_plain, data_range=1.0, size_average=False, win=win)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-12)
    (ours * torch.arange(1.0, shape[0] + 1, dtype=torch.float64)).sum().backward()
    (theirs * torch.arange(1.0, shape[0] + 1, dtype=torch.float64)).sum().backward()
    assert torch.allclose(y_fast.grad, y_plain.grad, rtol=0, atol=1e-12)


def test_issim_refuses_mismatched_batches():
    with pytest.raises(ValueError, match="one shape"):
        issim_per_sample(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 27, 28))
