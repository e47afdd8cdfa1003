"""The forecasting part of a report on hand-made multi-horizon artifacts (2 models x 2 seeds, yardsticks, H=3):
RMSE/MASE by horizon against numbers computed by hand from test_forecasts.csv, Diebold–Mariano per horizon and
averaged over horizons against diebold_mariano called directly, the probabilistic table, the figures, and an
old-style run (H=1, no intervals) that still renders as before."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_report import ts_part

from harness.report import build_report
from harness.report.significance import forecast_tests, horizon_tests
from harness.report.stats import Row, Summary, Table, diebold_mariano
from harness.report.tables import errors_by_horizon
from harness.report.verdict import verdict_sentence
from harness.tracking import Tracker

H, ORIGINS, SEASON, SCALE = 3, np.arange(30, 42), 4, 2.0  # 12 origins; MASE scale s = test_mae / test_mase
NOISE = {"gru": 0.3, "hmm": 0.9}  # sd of the models' errors at h=1 (times h)
YARDSTICKS = ["naive", "seasonal_naive", "auto_arima"]
Z = {"80": 1.2816, "95": 1.96}


def _truth(t):
    return 10 + 3 * np.sin(t / 2) + 0.1 * t


def _forecasts(model: str, seed: int) -> pd.DataFrame:
    """test_forecasts.csv of one run: one row per (origin, horizon)."""
    o, h = np.repeat(ORIGINS, H), np.tile(np.arange(1, H + 1), len(ORIGINS))  # (N,) each
    t = o + h
    rng = np.random.default_rng(100 * seed + len(model))
    fixed = np.random.default_rng(7)  # the yardsticks: the same in every run
    return pd.DataFrame(
        {
            "origin": o,
            "horizon": h,
            "target_index": t,
            "date": pd.date_range("2000-01-01", periods=60, freq="MS")[t].strftime("%Y-%m-%d"),
            "truth": _truth(t),
            "model": _truth(t) + rng.normal(0, NOISE[model] * h) + (0.3 if model == "hmm" else 0),
            "naive": _truth(o),
            "seasonal_naive": _truth(t - SEASON * np.ceil(h / SEASON)),
            "auto_arima": _truth(t) + fixed.normal(0, 0.6 * h),
        }
    )


def _intervals(fc: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for who in ["model"] + YARDSTICKS:
        sd = np.sqrt(((fc[who] - fc.truth) ** 2).groupby(fc.horizon).transform("mean"))  # (N,)
        d = fc[["origin", "horizon"]].assign(forecaster=who)
        for level, z in Z.items():
            d[f"lower{level}"], d[f"upper{level}"] = fc[who] - z * sd, fc[who] + z * sd
        frames.append(d)
    return pd.concat(frames, ignore_index=True)[
        ["forecaster", "origin", "horizon", "lower80", "upper80", "lower95", "upper95"]
    ]


def _scores(fc: pd.DataFrame, iv: pd.DataFrame, who: str) -> dict[str, float]:
    """The metrics a run logs for one forecaster, each averaged over horizons 1..H."""
    e = fc[who] - fc.truth
    by_h = e.groupby(fc.horizon)
    mae = float(by_h.apply(lambda x: x.abs().mean()).mean())
    out = {
        "rmse": float(by_h.apply(lambda x: np.sqrt((x**2).mean())).mean()),
        "mae": mae,
        "mase": mae / SCALE,
        "smape": float((200 * e.abs() / (fc[who].abs() + fc.truth.abs())).mean()),
        "crps": 0.6 * mae,  # a stand-in: the report only reads it
    }
    b = iv[iv.forecaster == who].reset_index(drop=True)
    for level in Z:
        inside = (fc.truth >= b[f"lower{level}"]) & (fc.truth <= b[f"upper{level}"])
        out[f"coverage{level}"] = float(inside.mean())
        out[f"width{level}"] = float((b[f"upper{level}"] - b[f"lower{level}"]).mean())
    return out


def _ts_run(uri, parent, tmp, model, seed, dataset="airpassengers") -> None:
    fc = _forecasts(model, seed)
    iv = _intervals(fc)
    tags = {"model": model, "task": "timeseries", "dataset": dataset, "seed": str(seed)}
    with Tracker(uri, "timeseries", f"{model}-ts-seed{seed}", tags, parent) as t:
        t.log_params(
            {"model.name": model, "task.name": "timeseries", "task.dataset": dataset, "task.horizon": H, "seed": seed}
        )
        metrics = {f"test_{k}": v for k, v in _scores(fc, iv, "model").items()}
        for y in YARDSTICKS:
            metrics |= {f"baseline_{y}_test_{k}": v for k, v in _scores(fc, iv, y).items()}
        t.log_metrics(metrics)
        for name, frame in (("test_forecasts.csv", fc), ("test_intervals.csv", iv)):
            frame.to_csv(tmp / name, index=False)
            t.log_artifact(tmp / name)


@pytest.fixture
def forecast_store(tracking_store, tmp_path):
    parent = Tracker(tracking_store, "timeseries", "sweep-h3", {"harness.sweep": "true"})
    for model in NOISE:
        for seed in (0, 1):
            _ts_run(tracking_store, parent.run_id, tmp_path, model, seed)
    parent.end("FINISHED")
    return tracking_store, parent.run_id


def _md_table(md: str, title: str) -> dict[str, list[str]]:
    """The rows (label -> cells) of the Markdown table under ``### <title>``."""
    block = md[md.index(f"### {title}") :].split("\n\n")[2]
    return {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in block.splitlines()[2:]
        if line.startswith("| ")
    }


