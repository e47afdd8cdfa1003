"""The benchmark command runs end to end (a smoke run of the smallest configuration; the figures
themselves are measured by hand, never asserted)."""

import json

import numpy as np
import pytest

from harness import bench


def test_bench_quick_run_writes_every_row_and_the_blas_in_use(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--cells", "rnn", "--no-torch", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    rows = {(r["workload"], r["direction"], r["mode"]): r for r in data["results"]}
    assert set(rows) == {(w, d, m) for w in ("pos", "ts") for d in ("uni", "bi") for m in ("train", "infer")}
    assert all(r["cell"] == "rnn" and r["numpy_per_s"] > 0 and "torch_per_s" not in r for r in rows.values())
    assert data["pos_tokens"] == sum(b[3] for b in bench.pos_batches(256, np.random.default_rng(0)))
    system = data["system"]
    assert system["threads"] == 1 and system["gemm_f32_gflops"] > 0
    assert any(b["internal_api"] for b in system["blas"])  # threadpoolctl saw the BLAS
    printed = capsys.readouterr().out
    assert "pos rnn  uni train" in printed and "float32 GEMM" in printed


def test_bench_refuses_an_unknown_cell(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--cells", "lstm,transformer"])
    assert exit_info.value.code == 2
    assert "--cells must be from rnn,lstm,gru" in capsys.readouterr().err
