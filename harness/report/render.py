"""Render a report: GitHub-flavoured Markdown (PNG links) and one self-contained HTML page (jinja2,
PNGs embedded as base64). Both show the same cells, built once by ``table_cells``."""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path

import jinja2
import markupsafe

from harness.report.stats import Row, Table

NAMES = {
    "test_accuracy": "test accuracy",
    "test_oov_accuracy": "OOV acc.",
    "test_sentence_accuracy": "sentence acc.",
    "test_rmse": "test RMSE",
    "test_mae": "MAE",
    "test_mase": "MASE",
    "test_smape": "sMAPE",
    "test_bits_per_char": "test bits/char",
    "test_bits_per_word": "test bits/word",
    "test_perplexity": "perplexity",
    "train_chars_per_second": "train char/s",
    "train_seconds": "train s",
    "evaluate_seconds": "evaluate s",
    "train_tokens_per_second": "train tok/s",
    "train_windows_per_second": "train windows/s",
    "predict_tokens_per_second": "predict tok/s",
    "n_params": "params",
}
WITH_SPREAD = ("test_",)  # metrics shown as mean ± std; the others (costs) as means


def fmt(metric: str, x: float) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    if metric == "n_params" or metric.endswith("per_second"):
        return f"{x:,.0f}"
    if metric.endswith("seconds"):
        return f"{x:.1f}" if x >= 1 else f"{x:.2f}"
    if "accuracy" in metric:
        return f"{x:.4f}"
    if abs(x) < 1e-12:
        return "0"
    return f"{x:#.4g}".rstrip(".")


def _spread(s) -> float:
    """The standard deviation, with float noise on identical values (a fixed baseline) shown as 0."""
    return 0.0 if s.std <= 1e-9 * max(abs(s.mean), 1.0) else s.std


def _p(row: Row, table: Table) -> str:
    if row.label == table.best_label:
        return "best"
    if row.kind in ("ceiling", "floor"):
        return ""
    if not math.isfinite(row.p_value):
        return f"– (n={row.p_pairs})"
    return f"{row.p_value:.3g} (n={row.p_pairs})"


def table_cells(table: Table) -> tuple[list[str], list[list[tuple[str, bool]]]]:
    """Header and rows of (text, is_best) cells."""
    m = table.main
    header = (
        ["", f"{NAMES.get(m, m)} (mean ± std)", "95% CI", "n"]
        + [NAMES.get(k, k) for k in table.metrics]
        + ["p vs best (paired t)"]
    )
    rows = []
    for r in table.rows:
        s = r.cells.get(m)
        label = r.label + {"baseline": " *(baseline)*", "ceiling": " *(ceiling)*", "floor": " *(reference)*"}.get(
            r.kind, ""
        )
        cells = [(label, False)]
        if s is not None and s.n:
            lo, hi = s.ci95()
            spread = f" ± {fmt(m, _spread(s))}" if s.n > 1 else ""
            cells += [
                (fmt(m, s.mean) + spread, table.best.get(m) == r.label),
                (f"[{fmt(m, lo)}, {fmt(m, hi)}]" if s.n > 1 else "–", False),
                (str(s.n), False),
            ]
        else:
            cells += [("–", False)] * 3
        for k in table.metrics:
            c = r.cells.get(k)
            if c is None or not c.n:
                cells.append(("–", False))
                continue
            text = fmt(k, c.mean) + (f" ± {fmt(k, _spread(c))}" if c.n > 1 and k.startswith(WITH_SPREAD) else "")
            cells.append((text, table.best.get(k) == r.label))
        cells.append((_p(r, table), False))
        rows.append(cells)
    return header, rows


def significance_cells(section) -> tuple[list[str], list[list[str]]]:
    """Each row against the best row over test items: difference (row - best), 95% interval, p values, test."""
    m = section.table.main
    rows = []
    for label, t in section.tests.items():
        dm = t.test.startswith("Diebold")
        f = (lambda x: f"{x:.4g}") if dm else (lambda x: fmt(m, x))
        rows.append(
            [
                f"{label} − {section.table.best_label}",
                f(t.diff) + (" (MSE)" if dm else ""),
                f"[{f(t.low)}, {f(t.high)}]",
                f"{t.p_value:.3g}",
                f"{t.mcnemar_p:.3g} ({t.discordant[0]}:{t.discordant[1]})" if math.isfinite(t.mcnemar_p) else "–",
                t.test,
            ]
        )
    return ["rows", "difference", "95% CI", "p", "McNemar p (b:c)", "test"], rows


