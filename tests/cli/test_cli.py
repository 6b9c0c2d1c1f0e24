"""The command line: exit codes, one-line errors, --json summaries."""

from __future__ import annotations

import json

from click.testing import CliRunner

from harmmap.cli import main
from tests.ingest.test_police_uk import csv_bytes, row


def invoke(*args, workspace=None):
    runner = CliRunner()
    base = ["--workspace", str(workspace)] if workspace else []
    return runner.invoke(main, [*base, *args], catch_exceptions=False)


def test_init_ingest_status_json(tmp_path):
    ws = tmp_path / "ws"
    assert invoke("init", workspace=ws).exit_code == 0
    data = tmp_path / "2024-03-leicestershire-street.csv"
    data.write_bytes(csv_bytes(row(), row(crime_id="b"), row(lng="", lat="", location="No Location")))
    result = invoke("ingest", "police-uk", str(data), "--json", workspace=ws)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("files", "rows_read", "accepted", "rejected", "rejected_by_reason", "duplicates_skipped", "replaced"):
        assert key in report
    assert (report["rows_read"], report["accepted"], report["rejected"]) == (3, 2, 1)
    assert report["rejected_by_reason"] == {"no_location": 1}
    again = json.loads(invoke("ingest", "police-uk", str(data), "--json", workspace=ws).stdout)
    assert again["duplicates_skipped"] == 1 and again["accepted"] == 0
    status = json.loads(invoke("status", "--json", workspace=ws).stdout)
    assert status["incidents"]["counted"] == 2
    assert status["incidents"]["by_crime_type"] == {"Shoplifting": 2}
    assert status["rejected_by_reason"] == {"no_location": 1}
    rejects = json.loads(invoke("rejects", "--format", "json", workspace=ws).stdout)
    assert rejects[0]["reason"] == "no_location" and "No Location" in rejects[0]["raw"]
    human = invoke("status", workspace=ws)
    assert "Shoplifting" in human.output and "no_location" in human.output


def test_bad_input_gives_one_line_error_and_exit_2(tmp_path):
    ws = tmp_path / "ws"
    invoke("init", workspace=ws)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(main, ["--workspace", str(ws), "ingest", "police-uk", str(bad)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("harmmap: error")]
    assert len(lines) == 1 and "Longitude" in lines[0] and "Traceback" not in result.output


def test_missing_workspace_and_missing_file_are_clear(tmp_path):
    result = CliRunner().invoke(main, ["--workspace", str(tmp_path / "none"), "status"])
    assert result.exit_code == 2 and "harmmap init" in result.output
    invoke("init", workspace=tmp_path / "ws")
    result = CliRunner().invoke(main, ["--workspace", str(tmp_path / "ws"), "ingest", "police-uk", "nope/*.csv"])
    assert result.exit_code == 2 and "no file matches" in result.output


def test_workspace_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HARMMAP_WORKSPACE", str(tmp_path / "envws"))
    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    assert (tmp_path / "envws" / "harmmap.sqlite").exists()
