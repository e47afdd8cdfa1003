"""Optional: the NumPy recurrent layers give torch's outputs and gradients for the same weights.

Skipped unless torch is importable (it is not a dependency). torch runs packed sequences, whose
semantics the NumPy layer follows for ragged batches (reverse direction from each own last step).
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.models.nn.recurrent import Recurrent

torch = pytest.importorskip("torch")

D, H = 3, 4
LENGTHS = [5, 2, 4]
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]


def torch_layer(cell, nl, bi, layers):
    kw = dict(num_layers=layers, bidirectional=bi)
    if cell == "rnn":
        return torch.nn.RNN(D, H, nonlinearity=nl, **kw)
    return {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](D, H, **kw)


@pytest.mark.parametrize("cell,nl", CELLS)
@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_outputs_and_gradients_match_torch(cell, nl, bi, layers):
    torch.manual_seed(0)
    ref = torch_layer(cell, nl, bi, layers).double()
    weights = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    ours = Recurrent.from_state_dict(weights, cell, nonlinearity=nl)
    assert ours.dtype == np.float64 and set(ours.params) == set(ref.state_dict())

    rng = np.random.default_rng(0)
    T, N = max(LENGTHS), len(LENGTHS)
    mask = np.arange(T)[:, None] < np.array(LENGTHS)[None, :]
    x = rng.standard_normal((T, N, D))
    n_state = layers * (2 if bi else 1)
    states = [rng.standard_normal((n_state, N, H)) for _ in range(2 if cell == "lstm" else 1)]
    R = rng.standard_normal((T, N, ours.output_size)) * mask[:, :, None]
    S = [rng.standard_normal(s.shape) for s in states]

    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in states]
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(LENGTHS), enforce_sorted=False)
    yp, sTt = ref(packed, tuple(st) if cell == "lstm" else st[0])
    yt, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, total_length=T)
    sTt = list(sTt) if cell == "lstm" else [sTt]
    loss = (yt * torch.tensor(R)).sum() + sum((a * torch.tensor(b)).sum() for a, b in zip(sTt, S))
    loss.backward()

    y, sT, cache = ours.forward(x, mask, state0=tuple(states) if cell == "lstm" else states[0])
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-10)
    for a, b in zip(sT if cell == "lstm" else [sT], sTt):
        np.testing.assert_allclose(a, b.detach().numpy(), atol=1e-10)
    dx, grads, ds0 = ours.backward(R, cache, dstateT=tuple(S) if cell == "lstm" else S[0])
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-10)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), atol=1e-10, err_msg=name)
    for a, b in zip(ds0 if cell == "lstm" else [ds0], st):
        np.testing.assert_allclose(a, b.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_float32_weights_round_trip_to_torch(cell):
    ours = Recurrent(cell, D, H, num_layers=2, bidirectional=True, rng=np.random.default_rng(0))
    ref = torch_layer(cell, "tanh", True, 2)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((6, 2, D)).astype(np.float32)
    y, _, _ = ours.forward(x, np.ones((6, 2), bool))
    with torch.no_grad():
        yt, _ = ref(torch.from_numpy(x))
    np.testing.assert_allclose(y, yt.numpy(), atol=1e-5)
