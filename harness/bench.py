"""Throughput benchmark of the NumPy recurrent layers (not a test): ``python -m harness.bench``.

Workloads (issue 3):
  pos  vocab 20,000, embedding 100, hidden 128, 17 tags, batch 32, sentence lengths uniform in
       5..50; sentences sorted by length before batching (as the tagger does). Real tokens/s.
  ts   1 feature, hidden 64, window 48, batch 64, one target per window. Windows/s.

What is timed, per batch, identically for NumPy and torch:
  train  embedding lookup (pos) + recurrent forward + linear head + loss (masked softmax
         cross-entropy per token for pos; MSE on the last step for ts) + the full backward,
         including the head gradients and the embedding gradient as (rows, values) (torch:
         Embedding(sparse=True)). No optimiser step.
  infer  embedding lookup + recurrent forward + linear head (+ argmax for pos).
torch runs padded batches for unidirectional layers and packed sequences for bidirectional ones
(its fastest correct modes). On CPU, torch's LSTM (not its RNN/GRU) runs oneDNN's fused RNN kernel
on plain (padded, not packed) input, about twice as fast as its native per-step path; for lstm rows
the table also shows torch with oneDNN switched off (``torch.backends.mkldnn``), i.e. that native
path, the one its RNN and GRU (and its packed LSTM) use. Each figure is the best of
``--repeats`` passes over the same batches (wall clock); ``cpu/wall`` < 1 means other processes
competed for the cores.

The BiLSTM ceiling: a 1-layer BiLSTM of the pos sizes costs about 1.43 MFLOP per real token
(forward + backward); ``ceiling_fraction`` = tokens/s x 1.43e6 / measured float32 GEMM rate.
OPENBLAS_CORETYPE is reported, never set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from harness.config import model_schema
from harness.models.rnn import RNNForecaster, RNNTagger
from harness.tasks.pos import Batch

CELLS = ("rnn", "lstm", "gru")
POS = dict(vocab=20_000, emb=100, hidden=128, tags=17, batch=32, min_len=5, max_len=50)
TS = dict(features=1, hidden=64, window=48, batch=64)
BILSTM_FLOP_PER_TOKEN = 1.43e6
# torch 2.13 CPU, 1 thread, training real tokens/s, as measured in issue 3 (padded uni, packed bi)
ISSUE_TORCH_TRAIN = {
    ("lstm", "uni"): 56.7e3,
    ("lstm", "bi"): 17.8e3,
    ("gru", "uni"): 33.3e3,
    ("gru", "bi"): 20.6e3,
    ("rnn", "uni"): 62.7e3,
    ("rnn", "bi"): 36.7e3,
}


# ---------------------------------------------------------------------------- data
def pos_batches(n_sentences: int, rng: np.random.Generator):
    """Length-sorted batches: list of (ids (T, N) int64, tags (T, N), mask (T, N) bool, n_tokens)."""
    p = POS
    lengths = np.sort(rng.integers(p["min_len"], p["max_len"] + 1, n_sentences))[::-1]
    out = []
    for i in range(0, n_sentences, p["batch"]):
        L = lengths[i : i + p["batch"]]
        T = int(L.max())
        mask = np.arange(T)[:, None] < L[None, :]  # (T, N)
        ids = np.where(mask, rng.integers(1, p["vocab"], (T, len(L))), 0)
        tags = np.where(mask, rng.integers(0, p["tags"], (T, len(L))), -100)
        out.append((ids, tags, mask, int(L.sum())))
    return out


def ts_batches(n_batches: int, rng: np.random.Generator):
    p = TS
    return [
        (
            rng.standard_normal((p["window"], p["batch"], p["features"])).astype(np.float32),
            rng.standard_normal((p["batch"], 1)).astype(np.float32),
        )
        for _ in range(n_batches)
    ]


# ---------------------------------------------------------------------------- numpy models
class NumpyTagger:
    """The harness's own RNNTagger (embedding -> Recurrent -> linear -> masked softmax cross-entropy,
    sparse embedding gradient), so the figures are those of ``python -m harness`` training."""

    def __init__(self, cell, bi, rng):
        p = POS
        cfg = model_schema(cell, "pos")(bidirectional=bi, embedding_size=p["emb"], hidden_size=p["hidden"])
        self.model = RNNTagger({"word": p["vocab"]}, p["tags"], cfg, rng)

    @staticmethod
    def batches(pos):
        """The pos batches as the tagger's Batch objects (built once, outside the timed region, as
        torch's tensors are)."""
        return [
            Batch({"word": ids}, np.where(mask, tags, 0), mask, np.arange(ids.shape[1])) for ids, tags, mask, _ in pos
        ]

    def train_step(self, batch: Batch):
        return self.model.loss_and_grads(batch)

    def infer(self, batch: Batch):
        return self.model.predict(batch.inputs, batch.mask)


