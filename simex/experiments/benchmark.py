"""The source-selection benchmark (docs/benchmark/PROTOCOL.md, issue 19): ground truth and estimators.

For a target dataset X and every other known dataset Y, the benchmark asks which B(Y)
(LeNet-5 trained on Y) transfers best to X when only n labelled samples per class of X
exist. Two parts live here; the metrics over them are :mod:`simex.experiments.benchmark_metrics`.

- **Ground truth** (:func:`target_ground_truth`): per seed s and n, one seeded stratified
  draw of n samples per class of X's classifier train split (:func:`sample_draw`, shared
  by every protocol and estimator); B(Y) transferred to it by a *linear probe*
  (:func:`fit_probe`: frozen 84-d penultimate features, a fresh multinomial logistic
  regression) and by a *full fine-tune* (:func:`finetune`: every layer trainable, the
  84→10 layer re-initialised, a small learning rate), and the same network trained
  *from scratch* on the same samples. Accuracy on X's classifier test split; the gain is
  transferred minus scratch accuracy. Every run records whether it stopped at its cap.
- **Estimators** (:func:`score_target`): every estimator scores the candidate sources from
  the same n·10 images of X (and their labels, for the label-using ones), higher = better
  (distances negated), and is timed doing it, feature extraction included. What does not
  depend on X (B(Y), A(Y), Y's training data and its features) is the model zoo
  (:class:`SourceZoo`), built once per target outside the timing, as a deployed zoo would
  hold it.
"""

from __future__ import annotations

import copy
import importlib
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from scipy.optimize import minimize
from torch import nn

from simex.config import Probe, Training, derived_seed
from simex.inference.evaluate import FleetEvaluator, accuracy, delta_means
from simex.models.losses import PerSampleLoss
from simex.models.networks import LeNet5AutoEncoder, LeNet5Classifier
from simex.experiments.pairing import codes, mean_pairwise_distance
from simex.training.loop import TrainResult, seed_everything
from simex.experiments.transfer import N_CLASSES, StageSettings, embed, fit, stage_settings, train_base_classifier
from simex.base.errors import SimexError
from simex.base.formats import pixels_to_float

log = logging.getLogger(__name__)

PROBE = "probe"
FINETUNE = "finetune"
SCRATCH = "scratch"
PROTOCOLS = (PROBE, FINETUNE)

# The estimators the jobs compute, in the order of the tables; kinds as in the protocol.
ESTIMATOR_KINDS: dict[str, str] = {
    "SimEx-MSE": "SimEx", "SimEx-iSSIM": "SimEx",
    "sample-MSE": "label-free", "embeddings": "label-free", "Fréchet": "label-free",
    "LogME": "label-using", "LEEP": "label-using", "NCE": "label-using", "H-score": "label-using",
    "k-NN": "label-using", "OTDD": "label-using",
    "static": "trivial",
}
ESTIMATORS = tuple(ESTIMATOR_KINDS)
SIMEX_LOSSES = {"SimEx-MSE": "mse", "SimEx-iSSIM": "issim"}


class BenchmarkError(SimexError, ValueError):
    """The benchmark's inputs are inconsistent or incomplete."""


# --- seeds and the n-sample draw ---------------------------------------------------------


V1_TAG = "benchmark"
V2_TAG = "benchmark-v2"  # PROTOCOL-v2.md: no v2 draw, B(Y), autoencoder or run repeats a v1 one


def replicate_seed(seed: int, replicate: int, *parts: object, tag: str = V1_TAG) -> int:
    """The seed of one artifact of replicate s: the config's seed offset by s, then derived per artifact
    (``tag``: the benchmark's version, ``"benchmark"`` for v1, ``"benchmark-v2"`` for v2)."""
    return derived_seed(int(seed) + int(replicate), tag, *parts)


