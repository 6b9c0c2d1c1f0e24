"""Tests for harmmap.ingest.dates: vectorised UK/ISO/Excel date parsing in Europe/London."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from harmmap.ingest.dates import month_start, parse_dates

TODAY = dt.date(2025, 1, 1)


def parse(values, times=None, **kw):
    series = pd.Series(values, dtype="string")
    clock = None if times is None else pd.Series(times, dtype="string")
    return parse_dates(series, clock, today=kw.pop("today", TODAY), **kw)


def local(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_localize("Europe/London")


@pytest.mark.parametrize("text, expected, precision", [
    ("05/03/2024", "2024-03-05 00:00", "day"),
    ("5/3/2024", "2024-03-05 00:00", "day"),
    ("05/03/24", "2024-03-05 00:00", "day"),
    ("05-03-2024", "2024-03-05 00:00", "day"),
    ("05.03.2024", "2024-03-05 00:00", "day"),
    ("05/03/2024 14:30", "2024-03-05 14:30", "minute"),
    ("05/03/2024 14:30:15", "2024-03-05 14:30:15", "minute"),
    ("05 Mar 2024", "2024-03-05 00:00", "day"),
    ("5-Mar-24", "2024-03-05 00:00", "day"),
    ("2024-03-05", "2024-03-05 00:00", "day"),
    ("2024-03-05 14:30", "2024-03-05 14:30", "minute"),
    ("2024-03-05T14:30:00", "2024-03-05 14:30", "minute"),
    ("2024-07-05T13:30:00Z", "2024-07-05 14:30", "minute"),
    ("2024-07-05T14:30:00.25+01:00", "2024-07-05 14:30", "minute"),
    ("20240305", "2024-03-05 00:00", "day"),
    ("45356", "2024-03-05 00:00", "day"),
    ("45356.75", "2024-03-05 18:00", "minute"),
    ("05/03/2024 00:00", "2024-03-05 00:00", "day"),
])
def test_formats(text, expected, precision):
    result = parse([text])
    assert result.reason.tolist() == [""]
    assert result.occurred_at[0] == local(expected)
    assert result.time_precision.tolist() == [precision]


def test_uk_day_first_by_default_and_month_first_when_asked():
    assert parse(["04/03/2024"]).occurred_at[0] == local("2024-03-04")
    assert parse(["04/03/2024"], dayfirst=False).occurred_at[0] == local("2024-04-03")
    assert parse(["2024-04-03"], dayfirst=False).occurred_at[0] == local("2024-04-03")
    assert parse(["13/03/2024"], dayfirst=False).reason.tolist() == ["bad_date"]


def test_bad_and_future_dates():
    result = parse(["31/02/2024", "yesterday", None, "", "02/01/2025", "01/01/2025"])
    assert result.reason.tolist() == ["bad_date"] * 4 + ["future_date", ""]
    assert result.occurred_at[:5].isna().all()


def test_dates_before_1970_are_bad():
    result = parse(["01/01/0001", "1", "31/12/1969", "01/01/1970", "01/01/69"])
    assert result.reason.tolist() == ["bad_date", "bad_date", "bad_date", "", "bad_date"]
    assert result.too_early.tolist() == [True, True, True, False, True]
    assert result.occurred_at[:3].isna().all()


def test_separate_time_column():
    result = parse(["05/03/2024"] * 6, ["14:30", "2:30 PM", "0.75", "", None, "25:00"])
    assert result.occurred_at[:3].tolist() == [local("2024-03-05 14:30"), local("2024-03-05 14:30"),
                                               local("2024-03-05 18:00")]
    assert result.time_precision.tolist()[:5] == ["minute"] * 3 + ["day"] * 2
    assert result.reason.tolist() == [""] * 5 + ["bad_date"]


def test_clock_changes_documented_rule():
    result = parse(["31/03/2024 01:30", "27/10/2024 01:30"])
    gap, overlap = result.occurred_at
    assert gap == pd.Timestamp("2024-03-31 02:00", tz="Europe/London")  # skipped hour -> shift forward
    assert overlap.utcoffset() == dt.timedelta(hours=1)  # repeated hour -> the earlier (BST)


def test_month_start_and_dtype():
    result = parse(["31/03/2024 23:30", "2024-07-31T23:30:00Z"])
    assert str(result.occurred_at.dtype) == "datetime64[s, Europe/London]"
    assert month_start(result.occurred_at).tolist() == [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-08-01")]


def test_vectorised_speed_100k_rows():
    import time

    rng = np.random.default_rng(0)
    text = [f"{d}/{m}/2024 {h}:{mi:02d}" for d, m, h, mi in
            zip(rng.integers(1, 29, 100_000), rng.integers(1, 13, 100_000), rng.integers(0, 24, 100_000),
                rng.integers(0, 60, 100_000))]
    start = time.perf_counter()
    result = parse(text)
    assert time.perf_counter() - start < 2.0
    assert (result.reason == "").all()
