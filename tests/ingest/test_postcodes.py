"""Tests for harmmap.ingest.postcodes: ONSPD and Code-Point Open lookups."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from harmmap.errors import InputFileError, SchemaError
from harmmap.geo.crs import bng_to_wgs84, wgs84_to_bng
from harmmap.ingest.postcodes import LOOKUP_COLUMNS, normalise_postcodes, read_postcode_lookup

ONSPD = (
    "pcd,pcd2,pcds,dointr,doterm,oseast1m,osnrth1m,osgrdind,lat,long\n"
    '"LE1 5WW","LE1  5WW","LE1 5WW",199901,,458800,304200,1,52.634000,-1.129000\n'
    '"EC2V7HH","EC2V 7HH","EC2V 7HH",199901,,532500,181300,1,51.515000,-0.093000\n'
    '"ZZ999ZZ","ZZ99 9ZZ","ZZ99 9ZZ",199901,,,,9,99.999999,0.000000\n'
    '"BT1 1AA","BT1  1AA","BT1 1AA",199901,,146800,530000,1,54.597000,-5.930000\n'
)
CODEPOINT = (
    '"LE1 5WW",10,458800,304200,"E92000001","","E10000018","","E07000063","E05010466"\n'
    '"LE1 6AA",90,0,0,"","","","","",""\n'
    '"EC2V7HH",10,532500,181300,"E92000001","","","","E09000001","E05009300"\n'
)


def write(tmp_path, name, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_normalise_postcodes():
    out = normalise_postcodes(pd.Series([" le1 5ww", "EC2V  7HH", "", None]))
    assert out.tolist()[:2] == ["LE15WW", "EC2V7HH"] and out[2:].isna().all()


def test_onspd(tmp_path):
    lookup = read_postcode_lookup(write(tmp_path, "ONSPD_NOV_2024_UK.csv", ONSPD))
    assert tuple(lookup.columns) == LOOKUP_COLUMNS
    assert lookup["postcode_key"].tolist() == ["LE15WW", "EC2V7HH", "BT11AA"]  # 99.999999 = no grid ref: left out
    row = lookup.iloc[0]
    assert (row["lat"], row["lng"]) == (52.634, -1.129)
    e, n = wgs84_to_bng(np.array([52.634]), np.array([-1.129]))
    assert row["easting"] == pytest.approx(e[0]) and row["northing"] == pytest.approx(n[0])
    assert lookup.iloc[2]["lat"] == 54.597  # Northern Ireland: lat/long used, not the Irish Grid values


def test_codepoint_headerless_and_with_header_and_gzip(tmp_path):
    lookup = read_postcode_lookup(write(tmp_path, "le.csv", CODEPOINT))
    assert lookup["postcode_key"].tolist() == ["LE15WW", "EC2V7HH"]  # 0,0 = no location: left out
    lat, lng = bng_to_wgs84(np.array([458800.0]), np.array([304200.0]))
    assert (lookup.iloc[0]["easting"], lookup.iloc[0]["northing"]) == (458800.0, 304200.0)
    assert lookup.iloc[0]["lat"] == pytest.approx(lat[0]) and lookup.iloc[0]["lng"] == pytest.approx(lng[0])
    header = "Postcode,Positional_quality_indicator,Eastings,Northings,Country_code,NHS_regional_HA_code," \
             "NHS_HA_code,Admin_county_code,Admin_district_code,Admin_ward_code\n"
    with_header = read_postcode_lookup(write(tmp_path, "h.csv.gz", gzip.compress((header + CODEPOINT).encode())))
    pd.testing.assert_frame_equal(with_header, lookup)


def test_codepoint_folder(tmp_path):
    folder = tmp_path / "CSV"
    folder.mkdir()
    write(folder, "le.csv", CODEPOINT.splitlines(keepends=True)[0])
    write(folder, "ec.csv", CODEPOINT.splitlines(keepends=True)[2])
    assert sorted(read_postcode_lookup(folder)["postcode_key"]) == ["EC2V7HH", "LE15WW"]


def test_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_postcode_lookup(tmp_path / "nope.csv")
    with pytest.raises(SchemaError, match="not a postcode lookup"):
        read_postcode_lookup(write(tmp_path, "x.csv", "a,b\n1,2\n"))