def sample_draw(labels: np.ndarray, per_class: int, seed: int, n_classes: int = N_CLASSES) -> np.ndarray:
    """Indices of a seeded stratified draw: ``per_class`` samples of each class 0..n_classes-1, sorted.

    One draw per (X, n, s): the ground truth and every estimator call this with the same
    seed (:func:`draw_seed`) and so see the same samples.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in range(n_classes):
        index = np.flatnonzero(labels == label)
        if len(index) < per_class:
            raise BenchmarkError(f"class {label} has {len(index)} samples, fewer than the {per_class} to draw")
        chosen.append(rng.choice(index, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def draw_seed(seed: int, replicate: int, target: str, per_class: int, tag: str = V1_TAG) -> int:
    return replicate_seed(seed, replicate, "draw", target, per_class, tag=tag)


# --- ground truth -----------------------------------------------------------------------


def penultimate(model: LeNet5Classifier) -> nn.Sequential:
    """LeNet-5 up to its 84-unit penultimate layer (after its ReLU): the features B(Y) hands on."""
    return nn.Sequential(model.features, *model.classifier[:-1])


def features(model: LeNet5Classifier, images: np.ndarray, device: torch.device) -> np.ndarray:
    """B(Y)'s penultimate features of ``images``, float64 (N, 84)."""
    return embed(penultimate(model), images, device).double().numpy()


@dataclass
class ProbeFit:
    """A multinomial logistic regression on standardised features."""

    weights: np.ndarray  # (d, k)
    bias: np.ndarray  # (k,)
    mean: np.ndarray
    scale: np.ndarray
    iterations: int
    cap_hit: bool

    def predict(self, values: np.ndarray) -> np.ndarray:
        return np.argmax(((values - self.mean) / self.scale) @ self.weights + self.bias, axis=1)