def _hand_losses() -> dict[str, np.ndarray]:
    """forecaster -> (origins, H) squared error, mean over the two seeds; by plain indexing."""
    out = {}
    for model in NOISE:
        se = [((_forecasts(model, s).model - _forecasts(model, s).truth) ** 2).to_numpy() for s in (0, 1)]
        out[model] = ((se[0] + se[1]) / 2).reshape(len(ORIGINS), H)
    f = _forecasts("gru", 0)
    for y in YARDSTICKS:
        out[y.replace("_", " ")] = ((f[y] - f.truth) ** 2).to_numpy().reshape(len(ORIGINS), H)
    return out


def test_errors_by_horizon_equal_rmse_by_hand():
    fc = {m: pd.concat([_forecasts(m, s).assign(seed=s) for s in (0, 1)]) for m in NOISE}
    e = errors_by_horizon(fc, {m: {0: SCALE, 1: SCALE} for m in NOISE}).set_index(["forecaster", "horizon"])
    for h in range(1, H + 1):
        for m in NOISE:
            rows = [_forecasts(m, s).query(f"horizon == {h}") for s in (0, 1)]
            rmse = [math.sqrt(sum((r.model - r.truth) ** 2) / len(r)) for r in rows]
            mae = [sum(abs(r.model - r.truth)) / len(r) for r in rows]
            assert e.loc[(m, h), "rmse"] == pytest.approx((rmse[0] + rmse[1]) / 2)
            assert e.loc[(m, h), "mase"] == pytest.approx((mae[0] + mae[1]) / 2 / SCALE)
        r = _forecasts("gru", 0).query(f"horizon == {h}")
        assert e.loc[("seasonal naive", h), "rmse"] == pytest.approx(
            math.sqrt(np.mean((r.seasonal_naive - r.truth) ** 2))
        )
    assert set(e.reset_index().query("kind == 'baseline'").forecaster) == {"naive", "seasonal naive", "auto arima"}


