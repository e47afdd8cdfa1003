"""Forecast scores: CRPS closed forms against integration, quantiles against the CDF, coverage on the model's
own draws, point scores on a hand-made example."""

from __future__ import annotations

import numpy as np
import pytest
import scoringrules as sr
from scipy import integrate
from scipy.stats import norm

from harness.forecasting.scoring import (
    Predictive,
    crps,
    crps_numeric,
    interval_scores,
    point_scores,
)


def _mixture(N: int, H: int, K: int, seed: int = 0, log: bool = False) -> Predictive:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(K), size=(N, H))  # (N, H, K)
    m = rng.normal(0.0, 0.6 if log else 2.0, size=(N, H, K))
    s = rng.uniform(0.2, 0.8 if log else 2.0, size=(N, H, K))
    return Predictive(w, m, s, log)


def _quad_crps(cdf, y: float, lower: float = -np.inf) -> float:
    """∫ (F(x) - 1{x >= y})^2 dx by adaptive quadrature, split at y."""
    left = integrate.quad(lambda x: cdf(x) ** 2, lower, y, limit=200)[0]
    right = integrate.quad(lambda x: (1 - cdf(x)) ** 2, y, np.inf, limit=200)[0]
    return left + right


def test_gaussian_crps_closed_form_against_integration():
    rng = np.random.default_rng(1)
    mean, sd = rng.normal(0, 3, size=(20, 3)), rng.uniform(0.1, 3.0, size=(20, 3))
    y = mean + sd * rng.normal(0, 2, size=(20, 3))
    y[0, 0] = mean[0, 0] + 30 * sd[0, 0]  # far outside the 1e-6..1-1e-6 grid
    pred = Predictive.gaussian(mean, sd)
    closed = crps(pred, y)
    np.testing.assert_allclose(closed, crps_numeric(pred, y), rtol=1e-4)
    # the textbook formula s [w (2Φ(w) - 1) + 2φ(w) - 1/sqrt(pi)], w = (y - m)/s, and quad for one item
    w = (y - mean) / sd
    np.testing.assert_allclose(closed, sd * (w * (2 * norm.cdf(w) - 1) + 2 * norm.pdf(w) - 1 / np.sqrt(np.pi)))
    one = _quad_crps(lambda x: norm.cdf(x, mean[1, 2], sd[1, 2]), y[1, 2])
    assert closed[1, 2] == pytest.approx(one, rel=1e-6)


def test_mixture_crps_closed_form_against_integration():
    pred = _mixture(30, 4, 3, seed=2)
    y = np.random.default_rng(3).normal(0, 4, size=(30, 4))
    closed = crps(pred, y)
    np.testing.assert_allclose(closed, crps_numeric(pred, y), rtol=1e-4)
    # Grimit et al.: E|X - y| - ½ E|X - X'| with A(m, s) = m (2Φ(m/s) - 1) + 2 s φ(m/s), for one item
    i, h = 7, 2
    w, m, s = pred.weights[i, h], pred.means[i, h], pred.sds[i, h]
    A = lambda mu, sd: mu * (2 * norm.cdf(mu / sd) - 1) + 2 * sd * norm.pdf(mu / sd)  # noqa: E731
    pair = A(m[:, None] - m[None, :], np.sqrt(s[:, None] ** 2 + s[None, :] ** 2))
    by_hand = (w * A(y[i, h] - m, s)).sum() - 0.5 * (w[:, None] * w[None, :] * pair).sum()
    assert closed[i, h] == pytest.approx(by_hand, rel=1e-12)
    assert closed[i, h] == pytest.approx(_quad_crps(lambda x: (w * norm.cdf(x, m, s)).sum(), y[i, h]), rel=1e-6)


def test_crps_is_nan_where_y_is_nan():
    pred = _mixture(3, 2, 2)
    y = np.array([[0.0, np.nan], [1.0, 2.0], [np.nan, 0.5]])
    for p in (pred, Predictive.gaussian(pred.means[..., 0], pred.sds[..., 0]), _mixture(3, 2, 2, log=True)):
        yy = np.abs(y) + 0.1 if p.log else y
        score = crps(p, yy)
        assert np.isnan(score).tolist() == np.isnan(y).tolist()


def test_lognormal_crps_against_scoringrules_and_quad():
    rng = np.random.default_rng(4)
    mulog, sdlog = rng.normal(1.0, 0.5, size=(10, 3)), rng.uniform(0.1, 1.2, size=(10, 3))
    y = np.exp(mulog + sdlog * rng.normal(0, 1.5, size=(10, 3)))
    y[0, 0] = 1e-3  # below the grid
    y[0, 1] = np.exp(mulog[0, 1] + 8 * sdlog[0, 1])  # above it
    closed = sr.crps_lognormal(y, mulog, sdlog, backend="numpy")  # Baran & Lerch's closed form
    np.testing.assert_allclose(crps(Predictive.gaussian(mulog, sdlog, log=True), y), closed, rtol=1e-4)

    pred = _mixture(4, 2, 3, seed=5, log=True)
    y = np.exp(np.random.default_rng(6).normal(0, 1, size=(4, 2)))
    score = crps(pred, y)
    for i, h in [(0, 0), (2, 1), (3, 0)]:
        w, m, s = pred.weights[i, h], pred.means[i, h], pred.sds[i, h]
        cdf = lambda x: (w * norm.cdf(np.log(x), m, s)).sum()  # noqa: E731, B023
        assert score[i, h] == pytest.approx(_quad_crps(cdf, y[i, h], lower=0.0), rel=1e-4)
    # a log predictive scores a non-positive y by the distance to 0 plus the CRPS at 0
    y0 = np.full((4, 2), -2.0)
    np.testing.assert_allclose(crps(pred, y0), 2.0 + crps(pred, np.full((4, 2), 1e-300)), rtol=1e-6)


