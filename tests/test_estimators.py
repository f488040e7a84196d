"""Known answers for the transferability estimators and dataset distances (simex.analysis.estimators).

Each known answer is derived by hand (shown in the test's docstring) or by an independent
route (a direct marginal-likelihood maximisation with scipy, a per-sample loop, scipy.linalg.sqrtm),
never by calling the function under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

from simex.analysis.estimators import (
    _ledoit_wolf,
    frechet_distance,
    hscore,
    knn_accuracy,
    leep,
    logme,
    nce,
    otdd_distance,
)


# --------------------------------------------------------------------------- LogME


def test_logme_known_answer_one_feature_closed_form():
    """D = 1: f = (1, 1, -1, -1), labels (0, 0, 1, 1).

    The evidence is the likelihood of y under N(0, I/beta + f f^T/alpha). With u = f/|f|,
    a = u·y and r^2 = |y|^2 - a^2, the covariance has eigenvalue v1 = 1/beta + |f|^2/alpha along u
    and v0 = 1/beta on the N - 1 = 3 other directions; maximising over v1 >= v0 > 0 gives
    v1 = a^2, v0 = r^2/3 (when a^2 >= r^2/3). For class 0, y = (1, 1, 0, 0): a = 1, r^2 = 1, so
    v1 = 1, v0 = 1/3 (beta = 3, alpha = 6) and
    log evidence = -2 log 2pi - 1/2 [log 1 + 1 + 3 log(1/3) + 3] = -2 log 2pi - 2 + 1.5 log 3.
    Class 1 (a = -1) is the same. Per sample (/4): -1/2 log 2pi - 1/2 + 3/8 log 3 = -1.0069589...
    """
    f = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    expected = -0.5 * math.log(2 * math.pi) - 0.5 + 0.375 * math.log(3)
    assert expected == pytest.approx(-1.0069589249541315, abs=1e-15)
    assert logme(f, np.array([0, 0, 1, 1])) == pytest.approx(expected, abs=1e-9)


def test_logme_known_answer_features_without_signal():
    """f = (1, -1, 1, -1) is orthogonal to both one-hot targets of labels (0, 0, 1, 1), so the
    evidence is maximised with alpha -> infinity (w = 0): y ~ N(0, I/beta) with beta = N/|y|^2 = 2.
    Per class: -N/2 (log 2pi + 1 + log(|y|^2/N)) = -2 (log 2pi + 1 - log 2); per sample (/4):
    -1/2 (log 2pi + 1 - log 2) = -1.0723649...
    """
    expected = -0.5 * (math.log(2 * math.pi) + 1 - math.log(2))
    assert expected == pytest.approx(-1.0723649429247001, abs=1e-15)
    f = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    assert logme(f, np.array([0, 0, 1, 1])) == pytest.approx(expected, abs=1e-9)


def _slow_logme(f: np.ndarray, y: np.ndarray) -> float:
    """Independent route: maximise log N(y_c; 0, I/beta + F F^T/alpha) over (log alpha, log beta)."""
    n = len(y)
    total = []
    for c in np.unique(y):
        target = (y == c).astype(float)

        def negative(log_ab, target=target):
            alpha, beta = np.exp(log_ab)
            cov = np.eye(n) / beta + f @ f.T / alpha
            return -multivariate_normal(np.zeros(n), cov).logpdf(target)

        best = min((minimize(negative, start, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
                    for start in ([0.0, 0.0], [3.0, 1.0], [-2.0, 2.0])), key=lambda r: r.fun)
        total.append(-best.fun / n)
    return float(np.mean(total))


@pytest.mark.parametrize("n, d", [(15, 3), (8, 12)])  # N > D, and N < D (rank-deficient F^T F)
def test_logme_fixed_point_equals_direct_evidence_maximisation(n, d):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    f = rng.normal(size=(n, d)) + 1.5 * np.eye(3)[y] @ rng.normal(size=(3, d))
    assert logme(f, y) == pytest.approx(_slow_logme(f, y), abs=1e-6)


def test_logme_invariances_and_label_signal():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2, 3], 10)
    f = rng.normal(size=(40, 6)) + 2.0 * np.eye(4, 6)[y]
    score = logme(f, y)
    order = rng.permutation(40)
    assert logme(f[order], y[order]) == pytest.approx(score, abs=1e-10)  # sample order
    assert logme(f, np.array([7, 3, -1, 12])[y]) == pytest.approx(score, abs=1e-10)  # label names
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert logme(f @ q, y) == pytest.approx(score, abs=1e-8)  # rotation (isotropic prior)
    assert logme(5.0 * f, y) == pytest.approx(score, abs=1e-8)  # scale (alpha absorbs it)
    shuffled = logme(f, rng.permutation(y))
    assert score > shuffled + 0.05  # features that carry the labels score higher


# --------------------------------------------------------------------------- LEEP


def test_leep_known_answer_by_hand():
    """theta = [[.9,.1],[.8,.2],[.3,.7],[.2,.8]], y = (0,0,1,1), N = 4 (tllib's leep.py formulas).

    Joint P(y,z) = 1/4 sum theta: P(0,z) = (1.7, 0.3)/4 = (17/40, 3/40), P(1,z) = (0.5, 1.5)/4 =
    (1/8, 3/8); P(z) = (11/20, 9/20); P(y|z0) = (17/22, 5/22), P(y|z1) = (1/6, 5/6).
    EEP: x1: .9·17/22 + .1·1/6 = 47/66; x2: .8·17/22 + .2·1/6 = 43/66; x3: .3·5/22 + .7·5/6 = 43/66;
    x4: .2·5/22 + .8·5/6 = 47/66. LEEP = (2 ln 47/66 + 2 ln 43/66)/4 = 1/2 ln(2021/4356) = -0.383981.
    """
    theta = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
    expected = 0.5 * math.log(2021 / 4356)
    assert expected == pytest.approx(-0.38398088332461505, abs=1e-15)
    assert leep(theta, np.array([0, 0, 1, 1])) == pytest.approx(expected, abs=1e-12)


def test_leep_bounds_and_unused_source_class():
    """A perfect one-hot source that determines the target gives LEEP = 0 (its maximum); a source
    class with no mass anywhere is ignored rather than giving NaN."""
    theta = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    assert leep(theta, np.array([5, 5, 2, 2])) == pytest.approx(0.0, abs=1e-12)
    uniform = np.full((4, 3), 1 / 3)
    assert leep(uniform, np.array([0, 0, 1, 1])) == pytest.approx(math.log(0.5), abs=1e-12)


# --------------------------------------------------------------------------- NCE


def test_nce_known_answer_by_hand():
    """z = (0,0,0,1,1,1), y = (0,0,1,1,1,1): P(z=0) = 1/2 with Y|z=0 ~ (2/3, 1/3); z = 1 fixes y = 1.

    H(Y|Z) = 1/2 [-(2/3) ln(2/3) - (1/3) ln(1/3)] + 1/2 · 0 = 0.318257; NCE = -0.318257.
    """
    z = np.array([0, 0, 0, 1, 1, 1])
    y = np.array([0, 0, 1, 1, 1, 1])
    expected = -0.5 * (-(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3))
    assert expected == pytest.approx(-0.3182570841474064, abs=1e-15)
    assert nce(z, y) == pytest.approx(expected, abs=1e-12)
    probs = np.eye(4)[z] * 0.7 + 0.075  # (N, C_s) scores whose argmax is z
    assert nce(probs, y) == pytest.approx(expected, abs=1e-12)
    assert nce(z, z + 10) == pytest.approx(0.0, abs=1e-12)  # Z determines Y
    assert nce(np.zeros(6, dtype=int), y) == pytest.approx(-(-(1 / 3) * math.log(1 / 3) - (2 / 3) * math.log(2 / 3)))


# --------------------------------------------------------------------------- H-score


def test_hscore_known_answer_by_hand_and_pseudo_inverse():
    """f = (0, 2, 4, 6), y = (0, 0, 1, 1): var f = (9+1+1+9)/4 = 5; class means 1, 5 give
    E[f|y] = (1, 1, 5, 5) with variance 4; H = 4/5 = 0.8. A constant second feature makes cov(f)
    singular: the pseudo-inverse ignores that direction and H stays 0.8."""
    f = np.array([[0.0], [2.0], [4.0], [6.0]])
    y = np.array([0, 0, 1, 1])
    assert hscore(f, y) == pytest.approx(0.8, abs=1e-12)
    assert hscore(np.hstack([f, np.full((4, 1), 3.0)]), y) == pytest.approx(0.8, abs=1e-9)
    # in one dimension Ledoit-Wolf has nothing to shrink towards (S = mu I): same score
    assert hscore(f, y, shrinkage=True) == pytest.approx(0.8, abs=1e-12)


def test_ledoit_wolf_matches_the_per_sample_definition():
    """Shrinkage a = min(b2, d2)/d2 with b2 = 1/N^2 sum_k |x_k x_k^T - S|_F^2 computed by a loop."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 5)) * np.array([1.0, 2.0, 0.5, 3.0, 1.0])
    x = x - x.mean(axis=0)
    s = x.T @ x / 12
    mu = np.trace(s) / 5
    d2 = np.sum((s - mu * np.eye(5)) ** 2)
    b2 = sum(np.sum((np.outer(row, row) - s) ** 2) for row in x) / 12 ** 2
    a = min(b2, d2) / d2
    cov, shrink = _ledoit_wolf(x)
    assert shrink == pytest.approx(a, rel=1e-12)
    np.testing.assert_allclose(cov, (1 - a) * s + a * mu * np.eye(5), rtol=1e-12)
    assert 0 < shrink < 1
    y = np.arange(12) % 2
    expected = np.trace(np.linalg.inv((1 - a) * s + a * mu * np.eye(5)) @ ((1 - a) * _between(x, y)))
    assert hscore(x, y, shrinkage=True) == pytest.approx(expected, rel=1e-10)


def _between(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """cov(E[f|y]) by a loop over classes: sum_c (n_c/N) (mean_c - mean)(mean_c - mean)^T."""
    mean = x.mean(axis=0)
    return sum((np.sum(y == c) / len(y)) * np.outer(x[y == c].mean(axis=0) - mean, x[y == c].mean(axis=0) - mean)
               for c in np.unique(y))


# --------------------------------------------------------------------------- k-NN


def test_knn_accuracy_known_answer_by_hand():
    """x = (0, 1, 3, 10, 11.5, 13.2), y = (0, 0, 1, 1, 1, 0), leave-one-out.

    k=1: 0->1 (0) ok; 1->0 (0) ok; 3->1 (0) wrong; 10->11.5 (1) ok; 11.5->10 (1) ok;
    13.2->11.5 (1) wrong: 4/6. k=3: 0->{1,3,10}=(0,1,1) wrong; 1->{0,3,10} wrong;
    3->{1,0,10}=(0,0,1) wrong; 10->{11.5,13.2,3}=(1,0,1) ok; 11.5->{10,13.2,3} ok;
    13.2->{11.5,10,3}=(1,1,1) wrong: 2/6.
    """
    x = np.array([[0.0], [1.0], [3.0], [10.0], [11.5], [13.2]])
    y = np.array([0, 0, 1, 1, 1, 0])
    assert knn_accuracy(x, y) == pytest.approx(4 / 6)
    assert knn_accuracy(x, y, k=3) == pytest.approx(2 / 6)
    assert knn_accuracy(x, y, k=3, chunk=4) == pytest.approx(2 / 6)  # chunked rows, same answer


# --------------------------------------------------------------------------- Fréchet


def test_frechet_known_answer_diagonal_covariances():
    """Points (±a, 0), (0, ±b) have mean 0 and (N-1 = 3) covariance diag(2a²/3, 2b²/3).
    A: a² = 3/2, b² = 6 -> diag(1, 4), mean 0. B: c² = 6, d² = 27/2 -> diag(4, 9), mean (1, 2).
    Commuting covariances: |Δmu|² + sum (sqrt(l_a) - sqrt(l_b))² = 5 + (1-2)² + (2-3)² = 7."""
    a, b, c, d = math.sqrt(1.5), math.sqrt(6.0), math.sqrt(6.0), math.sqrt(13.5)
    fa = np.array([[a, 0], [-a, 0], [0, b], [0, -b]])
    fb = np.array([[c, 0], [-c, 0], [0, d], [0, -d]]) + np.array([1.0, 2.0])
    assert frechet_distance(fa, fb) == pytest.approx(7.0, abs=1e-10)
    assert frechet_distance(fb, fa) == pytest.approx(7.0, abs=1e-10)
    assert frechet_distance(fa, fa) == pytest.approx(0.0, abs=1e-10)


def test_frechet_matches_the_fid_formula_with_sqrtm():
    """Independent route: the FID code path, scipy.linalg.sqrtm of the product S_a S_b."""
    rng = np.random.default_rng(3)
    fa = rng.normal(size=(50, 4)) @ rng.normal(size=(4, 4))
    fb = rng.normal(size=(60, 4)) @ rng.normal(size=(4, 4)) + 0.5
    sa, sb = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    expected = np.sum((fa.mean(0) - fb.mean(0)) ** 2) + np.trace(sa + sb - 2 * scipy.linalg.sqrtm(sa @ sb).real)
    assert frechet_distance(fa, fb) == pytest.approx(expected, rel=1e-8)
    # singular covariances (3 points in 4-D): finite, non-negative, symmetric
    value = frechet_distance(fa[:3], fb[:3])
    assert value >= 0 and value == pytest.approx(frechet_distance(fb[:3], fa[:3]), rel=1e-8)


# --------------------------------------------------------------------------- OTDD


def _two_class_set() -> tuple[np.ndarray, np.ndarray]:
    """Class 0 at (0,0), (0,2); class 1 at (10,0), (10,2): each class covariance diag(0, 2)."""
    return np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]]), np.array([0, 0, 1, 1])


