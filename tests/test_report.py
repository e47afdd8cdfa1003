"""Reports from a small MLflow store written directly: statistics by hand, tables, figures, failures,
reproduce commands, the HTML page, artifacts on the parent run, and the command line's errors."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from harness.report import build_report
from harness.report.__main__ import main as report_main
from harness.report.stats import Summary, higher_is_better, paired_p
from harness.tracking import Tracker

# test accuracy by seed: "hmm" wins on every seed
ACC = {"rnn": [0.80, 0.82, 0.84], "hmm": [0.90, 0.91, 0.95]}
TAGS = ["NOUN", "VERB", "DET"]


def _pos_run(uri: str, parent: str, model: str, seed: int, acc: float, tmp: Path) -> str:
    params = {
        "model.name": model,
        "task.name": "pos",
        "task.dataset": "synthetic",
        "seed": seed,
        "task.synthetic.n_train": 60,
        "model.hidden_size": 8 if model == "rnn" else None,
    }
    params = {k: v for k, v in params.items() if v is not None}
    tags = {"model": model, "task": "pos", "dataset": "synthetic", "seed": str(seed)}
    with Tracker(uri, "pos", f"{model}-pos-seed{seed}", tags, parent) as t:
        t.log_params(params)
        if model == "rnn":
            for epoch in (1, 2, 3):
                t.log_metrics(
                    {"dev_accuracy": acc - 0.1 / epoch, "train_loss": 1.0 / epoch, "grad_norm": 2.0 / epoch}, step=epoch
                )
            t.log_metrics_history("grad_norm_steps_back", [1.0, 0.5, 0.25])  # as experiment.run logs it
            norms = tmp / "gradient_norms.csv"
            norms.write_text("steps_back,grad_norm\n0,1\n1,0.5\n2,0.25\n", encoding="utf-8")
            t.log_artifact(norms, "diagnostics")
        t.log_metrics(
            {
                "test_accuracy": acc,
                "test_oov_accuracy": acc - 0.3,
                "test_oov_rate": 0.1,
                "test_sentence_accuracy": acc / 2,
                "baseline_test_accuracy": 0.75 + 0.01 * seed,
                "bayes_optimal_accuracy": 0.99 + 0.001 * seed,
                "train_seconds": 1.5,
                "n_params": 1000 if model == "rnn" else 500,
            }
        )
        rng = np.random.default_rng(seed)
        rows = ["sentence\tposition\tword\tgold\tpredicted"]
        for s in range(6):
            for i in range(3 + s):
                gold = TAGS[(s + i) % 3]
                pred = gold if rng.random() < acc else TAGS[(s + i + 1) % 3]
                rows.append(f"{s}\t{i}\tw{s}{i}\t{gold}\t{pred}")
        path = tmp / "test_predictions.tsv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        t.log_artifact(path)
        t.log_text("model:\n  name: " + model + "\n", "config.yaml")
        return t.run_id


@pytest.fixture
def sweep_store(tracking_store, tmp_path):
    """A parent run with 3 seeds each of rnn and hmm on pos, and one failed job."""
    parent = Tracker(
        tracking_store,
        "pos",
        "sweep-test",
        {
            "harness.sweep": "true",
            "harness.preset": "",
            "harness.sweep_command": "python -m harness -m model=rnn,hmm seed=0,1,2",
        },
    )
    for model, accs in ACC.items():
        for seed, acc in enumerate(accs):
            _pos_run(tracking_store, parent.run_id, model, seed, acc, tmp_path)
    for model, rmse in (("rnn", 12.0), ("hmm", 15.0)):  # time series: lower is better, baselines from every run
        tags = {"model": model, "task": "timeseries", "dataset": "sunspots", "seed": "0"}
        with Tracker(tracking_store, "timeseries", f"{model}-ts", tags, parent.run_id) as t:
            t.log_params({"model.name": model, "task.name": "timeseries", "task.dataset": "sunspots", "seed": 0})
            t.log_metrics(
                {
                    "test_rmse": rmse,
                    "test_mae": rmse / 2,
                    "baseline_naive_test_rmse": 20.0,
                    "baseline_arima_test_rmse": 10.0,
                    "n_params": 10,
                }
            )
            path = tmp_path / "test_forecasts.csv"
            path.write_text(
                "target_index,truth,model,naive,arima\n"
                + "".join(f"{i},{i % 7},{i % 7 + 0.5},{(i - 1) % 7},{i % 7 + 0.1}\n" for i in range(30)),
                encoding="utf-8",
            )
            t.log_artifact(path)
    failed = Tracker(
        tracking_store,
        "pos",
        "gru-pos-seed0",
        {
            "model": "gru",
            "task": "pos",
            "seed": "0",
            "failure": "DataError: task.train_size=9999 asks for too many sentences",
        },
        parent.run_id,
    )
    failed.log_params({"model.name": "gru", "task.name": "pos", "seed": 0, "task.train_size": 9999})
    failed.end("FAILED")
    parent.end("FINISHED")
    return tracking_store, parent.run_id


def test_summary_mean_std_and_t_interval_by_hand():
    s = Summary({0: 0.80, 1: 0.82, 2: 0.84})
    assert s.n == 3 and s.mean == pytest.approx(0.82) and s.std == pytest.approx(0.02)
    half = 4.302652729911275 * 0.02 / math.sqrt(3)  # t_{0.975, 2}
    assert s.ci95() == pytest.approx((0.82 - half, 0.82 + half))
    assert math.isnan(Summary({0: 0.5}).ci95()[0])  # one seed: no interval


def test_paired_t_test_by_seed_by_hand():
    a, b = Summary(dict(enumerate(ACC["rnn"]))), Summary(dict(enumerate(ACC["hmm"])))
    d = np.array(ACC["rnn"]) - np.array(ACC["hmm"])
    t = d.mean() / (d.std(ddof=1) / math.sqrt(3))
    p, n = paired_p(a, b)
    assert n == 3 and p == pytest.approx(2 * stats.t.sf(abs(t), 2))
    # only the shared seeds are paired
    assert paired_p(Summary({0: 0.1, 1: 0.2, 5: 0.3}), Summary({0: 0.2, 1: 0.4}))[1] == 2


def test_metric_directions():
    assert higher_is_better("test_accuracy") and higher_is_better("train_tokens_per_second")
    assert not higher_is_better("test_rmse") and not higher_is_better("train_seconds")
    assert higher_is_better("n_params") is None
    for lower in ("test_bits_per_char", "test_bits_per_char_pos0", "test_bits_per_word", "test_perplexity"):
        assert higher_is_better(lower) is False, lower


def test_language_model_table_marks_the_lowest_bits_and_shows_the_entropy_rate_as_a_reference():
    import pandas as pd

    from harness.report.stats import comparison_table

    rows = []
    for seed in (0, 1):
        for variant, bits in (("lstm", 2.90 + seed / 100), ("hmm", 2.84 + seed / 100)):
            rows.append(
                {"variant": variant, "task": "lm", "dataset": "synthetic", "seed": seed}
                | {"metric.test_bits_per_char": bits, "metric.entropy_rate": 2.82 + seed / 100}
                | {"metric.baseline_unigram_test_bits_per_char": 3.98, "metric.baseline_ngram_test_bits_per_char": 3.01}
            )
    table = comparison_table(pd.DataFrame(rows), [])
    assert table.main == "test_bits_per_char" and table.best_label == "hmm"  # the lowest, not the unigram's 3.98
    ref = [r for r in table.rows if r.kind == "ceiling"]
    assert [r.label for r in ref] == ["entropy rate (synthetic data)"]
    assert ref[0].cells["test_bits_per_char"].mean == pytest.approx(2.825)


def ts_part(md: str) -> str:
    return md[md.index("## timeseries") :]


def test_report_from_a_small_store(sweep_store, tmp_path):
    uri, parent = sweep_store
    md_path = build_report(uri, parent_run_id=parent, name="unit", out_dir=tmp_path / "reports")
    md = md_path.read_text(encoding="utf-8")
    pos = md[md.index("## pos") : md.index("## timeseries")]
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in pos.split("\n\n")[1].splitlines()  # the comparison table: the first block of the section
        if line.startswith("| ") and "test accuracy" not in line and "reason" not in line
    }
    # one row per model with n = 3 seeds, mean ± std, t interval; the winner in bold
    assert rows["rnn"][0] == "0.8200 ± 0.0200" and rows["rnn"][2] == "3"
    assert rows["rnn"][1] == f"[{0.82 - 4.3027 * 0.02 / 3**0.5:.4f}, {0.82 + 4.3027 * 0.02 / 3**0.5:.4f}]"
    assert rows["hmm"][0] == "**0.9200 ± 0.0265**" and rows["hmm"][-1] == "best"
    assert re.fullmatch(r"0\.00\d+ \(n=3\)", rows["rnn"][-1])  # paired t test against hmm
    # baselines and the ceiling as rows
    assert rows["majority tag per word *(baseline)*"][0] == "0.7600 ± 0.0100"
    assert rows["Bayes-optimal (synthetic data) *(ceiling)*"][0] == "0.9910 ± 0.0010"
    # figures beside the report, linked from it
    for png in (
        "learning_curves_pos-synthetic",
        "grad_norm_pos-synthetic",
        "confusion_pos-synthetic",
        "per_tag_accuracy_pos-synthetic",
        "accuracy_by_length_pos-synthetic",
        "oov_pos-synthetic",
        "gradient_by_steps_back_pos-synthetic",
        "seeds_pos-synthetic",
    ):
        name = png.replace("-", "_") + ".png"
        assert (md_path.parent / name).stat().st_size > 1000 and f"]({name})" in md
    # the failed job is listed with its reason; reproduce commands hold only the non-default values
    assert "| gru seed=0 | pos | FAILED | DataError: task.train_size=9999" in md
    assert "python -m harness -m model=rnn task=pos model.hidden_size=8 task.synthetic.n_train=60 seed=0,1,2" in md
    assert "python -m harness -m model=rnn,hmm seed=0,1,2" in md  # the sweep command, from the parent run
    # time series: lowest RMSE is best (here the ARIMA baseline), forecasts against truth drawn
    ts = md[md.index("## timeseries") :]
    assert (
        "| rnn | 12.00 | – | 1 | **6.000** |" in ts
        and "| arima *(baseline)* | **10.00** | – | 1 |" in ts
        and "| naive *(baseline)* | 20.00 |" in ts
    )
    assert (
        "](forecasts_timeseries_sunspots.png)" in ts
        and (md_path.parent / "forecasts_timeseries_sunspots.png").is_file()
    )
    # self-contained HTML: every image inline
    html = (md_path.parent / "report.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 9 and 'src="http' not in html and '.png"' not in html
    assert '<td class="best">0.9200 ± 0.0265</td>' in html
    # the verdict at the top, one sentence per table; significance over test items; per-tag and confusion tables
    verdict = md[md.index("## Verdict") : md.index("## pos")]
    assert (
        "- pos — synthetic: hmm wins on test accuracy with 0.9200, 0.1000 ahead of the runner-up rnn (0.8200;"
        in verdict
    )
    assert "paired bootstrap over 6 test sentences, seeds pooled" in verdict  # the same test set in every seed
    assert "- timeseries — sunspots: arima has the best test RMSE, 10, 2 below the runner-up rnn (12)" in verdict
    assert "| naive − arima | 6.823 (MSE) |" in ts_part(md)  # Diebold–Mariano against a baseline column
    assert (
        re.search(r"\| rnn − hmm \| -0\.\d{4} \| \[-0\.\d{4}, -0\.\d{4}\] \|", pos)
        and "### Per-tag precision / recall / F1 (pos)" in pos
    )
    assert "### Most frequent confusions (pos)" in pos and " → " in pos
    assert "<h2>Verdict</h2>" in html and "hmm wins on test accuracy" in html and 'class="scroll"' not in html
    # both files (and the figures) attached to the parent run
    from mlflow.tracking import MlflowClient

    logged = {f.path for f in MlflowClient(uri).list_artifacts(parent, "report")}
    assert {"report/report.md", "report/report.html", "report/confusion_pos_synthetic.png"} <= logged


def test_report_command_line_selects_by_experiment_and_tags(sweep_store, tmp_path, capsys):
    assert report_main(["--experiment", "pos", "--tag", "model=rnn", "--name", "rnn-only", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "rnn-only" / "report.md")
    md = (tmp_path / "rnn-only" / "report.md").read_text(encoding="utf-8")
    assert "| rnn | **0.8200 ± 0.0200** |" in md and "| hmm |" not in md and "sweep-test" not in md


def test_report_command_line_errors(tracking_store, capsys, tmp_path):
    assert report_main(["--out", str(tmp_path)]) == 2
    assert "nothing selected; pass --parent" in capsys.readouterr().err
    assert report_main(["--experiment", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("harness.report: error: no MLflow experiment named 'nope'") and "\n" not in err
    assert report_main(["--tag", "model", "--out", str(tmp_path)]) == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err


def test_default_params_compose_from_the_repository_root_in_a_fresh_process():
    """Hydra's plugin scanner executes hydra_plugins/ before registering it in sys.modules; composing the
    defaults first thing in a process started at the repository root must still work (else every
    reproduce command lists all defaults)."""
    import subprocess
    import sys

    from conftest import REPO

    code = "from harness.report.collect import _default_params; print(_default_params('rnn', 'pos')['model.name'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "rnn", out.stderr[-2000:]


def test_language_model_samples_table_and_position_curves(tmp_path):
    import pandas as pd

    from harness.report import plots, tables

    t = tables.samples({"gru": (0, "ab`c\nde|f"), "hmm": (1, "x" * 500)}, length=300)
    assert t["rows"][0] == ["gru", "0", "`ab'c ⏎ de|f`"]  # a code span: backticks replaced, documents marked
    assert t["rows"][1][2] == "`" + "x" * 300 + "`"
    curve = pd.DataFrame({"position": [0, 1, 2, 0, 1, 2], "bits_per_char": [4.0, 3.0, 2.0, 6.0, 3.0, 2.0]})
    fig = plots.position_curves({"gru": curve}, "lm-synthetic", tmp_path)
    assert (tmp_path / fig.file).stat().st_size > 1000 and "position" in fig.title.lower()
    assert tables.samples({}) is None and plots.position_curves({}, "lm", tmp_path) is None
