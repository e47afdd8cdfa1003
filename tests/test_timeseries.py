"""Time-series task: windows without leakage, train-only scaling, inverse transforms, baselines by hand, bad input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from harness.config import TimeSeriesTaskConfig
from harness.data.series import Series, handle_missing, load_series, regime_hmm
from harness.errors import ConfigError, DataError
from harness.tasks.timeseries import load_timeseries, make_timeseries


def TaskCfg(**overrides) -> TimeSeriesTaskConfig:
    """The real task schema with small-data defaults for these tests."""
    small = {
        "dataset": "csv",
        "window": 4,
        "dev_fraction": 0.2,
        "test_fraction": 0.2,
        "arima_order": [1, 0, 0],
        "n_points": 60,
    }
    return TimeSeriesTaskConfig(**{**small, **overrides})


def _series(x, season=None) -> Series:
    return Series("toy", np.asarray(x, dtype=np.float64), None, season)


def _write(tmp_path, text: str, name: str = "s.csv") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


RNG = np.random.default_rng(0)
WALK = 50 + np.cumsum(RNG.normal(size=40))  # (40,) positive, non-constant


# --- windows and splits -----------------------------------------------------------------------


@pytest.mark.parametrize("horizon", [1, 3])
def test_windows_read_only_the_past(horizon):
    """With x_t = t every input value names its own position: all lie in [o-W+1, o], o = t - h."""
    x = np.arange(40.0)
    d = make_timeseries(_series(x), TaskCfg(window=5, horizon=horizon))
    for split in (d.train, d.dev, d.test):
        positions = split.X[..., 0] * d.sigma + d.mu  # (N, W) back to x, which equals position
        t = split.target_index
        expected = (t - horizon)[:, None] + np.arange(-4, 1)[None, :]
        np.testing.assert_allclose(positions, expected, atol=1e-4)
        assert (positions < t[:, None]).all()
    # chronological, contiguous and disjoint targets: train < dev < test
    assert d.train.target_index[0] == 5 - 1 + horizon
    assert d.train.target_index[-1] + 1 == d.dev.target_index[0] == d.n_train
    assert d.dev.target_index[-1] + 1 == d.test.target_index[0] == d.n_train + d.n_dev
    assert d.test.target_index[-1] == 39
    assert (d.n_train, d.n_dev) == (24, 8)


def test_scaler_is_fitted_on_the_training_part_only():
    cfg = TaskCfg(window=4)
    d = make_timeseries(_series(WALK), cfg)
    np.testing.assert_allclose([d.mu, d.sigma], [WALK[: d.n_train].mean(), WALK[: d.n_train].std()])
    future = WALK.copy()
    future[d.n_train :] *= 10  # change everything after the training part
    d2 = make_timeseries(_series(future), cfg)
    assert (d2.mu, d2.sigma) == (d.mu, d.sigma)
    np.testing.assert_array_equal(d2.train.X, d.train.X)
    np.testing.assert_array_equal(d2.train.y, d.train.y)
    np.testing.assert_array_equal(d2.train_series, d.train_series)
    assert d.train_series.shape == (d.n_train,) and d.train_series.dtype == np.float32


def test_diff_scaler_uses_training_differences_only():
    d = make_timeseries(_series(WALK), TaskCfg(transform="log_diff"))
    z = np.diff(np.log(WALK[: d.n_train]))
    np.testing.assert_allclose([d.mu, d.sigma], [z.mean(), z.std()])
    assert d.train_series.shape == (d.n_train - 1,)


@pytest.mark.parametrize("transform", ["none", "log", "diff", "log_diff"])
@pytest.mark.parametrize("horizon", [1, 3])
def test_inverse_transform_round_trips(transform, horizon):
    d = make_timeseries(_series(WALK), TaskCfg(transform=transform, horizon=horizon))
    assert d.train.X.dtype == np.float32 and d.train.X.shape == (len(d.train), 4, 1)
    for split in ("train", "dev", "test"):
        w = d.split(split)
        np.testing.assert_allclose(d.to_original(split, w.y), WALK[w.target_index], rtol=1e-5)
        scores = d.score(split, w.y)
        assert scores["rmse"] < 1e-3 and scores["mae"] < 1e-3


def test_diff_target_is_the_h_step_change():
    d = make_timeseries(_series(WALK), TaskCfg(transform="diff", horizon=3))
    t = d.test.target_index
    np.testing.assert_allclose(d.test.y * d.sigma + 3 * d.mu, WALK[t] - WALK[t - 3], rtol=1e-5)


def test_score_in_original_units():
    d = make_timeseries(_series(WALK), TaskCfg(season=0))
    off = d.test.y + 2.0 / d.sigma  # every prediction 2 units too high
    s = d.score("test", off)
    assert s["rmse"] == pytest.approx(2.0, rel=1e-5) and s["mae"] == pytest.approx(2.0, rel=1e-5)
    assert s["mase"] == pytest.approx(2.0 / np.mean(np.abs(np.diff(WALK[: d.n_train]))), rel=1e-5)


# --- baselines by hand ------------------------------------------------------------------------

TOY = [1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 8.0, 7.0, 9.0, 12.0]


def test_naive_baseline_and_mase_by_hand():
    d = make_timeseries(_series(TOY), TaskCfg(window=2, dev_fraction=0.2, test_fraction=0.2))
    assert (d.n_train, d.n_dev) == (6, 2)
    np.testing.assert_array_equal(d.test.target_index, [8, 9])
    # naive: 9 <- 7, 12 <- 9; errors 2 and 3
    np.testing.assert_array_equal(d.baseline_predictions()["naive"], [7.0, 9.0])
    b = d.baselines()
    assert b["baseline_naive_test_rmse"] == pytest.approx(np.sqrt((4 + 9) / 2))
    assert b["baseline_naive_test_mae"] == pytest.approx(2.5)
    # in-sample one-step naive MAE on 1 3 2 5 4 6: (2+1+3+1+2)/5 = 1.8
    assert d.mase_scale == pytest.approx(1.8)
    assert b["baseline_naive_test_mase"] == pytest.approx(2.5 / 1.8)
    assert "baseline_seasonal_naive_test_rmse" not in b


def test_seasonal_naive_by_hand():
    d = make_timeseries(_series(TOY, season=3), TaskCfg(window=2, horizon=2))
    # season 3, horizon 2: x̂_t = x_{t-3}; targets 8, 9 <- positions 5, 6 (6.0, 8.0)
    np.testing.assert_array_equal(d.baseline_predictions()["seasonal_naive"], [6.0, 8.0])
    b = d.baselines()
    assert b["baseline_seasonal_naive_test_mae"] == pytest.approx((3 + 4) / 2)
    # seasonal in-sample naive MAE on 1 3 2 5 4 6 at lag 3: (4+1+4)/3 = 3
    assert d.mase_scale == pytest.approx(3.0)
    assert b["baseline_seasonal_naive_test_mase"] == pytest.approx(3.5 / 3.0)
    # horizon 2 naive is persistence from the origin t-2
    np.testing.assert_array_equal(d.baseline_predictions()["naive"], [8.0, 7.0])
    # season=0 switches the known season off
    assert (
        "seasonal_naive"
        not in make_timeseries(_series(TOY, season=3), TaskCfg(window=2, season=0)).baseline_predictions()
    )


def _ar1(n=80, phi=0.7, seed=1):
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.normal()
    return x + 10


@pytest.mark.parametrize("horizon", [1, 2])
def test_arima_baseline_uses_only_the_past(horizon):
    x = _ar1()
    cfg = TaskCfg(window=3, horizon=horizon, arima_order=[1, 0, 0])
    d = make_timeseries(_series(x), cfg)
    p = d.baseline_predictions()["arima"]
    t = d.test.target_index
    k = t[len(t) // 2]  # a test position: forecasts whose origin is before k must not move
    changed = x.copy()
    changed[k:] += 5.0
    p2 = make_timeseries(_series(changed), cfg).baseline_predictions()["arima"]
    before = t - horizon < k
    np.testing.assert_allclose(p2[before], p[before], rtol=0, atol=1e-10)
    assert np.abs(p2[~before] - p[~before]).min() > 0.1  # and it does read the history up to the origin
    # AR(1) with fitted (c, phi): the h-step forecast is the recursion from x_o
    assert d.baselines()["baseline_arima_test_rmse"] < d.baselines()["baseline_naive_test_rmse"] * 1.2


def test_arima_one_step_matches_the_ar1_formula():
    from statsmodels.tsa.arima.model import ARIMA

    x = _ar1()
    d = make_timeseries(_series(x), TaskCfg(window=3, arima_order=[1, 0, 0]))
    res = ARIMA(x[: d.n_train + d.n_dev], order=(1, 0, 0), trend="c").fit()
    mean, phi = res.params[0], res.params[1]  # statsmodels' "const" is the process mean
    t = d.test.target_index
    np.testing.assert_allclose(d.baseline_predictions()["arima"], mean + phi * (x[t - 1] - mean), rtol=1e-6)


def test_arima_one_step_path_equals_refiltering_each_origin():
    """The h = 1 shortcut (filter once over the series) equals re-applying the model to x[0..o] per origin."""
    from statsmodels.tsa.arima.model import ARIMA

    x = _ar1(n=60)
    d = make_timeseries(_series(x), TaskCfg(window=3, arima_order=[1, 0, 1]))
    res = ARIMA(x[: d.n_train + d.n_dev], order=(1, 0, 1), trend="c").fit()
    by_origin = [res.apply(x[: o + 1]).forecast(1)[-1] for o in d.test.target_index - 1]
    np.testing.assert_allclose(d.baseline_predictions()["arima"], by_origin, rtol=1e-9)


def test_seasonal_arima_and_default_orders():
    x = 10 + np.sin(2 * np.pi * np.arange(72) / 6) + 0.1 * _ar1(n=72)
    d = make_timeseries(_series(x, season=6), TaskCfg(window=6, arima_order=[0, 0, 0, 1, 0, 0]))
    b = d.baselines()
    assert b["baseline_arima_test_rmse"] < b["baseline_naive_test_rmse"] / 2
    assert make_timeseries(_series(WALK), TaskCfg(dataset="sunspots", arima_order=None)).arima_order == (6, 0, 2)
    assert make_timeseries(_series(WALK), TaskCfg(arima_order=None)).arima_order == (2, 0, 1)


def test_arima_order_is_validated():
    with pytest.raises(
        ConfigError,
        match=r"task.arima_order must be \[p, d, q\] or \[p, d, q, P, D, Q\] of non-negative integers, got \[1, 0\]",
    ):
        make_timeseries(_series(WALK), TaskCfg(arima_order=[1, 0]))
    with pytest.raises(
        ConfigError, match=r"task.arima_order=\[1, 0, 0, 0, 1, 1\] has a seasonal part but toy has no season"
    ):
        make_timeseries(_series(WALK), TaskCfg(arima_order=[1, 0, 0, 0, 1, 1]))


# --- data sets ---------------------------------------------------------------------------------


def test_statsmodels_sets_load_offline_without_nan():
    sizes = {"sunspots": (309, None), "co2": (526, 12), "nile": (100, None), "elnino": (732, 12)}
    for name, (n, season) in sizes.items():
        s = load_series(name)
        assert (len(s.values), s.season) == (n, season), name
        assert np.isfinite(s.values).all() and len(s.time) == n
    with pytest.raises(
        DataError, match=r"co2 \(weekly\) has 59 missing value\(s\), the first at row 7; set task.missing=interpolate"
    ):
        load_series("co2", missing="error")


def test_load_timeseries_default_shapes():
    d = load_timeseries(TaskCfg(dataset="sunspots", window=24), seed=0)
    assert d.name == "sunspots" and d.season is None and d.time[0] == 1700
    assert len(d.train) + len(d.dev) + len(d.test) == 309 - 24
    assert d.true_states is None


def test_synthetic_series_are_seeded():
    for name in ("synthetic_ar", "synthetic_sine", "synthetic_regime"):
        a, b = load_series(name, n_points=50, seed=3), load_series(name, n_points=50, seed=3)
        np.testing.assert_array_equal(a.values, b.values)
        assert not np.array_equal(a.values, load_series(name, n_points=50, seed=4).values)
    assert load_series("synthetic_sine").season == 20


def test_synthetic_regime_keeps_true_states():
    s = load_series("synthetic_regime", n_points=3000, seed=0)
    _, A, mu, sd = regime_hmm()
    assert s.true_states.shape == (3000,) and set(np.unique(s.true_states)) == {0, 1, 2}
    resid = s.values - mu[s.true_states]
    assert abs(resid.std() - sd) < 0.03  # emissions around the true state means
    stay = np.mean(s.true_states[1:] == s.true_states[:-1])
    assert abs(stay - A[0, 0]) < 0.02
    d = load_timeseries(TaskCfg(dataset="synthetic_regime", n_points=100), seed=0)
    assert d.true_states.shape == d.series.shape == (100,)


def test_missing_value_policies():
    x = np.array([np.nan, 1.0, np.nan, 3.0, 4.0, np.nan])
    t = np.arange(6)
    v, tt = handle_missing(x, t, "interpolate", "toy")
    np.testing.assert_array_equal(v, [1.0, 2.0, 3.0, 4.0])  # interior filled, ends trimmed
    np.testing.assert_array_equal(tt, [1, 2, 3, 4])
    v, tt = handle_missing(x, t, "drop", "toy")
    np.testing.assert_array_equal(v, [1.0, 3.0, 4.0])
    np.testing.assert_array_equal(tt, [1, 3, 4])
    with pytest.raises(DataError, match=r"toy has 3 missing value\(s\), the first at row 1"):
        handle_missing(x, t, "error", "toy")
    with pytest.raises(ConfigError, match=r"unknown task.missing='skip'; choose one of interpolate, drop, error"):
        handle_missing(x, t, "skip", "toy")


def test_csv_reads_columns_and_missing_cells(tmp_path):
    path = _write(tmp_path, "date,flow,other\n2020-01,1.5,a\n2020-02,,b\n2020-03,NA,c\n2020-04,4.5,d\n")
    s = load_series("csv", path=path, value_column="flow", time_column="date")
    np.testing.assert_allclose(s.values, [1.5, 2.5, 3.5, 4.5])
    assert s.time.dtype.kind == "M"
    s = load_series("csv", path=path, value_column="flow", missing="drop")
    np.testing.assert_allclose(s.values, [1.5, 4.5])
    assert s.time is None


# --- bad input: one clear sentence each ------------------------------------------------------


def test_csv_missing_path(tmp_path):
    with pytest.raises(DataError, match=r"CSV file .*nope\.csv does not exist; check task.path"):
        load_series("csv", path=str(tmp_path / "nope.csv"), value_column="v")


def test_csv_path_is_a_folder(tmp_path):
    with pytest.raises(DataError, match=r"is not a file; point task.path at a CSV file"):
        load_series("csv", path=str(tmp_path), value_column="v")


def test_csv_with_byte_order_mark(tmp_path):
    (tmp_path / "bom.csv").write_bytes("\ufeffyear,v\n1,2.5\n2,3.5\n".encode("utf-8"))
    s = load_series("csv", path=str(tmp_path / "bom.csv"), value_column="v", time_column="year")
    np.testing.assert_array_equal(s.time, [1.0, 2.0])


def test_csv_not_utf8(tmp_path):
    (tmp_path / "latin.csv").write_bytes("caf\xe9,v\n1,2\n".encode("latin-1"))
    with pytest.raises(
        DataError, match=r"latin\.csv is not UTF-8 text \(invalid continuation byte at byte 3\); save it as UTF-8"
    ):
        load_series("csv", path=str(tmp_path / "latin.csv"), value_column="v")


def test_csv_without_path():
    with pytest.raises(ConfigError, match=r"task.dataset=csv needs task.path"):
        load_series("csv")


@pytest.mark.parametrize(
    "text,value_column,error,message",
    [
        ("", "v", DataError, r"CSV file .*s\.csv is empty"),
        ("t,v\n", "v", DataError, r"has a header but no data rows"),
        ("a,b,c\n1,2,3\n", None, ConfigError, r"task.value_column is not set and .* has several columns \(a, b, c\)"),
        ("t,v\n1,1.0\n2,2.0\n\n3,abc\n", "v", DataError, r"s\.csv:5: value 'abc' in column 'v' is not a number"),
        ("t,v\n1,1\n2,2,2\n", "v", DataError, r"s\.csv:3: expected 2 columns, got 3"),
        ("t,v\n1,NA\n2,\n3,nan\n", "v", DataError, r"has no numeric values \(all 3 are missing\)"),
        ("v\n1\ninf\n3\n", "v", DataError, r"has an infinite value at row 2"),
    ],
    ids=["empty", "header-only", "ambiguous-column", "non-numeric", "column-count", "all-nan", "infinite"],
)
def test_bad_csv_content_names_the_problem(tmp_path, text, value_column, error, message):
    with pytest.raises(error, match=message):
        load_series("csv", path=_write(tmp_path, text), value_column=value_column)


def test_csv_missing_column_names_the_available_ones(tmp_path):
    path = _write(tmp_path, "year,volume\n1,2\n")
    with pytest.raises(
        DataError, match=r"s\.csv has no column 'flow' \(available: year, volume\); set task.value_column"
    ):
        load_series("csv", path=path, value_column="flow")
    with pytest.raises(DataError, match=r"has no column 'date' \(available: year, volume\); set task.time_column"):
        load_series("csv", path=path, value_column="volume", time_column="date")


def test_series_too_short_for_window_and_splits(tmp_path):
    path = _write(tmp_path, "v\n" + "\n".join(str(i % 7) for i in range(30)) + "\n")
    cfg = TaskCfg(path=path, value_column="v", window=20, horizon=2)
    with pytest.raises(
        DataError,
        match=r"series s has 30 points, but task.window=20 \+ task.horizon=2 .* needs at least 36; use a smaller task.window",
    ):
        load_timeseries(cfg, seed=0)
    # 36 points: n_dev = n_test = round(7.2) = 7, n_train = 22, one training target (position 21)
    path36 = _write(tmp_path, "v\n" + "\n".join(str(i % 7) for i in range(36)) + "\n", "s36.csv")
    d = load_timeseries(replace(cfg, path=path36), seed=0)
    assert (len(d.train), len(d.dev), len(d.test)) == (1, 7, 7)


def test_log_transform_needs_positive_values():
    with pytest.raises(DataError, match=r"task.transform=log needs positive values, but toy has 0 at position 2"):
        make_timeseries(_series([1.0, 2.0, 0.0] + list(WALK)), TaskCfg(transform="log"))


def test_constant_training_part():
    with pytest.raises(DataError, match=r"the training part of toy is constant"):
        make_timeseries(_series([5.0] * 60 + list(WALK[:20])), TaskCfg())


@pytest.mark.parametrize(
    "change, message",
    [
        ({"transform": "sqrt"}, r"unknown task.transform='sqrt'; choose one of none, log, diff, log_diff"),
        ({"window": 0}, r"task.window must be positive, got 0"),
        ({"horizon": -1}, r"task.horizon must be positive, got -1"),
        (
            {"dev_fraction": 0.6, "test_fraction": 0.5},
            r"task.dev_fraction \+ task.test_fraction = 1.1 leaves no training part",
        ),
        ({"test_fraction": 0.0}, r"task.test_fraction must lie in \(0, 1\)"),
        ({"season": 30}, r"task.season=30 is not shorter than the training part \(24 points\)"),
    ],
)
def test_bad_task_config(change, message):
    with pytest.raises(ConfigError, match=message):
        make_timeseries(_series(WALK), replace(TaskCfg(), **change))


def test_unknown_dataset():
    with pytest.raises(
        ConfigError, match=r"unknown time-series data set 'sunspot'; choose task.dataset from sunspots, co2"
    ):
        load_series("sunspot")
