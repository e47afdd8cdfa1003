"""Download and list the named data sets: ``python -m harness.datasets {list, download NAME [--dir DIR]}``.

Problems (offline, bad checksum, unknown name) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from harness.data.registry import REGISTRY, cache_dir, ensure_dataset, is_cached
from harness.errors import HarnessError


def _list(data_dir: str | None) -> None:
    root = cache_dir(data_dir)
    print(f"cache: {root}")
    for spec in REGISTRY.values():
        state = "cached" if is_cached(spec, data_dir) else "not downloaded"
        print(f"{spec.name}  release {spec.release}  [{state}]")
        print(f"    {spec.description}")
        print(f"    source:  {spec.homepage}")
        print(f"    licence: {spec.licence}")
        print(f"    use:     {spec.usage}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.datasets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="the named data sets and whether they are cached")
    p_list.add_argument("--dir", help="cache folder (default: $HARNESS_DATA_DIR or datasets/)")
    p_dl = sub.add_parser("download", help="download and verify a data set into the cache")
    p_dl.add_argument("name", help=f"one of: {', '.join(REGISTRY)}")
    p_dl.add_argument("--dir", help="cache folder (default: $HARNESS_DATA_DIR or datasets/)")
    p_dl.add_argument(
        "--url", help="mirror root: files are fetched from URL/NAME/FILE (default: $HARNESS_DATA_URL or the release)"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            _list(args.dir)
        else:
            folder = ensure_dataset(args.name, args.dir, base_url=args.url)
            print(f"{args.name}: verified in {folder}")
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
