"""Transferability estimators and dataset distances for the source-selection benchmark (issue 19).

Every function takes numpy arrays and returns a float. Scores (``logme``, ``leep``, ``nce``,
``hscore``, ``knn_accuracy``) are *higher = better expected transfer*; distances
(``otdd_distance``, ``frechet_distance``) are *lower = closer*. Labels may be any integers
(they are relabelled to 0..C-1 by ``np.unique``, so absent label values never create empty
classes). Bad input raises ``ValueError`` naming the argument and the problem.

Sources of each definition (the paper, and the reference code read for cross-checking):

- LogME: You, Liu, Wang, Long, "LogME: Practical Assessment of Pre-trained Models for Transfer
  Learning", ICML 2021 (reference code thuml/LogME, and tllib/ranking/logme.py).
- LEEP: Nguyen, Hassner, Seeger, Archambeau, "LEEP: A New Measure to Evaluate Transferability of
  Learned Representations", ICML 2020 (tllib/ranking/leep.py).
- NCE: Tran, Nguyen, Hassner, "Transferability and Hardness of Supervised Classification Tasks",
  ICCV 2019 (tllib/ranking/nce.py).
- H-score: Bao, Li, Huang, Zheng, Zhang, "An Information-Theoretic Approach to Transferability in
  Task Transfer Learning", ICIP 2019; shrinkage variant: Ibrahim, Ponomareva, Mazumder, "Newer is
  not always better: Rethinking transferability metrics, their peculiarities, stability and
  performance", ICLR 2022 (tllib/ranking/hscore.py), with the Ledoit & Wolf (2004) shrinkage.
- OTDD: Alvarez-Melis, Fusi, "Geometric Dataset Distances via Optimal Transport", NeurIPS 2020
  (its Gaussian-approximation variant), solved with POT (``ot``).
- Fréchet distance: the Fréchet (2-Wasserstein) distance between Gaussians (Dowson & Landau 1982),
  as used by FID (Heusel et al., NeurIPS 2017).
"""

from __future__ import annotations

import numpy as np
import ot
from scipy.spatial.distance import cdist

__all__ = [
    "logme",
    "leep",
    "nce",
    "hscore",
    "knn_accuracy",
    "otdd_distance",
    "frechet_distance",
]


# --------------------------------------------------------------------------- input checks


def _features(name: str, x: np.ndarray, min_rows: int = 2) -> np.ndarray:
    """``x`` as a finite float64 (N, D) matrix with at least ``min_rows`` rows."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (samples, dims) array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.shape[0] < min_rows or x.shape[1] < 1:
        raise ValueError(f"{name} needs at least {min_rows} samples and 1 dimension, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _labels(name: str, y: np.ndarray, n: int, min_classes: int = 2) -> np.ndarray:
    """``y`` as class indices 0..C-1 (via np.unique), length ``n``, with at least ``min_classes``."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels, got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"{name} has {len(y)} entries but the data has {n} samples (lengths mismatch)")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains NaN or infinite values")
        if not np.all(y == np.round(y)):
            raise ValueError(f"{name} must hold integer class labels, got non-integer values")
    elif not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    _, codes = np.unique(y, return_inverse=True)
    codes = codes.reshape(-1)
    if codes.max(initial=-1) + 1 < min_classes:
        raise ValueError(f"{name} has {codes.max(initial=-1) + 1} class(es); at least {min_classes} are needed")
    return codes


# --------------------------------------------------------------------------- LogME