SIGNIFICANCE_NOTE = (
    "Over test items, each row against the best one. Accuracy: paired bootstrap over test units (POS: sentences; "
    "long-range recall and sentiment: sequences, i.e. texts) with 10,000 resamples (interval: percentiles; p: "
    "two-sided, the resampled differences shifted to 0), and an exact McNemar test on the decisions (POS: tokens; "
    "otherwise one per sequence; b: decisions only the row gets right, c: only the best row). Yardsticks that "
    "write a decision per item (sentiment's majority class and Naive Bayes) are tested like models. Seeds: on a "
    "test set shared by all seeds a decision's correctness is averaged over seeds (bootstrap) or taken as correct "
    "in at least half of them (McNemar); on a test set drawn per seed the items are (seed, unit) pairs. Forecasts: Diebold–Mariano test with the Harvey–Leybourne–Newbold correction on per-origin squared "
    "errors averaged over seeds (and, for a multi-horizon forecast, over the horizons 1..H, as the table's metrics "
    "are; HAC lag H − 1), difference = mean squared-error difference; the tests at each horizon are in the table "
    "Diebold–Mariano p values by horizon."
)


def extra_cells(t: dict) -> list[tuple[str, list[tuple[str, bool]]]]:
    """An extra table's rows as (kind, [(text, is_best)]): the best cells from ``t['best']`` ((row, column)
    pairs), a row's kind from ``t['kinds']`` (``model`` when absent)."""
    best = {tuple(b) for b in t.get("best", ())}
    kinds = t.get("kinds") or ["model"] * len(t["rows"])
    return [(k, [(c, (i, j) in best) for j, c in enumerate(r)]) for i, (k, r) in enumerate(zip(kinds, t["rows"]))]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(report) -> str:
    out = [f"# {report.title}", ""]
    out.append(f"Generated {report.generated} by `harness` from MLflow: {report.selection}.")
    if report.sweep_command:
        out += ["", "Produced by:", "", "```sh", report.sweep_command, "```"]
    out += ["", "## Verdict", ""] + [f"- {_md_escape(s.verdict)}" for s in report.sections if s.verdict]
    out += ["", "Rebuild this report from the same MLflow store:", "", "```sh", report.rebuild, "```", ""]
    out.append(
        "Bold marks the best value of each column (baselines compete; reference rows such as the Bayes-optimal ceiling, the entropy rate or chance do not). "
        "The 95% interval is mean ± t(0.975, n−1)·std/√n over seeds; p is a two-sided paired t test by seed "
        "of each row against the best row on the main metric, shown only with at least 2 shared seeds and spread on both sides "
        "(else –; see the significance over test items below the table)."
    )
    for s in report.sections:
        out += ["", f"## {s.task} — {s.dataset} ({s.n_runs} finished runs)", ""]
        header, rows = table_cells(s.table)
        out.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for cells in rows:
            out.append("| " + " | ".join(f"**{_md_escape(t)}**" if best else _md_escape(t) for t, best in cells) + " |")
        if s.duplicates:
            out += ["", "Repeated runs (same row and seed): " + "; ".join(_md_escape(d) for d in s.duplicates) + "."]
        if s.tests:
            header, rows = significance_cells(s)
            out += ["", f"### Significance over test items ({s.task})", "", SIGNIFICANCE_NOTE, ""]
            out += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
            out += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows]
        for t in s.tables:
            out += ["", f"### {t['title']} ({s.task})", "", t["note"], ""]
            out += ["| " + " | ".join(_md_escape(h) for h in t["header"]) + " |"]
            out += ["|" + "|".join(["---"] + ["---:"] * (len(t["header"]) - 1)) + "|"]
            for kind, cells in extra_cells(t):
                texts = [f"**{_md_escape(c)}**" if best else _md_escape(c) for c, best in cells]
                texts[0] += " *(baseline)*" if kind == "baseline" else ""
                out.append("| " + " | ".join(texts) + " |")
        for f in s.figures:
            out += ["", f"### {f.title}", "", f"![{f.title}]({f.file})", "", f"*{f.caption}*"]
        out += ["", f"### Reproduce ({s.task})", ""]
        for r in s.reproduce:
            out += [
                f"**{_md_escape(r['label'])}** — {r['runs']} runs, seeds {r['seeds']}, commit {r['commits']}",
                "",
                "```sh",
                r["command"],
                "```",
                "",
            ]
            if r["config"]:
                out += [
                    f"<details><summary>resolved config (seed {r['config_seed']})</summary>",
                    "",
                    "```yaml",
                    r["config"].rstrip(),
                    "```",
                    "",
                    "</details>",
                    "",
                ]
    out += ["", "## Failures", ""]
    if report.failures:
        out += ["| run | task | status | reason | command |", "|---|---|---|---|---|"]
        for f in report.failures:
            out.append(
                f"| {_md_escape(f['label'])} | {f['task']} | {f['status']} | {_md_escape(f['reason'])} | "
                f"`{_md_escape(f['command'])}` |"
            )
    else:
        out.append("None: every selected run finished.")
    out += ["", "## Environment", ""]
    out += [f"- {k}: {v}" for k, v in report.environment.items()]
    return "\n".join(out) + "\n"


