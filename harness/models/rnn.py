"""Recurrent taggers and forecasters assembled from ``nn/``: embeddings -> Recurrent -> linear -> loss.

Tagger (many-to-many), for each step t of each sentence:
    x_t = [E_word[w_t]; E_f[f_t] for each extra feature f]     embedding lookups, concatenated
    h_t = Recurrent(x_1..x_T)_t                                 a_t = b + W h_{t-1} + U x_t; h_t = tanh(a_t) (rnn)
    o_t = c + V h_t ;  y_t = softmax(o_t)                       loss = mean over real tokens of -log y_t[tag_t]
Forecaster (many-to-one): the same recurrence over a window of values, o = c + V h_last, squared error.

Dimension letters: T time, N batch, D input width, H recurrent output width, C tags.
Parameters live in one flat dict (``embed.<feature>``, ``rnn.<torch name>``, ``out.weight``,
``out.bias``) shared with the optimiser and the checkpoint.
"""

from __future__ import annotations

import math

import numpy as np

from harness.models.nn.embedding import embedding_backward
from harness.models.nn.losses import mse, softmax_cross_entropy
from harness.models.nn.recurrent import Recurrent, dropout_mask


class _RecurrentModel:
    """Shared parts: the recurrent stack, the output layer, parameter bookkeeping."""

    def __init__(self, input_size: int, n_out: int, cfg, rng: np.random.Generator, dtype):
        self.cfg, self.dtype = cfg, np.dtype(dtype)
        self.rnn = Recurrent(
            cfg.cell,
            input_size,
            cfg.hidden_size,
            cfg.num_layers,
            cfg.bidirectional,
            cfg.nonlinearity,
            cfg.dropout,
            rng=rng,
            dtype=self.dtype,
        )
        H = self.rnn.output_size
        bound = 1.0 / np.sqrt(H)
        self.params: dict[str, np.ndarray] = {f"rnn.{k}": v for k, v in self.rnn.params.items()}
        self.params["out.weight"] = rng.uniform(-bound, bound, (n_out, H)).astype(self.dtype)  # V (C, H)
        self.params["out.bias"] = np.zeros(n_out, dtype=self.dtype)  # c (C,)

    @property
    def n_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        for k, p in self.params.items():
            if d[k].shape != p.shape:
                raise ValueError(f"checkpoint {k} has shape {d[k].shape}, the model {p.shape}")
            p[...] = d[k]

    def _rnn_grads(self, grads: dict[str, np.ndarray], rnn_grads: dict[str, np.ndarray]) -> None:
        for k, g in rnn_grads.items():
            grads[f"rnn.{k}"] = g