def test_diebold_mariano_per_horizon_and_averaged_match_direct_calls():
    fc = {m: pd.concat([_forecasts(m, s).assign(seed=s) for s in (0, 1)]) for m in NOISE}
    losses = _hand_losses()
    ht = horizon_tests(fc)
    for h in range(1, H + 1):
        best = min(losses, key=lambda k: losses[k][:, h - 1].mean())
        assert ht.best[h] == best
        for label, loss in losses.items():
            if label != best:
                _, _, p, _ = diebold_mariano(loss[:, h - 1], losses[best][:, h - 1], h)
                assert ht.tests[h][label].p_value == pytest.approx(p)
    # the verdict's test: each origin's squared error averaged over h=1..3, HAC lag 2, against the table's best
    rows = [Row(k, "model", {"test_rmse": Summary({0: float(np.sqrt(v.mean()))})}) for k, v in losses.items()]
    table = Table("timeseries", "x", "test_rmse", [], rows, {"test_rmse": "gru"}, "gru")
    assert min(rows, key=lambda r: r.cells["test_rmse"].mean).label == "gru"
    res = forecast_tests(fc, table, H)
    dbar, _, p, _ = diebold_mariano(losses["hmm"].mean(1), losses["gru"].mean(1), H)
    assert res["hmm"].p_value == pytest.approx(p) and res["hmm"].diff == pytest.approx(dbar)
    assert (
        res["hmm"].test
        == "Diebold–Mariano (HLN) on squared errors averaged over h=1..3 per origin (12 origins, HAC lag 2)"
    )
    s = verdict_sentence(table, res, [1, 2, 3])
    p = diebold_mariano(losses["auto arima"].mean(1), losses["gru"].mean(1), H)[2]  # the runner-up's test
    assert "the runner-up auto arima (1.284) on test RMSE averaged over horizons 1..3 (" in s and f"p = {p:.2g})" in s
    assert "Diebold–Mariano (HLN) on squared errors averaged over h=1..3 per origin (12 origins, HAC lag 2)" in s


def test_report_has_the_forecasting_sections(forecast_store, tmp_path):
    uri, parent = forecast_store
    md_path = build_report(uri, parent_run_id=parent, name="h3", out_dir=tmp_path / "reports")
    md, folder = md_path.read_text(encoding="utf-8"), md_path.parent
    ts = ts_part(md)
    # RMSE by horizon: the models' mean over seeds and the yardsticks, the lowest per column in bold
    rmse = _md_table(ts, "RMSE by horizon (timeseries)")
    assert list(rmse) == ["gru", "hmm", "auto arima *(baseline)*", "naive *(baseline)*", "seasonal naive *(baseline)*"]
    for h in range(1, H + 1):
        hand = {}
        for m in NOISE:
            per_seed = [
                np.sqrt(np.mean((f.model - f.truth)[f.horizon == h] ** 2))
                for f in map(lambda s: _forecasts(m, s), (0, 1))
            ]
            hand[m] = float(np.mean(per_seed))
        f = _forecasts("gru", 0).query(f"horizon == {h}")
        for y in YARDSTICKS:
            hand[y.replace("_", " ") + " *(baseline)*"] = float(np.sqrt(np.mean((f[y] - f.truth) ** 2)))
        lowest = min(hand, key=hand.get)
        for label, x in hand.items():
            text = f"{x:#.4g}".rstrip(".")
            assert rmse[label][h - 1] == (f"**{text}**" if label == lowest else text)
    mase = _md_table(ts, "MASE by horizon (timeseries)")
    assert len(mase["gru"]) == H and len(mase) == 5
    # Diebold–Mariano by horizon: the p values of direct calls, "best" where the column's lowest MSE is
    dm = _md_table(ts, "Diebold–Mariano p values by horizon (timeseries)")
    losses = _hand_losses()
    for h in range(1, H + 1):
        best = min(losses, key=lambda k: losses[k][:, h - 1].mean())
        for label, loss in losses.items():
            key = label + ("" if label in NOISE else " *(baseline)*")
            if label == best:
                assert dm[key][h - 1] == "**best**"
            else:
                p = diebold_mariano(loss[:, h - 1], losses[best][:, h - 1], h)[2]
                assert dm[key][h - 1] == ("< 0.001" if p < 0.001 else f"{p:.3g}")
    assert "Column h=k: each forecaster against the one with the lowest mean squared error" in ts
    # probabilistic: CRPS, coverage in percent, widths; the lowest CRPS in bold, yardsticks as rows
    prob = _md_table(ts, "Probabilistic forecasts (timeseries)")
    assert set(prob) == set(rmse) and sum(c[0].startswith("**") for c in prob.values()) == 1
    assert prob["naive *(baseline)*"][1].endswith("%") and "should be near 80% and 95%" in ts
    # the verdict names the horizons and the averaged test
    verdict = md[md.index("## Verdict") : md.index("## timeseries")]
    assert "test RMSE averaged over horizons 1..3" in verdict and "averaged over h=1..3 per origin" in verdict
    # figures: error by horizon, fan charts, forecasts; all inline in the HTML
    for png in ("horizon_errors", "fan_charts", "forecasts"):
        assert (folder / f"{png}_timeseries_airpassengers.png").stat().st_size > 5000
        assert f"]({png}_timeseries_airpassengers.png)" in md
    html = (folder / "report.html").read_text(encoding="utf-8")
    for section in (
        "RMSE by horizon",
        "MASE by horizon",
        "Diebold–Mariano p values by horizon",
        "Probabilistic forecasts",
        "Fan charts",
    ):
        assert section in html
    assert html.count('src="data:image/png;base64,') == 4 and '<tr class="baseline"><td>naive (baseline)</td>' in html


