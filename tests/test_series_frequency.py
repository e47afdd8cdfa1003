"""Frequency and season from a CSV's time column: each kind from a small file, and the errors naming file:line."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config import TimeSeriesTaskConfig
from harness.data.series import infer_frequency, load_series
from harness.errors import DataError
from harness.tasks.timeseries import load_timeseries


def _csv(tmp_path, times, values=None, name="s.csv") -> str:
    values = [f"{i % 5 + 0.5 * i}" for i in range(len(times))] if values is None else values
    path = tmp_path / name
    path.write_text("t,v\n" + "".join(f"{t},{v}\n" for t, v in zip(times, values)))
    return str(path)


def _load(path, missing="interpolate"):
    return load_series("csv", path=path, value_column="v", time_column="t", missing=missing)


def _months(start: str, n: int, step: int = 1) -> np.ndarray:
    return np.datetime64(start, "M") + np.arange(n) * step  # (n,) datetime64[M]


CASES = {
    "month-start": ([str(m) + "-01" for m in _months("2019-11", 30)], "monthly", 12),
    # month ends: 29, 31, 30 ... days apart, over the leap February of 2020
    "month-end": ([str((m + 1).astype("datetime64[D]") - 1) for m in _months("2019-11", 30)], "monthly", 12),
    "month-labels": ([str(m) for m in _months("2019-11", 30)], "monthly", 12),
    "quarterly": ([str(m) + "-01" for m in _months("2015-01", 20, step=3)], "quarterly", 4),
    "weekly": ([str(np.datetime64("2020-02-24") + 7 * i) for i in range(60)], "weekly", 52),
    "daily": ([str(np.datetime64("2020-02-25") + i) for i in range(40)], "daily", 7),
    "hourly": ([str(np.datetime64("2020-03-28T20:00") + np.timedelta64(i, "h")) for i in range(50)], "hourly", 24),
    "annual-dates": ([f"{y}-01-01" for y in range(1990, 2020)], "annual", None),
    "annual-years": ([str(y) for y in range(1950, 1980)], "annual", None),
    "index": ([str(i) for i in range(30)], "index", None),
    "decimal-years": ([f"{1949 + i / 12:.4f}" for i in range(36)], "monthly", 12),
    "decimal-quarters": ([f"{1949 + i / 4:g}" for i in range(20)], "quarterly", 4),
    "every-15-minutes": (
        [str(np.datetime64("2020-01-01T00:00") + 15 * i) for i in range(30)],
        "every 15 minutes",
        None,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_frequency_and_season_from_the_time_column(tmp_path, case):
    times, frequency, season = CASES[case]
    s = _load(_csv(tmp_path, times))
    assert (s.frequency, s.season) == (frequency, season)
    assert len(s.time) == len(s.values) == len(times)


def test_no_time_column_no_frequency(tmp_path):
    s = load_series("csv", path=_csv(tmp_path, [str(m) for m in _months("2020-01", 5)]), value_column="v")
    assert (s.frequency, s.season, s.time) == (None, None, None)


def test_builtin_sets_have_their_frequency():
    for name, frequency in {"sunspots": "annual", "nile": "annual", "co2": "monthly", "elnino": "monthly"}.items():
        assert load_series(name).frequency == frequency, name
    assert load_series("synthetic_ar", n_points=20).frequency is None


def test_task_season_overrides_the_inferred_one(tmp_path):
    path = _csv(tmp_path, [str(m) for m in _months("2015-01", 60)])
    cfg = dict(dataset="csv", path=path, value_column="v", time_column="t", window=4, yardsticks=["naive"])
    assert load_timeseries(TimeSeriesTaskConfig(**cfg), seed=0).season == 12
    assert load_timeseries(TimeSeriesTaskConfig(**cfg, season=0), seed=0).season is None
    assert load_timeseries(TimeSeriesTaskConfig(**cfg, season=6), seed=0).season == 6


def test_missing_values_keep_their_rows_regular(tmp_path):
    """A row with an empty value is a step of the series: interpolate fills it, drop closes up over it, and
    neither makes the times irregular; missing values at the ends are trimmed."""
    times = [str(m) for m in _months("2020-01", 8)]
    path = _csv(tmp_path, times, ["", "1", "2", "", "", "5", "6", ""])
    s = _load(path)
    np.testing.assert_allclose(s.values, [1, 2, 3, 4, 5, 6])
    assert (s.frequency, s.season, str(s.time[0]), str(s.time[-1])) == ("monthly", 12, "2020-02", "2020-07")
    s = _load(path, missing="drop")
    np.testing.assert_allclose(s.values, [1, 2, 5, 6])
    assert (s.frequency, s.season) == ("monthly", 12)


def test_a_gap_names_file_and_line(tmp_path):
    months = [str(m) for m in _months("2020-01", 10)]
    path = tmp_path / "gap.csv"
    # a blank line counts as a line of the file, as in the reader's other messages: 2020-06 is on line 7
    path.write_text("t,v\n" + "".join(f"{t},{i}\n" for i, t in enumerate(months[:4])) + "\n2020-06,5\n2020-07,6\n")
    with pytest.raises(
        DataError,
        match=r"gap\.csv:7: time 2020-06 is not one calendar month after the previous time 2020-04, the step of"
        r" this monthly series; fill the gap \(add its rows: an empty value cell is a missing value, see"
        r" task\.missing\) or give a regular series, or drop task\.time_column",
    ):
        _load(str(path))
    with pytest.raises(DataError, match=r"years\.csv:4: time 1953 is not 1 after the previous time 1951"):
        _load(_csv(tmp_path, ["1950", "1951", "1953", "1954"], name="years.csv"))
    with pytest.raises(DataError, match=r"dec\.csv:4: time 1949\.25 is not 1/12 after the previous time 1949\.0833"):
        _load(_csv(tmp_path, ["1949.0000", "1949.0833", "1949.2500", "1949.3333", "1949.4167"], name="dec.csv"))
    # weekly dates that skip one week; daily dates across a missing day
    weeks = [str(np.datetime64("2021-01-04") + 7 * i) for i in (0, 1, 2, 4, 5)]
    with pytest.raises(DataError, match=r"w\.csv:5: time 2021-02-01 is not one week after the previous time"):
        _load(_csv(tmp_path, weeks, name="w.csv"))


def test_an_unreadable_time_names_file_and_line(tmp_path):
    with pytest.raises(
        DataError,
        match=r"t\.csv:3: time value 'abc' is not a date or a number; write times as numbers \(1950, 1950\.25\) or"
        r" ISO 8601 dates .*, or drop task\.time_column",
    ):
        _load(_csv(tmp_path, ["2020-01", "abc", "2020-03"], name="t.csv"))
    for label in ("", "nan", "01/03/2020"):
        with pytest.raises(DataError, match=rf"u\.csv:3: time value '{label}' is not a date or a number"):
            _load(_csv(tmp_path, ["2020-01-02", label, "2020-01-04"], name="u.csv"))
    with pytest.raises(DataError, match=r"m\.csv:3: time value '2020-02' is a date, but the first time '1949.5' is"):
        _load(_csv(tmp_path, ["1949.5", "2020-02", "1950.5"], name="m.csv"))


def test_times_that_go_back_or_repeat(tmp_path):
    with pytest.raises(
        DataError,
        match=r"b\.csv:4: time 2020-02 comes before the previous time 2020-03; sort the rows by time and remove"
        r" repeated times, or drop task\.time_column",
    ):
        _load(_csv(tmp_path, ["2020-01", "2020-03", "2020-02", "2020-04"], name="b.csv"))
    with pytest.raises(DataError, match=r"r\.csv:3: time 1950 repeats the previous time 1950"):
        _load(_csv(tmp_path, ["1950", "1950", "1951"], name="r.csv"))


def test_infer_frequency_without_lines_names_the_row():
    assert infer_frequency(np.array([2000.0]), "x") == (None, None)
    with pytest.raises(DataError, match=r"^toy row 3: time 3 is not 1 after the previous time 1"):
        infer_frequency(np.array([0.0, 1.0, 3.0, 4.0]), "toy")
