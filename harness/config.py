"""Typed config schemas, registered in Hydra's ConfigStore, and the checks a type cannot express.

Every YAML file under ``conf/`` extends one of these dataclasses (through its defaults list), so a
misspelt key or a value of the wrong type fails while Hydra composes the config, before any work.
``to_config`` then turns the composed ``DictConfig`` into a ``Config`` object and checks values and
combinations that a type alone cannot express.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from harness.errors import ConfigError, check_choice, check_fraction, check_positive

# ----------------------------------------------------------------------------------------------
# models


# Word features of the recurrent taggers. Measured on UD English EWT (BiLSTM, dropout 0.3, seed 0): dev
# accuracy 0.9309 with the word alone, 0.9484 with these (test 0.9293 -> 0.9510, OOV 0.58 -> 0.78).
DEFAULT_FEATURES = ("word", "lower", "prefix2", "suffix1", "suffix2", "suffix3", "shape")


@dataclass
class RecurrentConfig:
    """A NumPy recurrent network (``rnn``, ``lstm`` or ``gru``) trained by BPTT."""

    name: str = "rnn"
    cell: str = "rnn"  # rnn | lstm | gru
    nonlinearity: str = "tanh"  # rnn only: tanh | relu
    embedding_size: int = 64  # word embedding width
    feature_size: int = 16  # width of each extra word-feature embedding (suffixes, shape, ...)
    features: List[str] = field(
        default_factory=lambda: list(DEFAULT_FEATURES)
    )  # pos only; see harness.tasks.pos.FEATURES
    word_dropout: float = 0.25  # pos only: a word seen c times trains as <unk> with probability a / (a + c)
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0  # between stacked layers, and on the recurrent layer's input
    bptt_steps: int = 0  # truncated BPTT chunk length; 0 = full backpropagation through time
    optimizer: str = "adam"  # adam | sgd
    lr: float = 0.003
    momentum: float = 0.0  # sgd only
    weight_decay: float = 0.0
    clip_norm: float = 5.0  # global gradient-norm clipping; 0 = off
    epochs: int = 10
    batch_size: int = 32
    patience: int = 3  # early stopping: epochs without a better dev score
    init_scale: float = 0.1  # embedding init std


@dataclass
class HMMConfig:
    """An hmmlearn hidden Markov model: supervised/unsupervised tagger or Gaussian forecaster."""

    name: str = "hmm"
    order: int = 1  # tagger: 1 = bigram, 2 = trigram (tag-pair states)
    training: str = "supervised"  # tagger: supervised | unsupervised (Baum-Welch)
    smoothing: float = (
        0.5  # tagger: weight of the unknown-word model in known words' P(tag|word); 0 = TnT's plain counts
    )
    rare_threshold: int = 10  # tagger: words seen <= this often train the unknown-word (suffix) model
    unknown: str = "logistic"  # tagger: unknown-word model, logistic (spelling features) | suffix (TnT's suffix tree)
    unknown_c: float = 0.3  # tagger: inverse L2 strength of the logistic unknown-word model
    max_suffix: int = 10  # tagger: longest suffix the suffix unknown-word model reads
    case_weight: float = 1.0  # tagger: weight of a known other-case form (CALL -> call) for an unknown word
    capitalization: bool = False  # tagger: TnT's capitalisation flags (states = (tag, capitalised?))
    lexicalize: int = 0  # tagger: the N most ambiguous words get their own states (more accurate, slower)
    init: str = "frequency"  # unsupervised tagger: frequency | random initial emissions
    n_states: Optional[int] = None  # unsupervised tagger (None = number of tags) / forecaster (None = 3)
    covariance_type: str = "diag"  # forecaster: spherical | diag | full | tied
    n_iter: int = 100  # Baum-Welch iterations
    tol: float = 1e-3  # Baum-Welch convergence tolerance (log-likelihood), unsupervised tagger and forecaster


MODEL_SCHEMAS = {"recurrent": RecurrentConfig, "hmm": HMMConfig}
CELLS = ("rnn", "lstm", "gru")

# ----------------------------------------------------------------------------------------------
# tasks


@dataclass
class SyntheticPosConfig:
    """Knobs of the embedded English-like tagged-corpus generator (harness.data.synthetic)."""

    n_train: int = 3000  # sentences
    n_dev: int = 500
    n_test: int = 500
    vocab_size: int = 5000  # word types in the lexicon (more types = more unseen words in test)
    ambiguity: float = 0.3  # fraction of open-class word types that also belong to a second tag
    zipf: float = 1.0  # word-frequency exponent within a tag's lexicon; lower = flatter = more OOV
    long_range: int = 0  # k > 0: the tag at i also depends on the word at i-k (harness.data.synthetic); 0 = first order
    long_range_strength: float = 1.0  # in [0, 1]: how strongly that word pulls the tag (1 = the most possible)
    seed: Optional[int] = None  # None = the run's seed


@dataclass
class PosTaskConfig:
    """Part-of-speech tagging: one tag per word (many-to-many)."""

    name: str = "pos"
    dataset: str = "synthetic"  # synthetic | conllu | two_column | ud_english_ewt
    path: Optional[str] = (
        None  # conllu: folder with *-ud-{train,dev,test}.conllu; two_column: folder with {train,dev,test}.tsv
    )
    tagset: str = "upos"  # upos | xpos (CoNLL-U column)
    train_size: Optional[float] = (
        None  # None = all; <= 1 = fraction (1 = all); > 1 = count of training sentences (nested subsets)
    )
    synthetic: SyntheticPosConfig = field(default_factory=SyntheticPosConfig)


@dataclass
class TimeSeriesTaskConfig:
    """Forecasting: a window of past values predicts the value ``horizon`` steps ahead (many-to-one)."""

    name: str = "timeseries"
    dataset: str = "sunspots"  # sunspots | co2 | nile | elnino | csv | synthetic_ar | synthetic_sine | synthetic_regime
    path: Optional[str] = None  # csv only
    time_column: Optional[str] = None
    value_column: Optional[str] = None
    window: int = 24
    horizon: int = 1
    dev_fraction: float = 0.15
    test_fraction: float = 0.15
    transform: str = "none"  # none | log | diff | log_diff
    missing: str = "interpolate"  # interpolate | drop | error
    season: Optional[int] = None  # None = the data set's known season
    arima_order: Optional[List[int]] = (
        None  # [p,d,q] or [p,d,q,P,D,Q]; None = the data set's default (AIC on train+dev)
    )
    n_points: int = 600  # synthetic series length


@dataclass
class LongRangeTaskConfig:
    """Recall a class cue seen ``distance`` steps earlier (many-to-one; harness.tasks.longrange)."""

    name: str = "longrange"
    dataset: str = "synthetic"  # synthetic only: generated by harness.data.longrange
    distance: int = 10  # steps from the cue (first symbol) to the query (last symbol), where the label is due
    n_classes: int = 4  # cue symbols = labels; chance accuracy = 1 / n_classes
    n_distractors: int = 8  # distractor symbols drawn uniformly between cue and query
    cue_distractors: bool = False  # true: the cue symbols recur among the distractors (recall the first cue)
    min_distance: Optional[int] = None  # set: the gap varies uniformly in [min_distance, distance]; None = fixed
    vary_gap: bool = False  # true (and min_distance unset): the gap varies in [distance // 2, distance], no fixed clock
    n_train: int = 2000  # sequences
    n_dev: int = 500
    n_test: int = 1000
    seed: Optional[int] = None  # None = the run's seed


from harness.tasks.lm_config import LMTaskConfig  # noqa: E402  (issue 15; the lead moves it here)

TASK_SCHEMAS = {
    "pos": PosTaskConfig,
    "timeseries": TimeSeriesTaskConfig,
    "longrange": LongRangeTaskConfig,
    "lm": LMTaskConfig,
}

# ----------------------------------------------------------------------------------------------
# root


@dataclass
class Config:
    model: Any = MISSING
    task: Any = MISSING
    seed: int = 0
    experiment_name: Optional[str] = None  # MLflow experiment; None = the task's name
    run_name: Optional[str] = None  # None = "<model>-<task>-seed<seed>"
    tracking_uri: Optional[str] = None  # None = $MLFLOW_TRACKING_URI or sqlite:///<project>/mlflow.db
    progress: bool = True  # tqdm bar per epoch (shown only on a terminal)
    resume: Optional[str] = None  # an MLflow run id: continue that run from its last checkpoint
    threads: int = (
        1  # BLAS threads; the per-step products are small, so 1 is fastest (and sweeps run jobs side by side)
    )


CONFIG_MODULE = "harness.conf"  # the package holding config.yaml and the model/task/experiment groups


@functools.cache
def register_configs() -> None:
    """The schemas in Hydra's ConfigStore, once per process (the store outlives GlobalHydra.clear())."""
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    for name, schema in MODEL_SCHEMAS.items():
        cs.store(group="model", name=f"{name}_schema", node=schema)
    for name, schema in TASK_SCHEMAS.items():
        cs.store(group="task", name=f"{name}_schema", node=schema)


