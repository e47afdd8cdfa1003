"""Hidden Markov models on hmmlearn: a part-of-speech tagger, a regime forecaster and a language model.

    tagger.py      HMMTagger: counted (TnT-style) or Baum-Welch; first/second order, lexicalised states
    decoding.py    exact Viterbi over the sparse state spaces: tag pairs (second order), lexicalised labels
    unknown.py     P(tag | spelling) for unseen words (logistic regression on the spelling)
    signatures.py  word shapes and suffix keys (TnT's suffix tree)
    params.py      hyperparameter names and checks, without hmmlearn (the config check imports only this)
    regimes.py     RegimeForecaster: Gaussian HMM with AR(1) means, K by BIC, filtered predictive mixtures
    lm.py          the HMM language model

The tagger is imported on first use (PEP 562), so ``harness.models.hmm.params`` stays light.
"""

from __future__ import annotations

__all__ = ["HMMTagger"]


def __getattr__(name: str):
    if name == "HMMTagger":
        from harness.models.hmm.tagger import HMMTagger

        return HMMTagger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
