"""Significance over test items against known answers: the paired bootstrap on a simulated pair with a known
difference, McNemar against scipy's binomial test and a count by hand, Diebold–Mariano (HLN) by hand, the
alignment and pooling of seeds, and the verdict sentence on constructed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.report.significance import align_items, classification_tests, forecast_tests
from harness.report.stats import (
    ItemTest,
    Row,
    Summary,
    Table,
    diebold_mariano,
    mcnemar_exact,
    paired_bootstrap,
    seed_test_meaningful,
)
from harness.report.verdict import verdict_sentence


def _simulated_pair(rng, n_sentences=300, acc_a=0.92, acc_b=0.88):
    lengths = rng.integers(5, 25, n_sentences)
    units = np.repeat(np.arange(n_sentences), lengths)
    return (rng.random(len(units)) < acc_a).astype(float), (rng.random(len(units)) < acc_b).astype(float), units


def test_bootstrap_interval_covers_a_known_difference():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(100):
        a, b, units = _simulated_pair(rng, 150)
        diff, low, high, _ = paired_bootstrap(a, b, units, n_resamples=400, seed=1)
        assert diff == pytest.approx(a.mean() - b.mean())
        covered += low <= 0.04 <= high
    assert 88 <= covered <= 100  # nominal 95%
    # width against the binomial standard error of a difference of independent accuracies
    a, b, units = _simulated_pair(rng, 1000)
    diff, low, high, p = paired_bootstrap(a, b, units, n_resamples=4000)
    se = math.sqrt((0.92 * 0.08 + 0.88 * 0.12) / len(a))
    assert (high - low) == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert p < 0.001 and low > 0


def test_bootstrap_without_a_difference():
    rng = np.random.default_rng(3)
    a, _, units = _simulated_pair(rng)
    assert paired_bootstrap(a, a.copy(), units, 500) == (0.0, 0.0, 0.0, 1.0)
    ps = [paired_bootstrap(*_simulated_pair(rng, 150, 0.9, 0.9), n_resamples=400)[3] for _ in range(60)]
    assert 0.8 <= np.mean(np.array(ps) > 0.05) <= 1.0  # a true null is rejected about 5% of the time


def test_mcnemar_against_scipy_and_by_hand():
    # b = 1 (a right, b wrong), c = 9: p = 2 * (C(10,0) + C(10,1)) / 2^10
    a = np.array([1] * 50 + [1] + [0] * 9 + [0] * 5, bool)
    b = np.array([1] * 50 + [0] + [1] * 9 + [0] * 5, bool)
    assert mcnemar_exact(a, b) == (pytest.approx(2 * 11 / 1024), 1, 9)
    rng = np.random.default_rng(1)
    a, b = rng.random(5000) < 0.9, rng.random(5000) < 0.88
    p, n10, n01 = mcnemar_exact(a, b)
    assert p == pytest.approx(stats.binomtest(n10, n10 + n01, 0.5).pvalue)
    assert mcnemar_exact(a, a) == (1.0, 0, 0)


def test_diebold_mariano_hln_by_hand():
    d = np.array([1.0, 1, 2, 2, 4, 4])  # loss_a - loss_b, n = 6, dbar = 7/3
    # e = d - 7/3 = [-4, -4, -1, -1, 5, 5] / 3: gamma_0 = 84/54, gamma_1 = 41/54, V = (gamma_0 + 2 gamma_1) / 6
    v = (84 / 54 + 2 * 41 / 54) / 6
    hln = math.sqrt((6 + 1 - 2 * 2 + 2 * 1 / 6) / 6)
    dm = 7 / 3 / math.sqrt(v) * hln
    dbar, stat, p, half = diebold_mariano(d + 1.5, np.full(6, 1.5), h=2)
    assert (dbar, stat) == (pytest.approx(7 / 3), pytest.approx(dm))
    assert p == pytest.approx(2 * stats.t.sf(dm, 5)) and half == pytest.approx(
        stats.t.ppf(0.975, 5) * math.sqrt(v) / hln
    )
    # h = 1: the plain variance, HLN factor sqrt((n - 1) / n); identical losses: no test
    assert diebold_mariano(d, np.zeros(6))[1] == pytest.approx(7 / 3 / math.sqrt(84 / 54 / 6) * math.sqrt(5 / 6))
    assert math.isnan(diebold_mariano(d, d)[2])


def test_seed_t_test_only_where_it_means_something():
    assert seed_test_meaningful(Summary({0: 0.8, 1: 0.82}), Summary({0: 0.9, 1: 0.93}))
    assert not seed_test_meaningful(Summary({0: 0.8, 1: 0.82}), Summary({0: 0.9, 1: 0.9}))  # deterministic
    assert not seed_test_meaningful(Summary({0: 0.8}), Summary({0: 0.9}))


def _tagged(correct_by_seed: dict[int, np.ndarray], gold_shift: int = 0) -> pd.DataFrame:
    frames = []
    for seed, correct in correct_by_seed.items():
        n = len(correct)
        gold = np.array(["NOUN", "VERB"])[(np.arange(n) + gold_shift * seed) % 2]
        pred = np.where(correct, gold, "X")
        frames.append(
            pd.DataFrame(
                {
                    "sentence": np.arange(n) // 4,
                    "position": np.arange(n) % 4,
                    "word": "w",
                    "gold": gold,
                    "predicted": pred,
                    "seed": seed,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_seeds_pooled_on_a_fixed_test_set_and_paired_when_it_changes():
    a = _tagged({0: np.array([1, 1, 0, 1, 1, 1, 1, 1], bool), 1: np.array([1, 0, 0, 1, 1, 1, 1, 1], bool)})
    b = _tagged({0: np.array([1, 0, 0, 0, 1, 1, 1, 1], bool), 1: np.array([1, 0, 0, 0, 1, 1, 1, 0], bool)})
    ca, cb, units, pooled, unit, n_units = align_items(a, b)
    assert pooled and unit == "sentence" and n_units == 2
    assert ca.tolist() == [1, 0.5, 0, 1, 1, 1, 1, 1] and cb.tolist() == [1, 0, 0, 0, 1, 1, 1, 0.5]
    # the pooled difference is the difference of the mean accuracies over seeds
    assert paired_bootstrap(ca, cb, units, 100)[0] == pytest.approx((13 - 9) / 16)
    # a test set drawn per seed: (seed, sentence) items, no averaging across different tokens
    a2, b2 = (
        _tagged({0: np.ones(8, bool), 1: np.ones(8, bool)}, 1),
        _tagged({0: np.ones(8, bool), 1: np.ones(8, bool)}, 1),
    )
    _, _, units, pooled, _, n_units = align_items(a2, b2)
    assert not pooled and n_units == 4


def _table(labels_means: dict[str, list[float]], main="test_accuracy", kind=None):
    rows = [
        Row(lab, (kind or {}).get(lab, "model"), {main: Summary(dict(enumerate(v)))}) for lab, v in labels_means.items()
    ]
    t = Table("pos", "ewt", main, [], rows)
    t.best_label = max(rows, key=lambda r: r.cells[main].mean * (1 if main.endswith("accuracy") else -1)).label
    t.best[main] = t.best_label
    return t


def test_classification_tests_end_to_end_on_frames():
    rng = np.random.default_rng(5)
    n = 4000
    good, bad = rng.random(n) < 0.95, rng.random(n) < 0.90
    t = _table({"lstm": [0.95], "rnn": [0.90]})
    res = classification_tests({"lstm": _tagged({0: good}), "rnn": _tagged({0: bad})}, t, 1000)
    r = res["rnn"]
    assert r.diff == pytest.approx(bad.mean() - good.mean()) and r.high < 0 and r.p_value < 0.01
    assert r.mcnemar_p < 1e-6 and r.test == "paired bootstrap over 1000 test sentences, seeds pooled"


def test_forecast_tests_against_models_and_baselines():
    i = np.arange(60)
    truth = np.sin(i / 3)
    rng = np.random.default_rng(2)
    f_gru = pd.DataFrame(
        {"target_index": i, "truth": truth, "model": truth + rng.normal(0, 0.1, 60), "naive": np.roll(truth, 1)}
    )
    f_hmm = f_gru.assign(model=truth + rng.normal(0, 0.5, 60))
    t = _table({"gru": [0.1], "hmm": [0.5], "naive": [0.3]}, "test_rmse", {"naive": "baseline"})
    res = forecast_tests({"gru": f_gru, "hmm": f_hmm}, t, horizon=1)
    assert set(res) == {"hmm", "naive"} and res["hmm"].p_value < 0.001 and res["hmm"].low > 0
    dbar = np.mean((f_hmm.model - truth) ** 2 - (f_gru.model - truth) ** 2)
    assert res["hmm"].diff == pytest.approx(dbar) and "Diebold–Mariano" in res["hmm"].test


def test_verdict_names_winner_margin_interval_test_and_runner_up():
    t = _table({"hmm": [0.93], "lstm": [0.92], "rnn": [0.90]})
    boot = ItemTest(-0.01, -0.013, -0.007, 0.0004, "paired bootstrap over 2077 test sentences, seeds pooled", 2e-5)
    assert verdict_sentence(t, {"lstm": boot}) == (
        "pos — ewt: hmm wins on test accuracy with 0.9300, 0.0100 ahead of the runner-up lstm (0.9200; "
        "margin 0.0100, 95% CI [0.0070, 0.0130], paired bootstrap over 2077 test sentences, seeds pooled, "
        "p < 0.001; McNemar p < 0.001)."
    )


def test_verdict_says_no_significant_difference_on_a_tie():
    t = _table({"gru": [0.926], "lstm": [0.925]})
    boot = ItemTest(-0.001, -0.004, 0.002, 0.41, "paired bootstrap over 2077 test sentences, seeds pooled", 0.5)
    s = verdict_sentence(t, {"lstm": boot})
    assert s.startswith("pos — ewt: no significant difference between gru (0.9260) and the runner-up lstm (0.9250)")
    assert "95% CI [-0.0020, 0.0040]" in s and "p = 0.41" in s and "wins" not in s


def test_verdict_falls_back_to_seeds_then_to_untested():
    t = _table({"hmm": [0.90, 0.91, 0.95], "rnn": [0.80, 0.82, 0.84]})  # spread on both sides: a paired t test
    d = np.array([-0.10, -0.09, -0.11])
    s = verdict_sentence(t, {})
    assert "hmm wins" in s and "paired t test over 3 seeds" in s and f"p = {stats.ttest_1samp(d, 0).pvalue:.2g}" in s
    s = verdict_sentence(_table({"hmm": [0.93, 0.93], "rnn": [0.90, 0.91]}), {})  # deterministic HMM: no t test
    assert "the margin is untested" in s and "0.0250 ahead of the runner-up rnn" in s
    # forecasting: lower is better, Diebold–Mariano interval on squared errors
    t = _table({"gru": [16.96], "arima": [17.14]}, "test_rmse")
    dm = ItemTest(6.1, -3.0, 15.2, 0.19, "Diebold–Mariano (HLN) on squared errors over 60 origins, h=1")
    assert verdict_sentence(t, {"arima": dm}).startswith(
        "pos — ewt: no significant difference between gru (16.96) and the runner-up arima (17.14) on test RMSE "
        "(mean squared-error difference 6.1, 95% CI [-3, 15.2], Diebold–Mariano"
    )


def test_diebold_mariano_falls_back_to_h1_when_the_long_run_variance_is_negative():
    d = np.array([2.0, -1.0, 2.5, -0.5, 2.0, -1.0, 3.0, -1.5])  # alternating: gamma_1 < -gamma_0 / 2
    e = d - d.mean()
    assert e @ e + 2 * (e[1:] @ e[:-1]) < 0  # V at h = 2 would be negative
    got = diebold_mariano(d, np.zeros(8), h=2)
    assert got == diebold_mariano(d, np.zeros(8), h=1) and math.isfinite(got[2])


def test_best_rows_predictions_are_read_when_rows_exceed_the_cap(tmp_path):
    """A tuned comparison has 10 rows (5 families, default and tuned) and predictions are read for at most
    MAX_PREDICTION_VARIANTS of them: the best row must be one, or no row gets a test over items (the
    EWT comparison's best row, the last, was left out and its verdict fell back to the seeds)."""
    from harness.report import build

    variants = [f"m{i}" for i in range(build.MAX_PREDICTION_VARIANTS + 1)]
    runs = pd.DataFrame({"variant": variants, "seed": 0, "run_id": variants})
    for v in variants:
        pd.DataFrame({"sentence": [0], "position": [0], "gold": ["N"], "predicted": ["N"]}).to_csv(
            tmp_path / f"{v}.tsv", sep="\t", index=False
        )

    class Store:
        def artifact(self, run_id, name):
            return tmp_path / f"{run_id}.tsv"

    def read(path):
        return pd.read_csv(path, sep="\t")

    assert variants[-1] not in build._read_predictions(Store(), runs, "p.tsv", read)
    got = build._read_predictions(Store(), runs, "p.tsv", read, first=variants[-1])
    assert variants[-1] in got and len(got) == build.MAX_PREDICTION_VARIANTS
