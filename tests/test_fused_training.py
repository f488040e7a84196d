"""The fused trainer equals training the members one by one with the same seeds and batches.

The fused trainer (simex.training.fused) keeps data, sample orders and losses on the
device and gives every member a full batch each step, masking the padding of a short
last batch; the plain loop (simex.training.loop.train) slices a short last batch. SIZES makes
every member's last batch short, so the masking is compared with the plain loop too.

The comparisons run in float64. RMSprop (and Adam, Adadelta) divide by the running root
mean square of the gradient, so a parameter whose gradient is near zero (a dead unit)
turns rounding noise of 1e-9 into a step of the learning rate's size: in float32, two
trainings that differ only in the order of their sums (a fused grouped convolution
against a plain one, or another thread count) drift apart after some dozens of steps.
In float64 the rounding noise is 1e-16 and the maths can be compared: same batches, same
gradients, same optimizer state. A short float32 run checks the default precision.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from simex.experiments.augmentation import TrainingSet, train_classifier
from simex.experiments.augmentation import train_classifiers as train_augmentation_classifiers
from simex.config import AugmentationClassifier
from simex.training.autoencoders import train_autoencoder, train_autoencoders
from simex.experiments.interclass import train_nine_class, train_nine_class_all
from simex.models.losses import SSIMWindow
from simex.training.fused import _rehearse
from simex.training.loop import OPTIMIZERS, TrainConfig, TrainResult, shuffle_orders
from simex.experiments.transfer import StageSettings, train_base_classifier, train_base_classifiers

CPU = torch.device("cpu")
SIZES = (45, 29, 64)  # unequal: different epoch lengths and partial last batches (batch 8)


def digit_like(n: int, seed: int) -> np.ndarray:
    """Dark images with a bright bar whose position and angle vary: learnable, not constant."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 30, size=(n, 28, 28)).astype(np.uint8)
    for image, (row, col, wide) in zip(images, rng.integers([6, 6, 0], [18, 18, 2], size=(n, 3))):
        if wide:
            image[row : row + 4, 4:24] = 220
        else:
            image[4:24, col : col + 4] = 220
    return images


def assert_same_training(loss: str, config: TrainConfig, validation_fraction: float = 0.0,
                         tolerance: float = 1e-9) -> list[TrainResult]:
    torch.set_num_threads(1)
    image_sets = [digit_like(n, seed) for seed, n in enumerate(SIZES)]
    configs = [dataclasses.replace(config, seed=config.seed + k) for k in range(len(SIZES))]
    fused = train_autoencoders(image_sets, loss, SSIMWindow.default(), configs, CPU, validation_fraction)
    for images, member_config, (fused_model, fused_result) in zip(image_sets, configs, fused):
        alone, alone_result = train_autoencoder(images, loss, SSIMWindow.default(), member_config, CPU, validation_fraction)
        assert [r.epoch for r in fused_result.history] == [r.epoch for r in alone_result.history]
        assert fused_result.best_epoch == alone_result.best_epoch
        assert fused_result.stopped_early == alone_result.stopped_early
        np.testing.assert_allclose([r.train_loss for r in fused_result.history],
                                   [r.train_loss for r in alone_result.history], rtol=tolerance, atol=tolerance)
        fused_state, alone_state = fused_model.state_dict(), alone.state_dict()
        assert fused_state.keys() == alone_state.keys()
        for name in alone_state:
            torch.testing.assert_close(fused_state[name], alone_state[name], rtol=tolerance, atol=tolerance,
                                       msg=lambda m, name=name: f"{name}: {m}")
    return [result for _, result in fused]


@pytest.mark.parametrize("loss", ["mse", "issim"])
def test_epoch_budget_each_member_keeps_its_own_epochs(loss: str, float64: None) -> None:
    # 6, 4 and 8 steps an epoch: the members finish after 60, 40 and 80 steps (180 in all)
    assert_same_training(loss, TrainConfig("rmsprop", 1e-3, epochs=10, batch_size=8, seed=11))


@pytest.mark.parametrize("loss", ["mse", "issim"])
def test_step_budget_every_member_makes_the_same_number_of_steps(loss: str, float64: None) -> None:
    assert_same_training(loss, TrainConfig("rmsprop", 1e-3, epochs=1, batch_size=8, seed=5, steps=100))


def test_float32_agrees_over_a_short_run() -> None:
    assert_same_training("mse", TrainConfig("rmsprop", 1e-3, epochs=1, batch_size=8, seed=5, steps=10),
                         tolerance=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "adadelta"])