class RNNTagger(_RecurrentModel):
    """Many-to-many tagger. ``vocab_sizes`` maps each input feature (``word`` first) to its vocabulary size.

    Word dropout: in training, a word seen c times is replaced by the unknown id (1) with probability
    ``cfg.word_dropout / (cfg.word_dropout + c)`` (``word_counts`` (V,) gives c), so the unknown-word
    embedding is trained on rare words and stands in for unseen ones at test time.
    """

    def __init__(
        self,
        vocab_sizes: dict[str, int],
        n_tags: int,
        cfg,
        rng: np.random.Generator,
        dtype=np.float32,
        word_counts: np.ndarray | None = None,
    ):
        self.features = list(vocab_sizes)
        alpha = getattr(cfg, "word_dropout", 0.0)
        self.unk_prob = None  # (V,) probability of replacing each word id by <unk> in training
        if alpha > 0 and word_counts is not None:
            self.unk_prob = np.where(word_counts > 0, alpha / (alpha + word_counts), 0.0)
        widths = {f: cfg.embedding_size if f == "word" else cfg.feature_size for f in self.features}
        super().__init__(sum(widths.values()), n_tags, cfg, rng, dtype)
        for f, V in vocab_sizes.items():
            E = (cfg.init_scale * rng.standard_normal((V, widths[f]))).astype(self.dtype)  # (V_f, D_f)
            E[0] = 0.0  # padding row
            self.params[f"embed.{f}"] = E

    def _embed(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([self.params[f"embed.{f}"][inputs[f]] for f in self.features], axis=-1)  # (T, N, D)

    def recurrent_inputs(self, batch) -> tuple[np.ndarray, np.ndarray]:
        """What the recurrent stack reads for ``batch``: x (T, N, D) and mask (T, N)."""
        return self._embed(batch.inputs), batch.mask

    def logits(self, inputs: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        """o (T, N, C) for every step (padding included; mask it)."""
        h, _, _ = self.rnn.forward(self._embed(inputs), mask, grad=False)  # (T, N, H)
        return h @ self.params["out.weight"].T + self.params["out.bias"]

    def predict(self, inputs: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        """Most likely tag id per step, (T, N)."""
        return self.logits(inputs, mask).argmax(axis=-1)

    def loss_and_grads(self, batch, rng: np.random.Generator | None = None) -> tuple[float, dict[str, np.ndarray]]:
        """Forward and backward through time for one batch (``rng`` given = training, dropout on)."""
        p, mask = self.params, batch.mask
        if rng is not None and self.unk_prob is not None:
            words = batch.inputs["word"]
            dropped = rng.random(words.shape) < self.unk_prob[words]  # (T, N)
            batch = type(batch)({**batch.inputs, "word": np.where(dropped, 1, words)}, batch.tags, mask, batch.index)
        x = self._embed(batch.inputs)  # (T, N, D)
        keep_x = dropout_mask(x.shape, self.cfg.dropout, rng, self.dtype) if rng is not None else None
        if keep_x is not None:
            x = x * keep_x
        steps = self.cfg.bptt_steps
        T = x.shape[0]
        if steps and steps < T and not self.cfg.bidirectional:
            return self._truncated_bptt(x, keep_x, batch, rng, steps)
        h, _, cache = self.rnn.forward(x, mask, train=rng is not None, rng=rng)  # (T, N, H)
        o = h @ p["out.weight"].T + p["out.bias"]  # o_t = c + V h_t, (T, N, C)
        loss, do = softmax_cross_entropy(o, batch.tags, mask)
        grads, dx = self._backward_from_logits(do, h, cache)
        self._embedding_grads(grads, dx if keep_x is None else dx * keep_x, batch.inputs)
        return loss, grads

    def _backward_from_logits(self, do, h, cache):
        p = self.params
        C, H = p["out.weight"].shape
        grads = {
            "out.weight": do.reshape(-1, C).T @ h.reshape(-1, H),  # dV = sum_t do_t h_t^T, (C, H)
            "out.bias": do.sum(axis=(0, 1)),  # dc, (C,)
        }
        dh = do @ p["out.weight"]  # into h_t: V^T do_t, (T, N, H)
        dx, rnn_grads, _ = self.rnn.backward(dh, cache)
        self._rnn_grads(grads, rnn_grads)
        return grads, dx

    def _truncated_bptt(self, x, keep_x, batch, rng, steps):
        """Chunks of ``steps`` time steps; the state is carried forward but no gradient crosses a chunk
        boundary (the truncation bias: dependencies longer than ``steps`` get no learning signal)."""
        mask, T = batch.mask, x.shape[0]
        n_real = max(int(mask.sum()), 1)
        grads = {k: np.zeros_like(v) for k, v in self.params.items() if not k.startswith("embed.")}
        dx = np.zeros_like(x)
        state, loss = None, 0.0
        for s in range(0, T, steps):
            chunk = slice(s, min(s + steps, T))
            m = mask[chunk]
            alive = m[0]  # sequences with tokens in this chunk
            if not alive.any():
                break
            cols = np.nonzero(alive)[0]
            st = None if state is None else _take_state(state, cols)
            h, state_c, cache = self.rnn.forward(x[chunk][:, cols], m[:, cols], st, train=rng is not None, rng=rng)
            o = h @ self.params["out.weight"].T + self.params["out.bias"]
            part, do = softmax_cross_entropy(o, batch.tags[chunk][:, cols], m[:, cols])
            scale = m.sum() / n_real  # re-weight chunk means into the batch mean
            loss += part * scale
            g, dxc = self._backward_from_logits(do * self.dtype.type(scale), h, cache)
            for k, v in g.items():
                grads[k] += v
            dx[chunk, cols] = dxc
            state = _put_state(state, state_c, cols, mask.shape[1])
        self._embedding_grads(grads, dx if keep_x is None else dx * keep_x, batch.inputs)
        return loss, grads

    def _embedding_grads(self, grads, dx: np.ndarray, inputs: dict[str, np.ndarray]) -> None:
        """dE_f[v] = sum of dx_t over the steps whose feature f is v (padding row stays 0)."""
        start = 0
        for f in self.features:
            V, width = self.params[f"embed.{f}"].shape
            grads[f"embed.{f}"] = embedding_backward(inputs[f], dx[..., start : start + width], V)
            start += width


def _take_state(state, cols):
    if isinstance(state, tuple):
        return tuple(s[:, cols] for s in state)
    return state[:, cols]


def _put_state(state, new, cols, N):
    """Write the chunk's final states back into the full-batch state (sequences that ended keep theirs)."""
    if isinstance(new, tuple):
        full = state if state is not None else tuple(np.zeros(n.shape[:1] + (N,) + n.shape[2:], n.dtype) for n in new)
        for f, n in zip(full, new):
            f[:, cols] = n
        return full
    full = state if state is not None else np.zeros(new.shape[:1] + (N,) + new.shape[2:], new.dtype)
    full[:, cols] = new
    return full


POOLINGS = ("last", "mean")


class _ManyToOne(_RecurrentModel):
    """A whole sequence x (T, N, D) -> one output o = c + V z per sequence, where z (N, H) pools the
    recurrent outputs h (T, N, H) of each sequence's real steps (``mask`` (T, N), left-aligned; None = all
    steps real):
        last   z = h_fwd at the sequence's own last real step [; h_bwd at step 0, which has read the whole
               sequence from its end]
        mean   z = mean of h over the real steps (both directions)
    ``bptt_steps`` = k < T runs the first T - k steps without gradient (the truncation bias: nothing is
    learnt about dependencies longer than k); it needs equal lengths and a unidirectional stack."""

    pooling = "last"

    def _summary(self, h: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """z (N, H) from h (T, N, H)."""
        T, N, _ = h.shape
        if self.pooling == "mean":
            m = np.ones((T, N), h.dtype) if mask is None else mask.astype(h.dtype)  # (T, N)
            return (h * m[..., None]).sum(axis=0) / m.sum(axis=0)[:, None]
        last = np.full(N, T - 1) if mask is None else mask.sum(axis=0) - 1  # (N,) each sequence's last real step
        top = h[last, np.arange(N)]  # (N, H)
        if not self.cfg.bidirectional:
            return top
        Hd = self.cfg.hidden_size
        return np.concatenate([top[:, :Hd], h[0, :, Hd:]], axis=-1)

    def _summary_backward(self, dz: np.ndarray, h: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """dL/dh (T, N, H) from dL/dz (N, H): the transpose of ``_summary``."""
        T, N, _ = h.shape
        if self.pooling == "mean":
            m = np.ones((T, N), h.dtype) if mask is None else mask.astype(h.dtype)  # (T, N)
            return dz[None] * (m / m.sum(axis=0))[..., None]
        dh = np.zeros_like(h)
        last = np.full(N, T - 1) if mask is None else mask.sum(axis=0) - 1
        if self.cfg.bidirectional:
            Hd = self.cfg.hidden_size
            dh[last, np.arange(N), :Hd] = dz[:, :Hd]
            dh[0, :, Hd:] = dz[:, Hd:]
        else:
            dh[last, np.arange(N)] = dz
        return dh

    def _run(self, x: np.ndarray, train: bool, rng, grad: bool = True, mask: np.ndarray | None = None):
        """x (T, N, D) -> h (T - head, N, H), cache (None unless grad), head (the first ``head`` steps carry
        no gradient)."""
        T, N, _ = x.shape
        steps, state, head = self.cfg.bptt_steps, None, 0
        if steps and steps < T and not self.cfg.bidirectional:
            if mask is not None:
                raise ValueError("truncated BPTT (bptt_steps) needs sequences of equal length (no mask)")
            head = T - steps
            _, state, _ = self.rnn.forward(x[:head], np.ones((head, N), bool), grad=False)
        m = np.ones((T - head, N), bool) if mask is None else mask
        h, _, cache = self.rnn.forward(x[head:], m, state, train=train, rng=rng, grad=grad)
        return h, cache, head

    def _output(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """o (N, C) for inputs x (T, N, D), no dropout."""
        h, _, _ = self._run(x, False, None, grad=False, mask=mask)
        return self._summary(h, mask) @ self.params["out.weight"].T + self.params["out.bias"]

    def _forward_backward(self, x: np.ndarray, loss_fn, rng, mask: np.ndarray | None = None):
        """Loss and gradients for inputs x (T, N, D); ``loss_fn(o) -> (loss, do)``. Returns (loss, grads, dx)."""
        p = self.params
        h, cache, head = self._run(x, rng is not None, rng, mask=mask)
        z = self._summary(h, mask)  # (N, H)
        o = z @ p["out.weight"].T + p["out.bias"]  # o = c + V z, (N, C)
        loss, do = loss_fn(o)
        grads = {"out.weight": do.T @ z, "out.bias": do.sum(axis=0)}
        dz = do @ p["out.weight"]  # into z: V^T do, (N, H)
        dh = self._summary_backward(dz, h, mask)  # into h, (T - head, N, H)
        dx_tail, rnn_grads, _ = self.rnn.backward(dh, cache)  # (T - head, N, D)
        self._rnn_grads(grads, rnn_grads)
        dx = np.zeros_like(x)
        dx[head:] = dx_tail
        return loss, grads, dx


NORMALISATIONS = ("none", "last", "revin")
LIKELIHOODS = ("mse", "gaussian")
LOGVAR_BOUND = 12.0  # the Gaussian head's log-variance is clipped to [-12, 12] (sd in [2.5e-3, 403] window units)


def gaussian_nll(m: np.ndarray, s: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean negative log-likelihood of y under N(m, exp(s)); m, s, y (N, H). Returns (loss, dm, ds).

    nll = 0.5 log 2 pi + 0.5 s + 0.5 (y - m)^2 exp(-s);  dnll/dm = -(y - m) exp(-s),  dnll/ds = 0.5 (1 - (y - m)^2 exp(-s))
    """
    r2 = (y - m) ** 2 * np.exp(-s)  # (N, H) squared standardised residuals
    n = m.size
    loss = float(np.mean(0.5 * np.log(2 * np.pi) + 0.5 * s + 0.5 * r2))
    return loss, -(y - m) * np.exp(-s) / n, 0.5 * (1.0 - r2) / n


def forecaster_budget(
    n_windows: int, batch_size: int, max_steps: int = 1000, patience_steps: int = 150
) -> tuple[int, int]:
    """(epochs, patience in epochs) that give about ``max_steps`` optimiser steps and stop after about
    ``patience_steps`` steps without a better dev score, whatever the number of training windows: a short
    series gets many epochs, a long one few. ``harness.training.fit`` counts in epochs, so this converts."""
    steps_per_epoch = max(1, math.ceil(n_windows / batch_size))
    return max(1, math.ceil(max_steps / steps_per_epoch)), max(1, math.ceil(patience_steps / steps_per_epoch))


class RNNForecaster(_ManyToOne):
    """Many-to-one regression: a window (N, T, D) of past values -> the next ``horizons`` values of the first
    feature, o (N, H) (or (N, D) for the historical one-step squared-error set-up).

    Per-window normalisation (``normalise``), applied to inputs and targets and undone on the output:
        none   x' = x
        last   x' = x - x_T                  (every feature minus its value at the window's last step;
                                              the network predicts the change from the origin, so a level
                                              outside the training range is reached by adding it back)
        revin  x' = (x - x_T) / s,  s = sd of the first feature over the window (+ 1e-3)
    Likelihood: ``mse`` (o = the H means, squared error) or ``gaussian`` (o = [m (N, H); log-variance
    v (N, H)], loss = mean Gaussian negative log-likelihood; the predictive sd is s exp(v / 2)).
    Arguments left None are read from ``cfg`` (keys ``horizons``, ``likelihood``, ``normalise``) and
    default to 1 / mse / none, the historical behaviour.
    """

    def __init__(
        self,
        n_features: int,
        cfg,
        rng: np.random.Generator,
        dtype=np.float32,
        horizons: int | None = None,
        likelihood: str | None = None,
        normalise: str | None = None,
    ):
        self.horizons = int(horizons or getattr(cfg, "horizons", 1) or 1)
        self.likelihood = likelihood or getattr(cfg, "likelihood", "mse")
        self.normalise = normalise or getattr(cfg, "normalise", "none")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be one of {NORMALISATIONS}, got {self.normalise!r}")
        self._legacy = self.horizons == 1 and self.likelihood == "mse"  # one output per feature, loss on the first
        n_out = n_features if self._legacy else self.horizons * (2 if self.likelihood == "gaussian" else 1)
        super().__init__(n_features, n_out, cfg, rng, dtype)

    def _normalise(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """X (N, T, D) -> (x' (T, N, D) network input, level (N,), scale (N,)) with y = level + scale * y'."""
        X = np.asarray(X, dtype=np.float64)
        N = X.shape[0]
        level, scale = np.zeros(N), np.ones(N)
        if self.normalise in ("last", "revin"):
            last = X[:, -1:, :]  # (N, 1, D)
            X = X - last
            level = last[:, 0, 0]
        if self.normalise == "revin":
            scale = X[:, :, 0].std(axis=1) + 1e-3  # (N,)
            X = X / scale[:, None, None]
        x = np.ascontiguousarray(X.transpose(1, 0, 2), dtype=self.dtype)  # (T, N, D)
        return x, level, scale

    def recurrent_inputs(self, batch) -> tuple[np.ndarray, np.ndarray]:
        """x (T, N, D) (normalised) and an all-true mask for a batch (X (N, T, D), y) of windows."""
        x = self._normalise(batch[0])[0]
        return x, np.ones(x.shape[:2], bool)

    def predict_distribution(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """X (N, T, D) windows -> (mean (N, H), sd (N, H) or None for mse) in the caller's units."""
        x, level, scale = self._normalise(X)
        o = self._output(x).astype(np.float64)  # (N, n_out)
        H = self.horizons
        mean = level[:, None] + scale[:, None] * o[:, :H]  # (N, H)
        if self.likelihood == "mse":
            return mean, None
        v = np.clip(o[:, H:], -LOGVAR_BOUND, LOGVAR_BOUND)  # (N, H)
        return mean, scale[:, None] * np.exp(0.5 * v)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """X (N, T, D) windows -> forecasts of the first feature, (N,) for one horizon else (N, H)."""
        mean = self.predict_distribution(X)[0]
        return mean[:, 0] if self.horizons == 1 else mean

    def loss_and_grads(self, batch, rng: np.random.Generator | None = None):
        """batch = (X (N, T, D), y (N,) or (N, H)): loss and gradients (squared error or Gaussian NLL, in
        normalised units)."""
        x, level, scale = self._normalise(batch[0])
        H = self.horizons
        y = (np.asarray(batch[1], dtype=np.float64).reshape(len(level), H) - level[:, None]) / scale[:, None]
        y = y.astype(self.dtype)  # (N, H) normalised targets

        def squared_error(o):
            loss, d = mse(o[:, :H], y)
            do = np.zeros_like(o)
            do[:, :H] = d
            return loss, do

        def negative_log_likelihood(o):
            v = o[:, H:]
            inside = np.abs(v) < LOGVAR_BOUND  # the clip passes no gradient outside
            loss, dm, dv = gaussian_nll(o[:, :H], np.clip(v, -LOGVAR_BOUND, LOGVAR_BOUND), y)
            return loss, np.concatenate([dm, dv * inside], axis=1).astype(o.dtype)

        loss_fn = negative_log_likelihood if self.likelihood == "gaussian" else squared_error
        loss, grads, _ = self._forward_backward(x, loss_fn, rng)
        return loss, grads


class RNNClassifier(_ManyToOne):
    """Many-to-one classifier: symbol ids (T, N) -> one class per sequence.

    x_t = E[s_t];  h_t = Recurrent(x_1..x_T)_t;  z = pool(h);  o = c + V z;  loss = mean over sequences of
    -log softmax(o)[y]. A batch is (X (T, N), y (N,)) of equal-length sequences, or (X, y, mask (T, N)) of
    left-aligned ragged ones (padding ids are read but never reach an output or a gradient). ``cfg.pooling``
    (last | mean; default last) chooses z (see ``_ManyToOne``).
    """

    def __init__(self, vocab_size: int, n_classes: int, cfg, rng: np.random.Generator, dtype=np.float32):
        super().__init__(cfg.embedding_size, n_classes, cfg, rng, dtype)
        self.pooling = getattr(cfg, "pooling", "last")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        self.params["embed.symbol"] = (cfg.init_scale * rng.standard_normal((vocab_size, cfg.embedding_size))).astype(
            self.dtype
        )

    def recurrent_inputs(self, batch) -> tuple[np.ndarray, np.ndarray]:
        """x (T, N, D) and the mask (all true without one) for a batch (X (T, N) symbol ids, y[, mask])."""
        x = self.params["embed.symbol"][batch[0]]
        return x, (batch[2] if len(batch) > 2 else np.ones(x.shape[:2], bool))

    def logits(self, X: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """X (T, N) symbol ids [, mask (T, N)] -> o (N, C)."""
        return self._output(self.params["embed.symbol"][X], mask)

    def predict(self, X: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """X (T, N) symbol ids -> (N,) most likely class."""
        return self.logits(X, mask).argmax(axis=-1)

    def predict_proba(self, X: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """X (T, N) symbol ids -> (N, C) softmax(o), in float64."""
        o = self.logits(X, mask).astype(np.float64)
        e = np.exp(o - o.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def loss_and_grads(self, batch, rng: np.random.Generator | None = None) -> tuple[float, dict[str, np.ndarray]]:
        """batch = (X (T, N) symbol ids, y (N,) classes[, mask (T, N)]): cross-entropy of the pooled output and
        its gradients."""
        X, y = batch[0], batch[1]
        mask = batch[2] if len(batch) > 2 else None
        x = self.params["embed.symbol"][X]  # (T, N, D)
        keep_x = dropout_mask(x.shape, self.cfg.dropout, rng, self.dtype) if rng is not None else None
        if keep_x is not None:
            x = x * keep_x

        def cross_entropy(o):
            loss, do = softmax_cross_entropy(o[None], y[None], np.ones((1, len(y)), bool))
            return loss, do[0]

        loss, grads, dx = self._forward_backward(x, cross_entropy, rng, mask)
        if keep_x is not None:
            dx *= keep_x
        grads["embed.symbol"] = embedding_backward(X, dx, len(self.params["embed.symbol"]), skip_padding=False)
        return loss, grads