def test_quantile_inverts_cdf():
    for pred in (_mixture(40, 3, 3, seed=7), _mixture(40, 3, 3, seed=8, log=True)):
        for q in (1e-6, 0.025, 0.1, 0.5, 0.8, 0.975, 1 - 1e-6):
            x = pred.quantile(q)
            np.testing.assert_allclose(pred.cdf(x), q, rtol=1e-9, atol=0)
            # bisection-exact: a step of 1e-8 relative either side crosses q
            assert (pred.cdf(x - 1e-8 * np.abs(x)) <= q).all() and (pred.cdf(x + 1e-8 * np.abs(x)) >= q).all()
    g = Predictive.gaussian(np.array([[1.0, -2.0]]), np.array([[2.0, 0.5]]))
    np.testing.assert_allclose(g.quantile(0.9), [[1.0 + 2.0 * norm.ppf(0.9), -2.0 + 0.5 * norm.ppf(0.9)]])
    lo, hi = Predictive.gaussian(np.zeros((1, 1)), np.ones((1, 1)), log=True).interval(95)
    np.testing.assert_allclose([lo[0, 0], hi[0, 0]], np.exp([norm.ppf(0.025), norm.ppf(0.975)]))
    with pytest.raises(ValueError, match=r"quantile level must lie in \(0, 1\)"):
        g.quantile(1.0)
    with pytest.raises(ValueError, match=r"interval level must lie in \(0, 100\)"):
        g.interval(100)


def test_point_is_mixture_mean_or_its_exp():
    pred = _mixture(5, 2, 3, seed=9)
    np.testing.assert_allclose(pred.point(), (pred.weights * pred.means).sum(-1))
    logged = Predictive(pred.weights, pred.means, pred.sds, log=True)
    np.testing.assert_allclose(logged.point(), np.exp(pred.point()))
    median = Predictive.gaussian(np.full((1, 1), 2.0), np.full((1, 1), 0.7), log=True)
    assert median.cdf(median.point())[0, 0] == pytest.approx(0.5)  # a single log-normal's median


@pytest.mark.parametrize("log", [False, True])
def test_coverage_on_draws_from_the_model_is_nominal(log):
    """20k observations drawn from a 3-component mixture: its own central intervals cover 80 % and 95 %."""
    rng = np.random.default_rng(10)
    N, H = 20_000, 2
    w, m, s = np.array([0.5, 0.3, 0.2]), np.array([-1.0, 0.5, 2.0]), np.array([0.4, 1.0, 0.3])
    k = rng.choice(3, p=w, size=(N, H))  # (N, H) the component of each draw
    g = m[k] + s[k] * rng.normal(size=(N, H))
    y = np.exp(g) if log else g
    pred = Predictive(*(np.broadcast_to(a, (N, H, 3)) for a in (w, m, s)), log=log)
    for level in (80, 95):
        scores = interval_scores(*pred.interval(level), y, level)
        assert scores[f"coverage{level}"].shape == (H,)
        np.testing.assert_allclose(scores[f"coverage{level}"], level / 100, atol=0.01)
        assert (scores[f"width{level}"] > 0).all()


def test_interval_scores_known_answer_with_nan():
    lower = np.array([[0.0, 0.0], [0.0, np.nan], [1.0, 1.0]])
    upper = np.array([[2.0, 1.0], [2.0, 5.0], [3.0, 2.0]])
    y = np.array([[1.0, 2.0], [2.0, 1.0], [np.nan, 1.0]])
    scores = interval_scores(lower, upper, y, 90)
    np.testing.assert_allclose(scores["coverage90"], [1.0, 0.5])  # column 0: rows 0, 1; column 1: rows 0, 2
    np.testing.assert_allclose(scores["width90"], [2.0, 1.0])


def test_point_scores_known_answers_with_nan():
    y = np.array([[1.0, 2.0], [3.0, np.nan], [-2.0, 4.0]])
    yhat = np.array([[2.0, 2.0], [1.0, 5.0], [-2.0, 1.0]])
    scores = point_scores(y, yhat, mase_scale=2.0)
    # column 0: errors 1, -2, 0; column 1: 0, (NaN: skipped), -3
    np.testing.assert_allclose(scores["rmse"], [np.sqrt(5 / 3), np.sqrt(9 / 2)])
    np.testing.assert_allclose(scores["mae"], [1.0, 1.5])
    np.testing.assert_allclose(scores["mase"], [0.5, 0.75])
    np.testing.assert_allclose(scores["smape"], [(200 / 3 + 100 + 0) / 3, (0 + 120) / 2])


def test_smape_is_zero_where_both_are_zero():
    y, yhat = np.array([[0.0, 0.0], [0.0, 1.0]]), np.array([[0.0, 1.0], [0.0, 0.0]])
    scores = point_scores(y, yhat, mase_scale=1.0)
    np.testing.assert_allclose(scores["smape"], [0.0, 200.0])
    nothing = point_scores(np.full((2, 1), np.nan), np.ones((2, 1)), 1.0)
    assert all(np.isnan(v).all() for v in nothing.values())  # no known pair: NaN, not a warning or 0
