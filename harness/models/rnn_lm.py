"""A recurrent language model: embedding -> Recurrent (rnn/lstm/gru) -> linear -> softmax over symbols.

For every step t of a stream (documents concatenated):
    x_t = E[o_{t-1}]  (E[BOS] at the first symbol of a document)        (N, D)
    h_t = Recurrent(x_1..x_t)                                            (N, H)
    y_t = softmax(c + V h_t)   loss = mean over steps of -log y_t[o_t]   (N, C)

Dimension letters: T chunk steps, N parallel streams, D embedding width, H hidden units,
C = vocab_size output symbols; the input table has C + 1 rows (the last is BOS).

Training reads the training stream as N parallel columns cut in chunks of k steps (truncated
BPTT is the normal case): each chunk starts from the previous chunk's final state (a constant: no
gradient flows back past a chunk boundary) and the first chunk of an epoch from zeros. Because
the carried state is reset at every epoch start, a checkpoint taken between epochs (the only
place ``harness.training`` takes one) needs nothing beyond the weights to resume exactly.
Scoring puts each document in its own column, starting from zeros, so it equals one forward over
the whole document whatever the chunking. Sampling feeds back the sampled symbol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.markov import documents_to_columns
from harness.models.nn.embedding import embedding_backward
from harness.models.nn.losses import softmax_cross_entropy
from harness.models.nn.recurrent import Recurrent

LN2 = float(np.log(2.0))


@dataclass
class LMBatch:
    x: np.ndarray  # (T, N) input ids (previous symbol or BOS)
    y: np.ndarray  # (T, N) target ids
    reset: bool  # True: start from zero state (first chunk of an epoch)


def stream_inputs(ids: np.ndarray, starts: np.ndarray, bos: int) -> np.ndarray:
    """(T_total,) the input at each step: the previous symbol, BOS at each document's first step."""
    x = np.r_[bos, ids[:-1]]
    x[starts] = bos
    return x