def logme(features: np.ndarray, labels: np.ndarray, *, tol: float = 1e-10, max_iter: int = 1000) -> float:
    """LogME (You et al., ICML 2021): mean over classes of the maximised log evidence per sample.

    For each class c the target is its one-hot column ``y_c`` (N,), modelled as Bayesian linear
    regression on the features F (N, D): ``y = F w + noise``, ``w ~ N(0, I/alpha)``,
    ``noise ~ N(0, I/beta)``. The log evidence ``log p(y_c | F, alpha, beta)`` (the paper's
    ``N/2 log beta + D/2 log alpha - N/2 log 2pi - beta/2 |F m - y|^2 - alpha/2 |m|^2 - 1/2 log|A|``,
    ``A = alpha I + beta F^T F``) is maximised over (alpha, beta) by the paper's fixed-point
    iteration ``gamma = sum_i s_i / (s_i + t)``, ``alpha <- gamma / |m|^2``,
    ``beta <- (N - gamma) / |F m - y|^2`` with ``t = alpha / beta`` (s_i: eigenvalues of F^T F from
    one SVD of F shared by all classes). The score is the mean over classes of (max evidence)/N.

    The evidence is evaluated in its equivalent marginal-likelihood form at the final t with
    beta at its optimum for that t: ``log N(y; 0, (I + F F^T / t) / beta)``, maximised over beta,
    is ``-N/2 (log 2pi + 1 + log(q/N)) - 1/2 sum_i log(1 + s_i/t)`` with
    ``q = sum_i x_i^2 t/(s_i + t) + |y outside span F|^2``. This equals the paper's expression at
    the fixed point and stays finite where the maximiser lies on the boundary: t is kept within
    [1e-12, 1e12] times the largest s_i, e.g. t -> 0 when rank F = N (the labels are fit without
    noise, beta -> infinity), t -> infinity when the features carry no signal.

    Differences from the reference code (thuml/LogME, tllib): it stops when t changes by less
    than ``tol`` relative (the reference stops at 1e-3 or 1e-2 relative, after at most 11 steps,
    and adds 1e-5 to the denominators), so it returns the maximiser to numerical precision; the
    D - rank(F) zero eigenvalues of F^T F count in log|A| (as in the ICML version; the later
    fixed-point version drops them when N < D). The maximised evidence is invariant to rescaling
    or rotating the features. Labels may be any integers.
    """
    f = _features("features", features)
    y = _labels("labels", labels, f.shape[0])
    n = f.shape[0]
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    if s.max() == 0:
        raise ValueError("features are all zero")
    keep = s > s.max() * max(f.shape) * np.finfo(np.float64).eps
    u, sigma = u[:, keep], s[keep] ** 2  # the non-zero eigenvalues of F^T F
    t_min, t_max = 1e-12 * sigma.max(), 1e12 * sigma.max()
    evidences = []
    for c in range(int(y.max()) + 1):
        target = (y == c).astype(np.float64)
        x2 = (u.T @ target) ** 2  # squared coordinates of y in the column space of F
        outside = max(float(target @ target - x2.sum()), 0.0)  # |y|^2 outside that space
        t = 1.0  # alpha = beta = 1, the reference's start
        for _ in range(max_iter):
            gamma = float(np.sum(sigma / (sigma + t)))
            m2 = float(np.sum(sigma * x2 / (sigma + t) ** 2))  # |m|^2
            res2 = float(np.sum(x2 * (t / (sigma + t)) ** 2)) + outside  # |F m - y|^2
            # t = alpha / beta = gamma |F m - y|^2 / ((N - gamma) |m|^2), kept inside [t_min, t_max]
            numerator, denominator = gamma * res2, (n - gamma) * m2
            t_new = t_max if denominator <= numerator / t_max else float(np.clip(numerator / denominator, t_min, t_max))
            converged = abs(t_new - t) <= tol * t
            t = t_new
            if converged or t in (t_min, t_max):
                break
        q = float(np.sum(x2 * t / (sigma + t))) + outside  # y^T (I + F F^T / t)^-1 y
        evidence = -n / 2 * (np.log(2 * np.pi) + 1 + np.log(q / n)) - 0.5 * float(np.sum(np.log1p(sigma / t)))
        evidences.append(evidence / n)
    return float(np.mean(evidences))


