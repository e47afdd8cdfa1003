"""Time-series task: windows without leakage, train-only scaling, inverse transforms, baselines by hand, bad input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from harness.config import TimeSeriesTaskConfig
from harness.data.series import Series, handle_missing, load_series, regime_hmm
from harness.errors import ConfigError, DataError
from harness.forecasting.scoring import Predictive
from harness.tasks.timeseries import load_timeseries, make_timeseries


def TaskCfg(**overrides) -> TimeSeriesTaskConfig:
    """The real task schema with small-data defaults for these tests."""
    small = {
        "dataset": "csv",
        "window": 4,
        "dev_fraction": 0.2,
        "test_fraction": 0.2,
        "yardsticks": ["naive"],
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
    """With x_t = t every input value names its own position: all lie in [o-W+1, o]; targets are o+1..o+H."""
    x = np.arange(40.0) + 1
    d = make_timeseries(_series(x), TaskCfg(window=5, horizon=horizon, transform="none"))
    sc = d.scaling
    for name in ("train", "dev", "test"):
        w = d.split(name)
        positions = w.X[..., 0] * sc.d + sc.c - 1  # (N, W) back to x - 1, which equals position
        np.testing.assert_allclose(positions, w.origin[:, None] + np.arange(-4, 1)[None, :], atol=1e-4)
        targets = w.Y * sc.d + sc.c - 1  # (N, H)
        expected = w.origin[:, None] + np.arange(1, horizon + 1)[None, :]
        end = d.split_end(name)
        np.testing.assert_allclose(targets[expected < end], expected[expected < end], atol=1e-4)
        assert np.isnan(w.Y[expected >= end]).all()  # a target past the split's end is not scored
    assert (d.n_train, d.n_dev) == (24, 8)
    # training windows keep all H targets inside the training part; dev and test start at their first target
    assert d.train.origin[0] == 4 and d.train.origin[-1] == 24 - 1 - horizon
    assert d.dev.origin.tolist() == list(range(23, 31)) and d.test.origin.tolist() == list(range(31, 39))


def test_scales_and_transform_are_fitted_on_the_training_part_only():
    growth = np.exp(0.03 * np.arange(80) + 0.1 * np.random.default_rng(3).standard_normal(80).cumsum())
    for transform in ("auto", "log_diff", "none"):
        cfg = TaskCfg(window=4, transform=transform)
        d = make_timeseries(_series(growth), cfg)
        future = growth.copy()
        future[d.n_train :] = future[d.n_train :][::-1] * 10  # change everything after the training part
        d2 = make_timeseries(_series(future), cfg)
        assert d2.scaling == d.scaling and d2.transform_reason == d.transform_reason
        np.testing.assert_array_equal(d2.train.X, d.train.X)
        np.testing.assert_array_equal(d2.train.Y, d.train.Y)
        np.testing.assert_array_equal(d2.z_train, d.z_train)
    g = np.log(growth[: d.n_train])
    d = make_timeseries(_series(growth), TaskCfg(transform="log_diff"))
    sc = d.scaling
    np.testing.assert_allclose(
        [sc.c, sc.d, sc.mu, sc.sd], [g.mean(), np.diff(g).std(), np.diff(g).mean(), np.diff(g).std()]
    )
    assert d.z_train.shape == (d.n_train - 1,)


def test_auto_transform_logs_and_differences_a_growing_multiplicative_series():
    t = np.arange(144)
    rng = np.random.default_rng(0)
    x = np.exp(4.5 + 0.01 * t + 0.2 * np.sin(2 * np.pi * t / 12) + np.cumsum(0.03 * rng.standard_normal(144)))
    d = make_timeseries(_series(x, season=12), TaskCfg(window=None, transform="auto", test_fraction=0.15))
    assert d.transform == "log_diff" and d.transform_reason.startswith("auto: ")
    assert d.window == 24  # two seasons
    flat = make_timeseries(_series(_ar1(n=120)), TaskCfg(window=None, transform="auto"))
    assert flat.transform == "none" and flat.window == 12


def test_scores_of_point_and_distribution_forecasts_by_hand():
    d = make_timeseries(_series(WALK, season=None), TaskCfg(horizon=2, transform="none"))
    truth = d.truth("test")  # (N, 2), NaN past the end
    assert np.isnan(truth[-1, 1]) and np.isfinite(truth[:-1]).all()
    g = np.nan_to_num(truth) + 2.0  # every forecast 2 units too high
    s = d.score("test", g)
    scale = np.mean(np.abs(np.diff(WALK[: d.n_train])))
    assert s["rmse"] == pytest.approx(2.0) and s["mae"] == pytest.approx(2.0) and s["mase"] == pytest.approx(2 / scale)
    assert s["rmse_h1"] == pytest.approx(2.0) and np.isnan(s["crps"])  # a point forecast has no CRPS
    # a (nearly) degenerate Gaussian: CRPS -> |error|; the 80 % interval covers nothing, its width -> 0
    s = d.score("test", Predictive.gaussian(g, np.full_like(g, 1e-9)))
    assert s["crps"] == pytest.approx(2.0, rel=1e-6) and s["coverage80"] == 0 and s["width80"] < 1e-6
    # a wide one covers everything
    assert d.score("test", Predictive.gaussian(g, np.full_like(g, 100.0)))["coverage95"] == 1


def test_log_transform_turns_the_distribution_over_g_into_original_units():
    d = make_timeseries(_series(WALK), TaskCfg(horizon=1, transform="log"))
    g = np.log(d.truth("test"))  # (N, 1) exact forecasts over g
    point, p = d.predictive(Predictive.gaussian(g, np.full_like(g, 0.1)))
    np.testing.assert_allclose(point, d.truth("test"), rtol=1e-9)  # exp of the mean over g
    lo, hi = p.interval(95)
    np.testing.assert_allclose(lo, d.truth("test") * np.exp(-0.1 * 1.959963984540054), rtol=1e-6)
    assert d.score("test", g)["rmse"] < 1e-9


TOY = [1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 8.0, 7.0, 9.0, 12.0, 10.0, 13.0, 15.0, 14.0, 16.0, 18.0, 17.0, 20.0, 19.0, 22.0]


def test_naive_yardstick_and_mase_by_hand():
    d = make_timeseries(_series(TOY), TaskCfg(window=2, horizon=2, transform="none", yardsticks=["naive"]))
    assert (d.n_train, d.n_dev) == (12, 4) and d.test.origin.tolist() == [15, 16, 17, 18]
    # naive from origin o: x_o at both horizons; targets x_16..x_19
    f = d.yardsticks()["naive"]
    np.testing.assert_array_equal(f.mean, [[18, 18], [17, 17], [20, 20], [19, 19]])
    b = d.baselines()
    err1, err2 = np.array([-1, 3, -1, 3.0]), np.array([2, 2, 2.0])  # x_{o+1} - x_o; x_{o+2} - x_o (3 origins)
    rmse = (np.sqrt(np.mean(err1**2)) + np.sqrt(np.mean(err2**2))) / 2
    assert b["baseline_naive_test_rmse"] == pytest.approx(rmse)
    # in-sample one-step naive MAE on the 12 training values
    assert d.mase_scale == pytest.approx(np.mean(np.abs(np.diff(TOY[:12]))))
    assert b["baseline_naive_test_mae"] / d.mase_scale == pytest.approx(b["baseline_naive_test_mase"])
    assert "baseline_seasonal_naive_test_rmse" not in b


def test_forecasts_file_and_intervals_file(tmp_path):
    import pandas as pd

    d = make_timeseries(_series(TOY), TaskCfg(window=2, horizon=2, transform="none", yardsticks=["naive"]))
    g = np.nan_to_num(d.truth("test"))
    d.write_predictions(tmp_path / "test_forecasts.csv", Predictive.gaussian(g, np.ones_like(g)))
    fc = pd.read_csv(tmp_path / "test_forecasts.csv")
    assert list(fc.columns) == ["origin", "horizon", "target_index", "truth", "model", "naive"]
    assert len(fc) == 4 + 3 and (fc.target_index == fc.origin + fc.horizon).all() and (fc.target_index < 20).all()
    np.testing.assert_array_equal(fc.truth, np.asarray(TOY)[fc.target_index])
    iv = pd.read_csv(tmp_path / "test_intervals.csv")
    assert sorted(set(iv.forecaster)) == ["model", "naive"] and len(iv) == 2 * 7
    m = iv[iv.forecaster == "model"]
    np.testing.assert_allclose(
        m.upper95 - m.lower95, 2 * 1.959963984540054, atol=1e-4
    )  # the CSV holds 6 significant digits
    assert (iv.lower95 <= iv.lower80).all() and (iv.upper80 <= iv.upper95).all()


def _ar1(n=80, phi=0.7, seed=1):
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.normal()
    return x + 10


def test_yardsticks_through_the_task_read_only_the_past():
    x = _ar1(n=90)
    cfg = TaskCfg(window=3, horizon=2, transform="none", yardsticks=["naive", "auto_arima", "auto_ets"], refit_every=3)
    d = make_timeseries(_series(x), cfg)
    k = int(d.test.origin[len(d.test) // 2])  # forecasts from origins <= k must not move
    changed = x.copy()
    changed[k + 1 :] += 5.0
    d2 = make_timeseries(_series(changed), cfg)
    before = d.test.origin <= k
    for name, f in d.yardsticks().items():
        np.testing.assert_allclose(d2.yardsticks()[name].mean[before], f.mean[before], atol=1e-9, err_msg=name)
        assert np.abs(d2.yardsticks()[name].mean[~before] - f.mean[~before]).max() > 0.1, name


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
    d = load_timeseries(TaskCfg(dataset="sunspots", window=24, dev_fraction=0.15, test_fraction=0.15), seed=0)
    assert d.name == "sunspots" and d.season is None and d.time[0] == 1700
    assert (d.n_train, d.n_dev, len(d.test)) == (217, 46, 46)  # one test origin per test point (H = 1)
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


def test_series_too_short_for_the_horizon_or_the_window(tmp_path):
    path = _write(tmp_path, "v\n" + "\n".join(str(i % 7) for i in range(30)) + "\n")
    cfg = TaskCfg(path=path, value_column="v", window=4, horizon=8, transform="none")
    with pytest.raises(
        DataError,
        match=r"series s has a test part of 6 points, shorter than task.horizon=8: no origin would be scored at "
        r"every horizon; use a smaller task.horizon",
    ):
        load_timeseries(cfg, seed=0)
    with pytest.raises(
        DataError, match=r"series s has a training part of 18 points, too short for one window of task.window=15"
    ):
        load_timeseries(replace(cfg, window=15, horizon=4), seed=0)
    with pytest.raises(
        DataError, match=r"series s10 has 10 points: a training part of 6 .* needs at least 12 training"
    ):
        load_timeseries(
            replace(cfg, path=_write(tmp_path, "v\n" + "\n".join(str(i) for i in range(1, 11)) + "\n", "s10.csv")), 0
        )
    d = load_timeseries(replace(cfg, window=14, horizon=4), seed=0)  # 18 - 4 - 14 + 1 = one training window
    assert (len(d.train), len(d.dev), len(d.test)) == (1, 6, 6)


def test_log_transform_needs_positive_values():
    with pytest.raises(DataError, match=r"task.transform=log needs positive values, but toy has 0 at position 2"):
        make_timeseries(_series([1.0, 2.0, 0.0] + list(WALK)), TaskCfg(transform="log"))


def test_constant_training_part():
    with pytest.raises(DataError, match=r"the training part of toy is constant"):
        make_timeseries(_series([5.0] * 60 + list(WALK[:20])), TaskCfg(transform="none"))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"transform": "sqrt"}, r"unknown task.transform='sqrt'; choose one of auto, none, log, diff, log_diff"),
        ({"yardsticks": ["naive", "prophet"]}, r"unknown yardstick 'prophet' in task.yardsticks; choose from naive"),
        ({"yardsticks": ["auto_ets"]}, r"task.yardsticks must include naive"),
        ({"refit_every": 0}, r"task.refit_every must be positive, got 0"),
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


# --- the models through the task: no look-ahead --------------------------------------------------


@pytest.mark.parametrize("model", ["gru", "hmm"])
@pytest.mark.parametrize("transform", ["none", "log_diff"])
def test_model_forecasts_from_an_origin_never_read_a_later_value(model, transform):
    """Every value after an origin rewritten: every horizon's forecast (mean and spread) from that origin and
    from earlier ones stays exactly as it was; later origins do see the change."""
    from harness import estimators
    from harness.config import Config, model_schema

    x = _ar1(n=150)
    task = TaskCfg(window=8, horizon=3, transform=transform)
    settings = {"hidden_size": 6, "max_steps": 30} if model == "gru" else {"n_states": 2}
    config = Config(model=model_schema(model, "timeseries")(**settings), task=task, progress=False)
    data = make_timeseries(_series(x), task)
    estimator = estimators.build(config, data, np.random.default_rng(0))
    estimator.fit(data, estimators.Hooks(log=lambda epoch, values: None, progress=False))
    k = int(data.test.origin[len(data.test) // 2])
    changed = x.copy()
    changed[k + 1 :] = changed[k + 1 :][::-1] * 1.5
    later = make_timeseries(_series(changed), task)
    assert later.scaling == data.scaling  # the training part is untouched
    a, b = estimator.predict(data, "test"), estimator.predict(later, "test")
    before = data.test.origin <= k
    for field_ in ("weights", "means", "sds"):
        np.testing.assert_array_equal(getattr(b, field_)[before], getattr(a, field_)[before], err_msg=field_)
    assert not np.allclose(b.means[~before], a.means[~before])


def test_a_series_too_small_for_float64_statistics_is_not_called_constant():
    tiny = 1e-320 * (1 + np.arange(40) % 5)  # subnormal values: their squares underflow to 0
    with pytest.raises(DataError, match=r"varies by only 4e-320 .* too little for float64 statistics to see; rescale"):
        make_timeseries(_series(tiny), TaskCfg(window=4, transform="none"))
    with pytest.raises(DataError, match=r"the training part of toy is constant; use a series that varies"):
        make_timeseries(_series(np.full(40, 3.0)), TaskCfg(window=4, transform="none"))
