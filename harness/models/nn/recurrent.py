"""Recurrent layers in NumPy: vanilla RNN, LSTM and GRU; stacked, optionally bidirectional, masked.

Dimension letters: T time steps, N batch, D input features, H hidden units, G gates per cell
(1 rnn, 4 lstm, 3 gru), L stacked layers. Everything is time-major: x (T, N, D), mask (T, N).

Equations and parameters are exactly those of ``torch.nn.RNN/LSTM/GRU`` (so weights convert both
ways by name): ``weight_ih_l{k}`` (G*H, D_k), ``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}``,
``bias_hh_l{k}`` (G*H,), plus ``..._reverse`` for the backward direction.

    rnn:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),  act = tanh | relu
    lstm: [i, f, g, o] = [sig, sig, tanh, sig](W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
          c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)
    gru:  [r, z] = sig(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t-1} + b_h{r,z})
          n_t = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
          h_t = (1 - z) * n_t + z * h_{t-1}

Masks. Each sequence is left-aligned (real steps first, padding at the end). Internally the batch
is sorted by length (longest first), so at step t only a prefix of ``b_t`` rows is active: the
forward direction reads steps 0..L_n-1 and the reverse direction starts at each sequence's own
last real step L_n-1, exactly like torch packed sequences. Padding never enters a real output or
gradient, costs no recurrent arithmetic, and outputs are zero at padded steps.

Speed. Per direction, each step is one GEMM (G*H, D_k + 1 + H) x (D_k + 1 + H, b_t): the fused
gate matrix [W_ih | b | W_hh] times the stacked [x_t; 1; h_{t-1}] of the active prefix, so the
input projection and the biases cost no separate pass (at these sizes this is as fast as one big
input product before the loop, and nothing of size (T, G*H, N) is streamed through memory), issued
as row blocks small enough for OpenBLAS's copy-free kernel (``row_blocks``); then a few in-place
array ops, with per-step arrays feature-major (features, batch) so that every gate block is
contiguous. The rnn and lstm backward compute the factors of the gate gradients that the
forward already fixes (activation derivative times partner value) for all steps at once, so each
step only multiplies them by the running dL/dh or dL/dc and does one GEMM. The weight gradients are
then one GEMM per direction (gru: two) over all steps: the stacked gate gradients times the stacked
[x_t; 1; h_{t-1}] columns, which gives [dW_ih | db | dW_hh] together. ``forward(grad=False)``
(inference) keeps no per-step activations and updates the lstm cell state in place. Sigmoid is
computed as 0.5 * tanh(0.5 a) + 0.5 (the inner 0.5 folded into the weights), which never
overflows. Batches sorted by length run fastest (every step then has the whole batch active, and
nothing is spent on padding).

Initialisation (documented choice, not torch's uniform(+-1/sqrt(H))): each H x H gate block of
``weight_hh`` is an independent random orthogonal matrix; each gate block of ``weight_ih`` is
Glorot/Xavier-uniform, U(-a, a) with a = sqrt(6 / (D_k + H)); all biases are zero except the LSTM
forget gate, whose ``bias_ih`` block is 1 (``bias_hh`` stays 0, so the effective forget bias
b_ih + b_hh is 1).

Truncated BPTT. Split a long batch into chunks of k steps; run ``forward`` on each chunk with
``state0`` = the previous chunk's ``stateT`` (treated as a constant: ``backward``'s ``dstate0`` is
simply not passed further back). The forward outputs equal one full forward exactly; the
gradients are biased: every dependency longer than the chunk boundary is cut, so the model is
never taught to use information from more than k steps back through the recurrence (only via the
carried state's value). Sequences that ended in an earlier chunk may have length 0 in later
chunks (their state passes through unchanged). Only unidirectional layers make sense here; a
bidirectional layer's reverse direction would see only its own chunk.

Vanishing gradients. ``hidden_grad_norms`` gives ||dL_T/dh_t|| for every step t of layer 0 when
only each sequence's last real output carries a gradient (read off ``reference.py``, which keeps
every step's dL/dh_t; ``backward`` keeps only the running one).

The same equations written plainly, one step at a time, are in ``reference.py``: read the maths
there; the tests hold this layer to it.
"""

from __future__ import annotations

import functools

import numpy as np

from harness.errors import ConfigError, DataError
from harness.models.nn import reference

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
NONLINEARITIES = ("tanh", "relu")

# OpenBLAS's AVX-512 (SkylakeX) kernel set runs a "small" product, M x N x K <= 10^6, through a
# kernel that reads both operands where they lie; a larger one first copies them into packed panels.
# A recurrent step's product is often just above that size (the pos benchmark's lstm step is
# 512 x 229 x 32), and for a product that small the copy is a large share of its time. So the steps
# split the weight rows into blocks below the limit, multiplied in one batched matmul call: each
# output entry is the same sum, so the numbers do not change (tests/test_recurrent.py checks it).
SMALL_GEMM = 1_000_000