class NumpyForecaster:
    """The harness's own RNNForecaster (Recurrent -> linear on the last state -> squared error)."""

    def __init__(self, cell, bi, rng):
        p = TS
        cfg = model_schema(cell, "timeseries")(bidirectional=bi, hidden_size=p["hidden"])
        self.model = RNNForecaster(p["features"], cfg, rng)

    def train_step(self, x, target):
        return self.model.loss_and_grads((x.transpose(1, 0, 2), target[:, 0]))  # x (T, N, F) -> windows (N, T, F)

    def infer(self, x):
        return self.model.predict(x.transpose(1, 0, 2))


def torch_models(torch):
    nn = torch.nn

    class TorchTagger(nn.Module):
        def __init__(self, cell, bi):
            super().__init__()
            p = POS
            self.bi = bi
            self.emb = nn.Embedding(p["vocab"], p["emb"], sparse=True)  # sparse gradient, like the numpy side
            cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
            self.rnn = cls(p["emb"], p["hidden"], bidirectional=bi)
            self.out = nn.Linear(p["hidden"] * (2 if bi else 1), p["tags"])

        def forward(self, ids, lengths):
            x = self.emb(ids)
            if self.bi:  # packed: each reverse direction starts at its own last token
                packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=True)
                y, _ = self.rnn(packed)
                y, _ = nn.utils.rnn.pad_packed_sequence(y, total_length=ids.shape[0])
            else:
                y, _ = self.rnn(x)
            return self.out(y)

    class TorchForecaster(nn.Module):
        def __init__(self, cell, bi):
            super().__init__()
            p = TS
            cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
            self.rnn = cls(p["features"], p["hidden"], bidirectional=bi)
            self.out = nn.Linear(p["hidden"] * (2 if bi else 1), 1)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.out(y[-1])

    return TorchTagger, TorchForecaster


# ---------------------------------------------------------------------------- timing
def best_of(fns, batches_list, repeats):
    """Best wall time of ``repeats`` passes of each fn over its batches, the fns taking turns so
    that they share whatever load the machine has; returns [(seconds, cpu/wall of that pass)]."""
    for fn, batches in zip(fns, batches_list):
        fn(batches[0])  # warm-up
    best = [(float("inf"), 1.0)] * len(fns)
    for _ in range(repeats):
        for i, (fn, batches) in enumerate(zip(fns, batches_list)):
            w0, c0 = time.perf_counter(), time.process_time()
            for b in batches:
                fn(b)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            if wall < best[i][0]:
                best[i] = (wall, cpu / wall)
    return best


