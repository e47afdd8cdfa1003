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
