"""Ranking an unknown dataset against a fleet of trained autoencoders (§3.1, §4).

A *fleet* is a folder the pipeline exports (``results/fleets/{name}/{loss}/``)::

    manifest.json        what each autoencoder was trained on (see :func:`export_fleet`)
    members/{key}.pt     the checkpoints, each with its SHA-256 in the manifest

``Fleet.load(path).rank(images)`` evaluates every autoencoder on the images and orders
the known datasets (or classes) by Δ(X|Y), the mean δ of the fleet's loss, smallest
(most similar) first, with a percentile bootstrap confidence interval and the fraction
of bootstrap resamples in which each member comes first. Express mode reads the
samples in a seeded random order, a step at a time, and stops once the top two
members' intervals no longer overlap, or when a sample budget is spent.

Speed: :class:`FleetEvaluator` runs all autoencoders in one pass per batch, exactly
(up to float rounding) equal to running each model on its own:
- the first convolution of every model sees the same input, so it runs as a single
  convolution with 6·K output channels;
- 2x2 max-pooling is four strided maxima (much faster than ``max_pool2d`` on CPU)
  and comes before the ReLU (they commute), on a quarter of the values;
- nearest-neighbour upsampling followed by a 5x5 (transposed) convolution equals a
  3x3 convolution with four times the output channels on the small map, followed by
  ``pixel_shuffle`` (sub-pixel convolution); the kernels are folded once at load time,
  so the decoder never materialises an upsampled map;
- with those, the per-model layers run for all K models at once: convolutions grouped
  (groups = K), FC layers as batched matrix products.
Measured on the 2-core CPU (benchmarks/bench_rank.py): ``torch.vmap`` over stacked
models is slower than the plain loop, and grouping alone is not enough; the rewrites
above are what makes the single pass faster (about 2.5x the plain loop there).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from simex.datasets import MARKER_LEGEND, MARKERS, dataset_info
from simex.fleet import ARCHITECTURE, DEFAULT_INPUT_SHAPE, FleetError, load_autoencoder
from simex.losses import LOSSES, SSIMWindow, per_sample_loss
from simex.models import LeNet5AutoEncoder, trunk_side
from simex.images import InputShape
from simex.readers import ArraySource, SampleSource, open_samples
from simex.similarity import InputError

MANIFEST = "manifest.json"
FORMAT = "simex-fleet"
FORMAT_VERSION = 1


# --- the fused evaluator ---------------------------------------------------------------

# Rows of _SUBPIXEL[a]: which taps u of a 5-tap kernel read source offset -1, 0, +1 (or
# -2, -1, 0 for the transposed convolution) when the output pixel has phase a ∈ {0, 1}
# of a 2x nearest-neighbour upsampled input.
_SUBPIXEL = torch.tensor([[[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]],
                          [[1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 1]]], dtype=torch.float64)


def subpixel_kernel(weight: torch.Tensor) -> torch.Tensor:
    """Conv kernel (O, C, 5, 5) applied to a 2x upsampled map -> (4·O, C, 3, 3) on the small map.

    Output channel ``4·o + 2·a + b`` is the phase (a, b) of channel o, the order
    ``pixel_shuffle(·, 2)`` expects.
    """
    folded = torch.einsum("aru,ocuv,bsv->oabcrs", _SUBPIXEL, weight.detach().double(), _SUBPIXEL)
    out_channels, in_channels = weight.shape[:2]
    return folded.reshape(4 * out_channels, in_channels, 3, 3).to(weight.dtype)


def _pool_max(h: torch.Tensor) -> torch.Tensor:
    """2x2 max-pooling, stride 2, as four strided maxima."""
    return torch.maximum(torch.maximum(h[..., 0::2, 0::2], h[..., 0::2, 1::2]),
                         torch.maximum(h[..., 1::2, 0::2], h[..., 1::2, 1::2]))


class FleetEvaluator:
    """δ(x, A_k(x)) for all K autoencoders at once: (B, C, H, W) -> (B, K); the paper's C, H, W = 1, 28, 28.

    One pass per batch: the shared first convolution (6·K channels), the second
    convolution and the decoder's two folded convolutions as grouped convolutions
    (groups = K), the four FC layers as batched matrix products over the K models.
    """

    def __init__(self, models: Sequence[LeNet5AutoEncoder], loss: str, window: SSIMWindow = SSIMWindow(),
                 device: torch.device | str = "cpu") -> None:
        if not models:
            raise FleetError("a fleet needs at least one autoencoder")
        self.device = torch.device(device)
        self.delta = per_sample_loss(loss, window)
        self.k = len(models)
        shapes = sorted({m.input_shape for m in models})
        if len(shapes) != 1:
            raise FleetError(f"the autoencoders of a fleet must share one input shape, got {shapes}")
        self.shape = shapes[0]
        self.trunk = (trunk_side(self.shape[1]), trunk_side(self.shape[2]))  # the 16-channel map's (h, w)
        enc = [m.encoder for m in models]
        dec = [m.decoder for m in models]

        def cat(tensors: list[torch.Tensor]) -> torch.Tensor:
            return torch.cat([t.detach() for t in tensors]).contiguous().to(self.device)

        def stack(tensors: list[torch.Tensor]) -> torch.Tensor:
            return torch.stack([t.detach() for t in tensors]).contiguous().to(self.device)

        with torch.no_grad():
            self.w1, self.b1 = cat([e[0].weight for e in enc]), cat([e[0].bias for e in enc])
            self.w2, self.b2 = cat([e[3].weight for e in enc]), cat([e[3].bias for e in enc])
            # FC layers: weights (K, in, out) for x @ W, biases (K, 1, out)
            linears = [[e[7] for e in enc], [e[9] for e in enc], [d[0] for d in dec], [d[2] for d in dec]]
            self.fc = [(stack([l.weight.T for l in layer]), stack([l.bias[None] for l in layer])) for layer in linears]
            # ConvTranspose2d(16, 6, 5) = conv with the flipped, transposed kernel and padding 4; folded
            self.wt = cat([subpixel_kernel(d[6].weight.flip(2, 3).transpose(0, 1)) for d in dec])
            self.bt = cat([d[6].bias.repeat_interleave(4) for d in dec])
            self.wf = cat([subpixel_kernel(d[9].weight) for d in dec])
            self.bf = cat([d[9].bias.repeat_interleave(4) for d in dec])

    @torch.inference_mode()
    def errors(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        b, k = len(x), self.k
        c, height, width = self.shape
        h = F.relu(_pool_max(F.conv2d(x, self.w1, self.b1, padding=2)))  # (B, 6K, 14, 14) at 28x28
        h = F.relu(_pool_max(F.conv2d(h, self.w2, self.b2, groups=k)))  # (B, 16K, 5, 5) at 28x28
        h = h.reshape(b, k, -1).transpose(0, 1)  # (K, B, 400) at 28x28
        for weight, bias in self.fc:
            h = F.relu(torch.baddbmm(bias, h, weight))  # 400 -> 120 -> 84 (code) -> 120 -> 400 at 28x28
        h = h.transpose(0, 1).reshape(b, 16 * k, *self.trunk)
        h = F.pixel_shuffle(F.relu(F.conv2d(h, self.wt, self.bt, padding=2, groups=k)), 2)  # (B, 6K, 14, 14)
        y = torch.sigmoid(F.pixel_shuffle(F.conv2d(h, self.wf, self.bf, padding=1, groups=k), 2))  # (B, K·C, 28, 28)
        inputs = x.unsqueeze(1).expand(b, k, c, height, width).reshape(b * k, c, height, width)
        return self.delta(inputs, y.reshape(b * k, c, height, width)).view(b, k).float()


@torch.inference_mode()
def plain_errors(models: Sequence[torch.nn.Module], x: torch.Tensor, loss: str, window: SSIMWindow = SSIMWindow(),
                 batch_size: int = 1024) -> torch.Tensor:
    """The reference: each model on its own, one after another, (N, K)."""
    delta = per_sample_loss(loss, window)
    columns = []
    for model in models:
        model.eval()
        columns.append(torch.cat([delta(x[s : s + batch_size], model(x[s : s + batch_size]))
                                  for s in range(0, len(x), batch_size)]))
    return torch.stack(columns, dim=1)


# --- the fleet -------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    key: str  # file stem: "M", or "M4" for class 4 of M
    label: str  # display label with provenance marker: "E*", "M:4", "E*:a"
    dataset: str
    class_index: int | None
    class_name: str | None
    loss: str
    provenance: str
    source: str
    n_samples: int | None
    file: str  # relative to the fleet folder
    sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def member_from_metadata(metadata: dict[str, Any], file: str, sha256: str) -> Member:
    dataset = metadata["dataset"]
    class_index = metadata.get("class")
    label = metadata.get("label") or dataset + MARKERS.get(metadata.get("provenance", "original"), "")
    class_name = None
    key = dataset
    if class_index is not None:
        class_index = int(class_index)
        # a user's dataset (simex fleet build) records its class names; the paper's come from the registry
        class_name = metadata.get("class_name") or dataset_info(dataset).class_names[class_index]
        label = f"{label}:{class_name}"
        key = f"{dataset}{class_index}"
    return Member(key=key, label=label, dataset=dataset, class_index=class_index, class_name=class_name,
                  loss=metadata["loss"], provenance=metadata.get("provenance", "original"),
                  source=metadata.get("source", ""), n_samples=metadata.get("n_samples"), file=file, sha256=sha256)


def check_single_loss(members: Sequence[Member], where: str) -> str:
    losses = sorted({m.loss for m in members})
    if len(losses) != 1:
        detail = ", ".join(f"{m.label}: {m.loss}" for m in members)
        raise FleetError(f"{where}: the fleet mixes losses ({detail}); a fleet ranks with one δ, so every "
                         f"autoencoder must have been trained with the same loss")
    return losses[0]


def export_fleet(model_paths: Sequence[Path | str], destination: Path | str, name: str,
                 description: str = "") -> dict[str, Any]:
    """Copy trained autoencoders into a fleet folder with its manifest; all or nothing.

    The folder is assembled beside ``destination`` and renamed into place, so a failed
    export leaves no partial fleet behind.
    """
    destination = Path(destination)
    if not model_paths:
        raise FleetError(f"{destination}: no autoencoders to export")
    loaded = []
    for path in map(Path, model_paths):
        model, metadata = load_autoencoder(path)
        loaded.append((path, metadata))
    members = []
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        (staging / "members").mkdir()
        for path, metadata in loaded:
            draft = member_from_metadata(metadata, "", "")
            file = f"members/{draft.key}.pt"
            if (staging / file).exists():
                raise FleetError(f"{path}: two autoencoders of the fleet are both {draft.label}")
            shutil.copyfile(path, staging / file)
            members.append(member_from_metadata(metadata, file, sha256_of(staging / file)))
        loss = check_single_loss(members, str(destination))
        shapes = sorted({tuple(meta.get("input_shape", DEFAULT_INPUT_SHAPE)) for _, meta in loaded})
        if len(shapes) != 1:
            raise FleetError(f"{destination}: the autoencoders have different input shapes {shapes}; a fleet has one")
        ssim = loaded[0][1].get("ssim") or asdict(SSIMWindow())
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "description": description,
            "architecture": ARCHITECTURE, "loss": loss, "ssim": {"win_size": int(ssim["win_size"]),
                                                                 "win_sigma": float(ssim["win_sigma"])},
            "kind": "class" if any(m.class_index is not None for m in members) else "dataset",
            "input_shape": list(shapes[0]),
            "members": [asdict(m) for m in members],
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(staging, destination)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return manifest


def resolve_fleet(path: Path | str, loss: str | None = None) -> Path:
    """The folder holding manifest.json: ``path`` itself or its ``{loss}`` subfolder."""
    path = Path(path)
    if not path.exists():
        raise FleetError(f"{path}: no such fleet (expected a folder with {MANIFEST})")
    if not path.is_dir():
        raise FleetError(f"{path}: a fleet is a folder with {MANIFEST}, not a file")
    if (path / MANIFEST).is_file():
        return path
    choices = sorted(p.name for p in path.iterdir() if (p / MANIFEST).is_file())
    if not choices:
        raise FleetError(f"{path}: not a fleet: no {MANIFEST} here or in a loss subfolder")
    if loss is None:
        if len(choices) > 1:
            raise FleetError(f"{path}: holds fleets for several losses ({', '.join(choices)}); choose one with --loss")
        return path / choices[0]
    if loss not in choices:
        raise FleetError(f"{path}: no fleet for loss {loss!r}; available: {', '.join(choices)}")
    return path / loss


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FleetError(f"{folder / MANIFEST}: corrupt manifest ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise FleetError(f"{folder / MANIFEST}: not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise FleetError(f"{folder / MANIFEST}: format version {manifest.get('format_version')!r}, "
                         f"this simex reads {FORMAT_VERSION}")
    missing = [k for k in ("loss", "members", "architecture") if k not in manifest]
    if missing or not isinstance(manifest.get("members"), list) or not manifest["members"]:
        raise FleetError(f"{folder / MANIFEST}: corrupt manifest (missing or empty: {', '.join(missing) or 'members'})")
    return manifest


@dataclass
class Fleet:
    """Trained autoencoders, what each was trained on, and the δ they rank with."""

    root: Path
    name: str
    loss: str
    window: SSIMWindow
    members: list[Member]
    models: list[LeNet5AutoEncoder]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    input_shape: InputShape = field(default_factory=InputShape)  # new data is converted to it
    _evaluator: FleetEvaluator | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path | str, loss: str | None = None, device: torch.device | str = "cpu") -> "Fleet":
        """Load and verify a fleet (checksums, one loss, readable checkpoints)."""
        if loss is not None and loss not in LOSSES:
            raise FleetError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
        folder = resolve_fleet(path, loss)
        manifest = read_manifest(folder)
        if manifest["architecture"] != ARCHITECTURE:
            raise FleetError(f"{folder}: architecture {manifest['architecture']!r}; this simex runs {ARCHITECTURE}")
        try:
            members = [Member(**entry) for entry in manifest["members"]]
        except TypeError as err:
            raise FleetError(f"{folder / MANIFEST}: corrupt member entry ({err})") from err
        fleet_loss = check_single_loss(members, str(folder))
        shape = InputShape.parse(manifest.get("input_shape", DEFAULT_INPUT_SHAPE))  # manifests before shapes: 1×28×28
        if fleet_loss != manifest["loss"]:
            raise FleetError(f"{folder}: the manifest says loss {manifest['loss']!r} but its members use {fleet_loss!r}")
        if loss is not None and loss != fleet_loss:
            raise FleetError(f"{folder}: this fleet ranks with {fleet_loss!r}, not the requested {loss!r}")
        models = []
        for member in members:
            file = folder / member.file
            if not file.is_file():
                raise FleetError(f"{folder}: member {member.label} is missing its file {member.file}")
            if sha256_of(file) != member.sha256:
                raise FleetError(f"{file}: checksum mismatch with the manifest (corrupt or replaced file)")
            model, metadata = load_autoencoder(file, "cpu")
            if metadata.get("loss") != fleet_loss:
                raise FleetError(f"{file}: trained with loss {metadata.get('loss')!r}, the fleet ranks with "
                                 f"{fleet_loss!r}: the fleet mixes losses")
            if model.input_shape != shape.as_tuple():
                raise FleetError(f"{file}: input shape {model.input_shape}, the manifest says {shape}")
            models.append(model)
        ssim = manifest.get("ssim") or {}
        window = SSIMWindow(int(ssim.get("win_size", 11)), float(ssim.get("win_sigma", 1.5)))
        return cls(folder, str(manifest.get("name", folder.name)), fleet_loss, window, members, models,
                   torch.device(device), shape)

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.members]

    @property
    def evaluator(self) -> FleetEvaluator:
        if self._evaluator is None:
            self._evaluator = FleetEvaluator(self.models, self.loss, self.window, self.device)
        return self._evaluator

    def errors(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """δ of every sample through every member, (N, K); images float in [0, 1] or uint8."""
        source = as_source(images, self.input_shape)
        return self._errors(source.take(np.arange(len(source))), batch_size)

    def _errors(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        if batch_size < 1:
            raise InputError(f"batch size must be positive, got {batch_size}")
        tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        if self.device.type == "cuda":
            tensor = tensor.pin_memory()
        parts = [self.evaluator.errors(tensor[s : s + batch_size]).cpu() for s in range(0, len(tensor), batch_size)]
        return torch.cat(parts).numpy().astype(np.float64)

    def rank(self, images: np.ndarray | str | Path | SampleSource, batch_size: int = 1024,
             settings: "RankSettings | None" = None) -> "Ranking":
        """Order the members by Δ (most similar first) for the unknown ``images``."""
        settings = settings or RankSettings()
        started = time.perf_counter()
        source = as_source(images, self.input_shape)
        n_total = len(source)
        rng = np.random.default_rng(settings.seed)
        if not settings.express:
            errors = self._errors(source.take(np.arange(n_total)), batch_size)
            stop_reason = "all samples"
        else:
            order = rng.permutation(n_total)
            limit = min(n_total, settings.budget) if settings.budget else n_total
            chunks, used, stop_reason = [], 0, "all samples"
            while used < limit:
                step = min(settings.step, limit - used)
                chunks.append(self._errors(source.take(order[used : used + step]), batch_size))
                used += step
                if used >= settings.min_samples and used < limit and settled(np.concatenate(chunks), settings, rng):
                    stop_reason = "settled"
                    break
            else:
                stop_reason = "budget" if limit < n_total else "all samples"
            errors = np.concatenate(chunks)
        return summarize(self, errors, n_total, stop_reason, time.perf_counter() - started, settings, rng,
                         source.conversion)


def as_source(images: np.ndarray | str | Path | SampleSource, shape: InputShape) -> SampleSource:
    if isinstance(images, (str, Path)):
        return open_samples(images, shape)
    if isinstance(images, np.ndarray):
        return ArraySource(images, "images", shape)
    if torch.is_tensor(images):
        return ArraySource(images.detach().cpu().numpy(), "images", shape)
    return images


# --- bootstrap and the ranking ---------------------------------------------------------


@dataclass(frozen=True)
class RankSettings:
    bootstrap: int = 1000  # resamples for the confidence intervals
    confidence: float = 0.95
    seed: int = 0
    express: bool = False
    budget: int = 5000  # express: read at most this many samples (0: no budget)
    step: int = 128  # express: samples read between checks
    min_samples: int = 128  # express: never stop before this many
    check_resamples: int = 200  # express: resamples per check

    def __post_init__(self) -> None:
        if self.bootstrap < 1 or self.step < 1 or self.check_resamples < 1 or self.budget < 0:
            raise InputError(f"invalid ranking settings: {self}")
        if not 0.0 < self.confidence < 1.0:
            raise InputError(f"confidence must lie in (0, 1), got {self.confidence}")


def bootstrap_means(errors: np.ndarray, resamples: int, rng: np.random.Generator, chunk: int = 64) -> np.ndarray:
    """Means of ``errors`` (N, K) over ``resamples`` paired resamples of the samples: (R, K)."""
    n = len(errors)
    means = []
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        index = rng.integers(0, n, size=(count, n))
        means.append(errors[index].mean(axis=1))
    return np.concatenate(means)


def intervals(means: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1.0 - confidence) / 2.0
    return np.quantile(means, tail, axis=0), np.quantile(means, 1.0 - tail, axis=0)


def settled(errors: np.ndarray, settings: RankSettings, rng: np.random.Generator) -> bool:
    """The top two members' bootstrap intervals no longer overlap."""
    if errors.shape[1] < 2:
        return True
    low, high = intervals(bootstrap_means(errors, settings.check_resamples, rng), settings.confidence)
    first, second = np.argsort(errors.mean(axis=0), kind="stable")[:2]
    return bool(high[first] < low[second])


