"""Yardsticks: known answers for the naive forecasters, no look-ahead for every one, refits, fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from harness.forecasting import yardsticks as ys
from harness.forecasting.yardsticks import YARDSTICKS, n_refits, rolling_forecasts


@pytest.fixture(autouse=True)
def _empty_cache():
    ys._CACHE.clear()
    yield
    ys._CACHE.clear()


def _seasonal(n=60, m=4, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 0.3 * t + 5 * np.sin(2 * np.pi * t / m) + rng.standard_normal(n).cumsum() * 0.5


def test_naive_and_seasonal_naive_by_hand():
    x = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 8.0, 6.0])
    f = rolling_forecasts(x, np.array([3, 5]), 3, season=2, names=("naive", "seasonal_naive"))
    np.testing.assert_array_equal(f["naive"].mean, [[5, 5, 5], [8, 8, 8]])
    # from o = 3: x̂4 = x2 (same season, last seen), x̂5 = x3, x̂6 = x2
    np.testing.assert_array_equal(f["seasonal_naive"].mean, [[2, 5, 2], [4, 8, 4]])
    # naive sd at o = 3: RMS of the differences 2, -1, 3 = sqrt(14/3), times sqrt(h)
    sd = np.sqrt(14 / 3) * np.sqrt([1, 2, 3])
    np.testing.assert_allclose(f["naive"].upper[95][0] - 5, norm.ppf(0.975) * sd)
    # seasonal naive sd at o = 3: RMS of the lag-2 differences 1, 2 = sqrt(5/2), times sqrt(ceil(h/2))
    sd = np.sqrt(5 / 2) * np.sqrt([1, 1, 2])
    np.testing.assert_allclose(f["seasonal_naive"].mean[0] - f["seasonal_naive"].lower[80][0], norm.ppf(0.9) * sd)


def test_seasonal_naive_needs_a_season():
    f = rolling_forecasts(_seasonal(), np.array([40]), 2, season=None, names=("naive", "seasonal_naive"))
    assert list(f) == ["naive"]


def test_no_forecast_reads_past_its_origin():
    """Perturbing every value after an origin leaves all forecasts (and intervals) from it unchanged."""
    x = _seasonal()
    origins = np.arange(40, 57)
    base = rolling_forecasts(x, origins, 3, season=4, refit_every=5)
    assert list(base) == list(YARDSTICKS)
    rng = np.random.default_rng(1)
    for k in (0, 6, 12):  # the first origin of a refit block, one inside it, one later
        o = origins[k]
        y = x.copy()
        y[o + 1 :] += rng.normal(0, 20, len(x) - o - 1)
        got = rolling_forecasts(y, origins, 3, season=4, refit_every=5)
        for name, f in base.items():
            np.testing.assert_array_equal(got[name].mean[: k + 1], f.mean[: k + 1], err_msg=name)
            for lv in (80, 95):
                np.testing.assert_array_equal(got[name].lower[lv][: k + 1], f.lower[lv][: k + 1], err_msg=name)
                np.testing.assert_array_equal(got[name].upper[lv][: k + 1], f.upper[lv][: k + 1], err_msg=name)


def test_intervals_are_nested_and_finite():
    x = _seasonal(seed=2)
    for name, f in rolling_forecasts(x, np.arange(44, 58), 4, season=4, refit_every=7).items():
        assert np.isfinite(f.mean).all(), name
        assert (f.lower[95] <= f.lower[80]).all() and (f.lower[80] <= f.mean + 1e-9).all(), name
        assert (f.mean <= f.upper[80] + 1e-9).all() and (f.upper[80] <= f.upper[95]).all(), name
        assert f.fit_seconds >= 0 and f.spec, name


def test_refit_schedule(monkeypatch):
    fits = []
    real = ys._automatic_model

    def counting(name, season_length, n):
        model = real(name, season_length, n)
        fit = model.fit

        def fit_and_count(y):
            fits.append(len(y))
            return fit(y)

        model.fit = fit_and_count
        return model

    monkeypatch.setattr(ys, "_automatic_model", counting)
    x = _seasonal()
    origins = np.arange(35, 58)
    rolling_forecasts(x, origins, 2, season=4, names=("auto_ets",), refit_every=10)
    assert n_refits(len(origins), 10) == 3
    assert fits == [36, 46, 56]  # chosen on the history up to origins 35, 45, 55


def test_seasonal_models_only_with_two_seasons_of_history(monkeypatch):
    lengths = []
    real = ys._automatic_model
    monkeypatch.setattr(ys, "_automatic_model", lambda name, m, n: lengths.append(m) or real(name, m, n))
    x = _seasonal(n=40, m=12)
    f = rolling_forecasts(x, np.array([20, 30]), 2, season=12, names=("auto_arima",), refit_every=1)
    assert lengths == [1, 12]  # 21 points of history are fewer than two seasons, 31 are not
    assert np.isfinite(f["auto_arima"].mean).all()


def test_a_failing_fit_falls_back_to_naive(monkeypatch):
    def broken(name, season_length, n):
        raise RuntimeError("no")

    monkeypatch.setattr(ys, "_automatic_model", broken)
    x = _seasonal()
    f = rolling_forecasts(x, np.arange(40, 50), 2, season=4, names=("naive", "auto_theta"), refit_every=5)
    np.testing.assert_array_equal(f["auto_theta"].mean, f["naive"].mean)
    assert "fit failed: RuntimeError" in f["auto_theta"].spec and "naive at 10 of 10 origins" in f["auto_theta"].spec


def test_a_constant_history_gives_finite_forecasts():
    x = np.r_[np.full(30, 7.0), np.arange(10.0)]
    for name, f in rolling_forecasts(x, np.array([25, 29]), 2, season=None, refit_every=1).items():
        assert np.isfinite(f.mean).all() and np.isfinite(f.upper[95]).all(), name
        np.testing.assert_allclose(f.mean, 7.0, atol=1e-6, err_msg=name)


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown yardstick 'arima'"):
        rolling_forecasts(_seasonal(), np.array([40]), 1, None, names=("arima",))


def test_a_second_call_with_the_same_inputs_reuses_the_forecasts(monkeypatch):
    fits = []
    real = ys._automatic_model
    monkeypatch.setattr(ys, "_automatic_model", lambda name, m, n: fits.append(name) or real(name, m, n))
    x, origins = _seasonal(), np.arange(40, 50)
    first = rolling_forecasts(x, origins, 2, season=4, names=("naive", "auto_ets"), refit_every=5)
    again = rolling_forecasts(x.copy(), origins.copy(), 2, season=4, names=("naive", "auto_ets"), refit_every=5)
    assert fits == ["auto_ets", "auto_ets"] and again["auto_ets"] is first["auto_ets"]
    assert not again["auto_ets"].mean.flags.writeable  # shared, so read-only
    x[45] += 1  # another series: computed anew
    rolling_forecasts(x, origins, 2, season=4, names=("naive", "auto_ets"), refit_every=5)
    assert len(fits) == 4
