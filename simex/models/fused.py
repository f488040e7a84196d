"""K LeNet-5 autoencoders (or K LeNet-5 classifiers) fused into one network: one pass computes every member's output.

The fused evaluator (simex.inference.evaluate) and the fused trainer (simex.training.autoencoders) share this
fusion. It equals running each model on its own up to float rounding:

- the per-member layers run for all K members at once: convolutions grouped
  (groups = K), FC layers as batched matrix products;
- when every member sees the same input (inference), the first convolution is a single
  convolution with 6·K output channels;
- 2x2 max-pooling comes before the ReLU (they commute), on a quarter of the values; in
  inference it is four strided maxima (much faster than ``max_pool2d`` on a CPU), in
  training ``max_pool2d``, whose backward by index is the faster one;
- nearest-neighbour upsampling followed by a 5x5 (transposed) convolution equals a 3x3
  convolution with four times the output channels on the small map, followed by
  ``pixel_shuffle`` (sub-pixel convolution), so the decoder never materialises an
  upsampled map.

The fused weights are a differentiable function of the members' own parameters: a loss
summed over members and back-propagated through the fused pass gives each member exactly
the gradient of its own loss. Layers are read by name (``LeNet5AutoEncoder.layers``) and
shapes from the layers themselves, so any input shape the model accepts fuses alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from simex.models.networks import LeNet5AutoEncoder, LeNet5Classifier

# Rows of _SUBPIXEL[a]: which taps u of a 5-tap kernel read source offset -1, 0, +1 (or
# -2, -1, 0 for the transposed convolution) when the output pixel has phase a ∈ {0, 1}
# of a 2x nearest-neighbour upsampled input.
_SUBPIXEL = torch.tensor([[[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]],
                          [[1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 1]]], dtype=torch.float64)


@lru_cache(maxsize=None)
def _subpixel_taps(device: torch.device) -> torch.Tensor:
    """_SUBPIXEL on ``device``, copied there once (a CUDA graph may not copy from the host while capturing)."""
    with torch.inference_mode(False):  # a normal tensor, which training may save for backward
        return _SUBPIXEL.to(device)


def _each_four_times(bias: torch.Tensor) -> torch.Tensor:
    """(K, O) -> (K·O·4,), each channel's bias for its four sub-pixel phases: an expand, which a CUDA
    graph can capture (``repeat_interleave`` may ask the host for its output size)."""
    return bias.unsqueeze(-1).expand(*bias.shape, 4).flatten()


def subpixel_kernel(weight: torch.Tensor) -> torch.Tensor:
    """Conv kernel (O, C, 5, 5) applied to a 2x upsampled map -> (4·O, C, 3, 3) on the small map.

    Output channel ``4·o + 2·a + b`` is the phase (a, b) of channel o, the order
    ``pixel_shuffle(·, 2)`` expects. Summed in float64, differentiable.
    """
    taps = _subpixel_taps(weight.device)
    kernel = torch.einsum("aru,ocuv,bsv->oabcrs", taps, weight.double(), taps)
    out_channels, in_channels = weight.shape[:2]
    return kernel.reshape(4 * out_channels, in_channels, 3, 3).to(weight.dtype)


def pool_max(h: torch.Tensor) -> torch.Tensor:
    """2x2 max-pooling, stride 2 (an odd last row or column dropped, as MaxPool2d), as four strided maxima."""
    h = h[..., : h.shape[-2] // 2 * 2, : h.shape[-1] // 2 * 2]
    return torch.maximum(torch.maximum(h[..., 0::2, 0::2], h[..., 0::2, 1::2]),
                         torch.maximum(h[..., 1::2, 0::2], h[..., 1::2, 1::2]))


# The layers holding parameters, by their name in LeNet5AutoEncoder.layers()
PARAMETER_LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3", "fc4", "deconv", "conv_out")


@dataclass(frozen=True)
class FusedAutoEncoders:
    """The weights of K autoencoders in the fused layout; call it to run all K at once."""

    k: int
    conv1: tuple[torch.Tensor, torch.Tensor]  # (6K, C, 5, 5), (6K,)
    conv2: tuple[torch.Tensor, torch.Tensor]  # (16K, 6, 5, 5), (16K,)
    fc: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per FC layer: (K, in, out) for x @ W, (K, 1, out)
    deconv: tuple[torch.Tensor, torch.Tensor]  # as a sub-pixel kernel: (4·6K, 16, 3, 3), (4·6K,)
    conv_out: tuple[torch.Tensor, torch.Tensor]  # as a sub-pixel kernel: (4·CK, 6, 3, 3), (4·CK,)
    code_map: tuple[int, int, int]  # the decoder's unflattened map, (16, h, w)

    @classmethod
    def fuse(cls, models: Sequence[LeNet5AutoEncoder]) -> "FusedAutoEncoders":
        """Fuse the members' current parameters (differentiably: gradients reach the members)."""
        if not models:
            raise ValueError("fusing needs at least one autoencoder")
        shapes = sorted({model.input_shape for model in models})
        if len(shapes) != 1:
            raise ValueError(f"autoencoders fused into one pass must share one input shape, got {shapes}")
        layers = [model.layers() for model in models]
        stacked = {f"{name}.{attribute}": torch.stack([getattr(layer[name], attribute) for layer in layers])
                   for name in PARAMETER_LAYERS for attribute in ("weight", "bias")}
        return cls.from_stacked(stacked, tuple(layers[0]["unflatten"].unflattened_size))  # type: ignore[arg-type]

    @classmethod
    def from_stacked(cls, stacked: Mapping[str, torch.Tensor], code_map: tuple[int, int, int]) -> "FusedAutoEncoders":
        """Fuse parameters stacked member-first (:func:`stack_parameters`), differentiably.

        The fused trainer keeps its members' parameters in this layout and fuses them again
        every step; gradients of the fused weights reach the stacked tensors."""

        def flat(name: str) -> tuple[torch.Tensor, torch.Tensor]:
            return stacked[f"{name}.weight"].flatten(0, 1), stacked[f"{name}.bias"].flatten(0, 1)

        # FC layers as x @ W: (K, in, out), biases (K, 1, out)
        fc = tuple((stacked[f"{name}.weight"].transpose(1, 2), stacked[f"{name}.bias"].unsqueeze(1))
                   for name in ("fc1", "fc2", "fc3", "fc4"))
        # ConvTranspose2d (stride 1, no padding) = conv with the flipped, transposed kernel and full padding;
        # as sub-pixel kernels for all members at once (one einsum, which a fused training step recomputes every time)
        deconv = subpixel_kernel(stacked["deconv.weight"].flip(3, 4).transpose(1, 2).flatten(0, 1))
        conv_out = subpixel_kernel(stacked["conv_out.weight"].flatten(0, 1))
        return cls(
            k=len(stacked["conv1.weight"]),
            conv1=flat("conv1"),
            conv2=flat("conv2"),
            fc=fc,
            deconv=(deconv, _each_four_times(stacked["deconv.bias"])),
            conv_out=(conv_out, _each_four_times(stacked["conv_out.bias"])),
            code_map=code_map,
        )

    def to(self, device: torch.device | str) -> "FusedAutoEncoders":
        def move(pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
            return pair[0].contiguous().to(device), pair[1].contiguous().to(device)

        return FusedAutoEncoders(self.k, move(self.conv1), move(self.conv2), tuple(move(p) for p in self.fc),
                                  move(self.deconv), move(self.conv_out), self.code_map)

    def __call__(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        """Every member's reconstruction, (B, K, C, H, W).

        ``shared``: x is (B, C, H, W) and every member sees it (inference); otherwise x is
        (B, K, C, H, W) and member k sees ``x[:, k]`` (training, each member its own batch).
        """
        k = self.k
        b, (channels, height, width) = len(x), x.shape[-3:]
        # strided maxima are the faster forward, max_pool2d's backward (by index) the faster training step
        pool = partial(F.max_pool2d, kernel_size=2) if torch.is_grad_enabled() else pool_max
        first = x if shared else x.reshape(b, k * channels, height, width)
        if shared:  # one input channel: the default layout is the faster one
            h = F.relu(pool(F.conv2d(first, *self.conv1, padding=2)))
        else:
            h = F.relu(pool(grouped_conv(first, self.conv1, 2, k)))
        h = F.relu(pool(grouped_conv(h, self.conv2, 0, k)))  # (B, 16K, h, w)
        h = h.reshape(b, k, -1).transpose(0, 1)  # (K, B, 16·h·w)
        for weight, bias in self.fc:
            h = F.relu(torch.baddbmm(bias, h, weight))  # encoder to the code and back
        h = h.transpose(0, 1).reshape(b, k * self.code_map[0], *self.code_map[1:])
        h = F.pixel_shuffle(F.relu(grouped_conv(h, self.deconv, 2, k)), 2)
        y = torch.sigmoid(F.pixel_shuffle(grouped_conv(h, self.conv_out, 1, k), 2))
        return y.reshape(b, k, channels, height, width)


def stack_parameters(models: Sequence[LeNet5AutoEncoder | LeNet5Classifier]) -> dict[str, torch.Tensor]:
    """The members' parameters stacked member-first, ``{"conv1.weight": (K, 6, C, 5, 5), ...}``: new
    tensors (copies, not views of the members), the layout ``from_stacked`` fuses."""
    layers = [model.layers() for model in models]
    return {f"{name}.{attribute}": torch.stack([getattr(layer[name], attribute).detach() for layer in layers])
            for name in layers[0] if hasattr(layers[0][name], "weight") for attribute in ("weight", "bias")}


@dataclass(frozen=True)
class FusedClassifiers:
    """K LeNet-5 classifiers fused the way the autoencoders are: grouped convolutions, batched FC layers."""

    conv1: tuple[torch.Tensor, torch.Tensor]  # (6K, C, 5, 5), (6K,)
    conv2: tuple[torch.Tensor, torch.Tensor]  # (16K, 6, 5, 5), (16K,)
    fc: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per FC layer: (K, in, out) for x @ W, (K, 1, out)

    @classmethod
    def from_stacked(cls, stacked: Mapping[str, torch.Tensor]) -> "FusedClassifiers":
        """Fuse parameters stacked member-first (:func:`stack_parameters`), differentiably."""
        return cls(
            conv1=(stacked["conv1.weight"].flatten(0, 1), stacked["conv1.bias"].flatten(0, 1)),
            conv2=(stacked["conv2.weight"].flatten(0, 1), stacked["conv2.bias"].flatten(0, 1)),
            fc=tuple((stacked[f"{name}.weight"].transpose(1, 2), stacked[f"{name}.bias"].unsqueeze(1))
                     for name in ("fc1", "fc2", "fc3")),
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, K, classes) of x (B, K, C, H, W), member k seeing ``x[:, k]``."""
        b, k = x.shape[:2]
        pool = partial(F.max_pool2d, kernel_size=2) if torch.is_grad_enabled() else pool_max
        h = F.relu(pool(grouped_conv(x.flatten(1, 2), self.conv1, 2, k)))  # max-pool and ReLU commute
        h = F.relu(pool(grouped_conv(h, self.conv2, 0, k)))  # (B, 16K, 5, 5)
        h = h.reshape(b, k, -1).transpose(0, 1)  # (K, B, 400): each member's map flattened as nn.Flatten does
        for i, (weight, bias) in enumerate(self.fc):
            h = torch.baddbmm(bias, h, weight)
            h = F.relu(h) if i < len(self.fc) - 1 else h
        return h.transpose(0, 1)


def stack_mlps(mlps: Sequence[torch.nn.Sequential]) -> dict[str, torch.Tensor]:
    """The parameters of K equal stacks of Linear layers (ReLU between), stacked member-first by name."""
    for mlp in mlps:
        kinds = [type(layer).__name__ for layer in mlp]
        if kinds != [*["Linear", "ReLU"] * (len(mlp) // 2), "Linear"]:
            raise ValueError(f"a fused MLP alternates Linear and ReLU layers and ends in a Linear one, got {kinds}")
    named = [dict(mlp.named_parameters()) for mlp in mlps]
    return {name: torch.stack([parameters[name].detach() for parameters in named]) for name in named[0]}


def fused_mlp(stacked: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """K MLPs of :func:`stack_mlps`' layout on x (B, K, in): (B, K, out), member k seeing ``x[:, k]``."""
    h = x.transpose(0, 1)
    layers = sorted({int(name.split(".")[0]) for name in stacked})
    for i, layer in enumerate(layers):
        h = torch.baddbmm(stacked[f"{layer}.bias"].unsqueeze(1), h, stacked[f"{layer}.weight"].transpose(1, 2))
        h = F.relu(h) if i < len(layers) - 1 else h
    return h.transpose(0, 1)


@torch.no_grad()
def load_member(model: LeNet5AutoEncoder | LeNet5Classifier | torch.nn.Sequential,
                stacked: Mapping[str, torch.Tensor], k: int) -> None:
    """Copy member ``k`` of the stacked parameters into ``model`` (layers by role, or a Sequential's by index)."""
    layers = model.layers() if hasattr(model, "layers") else dict(model.named_children())
    for key, tensor in stacked.items():
        name, attribute = key.split(".")
        getattr(layers[name], attribute).copy_(tensor[k])


def grouped_conv(h: torch.Tensor, layer: tuple[torch.Tensor, torch.Tensor], padding: int, groups: int) -> torch.Tensor:
    """A grouped convolution in the channels-last layout: oneDNN's grouped kernels are 2-4x faster
    there on a CPU than in the default layout (measured for these layers, perf/bench_rank.py)."""
    channels_last = torch.channels_last
    return F.conv2d(h.contiguous(memory_format=channels_last), layer[0].contiguous(memory_format=channels_last),
                    layer[1], padding=padding, groups=groups)
