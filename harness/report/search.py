"""The *Search* section of a tuned comparison: per Optuna study, the trials by state, the best dev
score against trial (the search history), the best configuration, and Optuna's parameter
importances (fANOVA over the complete trials, optuna.importance)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def best_so_far(study) -> list[tuple[int, float, float]]:
    """(trial number, its dev score or NaN if not complete, the best complete score up to it), by number."""
    from optuna.trial import TrialState

    sign = 1.0 if study.direction.name == "MAXIMIZE" else -1.0
    best, out = -math.inf, []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        value = t.value if t.state == TrialState.COMPLETE else math.nan
        if not math.isnan(value):
            best = max(best, sign * value)
        out.append((t.number, value, sign * best if best > -math.inf else math.nan))
    return out


def importances(study) -> dict[str, float]:
    """Optuna's parameter importances (they sum to 1), or {} when too few complete trials vary."""
    import optuna
    from optuna.trial import TrialState

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError):  # e.g. every complete trial has the same parameters
        return {}


def history_plot(studies: dict, out: Path) -> str:
    """Best dev score against trial, one line per study; returns the file name."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, study in studies.items():
        rows = best_so_far(study)
        ax.plot([r[0] for r in rows], [r[2] for r in rows], drawstyle="steps-post", label=label)
        ax.scatter([r[0] for r in rows], [r[1] for r in rows], s=8, alpha=0.4)
    ax.set_xlabel("trial")
    ax.set_ylabel("dev score (line: best so far)")
    ax.set_title("Search history")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "search_history.png", dpi=120)
    plt.close(fig)
    return "search_history.png"


def search_section(studies: dict, out: Path, budget: str) -> str:
    """Markdown for the report: the budget, a table per study and the history figure (written to ``out``)."""
    from optuna.trial import TrialState

    from harness.tuning import CPU_SECONDS, as_override

    lines = [
        "## Search",
        "",
        f"Each family had the same budget: {budget} of Optuna's TPE sampler (median pruning on the per-epoch "
        "dev score) on the dev set; `<model>_tuned` rows are its best trial rerun over the seeds above.",
        "",
        "| study | complete | pruned | failed | CPU s | best dev | best configuration | importances |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for label, study in studies.items():
        trials = study.get_trials(deepcopy=False)
        count = {s: sum(t.state == s for t in trials) for s in (TrialState.COMPLETE, TrialState.PRUNED)}
        failed = len(trials) - sum(count.values())
        cpu = sum(float(t.user_attrs.get(CPU_SECONDS, 0.0)) for t in trials)
        best = study.best_trial if count[TrialState.COMPLETE] else None
        config = " ".join(f"`{as_override(k, v)}`" for k, v in best.params.items()) if best else "—"
        ranked = sorted(importances(study).items(), key=lambda kv: -kv[1])
        imp = ", ".join(f"{k.split('.')[-1]} {v:.2f}" for k, v in ranked[:4]) or "—"
        value = f"{best.value:.4f}" if best else "—"
        lines.append(
            f"| {label} | {count[TrialState.COMPLETE]} | {count[TrialState.PRUNED]} | {failed} | {cpu:.1f} "
            f"| {value} | {config} | {imp} |"
        )
    lines += ["", f"![search history]({history_plot(studies, out)})", ""]
    return "\n".join(lines)
