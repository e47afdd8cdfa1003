"""harness: recurrent neural networks against hidden Markov models on sequence tasks."""

__version__ = "0.1.0"
