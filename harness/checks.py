"""Checks over a whole composed config, before any data is loaded or run created.

Every number in the config must be finite: NaN and infinity pass the per-key range checks
(``nan <= 0`` is False) and would otherwise surface as a "diverged" run, a silently disabled
setting or a traceback. Every seed (``seed``, ``task.seed``, ``task.synthetic.seed``) must be a
non-negative integer, as NumPy's generators require.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from harness.errors import check_finite, check_nonnegative

SKIP = ("hydra",)  # Hydra's own settings are Hydra's business


def _leaves(node: Any, prefix: str = ""):
    if isinstance(node, dict):
        for k, v in node.items():
            if prefix or str(k) not in SKIP:
                yield from _leaves(v, f"{prefix}{k}.")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{prefix[:-1]}[{i}].")
    else:
        yield prefix[:-1], node


def check_numbers(cfg: DictConfig | dict) -> None:
    """Raise ConfigError naming the first non-finite number or negative seed in ``cfg``."""
    tree = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, (DictConfig, ListConfig)) else cfg
    for key, value in _leaves(tree):
        if isinstance(value, bool):
            continue
        if isinstance(value, float):
            check_finite(value, key)
        if key.rsplit(".", 1)[-1] == "seed" and isinstance(value, int):
            check_nonnegative(value, key)


GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per recurrent layer


def _physical_memory() -> float:
    """This machine's memory in bytes (inf where the platform does not say)."""
    import os

    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def check_memory(config: Any, memory: float | None = None) -> None:
    """Absurd sizes (``model.hidden_size=1e10``, ``task.distance=1e8``, ``model.n_states=1e5``) are one
    ConfigError before any work, not a MemoryError traceback: a lower bound of what the setting needs
    (float32 weights with their gradients and two Adam moments; float64 HMM transition tables; the
    long-range task's int64 sequences and one batch's recurrent activations; synthetic data generated in
    memory) against this machine's memory. Settings that fit, however slow, pass."""
    from harness.errors import ConfigError

    memory = _physical_memory() if memory is None else memory
    model, task = config.model, config.task
    needs: list[tuple[float, str, str, str]] = []  # (bytes, what needs them, for what, the fix)
    gates = GATES.get(getattr(model, "cell", ""), 0)
    if gates:
        H, E = int(model.hidden_size), int(getattr(model, "embedding_size", 1) or 1)
        dirs = 2 if getattr(model, "bidirectional", False) else 1
        weights = gates * H * (H + max(E, H * dirs)) * int(model.num_layers) * dirs
        needs.append(
            (
                4.0 * 4 * weights,
                f"model.hidden_size={H}",
                "its weights, gradients and Adam moments",
                "model.hidden_size",
            )
        )
    if "n_states" in getattr(model, "__dataclass_fields__", {}) and getattr(model, "n_states", None):
        K = int(model.n_states)
        needs.append((3 * 8.0 * K * K, f"model.n_states={K}", "its transition tables", "model.n_states"))
    name = getattr(task, "name", "")
    if name == "longrange":
        T = int(task.distance) + 2
        n = int(task.n_train) + int(task.n_dev) + int(task.n_test)
        counts = "" if n <= 10**6 else f" with {n:,} sequences"
        fix = "task.distance" + (" or task.n_train, task.n_dev, task.n_test" if counts else "")
        needs.append((8.0 * n * T, f"task.distance={task.distance}{counts}", "its sequences", fix))
        if gates:
            batch = 4.0 * int(model.batch_size) * T * int(model.hidden_size) * (gates + 2)
            needs.append((batch, f"task.distance={task.distance}", "one batch's activations through time", fix))
    synthetic = getattr(task, "synthetic", None) if getattr(task, "dataset", None) == "synthetic" else None
    if synthetic is not None:  # generated in memory: at least 8 bytes a symbol (128 a POS sentence: two lists)
        n = int(synthetic.n_train) + int(synthetic.n_dev) + int(synthetic.n_test)
        per_item = {"pos": 128.0, "lm": 8.0 * getattr(synthetic, "doc_length", 0)}.get(
            name, 8.0 * getattr(synthetic, "max_length", 1)
        )
        needs.append(
            (
                per_item * n,
                f"task.synthetic.n_train + n_dev + n_test = {n:,}",
                "the generated data",
                "task.synthetic.n_train",
            )
        )
    for n_bytes, setting, what, key in needs:
        if n_bytes > memory:
            raise ConfigError(
                f"{setting} needs at least {n_bytes / 2**30:,.3g} GiB for {what}, more than this machine's "
                f"{memory / 2**30:,.3g} GiB",
                f"use a smaller {key}",
            )