def test_old_single_horizon_run_without_intervals_renders_as_before(tracking_store, tmp_path):
    with Tracker(
        tracking_store, "old", "rnn-ts", {"model": "rnn", "task": "timeseries", "dataset": "sunspots", "seed": "0"}
    ) as t:
        t.log_params(
            {"model.name": "rnn", "task.name": "timeseries", "task.dataset": "sunspots", "task.horizon": 1, "seed": 0}
        )
        t.log_metrics(
            {"test_rmse": 1.2, "test_mae": 0.9, "baseline_naive_test_rmse": 2.0, "baseline_arima_test_rmse": 1.0}
        )
        path = tmp_path / "test_forecasts.csv"
        path.write_text(
            "target_index,truth,model,naive,arima\n"
            + "".join(
                f"{i},{i % 7},{i % 7 + 0.5 * (i % 3)},{(i - 1) % 7},{i % 7 + 0.1 * (-1) ** i}\n" for i in range(30)
            ),
            encoding="utf-8",
        )
        t.log_artifact(path)
    with Tracker(tracking_store, "old", "hmm-pos", {"model": "hmm", "task": "pos", "seed": "0"}) as t:  # another task
        t.log_params({"model.name": "hmm", "task.name": "pos", "seed": 0})
        t.log_metrics({"test_accuracy": 0.9, "baseline_test_accuracy": 0.8})  # a baseline_ column without a name
    md_path = build_report(tracking_store, experiment="old", name="old", out_dir=tmp_path / "reports")
    md = md_path.read_text(encoding="utf-8")
    assert sorted(p.name for p in md_path.parent.glob("*.png")) == ["forecasts_timeseries_sunspots.png"]
    for absent in ("by horizon (", "Probabilistic", "Fan charts", "over horizons"):
        assert absent not in md
    assert "| naive − arima |" in md and "Diebold–Mariano (HLN) on squared errors over 30 origins, h=1" in md


def test_fan_chart_on_positions_and_only_with_intervals(tmp_path):
    from harness.report.plots import fan_charts

    f = _forecasts("gru", 0).drop(columns="date").assign(forecast=lambda d: d.model)
    iv = _intervals(f).query("forecaster == 'model'")
    assert fan_charts({"gru": (f, None), "naive": (f.assign(forecast=f.naive), None)}, "ts", tmp_path) is None
    fig = fan_charts({"gru": (f, iv), "naive": (f.assign(forecast=f.naive), None)}, "ts", tmp_path)
    assert fig.file == "fan_charts_ts.png" and (tmp_path / fig.file).stat().st_size > 5000
