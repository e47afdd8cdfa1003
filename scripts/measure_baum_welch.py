"""Baum-Welch time per iteration, hmmlearn's "log" against its "scaling" implementation. Not a test.

    python scripts/measure_baum_welch.py [--treebank DIR] [--n-iter 10]

Fits the unsupervised HMM tagger (on the embedded synthetic corpus, or on DIR's training split:
*-ud-train.conllu) and the Gaussian-HMM forecaster (sunspots, scaled) from the same initialisation
with each implementation, and prints seconds per iteration, the final log-likelihood and the
largest difference between the two fitted transition matrices: "scaling" is used when it gives
the same fit to within rounding.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hmmlearn import hmm as hmmlearn_hmm  # noqa: E402

import harness.models.hmm.regimes as regimes_module  # noqa: E402
import harness.models.hmm.tagger as tagger_module  # noqa: E402
from harness.models.hmm import HMMTagger  # noqa: E402
from harness.models.hmm.regimes import RegimeForecaster  # noqa: E402


def with_implementation(cls, implementation: str):
    """An hmmlearn class whose constructor forces ``implementation``."""

    class Forced(cls):
        def __init__(self, *args, **kwargs):
            kwargs["implementation"] = implementation
            super().__init__(*args, **kwargs)

    return Forced


def timed_fit(make, module, name: str, cls, implementation: str):
    """Fit with module.<name> forced to ``implementation``: (model, seconds)."""
    setattr(module, name, with_implementation(cls, implementation))
    try:
        t0 = time.perf_counter()
        model = make()
        seconds = time.perf_counter() - t0
    finally:
        setattr(module, name, cls)
    return model, seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--treebank", help="folder with *-ud-train.conllu (default: the synthetic corpus)")
    parser.add_argument("--n-iter", type=int, default=10)
    args = parser.parse_args(argv)
    blas = ", ".join(f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)" for i in threadpool_info())
    print(f"BLAS: {blas or 'none found'}")

    if args.treebank:
        from harness.data.readers import find_split, read_conllu

        corpus = read_conllu(find_split(args.treebank, "train"))
        words, tags = corpus.words, corpus.tags
    else:
        from harness.config import SyntheticPosConfig
        from harness.data.synthetic import generate

        train, _, _ = generate(SyntheticPosConfig(), seed=0)  # 3,000 sentences
        words, tags = train.words, train.tags
    n_tokens = sum(len(s) for s in words)
    print(f"unsupervised tagger: {len(words)} sentences, {n_tokens} tokens, {args.n_iter} iterations (tol=0)")
    fits = {}
    for implementation in ("log", "scaling"):
        model, seconds = timed_fit(
            lambda: HMMTagger(training="unsupervised", n_iter=args.n_iter, tol=0.0).fit(words, tags),
            tagger_module,
            "CategoricalHMM",
            hmmlearn_hmm.CategoricalHMM,
            implementation,
        )
        fits[implementation] = model
        print(
            f"  {implementation:<8} {seconds / model.n_iter_:7.3f} s/iteration (fit and mapping included)  "
            f"log-likelihood {model.log_likelihood_:.6f}"
        )
    gap = np.abs(fits["log"].transmat_ - fits["scaling"].transmat_).max()
    same = fits["log"].state_tag_.tolist() == fits["scaling"].state_tag_.tolist()
    print(f"  largest transition difference {gap:.2e}; same state->tag map: {same}")

    import statsmodels.api as sm

    series = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()
    series = (series - series.mean()) / series.std()
    print(f"forecaster: sunspots, {len(series)} values, 3 states, {args.n_iter * 10} iterations (tol=0)")
    fits = {}
    for implementation in ("log", "scaling"):
        model, seconds = timed_fit(
            lambda: RegimeForecaster(n_states=3, autoregressive=False, n_iter=args.n_iter * 10, tol=0.0).fit(series),
            regimes_module,
            "GaussianHMM",
            hmmlearn_hmm.GaussianHMM,
            implementation,
        )
        fits[implementation] = model
        print(
            f"  {implementation:<8} {1000 * seconds / len(model.history_):7.2f} ms/iteration  "
            f"log-likelihood {model.loglik_:.6f}"
        )
    gap = np.abs(fits["log"].transmat_ - fits["scaling"].transmat_).max()
    print(f"  largest transition difference {gap:.2e}")


if __name__ == "__main__":
    main()
