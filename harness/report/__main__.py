"""``python -m harness.report --parent RUN_ID`` (or ``--experiment NAME`` / ``--tag key=value``).

Reads the runs back from MLflow and writes ``reports/<name>/report.md`` and ``report.html``.
Errors a user can fix end with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from harness.errors import ConfigError, HarnessError


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__.splitlines()[0])
    p.add_argument("--parent", metavar="RUN_ID", help="a sweep's parent run: report its child runs")
    p.add_argument("--experiment", metavar="NAME", help="all runs of this MLflow experiment")
    p.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="only runs with this tag (repeatable)"
    )
    p.add_argument("--name", help="report folder name (default: the sweep's preset, the experiment, or sweep-<id>)")
    p.add_argument("--out", metavar="DIR", help="parent folder of the report (default: <project>/reports)")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or <project>/mlflow.db)")
    p.add_argument("--sweep-command", help="the command shown as having produced the runs (default: the parent run's)")
    p.add_argument("--no-log", action="store_true", help="do not attach the report to the parent run")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if not (args.parent or args.experiment or args.tag):
            raise ConfigError("nothing selected", "pass --parent RUN_ID, --experiment NAME or --tag KEY=VALUE")
        tags = {}
        for t in args.tag:
            if "=" not in t:
                raise ConfigError(f"--tag {t!r} is not KEY=VALUE", "e.g. --tag model=rnn")
            k, v = t.split("=", 1)
            tags[k] = v
        from harness.report import build_report
        from harness.tracking import tracking_uri

        path = build_report(
            tracking_uri(args.tracking_uri),
            args.parent,
            args.experiment,
            tags,
            args.name,
            args.out,
            log_to_parent=not args.no_log,
            sweep_command=args.sweep_command,
        )
    except HarnessError as error:
        print(f"harness.report: error: {error}", file=sys.stderr)
        return 2
    except Exception as exc:
        if type(exc).__name__ == "MlflowException" and "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
            print(
                f"harness.report: error: no MLflow run {args.parent!r} in this store; check the id (mlflow ui lists runs)",
                file=sys.stderr,
            )
            return 2
        raise
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
