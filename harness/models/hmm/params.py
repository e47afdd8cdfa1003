"""The HMM models' hyperparameter names and checks, without hmmlearn or scikit-learn.

``HMMTagger.check_params`` and ``RegimeForecaster.fit`` run these checks, and so does
the config check (harness.config) on a config's values directly, so validating a config does not
pay for importing hmmlearn and scikit-learn (~2 s). Each raises one ConfigError naming the
``model.*`` key and the fix.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from harness.errors import ConfigError, check_choice, check_finite, check_nonnegative, check_positive

TRAININGS = ("supervised", "unsupervised")
INITS = ("frequency", "random")
UNKNOWN_MODELS = ("logistic", "suffix")

# HMMTagger's hyperparameters (its __init__ arguments, in order)
TAGGER_HYPERPARAMS = (
    "order",
    "smoothing",
    "rare_threshold",
    "max_suffix",
    "unknown",
    "unknown_c",
    "case_weight",
    "capitalization",
    "lexicalize",
    "training",
    "n_states",
    "n_iter",
    "tol",
    "init",
    "random_state",
    "chunk_tokens",
)


def check_tagger_params(p: Mapping[str, Any]) -> None:
    """HMMTagger hyperparameters by name: those of TAGGER_HYPERPARAMS that ``p`` holds and that have checks
    (a supervised config holds no Baum-Welch settings, an unsupervised one no unknown-word model's)."""
    training = p.get("training", "supervised")
    if training not in TRAININGS:
        raise ConfigError(
            f"model.training must be one of {list(TRAININGS)}, got {training!r}",
            "use model=hmm (supervised) or model=hmm_unsupervised",
        )
    order = p.get("order", 1)
    if order not in (1, 2):
        raise ConfigError(f"model.order must be 1 or 2, got {order}", "set model.order=1 or model.order=2")
    for key, choices in (("init", INITS), ("unknown", UNKNOWN_MODELS)):
        if key in p:
            check_choice(p[key], f"model.{key}", choices)
    if "unknown_c" in p and not (p["unknown_c"] > 0 and math.isfinite(p["unknown_c"])):
        raise ConfigError(f"model.unknown_c must be > 0, got {p['unknown_c']}", "set model.unknown_c=0.3")
    for key in ("smoothing", "case_weight", "lexicalize", "tol", "rare_threshold", "max_suffix"):
        value = p.get(key, 0)
        if key != "tol":
            check_finite(value, f"model.{key}")  # the message the config check gives NaN/inf anywhere
        if not value >= 0 or (key != "tol" and not math.isfinite(value)):  # tol=inf: stop after one iteration
            raise ConfigError(f"model.{key} must be >= 0, got {value}", f"set model.{key}=0 or more")
    if training == "unsupervised" and order != 1:
        raise ConfigError(
            f"model.training=unsupervised is first order only, got model.order={order}", "set model.order=1"
        )
    if "n_iter" in p:
        check_positive(p["n_iter"], "model.n_iter")
    if p.get("n_states") is not None:
        check_positive(p["n_states"], "model.n_states")


def check_regime_params(p: Mapping[str, Any]) -> None:
    """RegimeForecaster hyperparameters by name (n_states or None, max_states, n_iter, tol)."""
    if p.get("n_states") is not None:
        check_positive(p["n_states"], "model.n_states")
    check_positive(p["max_states"], "model.max_states")
    check_positive(p["n_iter"], "model.n_iter")
    check_nonnegative(p["tol"], "model.tol")


_NONE = np.zeros(0)  # a hyperparameter set to None, in state_dict (np.array(None) would need a pickle)


def hyperparams_state(model) -> dict[str, np.ndarray]:
    """A model's HYPERPARAMS as 0-d arrays (None as an empty one): numeric or 'U', no pickle needed."""
    return {k: _NONE if getattr(model, k) is None else np.array(getattr(model, k)) for k in model.HYPERPARAMS}


def hyperparams_from_state(d, names) -> dict:
    """The inverse of ``hyperparams_state``: the same values with the same Python types."""
    return {k: None if d[k].size == 0 else d[k].item() for k in names}
