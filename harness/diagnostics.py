"""Per-run diagnostics saved as artifacts: the vanishing-gradient curve of a recurrent model and
the regimes of the regime (HMM) forecaster.

Vanishing gradients (the textbook lesson, measured on a trained model).

For a batch of sequences and a unit vector u, let L_T = u . h_T be a loss read at each sequence's
last step only (forward direction of the top layer). ``gradient_by_steps_back`` returns, for
k = 0, 1, 2, ..., the mean over sequences of ||dL_T / dx_{T-k}||: how much of a gradient arriving
at the end reaches the input k steps back, through every path of the recurrence. (For an LSTM the
long-term memory is the cell state C, so dL/dh_t alone would understate what survives; the
gradient at the input counts the h and the C paths alike, so the curves of all cells compare.)
A vanilla RNN's curve typically falls geometrically; an LSTM's or GRU's can stay up much longer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.models.nn.recurrent import steps_back


def gradient_by_steps_back(model, batch, rng: np.random.Generator) -> np.ndarray:
    """(K,) mean ||dL_T/dx_{T-k}|| for k = 0..K-1 over the sequences long enough to reach k back."""
    x, mask = model.recurrent_inputs(batch)  # (T, N, D), (T, N)
    T, N, _ = x.shape
    u = rng.standard_normal((N, model.rnn.output_size)).astype(x.dtype)
    if model.rnn.bidirectional:  # read the forward half only: the reverse half starts at the end
        u[:, model.rnn.hidden_size :] = 0
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    _, _, cache = model.rnn.forward(x, mask)
    dy = np.zeros((T, N, model.rnn.output_size), x.dtype)
    dy[mask.sum(0) - 1, np.arange(N)] = u  # dL_T/dy at each sequence's own last step
    dx, _, _ = model.rnn.backward(dy, cache)  # (T, N, D)
    back = steps_back(np.linalg.norm(dx, axis=-1), mask)  # (T, N), NaN before a sequence starts
    counts = np.sum(~np.isnan(back), axis=1)
    return np.nanmean(back[counts > 0], axis=1)


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    """A CSV of equal-length ``columns``: a header of their names, then one row per index, every
    number written as ``{:.6g}`` (the format of all the run artifacts' CSVs), any other value as text."""

    def cell(v) -> str:
        return str(v) if isinstance(v, str) else f"{v:.6g}"

    rows = zip(*columns.values())
    path.write_text(
        ",".join(columns) + "\n" + "".join(",".join(map(cell, row)) + "\n" for row in rows), encoding="utf-8"
    )


def write_gradient_artifacts(norms: np.ndarray, folder: Path, title: str) -> list[Path]:
    """gradient_norms.csv and gradient_norms.png (log scale) in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    csv = folder / "gradient_norms.csv"
    write_csv(csv, {"steps_back": np.arange(len(norms)), "grad_norm": norms})
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.semilogy(np.arange(len(norms)), np.maximum(norms, 1e-30))
    ax.set(xlabel="steps back from the last step (k)", ylabel="||dL_T / dx_{T-k}||", title=title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    png = folder / "gradient_norms.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return [csv, png]


def write_regime_artifacts(table: dict[str, np.ndarray], folder: Path, title: str) -> list[Path]:
    """regimes.csv (the forecaster's ``regime_table``: time, value, the most probable *filtered* state, its
    conditional mean, the filtered state probabilities) and regimes.png (the series coloured by state, with
    the state means)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    csv = folder / "regimes.csv"
    write_csv(csv, table)
    t, value, state = table["t"], table.get("value"), table["state"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    if value is not None:
        ax.plot(t, value, color="0.7", lw=0.8, label="series (scaled)")
        for k in np.unique(state):
            on = state == k
            ax.scatter(t[on], value[on], s=6, label=f"state {k}")
        ax.step(t, table["state_mean"], where="mid", color="k", lw=1, label="state mean")
    ax.set(xlabel="t (training part)", title=title)
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    fig.tight_layout()
    png = folder / "regimes.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return [csv, png]
