"""The forecasting models: the recurrent forecaster's multi-horizon and Gaussian heads (gradient checks,
float64), its per-window normalisation, the regime (HMM) forecaster's filtered mixtures and BIC, and the
``transform=auto`` decision. Tiny shapes; no training beyond a few EM fits."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config import model_schema
from harness.forecasting.transform import choose_transform
from harness.models.hmm.regimes import RegimeForecaster
from harness.models.nn.gradcheck import numerical_gradient, rel_error
from harness.models.rnn import RNNForecaster, forecaster_budget, gaussian_nll
from harness.tasks.timeseries import default_window

TOL = 1e-6
EPS = 1e-3  # five-point stencil, as in test_rnn_models.py


def check_all_params(model, loss_fn, analytic):
    for name, p in model.params.items():
        err = rel_error(analytic[name], numerical_gradient(loss_fn, p, eps=EPS, stencil=5))
        assert err < TOL, f"{name}: relative error {err:.2e}"


@pytest.mark.parametrize("cell,normalise", [("gru", "revin"), ("lstm", "last"), ("rnn", "none")])
def test_gaussian_head_gradients_match_finite_differences(cell, normalise):
    rng = np.random.default_rng(11)
    cfg = model_schema(cell, "timeseries")(hidden_size=3)
    model = RNNForecaster(1, cfg, rng, dtype=np.float64, horizons=3, likelihood="gaussian", normalise=normalise)
    X, Y = rng.standard_normal((4, 5, 1)), rng.standard_normal((4, 3))
    _, grads = model.loss_and_grads((X, Y))
    assert set(grads) == set(model.params)
    check_all_params(model, lambda: model.loss_and_grads((X, Y))[0], grads)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_multi_horizon_head_gradients_match_finite_differences(cell):
    rng = np.random.default_rng(12)
    cfg = model_schema(cell, "timeseries")(hidden_size=3)
    model = RNNForecaster(2, cfg, rng, dtype=np.float64, horizons=4, normalise="last", likelihood="mse")
    assert model.params["out.weight"].shape == (4, 3)
    X, Y = rng.standard_normal((3, 6, 2)), rng.standard_normal((3, 4))
    _, grads = model.loss_and_grads((X, Y))
    check_all_params(model, lambda: model.loss_and_grads((X, Y))[0], grads)


def test_gaussian_nll_known_answer_and_gradient():
    m, s, y = np.zeros((1, 1)), np.zeros((1, 1)), np.ones((1, 1))
    assert gaussian_nll(m, s, y)[0] == pytest.approx(0.5 * np.log(2 * np.pi) + 0.5)  # -log N(1 | 0, 1)
    rng = np.random.default_rng(0)
    m, s, y = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    _, dm, ds = gaussian_nll(m, s, y)
    assert rel_error(dm, numerical_gradient(lambda: gaussian_nll(m, s, y)[0], m)) < TOL
    assert rel_error(ds, numerical_gradient(lambda: gaussian_nll(m, s, y)[0], s)) < TOL


@pytest.mark.parametrize("normalise", ["last", "revin"])
def test_normalisation_round_trip_and_level_shift(normalise):
    rng = np.random.default_rng(3)
    model = RNNForecaster(
        1, model_schema("gru", "timeseries")(hidden_size=4), rng, np.float64, 3, "gaussian", normalise
    )
    X = rng.standard_normal((5, 7, 1))
    x, level, scale = model._normalise(X)  # (T, N, D), (N,), (N,)
    np.testing.assert_allclose(level[:, None] + scale[:, None] * x[:, :, 0].T, X[:, :, 0], atol=1e-12)
    np.testing.assert_allclose(x[-1], 0.0)  # the origin's value is the reference
    # a level far outside anything seen is forecast as the same change from it
    mean, sd = model.predict_distribution(X)
    mean_shifted, sd_shifted = model.predict_distribution(X + 1e4)
    np.testing.assert_allclose(mean_shifted - 1e4, mean, atol=1e-9)
    np.testing.assert_allclose(sd_shifted, sd, rtol=1e-12)
    assert np.all(sd > 0)


def test_historical_one_step_forecaster_is_unchanged():
    """Without the new arguments the forecaster is the old one: (N, D) outputs, loss on the first."""
    rng = np.random.default_rng(4)
    cfg = model_schema("rnn", "timeseries")(hidden_size=3, likelihood="mse", normalise="none")
    model = RNNForecaster(2, cfg, rng, dtype=np.float64)
    assert model.params["out.weight"].shape == (2, 3)
    X, y = rng.standard_normal((4, 5, 2)), rng.standard_normal(4)
    x = np.ascontiguousarray(X.transpose(1, 0, 2))
    o = model._output(x)
    loss, _ = model.loss_and_grads((X, y))
    assert loss == pytest.approx(np.mean((o[:, 0] - y) ** 2))
    np.testing.assert_allclose(model.predict(X), o[:, 0])


def test_recurrent_forecast_reads_no_value_after_its_origin():
    rng = np.random.default_rng(5)
    model = RNNForecaster(1, model_schema("lstm", "timeseries")(hidden_size=4), rng, np.float64, 3, "gaussian", "last")
    series, W, origin = rng.standard_normal(40), 8, 25

    def forecast(s):
        return model.predict_distribution(s[origin - W + 1 : origin + 1][None, :, None])

    before = forecast(series)
    perturbed = series.copy()
    perturbed[origin + 1 :] += rng.standard_normal(len(series) - origin - 1) * 100
    after = forecast(perturbed)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])


def test_training_budget_and_window():
    assert forecaster_budget(100, 32, max_steps=1000, patience_steps=150) == (250, 38)  # 4 steps per epoch
    assert forecaster_budget(3200, 32, max_steps=1000, patience_steps=150) == (10, 2)
    assert default_window(12, 500) == 24  # two seasons
    assert default_window(None, 500) == 12
    assert default_window(12, 45) == 15  # a third of a short training part


def two_state_model(autoregressive=False):
    d = {
        "startprob": np.array([0.6, 0.4]),
        "transmat": np.array([[0.9, 0.1], [0.2, 0.8]]),
        "c": np.array([-1.0, 2.0]),
        "phi": np.array([0.5, -0.3]) if autoregressive else np.zeros(2),
        "sigma": np.array([0.5, 1.0]),
        "autoregressive": np.array(autoregressive),
        "loglik": np.array(0.0),
    }
    return RegimeForecaster.from_state_dict(d)


def sample_two_state(T, rng):
    A, c, sd = np.array([[0.95, 0.05], [0.1, 0.9]]), np.array([-1.0, 2.0]), np.array([0.5, 1.0])
    s, z = 0, np.empty(T)
    for t in range(T):
        s = rng.choice(2, p=A[s])
        z[t] = c[s] + sd[s] * rng.standard_normal()
    return z


def test_regime_mixture_weights_sum_to_one_and_mean_is_the_closed_form():
    model = two_state_model()
    z = np.array([-1.2, -0.8, 2.5, 1.9, -1.0, -0.7])
    W, M, S = model.predict_distribution(z, horizons=4)
    np.testing.assert_allclose(W.sum(axis=-1), 1.0, atol=1e-12)
    alpha = model.filter(z)  # (T, K)
    A, c = model.transmat_, model.c_
    for h in range(1, 5):
        expected = alpha @ np.linalg.matrix_power(A, h) @ c  # E z_{t+h} = alpha_t A^h c
        np.testing.assert_allclose(model.predict(z, 4)[:, h - 1], expected, atol=1e-12)
        np.testing.assert_allclose(S[:, h - 1], np.broadcast_to(model.sigma_, S[:, h - 1].shape))
    # the running sum of a differenced series: means add up when the emissions are independent
    np.testing.assert_allclose(model.predict(z, 4, cumulative=True), np.cumsum(model.predict(z, 4), axis=1))
    # the filter by hand at t = 0: pi_k N(z_0 | c_k, sigma_k^2), normalised
    b0 = np.exp(-0.5 * ((z[0] - c) / model.sigma_) ** 2) / model.sigma_
    np.testing.assert_allclose(alpha[0], model.startprob_ * b0 / (model.startprob_ * b0).sum())


def test_autoregressive_one_step_mixture_is_exact():
    model = two_state_model(autoregressive=True)
    z = np.array([0.3, -1.0, 0.4, 1.5, 2.2])
    W, M, S = model.predict_distribution(z, horizons=2)
    alpha = model.filter(z)
    np.testing.assert_allclose(W[:, 0], alpha @ model.transmat_)
    np.testing.assert_allclose(M[:, 0], model.c_ + model.phi_ * z[:, None])
    np.testing.assert_allclose(S[:, 0], np.broadcast_to(model.sigma_, (len(z), 2)))
    np.testing.assert_allclose(W.sum(axis=-1), 1.0, atol=1e-12)


@pytest.mark.parametrize("autoregressive", [False, True])
def test_regime_forecast_reads_no_value_after_its_origin(autoregressive):
    rng = np.random.default_rng(8)
    z = sample_two_state(200, rng)
    model = RegimeForecaster(n_states=2, autoregressive=autoregressive).fit(z[:150])
    origin = 160
    before = model.predict_distribution(z, 6, origins=[origin], cumulative=True)
    perturbed = z.copy()
    perturbed[origin + 1 :] = rng.standard_normal(len(z) - origin - 1) * 50
    after = model.predict_distribution(perturbed, 6, origins=[origin], cumulative=True)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_bic_chooses_the_true_number_of_states():
    z = sample_two_state(400, np.random.default_rng(1))
    model = RegimeForecaster(max_states=4, autoregressive=False).fit(z)
    assert min(model.bic_, key=model.bic_.get) == 2 and len(model.c_) == 2
    np.testing.assert_allclose(np.sort(model.c_), [-1.0, 2.0], atol=0.2)
    rows = model.regimes()
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)


def test_regime_state_dict_round_trips_without_pickle(tmp_path):
    z = sample_two_state(120, np.random.default_rng(2))
    model = RegimeForecaster(n_states=2).fit(z)
    np.savez(tmp_path / "m.npz", **model.state_dict())
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        loaded = RegimeForecaster.from_state_dict(dict(f))
    np.testing.assert_array_equal(loaded.predict(z, 3), model.predict(z, 3))


def synthetic_series(kind: str, rng) -> tuple[np.ndarray, int | None]:
    if kind == "multiplicative_seasonal":  # growth in logs, seasonal amplitude proportional to the level
        t = np.arange(144)
        return np.exp(5 + 0.01 * t) * (1 + 0.2 * np.sin(2 * np.pi * t / 12)) * np.exp(
            0.03 * rng.standard_normal(144)
        ), 12
    if kind == "random_walk":  # with drift: ADF (constant only) then hardly ever rejects its unit root
        return 50 + np.cumsum(0.5 + rng.standard_normal(200)), None
    z = np.zeros(300)  # stationary AR(1) around 10, positive
    for i in range(1, 300):
        z[i] = 0.6 * z[i - 1] + rng.standard_normal()
    return z + 10 if kind == "stationary" else z, None


@pytest.mark.parametrize(
    "kind,expected",
    [("multiplicative_seasonal", "log_diff"), ("random_walk", "diff"), ("stationary", "none"), ("negative", "none")],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_auto_transform_known_answers(kind, expected, seed):
    x, season = synthetic_series(kind, np.random.default_rng(seed))
    choice = choose_transform(x, season)
    assert choice.name == expected, choice


def test_auto_transform_reads_the_training_part_only():
    x, season = synthetic_series("multiplicative_seasonal", np.random.default_rng(1))
    with_future = np.concatenate([x, -np.ones(50)])  # a future no log could take
    assert choose_transform(with_future[: len(x)], season) == choose_transform(x, season)


def test_autoregressive_em_log_likelihood_never_falls():
    rng = np.random.default_rng(9)
    z, s = np.zeros(300), 0
    A = np.array([[0.95, 0.05], [0.1, 0.9]])
    for t in range(1, 300):
        s = rng.choice(2, p=A[s])
        z[t] = [0.5, -1.0][s] + [0.8, 0.2][s] * z[t - 1] + 0.3 * rng.standard_normal()
    fitted = RegimeForecaster(n_states=2).fit(z)
    history = fitted.history_
    assert len(history) > 2 and np.all(np.diff(history) >= -1e-9), history
    order = np.argsort(fitted.c_ / (1 - fitted.phi_))
    np.testing.assert_allclose(fitted.phi_[order], [0.2, 0.8], atol=0.15)  # the regimes' AR coefficients