# --------------------------------------------------------------------------- LEEP and NCE


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP (Nguyen et al., ICML 2020): mean log expected empirical prediction.

    ``source_probs`` (N, C_s) are the source classifier's softmax outputs theta(x_i) on the N
    target samples, ``labels`` (N,) their target labels. With the empirical joint
    ``P(y, z) = 1/N sum_{i: y_i = y} theta(x_i)_z`` and ``P(y | z) = P(y, z) / P(z)``, LEEP is
    ``1/N sum_i log sum_z P(y_i | z) theta(x_i)_z`` (always <= 0; higher = better transfer).
    Source classes that receive zero probability mass on every sample are left out of the sum
    (their P(y | z) is undefined and their weight theta_z is zero).
    """
    theta = _features("source_probs", source_probs)
    y = _labels("labels", labels, theta.shape[0])
    if np.any(theta < 0) or not np.allclose(theta.sum(axis=1), 1.0, rtol=0.0, atol=1e-5):
        raise ValueError("source_probs must be probabilities: non-negative rows summing to 1 (apply softmax first)")
    one_hot = np.eye(int(y.max()) + 1)[y]  # (N, C_t)
    joint = one_hot.T @ theta / len(y)  # (C_t, C_s): P(y, z)
    p_z = joint.sum(axis=0)
    used = p_z > 0
    conditional = joint[:, used] / p_z[used]  # P(y | z)
    eep = np.sum(theta[:, used] * conditional[y], axis=1)  # sum_z theta_z P(y_i | z)
    return float(np.mean(np.log(eep)))


def nce(source_predictions: np.ndarray, labels: np.ndarray) -> float:
    """NCE (Tran et al., ICCV 2019): negative conditional entropy -H(Y | Z) in nats.

    Z are the source model's hard labels on the target samples: ``source_predictions`` is either
    (N,) integer source labels or (N, C_s) probabilities/logits, of which the argmax is taken.
    ``H(Y | Z) = -sum_{y,z} P(y, z) log P(y | z)`` over the empirical joint of (target label,
    source label). Zero when Z determines Y; higher = better transfer.
    """
    z = np.asarray(source_predictions)
    if z.ndim == 2:
        z = np.argmax(_features("source_predictions", z), axis=1)
    elif z.ndim != 1:
        raise ValueError(f"source_predictions must be (N,) labels or (N, C_s) scores, got shape {z.shape}")
    z = _labels("source_predictions", z, len(z), min_classes=1)
    y = _labels("labels", labels, len(z))
    joint = np.zeros((int(y.max()) + 1, int(z.max()) + 1))
    np.add.at(joint, (y, z), 1.0 / len(y))
    p_z = joint.sum(axis=0)
    nonzero = joint > 0
    log_conditional = np.log(joint[nonzero] / np.broadcast_to(p_z, joint.shape)[nonzero])
    return float(np.sum(joint[nonzero] * log_conditional))


# --------------------------------------------------------------------------- H-score


def _ledoit_wolf(centred: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit & Wolf (2004) shrinkage of the covariance of already centred rows towards mu·I.

    Returns ``((1 - a) S + a mu I, a)`` with ``S = X^T X / N``, ``mu = tr(S) / D`` and
    ``a = min(b2, d2) / d2``, ``d2 = |S - mu I|_F^2``, ``b2 = 1/N^2 sum_k |x_k x_k^T - S|_F^2``
    (0 when d2 = 0) -- the estimator of scikit-learn's ``LedoitWolf``, which tllib uses.
    """
    n, dim = centred.shape
    s = centred.T @ centred / n
    mu = np.trace(s) / dim
    d2 = float(np.sum((s - mu * np.eye(dim)) ** 2))
    # sum_k |x_k x_k^T|_F^2 = sum_k |x_k|^4, and sum_k |x_k x_k^T - S|^2 = that - N |S|^2
    b2 = float((np.sum(np.sum(centred ** 2, axis=1) ** 2) - n * np.sum(s ** 2)) / n ** 2)
    shrinkage = 0.0 if d2 <= 0 else min(max(b2, 0.0), d2) / d2
    return (1 - shrinkage) * s + shrinkage * mu * np.eye(dim), shrinkage


