"""The one training loop: a budget in optimizer steps."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from simex.training.loop import TrainConfig, train


class CountingModel(nn.Module):
    """A linear model that counts the forward passes made in training mode."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)
        self.training_calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.training_calls += 1
        return self.linear(x)


def squared_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((model(x) - y) ** 2).mean()


@pytest.mark.parametrize("n_samples, steps, expected_epochs", [(100, 7, 1), (100, 25, 3), (100, 30, 3), (95, 31, 4)])
def test_step_budget_makes_exactly_that_many_updates(n_samples, steps, expected_epochs):
    data = (torch.randn(n_samples, 3), torch.randn(n_samples, 1))
    model = CountingModel()
    config = TrainConfig("sgd", 0.01, epochs=1, batch_size=10, seed=0, steps=steps)
    result = train(model, squared_error, data, config, torch.device("cpu"))
    assert model.training_calls == steps
    assert len(result.history) == expected_epochs


def test_without_a_step_budget_epochs_decide():
    data = (torch.randn(95, 3), torch.randn(95, 1))
    model = CountingModel()
    train(model, squared_error, data, TrainConfig("sgd", 0.01, epochs=2, batch_size=10, seed=0), torch.device("cpu"))
    assert model.training_calls == 20


def test_a_step_budget_below_one_is_refused():
    with pytest.raises(ValueError, match="steps"):
        TrainConfig("sgd", 0.01, epochs=1, batch_size=10, seed=0, steps=0)