@dataclass
class Ranking:
    fleet: str
    fleet_path: str
    loss: str
    table: pd.DataFrame  # rank, label, key, dataset, class, delta, ci_low, ci_high, p_top
    n_used: int
    n_total: int
    stop_reason: str  # "all samples" | "settled" | "budget"
    seconds: float
    conversion: str  # what was done to the data to fit the fleet's input shape
    bootstrap: int
    confidence: float

    @property
    def stopped_early(self) -> bool:
        return self.n_used < self.n_total

    @property
    def top(self) -> str:
        return str(self.table["label"].iloc[0])

    @property
    def order(self) -> list[str]:
        return list(self.table["label"])

    def summary(self) -> dict[str, Any]:
        return {"fleet": self.fleet, "fleet_path": self.fleet_path, "loss": self.loss, "n_used": self.n_used,
                "n_total": self.n_total, "stopped_early": self.stopped_early, "stop_reason": self.stop_reason,
                "seconds": round(self.seconds, 4), "conversion": self.conversion,
                "bootstrap": self.bootstrap, "confidence": self.confidence}

    def to_json(self) -> str:
        rows = json.loads(self.table.to_json(orient="records"))
        return json.dumps({**self.summary(), "ranking": rows}, indent=2, ensure_ascii=False) + "\n"

    def to_csv(self) -> str:
        frame = self.table.copy()
        for key, value in self.summary().items():
            if key not in ("fleet_path",):
                frame[key] = value
        return frame.to_csv(index=False, float_format="%.6g")

    def to_text(self) -> str:
        pct = f"{self.confidence:.0%}"
        how = {"all samples": "all samples", "settled": "express: stopped early, the top of the ranking is settled",
               "budget": "express: stopped at the sample budget, the top may not be settled"}[self.stop_reason]
        lines = [f"SimEx ranking against fleet {self.fleet} ({self.fleet_path}), δ = {self.loss}",
                 f"samples used: {self.n_used} of {self.n_total} ({how}); time {self.seconds:.2f} s",
                 f"input conversion: {self.conversion}",
                 "", f"{'rank':>4}  {'known':<10} {'Δ':>10}  {pct + ' CI':<23} {'P(first)':>8}"]
        for row in self.table.itertuples(index=False):
            ci = f"[{row.ci_low:.5g}, {row.ci_high:.5g}]"
            lines.append(f"{row.rank:>4}  {row.label:<10} {row.delta:>10.5g}  {ci:<23} {row.p_top:>8.3f}")
        legend = [text for kind, text in MARKER_LEGEND.items() if any(MARKERS[kind] in l for l in self.table["label"])]
        lines += ["", f"Δ: mean δ over the samples, smaller = more similar; CI: percentile bootstrap, "
                      f"{self.bootstrap} resamples; P(first): share of resamples ranking it first", *legend]
        return "\n".join(lines) + "\n"

    def render(self, fmt: str) -> str:
        if fmt == "table":
            return self.to_text()
        if fmt == "json":
            return self.to_json()
        if fmt == "csv":
            return self.to_csv()
        raise ValueError(f"unknown format {fmt!r}; expected table, json or csv")


