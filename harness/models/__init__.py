"""Models: NumPy recurrent networks and hmmlearn hidden Markov models. No tracking, no tasks."""
