"""Estimators for forecasting (harness.tasks.timeseries): the recurrent forecaster and the regime HMM.

A prediction is the predictive distribution over g (the transformed series) for every origin of the
split and horizon 1..H, a harness.forecasting.scoring.Predictive (or, for a recurrent forecaster
trained by squared error, its point forecasts (N, H)); the task turns it into original units and
scores it. Both models read only values up to each origin.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import DataError
from harness.estimators.base import Estimator, GradientEstimator, Hooks, exported_state, timed
from harness.tasks.timeseries import Scaling


def _recent(scaling: Scaling, values, needs: int) -> np.ndarray:
    """New values (T,) as float64, or a DataError when fewer than ``needs`` or not finite."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(x) < needs or not np.isfinite(x).all():
        problem = "non-finite values" if len(x) >= needs else f"{len(x)} values"
        raise DataError(
            f"the forecaster reads at least the last {needs} values, got {problem}",
            f"give at least {needs} recent finite values, oldest first",
        )
    return x


def _answer(scaling: Scaling, prediction, H: int) -> dict[str, np.ndarray]:
    """One origin's prediction over g (1, H) -> the forecast table in original units, with the 95 % interval
    (``lower``, ``upper``) when it is a distribution."""
    from dataclasses import replace

    from harness.forecasting.scoring import Predictive

    out = {"horizon": np.arange(1, H + 1)}
    if not isinstance(prediction, Predictive):
        g = np.asarray(prediction)[0]
        return out | {"forecast": np.exp(g) if scaling.log else g}
    p = replace(prediction, log=scaling.log)
    lo, hi = p.interval(95)
    return out | {"forecast": p.point()[0], "lower": lo[0], "upper": hi[0]}


def shuffled_batches(X: np.ndarray, Y: np.ndarray, batch_size: int, rng: np.random.Generator):
    """(X, Y) windows (N, W, 1) and targets (N, H) in batches of ``batch_size``, in one shuffled order."""
    order = rng.permutation(len(X))
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        yield X[idx], Y[idx]


class RecurrentForecaster(GradientEstimator):
    """harness.models.rnn.RNNForecaster on windows of u (N, W, 1), forecasting u at horizons 1..H at once."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.rnn import RNNForecaster

        cfg = cfg.budget(len(data.train))  # epochs and patience from the step budget
        super().__init__(cfg, data, rng, seed)
        self.model = RNNForecaster(1, cfg, rng, horizons=data.horizon)

    def train_batches(self, data: Any, rng: np.random.Generator):
        return shuffled_batches(data.train.X, data.train.Y, self.cfg.batch_size, rng)

    def n_train_batches(self, data: Any) -> int:
        return -(-len(data.train) // self.cfg.batch_size)

    def batch_size_of(self, batch) -> int:
        return len(batch[1])

    def predict(self, data: Any, split: str):
        mean, sd = self.model.predict_distribution(data.split(split).X)  # (N, H) each (sd None for mse)
        return data.scaling.from_u(mean, sd)

    def diagnostic_batch(self, data: Any):
        return data.train.X[-64:], data.train.Y[-64:]

    def export(self, data: Any) -> dict[str, np.ndarray]:
        """Weights (``state.*``) and the training part's transform and scales (``scaling.*``)."""
        return {f"state.{k}": v for k, v in self.state_dict().items()} | data.scaling.to_arrays()

    @classmethod
    def from_export(cls, cfg: Any, arrays: dict[str, np.ndarray]) -> RecurrentForecaster:
        from harness.models.rnn import RNNForecaster

        self = cls.__new__(cls)
        Estimator.__init__(self, cfg, None, np.random.default_rng(0), 0)
        self.scaling = Scaling.from_arrays(arrays)
        self.model = RNNForecaster(1, cfg, np.random.default_rng(0), horizons=self.scaling.horizon)
        self.model.load_state_dict(exported_state(arrays))
        return self

    def predict_new(self, values, horizon: int | None = None, **options: Any) -> dict[str, np.ndarray]:
        """Forecasts of horizons 1..H after the last of ``values`` (T,), original units, with 95 % bounds when
        the network gives a predictive spread. H is the trained horizon (or less)."""
        sc = self.scaling
        H = int(horizon or sc.horizon)
        if not 1 <= H <= sc.horizon:
            raise DataError(
                f"this recurrent forecaster was trained for horizons 1..{sc.horizon} and cannot forecast horizon {H}",
                f"set horizon=1..{sc.horizon} or train with task.horizon={H}",
            )
        x = _recent(sc, values, sc.window)
        u = sc.u_of(sc.g_of(x[-sc.window :]))  # (W,)
        mean, sd = self.model.predict_distribution(u[None, :, None])  # (1, H) each
        return _answer(sc, sc.from_u(mean[:, :H], None if sd is None else sd[:, :H]), H)


