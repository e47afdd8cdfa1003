"""The checksummed, atomic download against a local HTTP server on 127.0.0.1 serving tiny files."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from functools import partial

import pytest

from harness import datasets as cli
from harness.data import registry
from harness.data.registry import Dataset, cache_dir, ensure, ensure_dataset
from harness.errors import DataError

PAYLOAD = b"1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n" * 200


def _spec(files: dict[str, str], base_url: str = "http://127.0.0.1:9/none") -> Dataset:
    return Dataset(
        name="tiny",
        description="a tiny test file",
        homepage="https://example.org/tiny",
        release="v1",
        base_url=base_url,
        files=files,
        licence="CC0",
        task="pos",
        usage="task=pos",
    )


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up mid-transfer (the interrupt tests) is expected here


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www over HTTP on a free port; yields (root folder, base URL)."""
    root = tmp_path / "www"
    (root / "tiny").mkdir(parents=True)
    httpd = _Server(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_succeeds_and_verifies(server, tmp_path):
    root, url = server
    (root / "tiny" / "a.conllu").write_bytes(PAYLOAD)
    spec = _spec({"a.conllu": hashlib.sha256(PAYLOAD).hexdigest()})
    folder = ensure(spec, tmp_path / "cache", base_url=url, progress=False)
    assert folder == tmp_path / "cache" / "tiny"
    assert (folder / "a.conllu").read_bytes() == PAYLOAD
    assert [p.name for p in folder.iterdir()] == ["a.conllu"]  # no temporary file left
    # a second call finds the verified file and does not need the server
    (root / "tiny" / "a.conllu").unlink()
    assert ensure(spec, tmp_path / "cache", base_url=url, progress=False) == folder


def test_corrupt_cached_file_is_downloaded_again(server, tmp_path):
    root, url = server
    (root / "tiny" / "a.conllu").write_bytes(PAYLOAD)
    spec = _spec({"a.conllu": hashlib.sha256(PAYLOAD).hexdigest()})
    (tmp_path / "cache" / "tiny").mkdir(parents=True)
    (tmp_path / "cache" / "tiny" / "a.conllu").write_bytes(b"truncated")
    ensure(spec, tmp_path / "cache", base_url=url, progress=False)
    assert (tmp_path / "cache" / "tiny" / "a.conllu").read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    root, url = server
    (root / "tiny" / "a.conllu").write_bytes(PAYLOAD + b"tampered\n")
    spec = _spec({"a.conllu": hashlib.sha256(PAYLOAD).hexdigest()})
    with pytest.raises(
        DataError, match=r"checksum mismatch for .*a\.conllu.*expected [0-9a-f]{64}.*set task\.path=DIR"
    ):
        ensure(spec, tmp_path / "cache", base_url=url, progress=False)
    assert list((tmp_path / "cache" / "tiny").iterdir()) == []


def test_registered_ewt_rejects_wrong_bytes(server, tmp_path):
    """The real registry entry goes through the same verification (HARNESS_DATA_URL as mirror)."""
    root, url = server
    (root / "ud_english_ewt").mkdir()
    for name in registry.UD_ENGLISH_EWT.files:
        (root / "ud_english_ewt" / name).write_bytes(PAYLOAD)
    with pytest.raises(
        DataError, match=r"checksum mismatch.*en_ewt-ud-train\.conllu.*UD_English-EWT \(release r2\.16\)"
    ):
        ensure_dataset("ud_english_ewt", tmp_path / "cache", base_url=url, progress=False)
    assert list((tmp_path / "cache" / "ud_english_ewt").iterdir()) == []


def test_missing_file_on_server_is_a_clear_error(server, tmp_path):
    _, url = server
    spec = _spec({"absent.conllu": "0" * 64})
    with pytest.raises(DataError, match=r"could not download .*absent\.conllu \(HTTP 404 .*\).*by hand"):
        ensure(spec, tmp_path / "cache", base_url=url, progress=False)
    assert list((tmp_path / "cache" / "tiny").iterdir()) == []


def test_unreachable_server_fails_fast(tmp_path, free_port):
    spec = _spec({"a.conllu": "0" * 64})
    start = time.monotonic()
    with pytest.raises(
        DataError, match=r"could not download http://127\.0\.0\.1:\d+/tiny/a\.conllu .*set task\.path=DIR"
    ):
        ensure(spec, tmp_path / "cache", base_url=f"http://127.0.0.1:{free_port}", progress=False)
    assert time.monotonic() - start < 5
    assert list((tmp_path / "cache" / "tiny").iterdir()) == []


def test_interrupted_download_leaves_no_half_file(server, tmp_path, monkeypatch):
    """Ctrl-C in the middle of the transfer: the destination never appears and the temp file is gone."""
    root, url = server
    (root / "tiny" / "a.conllu").write_bytes(PAYLOAD * 20)  # several chunks
    spec = _spec({"a.conllu": hashlib.sha256(PAYLOAD * 20).hexdigest()})
    monkeypatch.setattr(registry, "CHUNK", 1024)
    real_sha256 = hashlib.sha256
    seen = []

    class Interrupting:
        """sha256 that raises KeyboardInterrupt on the third chunk, after two were written."""

        def __init__(self):
            self.h = real_sha256()

        def update(self, data):
            seen.append(len(data))
            if len(seen) == 3:
                raise KeyboardInterrupt
            self.h.update(data)

    monkeypatch.setattr(registry.hashlib, "sha256", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        ensure(spec, tmp_path / "cache", base_url=url, progress=False)
    assert len(seen) == 3
    assert list((tmp_path / "cache" / "tiny").iterdir()) == []


class _Truncating(http.server.BaseHTTPRequestHandler):
    """Announces 100 kB, sends 10 kB, then drops the connection."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(100_000))
        self.end_headers()
        self.wfile.write(b"x" * 10_000)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_connection_dropped_midway_is_a_clear_error(tmp_path):
    httpd = _Server(("127.0.0.1", 0), _Truncating)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        spec = _spec({"a.conllu": "0" * 64})
        with pytest.raises(
            DataError,
            match=r"could not download .*a\.conllu \(connection closed after 10000 of 100000 bytes\).*by hand",
        ):
            ensure(spec, tmp_path / "cache", base_url=f"http://127.0.0.1:{httpd.server_address[1]}", progress=False)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert list((tmp_path / "cache" / "tiny").iterdir()) == []


def test_existing_file_is_replaced_only_when_complete(server, tmp_path, monkeypatch):
    """A failed re-download keeps the old cached file intact (os.replace happens only after verification)."""
    root, url = server
    (root / "tiny" / "a.conllu").write_bytes(b"other bytes")
    spec = _spec({"a.conllu": hashlib.sha256(PAYLOAD).hexdigest()})
    old = tmp_path / "cache" / "tiny" / "a.conllu"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old, stale")
    with pytest.raises(DataError, match="checksum mismatch"):
        ensure(spec, tmp_path / "cache", base_url=url, progress=False)
    assert old.read_bytes() == b"old, stale"
    assert [p.name for p in old.parent.iterdir()] == ["a.conllu"]


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "env"))
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert cache_dir() == tmp_path / "env"
    monkeypatch.delenv("HARNESS_DATA_DIR")
    from harness.paths import project_root

    assert cache_dir() == project_root() / "datasets"  # the checkout's datasets/, or ./datasets when installed


def test_mirror_url_from_environment(server, tmp_path, monkeypatch):
    root, url = server
    (root / "tiny" / "a.conllu").write_bytes(PAYLOAD)
    monkeypatch.setenv("HARNESS_DATA_URL", url)
    spec = _spec({"a.conllu": hashlib.sha256(PAYLOAD).hexdigest()})
    assert (ensure(spec, tmp_path / "cache", progress=False) / "a.conllu").read_bytes() == PAYLOAD


def test_cli_download_and_list(server, tmp_path, monkeypatch, capsys):
    root, url = server
    (root / "tiny" / "a.conllu").write_bytes(PAYLOAD)
    spec = _spec({"a.conllu": hashlib.sha256(PAYLOAD).hexdigest()})
    monkeypatch.setitem(registry.REGISTRY, "tiny", spec)
    monkeypatch.setattr(cli, "REGISTRY", registry.REGISTRY)
    cache = str(tmp_path / "cache")
    assert cli.main(["download", "tiny", "--dir", cache, "--url", url]) == 0
    assert "tiny: verified in" in capsys.readouterr().out
    assert cli.main(["list", "--dir", cache]) == 0
    out = capsys.readouterr().out
    assert "tiny  release v1  [cached]" in out and "ud_english_ewt  release r2.16  [not downloaded]" in out


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys, free_port):
    assert cli.main(["download", "no_such_set", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown data set 'no_such_set'; choose one of" in err
    assert (
        cli.main(["download", "ud_english_ewt", "--dir", str(tmp_path), "--url", f"http://127.0.0.1:{free_port}"]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not download" in err and "task.path=DIR" in err