def compose_config(overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    """The config Hydra composes for ``overrides`` (``conf/config.yaml`` plus the schemas), without a
    Hydra app; Hydra's own errors pass through. Hydra's global state is left clear."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name="config", overrides=overrides, return_hydra_config=return_hydra_config)
    finally:
        GlobalHydra.instance().clear()


def hmm_tagger_params(model: HMMConfig) -> dict[str, Any]:
    """The HMMTagger keyword arguments an HMM config sets (all its hyperparameters but the seed)."""
    from harness.models.hmm_params import TAGGER_HYPERPARAMS

    return {f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.name in TAGGER_HYPERPARAMS}


def hmm_forecaster_params(model: HMMConfig) -> dict[str, Any]:
    """The GaussianHMMForecaster keyword arguments an HMM config sets (n_states None: 3 states)."""
    n_states = 3 if model.n_states is None else model.n_states
    return {"n_states": n_states, "covariance_type": model.covariance_type, "n_iter": model.n_iter, "tol": model.tol}


def model_family(model: Any) -> str:
    return "hmm" if isinstance(model, HMMConfig) else "recurrent"


def to_config(cfg: DictConfig) -> Config:
    """The composed Hydra config as typed objects, with every value and combination checked."""
    known = {f.name for f in dataclasses.fields(Config)}
    extra = sorted(set(cfg.keys()) - known)
    if extra:
        raise ConfigError(f"unknown config key {extra[0]!r}", f"valid top-level keys: {', '.join(sorted(known))}")
    config = Config(
        model=OmegaConf.to_object(cfg.model),
        task=OmegaConf.to_object(cfg.task),
        seed=cfg.seed,
        experiment_name=cfg.experiment_name,
        run_name=cfg.run_name,
        tracking_uri=cfg.tracking_uri,
        progress=cfg.progress,
        resume=cfg.resume,
        threads=cfg.threads,
    )
    check_config(config)
    return config


def check_config(config: Config) -> None:
    """Values and combinations a type cannot express; raises ConfigError naming the key and the fix."""
    m, t = config.model, config.task
    family = model_family(m)
    task = t.name  # every model family handles every task (harness.experiment.TASKS)
    check_positive(config.threads, "threads")
    if config.seed < 0:
        raise ConfigError(f"seed must be >= 0, got {config.seed}", "set seed=<a non-negative integer>")
    if family == "recurrent":
        check_choice(m.cell, "model.cell", CELLS)
        check_choice(m.nonlinearity, "model.nonlinearity", ("tanh", "relu"))
        check_choice(m.optimizer, "model.optimizer", ("adam", "sgd"))
        for key in ("embedding_size", "hidden_size", "num_layers", "epochs", "batch_size", "lr", "feature_size"):
            check_positive(getattr(m, key), f"model.{key}")
        for key in ("patience", "bptt_steps", "clip_norm", "weight_decay", "momentum", "word_dropout"):
            if getattr(m, key) < 0:
                raise ConfigError(f"model.{key} must be >= 0, got {getattr(m, key)}", f"set model.{key}=0 or more")
        check_fraction(m.dropout, "model.dropout")
        if m.bptt_steps and m.bidirectional:
            raise ConfigError(
                "model.bptt_steps (truncated BPTT) needs a unidirectional model: a reverse "
                "direction reads the whole sequence",
                "drop model.bptt_steps or set model.bidirectional=false",
            )
        if task == "pos":
            from harness.tasks.pos import FEATURES

            if "word" not in m.features:
                raise ConfigError("model.features must include 'word'", "e.g. model.features=[word,suffix3,shape]")
            for f in m.features:
                check_choice(f, "model.features entry", sorted(FEATURES))
        elif list(m.features) != list(DEFAULT_FEATURES):
            raise ConfigError(
                f"model.features={m.features} only applies to task=pos", "drop the model.features override"
            )
    else:
        from harness.models.hmm_params import check_forecaster_params, check_tagger_params

        check_tagger_params(hmm_tagger_params(m))  # the models' own checks (without hmmlearn): one source of messages
        check_forecaster_params(hmm_forecaster_params(m))
        if task == "timeseries" and (m.order != 1 or m.training != "supervised"):
            raise ConfigError(
                "model.order and model.training apply to the HMM tagger, not to task=timeseries",
                "drop those overrides (the forecaster is a Gaussian HMM fitted by Baum-Welch)",
            )
    if task == "pos":
        check_choice(t.dataset, "task.dataset", ("synthetic", "conllu", "two_column", "ud_english_ewt"))
        check_choice(t.tagset, "task.tagset", ("upos", "xpos"))
        if t.dataset in ("conllu", "two_column") and not t.path:
            raise ConfigError(f"task.dataset={t.dataset} needs task.path", "set task.path=<folder with the data files>")
        if t.train_size is not None:
            check_positive(t.train_size, "task.train_size")
        s = t.synthetic
        for key in ("n_train", "n_dev", "n_test", "vocab_size"):
            check_positive(getattr(s, key), f"task.synthetic.{key}")
        check_fraction(s.ambiguity, "task.synthetic.ambiguity", closed_high=True)
        if s.long_range < 0:
            raise ConfigError(
                f"task.synthetic.long_range must be >= 0, got {s.long_range}",
                "set task.synthetic.long_range=0 (first order) or k > 0",
            )
        check_fraction(s.long_range_strength, "task.synthetic.long_range_strength", closed_high=True)
    elif task == "lm":
        pass  # harness.tasks.lm.load checks its own values (one-line ConfigError/DataError)
    elif task == "longrange":
        check_choice(t.dataset, "task.dataset", ("synthetic",))
        for key in ("distance", "n_distractors", "n_train", "n_dev", "n_test"):
            check_positive(getattr(t, key), f"task.{key}")
        if t.n_classes < 2:
            raise ConfigError(f"task.n_classes must be >= 2, got {t.n_classes}", "set task.n_classes=2 or more")
        if t.min_distance is not None and not 1 <= t.min_distance <= t.distance:
            raise ConfigError(
                f"task.min_distance must lie in [1, task.distance={t.distance}], got {t.min_distance}",
                "set task.min_distance=null (fixed gap) or a value up to task.distance",
            )
    else:
        from harness.data.series import DATASETS, MISSING_POLICIES
        from harness.tasks.timeseries import TRANSFORMS

        check_choice(t.dataset, "task.dataset", DATASETS)
        check_choice(t.transform, "task.transform", TRANSFORMS)
        check_choice(t.missing, "task.missing", MISSING_POLICIES)
        if t.dataset == "csv" and not t.path:
            raise ConfigError(
                "task.dataset=csv needs task.path", "set task.path=<file.csv> and task.value_column=<column>"
            )
        from harness.tasks.timeseries import check_config as check_timeseries

        check_positive(t.n_points, "task.n_points")
        check_timeseries(t)  # window, horizon, fractions, season, ARIMA order


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dict/DictConfig -> {"model.hidden_size": 128, ...} (lists kept as values)."""
    if isinstance(d, DictConfig):
        d = OmegaConf.to_container(d, resolve=True)
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