def gemm_gflops(n: int = 1024, repeats: int = 10) -> float:
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    a @ a
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def system_info(threads: int) -> dict:
    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "threads": threads,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "loadavg_start": os.getloadavg()[0],
        "blas": [
            {
                k: d.get(k)
                for k in ("user_api", "internal_api", "version", "architecture", "threading_layer", "num_threads")
            }
            for d in threadpool_info()
        ],
    }
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(threads: int, quick: bool, repeats: int, cells, torch_on: bool) -> dict:
    rng = np.random.default_rng(0)
    n_sent = 256 if quick else 1024
    pos = pos_batches(n_sent, rng)
    pos_tokens = sum(b[3] for b in pos)
    npos = NumpyTagger.batches(pos)
    ts = ts_batches(4 if quick else 16, rng)
    ts_windows = len(ts) * TS["batch"]
    torch = _import_torch() if torch_on else None
    results = []
    with threadpool_limits(threads):
        info = system_info(threads)
        gf = gemm_gflops()
        info["gemm_f32_gflops"] = gf
        if torch is not None:
            torch.set_num_threads(threads)
            info["torch"] = torch.__version__
            TorchTagger, TorchForecaster = torch_models(torch)
        for cell in cells:
            for bi in (False, True):
                direction = "bi" if bi else "uni"
                m = NumpyTagger(cell, bi, np.random.default_rng(1))
                f = NumpyForecaster(cell, bi, np.random.default_rng(1))
                fns = {
                    ("pos", "train"): (m.train_step, npos),
                    ("pos", "infer"): (m.infer, npos),
                    ("ts", "train"): (lambda b, f=f: f.train_step(*b), ts),
                    ("ts", "infer"): (lambda b, f=f: f.infer(b[0]), ts),
                }
                tfns = _torch_fns(torch, TorchTagger, TorchForecaster, cell, bi, pos, ts) if torch else {}
                nfns = _without_onednn(torch, tfns) if torch and cell == "lstm" else {}
                rows, trows, nrows = {}, {}, {}
                for key, numpy_fn in fns.items():
                    sides = [(numpy_fn, rows)] + [
                        (d[key], out) for d, out in ((tfns, trows), (nfns, nrows)) if key in d
                    ]
                    timed = best_of([fn for (fn, _), _ in sides], [b for (_, b), _ in sides], repeats)
                    for (_, out), t in zip(sides, timed):
                        out[key] = t
                for (wl, mode), (sec, ratio) in rows.items():
                    units = pos_tokens if wl == "pos" else ts_windows
                    r = {
                        "workload": wl,
                        "cell": cell,
                        "direction": direction,
                        "mode": mode,
                        "numpy_per_s": units / sec,
                        "cpu_over_wall": ratio,
                    }
                    if (wl, mode) in trows:
                        tsec, tratio = trows[(wl, mode)]
                        r.update(torch_per_s=units / tsec, torch_cpu_over_wall=tratio, ratio=tsec / sec)
                    if (wl, mode) in nrows:
                        nsec = nrows[(wl, mode)][0]
                        r.update(torch_no_onednn_per_s=units / nsec, ratio_no_onednn=nsec / sec)
                    if wl == "pos" and mode == "train":
                        r["issue_torch_per_s"] = ISSUE_TORCH_TRAIN[(cell, direction)]
                        if cell == "lstm" and bi:
                            r["ceiling_fraction"] = units / sec * BILSTM_FLOP_PER_TOKEN / (gf * 1e9)
                    results.append(r)
                    print(_fmt_row(r), flush=True)
    info["loadavg_end"] = os.getloadavg()[0]
    return {"system": info, "pos_tokens": pos_tokens, "ts_windows": ts_windows, "repeats": repeats, "results": results}


def _torch_fns(torch, TorchTagger, TorchForecaster, cell, bi, pos, ts):
    torch.manual_seed(0)
    tm, tf = TorchTagger(cell, bi), TorchForecaster(cell, bi)
    ce = torch.nn.functional.cross_entropy
    tpos = [(torch.from_numpy(i), torch.from_numpy(t), torch.from_numpy(m.sum(0))) for i, t, m, _ in pos]
    tts = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in ts]

    def pos_train(b):
        tm.zero_grad(set_to_none=True)
        logits = tm(b[0], b[2])
        ce(logits.reshape(-1, logits.shape[-1]), b[1].reshape(-1), ignore_index=-100).backward()

    def pos_infer(b):
        with torch.no_grad():
            tm(b[0], b[2]).argmax(-1)

    def ts_train(b):
        tf.zero_grad(set_to_none=True)
        torch.mean((tf(b[0]) - b[1]) ** 2).backward()

    def ts_infer(b):
        with torch.no_grad():
            tf(b[0])

    return {
        ("pos", "train"): (pos_train, tpos),
        ("pos", "infer"): (pos_infer, tpos),
        ("ts", "train"): (ts_train, tts),
        ("ts", "infer"): (ts_infer, tts),
    }


