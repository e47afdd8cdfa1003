"""The loop for gradient-trained models: epochs of shuffled batches, gradient clipping, an optimiser
step, dev evaluation, early stopping with the best epoch restored, a progress bar, epoch callbacks.

It knows nothing of tasks or tracking: the caller passes functions that make batches and score
the dev set, and a callback that receives each epoch's metrics.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

import numpy as np
from tqdm import tqdm

from harness.interrupts import raise_if_swallowed, shielded
from harness.models.nn.optim import clip_global_norm, make_optimizer


class GradientModel(Protocol):
    params: dict[str, np.ndarray]

    def loss_and_grads(self, batch, rng: np.random.Generator | None = None) -> tuple[float, dict[str, np.ndarray]]: ...

    def state_dict(self) -> dict[str, np.ndarray]: ...

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None: ...


class DivergenceError(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    dev_score: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    best_epoch: int = 0  # 1-based
    seconds: float = 0.0
    n_train_items: int = 0  # tokens or windows seen in training (all epochs)


def pack_state(
    model, optimizer, rng, epoch: int, best_state, best_score: float, bad_epochs: int, history: History
) -> dict[str, np.ndarray]:
    """Everything needed to continue training exactly: weights, optimiser moments, RNG, early-stopping
    position and history, as plain arrays (``np.savez``; loads with ``allow_pickle=False``)."""
    d = {f"model.{k}": v for k, v in model.state_dict().items()}
    d |= {f"optim.{k}": np.asarray(v) for k, v in optimizer.state_dict().items()}
    d |= {f"best.{k}": v for k, v in best_state.items()}
    d |= {
        f"history.{k}": np.asarray(getattr(history, k), dtype=np.float64)
        for k in ("train_loss", "dev_score", "grad_norm")
    }
    d["epoch"] = np.array(epoch)
    d["rng"] = np.array(json.dumps(rng.bit_generator.state))
    d["best_score"], d["bad_epochs"] = np.array(best_score), np.array(bad_epochs)
    d["best_epoch"], d["seconds"] = np.array(history.best_epoch), np.array(history.seconds)
    d["n_train_items"] = np.array(history.n_train_items)
    return d


def unpack_state(d: dict[str, np.ndarray], model, optimizer, rng) -> tuple[int, dict, float, int, History]:
    """The inverse of ``pack_state``: restores ``model``, ``optimizer`` and ``rng`` in place and returns
    (epoch, best_state, best_score, bad_epochs, history)."""

    def part(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in d.items() if k.startswith(prefix)}

    model.load_state_dict(part("model."))
    optimizer.load_state_dict(part("optim."))
    rng.bit_generator.state = json.loads(str(d["rng"]))
    history = History(
        **{k: d[f"history.{k}"].tolist() for k in ("train_loss", "dev_score", "grad_norm")},
        best_epoch=int(d["best_epoch"]),
        seconds=float(d["seconds"]),
        n_train_items=int(d["n_train_items"]),
    )
    return int(d["epoch"]), part("best."), float(d["best_score"]), int(d["bad_epochs"]), history


def fit(
    model: GradientModel,
    cfg,  # RecurrentConfig: optimizer, lr, momentum, weight_decay, clip_norm, epochs, patience
    train_batches: Callable[[np.random.Generator], Iterable],
    batch_size_of: Callable[[object], int],
    dev_score: Callable[[], float],
    rng: np.random.Generator,
    higher_is_better: bool = True,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = True,
    checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None,
    resume: dict[str, np.ndarray] | None = None,
    n_batches: int | None = None,
    dev_name: str = "dev_score",
) -> History:
    """Train ``model`` in place; returns the history with the best dev epoch's weights restored.

    ``checkpoint`` receives the packed training state before the first epoch and after every epoch;
    ``resume`` (such a state) continues from there, bit for bit as if never stopped.

    With ``progress``, each epoch shows a bar on a terminal (``n_batches`` gives it a total, so a
    percentage and an ETA) and ends with one line on stderr, terminal or not:
    ``epoch 3/10: train_loss=0.0787 dev_accuracy=0.9512 best 4.1s`` (``dev_name`` labels the dev score).
    """
    optimizer = make_optimizer(cfg.optimizer, model.params, cfg.lr, cfg.momentum, cfg.weight_decay)
    history = History()
    best_score, best_state, bad_epochs = -math.inf, model.state_dict(), 0
    sign = 1.0 if higher_is_better else -1.0
    first_epoch = 1
    if resume is not None:
        done, best_state, best_score, bad_epochs, history = unpack_state(resume, model, optimizer, rng)
        first_epoch = done + 1
        if cfg.patience and bad_epochs >= cfg.patience:
            first_epoch = cfg.epochs + 1  # it had already stopped early (killed while testing)
    elif checkpoint is not None:
        checkpoint(pack_state(model, optimizer, rng, 0, best_state, best_score, bad_epochs, history))
    start = time.perf_counter() - history.seconds
    for epoch in range(first_epoch, cfg.epochs + 1):
        # one pass over the shuffled training batches
        losses, weights, norms = [], [], []
        bar = tqdm(
            train_batches(rng),
            desc=f"epoch {epoch}/{cfg.epochs}",
            total=n_batches,
            unit="batch",
            leave=False,
            disable=None if progress else True,
            file=sys.stderr,
        )
        for batch in bar:
            raise_if_swallowed()  # a Ctrl-C that landed where Python ignores exceptions
            loss, grads = model.loss_and_grads(batch, rng)
            if not math.isfinite(loss):
                raise DivergenceError(f"training loss became {loss} in epoch {epoch}")
            norms.append(clip_global_norm(grads, cfg.clip_norm))
            optimizer.step(grads)
            n = batch_size_of(batch)
            losses.append(loss * n)
            weights.append(n)
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        train_loss = float(np.sum(losses) / max(np.sum(weights), 1))
        history.n_train_items += int(np.sum(weights))

        # dev evaluation and early stopping
        score = dev_score()
        if not math.isfinite(score):
            raise DivergenceError(f"dev score became {score} in epoch {epoch}")
        history.train_loss.append(train_loss)
        history.dev_score.append(score)
        history.grad_norm.append(float(np.mean(norms)) if norms else 0.0)
        # the epoch's figures and its checkpoint as one step: a signal between them would leave the epoch
        # logged but not checkpointed, and a resume would run and log it a second time
        with shielded():
            if on_epoch is not None:
                on_epoch(epoch, {"train_loss": train_loss, "dev_score": score, "grad_norm": history.grad_norm[-1]})
            if sign * score > best_score:
                best_score, best_state, bad_epochs = sign * score, model.state_dict(), 0
                history.best_epoch = epoch
            else:
                bad_epochs += 1
            epoch_seconds = time.perf_counter() - start - history.seconds
            history.seconds = time.perf_counter() - start
            if progress:
                print(
                    epoch_line(
                        epoch, cfg.epochs, train_loss, dev_name, score, history.best_epoch == epoch, epoch_seconds
                    ),
                    file=sys.stderr,
                    flush=True,
                )
            # checkpoint the position, then stop early if dev has not improved for `patience` epochs
            if checkpoint is not None:
                checkpoint(pack_state(model, optimizer, rng, epoch, best_state, best_score, bad_epochs, history))
        if cfg.patience and bad_epochs >= cfg.patience:
            break
    model.load_state_dict(best_state)
    history.seconds = time.perf_counter() - start
    return history


def epoch_line(
    epoch: int, epochs: int, train_loss: float, dev_name: str, score: float, best: bool, seconds: float
) -> str:
    """The line that ends an epoch: ``epoch 3/10: train_loss=0.0787 dev_accuracy=0.9512 best 4.1s``."""
    return f"epoch {epoch}/{epochs}: train_loss={train_loss:.4f} {dev_name}={score:.4f}{' best' if best else ''} {seconds:.1f}s"