def test_other_elementwise_optimizers_fold_exactly(optimizer: str, float64: None) -> None:
    # Adam moves a parameter even on a zero gradient: a member that is done must not be stepped at all
    assert_same_training("mse", TrainConfig(optimizer, 1e-3 if optimizer == "adam" else 1.0, epochs=6,
                                            batch_size=8, seed=3))


def test_early_stopping_per_member(float64: None) -> None:
    results = assert_same_training("mse", TrainConfig("rmsprop", 3e-3, epochs=12, batch_size=8, seed=4, patience=2),
                                   validation_fraction=0.25)
    assert all(r.stopped_early for r in results)
    assert len({len(r.history) for r in results}) == len(results)  # each stopped at its own epoch


def test_members_must_share_their_settings() -> None:
    configs = [TrainConfig("rmsprop", 1e-3, 1, 8, seed=0), TrainConfig("rmsprop", 1e-2, 1, 8, seed=1)]
    with pytest.raises(ValueError, match="only seeds may differ"):
        train_autoencoders([digit_like(10, 0), digit_like(10, 1)], "mse", SSIMWindow.default(), configs, CPU)


def test_rgb_members_fuse_by_their_layer_shapes(float64: None) -> None:
    rng = np.random.default_rng(4)
    image_sets = [rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8) for n in (20, 13)]
    configs = [TrainConfig("rmsprop", 1e-3, epochs=3, batch_size=8, seed=k) for k in range(2)]
    fused = train_autoencoders(image_sets, "issim", SSIMWindow.default(), configs, CPU)
    for images, config, (model, _) in zip(image_sets, configs, fused):
        alone, _ = train_autoencoder(images, "issim", SSIMWindow.default(), config, CPU)
        assert model.input_shape == (3, 32, 32)
        for name, tensor in alone.state_dict().items():
            torch.testing.assert_close(model.state_dict()[name], tensor, rtol=1e-9, atol=1e-9)


def test_sample_orders_are_permutations_drawn_per_member() -> None:
    seeds, epochs, sizes = torch.tensor([7, 7, 8]), torch.tensor([1, 2, 1]), torch.tensor([13, 9, 13])
    orders = shuffle_orders(seeds, epochs, sizes, 13)
    for row, n in zip(orders, sizes.tolist()):
        assert sorted(row[:n].tolist()) == list(range(n))  # a permutation of the member's own samples
        assert row[n:].tolist() == list(range(n, 13))  # the padding slots come last
    # a member's order depends on its seed, epoch and size only: alone it draws the same
    for k in range(3):
        alone = shuffle_orders(seeds[k : k + 1], epochs[k : k + 1], sizes[k : k + 1], int(sizes[k]))
        assert torch.equal(alone[0], orders[k, : int(sizes[k])])
    assert not torch.equal(orders[0], orders[2]) and not torch.equal(orders[0, :9], orders[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "adadelta"])
@pytest.mark.parametrize("loss", ["mse", "issim"])
def test_cuda_graph_equals_the_eager_step(optimizer: str, loss: str, float64: None) -> None:
    # the same kernels replayed: in float64 (see the module's note) the two agree to rounding
    cuda = torch.device("cuda")
    image_sets = [digit_like(n, seed) for seed, n in enumerate(SIZES)]
    configs = [TrainConfig(optimizer, 1.0 if optimizer == "adadelta" else 1e-3, epochs=4, batch_size=8, seed=k,
                           patience=2) for k in range(len(SIZES))]
    eager = train_autoencoders(image_sets, loss, SSIMWindow.default(), configs, cuda, 0.25, graph=False)
    graphed = train_autoencoders(image_sets, loss, SSIMWindow.default(), configs, cuda, 0.25, graph=True)
    for (eager_model, eager_result), (graph_model, graph_result) in zip(eager, graphed):
        assert [r.epoch for r in graph_result.history] == [r.epoch for r in eager_result.history]
        np.testing.assert_allclose([r.train_loss for r in graph_result.history],
                                   [r.train_loss for r in eager_result.history], rtol=1e-9, atol=1e-9)
        for name, tensor in eager_model.state_dict().items():
            torch.testing.assert_close(graph_model.state_dict()[name], tensor, rtol=1e-8, atol=1e-8)


