"""Hidden Markov models: a part-of-speech tagger and a Gaussian-HMM forecaster, on hmmlearn.

    tagger.py      HMMTagger: counted (TnT-style) or Baum-Welch; first/second order, lexicalised states
    decoding.py    exact Viterbi over the sparse state spaces: tag pairs (second order), lexicalised labels
    unknown.py     P(tag | spelling) for unseen words (logistic regression on the spelling)
    signatures.py  word shapes and suffix keys (TnT's suffix tree)
    params.py      hyperparameter names and checks, without hmmlearn (the config check imports only this)
    forecaster.py  GaussianHMMForecaster: forecasts from the filtered state distribution

The two models are imported on first use (PEP 562), so ``harness.models.hmm.params`` stays light.
"""

from __future__ import annotations

__all__ = ["HMMTagger", "GaussianHMMForecaster"]


def __getattr__(name: str):
    if name == "HMMTagger":
        from harness.models.hmm.tagger import HMMTagger

        return HMMTagger
    if name == "GaussianHMMForecaster":
        from harness.models.hmm.forecaster import GaussianHMMForecaster

        return GaussianHMMForecaster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
