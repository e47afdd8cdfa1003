"""Errors a user can cause and fix: each carries one sentence naming the problem and the fix.

The CLI turns a ``HarnessError`` into one line on stderr and exit status 2; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import math


class HarnessError(Exception):
    """A problem with the user's input: config, data or environment."""

    exit_status = 2

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem}; {fix}")


class ConfigError(HarnessError):
    """A config value or combination that cannot work."""


class DataError(HarnessError):
    """A missing, empty or malformed data file or series."""


class RunFailed(HarnessError):
    """A run that started but could not finish (e.g. its loss diverged); exit status 1, not 2."""

    exit_status = 1


class TrackingError(HarnessError):
    """The MLflow tracking store cannot be reached or written."""


class TrackingLost(TrackingError):
    """The tracking server stopped answering while a run was open: exit status 1 (the run started), one line
    with the run id and how to continue it."""

    exit_status = 1

    def __init__(self, uri: str, run_id: str | None, cause: BaseException):
        reason = str(cause).split(" (Caused by")[0].split(" with url:")[0][:200]
        if run_id is None:
            super().__init__(
                f"the tracking server at {uri} stopped answering before the run was created ({reason})",
                "check that the server is up, then run the same command again",
            )
        else:
            super().__init__(
                f"the tracking server at {uri} stopped answering during run {run_id} ({reason}); the run stays "
                "RUNNING there with its last epoch's checkpoint",
                f"restart the server, then continue with the same overrides plus resume={run_id} "
                "(or end it with python -m harness.runs stale --end)",
            )
        self.run_id = run_id


def check_finite(value: int | float, key: str) -> int | float:
    """Return ``value`` unless it is NaN or infinite (which pass every comparison check: ``nan <= 0`` is
    False), else raise a ConfigError naming ``key``."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}", f"set {key}=<a finite number>")
    return value


def check_nonnegative(value: int | float, key: str) -> int | float:
    """Return ``value`` if it is finite and >= 0, else raise a ConfigError naming ``key``."""
    check_finite(value, key)
    if value < 0:
        raise ConfigError(f"{key} must be >= 0, got {value!r}", f"set {key}=0 or more")
    return value


def check_positive(value: int | float, key: str) -> int | float:
    """Return ``value`` if it is finite and > 0, else raise a ConfigError naming ``key``."""
    check_finite(value, key)
    if value <= 0:
        raise ConfigError(f"{key} must be positive, got {value!r}", f"set {key}=<a number > 0>")
    return value


def check_choice(value, key: str, choices) -> None:
    """Raise a ConfigError naming ``key`` and the valid ``choices`` unless ``value`` is one of them."""
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not a valid choice", f"use one of: {', '.join(choices)}")


def check_fraction(value: float, key: str, *, closed_low: bool = True, closed_high: bool = False) -> float:
    """Return ``value`` if it lies in [0, 1) (bounds configurable), else raise a ConfigError (NaN lies nowhere)."""
    check_finite(value, key)
    low_ok = value >= 0 if closed_low else value > 0
    high_ok = value <= 1 if closed_high else value < 1
    if not (low_ok and high_ok):
        lo = "[" if closed_low else "("
        hi = "]" if closed_high else ")"
        raise ConfigError(f"{key} must lie in {lo}0, 1{hi}, got {value!r}", f"set {key} to a fraction")
    return value
