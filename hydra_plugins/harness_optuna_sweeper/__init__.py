"""The project's Optuna sweeper for Hydra (``hydra/sweeper=harness_optuna``); see optuna_sweeper.py."""
