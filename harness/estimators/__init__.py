"""Estimator adapters: one per model family and task, between harness.tasks data and harness.models."""