def hscore(features: np.ndarray, labels: np.ndarray, *, shrinkage: bool = False) -> float:
    """H-score (Bao et al., ICIP 2019): ``tr(cov(f)^+ cov(E[f | y]))``; higher = better transfer.

    ``cov`` is the empirical covariance over the N samples (divided by N; the N - 1 of tllib's
    ``np.cov`` cancels in the ratio), ``E[f | y]`` replaces each sample by its class mean, and
    ``^+`` is the Moore–Penrose pseudo-inverse (``np.linalg.pinv``), so features with linearly
    dependent or constant dimensions (rank-deficient cov(f), common when D >= N) still give a
    finite score over the span the features occupy.

    With ``shrinkage=True`` it is the regularised H-score of Ibrahim et al. (ICLR 2022):
    ``tr(cov_a(f)^-1 (1 - a) cov(E[f | y]))`` with ``cov_a`` the Ledoit–Wolf shrunk covariance
    of the centred features and ``a`` its shrinkage intensity (see ``_ledoit_wolf``), which
    tempers the over-fitting of the inverse when D is close to N. Both covariances here are
    divided by N (tllib divides cov(E[f | y]) by N - 1 but the Ledoit–Wolf one by N, so its value
    is N/(N - 1) times this one).
    """
    f = _features("features", features)
    y = _labels("labels", labels, f.shape[0])
    f = f - f.mean(axis=0)
    counts = np.bincount(y)
    class_means = np.zeros((len(counts), f.shape[1]))
    np.add.at(class_means, y, f)
    g = (class_means / counts[:, None])[y]  # E[f | y] per sample (centred, as f is)
    cov_g = g.T @ g / len(g)
    if shrinkage:
        cov_f, a = _ledoit_wolf(f)
        return float(np.trace(np.linalg.pinv(cov_f, hermitian=True) @ ((1 - a) * cov_g)))
    cov_f = f.T @ f / len(f)
    return float(np.trace(np.linalg.pinv(cov_f, hermitian=True) @ cov_g))


# --------------------------------------------------------------------------- k-NN


def knn_accuracy(features: np.ndarray, labels: np.ndarray, k: int = 1, *, chunk: int = 1024) -> float:
    """Leave-one-out k-nearest-neighbour accuracy in Euclidean feature space; higher = better.

    Each sample is classified by the majority label of its k nearest *other* samples; a tie in
    the vote goes to the smallest label among the tied ones (as scikit-learn's
    ``KNeighborsClassifier`` does), a tie in distance to the sample that comes first. Distances
    are computed ``chunk`` rows at a time to bound memory.
    """
    f = _features("features", features)
    y = _labels("labels", labels, f.shape[0])
    n = len(y)
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n - 1:
        raise ValueError(f"k must be an integer in [1, N-1] = [1, {n - 1}], got {k!r}")
    n_classes = int(y.max()) + 1
    correct = 0
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        dist = cdist(f[rows], f, metric="sqeuclidean")
        dist[np.arange(len(rows)), rows] = np.inf  # leave the sample itself out
        neighbours = np.argsort(dist, axis=1, kind="stable")[:, :k]
        votes = np.zeros((len(rows), n_classes), dtype=np.int64)
        np.add.at(votes, (np.repeat(np.arange(len(rows)), k), y[neighbours].reshape(-1)), 1)
        correct += int(np.sum(np.argmax(votes, axis=1) == y[rows]))
    return correct / n


# --------------------------------------------------------------------------- Gaussian W2


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _bures_trace_term(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """``tr((A B)^(1/2)) = tr((A^(1/2) B A^(1/2))^(1/2))`` for PSD A, B (the two are similar)."""
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None))))


