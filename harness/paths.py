"""Where the project keeps its files: the source checkout (editable install) or the current directory.

One answer for the tracking store (``mlflow.db``), the download cache (``datasets/``) and the
reports (``reports/``), so they never drift apart.
"""

from __future__ import annotations

from pathlib import Path


def project_root() -> Path:
    """The source checkout holding this package (editable install), else the current directory."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "conf").is_dir():
        return here
    return Path.cwd()
