"""Language-model measurements (issue 15): how close each model gets to the entropy rate, and how fast.

    python scripts/bench_lm.py models                 # synthetic default: RNN/LSTM/GRU/HMM vs the entropy rate
    python scripts/bench_lm.py baum-welch             # seconds per Baum-Welch iteration at 64, 256, 1024 states
    python scripts/bench_lm.py baum-welch --states 64 256 --chars 20000
    python scripts/bench_lm.py models --seeds 0 1 2 --dataset text --path book.txt

One BLAS thread (as the CLI runs). ``train_chars_per_second`` counts training characters over
training time (dev scoring each epoch included); Baum-Welch time per iteration is the time of a
``n_iter=--iters`` fit (random initialisation included, cheap) divided by --iters, on the first --chars
symbols of the synthetic training stream; ``--implementations numpy`` times ``harness.models.hmm.lm.baum_welch``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits

from harness import estimators
from harness.config import Config, LMTaskConfig, model_schema
from harness.experiment import evaluate
from harness.models.hmm.lm import baum_welch as numpy_baum_welch
from harness.tasks.lm import load

MODELS = {  # name -> (model choice, settings)
    "rnn": ("rnn", {}),
    "lstm": ("lstm", {}),
    "gru": ("gru", {}),
    "hmm-16": ("hmm_unsupervised", {"n_states": 16}),
    "hmm-64": ("hmm_unsupervised", {"n_states": 64}),
    "hmm-256": ("hmm_unsupervised", {"n_states": 256}),
    "hmm-true-states": ("hmm", {}),
}


def run(name: str, task, data, seed: int):
    """Fit and evaluate one model as a run does, without tracking: (metrics, estimator)."""
    choice, settings = MODELS[name]
    config = Config(model=model_schema(choice, "lm")(**settings), task=task, seed=seed)
    est = estimators.build(config, data, np.random.default_rng(seed))
    metrics = est.fit(data, estimators.Hooks(log=lambda epoch, values: None, progress=False))
    return metrics | evaluate(est, data)[0], est


def task_cfg(args):
    cfg = OmegaConf.structured(LMTaskConfig)
    cfg.dataset, cfg.path, cfg.unit = args.dataset, args.path, args.unit
    return cfg


def models(args) -> None:
    print(
        f"{'model':<16} {'seed':>4} {'test bpc':>9} {'gap':>7} {'ngram':>7} {'train s':>8} {'chars/s':>9} {'params':>8}"
    )
    for seed in args.seeds:
        data = load(task_cfg(args), seed)
        for name in args.models:
            m, est = run(name, OmegaConf.to_object(task_cfg(args)), data, seed)
            gap = m.get("gap_to_entropy_rate", float("nan"))
            print(
                f"{name:<16} {seed:>4} {m[data.main_metric]:>9.4f} {gap:>7.4f} "
                f"{m[f'baseline_ngram_test_{data.per}']:>7.4f} {m['train_seconds']:>8.1f} "
                f"{m.get('train_chars_per_second', float('nan')):>9.0f} {m['n_params']:>8.0f}",
                flush=True,
            )
            if args.samples:
                print("   ", repr(est.sample_text(data)[:100]))
        print(
            f"entropy rate {data.reference_metrics({data.per: 0.0}).get('entropy_rate', float('nan')):.4f}  {data.baselines()}"
        )


def baum_welch(args) -> None:
    from hmmlearn.hmm import CategoricalHMM

    data = load(task_cfg(args), 0)
    n = min(args.chars, len(data.train))
    ids = data.train.ids[:n, None]
    starts = data.train.starts[data.train.starts < n]
    lengths = np.diff(np.r_[starts, n])
    print(
        f"Baum-Welch ({', '.join(args.implementations)}), {n} symbols in {len(lengths)} documents, V={data.vocab_size}"
    )
    for K in args.states:
        times = {}
        for impl in args.implementations:
            t = time.perf_counter()
            if impl == "numpy":  # harness.models.hmm.lm.baum_welch: documents side by side, BLAS products
                *_, hist = numpy_baum_welch(
                    ids[:, 0], starts, data.vocab_size, K, args.iters, -np.inf, np.random.default_rng(0)
                )
            else:
                hmm = CategoricalHMM(
                    K, n_features=data.vocab_size, n_iter=args.iters, tol=-np.inf, implementation=impl, random_state=0
                )
                hist = list(hmm.fit(ids, lengths).monitor_.history)
            times[impl] = ((time.perf_counter() - t) / args.iters, hist[-1])
        print(
            f"K={K:>5}: "
            + "  ".join(
                f"{impl} {s:.2f} s/iter ({n / s:,.0f} symbols/s, log-lik {ll:.6f})" for impl, (s, ll) in times.items()
            ),
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["models", "baum-welch"])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--states", nargs="+", type=int, default=[64, 256, 1024])
    p.add_argument("--implementations", nargs="+", default=["scaling"], choices=["scaling", "log", "numpy"])
    p.add_argument("--chars", type=int, default=100_000)
    p.add_argument("--iters", type=int, default=3, help="Baum-Welch iterations timed (initialisation included)")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--path", default=None)
    p.add_argument("--unit", default="char")
    p.add_argument("--samples", action="store_true")
    args = p.parse_args()
    with threadpool_limits(limits=1):
        models(args) if args.what == "models" else baum_welch(args)


if __name__ == "__main__":
    main()
