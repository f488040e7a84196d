"""One autoencoder: training (alone or K fused), and its checkpoint with the card that
says what it was trained on."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from simex.base.artifacts import load_checkpoint, save_checkpoint
from simex.config import SSIMWindow
from simex.models.fused import FusedAutoEncoders, load_member, stack_parameters
from simex.training.fused import SampleLosses, train_fused
from simex.models.losses import PerSampleLoss, per_sample_loss
from simex.models.networks import LeNet5AutoEncoder
from simex.training.loop import EpochRecord, TrainConfig, TrainResult, autoencoder_batch_loss, images_to_tensor, seed_everything, train
from simex.base.errors import SimexError

ARCHITECTURE = "lenet5-autoencoder"
DEFAULT_INPUT_SHAPE = (1, 28, 28)  # the paper's; a checkpoint of another shape records its "input_shape"


class FleetError(SimexError, ValueError):
    pass


@dataclass(frozen=True, kw_only=True)
class AutoencoderCard:
    """What an autoencoder checkpoint says about itself: written (:meth:`metadata`) and read
    (:meth:`from_metadata`) here only, by the pipeline's jobs and `simex fleet build` alike.

    The keys a checkpoint of an older version may lack read as None (or the paper's input
    shape); they are not settings, so nothing here is a config default."""

    dataset: str
    loss: str
    label: str | None = None  # display label (stand-ins marked); None: the dataset's code and marker
    class_index: int | None = None  # the member's class (per-class fleets), key "class"
    class_name: str | None = None  # a user's class name; the paper's are registered
    provenance: str | None = None  # original, regenerated, stand-in, user
    source: str | None = None
    n_samples: int | None = None
    input_shape: tuple[int, int, int] | None = None
    ssim: SSIMWindow | None = None
    training: dict[str, Any] | None = None  # the TrainConfig, as a mapping
    history: list[dict[str, Any]] | None = None  # the TrainResult's epochs
    device: str | None = None
    trained_with: str | None = None  # e.g. "10 autoencoders fused (elapsed_s: the joint time)"
    sha256_source: str | None = None  # a user's dataset: the SHA-256 of its files
    conversion: str | None = None  # a user's dataset: how it was converted to the input shape
    replica: int | None = None  # which of a fleet's autoencoders of this dataset (class); None: replica 0

    @classmethod
    def of_training(cls, config: TrainConfig, result: TrainResult, model: LeNet5AutoEncoder, window: SSIMWindow,
                    device: torch.device | str, **fields: Any) -> "AutoencoderCard":
        """The card of an autoencoder just trained with ``config`` (``fields``: what it was trained on)."""
        return cls(training=asdict(config), history=[asdict(r) for r in result.history], ssim=window,
                   input_shape=tuple(model.input_shape), device=str(device), **fields)

    def metadata(self) -> dict[str, Any]:
        """The checkpoint's metadata mapping (keys left unset are left out)."""
        plain: dict[str, Any] = {}
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if value is None and spec.name not in ("class_index", "class_name"):
                continue
            key = "class" if spec.name == "class_index" else spec.name
            plain[key] = value.params() if isinstance(value, SSIMWindow) else \
                list(value) if spec.name == "input_shape" else value
        return plain

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> "AutoencoderCard":
        names = {spec.name for spec in dataclasses.fields(cls)}
        values = {name: value for key, value in metadata.items()
                  if (name := "class_index" if key == "class" else key) in names}  # a newer version's keys: skipped
        if "dataset" not in values or "loss" not in values:
            raise FleetError("an autoencoder's metadata needs its dataset and loss")
        if values.get("ssim") is not None:
            values["ssim"] = SSIMWindow.from_dict(values["ssim"])
        if values.get("input_shape") is not None:
            values["input_shape"] = tuple(int(n) for n in values["input_shape"])
        for name in ("class_index", "replica"):
            if values.get(name) is not None:
                values[name] = int(values[name])
        return cls(**values)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.input_shape or DEFAULT_INPUT_SHAPE


def save_autoencoder(destination: Path | str, model: LeNet5AutoEncoder, card: AutoencoderCard) -> None:
    """The weights with the card that says what the autoencoder was trained on."""
    save_checkpoint(destination, ARCHITECTURE, model.state_dict(), metadata=card.metadata())