def test_otdd_known_answer_for_a_shift():
    """Y = X + d, d = (1, 0), same labels. Matching each point to its shifted copy costs
    |d|² (features) + W2²(class c of X, class c of Y) = |d|² + |d|² (same covariance, means moved
    by d) = 2 per point; any other matching pays at least 5 (within a class) or ~81 (across).
    So OTDD² = 2|d|² = 2."""
    x, y = _two_class_set()
    d = np.array([1.0, 0.0])
    assert otdd_distance(x, y, x + d, y) == pytest.approx(2.0, abs=1e-10)
    assert otdd_distance(x, y, x + d, y + 7) == pytest.approx(2.0, abs=1e-10)  # label names don't matter
    assert otdd_distance(x, y, x, y) == pytest.approx(0.0, abs=1e-10)


def test_otdd_symmetry_sinkhorn_and_subsampling():
    rng = np.random.default_rng(4)
    fx, yx = rng.normal(size=(30, 3)), np.arange(30) % 3
    fy, yy = rng.normal(size=(24, 3)) + 0.7, np.arange(24) % 2
    exact = otdd_distance(fx, yx, fy, yy)
    assert exact == pytest.approx(otdd_distance(fy, yy, fx, yx), rel=1e-9)
    assert exact > 0
    entropic = otdd_distance(fx, yx, fy, yy, reg=0.01)
    assert exact - 1e-9 <= entropic <= exact * 1.02  # entropic plan costs a little more
    assert otdd_distance(fx, yx, fy, yy, max_samples=100) == pytest.approx(exact, rel=1e-12)
    small = otdd_distance(fx, yx, fy, yy, max_samples=10, seed=5)
    assert small == otdd_distance(fx, yx, fy, yy, max_samples=10, seed=5) and small > 0