def _gaussian_w2_squared(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """Squared 2-Wasserstein (Fréchet) distance between N(mean_a, cov_a) and N(mean_b, cov_b)."""
    bures = np.trace(cov_a) + np.trace(cov_b) - 2 * _bures_trace_term(cov_a, cov_b)
    return float(np.sum((mean_a - mean_b) ** 2) + max(bures, 0.0))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Squared Fréchet distance between Gaussians fitted to two feature sets (as FID); lower = closer.

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` with sample means and covariances
    (``np.cov``, divided by N - 1, as the FID reference code). The matrix square root is taken
    as ``(S_a^(1/2) S_b S_a^(1/2))^(1/2)`` by symmetric eigendecomposition, which has the same
    trace as ``(S_a S_b)^(1/2)`` and stays exact and real for singular covariances (where
    ``scipy.linalg.sqrtm`` of the non-symmetric product needs an epsilon and drops an imaginary
    part). No label is used.
    """
    a = _features("features_a", features_a)
    b = _features("features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a and features_b differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    return _gaussian_w2_squared(a.mean(axis=0), np.cov(a, rowvar=False, ddof=1).reshape(a.shape[1], -1),
                                b.mean(axis=0), np.cov(b, rowvar=False, ddof=1).reshape(b.shape[1], -1))


# --------------------------------------------------------------------------- OTDD


def _class_gaussians(f: np.ndarray, y: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-class means (C, D) and covariances (C, D, D), divided by n_c - 1."""
    counts = np.bincount(y)
    if counts.min() < 2:
        raise ValueError(f"{name}: every class needs at least 2 samples for its covariance, "
                         f"class index {int(np.argmin(counts))} has {int(counts.min())}")
    means = np.stack([f[y == c].mean(axis=0) for c in range(len(counts))])
    covs = np.stack([np.cov(f[y == c], rowvar=False, ddof=1).reshape(f.shape[1], -1) for c in range(len(counts))])
    return means, covs


def otdd_distance(features_x: np.ndarray, labels_x: np.ndarray, features_y: np.ndarray, labels_y: np.ndarray,
                  *, reg: float | None = None, max_samples: int | None = None, seed: int = 0) -> float:
    """Squared optimal-transport dataset distance (OTDD, Alvarez-Melis & Fusi, NeurIPS 2020); lower = closer.

    The ground cost between a sample (x, y) of dataset X and (x', y') of dataset Y is
    ``|x - x'|^2 + W2^2(N(mu_y, S_y), N(mu'_y', S'_y'))``: squared Euclidean feature distance
    plus the squared 2-Wasserstein (Bures–Wasserstein) distance between the two labels'
    class-conditional Gaussians -- the paper's Gaussian approximation of the label distance, with
    p = 2. The value is the optimal transport cost between the uniform empirical measures, i.e.
    OTDD squared (same units as ``frechet_distance``): exact (``ot.emd2``) when ``reg`` is None,
    entropic (``ot.sinkhorn2``, log-domain, ``reg`` in the units of the cost) otherwise.
    Class Gaussians come from all samples (covariances divided by n_c - 1, as in the reference
    code microsoft/otdd, which skips classes with fewer than 2 samples; here they are an error); ``max_samples`` then caps the points per dataset in the transport problem, drawn
    without replacement by ``numpy.random.default_rng(seed)``. Labels of X and Y may live in
    unrelated label sets; a dataset may have a single class. Zero for identical datasets.
    """
    fx = _features("features_x", features_x)
    fy = _features("features_y", features_y)
    if fx.shape[1] != fy.shape[1]:
        raise ValueError(f"features_x and features_y differ in dimension: {fx.shape[1]} vs {fy.shape[1]}")
    yx = _labels("labels_x", labels_x, fx.shape[0], min_classes=1)
    yy = _labels("labels_y", labels_y, fy.shape[0], min_classes=1)
    if reg is not None and not (np.isfinite(reg) and reg > 0):
        raise ValueError(f"reg must be a positive number or None, got {reg!r}")
    if max_samples is not None and (not isinstance(max_samples, (int, np.integer)) or max_samples < 1):
        raise ValueError(f"max_samples must be a positive integer or None, got {max_samples!r}")
    means_x, covs_x = _class_gaussians(fx, yx, "labels_x")
    means_y, covs_y = _class_gaussians(fy, yy, "labels_y")
    label_cost = np.array([[_gaussian_w2_squared(means_x[i], covs_x[i], means_y[j], covs_y[j])
                            for j in range(len(means_y))] for i in range(len(means_x))])
    rng = np.random.default_rng(seed)
    if max_samples is not None and len(fx) > max_samples:
        keep = np.sort(rng.choice(len(fx), size=max_samples, replace=False))
        fx, yx = fx[keep], yx[keep]
    if max_samples is not None and len(fy) > max_samples:
        keep = np.sort(rng.choice(len(fy), size=max_samples, replace=False))
        fy, yy = fy[keep], yy[keep]
    cost = cdist(fx, fy, metric="sqeuclidean") + label_cost[np.ix_(yx, yy)]
    a = np.full(len(fx), 1.0 / len(fx))
    b = np.full(len(fy), 1.0 / len(fy))
    if reg is None:
        return float(ot.emd2(a, b, cost, numItermax=10_000_000))
    return float(ot.sinkhorn2(a, b, cost, reg, method="sinkhorn_log", numItermax=100_000, stopThr=1e-10))