TEMPLATE = jinja2.Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ r.title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.8em; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.45em; text-align: right; overflow-wrap: break-word; }
th { white-space: normal; } td { white-space: normal; }
.verdict li { margin: 0.3em 0; } .note { font-size: 0.85em; color: #555; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
tr.baseline td { color: #555; background: #fafafa; } tr.ceiling td, tr.floor td { color: #777; font-style: italic; }
td.best { font-weight: bold; background: #e8f4e8; }
pre { background: #f6f8fa; padding: 0.7em; overflow-x: auto; font-size: 0.85em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; } .fail td { background: #fdecea; text-align: left; }
</style></head><body>
<h1>{{ r.title }}</h1>
<p>Generated {{ r.generated }} by <code>harness</code> from MLflow: {{ selection }}.</p>
{% if r.sweep_command %}<p>Produced by:</p><pre>{{ r.sweep_command }}</pre>{% endif %}
<h2>Verdict</h2><ul class="verdict">{% for s in sections %}{% if s.verdict %}<li>{{ s.verdict }}</li>{% endif %}{% endfor %}</ul>
<p>Rebuild this report from the same MLflow store:</p><pre>{{ r.rebuild }}</pre>
<p>Bold marks the best value of each column (baselines compete; reference rows such as the Bayes-optimal ceiling, the entropy rate or chance do not).
The 95% interval is mean ± t(0.975, n−1)·std/√n over seeds; p is a two-sided paired t test by seed of each
row against the best row on the main metric, shown only with at least 2 shared seeds and spread on both sides
(else –; see the significance over test items below the table).</p>
{% for s in sections %}
<h2>{{ s.task }} — {{ s.dataset }} ({{ s.n_runs }} finished runs)</h2>
<table><tr>{% for h in s.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for kind, cells in s.rows %}<tr class="{{ kind }}">{% for text, best in cells %}<td{% if best %} class="best"{% endif %}>{{ text }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% if s.duplicates %}<p class="note">Repeated runs (same row and seed): {{ s.duplicates|join("; ") }}.</p>{% endif %}
{% if s.sig_rows %}<h3>Significance over test items ({{ s.task }})</h3><p class="note">{{ note }}</p>
<table><tr>{% for h in s.sig_header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in s.sig_rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
{% for t in s.tables %}<h3>{{ t.title }} ({{ s.task }})</h3><p class="note">{{ t.note }}</p>
<table><tr>{% for h in t.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for kind, cells in t.rows %}<tr class="{{ kind }}">{% for text, best in cells %}<td{% if best %} class="best"{% endif %}>{{ text }}{% if loop.first and kind == "baseline" %} (baseline){% endif %}</td>{% endfor %}</tr>{% endfor %}</table>{% endfor %}
{% for f in s.figures %}<figure><h3>{{ f.title }}</h3><img alt="{{ f.title }}" src="data:image/png;base64,{{ f.data }}">
<figcaption>{{ f.caption }}</figcaption></figure>
{% endfor %}
<h3>Reproduce ({{ s.task }})</h3>
{% for p in s.reproduce %}<p><b>{{ p.label }}</b> — {{ p.runs }} runs, seeds {{ p.seeds }}, commit {{ p.commits }}</p>
<pre>{{ p.command }}</pre>
{% if p.config %}<details><summary>resolved config (seed {{ p.config_seed }})</summary><pre>{{ p.config }}</pre></details>{% endif %}
{% endfor %}
{% endfor %}
<h2>Failures</h2>
{% if r.failures %}<table><tr><th>run</th><th>task</th><th>status</th><th>reason</th><th>command</th></tr>
{% for f in r.failures %}<tr class="fail"><td>{{ f.label }}</td><td>{{ f.task }}</td><td>{{ f.status }}</td><td>{{ f.reason }}</td><td><code>{{ f.command }}</code></td></tr>
{% endfor %}</table>{% else %}<p>None: every selected run finished.</p>{% endif %}
<h2>Environment</h2><ul>{% for k, v in r.environment.items() %}<li>{{ k }}: {{ v }}</li>{% endfor %}</ul>
</body></html>
""",
    autoescape=True,
)


def render_html(report, folder: Path) -> str:
    sections = []
    for s in report.sections:
        header, rows = table_cells(s.table)
        rows = [
            (r.kind, [(re.sub(r"\*\((\w+)\)\*", r"(\1)", t), b) for t, b in cells])
            for r, cells in zip(s.table.rows, rows)
        ]
        figures = [
            {
                "title": f.title,
                "caption": f.caption,
                "data": base64.b64encode((folder / f.file).read_bytes()).decode("ascii"),
            }
            for f in s.figures
        ]
        sig_header, sig_rows = significance_cells(s)
        sections.append(
            {
                "verdict": s.verdict,
                "duplicates": s.duplicates,
                "sig_header": sig_header,
                "sig_rows": sig_rows,
                "tables": [{**t, "rows": extra_cells(t)} for t in s.tables],
                "task": s.task,
                "dataset": s.dataset,
                "n_runs": s.n_runs,
                "header": header,
                "rows": rows,
                "figures": figures,
                "reproduce": s.reproduce,
            }
        )
    selection = markupsafe.Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(markupsafe.escape(report.selection))))
    return TEMPLATE.render(r=report, sections=sections, selection=selection, note=SIGNIFICANCE_NOTE)