def fit_probe(values: np.ndarray, labels: np.ndarray, settings: Probe, n_classes: int = N_CLASSES) -> ProbeFit:
    """Multinomial logistic regression, L2 penalty (scikit-learn's objective: C·Σ log-loss + ½‖W‖²,
    bias unpenalised), on features standardised on these samples, by L-BFGS (scipy) from zero.

    ``cap_hit``: L-BFGS stopped at ``max_iter`` iterations instead of converging.
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    scale[scale == 0] = 1.0
    x = (values - mean) / scale
    d = x.shape[1]
    onehot = np.eye(n_classes)[labels]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * n_classes].reshape(d, n_classes), theta[d * n_classes :]
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits).sum(axis=1, keepdims=True))
        log_p = logits - log_norm
        loss = -settings.C * float((onehot * log_p).sum()) + 0.5 * float((w * w).sum())
        residual = settings.C * (np.exp(log_p) - onehot)
        gradient = np.concatenate([(x.T @ residual + w).ravel(), residual.sum(axis=0)])
        return loss, gradient

    result = minimize(objective, np.zeros(d * n_classes + n_classes), jac=True, method="L-BFGS-B",
                      options={"maxiter": settings.max_iter, "gtol": settings.tol})
    theta = result.x
    return ProbeFit(theta[: d * n_classes].reshape(d, n_classes), theta[d * n_classes :], mean, scale,
                    int(result.nit), bool(result.nit >= settings.max_iter))


def finetune(base: LeNet5Classifier, images: np.ndarray, labels: np.ndarray, settings: StageSettings,
             device: torch.device) -> tuple[LeNet5Classifier, TrainResult]:
    """A copy of B(Y), every layer trainable, its last layer (84→10) re-initialised, trained on the draw."""
    seed_everything(settings.config.seed)
    model = copy.deepcopy(base).cpu()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model.classifier[-1].reset_parameters()
    result = fit(model, images, labels, settings, device, stratified=True)
    return model.eval(), result


def scratch(images: np.ndarray, labels: np.ndarray, settings: StageSettings,
            device: torch.device) -> tuple[LeNet5Classifier, TrainResult]:
    """The same LeNet-5 from a seeded random initialisation, trained on the draw (stratified hold-out)."""
    return train_base_classifier(images, labels, settings, device, stratified=True)


def cap_hit(result: TrainResult, settings: StageSettings) -> bool:
    """The run stopped because it reached its epoch cap, not at a validation minimum."""
    return not result.stopped_early and len(result.history) >= settings.config.epochs


@dataclass(frozen=True)
class GroundTruthSettings:
    seed: int
    replicates: int
    samples_per_class: tuple[int, ...]
    finetune: Training
    scratch: Training
    probe: Probe
    # (protocol, n) cells to run; None: both protocols at every n (v1)
    cells: tuple[tuple[str, int], ...] | None = None
    tag: str = V1_TAG

    def runs(self, protocol: str, n: int) -> bool:
        return self.cells is None or (protocol, n) in self.cells


def target_ground_truth(target: str, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                        bases: Mapping[str, Sequence[LeNet5Classifier]], settings: GroundTruthSettings,
                        device: torch.device) -> dict[str, Any]:
    """Every (source, protocol, n, seed) accuracy on X, and scratch's per (n, seed).

    ``bases``: per candidate source Y, B(Y) of every replicate (index = s). Returns
    ``{"target", "draws": {n: {s: indices}}, "records": [...]}``; a record has source
    (empty for scratch), protocol, n, seed, accuracy, and its convergence figures.
    """
    if target in bases:
        raise BenchmarkError(f"target {target} cannot be its own candidate source")
    train_images, train_labels = train
    test_images, test_labels = test
    records: list[dict[str, Any]] = []
    draws: dict[str, dict[str, list[int]]] = {}
    tag = settings.tag
    for n in settings.samples_per_class:
        draws[str(n)] = {}
        for replicate in range(settings.replicates):
            index = sample_draw(train_labels, n, draw_seed(settings.seed, replicate, target, n, tag))
            draws[str(n)][str(replicate)] = index.tolist()
            images, labels = train_images[index], train_labels[index]
            stage = stage_settings(settings.scratch, replicate_seed(settings.seed, replicate, SCRATCH, target, n, tag=tag))
            model, result = scratch(images, labels, stage, device)
            records.append(_run_record("", SCRATCH, n, replicate, accuracy(model, test_images, test_labels, device), result, stage))
            for source, models in bases.items():
                base = models[replicate]
                if settings.runs(PROBE, n):
                    fit = fit_probe(features(base, images, device), labels, settings.probe)
                    predicted = fit.predict(features(base, test_images, device))
                    records.append({"source": source, "protocol": PROBE, "n": n, "seed": replicate,
                                    "accuracy": float((predicted == test_labels).mean()), "epochs": fit.iterations,
                                    "best_epoch": fit.iterations, "cap_hit": fit.cap_hit})
                if settings.runs(FINETUNE, n):
                    stage = stage_settings(settings.finetune,
                                           replicate_seed(settings.seed, replicate, FINETUNE, source, target, n, tag=tag))
                    model, result = finetune(base, images, labels, stage, device)
                    records.append(_run_record(source, FINETUNE, n, replicate, accuracy(model, test_images, test_labels, device),
                                               result, stage))
            done = [r for r in records if r["n"] == n and r["seed"] == replicate]
            log.info("X=%s n=%d seed %d: scratch %.3f; probe %s; finetune %s", target, n, replicate, done[0]["accuracy"],
                     _accuracies(done, PROBE), _accuracies(done, FINETUNE))
    return {"target": target, "draws": draws, "records": records}


def _run_record(source: str, protocol: str, n: int, replicate: int, acc: float, result: TrainResult,
                stage: StageSettings) -> dict[str, Any]:
    return {"source": source, "protocol": protocol, "n": n, "seed": replicate, "accuracy": acc,
            "epochs": len(result.history), "best_epoch": result.best_epoch, "cap_hit": cap_hit(result, stage)}


def _accuracies(records: Sequence[Mapping[str, Any]], protocol: str) -> str:
    return " ".join(f"{r['source']}:{r['accuracy']:.3f}" for r in records if r["protocol"] == protocol)


# --- estimators -------------------------------------------------------------------------


@dataclass
class Source:
    """One candidate source Y as the model zoo holds it (nothing here depends on X)."""

    code: str
    bases: Sequence[LeNet5Classifier]  # B(Y) per seed replicate
    base_accuracy: Sequence[float]  # B(Y)'s accuracy on Y's own test split, per replicate
    autoencoders: Mapping[str, LeNet5AutoEncoder]  # A(Y) per loss
    train_images: np.ndarray  # Y's training split (the one A(Y) learnt), for sample-MSE and embeddings
    classifier_images: np.ndarray  # Y's classifier train split (the one B(Y) learnt)
    classifier_labels: np.ndarray
    # filled by SourceZoo: statistics of Y's own data
    pixel_mean: np.ndarray = field(default_factory=lambda: np.empty(0))
    pixel_square: float = 0.0
    train_codes: torch.Tensor | None = None
    classifier_features: list[np.ndarray] = field(default_factory=list)


@dataclass(frozen=True)
class EstimatorSettings:
    embedding_loss: str  # the A(Y) whose bottleneck codes the embeddings baseline compares
    otdd_max_samples: int | None
    eval_batch_size: int
    # LogME's stopping rule: v1's tolerance; v2 uses the reference's (PROTOCOL-v2.md: tol 1e-3, 11 updates)
    logme_tol: float = 1e-10
    logme_max_iter: int = 1000


class SourceZoo:
    """The candidate sources of one target with what a deployed zoo precomputes: the
    fused fleet of A(Y) per loss, the mean and mean squared norm of Y's pixels, A(Y)'s
    codes of Y's training images, B(Y)'s features of its own training split."""

    def __init__(self, sources: Sequence[Source], deltas: Mapping[str, PerSampleLoss], settings: EstimatorSettings,
                 device: torch.device) -> None:
        if not sources:
            raise BenchmarkError("no candidate sources")
        self.sources = list(sources)
        self.settings = settings
        self.device = device
        self.fleets = {loss: FleetEvaluator([source.autoencoders[loss] for source in sources], delta, device)
                       for loss, delta in deltas.items()}
        for source in self.sources:
            pixels = pixels_to_float(source.train_images.reshape(len(source.train_images), -1), np.float64)
            source.pixel_mean = pixels.mean(axis=0)
            source.pixel_square = float((pixels**2).sum(axis=1).mean())
            source.train_codes = codes(source.autoencoders[settings.embedding_loss], source.train_images, device,
                                       settings.eval_batch_size)
            source.classifier_features = [features(base, source.classifier_images, device) for base in source.bases]

    @property
    def codes(self) -> list[str]:
        return [source.code for source in self.sources]


def mean_pairwise_squared_distance(a: np.ndarray, b_mean: np.ndarray, b_square: float) -> float:
    """Mean ‖a_j − b_l‖² over all pairs, from b's mean vector and mean squared norm (exact)."""
    return float((a**2).sum(axis=1).mean() + b_square - 2.0 * a.mean(axis=0) @ b_mean)