def row_blocks(m: int, k: int, n: int) -> int:
    """The fewest row blocks nb (a power of two dividing m) with (m / nb) k n <= SMALL_GEMM."""
    nb = 1
    while (m // nb) * k * n > SMALL_GEMM and (m // nb) % 2 == 0:
        nb *= 2
    return nb


def dropout_mask(shape, p: float, rng: np.random.Generator, dtype) -> np.ndarray | None:
    """Inverted dropout: keep with probability 1-p and scale by 1/(1-p); None when p == 0."""
    if p <= 0:
        return None
    dtype = np.dtype(dtype)
    return (rng.random(shape) >= p).astype(dtype) / dtype.type(1 - p)


def orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random (n, n) orthogonal matrix (QR of a Gaussian, signs fixed so it is Haar-distributed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def param_names(layer: int, reverse: bool) -> tuple[str, str, str, str]:
    """torch names (weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction."""
    sfx = f"_l{layer}" + ("_reverse" if reverse else "")
    return (f"weight_ih{sfx}", f"weight_hh{sfx}", f"bias_ih{sfx}", f"bias_hh{sfx}")


class Recurrent:
    """Stacked, optionally bidirectional RNN/LSTM/GRU with torch.nn.RNN/LSTM/GRU-named parameters.

    ``params`` holds the arrays (dtype ``dtype``: float32 to train, float64 for checks); an
    optimiser may update them in place or replace the dict entries. See the module docstring for
    equations, masks, initialisation and truncated BPTT.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        nonlinearity: str = "tanh",
        dropout: float = 0.0,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ):
        if cell not in GATES:
            raise ConfigError(f"unknown recurrent cell {cell!r}", f"choose one of {sorted(GATES)}")
        if nonlinearity not in NONLINEARITIES:
            raise ConfigError(
                f"unknown nonlinearity {nonlinearity!r}", f"choose one of {list(NONLINEARITIES)} (rnn only)"
            )
        for key, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if int(value) != value or value < 1:
                raise ConfigError(f"{key} must be a positive integer, got {value!r}", f"set {key} >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {dropout!r}", "set dropout to a fraction below 1")
        self.cell = cell
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.nonlinearity = nonlinearity
        self.dropout = float(dropout)
        self.dtype = np.dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.params: dict[str, np.ndarray] = {}
        self._init_params(self.rng)

    # ------------------------------------------------------------------ construction
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def _init_params(self, rng: np.random.Generator) -> None:
        G, H = GATES[self.cell], self.hidden_size
        for layer in range(self.num_layers):
            d_in = self.input_size if layer == 0 else self.output_size
            for reverse in range(self.num_directions):
                w_ih, w_hh, b_ih, b_hh = param_names(layer, bool(reverse))
                a = np.sqrt(6.0 / (d_in + H))
                self.params[w_ih] = rng.uniform(-a, a, (G * H, d_in)).astype(self.dtype)  # (G*H, D_k)
                self.params[w_hh] = np.concatenate([orthogonal(rng, H) for _ in range(G)]).astype(self.dtype)
                self.params[b_ih] = np.zeros(G * H, self.dtype)
                self.params[b_hh] = np.zeros(G * H, self.dtype)
                if self.cell == "lstm":
                    self.params[b_ih][H : 2 * H] = 1.0  # forget gate

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter name -> shape, in torch's state_dict order."""
        G, H = GATES[self.cell], self.hidden_size
        shapes = {}
        for layer in range(self.num_layers):
            d_in = self.input_size if layer == 0 else self.output_size
            for reverse in range(self.num_directions):
                w_ih, w_hh, b_ih, b_hh = param_names(layer, bool(reverse))
                shapes.update({w_ih: (G * H, d_in), w_hh: (G * H, H), b_ih: (G * H,), b_hh: (G * H,)})
        return shapes

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters under torch's names."""
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, d) -> None:
        """Load arrays named and shaped like torch's state_dict (cast to this layer's dtype)."""
        shapes = self.expected_shapes()
        missing = [k for k in shapes if k not in d]
        extra = [k for k in d if k not in shapes]
        if missing or extra:
            raise ConfigError(
                f"state dict does not fit this {self.cell} layer: missing {missing}, unexpected {extra}",
                "build the layer with the same cell, num_layers and bidirectional as the weights",
            )
        for k, shape in shapes.items():
            if tuple(np.shape(d[k])) != shape:
                raise ConfigError(
                    f"state dict entry {k} has shape {tuple(np.shape(d[k]))}, expected {shape}",
                    "build the layer with the same input_size and hidden_size as the weights",
                )
        self.params = {k: np.array(d[k], dtype=self.dtype) for k in shapes}

    @classmethod
    def from_state_dict(cls, d, cell: str, nonlinearity: str = "tanh", dropout: float = 0.0, dtype=None, rng=None):
        """Build a layer whose sizes are read from a torch-style dict of arrays, and load it."""
        if "weight_hh_l0" not in d or "weight_ih_l0" not in d:
            raise ConfigError("state dict has no weight_ih_l0/weight_hh_l0", "pass a torch RNN/LSTM/GRU state_dict")
        if cell not in GATES:
            raise ConfigError(f"unknown recurrent cell {cell!r}", f"choose one of {sorted(GATES)}")
        gh, hidden = np.shape(d["weight_hh_l0"])
        if gh != GATES[cell] * hidden:
            raise ConfigError(
                f"weight_hh_l0 has {gh} rows, a {cell} with hidden size {hidden} needs {GATES[cell] * hidden}",
                "pass the cell type the weights were trained with",
            )
        num_layers = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in d if k.startswith("weight_ih_l"))
        layer = cls(
            cell,
            np.shape(d["weight_ih_l0"])[1],
            hidden,
            num_layers=num_layers,
            bidirectional="weight_ih_l0_reverse" in d,
            nonlinearity=nonlinearity,
            dropout=dropout,
            rng=rng,
            dtype=np.asarray(d["weight_hh_l0"]).dtype if dtype is None else dtype,
        )
        layer.load_state_dict(d)
        return layer

    # ------------------------------------------------------------------ checks
    def _check_inputs(self, x, mask):
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise DataError(
                f"recurrent input must have shape (T, N, {self.input_size}), got {x.shape}",
                "pass time-major inputs (steps, batch, features)",
            )
        T, N, _ = x.shape
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (T, N):
            raise DataError(f"mask must have shape {(T, N)}, got {mask.shape}", "pass one bool per (step, sequence)")
        lengths = mask.sum(0)
        if not np.array_equal(mask, np.arange(T)[:, None] < lengths[None, :]):
            raise DataError(
                "mask is not left-aligned (a False before a True in some sequence)",
                "put each sequence's real steps first and its padding at the end",
            )
        return x, lengths

    def _check_state(self, state, N, name):
        shape = (self.num_layers * self.num_directions, N, self.hidden_size)
        parts = state if self.cell == "lstm" else (state,)
        if self.cell == "lstm" and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise DataError(f"{name} of an lstm must be a pair (h, c)", f"pass ({name}_h, {name}_c)")
        out = []
        for s in parts:
            s = np.asarray(s, dtype=self.dtype)
            if s.shape != shape:
                raise DataError(f"{name} must have shape {shape}, got {s.shape}", "use torch's (L*dirs, N, H) layout")
            out.append(s)
        return out

    # ------------------------------------------------------------------ forward / backward
    def forward(self, x, mask, state0=None, train=False, rng=None, grad=True):
        """Run the stack over a padded batch.

        Inputs: x (T, N, D); mask (T, N) bool, left-aligned; state0 like torch's h_0 (L*dirs, N, H),
        or (h_0, c_0) for lstm, None = zeros; train enables dropout between layers (rng or self.rng);
        grad=False keeps nothing for backward (inference: less memory traffic, cache None).
        Returns (y (T, N, H*dirs), zero at padding, read-only; stateT like torch's h_n [/ c_n]:
        forward direction at each sequence's own last real step, reverse after reading step 0;
        cache for backward).
        """
        x, lengths = self._check_inputs(x, mask)
        T, N, _ = x.shape
        H, dirs = self.hidden_size, self.num_directions
        order = np.argsort(-lengths, kind="stable")  # longest first
        sorted_ = bool(np.all(order == np.arange(N)))
        if not sorted_:
            x, lengths = x[:, order], lengths[order]
        bs = [int(b) for b in (lengths[None, :] > np.arange(T)[:, None]).sum(1)]  # active prefix per step
        n_states = 2 if self.cell == "lstm" else 1
        if state0 is None:
            s0 = [None] * n_states
        else:
            s0 = self._check_state(state0, N, "state0")
            if not sorted_:
                s0 = [s[:, order] for s in s0]
        rng = rng if rng is not None else self.rng
        p = self.dropout if train else 0.0

        layers, h_n = [], [np.zeros((self.num_layers * dirs, N, H), self.dtype) for _ in range(n_states)]
        inp = x
        for layer in range(self.num_layers):
            keep = dropout_mask(inp.shape, p, rng, self.dtype) if layer > 0 else None  # (T, N, H*dirs)
            if keep is not None:
                inp = inp * keep
            inits = [[None if s is None else s[layer * dirs + d] for s in s0] for d in range(dirs)]
            outs, dcaches = self._layer_forward(inp, layer, lengths, bs, inits, grad)
            for d, dcache in enumerate(dcaches):
                for j, s in enumerate(dcache["final"]):
                    h_n[j][layer * dirs + d] = s
            if dirs == 1:
                y = np.ascontiguousarray(outs[0]) if grad else outs[0]  # (T, N, H); a strided view (no grad)
            else:
                y = np.concatenate(outs, axis=2)  # (T, N, 2H)
                if s0[0] is not None:
                    y[~(np.arange(T)[:, None] < lengths[None, :])] = 0.0  # placed reverse h0 sits at padding
            if grad:
                layers.append({"shape": inp.shape, "keep": keep, "dirs": dcaches})
            inp = y
        cache = {"layers": layers, "bs": bs, "order": None if sorted_ else order, "shape": x.shape}
        cache = cache if grad else None
        if not sorted_:
            inv = np.argsort(order)
            y = y[:, inv]
            h_n = [s[:, inv] for s in h_n]
        y = y.view()
        y.flags.writeable = False
        stateT = tuple(h_n) if self.cell == "lstm" else h_n[0]
        return y, stateT, cache

    def backward(self, dy, cache, dstateT=None):
        """Backpropagate through time.

        Inputs: dy (T, N, H*dirs) gradient of the loss w.r.t. y (ignored at padding); cache from
        forward; dstateT gradient w.r.t. stateT (same structure, None = zeros).
        Returns (dx (T, N, D), grads {name: array like params}, dstate0 like state0).
        """
        if cache is None:
            raise DataError("backward got no cache", "run forward with grad=True (the default) before backward")
        T, N, _ = cache["shape"]
        H, dirs = self.hidden_size, self.num_directions
        order = cache["order"]
        dy = np.asarray(dy, dtype=self.dtype)
        if dy.shape != (T, N, self.output_size):
            raise DataError(
                f"dy must have shape {(T, N, self.output_size)}, got {dy.shape}", "pass dL/dy of forward's y"
            )
        n_states = 2 if self.cell == "lstm" else 1
        if dstateT is None:
            dsT = [np.zeros((self.num_layers * dirs, N, H), self.dtype) for _ in range(n_states)]
        else:
            dsT = self._check_state(dstateT, N, "dstateT")
        if order is not None:
            dy = dy[:, order]
            dsT = [s[:, order] for s in dsT]
        ds0 = [np.zeros_like(s) for s in dsT]
        grads = {}
        bs = cache["bs"]
        for layer in reversed(range(self.num_layers)):
            lc = cache["layers"][layer]
            dsT_l = [[s[layer * dirs + d] for s in dsT] for d in range(dirs)]
            dx, lgrads, ds0_l = self._layer_backward(dy, lc, layer, bs, dsT_l)
            grads.update(lgrads)
            for d in range(dirs):
                for j, s in enumerate(ds0_l[d]):
                    ds0[j][layer * dirs + d] = s
            if lc["keep"] is not None:
                dx *= lc["keep"]
            dy = dx
        if order is not None:
            inv = np.argsort(order)
            dx = dx[:, inv]
            ds0 = [s[:, inv] for s in ds0]
        dstate0 = tuple(ds0) if self.cell == "lstm" else ds0[0]
        return dx, grads, dstate0

    # ------------------------------------------------------------------ one direction
    # Inside one direction the per-step arrays are feature-major, (features, batch): the gate
    # blocks of a step are then contiguous row blocks, which makes NumPy's elementwise passes fast.
    # LSTM gates are kept internally in the order o, i, f, g: the three sigmoids adjacent (one pass
    # each forward step) and the three blocks the cell gradient multiplies (i, f, g) adjacent too (one
    # pass each backward step).
    # Names: ``dcache`` is one direction's forward cache (a dict of its buffers); ``dh`` and ``dc`` are
    # the running dL/dh and dL/dc of the backward; ``nb`` is a number of row blocks (``row_blocks``)
    # and ``*_blk`` an array viewed as those blocks; ``p`` is only ever a dropout probability.

    def _internal(self, layer, reverse):
        """(W_ih, W_hh, b_ih, b_hh) with LSTM rows in the internal order o i f g."""
        ps = [self.params[n] for n in param_names(layer, reverse)]
        if self.cell == "lstm":
            perm = _lstm_perm(self.hidden_size)
            ps = [a[perm] for a in ps]
        return ps

    def _step_matrix(self, layer, reverse):
        """W = [W_ih | b | W_hh], (G*H (+H for gru), D_k + 1 + H), applied to the stacked [x_t; 1; h_{t-1}].

        Rows in the internal order: lstm o i f g; gru r z n_h n_x, with n_h = W_hn h + b_hn and
        n_x = W_in x + b_in apart since n = tanh(n_x + r * n_h) (n_h reads only [1; h]; n_x reads only
        [x; 1] and is applied to all steps at once before the loop). sigmoid(a) = 0.5 tanh(0.5 a) + 0.5:
        the inner 0.5 is folded into the sigmoid gates' rows, so each step needs one tanh over all
        sigmoid gates (and lstm's g), then (* 0.5 + 0.5) on the sigmoid block.
        """
        w_ih, w_hh, b_ih, b_hh = self._internal(layer, reverse)
        H, D = self.hidden_size, w_ih.shape[1]
        if self.cell == "gru":
            zh, zx = np.zeros((H, H), self.dtype), np.zeros((H, D), self.dtype)
            w = np.block(
                [
                    [w_ih[: 2 * H], (b_ih + b_hh)[: 2 * H, None], w_hh[: 2 * H]],  # r z
                    [zx, b_hh[2 * H :, None], w_hh[2 * H :]],  # n_h
                    [w_ih[2 * H :], b_ih[2 * H :, None], zh],  # n_x
                ]
            )
        else:
            w = np.concatenate([w_ih, (b_ih + b_hh)[:, None], w_hh], axis=1)
        w[: {"rnn": 0, "lstm": 3 * H, "gru": 2 * H}[self.cell]] *= 0.5
        return w

    def _layer_forward(self, inp, layer, lengths, bs, inits, grad):
        """Both directions of one layer: ([y_d (T, N, H)], [direction cache])."""
        ws = [self._step_matrix(layer, bool(d)) for d in range(self.num_directions)]
        if self.num_directions == 2 and bs and bs[-1] == inp.shape[1]:
            # no padding: the reverse direction is the forward recurrence over the time-reversed
            # batch, so both directions run in one loop, stacked
            return self._directions_forward([inp, inp[::-1]], np.stack(ws), False, lengths, bs, inits, grad)
        outs, dcaches = [], []
        for d, w in enumerate(ws):
            (out,), (dcache,) = self._directions_forward([inp], w[None], bool(d), lengths, bs, inits[d : d + 1], grad)
            outs.append(out)
            dcaches.append(dcache)
        return outs, dcaches

    def _layer_backward(self, dy, lc, layer, bs, dfinals):
        """Both directions of one layer: (dx (T, N, D_k), {name: grad}, [dstate0 per direction]).

        The input and weight gradients are GEMMs over all steps at once: dx_t = W_ih^T da_t and
        dL/d[W_ih | b | W_hh] = da X^T, with da (G*H, T*N) the pre-activation gradients and X the
        stacked [x_t; 1; h_{t-1}] columns the forward multiplied (the bias gradient is the ones row's).
        """
        T, N, D = lc["shape"]
        H, G, dirs = self.hidden_size, GATES[self.cell], self.num_directions
        ws = [self._internal(layer, bool(d)) for d in range(dirs)]
        da = np.empty((T, dirs * G * H, N), self.dtype)  # dL/d(pre-activations), zero at padding (see below)
        hidden = []
        for d in range(dirs):
            rows = slice(d * G * H, (d + 1) * G * H)
            dyd = dy[:, :, d * H : (d + 1) * H]  # (T, N, H)
            hidden.append(self._direction_backward(dyd, lc["dirs"][d], ws[d][1], da[:, rows], bool(d), bs, dfinals[d]))
        da2 = np.ascontiguousarray(da.transpose(1, 0, 2)).reshape(dirs * G * H, T * N)
        dx = (da2.T @ np.concatenate([w[0] for w in ws])).reshape(T, N, D)  # (T, N, D_k)
        grads, ds0 = {}, []
        for d, (dah2, ds) in enumerate(hidden):
            rows = slice(d * G * H, (d + 1) * G * H)
            off = 2 if d else 0
            X = np.ascontiguousarray(lc["dirs"][d]["hx"][off : off + T].transpose(0, 2, 1)).reshape(T * N, D + 1 + H)
            if dah2 is None:  # rnn, lstm: one GEMM, the hidden side's gate gradients equal the input side's
                g = da2[rows] @ X  # (G*H, D_k + 1 + H)
                gs = [g[:, :D], g[:, D + 1 :], g[:, D], g[:, D].copy()]
            else:  # gru: input side on [x; 1], hidden side (n block times r) on [1; h]
                gx, gh = da2[rows] @ X[:, : D + 1], dah2 @ X[:, D:]
                gs = [gx[:, :D], gh[:, 1:], gx[:, D], gh[:, 0]]
            if self.cell == "lstm":
                inv = _lstm_inv(H)  # internal -> torch order
                gs = [g[inv] for g in gs]
            grads.update(zip(param_names(layer, bool(d)), (np.ascontiguousarray(g) for g in gs)))
            ds0.append(ds)
        return dx, grads, ds0

    def _directions_forward(self, xs, w, reverse, lengths, bs, inits, grad):
        """Directions of one layer over the length-sorted batch, stacked on a leading axis of size S.

        xs: S inputs (T, N, D_k); w (S, ., D_k + 1 + H) from ``_step_matrix``; inits: S initial
        states. reverse: one reverse direction (S = 1), each sequence starting at its own last step;
        otherwise every member runs forward (S = 2: a bidirectional layer without padding, the
        second input time-reversed; its outputs and cache come back in real time order, exactly
        like a reverse direction's). Each step is one GEMM w @ [x_t; 1; h_{t-1}] per member (input
        projection and biases included; gru: two) plus in-place array ops. The stacked columns live
        in slots: step t writes h_t into slot t+1 and reads slot t (forward) or t+2 (reverse), where
        x_t is placed; the initial state sits in slot 0 (forward) or slot L_n+1 (reverse). With
        grad=False the gate activations go to scratch and the lstm c is updated in place.
        Returns ([y (T, N, H) views, zero at padding], [direction caches]).
        """
        S, (T, N, D) = len(xs), xs[0].shape
        H, G, cell = self.hidden_size, GATES[self.cell], self.cell
        cols = np.arange(N)
        off = 2 if reverse else 0
        hx = np.zeros((S, T + 2, D + 1 + H, N), self.dtype)  # slots of [x; 1; h], (D + 1 + H, N) each
        for s, x in enumerate(xs):
            hx[s, off : off + T, :D] = x.transpose(0, 2, 1)
        hx[:, :, D] = 1.0
        hb = hx[:, :, D + 1 :]  # the h part of the slots
        n_act = G * H + (H if cell == "gru" else 0)  # gate activations, zero at padding (grad)
        acts = _empty_padded((S, T, n_act, N), bs, self.dtype) if grad else np.empty((S, 1, n_act, N), self.dtype)
        bufs = {"acts": acts, "hb": hb, "hx": hx}
        if cell == "lstm":
            bufs["cb"] = cb = np.zeros((S, T + 2 if grad else 1, H, N), self.dtype)  # slots of c, or the running c
            tc_shape = (S, T if grad else 1, H, N)  # tanh(c_t), zero at padding (grad)
            bufs["tc"] = tc = _empty_padded(tc_shape, bs, self.dtype) if grad else np.empty(tc_shape, self.dtype)
        for s, init in enumerate(inits):  # place the initial states
            for j, st in enumerate(init):  # h0 [, c0]
                if st is None:
                    continue
                buf = (hb, bufs.get("cb"))[j][s]  # (slots, H, N)
                if reverse and (j == 0 or grad):  # slot L_n+1 (the no-grad running c has one slot)
                    buf[lengths + 1, :, cols] = st
                else:
                    buf[0] = st.T
        steps = range(T - 1, -1, -1) if reverse else range(T)
        if cell == "rnn":
            act = np.tanh if self.nonlinearity == "tanh" else _relu
            nb = row_blocks(H, D + 1 + H, N)
            w_blk, hb_blk = w.reshape(S, nb, H // nb, D + 1 + H), hb.reshape(S, T + 2, nb, H // nb, N)
            for t in steps:
                b = bs[t]
                if b == 0:
                    continue
                np.matmul(w_blk, hx[:, t + off, None, :, :b], out=hb_blk[:, t + 1, :, :, :b])  # (S, H, b)
                hw = hb[:, t + 1, :, :b]
                act(hw, out=hw)
        elif cell == "lstm":
            ig = np.empty((S, H, N), self.dtype)
            nb = row_blocks(4 * H, D + 1 + H, N)
            w_blk = w.reshape(S, nb, 4 * H // nb, D + 1 + H)
            acts_blk = acts.reshape(S, acts.shape[1], nb, 4 * H // nb, N)
            for t in steps:
                b = bs[t]
                if b == 0:
                    continue
                k, cp, cn = (t, t + off, t + 1) if grad else (0, 0, 0)  # slots: activations, c_prev, c
                np.matmul(w_blk, hx[:, t + off, None, :, :b], out=acts_blk[:, k, :, :, :b])
                a = acts[:, k, :, :b]  # (S, 4H, b) pre-activations o i f g
                np.tanh(a, out=a)
                sg = a[:, : 3 * H]
                sg *= 0.5
                sg += 0.5
                c = np.multiply(a[:, 2 * H : 3 * H], cb[:, cp, :, :b], out=cb[:, cn, :, :b])  # c = f c_prev + i g
                c += np.multiply(a[:, H : 2 * H], a[:, 3 * H :], out=ig[:, :, :b])
                np.multiply(a[:, :H], np.tanh(c, out=tc[:, k, :, :b]), out=hb[:, t + 1, :, :b])  # h = o tanh(c)
        else:  # gru
            w_rz, w_nh = w[:, : 2 * H], w[:, 2 * H : 3 * H, D:]  # on [x; 1; h] and on [1; h]
            nb = row_blocks(2 * H, D + 1 + H, N)
            w_rz = w_rz.reshape(S, nb, 2 * H // nb, D + 1 + H)
            acts_blk = acts.reshape(S, acts.shape[1], 2 * nb, 2 * H // nb, N)  # the r z rows: the first nb blocks
            nx = np.matmul(w[:, None, 3 * H :, : D + 1], hx[:, off : off + T, : D + 1])  # W_in x + b_in, (S, T, H, N)
            tmp = np.empty((S, H, N), self.dtype)
            for t in steps:
                b = bs[t]
                if b == 0:
                    continue
                hp = hb[:, t + off, :, :b]
                a = acts[:, t if grad else 0, :, :b]  # (S, 4H, b) r z n_h n
                np.matmul(w_rz, hx[:, t + off, None, :, :b], out=acts_blk[:, t if grad else 0, :nb, :, :b])
                rz = a[:, : 2 * H]
                np.matmul(w_nh, hx[:, t + off, D:, :b], out=a[:, 2 * H : 3 * H])  # n_h
                np.tanh(rz, out=rz)
                rz *= 0.5
                rz += 0.5
                n = np.multiply(rz[:, :H], a[:, 2 * H : 3 * H], out=tmp[:, :, :b])
                n = np.add(nx[:, t, :, :b], n, out=a[:, 3 * H :])
                np.tanh(n, out=n)  # n = tanh(n_x + r * n_h)
                hw = np.subtract(hp, n, out=hb[:, t + 1, :, :b])  # h = n + z (h_prev - n)
                hw *= rz[:, H:]
                hw += n
        outs, dcaches = [], []
        for s in range(S):
            dcache = {k: v[s] for k, v in bufs.items()}
            if s > 0:  # ran over reversed time: real-time views, laid out like a reverse direction's
                dcache = {k: v[::-1] for k, v in dcache.items()}
            hbs, cbs = dcache["hb"], dcache.get("cb")
            if reverse or s > 0:  # after step 0
                final = [hbs[1].T] + ([cbs[1 if grad else 0].T] if cell == "lstm" else [])
            else:  # after each sequence's own last step
                final = [hbs[lengths, :, cols]]
                if cell == "lstm":
                    final.append(cbs[lengths, :, cols] if grad else cbs[0].T)
            dcache["final"] = [np.array(f) for f in final]  # (N, H) each
            outs.append(hbs[1 : T + 1].transpose(0, 2, 1))
            dcaches.append(dcache)
        return outs, dcaches

    def _direction_backward(self, dyd, dcache, w_hh, da, reverse, bs, dfinal):
        """Backward through the steps of one direction, writing dL/d(pre-activations) into da (T, G*H, N).

        Returns (hidden-side gate gradients (G*H, T*N) or None when equal to da, dstate0 [(N, H)]).
        """
        T, N, H = dyd.shape
        G, cell = GATES[self.cell], self.cell
        nb = row_blocks(H, G * H, N)
        w_hh_t = np.ascontiguousarray(w_hh.T).reshape(nb, H // nb, G * H)  # W_hh^T in nb row blocks
        acts, hb = dcache["acts"], dcache["hb"]  # gate activations, h slots
        off = 2 if reverse else 0
        steps = range(T) if reverse else range(T - 1, -1, -1)
        dyt = np.ascontiguousarray(dyd.transpose(0, 2, 1))  # (T, H, N)
        dh = np.array(dfinal[0].T, dtype=self.dtype, order="C")  # (H, N) running dL/dh
        dh_blk = dh.reshape(nb, H // nb, N)  # its row blocks, for the W_hh^T products
        dah = None  # gru only: the hidden side's gate gradients differ from da
        if cell == "rnn":
            h = hb[1 : T + 1]  # h_t (T, H, N), in either direction
            if self.nonlinearity == "relu":
                np.greater(h, 0, out=da)  # act'(a) = [h > 0], all steps at once
            else:
                np.multiply(h, h, out=da)  # act'(a) = 1 - h^2
                np.subtract(1.0, da, out=da)
            _zero_padding(da, bs)
            for t in steps:
                b = bs[t]
                if b == 0:
                    continue
                dhb = dh[:, :b]
                dhb += dyt[t, :, :b]
                dat = da[t, :, :b]
                dat *= dhb
                np.matmul(w_hh_t, dat, out=dh_blk[:, :, :b])
            ds = [dh]
        elif cell == "lstm":
            # The factors of each gate gradient known from the forward (activation derivative times
            # partner value) for all steps at once, into da: [tanh(c) o', g i', c_prev f', i g']; each
            # step then multiplies the o block by dL/dh and the i f g blocks by dL/dc.
            tc = dcache["tc"]  # (T, H, N) tanh(c_t), zero at padding
            o, i, f, g = (acts[:, k * H : (k + 1) * H] for k in range(4))  # (T, H, N) each, zero at padding
            sd = np.subtract(1.0, acts[:, : 3 * H], out=da[:, : 3 * H])  # sigmoid' = s (1 - s)
            sd *= acts[:, : 3 * H]
            da[:, :H] *= tc
            da[:, H : 2 * H] *= g
            da[:, 2 * H : 3 * H] *= dcache["cb"][off : off + T]  # c_{t-1}
            gd = np.multiply(g, g, out=da[:, 3 * H :])  # tanh' = 1 - g^2
            np.subtract(1.0, gd, out=gd)
            gd *= i  # da is now zero at padding (the gates are)
            dhc = np.multiply(tc, tc)  # dc_t/dh_t = o (1 - tanh(c_t)^2), (T, H, N)
            np.subtract(1.0, dhc, out=dhc)
            dhc *= o
            da4 = da.reshape(T, 4, H, N)
            dc = np.array(dfinal[1].T, dtype=self.dtype, order="C")  # (H, N) running dL/dc
            tmp = np.empty((H, N), self.dtype)
            for t in steps:
                b = bs[t]
                if b == 0:
                    continue
                dhb = dh[:, :b]
                dhb += dyt[t, :, :b]
                dcb = dc[:, :b]
                dcb += np.multiply(dhb, dhc[t, :, :b], out=tmp[:, :b])  # dc += dh o (1 - tanh(c)^2)
                da4[t, 0, :, :b] *= dhb  # into o
                da4[t, 1:, :, :b] *= dcb  # into i f g
                dcb *= f[t, :, :b]  # dc_{t-1} = dc f
                np.matmul(w_hh_t, da[t, :, :b], out=dh_blk[:, :, :b])
            ds = [dh, dc]
        else:  # gru
            _zero_padding(da, bs)  # the steps write the active columns only
            dah = _empty_padded((T, G * H, N), bs, self.dtype)  # hidden-side pre-activation grads (n block * r)
            tmp = np.empty((H, N), self.dtype)
            dact = np.empty((2 * H, N), self.dtype)
            for t in steps:
                b = bs[t]
                if b == 0:
                    continue
                a = acts[t, :, :b]  # r z n_h n (4H, b)
                r, z, n = a[:H], a[H : 2 * H], a[3 * H :]
                hp = hb[t + off, :, :b]
                dhb = dh[:, :b]
                dhb += dyt[t, :, :b]
                dat = da[t, :, :b]
                dan = np.multiply(n, n, out=dat[2 * H :])  # dL/d(n pre-act) = dh (1 - z)(1 - n^2)
                np.subtract(1.0, dan, out=dan)
                dan *= dhb
                dan -= np.multiply(dan, z, out=tmp[:, :b])
                np.multiply(dan, a[2 * H : 3 * H], out=dat[:H])  # into r: dn_pre * n_h
                dz = np.subtract(hp, n, out=dat[H : 2 * H])  # into z
                dz *= dhb
                d = np.subtract(1.0, a[: 2 * H], out=dact[:, :b])  # sigmoid derivative s (1 - s)
                d *= a[: 2 * H]
                dat[: 2 * H] *= d
                daht = dah[t, :, :b]
                daht[: 2 * H] = dat[: 2 * H]
                np.multiply(dan, r, out=daht[2 * H :])
                direct = np.multiply(dhb, z, out=tmp[:, :b])
                np.matmul(w_hh_t, daht, out=dh_blk[:, :, :b])
                dhb += direct
            ds = [dh]
        dah2 = None if dah is None else np.ascontiguousarray(dah.transpose(1, 0, 2)).reshape(G * H, T * N)
        return dah2, [x.T for x in ds]


def _relu(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.maximum(a, 0.0, out=out)


def _zero_padding(a: np.ndarray, bs) -> np.ndarray:
    """Zero the padded columns (n >= b_t at step t) of a (..., T, F, N) array, in place."""
    for t, b in enumerate(bs):
        if b < a.shape[-1]:
            a[..., t, :, b:] = 0.0
    return a


def _empty_padded(shape, bs, dtype) -> np.ndarray:
    """An uninitialised (..., T, F, N) array whose padded columns are zero."""
    return _zero_padding(np.empty(shape, dtype), bs)


@functools.lru_cache(maxsize=16)
def _lstm_perm(H: int) -> np.ndarray:
    """Row indices taking torch's gate order i f g o to the internal o i f g: internal = torch[perm]."""
    return np.r_[3 * H : 4 * H, 0 : 2 * H, 2 * H : 3 * H]


@functools.lru_cache(maxsize=16)
def _lstm_inv(H: int) -> np.ndarray:
    """The inverse of ``_lstm_perm``: torch = internal[inv]."""
    return np.argsort(_lstm_perm(H))


def hidden_grad_norms(layer: Recurrent, x, mask, dy_last, state0=None) -> np.ndarray:
    """Vanishing-gradient diagnostic: ||dL/dh_t|| for every step t of layer 0 (forward direction).

    Only each sequence's last real output carries a gradient: dy_last (N, H*dirs) is placed at step
    L_n - 1 (no dropout). Returns (T, N) norms of the total gradient reaching h_t, zero at padding;
    the value for sequence n at step L_n - 1 - k is the norm k steps back from the end (see
    ``steps_back``). Computed by the reference implementation, outside the training path.
    """
    mask = np.asarray(mask, dtype=bool)
    T, N = mask.shape
    dy = np.zeros((T, N, layer.output_size))
    dy[mask.sum(0) - 1, np.arange(N)] = dy_last
    # read off the plain step-by-step backward (reference.py), which keeps every step's dL/dh_t; the
    # fast backward keeps only the running one
    _, _, cache = reference.forward(layer.cell, layer.params, x, mask, state0, layer.nonlinearity)
    dh = reference.backward(dy, cache)[3][0, 0]  # (T, N, H): layer 0, forward direction
    return np.linalg.norm(dh, axis=-1).astype(layer.dtype)


def steps_back(values: np.ndarray, mask) -> np.ndarray:
    """Re-index (T, N) per-step values: row k is k steps back from each sequence's last real step.

    Entries past a sequence's first step are NaN.
    """
    mask = np.asarray(mask, dtype=bool)
    T, N = mask.shape
    lengths = mask.sum(0)
    k = np.arange(T)[:, None]
    t = lengths[None, :] - 1 - k  # (T, N) source step
    out = np.full((T, N), np.nan)
    valid = t >= 0
    out[valid] = values[t[valid], np.nonzero(valid)[1]]
    return out
