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
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

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


def replicate_seed(seed: int, replicate: int, *parts: object) -> int:
    """The seed of one artifact of replicate s: the config's seed offset by s, then derived per artifact."""
    return derived_seed(int(seed) + int(replicate), "benchmark", *parts)


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


def draw_seed(seed: int, replicate: int, target: str, per_class: int) -> int:
    return replicate_seed(seed, replicate, "draw", target, per_class)


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
    for n in settings.samples_per_class:
        draws[str(n)] = {}
        for replicate in range(settings.replicates):
            index = sample_draw(train_labels, n, draw_seed(settings.seed, replicate, target, n))
            draws[str(n)][str(replicate)] = index.tolist()
            images, labels = train_images[index], train_labels[index]
            stage = stage_settings(settings.scratch, replicate_seed(settings.seed, replicate, SCRATCH, target, n))
            model, result = scratch(images, labels, stage, device)
            records.append(_run_record("", SCRATCH, n, replicate, accuracy(model, test_images, test_labels, device), result, stage))
            for source, models in bases.items():
                base = models[replicate]
                fit = fit_probe(features(base, images, device), labels, settings.probe)
                predicted = fit.predict(features(base, test_images, device))
                records.append({"source": source, "protocol": PROBE, "n": n, "seed": replicate,
                                "accuracy": float((predicted == test_labels).mean()), "epochs": fit.iterations,
                                "best_epoch": fit.iterations, "cap_hit": fit.cap_hit})
                stage = stage_settings(settings.finetune, replicate_seed(settings.seed, replicate, FINETUNE, source, target, n))
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
                scores[y.code] = float(est.logme(values, labels))
            elif name == "H-score":
                scores[y.code] = float(est.hscore(values, labels))
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