def _softmax(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.double(), dim=1).numpy()


@torch.inference_mode()
def _logits(model: LeNet5Classifier, images: np.ndarray, device: torch.device) -> torch.Tensor:
    return embed(model, images, device)


def estimator_scores(name: str, zoo: SourceZoo, images: np.ndarray, labels: np.ndarray, replicate: int) -> dict[str, float]:
    """One estimator's score of every candidate source from X's images (and labels), higher = better."""
    from simex.analysis import estimators as est

    device, batch = zoo.device, zoo.settings.eval_batch_size
    if name in SIMEX_LOSSES:
        errors = delta_means(zoo.fleets[SIMEX_LOSSES[name]], [images], batch_size=batch)[0]
        return {code: -float(e) for code, e in zip(zoo.codes, errors)}
    if name == "sample-MSE":
        pixels = pixels_to_float(images.reshape(len(images), -1), np.float64)
        return {y.code: -mean_pairwise_squared_distance(pixels, y.pixel_mean, y.pixel_square) for y in zoo.sources}
    if name == "embeddings":
        loss = zoo.settings.embedding_loss
        return {y.code: -mean_pairwise_distance(codes(y.autoencoders[loss], images, device, batch), y.train_codes)
                for y in zoo.sources}
    if name == "static":
        return {y.code: float(y.base_accuracy[replicate]) for y in zoo.sources}
    scores = {}
    for y in zoo.sources:
        base = y.bases[replicate]
        if name == "LEEP":
            scores[y.code] = float(est.leep(_softmax(_logits(base, images, device)), labels))
        elif name == "NCE":
            scores[y.code] = float(est.nce(_logits(base, images, device).argmax(1).numpy(), labels))
        else:
            values = features(base, images, device)
            if name == "Fréchet":
                scores[y.code] = -float(est.frechet_distance(values, y.classifier_features[replicate]))
            elif name == "LogME":
                scores[y.code] = float(est.logme(values, labels, tol=zoo.settings.logme_tol,
                                                 max_iter=zoo.settings.logme_max_iter))
            elif name == "LogME (tol 1e-10)":  # v1's rule, a secondary row of v2
                scores[y.code] = float(est.logme(values, labels, tol=1e-10, max_iter=1000))
            elif name == "H-score":
                scores[y.code] = float(est.hscore(values, labels))
            elif name == "H-score (shrinkage)":
                scores[y.code] = float(est.hscore(values, labels, shrinkage=True))
            elif name == "k-NN":
                scores[y.code] = float(est.knn_accuracy(values, labels, k=1))
            elif name == "OTDD":
                scores[y.code] = -float(est.otdd_distance(values, labels, y.classifier_features[replicate], y.classifier_labels,
                                                          max_samples=zoo.settings.otdd_max_samples, seed=replicate))
            else:
                raise BenchmarkError(f"unknown estimator {name!r}; expected one of {', '.join(ESTIMATORS)}")
    return scores


