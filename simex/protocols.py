"""The open choices of §5.1's transfer baseline, as a small config-level value (no torch).

The rules expand the study's protocol grid at parse time, so this module stays light.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence


class ProtocolError(ValueError):
    """A transfer protocol's settings are invalid."""


FcInit = Literal["base", "reinit"]
Frozen = Literal["conv", "conv+fc1"]
# LeNet-5's FC stack is [Linear, ReLU, Linear, ReLU, Linear]: layers frozen with the convolutions
FROZEN_FC_MODULES: dict[str, int] = {"conv": 0, "conv+fc1": 2}


@dataclass(frozen=True)
class TransferProtocol:
    """The choices §5.1 leaves open, each explicit."""

    samples_per_class: int | None  # samples per class of X that retrain the classifier; None: all
    fc_init: FcInit  # the retrained FC layers start from B(Y)'s weights, or re-initialised
    frozen: Frozen  # what stays B(Y)'s: the convolutions, or the convolutions and the first FC layer

    def __post_init__(self) -> None:
        if self.samples_per_class is not None and self.samples_per_class < 2:
            raise ProtocolError(f"samples_per_class must be at least 2 (or all), got {self.samples_per_class}")
        if self.fc_init not in ("base", "reinit"):
            raise ProtocolError(f"fc_init must be 'base' or 'reinit', got {self.fc_init!r}")
        if self.frozen not in FROZEN_FC_MODULES:
            raise ProtocolError(f"frozen must be one of {', '.join(FROZEN_FC_MODULES)}, got {self.frozen!r}")

    @property
    def name(self) -> str:
        """E.g. ``n10-base-conv`` or ``all-reinit-conv+fc1``."""
        count = "all" if self.samples_per_class is None else f"n{self.samples_per_class}"
        return f"{count}-{self.fc_init}-{self.frozen}"


def protocol_from_config(section: Mapping[str, Any]) -> TransferProtocol:
    """A protocol from its config mapping: samples_per_class ('all' or n), fc_init, frozen."""
    count = section["samples_per_class"]
    return TransferProtocol(None if count == "all" else int(count), section["fc_init"], section["frozen"])


PROTOCOL_KEYS = ("samples_per_class", "fc_init", "frozen")


def protocol_grid(axes: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """Every combination of the protocol axes, by protocol name, as config mappings."""
    missing = [key for key in PROTOCOL_KEYS if not axes.get(key)]
    if missing:
        raise ProtocolError(f"the protocol grid needs a non-empty list for {missing}")
    grid = {}
    for values in itertools.product(*(axes[key] for key in PROTOCOL_KEYS)):
        settings = dict(zip(PROTOCOL_KEYS, values))
        grid[protocol_from_config(settings).name] = settings
    return grid