def check_regime_size(cfg: Any, n: int) -> None:
    """Before any run is recorded: the regime model needs MIN_POINTS_PER_STATE training points per state."""
    from harness.models.hmm.regimes import MIN_POINTS_PER_STATE

    most = n // MIN_POINTS_PER_STATE
    if cfg.n_states is not None and cfg.n_states > most:
        raise DataError(
            f"model.n_states={cfg.n_states} needs at least {MIN_POINTS_PER_STATE * cfg.n_states} training points "
            f"({MIN_POINTS_PER_STATE} per state), and the series' training part has {n}",
            f"set model.n_states to at most {most}, or null to choose it by BIC",
        )
    if most < 1:
        raise DataError(
            f"the series' training part has {n} points, too few for a regime model ({MIN_POINTS_PER_STATE} per state)",
            "use a longer series",
        )


class HMMForecaster(Estimator):
    """harness.models.hmm.regimes.RegimeForecaster fitted on the training part of z."""

    def __init__(self, cfg: Any, data: Any, rng: np.random.Generator, seed: int):
        from harness.models.hmm.regimes import RegimeForecaster

        super().__init__(cfg, data, rng, seed)
        self.model = RegimeForecaster(**cfg.estimator_params(), random_state=seed)
        check_regime_size(cfg, len(data.z_train))

    def fit(self, data: Any, hooks: Hooks) -> dict[str, float]:
        return timed(lambda: self.model.fit(data.z_train))

    def predict(self, data: Any, split: str):
        o = data.split(split).origin  # (N,)
        d0 = int(data.differenced)  # z starts at position 1 when differenced
        W, M, S = self.model.predict_distribution(
            data.z[d0:], data.horizon, origins=o - d0, cumulative=data.differenced
        )
        return data.scaling.from_z(W, M, S, data.g[o])

    def metrics(self, data: Any) -> dict[str, float]:
        return {"bic": float(self.model.bic_[len(self.model.c_)]), "n_states": float(len(self.model.c_))}

    def artifacts(self, data: Any):
        def write_regimes(path) -> None:  # filtered states on the training part, and one row per regime
            from harness.diagnostics import write_csv, write_regime_artifacts

            title = f"regime HMM on {data.name} ({data.transform}, z standardised), filtered states"
            write_regime_artifacts(self.model.regime_table(data.z_train), path.parent, title)
            rows = self.model.regimes()
            write_csv(path.with_name("regimes_summary.csv"), {k: np.array([r[k] for r in rows]) for k in rows[0]})

        return {"regimes.csv": write_regimes}

    @property
    def n_params(self) -> int:
        return self.model.n_params

    def export(self, data: Any) -> dict[str, np.ndarray]:
        """The regime model (``state.*``) and the training part's transform and scales (``scaling.*``)."""
        return {f"state.{k}": v for k, v in self.state_dict().items()} | data.scaling.to_arrays()

    @classmethod
    def from_export(cls, cfg: Any, arrays: dict[str, np.ndarray]) -> HMMForecaster:
        from harness.models.hmm.regimes import RegimeForecaster

        self = cls.__new__(cls)
        Estimator.__init__(self, cfg, None, np.random.default_rng(0), 0)
        self.scaling = Scaling.from_arrays(arrays)
        self.model = RegimeForecaster.from_state_dict(exported_state(arrays))
        return self

    def predict_new(self, values, horizon: int | None = None, **options: Any) -> dict[str, np.ndarray]:
        """Forecasts of horizons 1..H after the last of ``values`` (T,), original units (H = ``horizon``,
        default the trained horizon), with the 95 % interval of the filtered mixture."""
        sc = self.scaling
        H = int(horizon or sc.horizon)
        if H < 1:
            raise DataError(f"horizon must be >= 1, got {H}", "set horizon=1 or more")
        x = _recent(sc, values, 2 + int(sc.differenced))
        g = sc.g_of(x)
        z = sc.z_of(g)[int(sc.differenced) :]  # (T',)
        W, M, S = self.model.predict_distribution(z, H, origins=np.array([len(z) - 1]), cumulative=sc.differenced)
        return _answer(sc, sc.from_z(W, M, S, g[-1:]), H)