def score_target(target: str, zoo: SourceZoo, train: tuple[np.ndarray, np.ndarray], seed: int, replicates: int,
                 samples_per_class: Sequence[int], estimators: Sequence[str] = ESTIMATORS) -> dict[str, Any]:
    """Every estimator's scores of the candidates for every (n, s), each call timed.

    The draw is :func:`sample_draw` with the ground truth's seed. Each estimator is
    warmed up once (the first draw, not timed) before its timed calls. Returns
    ``{"target", "draws", "scores": [{estimator, n, seed, source, score}], "timings":
    [{estimator, n, seed, seconds}]}``.
    """
    if target in zoo.codes:
        raise BenchmarkError(f"target {target} cannot be its own candidate source")
    train_images, train_labels = train
    draws = {n: {replicate: sample_draw(train_labels, n, draw_seed(seed, replicate, target, n)) for replicate in range(replicates)}
             for n in samples_per_class}
    first = draws[samples_per_class[0]][0]
    for name in estimators:  # warm-up
        estimator_scores(name, zoo, train_images[first], train_labels[first], 0)
    scores, timings = [], []
    for n, per_seed in draws.items():
        for replicate, index in per_seed.items():
            images, labels = train_images[index], train_labels[index]
            for name in estimators:
                started = time.perf_counter()
                values = estimator_scores(name, zoo, images, labels, replicate)
                seconds = time.perf_counter() - started
                timings.append({"estimator": name, "n": n, "seed": replicate, "seconds": seconds})
                scores.extend({"estimator": name, "n": n, "seed": replicate, "source": code, "score": value}
                              for code, value in values.items())
                if not all(np.isfinite(v) for v in values.values()):
                    log.warning("X=%s n=%d seed %d: %s gave a non-finite score: %s", target, n, replicate, name, values)
            log.info("X=%s n=%d seed %d scored: %s", target, n, replicate,
                     " ".join(f"{t['estimator']}:{t['seconds']:.3f}s" for t in timings[-len(estimators):]))
    return {"target": target, "draws": {str(n): {str(replicate): idx.tolist() for replicate, idx in d.items()} for n, d in draws.items()},
            "scores": scores, "timings": timings}


# --- v2 (docs/benchmark/PROTOCOL-v2.md): K members per dataset and loss, your own estimators -----------

V2_LOGME = {"logme_tol": 1e-3, "logme_max_iter": 11}  # thuml/LogME's stopping rule, as registered
LOSS_LABELS = {"mse": "MSE", "issim": "iSSIM"}


