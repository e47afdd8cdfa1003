"""The run artifacts' CSVs (gradient_norms.csv, regimes.csv, test_forecasts.csv) share one writer and one format."""

from __future__ import annotations

import numpy as np

from harness.diagnostics import write_csv, write_gradient_artifacts, write_regime_artifacts


def test_csv_artifacts_have_the_known_bytes(tmp_path):
    table = {
        "t": np.arange(3),
        "state": np.array([1, 0, 1]),
        "value": np.array([-0.25, 1 / 3, 2.5e-7]),
        "state_mean": np.array([0.5, -1.0, 0.5]),
        "p_state0": np.array([0.1, 0.9, 123456789.0]),
        "p_state1": np.array([0.9, 0.1, np.nan]),
    }
    write_csv(tmp_path / "a.csv", table)
    assert (tmp_path / "a.csv").read_bytes() == (
        b"t,state,value,state_mean,p_state0,p_state1\n"
        b"0,1,-0.25,0.5,0.1,0.9\n1,0,0.333333,-1,0.9,0.1\n2,1,2.5e-07,0.5,1.23457e+08,nan\n"
    )
    write_regime_artifacts(table, tmp_path, "regimes")
    assert (tmp_path / "regimes.csv").read_bytes() == (tmp_path / "a.csv").read_bytes()
    write_gradient_artifacts(np.array([1.0, 0.5, 1e-12]), tmp_path, "norms")
    assert (tmp_path / "gradient_norms.csv").read_bytes() == b"steps_back,grad_norm\n0,1\n1,0.5\n2,1e-12\n"
    assert (tmp_path / "regimes.png").stat().st_size > 0 and (tmp_path / "gradient_norms.png").stat().st_size > 0
