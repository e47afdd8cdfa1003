"""Sweeps: expand ``-m`` overrides into jobs and check each one before Hydra launches any."""

from __future__ import annotations

import itertools
import sys
from typing import Callable

from hydra.core.override_parser.overrides_parser import OverridesParser

from harness.errors import ConfigError


def sweep_combinations(overrides: list[str]) -> list[list[str]]:
    """Every job's override list, like Hydra's basic sweeper (cartesian product of comma lists)."""
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except Exception as exc:
        raise ConfigError(f"cannot parse the sweep overrides ({str(exc).splitlines()[0]})", "write key=a,b,c") from None
    axes = []
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override():
            axes.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            axes.append([f"{key}={o.get_value_element_as_str()}"])
    return [list(combo) for combo in itertools.product(*axes)]


def expand_sweep(overrides: list[str], check: Callable[[list[str]], object]) -> list[list[str]]:
    """Check every combination; combinations whose model and task don't fit are reported and skipped
    (the job itself skips them too); any other problem stops the sweep before it starts."""
    runnable = []
    for combo in sweep_combinations(overrides):
        try:
            check(combo)
            runnable.append(combo)
        except ConfigError as error:
            if "does not support" not in error.problem:
                raise
            print(f"harness: skipping {' '.join(combo)}: {error.problem}", file=sys.stderr)
    if not runnable:
        raise ConfigError("no combination in this sweep can run", "check the model and task lists")
    return runnable