@dataclass(frozen=True)
class ZooEntry:
    """One candidate source Y as an estimator sees it for one seed s: what the zoo holds,
    nothing of X. The argument ``source`` of an estimator (docs/benchmark/own-estimator.md)."""

    code: str  # Y's dataset code
    seed: int  # the replicate s whose B(Y) this is
    base: LeNet5Classifier  # B(Y) of seed s
    base_accuracy: float  # B(Y)'s accuracy on Y's own classifier test split
    autoencoders: Mapping[str, Sequence[LeNet5AutoEncoder]]  # A_k(Y), k = 0..K-1, per loss
    train_images: np.ndarray  # Y's balanced train split (the one A(Y) learnt), uint8 (N, 28, 28)
    classifier_images: np.ndarray  # Y's classifier train split (the one B(Y) learnt)
    classifier_labels: np.ndarray
    device: torch.device

    def features(self, images: np.ndarray) -> np.ndarray:
        """B(Y)'s 84-d penultimate features of uint8 ``images``, float64 (N, 84)."""
        return features(self.base, images, self.device)


OwnEstimator = Callable[[np.ndarray, np.ndarray | None, ZooEntry], float]


def load_own_estimator(path: str, search: Sequence[str] = ()) -> OwnEstimator:
    """The function a dotted path names (``package.module.function`` or ``package.module:function``),
    importable from PYTHONPATH or one of the folders ``search`` (the workflow's directory)."""
    module_name, _, attribute = path.replace(":", ".").rpartition(".")
    for folder in search:
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as err:
        raise BenchmarkError(f"own estimator {path!r} cannot be imported: {err}") from None
    if not callable(function):
        raise BenchmarkError(f"own estimator {path!r} is not a function")
    return function


@dataclass
class V2Zoo:
    """A target's candidate sources as v2's estimator jobs hold them: v1's zoo (B(Y) per seed, Y's
    statistics; its embeddings use member 0 of A(Y) for the embedding loss), and per loss the K
    members of every A(Y) fused once into one fleet (source-major: source i, member k at i·K + k)
    and member 0's fleet alone (SimEx single, timed as one autoencoder per source)."""

    zoo: SourceZoo
    members: Mapping[str, Sequence[Sequence[LeNet5AutoEncoder]]]  # loss -> per source, its K members
    deltas: Mapping[str, PerSampleLoss]

    def __post_init__(self) -> None:
        device = self.zoo.device
        self.k = {loss: len(per_source[0]) for loss, per_source in self.members.items()}
        self.all_members = {loss: FleetEvaluator([m for members in per_source for m in members], self.deltas[loss], device)
                            for loss, per_source in self.members.items()}
        self.first_member = {loss: FleetEvaluator([members[0] for members in per_source], self.deltas[loss], device)
                             for loss, per_source in self.members.items()}

    def entry(self, i: int, s: int) -> ZooEntry:
        source = self.zoo.sources[i]
        return ZooEntry(source.code, s, source.bases[s], float(source.base_accuracy[s]),
                        {loss: list(per_source[i]) for loss, per_source in self.members.items()},
                        source.train_images, source.classifier_images, source.classifier_labels, self.zoo.device)