def _without_onednn(torch, tfns):
    """The same torch workloads with oneDNN (mkldnn) switched off: torch's native LSTM path."""
    import warnings

    def off(fn):
        def run(b):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a UserWarning about TF32 on Intel GPUs, on every switch
                with torch.backends.mkldnn.flags(enabled=False):
                    fn(b)

        return run

    return {key: (off(fn), batches) for key, (fn, batches) in tfns.items()}


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _fmt_row(r: dict) -> str:
    unit = "tok/s" if r["workload"] == "pos" else "win/s"
    s = f"{r['workload']:<4}{r['cell']:<5}{r['direction']:<4}{r['mode']:<6}numpy {r['numpy_per_s'] / 1e3:8.1f}k {unit}"
    if "torch_per_s" in r:
        s += f"   torch {r['torch_per_s'] / 1e3:8.1f}k   numpy/torch {r['ratio']:5.2f}"
    if "torch_no_onednn_per_s" in r:
        s += f"   (torch without oneDNN {r['torch_no_onednn_per_s'] / 1e3:.1f}k: x{r['ratio_no_onednn']:.2f})"
    if "issue_torch_per_s" in r:
        s += f"   (issue torch {r['issue_torch_per_s'] / 1e3:.1f}k: x{r['numpy_per_s'] / r['issue_torch_per_s']:.2f})"
    if "ceiling_fraction" in r:
        s += f"   ceiling {r['ceiling_fraction']:.2f}"
    if r["cpu_over_wall"] < 0.9:
        s += f"   [cpu/wall {r['cpu_over_wall']:.2f}: contended]"
    return s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="BLAS (and torch) threads, via threadpoolctl (default 1)")
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON here")
    ap.add_argument("--quick", action="store_true", help="fewer batches and repeats (a smoke run)")
    ap.add_argument("--repeats", type=int, default=None, help="passes per measurement, best kept (default 3, quick 1)")
    ap.add_argument("--cells", default=",".join(CELLS), help="comma-separated subset of rnn,lstm,gru")
    ap.add_argument("--no-torch", action="store_true", help="skip the torch side even if torch is importable")
    args = ap.parse_args(argv)
    cells = [c for c in args.cells.split(",") if c]
    bad = [c for c in cells if c not in CELLS]
    if bad or args.threads < 1:
        ap.error(f"--cells must be from {','.join(CELLS)} (got {bad}) and --threads >= 1")
    repeats = args.repeats or (1 if args.quick else 3)
    print(f"harness.bench: threads={args.threads} repeats={repeats}{' quick' if args.quick else ''}", flush=True)
    out = run(args.threads, args.quick, repeats, cells, not args.no_torch)
    info = out["system"]
    print(
        f"numpy {info['numpy']} on {info['cpu']} ({info['cpus']} cpus), OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']}"
    )
    for b in info["blas"]:
        print(f"  BLAS {b['internal_api']} {b['version']} kernel={b['architecture']} threads={b['num_threads']}")
    print(
        f"  float32 GEMM (1024^3): {info['gemm_f32_gflops']:.1f} GFLOP/s; "
        f"BiLSTM ceiling {info['gemm_f32_gflops'] * 1e9 / BILSTM_FLOP_PER_TOKEN / 1e3:.1f}k tok/s; "
        f"load average {info['loadavg_start']:.2f} -> {info['loadavg_end']:.2f}"
        + ("" if "torch" in info else "; torch not importable: issue figures shown instead")
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
