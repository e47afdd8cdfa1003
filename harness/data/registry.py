"""Named data sets that are downloaded, not shipped: source, release, sha256 sums, licence.

``ensure_dataset(name)`` returns the folder holding the data set's files, downloading any that
are missing (or whose sha256 does not match) into the cache first. A download goes to a
temporary file next to its destination and is moved into place with ``os.replace`` only after
its sha256 has been verified, so an interrupted or failed download never leaves a half file.

The cache folder, in order of precedence:
1. the ``data_dir`` argument (``--dir`` on the command line);
2. ``$HARNESS_DATA_DIR``;
3. ``datasets/`` at the project root, when harness runs from a checkout (editable install);
4. ``./datasets`` relative to the current directory (a plain ``pip install .``, where the
   project root is unknown).
Each data set lives in ``<cache>/<name>/``.

The download URL of a file is ``<base>/<file>``, where ``<base>`` is the data set's pinned
release URL, or ``$HARNESS_DATA_URL/<name>`` (a mirror; the ``base_url`` argument has the same
meaning) when that is set.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DataError
from harness.paths import project_root

CHUNK = 1 << 16
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Dataset:
    """A data set pinned to one release, with the sha256 of every file."""

    name: str
    description: str
    homepage: str
    release: str
    base_url: str  # files are fetched from f"{base_url}/{file}"
    files: dict[str, str]  # file name -> sha256
    licence: str
    task: str  # the task that reads it
    usage: str  # how to point the task at it


UD_ENGLISH_EWT = Dataset(
    name="ud_english_ewt",
    description="Universal Dependencies English Web Treebank (UPOS and XPOS tags), 16,622 sentences",
    homepage="https://github.com/UniversalDependencies/UD_English-EWT",
    release="r2.16",
    base_url="https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/r2.16",
    files={
        "en_ewt-ud-train.conllu": "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b",
        "en_ewt-ud-dev.conllu": "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6",
        "en_ewt-ud-test.conllu": "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd",
    },
    licence="CC BY-SA 4.0 (annotations); texts from the LDC English Web Treebank (LDC2012T13)",
    task="pos",
    usage="task=pos task.dataset=ud_english_ewt",
)

REGISTRY: dict[str, Dataset] = {d.name: d for d in (UD_ENGLISH_EWT,)}


def get_dataset(name: str) -> Dataset:
    if name not in REGISTRY:
        raise DataError(f"unknown data set {name!r}", f"choose one of {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def cache_dir(data_dir: str | Path | None = None) -> Path:
    """The cache folder (see the module docstring for the order of precedence)."""
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get("HARNESS_DATA_DIR"):
        return Path(os.environ["HARNESS_DATA_DIR"])
    return project_root() / "datasets"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _manual_fix(spec: Dataset, folder: Path) -> str:
    return (
        f"download {', '.join(spec.files)} by hand from {spec.homepage} (release {spec.release}) into a folder "
        f"and set task.path=DIR (with task.dataset=conllu), or copy them into {folder}"
    )


def download_file(
    url: str, dest: Path, sha256: str, spec: Dataset, *, progress: bool = True, timeout: float = TIMEOUT_SECONDS
) -> Path:
    """Fetch ``url`` to ``dest`` atomically, verifying its sha256; DataError with the manual fix on failure."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    total = int(resp.headers.get("Content-Length") or 0) or None
                    n = 0
                    with tqdm(
                        total=total, unit="B", unit_scale=True, desc=dest.name, disable=None if progress else True
                    ) as bar:
                        for chunk in iter(lambda: resp.read(CHUNK), b""):
                            out.write(chunk)
                            h.update(chunk)
                            n += len(chunk)
                            bar.update(len(chunk))
                    if total is not None and n != total:
                        raise http.client.IncompleteRead(b"", total - n)
            except urllib.error.HTTPError as exc:
                raise DataError(
                    f"could not download {url} (HTTP {exc.code} {exc.reason})", _manual_fix(spec, dest.parent)
                ) from None
            except http.client.IncompleteRead:
                raise DataError(
                    f"could not download {url} (connection closed after {n} of {total} bytes)",
                    _manual_fix(spec, dest.parent),
                ) from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise DataError(f"could not download {url} ({reason})", _manual_fix(spec, dest.parent)) from None
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if got != sha256:
            raise DataError(
                f"checksum mismatch for {url}: sha256 {got}, expected {sha256}; nothing was saved",
                _manual_fix(spec, dest.parent),
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a cache file is ordinary data
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)  # only still there if something failed or was interrupted
    return dest


def ensure_dataset(
    name: str, data_dir: str | Path | None = None, *, base_url: str | None = None, progress: bool = True
) -> Path:
    """The folder holding data set ``name``; missing or corrupt files are downloaded and verified first."""
    return ensure(get_dataset(name), data_dir, base_url=base_url, progress=progress)


def ensure(
    spec: Dataset, data_dir: str | Path | None = None, *, base_url: str | None = None, progress: bool = True
) -> Path:
    """``ensure_dataset`` for a ``Dataset`` that need not be registered."""
    folder = cache_dir(data_dir) / spec.name
    mirror = base_url or os.environ.get("HARNESS_DATA_URL")
    base = f"{mirror.rstrip('/')}/{spec.name}" if mirror else spec.base_url
    for file, sha256 in spec.files.items():
        dest = folder / file
        if dest.is_file() and sha256_of(dest) == sha256:
            continue
        download_file(f"{base}/{file}", dest, sha256, spec, progress=progress)
    return folder


def is_cached(spec: Dataset, data_dir: str | Path | None = None) -> bool:
    """True when every file of ``spec`` is in the cache (not re-hashed)."""
    folder = cache_dir(data_dir) / spec.name
    return all((folder / f).is_file() for f in spec.files)