def score_target_v2(target: str, zoo: V2Zoo, train: tuple[np.ndarray, np.ndarray], seed: int, replicates: int,
                    samples_per_class: Sequence[int], estimators: Sequence[str] = (),
                    own: Mapping[str, OwnEstimator] | None = None, simex: bool = True) -> dict[str, Any]:
    """v2's scores of the candidates for every (n, s): each registered estimator (``estimators``),
    SimEx's Δ_k(X|Y) for every member k of every A(Y) and loss (``simex``), and your own
    estimators (``own``: name -> function(images, labels, source) -> score), each call timed on
    the draw of v2's seeds, after one warm-up call per estimator. Returns ``{"target", "draws",
    "scores": [{estimator, n, seed, source, member, score}], "deltas": [{loss, member, source,
    n, seed, delta}], "timings": [{estimator, n, seed, seconds}]}``; SimEx's scores are those
    of its single scorer, per member (its other scorers are functions of the Δ, computed with
    the tables: simex.experiments.benchmark_v2)."""
    codes = zoo.zoo.codes
    if target in codes:
        raise BenchmarkError(f"target {target} cannot be its own candidate source")
    own = dict(own or {})
    train_images, train_labels = train
    draws = {n: {s: sample_draw(train_labels, n, draw_seed(seed, s, target, n, V2_TAG)) for s in range(replicates)}
             for n in samples_per_class}
    batch = zoo.zoo.settings.eval_batch_size

    def own_scores(function: OwnEstimator, images: np.ndarray, labels: np.ndarray, s: int) -> dict[str, float]:
        return {code: float(function(images, labels, zoo.entry(i, s))) for i, code in enumerate(codes)}

    def simex_all(loss: str, images: np.ndarray) -> np.ndarray:  # (sources, K)
        return delta_means(zoo.all_members[loss], [images], None, zoo.zoo.device, batch)[0].reshape(len(codes), -1)

    def simex_first(loss: str, images: np.ndarray) -> np.ndarray:  # (sources,)
        return delta_means(zoo.first_member[loss], [images], None, zoo.zoo.device, batch)[0]

    losses = list(zoo.members) if simex else []
    first = draws[samples_per_class[0]][0]
    for name in estimators:  # warm-up
        estimator_scores(name, zoo.zoo, train_images[first], train_labels[first], 0)
    for function in own.values():
        own_scores(function, train_images[first], train_labels[first], 0)
    for loss in losses:
        simex_all(loss, train_images[first]), simex_first(loss, train_images[first])
    scores: list[dict[str, Any]] = []
    deltas: list[dict[str, Any]] = []
    timings: list[dict[str, Any]] = []
    for n, per_seed in draws.items():
        for s, index in per_seed.items():
            images, labels = train_images[index], train_labels[index]
            calls: list[tuple[str, Callable[[], dict[str, float]]]] = [
                *((name, lambda name=name: estimator_scores(name, zoo.zoo, images, labels, s)) for name in estimators),
                *((name, lambda f=f: own_scores(f, images, labels, s)) for name, f in own.items())]
            for name, call in calls:
                started = time.perf_counter()
                values = call()
                timings.append({"estimator": name, "n": n, "seed": s, "seconds": time.perf_counter() - started})
                scores.extend({"estimator": name, "n": n, "seed": s, "source": code, "member": "", "score": value}
                              for code, value in values.items())
                if not all(np.isfinite(v) for v in values.values()):
                    log.warning("X=%s n=%d seed %d: %s gave a non-finite score: %s", target, n, s, name, values)
            for loss in losses:
                label = LOSS_LABELS[loss]
                started = time.perf_counter()
                matrix = simex_all(loss, images)
                seconds = time.perf_counter() - started
                timings.extend({"estimator": f"SimEx-{label} {variant}", "n": n, "seed": s, "seconds": seconds}
                               for variant in ("ensemble", "paper-norm", "self-calibrated", "hub-corrected"))
                started = time.perf_counter()
                simex_first(loss, images)
                timings.append({"estimator": f"SimEx-{label} single", "n": n, "seed": s,
                                "seconds": time.perf_counter() - started})
                for i, code in enumerate(codes):
                    for k, value in enumerate(matrix[i]):
                        deltas.append({"loss": loss, "member": k, "source": code, "n": n, "seed": s, "delta": float(value)})
                        scores.append({"estimator": f"SimEx-{label} single", "n": n, "seed": s, "source": code,
                                       "member": k, "score": -float(value)})
            log.info("X=%s n=%d seed %d scored: %s", target, n, s,
                     " ".join(f"{t['estimator']}:{t['seconds']:.3f}s" for t in timings
                              if t["n"] == n and t["seed"] == s))
    return {"target": target, "draws": {str(n): {str(s): idx.tolist() for s, idx in d.items()} for n, d in draws.items()},
            "scores": scores, "deltas": deltas, "timings": timings}