def log_softmax(o: np.ndarray) -> np.ndarray:
    shifted = o - o.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class RNNLM:
    """Character/word language model over ``vocab_size`` symbols; ``cfg`` is a RecurrentConfig."""

    def __init__(self, vocab_size: int, cfg, rng: np.random.Generator, dtype=np.float32):
        self.cfg, self.dtype, self.vocab_size = cfg, np.dtype(dtype), int(vocab_size)
        self.bos = self.vocab_size  # input-only row
        self.rnn = Recurrent(
            cfg.cell,
            cfg.embedding_size,
            cfg.hidden_size,
            cfg.num_layers,
            False,
            cfg.nonlinearity,
            cfg.dropout,
            rng,
            dtype,
        )
        H, C = cfg.hidden_size, self.vocab_size
        bound = 1.0 / np.sqrt(H)
        self.params: dict[str, np.ndarray] = {f"rnn.{k}": v for k, v in self.rnn.params.items()}
        self.params["embed"] = (cfg.init_scale * rng.standard_normal((C + 1, cfg.embedding_size))).astype(self.dtype)
        self.params["out.weight"] = rng.uniform(-bound, bound, (C, H)).astype(self.dtype)  # V (C, H)
        self.params["out.bias"] = np.zeros(C, dtype=self.dtype)  # c (C,)
        self.carry = None  # state carried from the previous training chunk

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

    # -- training ---------------------------------------------------------------------------------
    def train_batches(
        self, ids: np.ndarray, starts: np.ndarray, n_streams: int, k: int, rng: np.random.Generator, offset=None
    ):
        """Chunks of k steps of N parallel columns of the stream, in order, from ``offset`` (None: random in [0, k)
        each epoch, so chunk boundaries move)."""
        x_all, y_all = stream_inputs(ids, starts, self.bos), ids
        r = int(rng.integers(k)) if offset is None else int(offset)
        L = (len(ids) - r) // n_streams  # steps per column
        X = x_all[r : r + n_streams * L].reshape(n_streams, L).T  # (L, N)
        Y = y_all[r : r + n_streams * L].reshape(n_streams, L).T
        for i in range(0, L, k):
            yield LMBatch(X[i : i + k], Y[i : i + k], reset=i == 0)

    def loss_and_grads(self, batch: LMBatch, rng: np.random.Generator | None = None):
        """Mean cross-entropy (nats per symbol) of one chunk and its gradients; carries the final state on."""
        p = self.params
        if batch.reset:
            self.carry = None
        x = p["embed"][batch.x]  # (T, N, D)
        mask = np.ones(batch.x.shape, bool)  # (T, N)
        h, stateT, cache = self.rnn.forward(x, mask, self.carry, train=rng is not None, rng=rng)  # h (T, N, H)
        o = h @ p["out.weight"].T + p["out.bias"]  # (T, N, C)
        loss, do = softmax_cross_entropy(o, batch.y, mask)  # do (T, N, C)
        C, H = o.shape[-1], h.shape[-1]
        grads = {
            "out.weight": do.reshape(-1, C).T @ h.reshape(-1, H),  # (C, H)
            "out.bias": do.sum(axis=(0, 1)),  # (C,)
        }
        dh = do @ p["out.weight"]  # (T, N, H)
        dx, rnn_grads, _ = self.rnn.backward(dh, cache)  # dstate0 stops here: truncated BPTT
        grads |= {f"rnn.{k}": g for k, g in rnn_grads.items()}
        grads["embed"] = embedding_backward(batch.x, dx, C + 1, skip_padding=False)
        self.carry = tuple(s.copy() for s in stateT) if isinstance(stateT, tuple) else stateT.copy()
        return loss, grads

    # -- scoring ---------------------------------------------------------------------------------
    def log2probs(self, ids: np.ndarray, starts: np.ndarray, n_docs: int = 256, chunk: int = 256) -> np.ndarray:
        """(T_total,) log2 p(o_t | o_<t, same document), each document from zero state."""
        starts = np.asarray(starts)
        X, mask, lengths = documents_to_columns(stream_inputs(ids, starts, self.bos), starts)  # (T, N)
        Y, _, _ = documents_to_columns(ids, starts)
        out = np.zeros(X.shape)
        order = np.argsort(-lengths, kind="stable")  # longest first: every chunk's mask stays left-aligned
        W, b = self.params["out.weight"], self.params["out.bias"]
        for g in range(0, len(order), n_docs):
            cols = order[g : g + n_docs]
            T, state = int(lengths[cols[0]]), None
            for t0 in range(0, T, chunk):
                sl = slice(t0, min(t0 + chunk, T))
                h, state, _ = self.rnn.forward(
                    self.params["embed"][X[sl][:, cols]], mask[sl][:, cols], state, grad=False
                )
                lp = log_softmax(h @ W.T + b)  # (t, n, C)
                out[sl, cols] = np.take_along_axis(lp, Y[sl][:, cols][..., None], axis=-1)[..., 0] / LN2
        result = np.empty(len(ids))
        result[(starts[None, :] + np.arange(X.shape[0])[:, None])[mask]] = out[mask]
        return result

    # -- generation ------------------------------------------------------------------------------
    def sample(
        self, prompt: np.ndarray, length: int, temperature: float, rng: np.random.Generator, end_id: int | None = None
    ) -> np.ndarray:
        """``length`` symbols continuing ``prompt`` (ids), each drawn from softmax(o / temperature) and fed back.

        After ``end_id`` (the end-of-document mark) the state resets and the next document starts from BOS.
        Symbol 0 (<unk>) is never drawn.
        """
        W, b = self.params["out.weight"], self.params["out.bias"]
        inp = np.r_[self.bos, np.asarray(prompt, dtype=np.int64)]  # (P + 1,)
        h, state, _ = self.rnn.forward(self.params["embed"][inp][:, None], np.ones((len(inp), 1), bool), grad=False)
        out = np.empty(length, dtype=np.int64)
        for t in range(length):
            z = (h[-1, 0].astype(np.float64) @ W.T + b) / temperature  # (C,)
            z[0] = -np.inf  # never <unk>
            pr = np.exp(z - z.max())
            out[t] = rng.choice(len(pr), p=pr / pr.sum())
            nxt, state = (self.bos, None) if end_id is not None and out[t] == end_id else (out[t], state)
            h, state, _ = self.rnn.forward(self.params["embed"][[[nxt]]], np.ones((1, 1), bool), state, grad=False)
        return out
