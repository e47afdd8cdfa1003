"""SIGINT and SIGTERM unwind a run as ``KeyboardInterrupt`` — but never from inside a tracking write.

A signal raised in the middle of an SQLite transaction leaves the store locked, and the KILLED
status written on the way out then fails with "database is locked" (the run would stay RUNNING
and the process exit 1). Code inside ``shielded()`` therefore defers a signal to the end of its
block; anywhere else the signal is raised at once, as Python does for Ctrl-C. A shielded block needs
no handler set up first: on the main thread it installs the deferring one for its own length.

    with signals_as_interrupt():       # around a run (main thread only)
        ...                            # training: interrupted at once
        with shielded():               # an MLflow write: interrupted when it is complete
            client.log_batch(...)
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_depth = 0  # nesting of shielded() blocks
_pending: int | None = None  # a signal that arrived inside one
_raised: int | None = None  # a signal raised as KeyboardInterrupt in this signals_as_interrupt() block


def _interrupt(signum: int, frame) -> None:
    global _pending, _raised
    if _depth:
        _pending = signum
        return
    _raised = signum
    raise KeyboardInterrupt(f"signal {signum}")


def raise_if_swallowed() -> None:
    """Raise the KeyboardInterrupt of a signal already raised in this run. Python drops an exception raised
    inside a garbage-collection callback or ``__del__`` ("Exception ignored in ..."), and a signal can land
    there (SQLAlchemy's weakref callbacks, about 1 probe in 20): the training loop calls this at every batch
    and the run before it is recorded as finished, so such a Ctrl-C still stops the run."""
    if _raised is not None:
        raise KeyboardInterrupt(f"signal {_raised} (first raised where Python ignored it)")


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """A block no signal cuts in half (also usable as a decorator). Where our handler is not installed,
    the outermost block installs it and restores the previous one at its end; a deferred signal is then
    raised as ``KeyboardInterrupt`` if that handler was Python's default, else delivered to it."""
    global _depth, _pending
    previous: dict[int, object] = {}  # handlers this block replaced
    _depth += 1
    try:
        if _depth == 1:
            _take_over(previous)
        yield
    finally:
        for s, handler in previous.items():  # still deferred: _depth is not yet 0
            signal.signal(s, handler)
        _depth -= 1
        if not _depth and _pending is not None:
            signum, _pending = _pending, None
            if previous.get(signum, signal.SIG_DFL) in (signal.SIG_DFL, signal.default_int_handler):
                raise KeyboardInterrupt(f"signal {signum}")
            signal.raise_signal(signum)  # another program's handler: it gets the signal it was due


def _take_over(previous: dict[int, object]) -> None:
    """Install the deferring handler for SIGINT/SIGTERM where another one is, recording it in ``previous``;
    ignored signals and handlers not set from Python (which cannot be restored) are left alone."""
    if threading.current_thread() is not threading.main_thread():
        return
    for s in SIGNALS:
        handler = signal.getsignal(s)
        if handler not in (_interrupt, signal.SIG_IGN, None):
            previous[s] = signal.signal(s, _interrupt)


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM raise ``KeyboardInterrupt`` (outside shielded sections);
    the previous handlers come back after it. A no-op off the main thread, where Python allows none."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _raised
    previous = {s: signal.signal(s, _interrupt) for s in SIGNALS}
    _raised = None
    try:
        yield
    finally:
        _raised = None
        for s, handler in previous.items():
            signal.signal(s, handler)


def install() -> None:
    """For the rest of the process (a sweep's launcher), where no one else has set a handler."""
    if threading.current_thread() is not threading.main_thread():
        return
    for s in SIGNALS:
        if signal.getsignal(s) in (signal.SIG_DFL, signal.default_int_handler, None):
            signal.signal(s, _interrupt)