def test_a_graph_needs_cuda() -> None:
    with pytest.raises(ValueError, match="CUDA graph needs a CUDA device"):
        train_autoencoders([digit_like(10, 0)], "mse", SSIMWindow.default(), [TrainConfig("rmsprop", 1e-3, 1, 8, 0)], CPU,
                           graph=True)


def labelled(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ten classes of bar images, the bar's row telling the class."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 30, size=(n, 28, 28)).astype(np.uint8)
    for image, label in zip(images, labels):
        image[2 + 2 * label : 5 + 2 * label, 4:24] = 220
    return images, labels


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_fused_lenet5_classifiers_train_as_each_alone(optimizer: str, float64: None) -> None:
    torch.set_num_threads(1)
    data = [labelled(n, seed) for seed, n in enumerate((60, 43, 75))]  # short last batches, unequal epochs
    settings = [StageSettings(TrainConfig(optimizer, 2e-3, epochs=8, batch_size=8, seed=20 + k, patience=2), 0.2)
                for k in range(len(data))]
    fused = train_base_classifiers(data, settings, CPU)
    for (images, labels), member, (model, result) in zip(data, settings, fused):
        alone, alone_result = train_base_classifier(images, labels, member, CPU)
        assert [r.epoch for r in result.history] == [r.epoch for r in alone_result.history]
        assert result.best_epoch == alone_result.best_epoch and result.stopped_early == alone_result.stopped_early
        np.testing.assert_allclose([r.val_loss for r in result.history], [r.val_loss for r in alone_result.history],
                                   rtol=1e-9)
        for name, tensor in alone.state_dict().items():
            torch.testing.assert_close(model.state_dict()[name], tensor, rtol=1e-9, atol=1e-9)


def test_augmentation_trials_fused_equal_each_trial_alone(float64: None) -> None:
    torch.set_num_threads(1)
    settings = AugmentationClassifier("rmsprop", 1e-3, steps=30, batch_size=16)  # a step budget: members of unequal size
    sets = []
    for seed, n in enumerate((40, 70, 55)):
        images, labels = labelled(n, 30 + seed)
        zeros = np.zeros(n, dtype=np.int64)
        sets.append(TrainingSet(images, labels.astype(np.int64), zeros, labels.astype(np.int64), np.arange(n)))
    seeds = [101, 102, 103]
    fused = train_augmentation_classifiers(sets, settings, seeds, CPU)
    for data, seed, model in zip(sets, seeds, fused):
        alone = train_classifier(data, settings, seed, CPU)
        for name, tensor in alone.state_dict().items():
            torch.testing.assert_close(model.state_dict()[name], tensor, rtol=1e-9, atol=1e-9)


def test_nine_class_lenet5s_fused_equal_each_alone(float64: None) -> None:
    torch.set_num_threads(1)
    images, labels = labelled(90, 40)
    excluded = [0, 4, 9]
    configs = [TrainConfig("rmsprop", 1e-3, epochs=3, batch_size=16, seed=50 + k) for k in excluded]
    fused = train_nine_class_all("lenet5", images, labels, excluded, 10, configs, CPU)
    for k, config, (model, kept, result, n_train) in zip(excluded, configs, fused):
        alone, alone_kept, alone_result, alone_n = train_nine_class("lenet5", images, labels, k, 10, config, CPU)
        assert kept == alone_kept and n_train == alone_n and k not in kept
        np.testing.assert_allclose([r.train_loss for r in result.history],
                                   [r.train_loss for r in alone_result.history], rtol=1e-9)
        for name, tensor in alone.state_dict().items():
            torch.testing.assert_close(model.state_dict()[name], tensor, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "adadelta"])
def test_a_graphs_warm_up_steps_leave_no_trace(optimizer: str, float64: None) -> None:
    # the eager steps before a CUDA graph capture must not train: after them, a step is the first one
    def run(rehearse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(0)
        weight = torch.randn(4, 3, requires_grad=True)
        counter = torch.zeros((), dtype=torch.int64)
        inputs = torch.randn(8, 3)
        optim = OPTIMIZERS[optimizer]([weight], 1e-2)

        def step() -> None:
            (inputs @ weight.T).pow(2).mean().backward()
            optim.step()
            counter.add_(1)

        if rehearse:
            _rehearse(step, optim, [weight, counter], steps=3)
            assert int(counter) == 0
        for _ in range(2):
            optim.zero_grad(set_to_none=True)
            step()
        return weight.detach(), counter

    rehearsed, counter = run(True)
    plain, _ = run(False)
    assert int(counter) == 2
    assert torch.equal(rehearsed, plain)