def summarize(fleet: Fleet, errors: np.ndarray, n_total: int, stop_reason: str, seconds: float,
              settings: RankSettings, rng: np.random.Generator, conversion: str) -> Ranking:
    delta = errors.mean(axis=0)
    means = bootstrap_means(errors, settings.bootstrap, rng)
    low, high = intervals(means, settings.confidence)
    p_top = np.bincount(means.argmin(axis=1), minlength=len(delta)) / len(means)
    order = np.argsort(delta, kind="stable")
    table = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1),
        "label": [fleet.members[i].label for i in order],
        "key": [fleet.members[i].key for i in order],
        "dataset": [fleet.members[i].dataset for i in order],
        "class": [fleet.members[i].class_name for i in order],
        "delta": delta[order], "ci_low": low[order], "ci_high": high[order], "p_top": p_top[order],
    })
    if not math.isfinite(float(delta.sum())):
        raise InputError("δ is not finite for some samples; the input holds values the autoencoders cannot handle")
    return Ranking(fleet.name, str(fleet.root), fleet.loss, table, int(len(errors)), n_total, stop_reason, seconds,
                   conversion, settings.bootstrap, settings.confidence)


# --- the pipeline's check: does each held-out split rank its own autoencoder first? ----


def check_rows(fleet: Fleet, inputs: dict[str, tuple[str, np.ndarray]], settings: RankSettings,
               batch_size: int = 1024) -> list[dict[str, Any]]:
    """One row per input: ``inputs`` maps a data label to (the member label expected first, images).

    The full ranking and an express ranking are both recorded, so the table shows whether
    express mode agrees with the full pass on the top.
    """
    rows = []
    for data_label, (expected, images) in inputs.items():
        full = fleet.rank(images, batch_size, settings)
        express = fleet.rank(images, batch_size, RankSettings(**{**asdict(settings), "express": True}))
        order = full.order
        rows.append({
            "fleet": fleet.name, "loss": fleet.loss, "data": data_label, "expected_first": expected,
            "ranked_first": full.top, "own_rank": order.index(expected) + 1 if expected in order else None,
            "own_first": full.top == expected, "ranking": " < ".join(order),
            "delta_own": float(full.table.set_index("label")["delta"].get(expected, float("nan"))),
            "delta_first": float(full.table["delta"].iloc[0]), "p_first": float(full.table["p_top"].iloc[0]),
            "n_samples": full.n_total, "seconds": round(full.seconds, 4),
            "express_first": express.top, "express_agrees": express.top == full.top,
            "express_n_used": express.n_used, "express_stop": express.stop_reason,
            "express_seconds": round(express.seconds, 4),
        })
    return rows


def rank_settings(section: dict[str, Any], seed: int) -> RankSettings:
    """RankSettings from the config's ``fleets`` section."""
    express = section.get("express", {})
    return RankSettings(bootstrap=int(section.get("bootstrap", 1000)), confidence=float(section.get("confidence", 0.95)),
                        seed=seed, budget=int(express.get("budget", 5000)), step=int(express.get("step", 128)),
                        min_samples=int(express.get("min_samples", 128)),
                        check_resamples=int(express.get("check_resamples", 200)))
