"""Issue 18: panels of series (harness.data.panel, harness.tasks.panel, harness.estimators.panel).

Known answers for the aggregates, round trips between the two file formats, skipped series listed by
name, bad input as one line with exit 2 and nothing recorded, resume skipping finished series, and one
small end-to-end run whose logged aggregate is recomputed from its per-series artifact.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_bad_input import assert_no_run, assert_one_error_line, run_main

from harness.config import TimeSeriesTaskConfig
from harness.data.panel import BUILTIN_KINDS, BUILTIN_PER_KIND, builtin_panel, load_panel
from harness.tasks.panel import PanelData, aggregate, gmean, load_panel_task, reference_point


def write_monthly(path: Path, values, start: str = "2000-01", header: str = "ds,value") -> None:
    dates = np.datetime64(start, "M") + np.arange(len(values))
    path.write_text(header + "\n" + "".join(f"{d},{v:.6g}\n" for d, v in zip(dates, values)))


def series_values(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50 + np.cumsum(rng.normal(0.3, 1.0, n))


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "panel"
    d.mkdir()
    for i, n in enumerate((60, 72, 84)):
        write_monthly(d / f"s{i}.csv", series_values(n, i))
    return d


def test_builtin_panel_is_fixed_and_has_every_kind():
    a, b = builtin_panel(), builtin_panel()
    assert len(a) == len(BUILTIN_KINDS) * BUILTIN_PER_KIND
    assert all(np.array_equal(x.values, y.values) for x, y in zip(a, b))
    assert {s.name.rsplit("_", 1)[0] for s in a} == set(BUILTIN_KINDS)
    assert all(s.frequency == "monthly" and s.season == 12 and 96 <= len(s.values) <= 216 for s in a)
    assert all((s.values > 0).all() for s in a)  # sMAPE and MASE are meaningful on them


def test_folder_and_long_format_read_the_same_panel(folder, tmp_path):
    wide = load_panel(str(folder))  # no other setting: the ds column is found by its name
    assert [s.name for s in wide] == ["s0", "s1", "s2"]
    assert all(s.frequency == "monthly" and s.season == 12 for s in wide)
    rows = ["unique_id,ds,y"]
    for s in reversed(wide):  # ids in another order, rows of one id contiguous
        rows += [f"{s.name},{str(t)},{v:.6g}" for t, v in zip(s.time, s.values)]
    (tmp_path / "long.csv").write_text("\n".join(rows) + "\n")
    long = {s.name: s for s in load_panel(str(tmp_path / "long.csv"))}
    for s in wide:
        np.testing.assert_allclose(long[s.name].values, s.values)
        assert long[s.name].season == 12


def test_short_series_are_skipped_by_name(folder, capsys):
    write_monthly(folder / "tiny.csv", series_values(15, 9))
    cfg = TimeSeriesTaskConfig(dataset="panel", path=str(folder), yardsticks=["naive"], n_jobs=1)
    data = load_panel_task(cfg, 0)
    assert [ts.name for ts in data.series] == ["s0", "s1", "s2"]
    assert [n for n, _ in data.skipped] == ["tiny"]
    err = capsys.readouterr().err
    assert "skipped 1 of 4 series (tiny)" in err
    assert len({ts.window for ts in data.series}) == 1  # one W for the panel


def test_gmean_and_aggregates_known_answers():
    assert gmean(np.array([2.0, 0.5])) == pytest.approx(1.0)
    assert gmean(np.array([4.0, 1.0, np.nan, 0.0])) == pytest.approx(2.0)  # NaN and 0 ratios left out
    rows = [
        {"rmse": 2.0, "mae": 1.0, "mase": 0.5, "smape": 10.0},
        {"rmse": 1.0, "mae": 1.0, "mase": 1.5, "smape": 30.0},
    ]
    ref = {"rmse": 1.0, "mae": 2.0, "mase": 1.0, "smape": 20.0}
    refs = [{"naive": ref, "snaive": ref}, {"naive": ref, "snaive": {**ref, "rmse": 4.0}}]
    agg = aggregate(rows, refs)
    assert agg["relrmse_naive"] == pytest.approx(math.sqrt(2 * 1))
    assert agg["relrmse_snaive"] == pytest.approx(math.sqrt(2 * 0.25))
    assert agg["relmae_naive"] == pytest.approx(0.5)
    assert agg["mase"] == pytest.approx(1.0) and agg["smape"] == pytest.approx(20.0)
    assert agg["owa"] == pytest.approx(0.5 * (20 / 20 + 1.0 / 1.0))


def test_reference_forecasts_are_persistence_and_the_same_season_last_value():
    cfg = TimeSeriesTaskConfig(dataset="panel", horizon=6, season=4, yardsticks=["naive"], transform="none")
    from harness.data.series import Series
    from harness.tasks.timeseries import make_timeseries

    ts = make_timeseries(Series("x", np.arange(100.0) ** 1.1, None, season=4), cfg)
    o = ts.test.origin[0]
    x = ts.series
    np.testing.assert_array_equal(reference_point(ts, "test", "naive")[0], np.full(6, x[o]))
    np.testing.assert_array_equal(reference_point(ts, "test", "snaive")[0], x[[o - 3, o - 2, o - 1, o, o - 3, o - 2]])


def test_seasonal_strength_of_a_sine_and_of_noise():
    from harness.tasks.panel import seasonal_strength

    rng = np.random.default_rng(0)
    t = np.arange(120)
    assert seasonal_strength(10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, 120), 12) > 0.95
    assert seasonal_strength(rng.normal(0, 1, 120), 12) < 0.3
    assert math.isnan(seasonal_strength(rng.normal(0, 1, 120), None))


def test_ranks_average_ties():
    model = [{"rmse": 1.0}, {"rmse": 3.0}]
    ys = {"naive": [{"rmse": 2.0}, {"rmse": 3.0}], "ets": [{"rmse": 3.0}, {"rmse": 1.0}]}
    assert PanelData.ranks(model, ys) == {"model": 1.75, "naive": 2.25, "ets": 2.0}


# -- bad input: one line, exit 2, nothing recorded ---------------------------------------------------


@pytest.fixture
def bad_panels(tmp_path) -> Path:
    d = tmp_path / "bad"
    (d / "empty").mkdir(parents=True)
    write_monthly(d / "empty" / "a.csv", series_values(60, 0))
    (d / "empty" / "b.csv").write_text("")
    (d / "mixed").mkdir()
    write_monthly(d / "mixed" / "a.csv", series_values(60, 0))
    (d / "mixed" / "b.csv").write_text("year,value\n" + "".join(f"{1900 + i},{i}\n" for i in range(60)))
    (d / "dup").mkdir()
    write_monthly(d / "dup" / "a.csv", series_values(60, 0))
    rows = ["unique_id,ds,y"] + [f"a,{np.datetime64('2000-01', 'M') + i},{i}" for i in range(40)]
    rows.insert(11, "a,2000-10,3")  # file line 12 repeats line 11's month
    (d / "long_dup.csv").write_text("\n".join(rows) + "\n")
    return d


@pytest.mark.parametrize(
    "where, fragments",
    [
        ("empty", ["CSV file {d}/empty/b.csv is empty"]),
        ("mixed", ["{d}/mixed/b.csv is annual, but {d}/mixed/a.csv is monthly", "set task.season="]),
        ("long_dup.csv", ["{d}/long_dup.csv:12: time 2000-10 repeats the previous time", "remove repeated times"]),
    ],
    ids=["empty-file", "mixed-frequencies", "duplicate-timestamp"],
)
def test_bad_panel_input(where, fragments, bad_panels, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    args = ["model=hmm", "task=timeseries", "task.dataset=panel", f"task.path={bad_panels / where}"]
    code, out, err = run_main(args, monkeypatch, capsys)
    assert_one_error_line(code, out, err, [f.replace("{d}", str(bad_panels)) for f in fragments])
    assert_no_run(tmp_path / "mlflow.db")


def test_scope_global_is_refused_for_the_hmm(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["model=hmm", "task=timeseries", "task.dataset=panel", "model.scope=global"]
    code, out, err = run_main(args, monkeypatch, capsys)
    assert_one_error_line(code, out, err, ["a regime HMM is fitted per series", "model=rnn, lstm or gru"])


def test_scope_on_one_series_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(["model=gru", "task=timeseries", "model.scope=local"], monkeypatch, capsys)
    assert_one_error_line(code, out, err, ["model.scope does nothing with task.dataset=sunspots", "task.dataset=panel"])


# -- runs ---------------------------------------------------------------------------------------------


def test_panel_run_logs_aggregates_its_artifact_reproduces(folder, tracking_store):
    import harness
    from harness.tracking import prepare_store  # noqa: F401  (the store is the fixture's)

    overrides = ["model=hmm", "task=timeseries", "task.dataset=panel", f"task.path={folder}"]
    overrides += ["task.yardsticks=[naive,seasonal_naive]", "task.n_jobs=1", "progress=false"]
    result = harness.run(overrides)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_store)
    table = pd.read_csv(client.download_artifacts(result.run_id, "panel_scores.csv", str(folder.parent)))
    assert sorted(table.forecaster.unique()) == ["model", "naive", "seasonal_naive"]
    assert sorted(table.series.unique()) == ["s0", "s1", "s2"]
    model = table[table.forecaster == "model"]
    assert result.metrics["test_relrmse_naive"] == pytest.approx(gmean(model.relrmse_naive.to_numpy()), rel=1e-4)
    assert result.metrics["baseline_naive_test_relrmse_naive"] == pytest.approx(1.0)
    assert result.metrics["baseline_seasonal_naive_test_owa"] == pytest.approx(1.0)
    assert 1 <= result.metrics["test_rank"] <= 3


def test_local_fits_resume_without_refitting_finished_series(folder, monkeypatch):
    from harness.config import HMMForecasterConfig
    from harness.estimators import Hooks
    from harness.estimators import panel as ep

    cfg = TimeSeriesTaskConfig(dataset="panel", path=str(folder), yardsticks=["naive"], n_jobs=1)
    data = load_panel_task(cfg, 0)
    saved = {}
    first = ep.LocalForecasters(HMMForecasterConfig(max_states=2), data, np.random.default_rng(0), 0)
    first.fit(data, Hooks(log=lambda e, v: None, checkpoint=lambda s: saved.update(s), progress=False))
    calls = []
    real = ep._fit_one
    monkeypatch.setattr(ep, "_fit_one", lambda *a: calls.append(a[2].name) or real(*a))
    partial = {k: v for k, v in saved.items() if k.startswith(("s0.", "s2."))}  # s1 was not finished
    again = ep.LocalForecasters(HMMForecasterConfig(max_states=2), data, np.random.default_rng(0), 0)
    again.fit(data, Hooks(log=lambda e, v: None, resume=partial, progress=False))
    assert calls == ["s1"]
    before, after = data.score("test", first.predict(data, "test")), data.score("test", again.predict(data, "test"))
    assert before == pytest.approx(after)


# -- rank statistics (harness.report.ranks) ------------------------------------------------------------


def test_friedman_matches_the_textbook_formula_on_a_hand_made_table():
    from harness.report.ranks import average_ranks, rank_test

    scores = np.array([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [2.0, 1.0, 3.0], [1.0, 2.0, 3.0], [1.5, 2.5, 2.0]])
    ranks = average_ranks(scores)
    np.testing.assert_allclose(ranks, [1.2, 2.2, 2.6])  # by hand: (1+1+2+1+1)/5, (2+3+1+2+3)/5, (3+2+3+3+2)/5
    n, k = scores.shape
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(ranks**2) - k * (k + 1) ** 2 / 4)  # Demšar (2006), eq. 1
    test = rank_test(scores, ["a", "b", "c"])
    assert test.statistic == pytest.approx(chi2) == pytest.approx(5.2)
    from scipy.stats import chi2 as chi2_dist

    assert test.p_value == pytest.approx(chi2_dist.sf(5.2, k - 1))


def test_nemenyi_critical_difference_matches_demsar():
    from harness.report.ranks import nemenyi_cd

    # Demšar (2006), Table 5(a): q_0.05 = 1.960, 2.343, 2.569, 2.728 for k = 2..5; his example: k = 4, N = 14, CD = 1.25
    for k, q in ((2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728)):
        assert nemenyi_cd(k, 6) / math.sqrt(k * (k + 1) / 36) == pytest.approx(q, abs=1e-3)  # his three decimals
    assert nemenyi_cd(4, 14) == pytest.approx(1.25, abs=0.005)


def test_rank_groups_join_forecasters_within_one_cd():
    from harness.report.ranks import RankTest

    t = RankTest(["a", "b", "c", "d"], np.array([1.0, 1.5, 3.0, 3.4]), 10, 0.0, 0.01, 1.0)
    assert t.groups() == [(0, 1), (2, 3)]


def test_report_of_panel_runs_has_aggregates_ranks_friedman_and_cd(folder, tracking_store, tmp_path):
    import harness
    from harness.report.build import build_report

    for i in range(3, 6):  # six series: enough rows for the rank tests
        write_monthly(folder / f"s{i}.csv", series_values(60 + 6 * i, i))
    common = ["task=timeseries", "task.dataset=panel", f"task.path={folder}", "task.n_jobs=1", "progress=false"]
    common += ["task.yardsticks=[naive,seasonal_naive]", "experiment_name=panelreport"]
    results = {
        "hmm": harness.run(["model=hmm", *common]),
        "gru": harness.run(["model=gru", "model.hidden_size=4", "model.max_steps=20", *common]),
    }
    md = build_report(tracking_store, experiment="panelreport", name="p", out_dir=tmp_path / "reports").read_text()
    for title in ("Across-series aggregates", "Friedman test and Nemenyi", "Per series: test RMSE", "Where each"):
        assert title in md
    assert "Across the 6 series" in md and "Friedman p = " in md
    assert (tmp_path / "reports" / "p" / "critical_difference_timeseries_panel.png").exists()
    full = pd.read_csv(tmp_path / "reports" / "p" / "panel_scores_timeseries_panel.csv")
    assert len(full) == 6 and {"hmm", "gru", "naive", "seasonal naive"} <= set(full.columns)
    agg = md[md.index("### Across-series aggregates") :]
    row = next(line for line in agg.splitlines() if line.startswith("| hmm |"))
    assert row.split("|")[2].strip().strip("*") == f"{results['hmm'].metrics['test_relrmse_naive']:#.4g}"


# -- global against local ----------------------------------------------------------------------------


def _ar(n: int, rng: np.random.Generator, a: tuple[float, float]) -> np.ndarray:
    e = rng.normal(0.0, 1.0, n + 50)
    x = np.zeros(n + 50)
    for t in range(2, n + 50):  # a recursion in time
        x[t] = a[0] * x[t - 1] + a[1] * x[t - 2] + e[t]
    return 10 + x[50:]


def _global_and_local(raw) -> dict[str, float]:
    from harness.config import model_schema
    from harness.estimators import Hooks
    from harness.estimators.panel import GlobalForecaster, LocalForecasters
    from harness.tasks.panel import panel_data

    cfg = TimeSeriesTaskConfig(dataset="panel", yardsticks=["naive"], n_jobs=1, transform="none", window=8)
    data = panel_data(raw, cfg)
    out = {}
    for scope, estimator in (("global", GlobalForecaster), ("local", LocalForecasters)):
        m = model_schema("gru", "timeseries")(hidden_size=8, max_steps=200, scope=scope, likelihood="mse")
        est = estimator(m, data, np.random.default_rng(0), 0)
        est.fit(data, Hooks(log=lambda e, v: None, progress=False))
        out[scope] = data.score("test", est.predict(data, "test"))["relrmse_naive"]
    return out


def test_global_gru_beats_local_only_where_series_share_dynamics():
    """12 series of 60 points. Shared: all from one AR(2) (0.6, -0.3): the global network learns it from 12 times
    the windows and beats a network per series. Distinct: six AR(2) processes of opposite signs and shapes: at this
    size and budget the global network does not beat the networks fitted per series. (Data seeds 1-4 all order the
    two the same way: shared 3-9 % better globally, distinct 2-14 % better locally.)"""
    from harness.data.series import Series

    rng = np.random.default_rng(1)
    shared = [Series(f"a{i}", _ar(60, rng, (0.6, -0.3)), None, season=None) for i in range(12)]
    coefs = [(0.9, 0.0), (-0.9, 0.0), (0.0, 0.8), (0.5, -0.5), (-0.5, -0.4), (0.3, 0.6)]
    distinct = [Series(f"d{i}", _ar(60, rng, coefs[i % 6]), None, season=None) for i in range(12)]
    s, d = _global_and_local(shared), _global_and_local(distinct)
    assert s["global"] < 0.97 * s["local"], s
    assert d["global"] > d["local"], d