def load_autoencoder(path: Path | str, device: torch.device | str = "cpu") -> tuple[LeNet5AutoEncoder, AutoencoderCard]:
    """An autoencoder checkpoint (read with weights_only=True) and its card; FleetError names
    the file when it is not one, or when its card or weights do not fit together."""
    payload = load_checkpoint(path, "autoencoder", {ARCHITECTURE}, FleetError, device)
    try:
        card = AutoencoderCard.from_metadata(payload["metadata"])
        with torch.device("meta"):  # the weights the card's input shape implies, allocated nowhere
            declared = sum(p.numel() for p in LeNet5AutoEncoder(*card.shape).parameters()) * 4
        if declared > Path(path).stat().st_size:
            raise FleetError(f"input shape {card.shape} needs {declared} bytes of weights, more than the file holds")
        model = LeNet5AutoEncoder(*card.shape)
        model.load_state_dict(payload["state_dict"])
    except (SimexError, KeyError, TypeError, ValueError, AttributeError, RuntimeError, ZeroDivisionError) as err:
        raise FleetError(f"{path}: not a usable autoencoder checkpoint ({type(err).__name__}: {err})") from err
    return model.to(device).eval(), card


def _split(images: np.ndarray, validation_fraction: float) -> tuple[tuple[torch.Tensor, torch.Tensor],
                                                                       tuple[torch.Tensor, torch.Tensor] | None]:
    """Training pairs (x, x) and the held-out first ``validation_fraction`` of the samples, if any."""
    inputs = images_to_tensor(images)
    n_validation = int(round(len(inputs) * validation_fraction))
    validation = (inputs[:n_validation], inputs[:n_validation]) if n_validation else None
    return (inputs[n_validation:], inputs[n_validation:]), validation


def _new_autoencoder(seed: int, images: np.ndarray) -> LeNet5AutoEncoder:
    """An untrained autoencoder for the shape of ``images``: (N, 28, 28) or (N, C, H, W)."""
    seed_everything(seed)  # the initial weights follow from the seed alone
    return LeNet5AutoEncoder(*(images.shape[1:] if images.ndim == 4 else (1, *images.shape[1:])))


def train_autoencoder(
    images: np.ndarray,
    loss: str,
    window: SSIMWindow,
    config: TrainConfig,
    device: torch.device,
    validation_fraction: float = 0.0,
    on_checkpoint: Callable | None = None,
) -> tuple[LeNet5AutoEncoder, TrainResult]:
    """A LeNet-5 autoencoder trained on uint8 images, (N, 28, 28) or (N, C, H, W), with δ = ``loss`` as its loss."""
    model = _new_autoencoder(config.seed, images)
    training, validation = _split(images, validation_fraction)
    result = train(model, autoencoder_batch_loss(per_sample_loss(loss, window)), training, config, device,
                   validation=validation, on_checkpoint=on_checkpoint)
    return model.eval(), result


def fused_autoencoder_losses(per_sample: PerSampleLoss, code_map: tuple[int, int, int]) -> SampleLosses:
    """Every member's per-sample loss from one fused pass (simex.models.fused) over its batch, (B, K)."""

    def sample_losses(params: Mapping[str, torch.Tensor], inputs: torch.Tensor, _targets: None) -> torch.Tensor:
        outputs = FusedAutoEncoders.from_stacked(params, code_map)(inputs, shared=False)
        return per_sample(inputs.flatten(0, 1), outputs.flatten(0, 1)).view(inputs.shape[:2])

    return sample_losses


def train_autoencoders(
    image_sets: Sequence[np.ndarray],
    loss: str | PerSampleLoss,
    window: SSIMWindow,
    configs: Sequence[TrainConfig],
    device: torch.device,
    validation_fraction: float = 0.0,
    graph: bool | None = None,
    on_epoch: Callable[[int, EpochRecord], None] | None = None,
) -> list[tuple[LeNet5AutoEncoder, TrainResult]]:
    """Several autoencoders trained as one fused model on the device (simex.training.fused),
    each equal (up to float rounding) to :func:`train_autoencoder` with its own images and
    config (seed) alone. ``loss``: δ by name (``window`` for iSSIM), or a per-sample function
    (another implementation of a δ, as docs/default-run/rounding.py compares). ``graph``:
    capture the step in a CUDA graph (default: on CUDA); ``on_epoch(k, record)``: called
    after each epoch of member k (progress reports)."""
    models = [_new_autoencoder(config.seed, images) for config, images in zip(configs, image_sets)]
    if len({model.input_shape for model in models}) != 1:
        raise ValueError(f"autoencoders trained as one fused model must share one input shape, got "
                         f"{sorted({model.input_shape for model in models})}")
    splits = [_split(images, validation_fraction) for images in image_sets]
    code_map = tuple(models[0].layers()["unflatten"].unflattened_size)
    results, trained = train_fused(stack_parameters(models),
                                    fused_autoencoder_losses(loss if callable(loss) else per_sample_loss(loss, window),
                                                             code_map),  # type: ignore[arg-type]
                                    [training[0] for training, _ in splits], None, configs, device,
                                    validation=[None if v is None else (v[0], None) for _, v in splits], graph=graph,
                                    on_epoch=on_epoch)
    for k, model in enumerate(models):
        load_member(model, trained, k)
    return [(model.to(device).eval(), result) for model, result in zip(models, results)]
