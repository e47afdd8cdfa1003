"""harness: recurrent neural networks against hidden Markov models on sequence tasks.

``harness.run(["model=lstm", "task=pos"])`` trains and evaluates one model as the command line
does and returns a ``RunResult`` (``run_id``, ``metrics``, ``main_metric``); see harness.api.
"""

__version__ = "0.1.0"

__all__ = ["RunResult", "__version__", "run"]


def run(overrides=(), **settings):
    """Train and evaluate one model on one task (command-line overrides); returns its ``RunResult``."""
    from harness.api import run as _run

    return _run(overrides, **settings)


def __getattr__(name):
    if name == "RunResult":
        from harness.experiment import RunResult

        return RunResult
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
