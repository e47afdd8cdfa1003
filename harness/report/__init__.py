"""Reports: MLflow runs -> tidy tables -> statistics over seeds -> plots -> report.md + report.html.

``build_report`` selects runs by parent run (a sweep), experiment or tags, and writes
``reports/<name>/report.md`` (GitHub-readable, PNGs beside it) and a self-contained ``report.html``
(plots embedded), logging both to the parent run when there is one. ``python -m harness.report``
is its command line; every multirun calls it at the end (harness.callbacks).
"""

from __future__ import annotations

from pathlib import Path

from harness.report.build import build_report

__all__ = ["build_report", "default_reports_dir"]


def default_reports_dir() -> Path:
    from harness.paths import project_root

    return project_root() / "reports"
