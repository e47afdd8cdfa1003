"""Hydra config groups (the top-level conf/ folder, installed as harness.conf)."""
