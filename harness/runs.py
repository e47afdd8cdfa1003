"""Liveness of runs: who runs a run, whether that process still exists, and ending runs whose process is gone.

A run killed without warning (SIGKILL, the OOM killer, a lost node) cannot end itself: it stays RUNNING.
Each run therefore carries ``harness.host``, ``harness.pid`` and ``harness.pid_start`` (the process's start
time, so a reused pid is not mistaken for the run's process) and ``harness.heartbeat`` (Unix time, refreshed
with every metric written, i.e. at least once an epoch).

    python -m harness.runs stale [--end] [--tracking-uri URI] [--after SECONDS]

lists RUNNING runs whose process is gone (same host: the pid is not that process any more; another host:
no heartbeat for ``--after`` seconds, default 3600) and with ``--end`` ends them KILLED with the reason as
the ``killed`` tag. Reports leave such runs out of every table and list them with that reason.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

HOST, PID, PID_START, HEARTBEAT = "harness.host", "harness.pid", "harness.pid_start", "harness.heartbeat"
STALE_AFTER = 3600.0  # seconds without a heartbeat after which a run on another host counts as gone


def _pid_start(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot (Linux /proc), "" where unknown or gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def liveness_tags() -> dict[str, str]:
    """The tags naming this process, for a run it starts or resumes."""
    pid = os.getpid()
    return {HOST: socket.gethostname(), PID: str(pid), PID_START: _pid_start(pid), HEARTBEAT: f"{time.time():.0f}"}


def _pid_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    return not start or not _pid_start(pid) or _pid_start(pid) == start


def gone_reason(tags: dict[str, str], now: float | None = None, stale_after: float = STALE_AFTER) -> str | None:
    """Why the process of a RUNNING run with ``tags`` is gone, or None if it may still be running (or the
    run predates these tags and has a recent heartbeat or none to judge by)."""
    now = time.time() if now is None else now
    beat = tags.get(HEARTBEAT)
    last = f"last heartbeat {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(float(beat)))}" if beat else ""
    host, pid = tags.get(HOST), tags.get(PID)
    if host == socket.gethostname() and pid and pid.isdigit():
        if not _pid_alive(int(pid), tags.get(PID_START, "")):
            return f"its process {pid} on {host} is gone" + (f" ({last})" if last else "")
        return None
    if beat and now - float(beat) > stale_after:
        return f"no heartbeat for {(now - float(beat)) / 60:.0f} min ({last}; process {pid} on {host})"
    return None


def stale_runs(uri: str, stale_after: float = STALE_AFTER) -> list[tuple[object, str]]:
    """(run, reason) for every RUNNING run in ``uri`` whose process is gone."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    out = []
    for start in range(0, len(ids), 100):
        token = None
        while True:
            page = client.search_runs(
                ids[start : start + 100], "attributes.status = 'RUNNING'", ViewType.ALL, 1000, page_token=token
            )
            for run in page:
                reason = gone_reason(run.data.tags, stale_after=stale_after)
                if reason:
                    out.append((run, reason))
            token = page.token
            if not token:
                break
    return out


def end_stale(uri: str, runs: list[tuple[object, str]]) -> None:
    """End each run KILLED with its reason (``killed`` tag) and how to resume it."""
    from mlflow.tracking import MlflowClient

    from harness.interrupts import shielded

    client = MlflowClient(tracking_uri=uri)
    for run, reason in runs:
        rid = run.info.run_id
        with shielded():
            client.set_tag(rid, "killed", f"{reason}; ended by harness.runs stale --end; continue with resume={rid}")
            client.set_terminated(rid, status="KILLED")


def main(argv: list[str] | None = None) -> int:
    from harness.errors import HarnessError
    from harness.tracking import tracking_uri

    parser = argparse.ArgumentParser(prog="python -m harness.runs", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    stale = sub.add_parser("stale", help="list RUNNING runs whose process is gone")
    stale.add_argument("--end", action="store_true", help="end them KILLED, with the reason as a tag")
    stale.add_argument("--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or the project's mlflow.db")
    stale.add_argument("--after", type=float, default=STALE_AFTER, help="seconds without heartbeat (other hosts)")
    args = parser.parse_args(argv)
    uri = tracking_uri(args.tracking_uri)
    try:
        from harness.store import prepare_store

        prepare_store(uri)
        found = stale_runs(uri, args.after)
        if args.end:
            end_stale(uri, found)
    except HarnessError as error:
        print(f"harness: error: {error}", file=sys.stderr)
        return error.exit_status
    for run, reason in found:
        print(f"{run.info.run_id}\t{run.info.run_name}\t{reason}" + ("\tended KILLED" if args.end else ""))
    word = "ended KILLED" if args.end else "found (end them KILLED with --end)"
    print(f"harness: {len(found)} run(s) whose process is gone {word}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
