"""The one config object: the validated pipeline config as frozen, typed sections.

``config/schema.yaml`` is the one place for defaults. :func:`validated` checks a raw
config against it and fills the defaults in, exactly as Snakemake's
``validate(config, "config/schema.yaml", set_default=True)`` does in the Snakefile;
:meth:`Config.from_dict` then turns the validated dict into frozen sections once, with
the checks that span sections (:meth:`Config.problems`). Rules build it in
``rules/common.smk`` (``CONFIG``); the CLI, scripts and tests use :func:`load`,
:func:`schema_default` or a section's :meth:`Section.from_dict`.

Values reach jobs through ``params:`` as plain mappings (``section.params()``), since
Snakemake hashes params for its between-workflow cache and compares them to decide
reruns; a job turns its mapping back into the typed section with ``from_dict``, the same
parser the rules used.

Torch-free on purpose: the rules import this module while Snakemake parses them, and a
no-op rerun must not pay for importing torch.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import types
import typing
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Sequence

import yaml

from simex.base.datasets import MNIST, in_paper_order, read_sheet, samples_per_class
from simex.base.errors import SimexError

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "config" / "schema.yaml"
DEFAULT_CONFIG_PATH = REPO / "config" / "config.yaml"


class ConfigError(SimexError, ValueError):
    """The config is invalid: the message names the key and the problem."""


# --- the schema: validation and defaults ------------------------------------------------


@functools.lru_cache(maxsize=None)
def schema() -> dict[str, Any]:
    """config/schema.yaml, parsed (cached; do not mutate)."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


# Keys renamed since (old dotted path -> new one): a config that still uses one fails
# naming the new key, not with the schema's "additional properties" message.
RENAMED_KEYS: dict[str, str] = {
    "classifier.protocols.literal": "classifier.protocols.as_written",
    "classifier.protocols.adopted": "classifier.protocols.few_shot",
    "study": "protocol_sweep",
}


