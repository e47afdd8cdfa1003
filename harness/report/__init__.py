"""Reports: MLflow runs -> tables, statistics, plots -> report.md and report.html."""
