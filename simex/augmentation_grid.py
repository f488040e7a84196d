"""Fig. 7's grid of training-set sizes and its checks against the data (§5.3).

Torch-free on purpose: rules/augmentation.smk checks the config with it while Snakemake
parses the rules, and a no-op rerun must not pay for importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from simex.data.acquire import samples_per_class


@dataclass(frozen=True)
class Grid:
    n_mnist: tuple[int, ...]
    n_borrowed: tuple[int, ...]
    trials: int

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> "Grid":
        return cls(tuple(sorted(set(section["n_mnist"]))), tuple(sorted(set(section["n_borrowed"]))), int(section["trials"]))


def train_per_class(code: str, samples_per_dataset: int, train_test_ratio: int) -> int:
    """Samples per class in the prepared train split (simex.data.acquire.balanced_split's cut)."""
    per_class = samples_per_class(code, samples_per_dataset)
    return per_class - max(1, round(per_class / (train_test_ratio + 1)))


def grid_problems(grid: Grid, available: Mapping[str, int], mnist: str = "M") -> list[str]:
    """What the data cannot supply: n(c_M) above MNIST's, n(c_Y) above a reference dataset's train class size."""
    problems = []
    if mnist in available and max(grid.n_mnist) > available[mnist]:
        problems.append(f"augmentation.n_mnist asks for {max(grid.n_mnist)} MNIST samples per class, "
                        f"the train split of {mnist} holds {available[mnist]}")
    for code, count in available.items():
        if code != mnist and max(grid.n_borrowed) > count:
            problems.append(f"augmentation.n_borrowed asks to borrow {max(grid.n_borrowed)} samples per class from "
                            f"{code}, whose train split holds {count} per class")
    return problems


def config_problems(config: Mapping[str, Any], references: Sequence[str]) -> list[str]:
    """Problems of the pipeline config's augmentation section, found before anything runs."""
    section, data = config["augmentation"], config["data"]
    available = {code: train_per_class(code, data["samples_per_dataset"], data["train_test_ratio"])
                 for code in ["M", *references]}
    problems = grid_problems(Grid.from_config(section), available)
    if problems:
        problems[-1] += (": lower the grid or raise data.samples_per_dataset "
                         "(borrowed samples come from the reference dataset's train split)")
    for loss in [*section["pairing_losses"], section["embedding_loss"]]:
        if loss not in config["losses"]:
            problems.append(f"augmentation uses loss {loss!r}, which is not among losses {list(config['losses'])}")
    return problems