# --------------------------------------------------------------------------- input checks


@pytest.mark.parametrize("call, message", [
    (lambda: logme(np.ones((4, 2)), np.array([0, 1, 0])), "lengths mismatch"),
    (lambda: logme(np.ones((4, 2)), np.zeros(4, dtype=int)), "at least 2"),
    (lambda: hscore(np.array([[np.nan], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])), "NaN"),
    (lambda: knn_accuracy(np.ones(4), np.array([0, 0, 1, 1])), "2-D"),
    (lambda: knn_accuracy(np.eye(4), np.array([0, 0, 1, 1]), k=4), "k must be"),
    (lambda: leep(np.ones((4, 2)), np.array([0, 0, 1, 1])), "probabilities"),
    (lambda: leep(np.full((4, 2), 0.5), np.array([3, 3, 3, 3])), "1 class"),
    (lambda: frechet_distance(np.array([[0.0, np.inf], [1.0, 2.0]]), np.ones((4, 2))), "features_a contains NaN"),
    (lambda: nce(np.array([0, 1, 1]), np.array([0.5, 1.0, 0.0])), "integer"),
    (lambda: nce(np.zeros((2, 2, 2)), np.array([0, 1])), "source_predictions"),
    (lambda: frechet_distance(np.ones((4, 2)), np.ones((4, 3))), "dimension"),
    (lambda: otdd_distance(np.ones((4, 2)), np.array([0, 0, 1, 2]), np.ones((4, 2)), np.array([0, 0, 1, 1])),
     "at least 2 samples"),
    (lambda: otdd_distance(*_two_class_set(), *_two_class_set(), reg=0.0), "reg"),
])
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("n, d", [(8, 12), (10, 10), (6, 30)])  # N < D, N = D, N << D
def test_logme_registered_stopping_rule_where_n_is_at_most_d(n, d):
    """Benchmark v2's LogME (PROTOCOL-v2.md): thuml/LogME's stopping rule (at most 11 updates,
    relative change of t ≤ 1e-3) with the exact evidence, all D eigenvalues counted. Where N ≤ D
    it stays within 1e-3 of the direct evidence maximisation, and appending zero-variance feature
    dimensions leaves it unchanged (the reference's sum over min(N, D) singular values does not)."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    f = rng.normal(size=(n, d)) + 1.5 * np.eye(3)[y] @ rng.normal(size=(3, d))
    registered = logme(f, y, tol=1e-3, max_iter=11)
    assert registered == pytest.approx(_slow_logme(f, y), abs=1e-3)
    padded = logme(np.hstack([f, np.zeros((n, 5))]), y, tol=1e-3, max_iter=11)
    assert padded == pytest.approx(registered, abs=1e-10)


def test_hscore_shrinkage_known_answer_by_hand():
    """Two classes, one feature: cov(f) = 1, cov(E[f|y]) = 1 (class means ±1, no spread within), a
    1-d covariance is its own shrinkage target (d2 = 0, a = 0), so both forms give exactly 1."""
    f = np.array([[-1.0], [-1.0], [1.0], [1.0]])
    y = np.array([0, 0, 1, 1])
    assert hscore(f, y) == pytest.approx(1.0) and hscore(f, y, shrinkage=True) == pytest.approx(1.0)
    # with noise dimensions and N close to D, shrinkage tempers the inverse: a smaller, finite score
    rng = np.random.default_rng(0)
    labels = np.arange(12) % 2
    noisy = np.hstack([labels[:, None] + 0.1 * rng.normal(size=(12, 1)), rng.normal(size=(12, 10))])
    assert 0 < hscore(noisy, labels, shrinkage=True) < hscore(noisy, labels)