def check_renamed_keys(raw: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the new key of every renamed key (:data:`RENAMED_KEYS`) ``raw`` uses.

    :func:`validated` calls it first, and so does the Snakefile before Snakemake's validate()."""
    found = []
    for old, new in RENAMED_KEYS.items():
        node: Any = raw
        for part in old.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            found.append(f"{old} is now {new}")
    if found:
        raise ConfigError("config validation: renamed keys: " + "; ".join(found) + " (rename them in your config file)")


def validated(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``raw`` checked against config/schema.yaml, with the schema's defaults
    filled in the way Snakemake's ``validate(..., set_default=True)`` fills them."""
    import jsonschema
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, property_schema in properties.items():
                if "default" in property_schema:
                    instance.setdefault(name, copy.deepcopy(property_schema["default"]))
        yield from checker(validator, properties, instance, subschema)

    Validator = validators.extend(Draft202012Validator, {"properties": set_defaults})
    check_renamed_keys(raw)
    config = copy.deepcopy(dict(raw))
    try:
        Validator(schema()).validate(config)
    except jsonschema.ValidationError as err:
        where = "/".join(map(str, err.absolute_path)) or "(top level)"
        raise ConfigError(f"error validating config at {where}: {err.message}") from None
    return config


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema node with its local ``$ref`` followed (siblings of the ref win)."""
    while "$ref" in node:
        target: Any = schema()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _node_default(node: Mapping[str, Any]) -> Any:
    node = _resolve(node)
    if node.get("type") == "object" and "properties" in node and "default" in node:
        return {name: _node_default(child) for name, child in node["properties"].items()
                if "default" in _resolve(child)}
    if "default" not in node:
        raise KeyError("no default")
    return copy.deepcopy(node["default"])


def schema_default(*path: str) -> Any:
    """The schema's default at ``path`` (e.g. ``schema_default("fleets", "bootstrap")``);
    an object with ``default: {}`` gives its keys' defaults. KeyError when there is none."""
    node: Mapping[str, Any] = schema()
    for part in path:
        node = _resolve(node)["properties"][part]
    try:
        return _node_default(node)
    except KeyError:
        raise KeyError(f"config/schema.yaml has no default for {'.'.join(path)}") from None


# --- seeds --------------------------------------------------------------------------------


def derived_seed(seed: int, *parts: object) -> int:
    """A seed per artifact, stable across runs and independent of job order."""
    return (int(seed) + zlib.crc32("/".join(map(str, parts)).encode())) % 2**31


def autoencoder_seed(seed: int, dataset: str, loss: str, class_index: int | None = None, replica: int = 0) -> int:
    """The seed of A(dataset) (or A(class) of it) trained with ``loss``: the pipeline's jobs, the
    protocol sweep and `simex fleet build` use this one recipe, so the same autoencoder is the same everywhere.
    ``replica``: a fleet's further members of the same known dataset (a seed each); replica 0
    is the one autoencoder every table uses, its seed unchanged."""
    if replica == 0:
        return derived_seed(seed, "ae", dataset, loss, class_index)
    return derived_seed(seed, "ae", dataset, loss, class_index, f"replica-{int(replica)}")


# --- typed sections -----------------------------------------------------------------------


def _convert(kind: Any, value: Any) -> Any:
    """``value`` (from a validated mapping) as the annotated type ``kind``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in args if arg is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if isinstance(kind, type) and issubclass(kind, Section):
        return kind.from_dict(value)
    if origin is tuple:
        return tuple(_convert(args[0], item) for item in value)
    if origin is dict:
        return {key: _convert(args[1], item) for key, item in value.items()}
    return value  # numbers as the YAML has them (an int where a float is allowed), so params() round-trips


def _optional(kind: Any) -> bool:
    return typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in typing.get_args(kind)


def _plain(value: Any) -> Any:
    if isinstance(value, Section):
        return value.params()
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


class Section:
    """A frozen config section: fields named as the config's keys."""

    # fields read from a key of another name (config key -> field)
    RENAMED: ClassVar[dict[str, str]] = {}
    # optional keys the config may leave out: left out of params() too when unset
    OMITTED_WHEN_UNSET: ClassVar[tuple[str, ...]] = ()
    # where the section sits in config/schema.yaml, for default()
    SCHEMA_KEY: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def default(cls):
        """The section as config/schema.yaml's defaults make it."""
        if not cls.SCHEMA_KEY:
            raise ConfigError(f"{cls.__name__} has no schema defaults")
        return cls.from_dict(schema_default(*cls.SCHEMA_KEY))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """The section from its validated mapping (the one parser of every section)."""
        hints = typing.get_type_hints(cls)
        keys = {field_name: key for key, field_name in cls.RENAMED.items()}
        values = {}
        for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
            if not spec.init:
                continue
            key = keys.get(spec.name, spec.name)
            if key in data:
                values[spec.name] = _convert(hints[spec.name], data[key])
            elif _optional(hints[spec.name]):
                values[spec.name] = None  # an optional key the config leaves out
            elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{cls.__name__}: missing key {key!r}")
        return cls(**values)

    def params(self) -> dict[str, Any]:
        """The section as the plain mapping a rule passes to its job (``params:``)."""
        keys = {field_name: key for key, field_name in self.RENAMED.items()}
        return {keys.get(spec.name, spec.name): _plain(getattr(self, spec.name))
                for spec in dataclasses.fields(self)  # type: ignore[arg-type]
                if spec.init and spec.repr
                and not (spec.name in self.OMITTED_WHEN_UNSET and getattr(self, spec.name) is None)}


Optimizer = Literal["rmsprop", "adam", "adagrad", "adadelta", "sgd"]
Loss = Literal["mse", "issim"]


@dataclass(frozen=True, kw_only=True)
class Training(Section):
    """A training section (``autoencoder``, ``class_autoencoder``, ``classifier.base``, ...):
    a budget in epochs, or in optimizer steps when ``steps`` is set."""

    optimizer: Optimizer
    lr: float
    epochs: int | None  # absent (None) when the section sets a budget in steps
    batch_size: int
    patience: int
    validation_fraction: float
    steps: int | None

    OMITTED_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("epochs",)

    def __post_init__(self) -> None:
        if self.epochs is None and self.steps is None:
            raise ConfigError("a training section needs epochs or steps")


@dataclass(frozen=True, kw_only=True)
class NineClassTraining(Section):
    """``interclass.classifiers.<architecture>``: a 9-class classifier's training."""

    optimizer: Optimizer
    lr: float
    epochs: int | None
    batch_size: int
    patience: int
    steps: int | None
    samples_per_class: int | None

    OMITTED_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("epochs",)


@dataclass(frozen=True)
class SSIMWindow(Section):
    """``ssim``: SSIM's Gaussian window (pytorch-msssim's ``win_size``, ``win_sigma``)."""

    RENAMED: ClassVar[dict[str, str]] = {"win_size": "size", "win_sigma": "sigma"}
    SCHEMA_KEY: ClassVar[tuple[str, ...]] = ("ssim",)  # default(): Wang et al.'s 11 pixels, σ = 1.5
    size: int
    sigma: float


@dataclass(frozen=True)
class Background(Section):
    """``data.background``: the patches mnist-back-image is regenerated over."""

    images: tuple[str, ...]
    composite: Literal["over", "max"]
    min_patch_std: float
    patch_size: int
    contrast: Literal["as_is", "stretch"]


@dataclass(frozen=True)
class Rotation(Section):
    interpolation_order: int


@dataclass(frozen=True)
class RandomBackground(Section):
    low: float
    high: float


@dataclass(frozen=True)
class EmnistStandin(Section):
    """``data.emnist_standin``: the E* stand-in rendered from fonts (simex.data.standin)."""

    font_globs: tuple[str, ...]  # the handwriting-like fonts drawn from
    # per glyph, drawn at random up to these: rotation (degrees), shear, elastic distortion
    # (alpha, sigma in pixels), extra stroke width (pixels), Gaussian blur (sigma range)
    max_rotation_deg: float
    max_shear: float
    elastic_alpha: float
    elastic_sigma: float
    max_stroke_width: int
    blur_sigma: tuple[float, ...]


@dataclass(frozen=True)
class Data(Section):
    """``data``: where datasets come from and how they are split (simex.data.acquire)."""

    source_chain: tuple[str, ...]
    download_timeout_s: float
    samples_per_dataset: int
    train_test_ratio: int
    background: Background
    rotation: Rotation
    random_background: RandomBackground
    emnist_standin: EmnistStandin

    def train_per_class(self, code: str) -> int:
        """Samples per class in a paper dataset's prepared train split."""
        return train_per_class(code, self.samples_per_dataset, self.train_test_ratio)


def train_per_class(code: str, samples_per_dataset: int, train_test_ratio: int) -> int:
    """Samples per class in the prepared train split (simex.data.acquire.balanced_split's cut)."""
    per_class = samples_per_class(code, samples_per_dataset)
    return per_class - max(1, round(per_class / (train_test_ratio + 1)))


# --- §5.1's transfer protocols ---------------------------------------------------------------


class ProtocolError(ConfigError):
    """A transfer protocol's settings are invalid."""


FcInit = Literal["base", "reinit"]
Frozen = Literal["conv", "conv+fc1"]
# LeNet-5's FC stack is [Linear, ReLU, Linear, ReLU, Linear]: layers frozen with the convolutions
FROZEN_FC_MODULES: dict[str, int] = {"conv": 0, "conv+fc1": 2}
PROTOCOL_KEYS = ("samples_per_class", "fc_init", "frozen")


@dataclass(frozen=True)
class TransferProtocol(Section):
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TransferProtocol":
        """A protocol from its config mapping: samples_per_class ('all' or n), fc_init, frozen."""
        count = data["samples_per_class"]
        return cls(None if count == "all" else int(count), data["fc_init"], data["frozen"])

    def params(self) -> dict[str, Any]:
        return {"samples_per_class": "all" if self.samples_per_class is None else self.samples_per_class,
                "fc_init": self.fc_init, "frozen": self.frozen}

    @property
    def name(self) -> str:
        """E.g. ``n10-base-conv`` or ``all-reinit-conv+fc1``."""
        count = "all" if self.samples_per_class is None else f"n{self.samples_per_class}"
        return f"{count}-{self.fc_init}-{self.frozen}"


def protocol_grid(axes: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """Every combination of the protocol axes, by protocol name, as config mappings."""
    missing = [key for key in PROTOCOL_KEYS if not axes.get(key)]
    if missing:
        raise ProtocolError(f"the protocol grid needs a non-empty list for {missing}")
    grid = {}
    for values in itertools.product(*(axes[key] for key in PROTOCOL_KEYS)):
        settings = dict(zip(PROTOCOL_KEYS, values))
        grid[TransferProtocol.from_dict(settings).name] = settings
    return grid


@dataclass(frozen=True)
class Classifier(Section):
    """``classifier``: §5.1's transfer baseline (and §5.2's BT-1 / TL-1)."""

    balance: bool
    replicates: int
    protocols: dict[str, TransferProtocol]
    base: Training
    transfer: Training

    def replicate_seed(self, seed: int, replicate: int) -> int:
        """The seed of seed replicate ``replicate`` (seed, seed+1, ...)."""
        return int(seed) + int(replicate)


# --- §5.3 augmentation -------------------------------------------------------------------------


@dataclass(frozen=True)
class AugmentationClassifier(Section):
    """``augmentation.classifier``: the 10-class LeNet-5, a fixed number of optimizer steps."""

    optimizer: Optimizer
    lr: float
    steps: int
    batch_size: int


@dataclass(frozen=True)
class Grid:
    """Fig. 7's grid of training-set sizes."""

    n_mnist: tuple[int, ...]
    n_borrowed: tuple[int, ...]
    trials: int

    def problems(self, available: Mapping[str, int], mnist: str = MNIST) -> list[str]:
        """What the data cannot supply: n(c_M) above MNIST's, n(c_Y) above a reference dataset's train class size."""
        problems = []
        if mnist in available and max(self.n_mnist) > available[mnist]:
            problems.append(f"augmentation.n_mnist asks for {max(self.n_mnist)} MNIST samples per class, "
                            f"the train split of {mnist} holds {available[mnist]}")
        for code, count in available.items():
            if code != mnist and max(self.n_borrowed) > count:
                problems.append(f"augmentation.n_borrowed asks to borrow {max(self.n_borrowed)} samples per class "
                                f"from {code}, whose train split holds {count} per class")
        return problems


GRID_ADVICE = ("lower the grid or raise data.samples_per_dataset "
               "(borrowed samples come from the reference dataset's train split)")


@dataclass(frozen=True)
class Augmentation(Section):
    methods: tuple[str, ...]
    pairing_losses: tuple[Loss, ...]
    embedding_loss: Loss
    pairing_split: Literal["train", "test"]
    max_samples_per_class: int | None
    n_mnist: tuple[int, ...]
    n_borrowed: tuple[int, ...]
    trials: int
    test_per_class: int | None
    classifier: AugmentationClassifier

    @property
    def grid(self) -> Grid:
        return Grid(tuple(sorted(set(self.n_mnist))), tuple(sorted(set(self.n_borrowed))), int(self.trials))


# --- §4/§5.4 inter-class ---------------------------------------------------------------------


@dataclass(frozen=True)
class SampleDistance(Section):
    max_pairs: int | None


@dataclass(frozen=True)
class Fig1a(Section):
    reference: int
    digits: tuple[int, ...]
    samples_per_digit: int
    loss: Loss


@dataclass(frozen=True)
class Interclass(Section):
    sample_distance: SampleDistance
    fig1a: Fig1a
    classifiers: dict[str, NineClassTraining]


# --- `simex rank` fleets ---------------------------------------------------------------------


@dataclass(frozen=True)
class Express(Section):
    budget: int
    step: int
    min_samples: int
    check_resamples: int


@dataclass(frozen=True)
class Fleets(Section):
    """``fleets``: autoencoders per known dataset, the bootstrap and express mode of `simex rank`
    (its CLI defaults too)."""

    members: int
    bootstrap: int
    confidence: float
    batch_size: int
    express: Express

    SCHEMA_KEY: ClassVar[tuple[str, ...]] = ("fleets",)


# --- §5.2 latency ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimizerSetting(Section):
    """One configuration of Fig. 5 (TL-k) or Fig. 6 (BT-k, AE schedules)."""

    name: str
    optimizer: Optimizer
    lr: float
    panel: str | None = None  # Fig. 6 schedules only (None: the key is absent)

    OMITTED_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("panel",)

    @property
    def slug(self) -> str:
        """A schedule's file name: optimizer and learning rate, e.g. ``rmsprop-0.0002``."""
        return f"{self.optimizer}-{float(self.lr):g}"



@dataclass(frozen=True)
class TrainingTime(Section):
    loss: Loss
    base_datasets: tuple[str, ...]
    checkpoints: tuple[int, ...]
    batch_size: int
    repeats: int
    schedules: tuple[OptimizerSetting, ...]
    base_training: tuple[OptimizerSetting, ...]

    @property
    def schedules_by_slug(self) -> dict[str, OptimizerSetting]:
        return {entry.slug: entry for entry in self.schedules}


@dataclass(frozen=True)
class Latency(Section):
    reference: str
    unknown: str
    split: Literal["train", "test"]
    losses: tuple[Loss, ...]
    batch_size: int
    repeats: int
    max_epochs: int
    transfer: tuple[OptimizerSetting, ...]
    training_time: TrainingTime


# --- the Table 1 protocol sweep -----------------------------------------------------------


@dataclass(frozen=True)
class SweepProtocols(Section):
    samples_per_class: tuple[Any, ...]
    fc_init: tuple[str, ...]
    frozen: tuple[str, ...]


@dataclass(frozen=True)
class ProtocolSweep(Section):
    results: str
    output: str
    sizes: tuple[int, ...]
    seeds: int
    ae_steps: tuple[int, ...]
    protocols: SweepProtocols

    @property
    def protocol_grid(self) -> dict[str, dict[str, Any]]:
        return protocol_grid(self.protocols.params())


# --- the source-selection benchmark --------------------------------------------------------


@dataclass(frozen=True)
class Probe(Section):
    """``benchmark.probe``: multinomial logistic regression on standardised features (L-BFGS)."""

    C: float
    max_iter: int
    tol: float


@dataclass(frozen=True)
class Headline(Section):
    protocol: Literal["probe", "finetune"]
    samples_per_class: int


@dataclass(frozen=True)
class Svm(Section):
    C: tuple[float, ...]
    gamma_factors: tuple[float, ...]


@dataclass(frozen=True)
class Difficulty(Section):
    """``difficulty``: the difficulty check of the regenerated and stand-in datasets (simex.experiments.difficulty)."""

    datasets: tuple[str, ...]
    train_per_class: int
    valid_per_class: int
    test_per_class: int
    svm: Svm
    lenet: Training

    def sizes(self) -> dict[str, int]:
        """Samples a class in each split."""
        return {"train": self.train_per_class, "valid": self.valid_per_class, "test": self.test_per_class}


@dataclass(frozen=True)
class Benchmark(Section):
    """``benchmark``: the source-selection benchmark (docs/benchmark/PROTOCOL.md, rules/benchmark.smk)."""

    results: str
    output: str
    seeds: int
    samples_per_class: tuple[int, ...]
    unseen: tuple[str, ...]
    base: Training
    finetune: Training
    scratch: Training
    probe: Probe
    embedding_loss: Loss
    otdd_max_samples: int | None
    bootstrap: int
    confidence: float
    headline: Headline

    def problems(self, datasets: Sequence[str]) -> list[str]:
        problems = [f"benchmark.unseen: {code} is not among datasets {list(datasets)}"
                    for code in self.unseen if code not in datasets]
        if self.headline.samples_per_class not in self.samples_per_class:
            problems.append(f"benchmark.headline.samples_per_class {self.headline.samples_per_class} is not among "
                            f"benchmark.samples_per_class {list(self.samples_per_class)}")
        return problems


@dataclass(frozen=True)
class V2Cell(Section):
    protocol: Literal["probe", "finetune"]
    samples_per_class: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.protocol, int(self.samples_per_class))


@dataclass(frozen=True)
class V2Headline(Section):
    protocol: Literal["probe", "finetune"]
    samples_per_class: int
    scale: int


# What docs/benchmark/PROTOCOL-v2.md registers (a registered run may name nothing else).
V2_SCALES = (1800, 8120)
V2_CELLS = (("probe", 10), ("finetune", 10), ("probe", 100))
V2_HEADLINE = ("finetune", 10, 8120)
V2_MIN_SEEDS = 10
V2_MIN_MEMBERS = 5
V2_ESTIMATORS = ("sample-MSE", "embeddings", "Fréchet", "LogME", "LogME (tol 1e-10)", "LEEP", "NCE", "H-score",
                 "H-score (shrinkage)", "k-NN", "OTDD", "static")
# Per-class capacity of each built-in dataset (PROTOCOL-v2.md, "Two data scales"): the scarcest
# class once repeats are dropped; None: rendered to order. R, B, BR, RBI draw from MNIST.
V2_CAPACITY: dict[str, int | None] = {"M": 6313, "F": 7000, "E": 5600, "R": 6313, "B": 6313, "BR": 6313,
                                      "RBI": 6313, "A": 812}


@dataclass(frozen=True)
class BenchmarkV2(Section):
    """``benchmark_v2``: the source-selection benchmark v2 (docs/benchmark/PROTOCOL-v2.md,
    rules/benchmark_v2.smk). B(Y), fine-tune, scratch and probe settings are ``benchmark``'s."""

    registered: bool
    results: str
    output: str
    scales: tuple[int, ...]
    seeds: int
    members: int
    cells: tuple[V2Cell, ...]
    headline: V2Headline
    estimators: tuple[str, ...]
    own_estimators: dict[str, str]
    otdd_max_samples: int
    member_draws: int
    bootstrap: int
    confidence: float

    @property
    def cell_keys(self) -> list[tuple[str, int]]:
        return [cell.key for cell in self.cells]

    @property
    def sizes(self) -> list[int]:
        """The n of the cells, each once, in the order of the cells."""
        return list(dict.fromkeys(n for _, n in self.cell_keys))

    def problems(self, datasets: Sequence[str], sources: Mapping[str, str | None], train_test_ratio: int) -> list[str]:
        """Values that cannot run together (every one named), checked before any job starts.
        ``sources``: each dataset's built-in source code (None: a user's dataset, its capacity unknown here)."""
        import math

        problems = []
        keys = self.cell_keys
        if len(set(keys)) != len(keys):
            problems.append(f"benchmark_v2.cells: a cell is named twice: {keys}")
        headline = (self.headline.protocol, self.headline.samples_per_class)
        if headline not in keys:
            problems.append(f"benchmark_v2.headline {headline} is not among benchmark_v2.cells {keys}")
        if self.headline.scale not in self.scales:
            problems.append(f"benchmark_v2.headline.scale {self.headline.scale} is not among benchmark_v2.scales "
                            f"{list(self.scales)}")
        for name in self.own_estimators:
            if name in V2_ESTIMATORS or name.startswith("SimEx") or name in ("random", "noise ceiling"):
                problems.append(f"benchmark_v2.own_estimators: {name!r} is the name of a registered estimator")
        for scale in self.scales:
            for code in datasets:
                capacity = V2_CAPACITY.get(sources.get(code) or "")
                if capacity is not None and scale // 10 > capacity:  # the ten-class classifier split (E's // 26 is less)
                    problems.append(f"benchmark_v2.scales: {scale} samples per dataset need {scale // 10} a class of "
                                    f"{code}, which holds {capacity} a class: the largest allowed is "
                                    f"{capacity * 10 + 9}")
            per_class = scale // 10
            train = per_class - max(1, round(per_class / (train_test_ratio + 1)))
            for protocol, n in keys:
                if n > train:
                    problems.append(f"benchmark_v2.cells: ({protocol}, n = {n}) at scale {scale}: the classifier "
                                    f"train split holds {train} a class, fewer than n = {n}")
                elif self.seeds > math.comb(train, n) ** 10:
                    problems.append(f"benchmark_v2.seeds = {self.seeds}: at scale {scale} and n = {n} only "
                                    f"{math.comb(train, n) ** 10} distinct draws exist")
        if self.registered:
            if self.seeds < V2_MIN_SEEDS:
                problems.append(f"benchmark_v2.seeds = {self.seeds}: the registered protocol needs at least {V2_MIN_SEEDS}")
            if self.members < V2_MIN_MEMBERS:
                problems.append(f"benchmark_v2.members = {self.members}: the registered protocol needs at least "
                                f"{V2_MIN_MEMBERS}")
            problems += [f"benchmark_v2.scales: {scale} is not registered ({list(V2_SCALES)}); set "
                         "benchmark_v2.registered: false for a run outside the registration"
                         for scale in self.scales if scale not in V2_SCALES]
            problems += [f"benchmark_v2.cells: {cell} is not registered ({list(V2_CELLS)})"
                         for cell in keys if cell not in V2_CELLS]
            problems += [f"benchmark_v2.estimators: {name!r} is not registered ({', '.join(V2_ESTIMATORS)})"
                         for name in self.estimators if name not in V2_ESTIMATORS]
            if (*headline, self.headline.scale) != V2_HEADLINE:
                problems.append(f"benchmark_v2.headline: {(*headline, self.headline.scale)} is not the registered "
                                f"{V2_HEADLINE}")
        else:
            known = set(V2_ESTIMATORS)
            problems += [f"benchmark_v2.estimators: unknown estimator {name!r} ({', '.join(V2_ESTIMATORS)}); "
                         "your own go in benchmark_v2.own_estimators" for name in self.estimators if name not in known]
        return problems


# --- a rehearsal's marker (config/paper-rehearsal.yaml) ------------------------------------


# The data sizes of a run: a rehearsal keeps every one of them at the value of the config it
# cuts down (``rehearsal.of``), so it exercises the real inputs and cannot be laid over a
# smaller (or other) config. Dotted paths into the validated config.
PAPER_SIZE_KEYS = (
    "datasets",
    "losses",
    "data.samples_per_dataset",
    "data.train_test_ratio",
    "augmentation.n_mnist",
    "augmentation.n_borrowed",
    "augmentation.max_samples_per_class",
    "augmentation.test_per_class",
    "augmentation.pairing_losses",
    "augmentation.methods",
    "interclass.sample_distance.max_pairs",
    "interclass.classifiers.lenet5.samples_per_class",
    "interclass.classifiers.resnet18.samples_per_class",
    "fleets.bootstrap",
    "latency.training_time.base_datasets",
    "latency.transfer",
    "latency.training_time.schedules",
    "latency.training_time.base_training",
)


@dataclass(frozen=True)
class Rehearsal(Section):
    """``rehearsal``: this config is a rehearsal of ``of`` (every size kept, budgets cut)."""

    of: str
    cut: tuple[str, ...] = ()


def _dotted(config: Mapping[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def rehearsal_problems(config: Mapping[str, Any]) -> list[str]:
    """Why a rehearsal overlay (``rehearsal:``) may not run on this validated ``config``:
    every data size (:data:`PAPER_SIZE_KEYS`, less ``rehearsal.cut``) must equal that of the
    config named by ``rehearsal.of``. Empty when the config is no rehearsal or passes."""
    marker = config.get("rehearsal")
    if not marker:
        return []
    path = Path(marker["of"])
    path = path if path.is_absolute() or path.exists() else REPO / path
    if not path.exists():
        return [f"rehearsal.of: {marker['of']} does not exist"]
    # as Snakemake reads it: the embedded config/config.yaml, then the named config on top
    reference = validated(deep_merge(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()), yaml.safe_load(path.read_text())))
    if "datasets" not in reference:  # a config without a selection selects every row of the sheet
        reference["datasets"] = config.get("datasets")
    cut = set(marker.get("cut") or ())
    differ = [f"{key} is {_dotted(config, key)!r}, {marker['of']} has {_dotted(reference, key)!r}"
              for key in PAPER_SIZE_KEYS if key not in cut and _dotted(config, key) != _dotted(reference, key)]
    if differ:
        return [f"this config is a rehearsal of {marker['of']} (rehearsal.of: it keeps every data size and cuts "
                f"only training budgets), so it runs only on top of that config: {'; '.join(differ)}. "
                f"Use --configfile {marker['of']} <the rehearsal overlay> (one --configfile: Snakemake keeps only "
                f"the last of several), or drop the overlay"]
    return []


# --- the whole config ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Config(Section):
    """The validated pipeline config (config/config.yaml, config/paper.yaml, ...)."""

    seed: int
    dataset_sheet: str
    datasets: tuple[str, ...]  # the effective selection: the config's, else every row of the sheet
    losses: tuple[Loss, ...]
    threads_per_job: int
    gpu_lock_dir: str
    eval_batch_size: int
    data: Data
    ssim: SSIMWindow
    autoencoder: Training
    class_autoencoder: Training
    classifier: Classifier
    augmentation: Augmentation
    interclass: Interclass
    fleets: Fleets
    latency: Latency
    protocol_sweep: ProtocolSweep | None  # only in the sweep's config (config/protocol_sweep.yaml)
    rehearsal: Rehearsal | None  # only in a rehearsal overlay (config/paper-rehearsal.yaml)
    benchmark: Benchmark
    difficulty: Difficulty
    benchmark_v2: BenchmarkV2 | None = None  # only in the v2 benchmark's config (config/benchmark-v2.yaml)
    # the paper's datasets among ``datasets``, in the paper's order (user datasets of the sheet are not)
    paper_datasets: tuple[str, ...] = field(default=(), repr=False)
    # each dataset's built-in source code (None for a user's), for the checks of capacities
    dataset_sources: dict[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], sheet: Mapping[str, Any] | None = None) -> "Config":
        """The config from a validated dict (:func:`validated`); ``sheet`` is the dataset
        sheet (:func:`simex.base.datasets.read_sheet`), read from ``dataset_sheet`` when not given.
        Raises ConfigError naming every cross-section problem."""
        sheet = read_sheet(data["dataset_sheet"]) if sheet is None else sheet
        selection = tuple(data.get("datasets") or sheet)
        unknown = [name for name in selection if name not in sheet]
        if unknown:
            raise ConfigError(f"config validation: datasets {', '.join(map(repr, unknown))} not in the dataset sheet "
                              f"{data['dataset_sheet']} (its names: {', '.join(sheet)})")
        paper = tuple(in_paper_order(name for name in selection if sheet[name].builtin))
        config = super().from_dict({**data, "datasets": selection})
        config = dataclasses.replace(config, paper_datasets=paper, dataset_sources={
            name: sheet[name].source if sheet[name].builtin else None for name in selection})
        problems = rehearsal_problems({**data, "datasets": list(selection)}) + config.problems()
        if problems:
            raise ConfigError("config: " + "; ".join(problems))
        return config

    def params(self) -> dict[str, Any]:
        plain = super().params()
        for optional in ("protocol_sweep", "rehearsal", "benchmark_v2"):
            if getattr(self, optional) is None:
                del plain[optional]
        return plain

    # -- what the experiments run on

    @property
    def augmentation_references(self) -> tuple[str, ...]:
        """Y of Fig. 7: every other configured paper dataset, in the paper's order."""
        return tuple(code for code in self.paper_datasets if code != MNIST)

    def augmentation_skipped(self) -> str | None:
        """Why Fig. 7 cannot run with this config, or None."""
        if MNIST not in self.datasets:
            return f"it needs dataset {MNIST}, which is not among datasets {list(self.datasets)}"
        return None if self.augmentation_references else "it needs a dataset besides MNIST to borrow from"

    # -- the checks that span sections

    def problems(self) -> list[str]:
        """What is inconsistent across sections (each section alone is valid by the schema)."""
        problems = [*self.budget_problems(), *self.augmentation_problems(), *self.latency_problems(),
                    *self.benchmark.problems(self.datasets)]
        if self.benchmark_v2 is not None:
            problems += self.benchmark_v2.problems(self.datasets, self.dataset_sources, self.data.train_test_ratio)
        return problems

    def budget_problems(self) -> list[str]:
        """A training section with both epochs and steps: the steps win, and the epochs are silently
        ignored. It happens when an overlay sets epochs on a section whose base config sets steps
        (config/paper.yaml's class_autoencoder over config/config.yaml's, found by issue 30's rehearsal)."""
        sections = {"autoencoder": self.autoencoder, "class_autoencoder": self.class_autoencoder,
                    "classifier.base": self.classifier.base, "classifier.transfer": self.classifier.transfer,
                    **{f"interclass.classifiers.{name}": section
                       for name, section in self.interclass.classifiers.items()}}
        return [f"{key} sets both epochs ({section.epochs}) and steps ({section.steps}); the steps would win: "
                f"set steps: null for an epoch budget (an overlay inherits the base config's steps)"
                for key, section in sections.items() if section.epochs is not None and section.steps is not None]

    def augmentation_problems(self) -> list[str]:
        """Fig. 7's grid against the splits, and its losses against ``losses`` (only when Fig. 7 runs)."""
        if self.augmentation_skipped():
            return []
        section = self.augmentation
        available = {code: self.data.train_per_class(code) for code in [MNIST, *self.augmentation_references]}
        problems = section.grid.problems(available)
        if problems:
            problems[-1] += ": " + GRID_ADVICE
        for loss in [*section.pairing_losses, section.embedding_loss]:
            if loss not in self.losses:
                problems.append(f"augmentation uses loss {loss!r}, which is not among losses {list(self.losses)}")
        return problems

    def latency_problems(self) -> list[str]:
        """What is inconsistent in the ``latency`` section given the rest of the config."""
        section, datasets, losses = self.latency, list(self.datasets), list(self.losses)
        problems = [f"latency.{key} = {getattr(section, key)} is not among datasets {datasets}"
                    for key in ("reference", "unknown") if getattr(section, key) not in datasets]
        if section.reference == section.unknown:
            problems.append("latency.reference and latency.unknown must differ")
        problems += [f"latency.losses: {loss} is not among the trained losses {losses}"
                     for loss in section.losses if loss not in losses]
        problems += [f"latency.training_time.base_datasets: {code} is not among datasets {datasets}"
                     for code in section.training_time.base_datasets if code not in datasets]
        if not any(entry.name == "TL-1" for entry in section.transfer):
            problems.append("latency.transfer needs an entry named TL-1 (the speed-up is TL-1 / SimEx)")
        for stage, label in (("transfer", "TL-k"), ("base", "BT-k")):
            if getattr(self.classifier, stage).validation_fraction <= 0:
                problems.append(f"classifier.{stage}.validation_fraction must be > 0: "
                                f"{label} stop at the minimum validation loss")
        for key in ("transfer", "schedules", "base_training"):
            entries = section.transfer if key == "transfer" else getattr(section.training_time, key)
            names = [entry.name for entry in entries]
            if len(set(names)) != len(names):
                problems.append(f"latency {key}: configuration names must be unique, got {names}")
        slugs = [entry.slug for entry in section.training_time.schedules]
        if len(set(slugs)) != len(slugs):
            problems.append(f"latency.training_time.schedules: two schedules share optimizer and lr ({slugs})")
        return problems


def load(path: str | Path = DEFAULT_CONFIG_PATH, *overrides: Mapping[str, Any],
         sheet: Mapping[str, Any] | None = None) -> Config:
    """A config file (default: the embedded config/config.yaml), deep-merged with
    ``overrides`` in order, validated and built. ConfigError names the file and the problem."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as err:
        raise ConfigError(f"{path}: not a readable YAML config ({type(err).__name__}: {err})") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: a config is a mapping of keys, got {type(raw).__name__}")
    check_size(raw, str(path))
    try:
        for override in overrides:
            raw = deep_merge(raw, override)
        config = validated(raw)
        if sheet is None and not Path(config["dataset_sheet"]).exists():  # run from outside the repository
            sheet = read_sheet(REPO / config["dataset_sheet"])
        return Config.from_dict(config, sheet)
    except SimexError as err:
        raise ConfigError(f"{path}: {err}") from err


MAX_CONFIG_NODES = 100_000


def check_size(raw: Any, where: str) -> None:
    """YAML aliases can make a small file a tree of billions of nodes ("billion laughs"):
    refused once the walk passes MAX_CONFIG_NODES, before validation walks it."""
    stack, seen = [raw], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_CONFIG_NODES:
            raise ConfigError(f"{where}: more than {MAX_CONFIG_NODES} values (YAML aliases expanding?); refused")
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in, mapping by mapping (as Snakemake merges --configfile)."""
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        merged[key] = (deep_merge(merged[key], value) if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping)
                       else copy.deepcopy(value))
    return merged
