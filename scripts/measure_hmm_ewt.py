"""Measure the HMM taggers on a UD treebank (UPOS): accuracy, OOV accuracy, speed. Not a test.

    python scripts/measure_hmm_ewt.py DIR [--split test] [--repeats 3] [--configs order1,order2,unsupervised] [--tnt]

DIR holds ``*-ud-train.conllu``, ``*-ud-dev.conllu`` and ``*-ud-test.conllu`` (e.g. UD English
EWT). Every model is fitted on train and scored on ``--split``. OOV = a form not seen in train.
Throughput is end to end (``predict`` on the raw word lists), the best of ``--repeats`` runs,
printed next to hmmlearn's Viterbi alone on a random model with as many states and tokens (the
machine may be shared: compare the two columns, not runs on different days). Second-order and
lexicalised models decode with the sparse Viterbi (harness.models.hmm.decoding), so their
hmmlearn-alone column is what the dense decoder would cost. ``--tnt``: NLTK's TnT (pure Python,
second order, its default beam and unknown-word handling) on the same split, when nltk is
importable (it is never a dependency of the harness).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hmmlearn.hmm import CategoricalHMM  # noqa: E402

from harness.config import HMMTaggerConfig, hmm_tagger_params  # noqa: E402
from harness.data.readers import find_split, read_conllu  # noqa: E402
from harness.models.hmm import HMMTagger  # noqa: E402
from harness.tasks.pos import score_tags  # noqa: E402

# overrides of HMMTaggerConfig's defaults (the defaults of `python -m harness model=hmm`)
CONFIGS = {
    "order1": dict(order=1),
    "order2": dict(order=2),
    "order1-suffix": dict(order=1, unknown="suffix"),
    "order2-suffix": dict(order=2, unknown="suffix"),
    "order1-caps": dict(order=1, capitalization=True),
    "order1-lex40": dict(order=1, lexicalize=40),
    "order1-lex100": dict(order=1, lexicalize=100),
    "order2-lex10": dict(order=2, lexicalize=10),
    "order2-lex40": dict(order=2, lexicalize=40),
    "order2-lex100": dict(order=2, lexicalize=100),
    "unsupervised": dict(training="unsupervised", n_iter=50, random_state=0),
    "unsupervised-45": dict(training="unsupervised", n_states=45, n_iter=50, random_state=0),
}
DEFAULT = "order1,order1-lex100,order2,order2-lex40,unsupervised"


def tagger(name: str) -> HMMTagger:
    """The unfitted tagger of CONFIGS[name]: HMMTaggerConfig's defaults, then the entry's overrides."""
    return HMMTagger(**{**hmm_tagger_params(HMMTaggerConfig()), **CONFIGS[name]})


def hmmlearn_alone(n_states: int, n_tokens: int, repeats: int) -> float:
    """Tokens/s of hmmlearn's Viterbi by itself (random model, one sequence): the yardstick for
    the end-to-end figure on a machine whose load varies."""
    rng = np.random.default_rng(0)
    hmm = CategoricalHMM(n_components=n_states, init_params="", params="")
    hmm.n_features = 2000
    hmm.startprob_ = rng.dirichlet(np.ones(n_states))
    hmm.transmat_ = rng.dirichlet(np.ones(n_states), size=n_states)
    hmm.emissionprob_ = rng.dirichlet(np.ones(2000), size=n_states)
    X = rng.integers(0, 2000, size=(n_tokens, 1))
    best = np.inf
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        hmm.decode(X)
        best = min(best, time.perf_counter() - t0)
    return n_tokens / best


def measure_tnt(train, evaluation, repeats: int) -> None:
    """NLTK's TnT tagger side by side (accuracy and tokens/s, best of ``repeats``), if nltk is importable."""
    try:
        from nltk.tag import tnt
    except ImportError:
        print("nltk TnT: nltk is not importable, skipped")
        return
    t0 = time.perf_counter()
    model = tnt.TnT()
    model.train([list(zip(ws, ts)) for ws, ts in zip(train.words, train.tags)])
    fit_s = time.perf_counter() - t0
    best = np.inf
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        pred = model.tagdata(evaluation.words)
        best = min(best, time.perf_counter() - t0)
    gold = [t for ts in evaluation.tags for t in ts]
    got = [t for s in pred for _, t in s]
    accuracy = float(np.mean([a == b for a, b in zip(gold, got)]))
    print(f"{'nltk-tnt':<16} {accuracy:7.4f} {'':>7} {'':>5} {'':>6} {fit_s:6.2f} {evaluation.n_tokens / best:9.0f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("treebank", help="folder with *-ud-train/dev/test.conllu")
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    parser.add_argument("--repeats", type=int, default=3, help="predict runs; the fastest is reported")
    parser.add_argument("--configs", default=DEFAULT, help=f"comma-separated, from {sorted(CONFIGS)}")
    parser.add_argument("--tnt", action="store_true", help="also NLTK's TnT, when nltk is importable")
    args = parser.parse_args(argv)
    blas = ", ".join(f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)" for i in threadpool_info())
    print(f"BLAS: {blas or 'none found'}")

    train = read_conllu(find_split(args.treebank, "train"))
    evaluation = read_conllu(find_split(args.treebank, args.split))
    vocab = {w for s in train.words for w in s}
    print(
        f"train {len(train)} sentences / {train.n_tokens} tokens; {args.split} {len(evaluation)} / "
        f"{evaluation.n_tokens}"
    )
    print(
        f"{'config':<16} {'acc':>7} {'oov_acc':>7} {'oov%':>5} {'sent':>6} {'fit_s':>6} {'tok/s':>9} "
        f"{'states':>6} {'n_params':>9} {'hmmlearn_alone_tok/s':>20}"
    )
    for name in args.configs.split(","):
        t0 = time.perf_counter()
        model = tagger(name).fit(train.words, train.tags)
        fit_s = time.perf_counter() - t0
        best = np.inf
        for _ in range(max(1, args.repeats)):
            t0 = time.perf_counter()
            pred = model.predict(evaluation.words)
            best = min(best, time.perf_counter() - t0)
        m = score_tags(evaluation, pred, vocab)
        # whole-model HMM size; lexicalised second-order models only exist chunk by chunk
        n_states = "chunks" if model.startprob_ is None else str(len(model.startprob_))
        alone = (
            ""
            if model.startprob_ is None or len(model.startprob_) > 400
            else f"{hmmlearn_alone(len(model.startprob_), evaluation.n_tokens, args.repeats):20.0f}"
        )
        print(
            f"{name:<16} {m['accuracy']:7.4f} {m['oov_accuracy']:7.4f} {100 * m['oov_rate']:5.1f} "
            f"{m['sentence_accuracy']:6.3f} {fit_s:6.2f} {evaluation.n_tokens / best:9.0f} "
            f"{n_states:>6} {model.n_params:9d} {alone}",
            flush=True,
        )
    if args.tnt:
        measure_tnt(train, evaluation, args.repeats)


if __name__ == "__main__":
    main()
