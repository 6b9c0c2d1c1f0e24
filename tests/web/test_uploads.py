"""Retailer uploads: CSV and XLSX accepted, type by content (415), size (413), zip and XML bombs refused,
row-by-row reports that reconcile, nothing written by a refused file, the organisation's mapping file."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
import shutil
import zipfile

import openpyxl
import pytest
from conftest import csrf_of, login
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from harmmap.store.accounts import create_token, read_audit
from harmmap.store.incidents import read_incidents
from harmmap.store.places import load_stores
from harmmap.store.workspace import connect, open_workspace
from harmmap.web import create_app
from harmmap.web.retailer_data import own_data_unchanged
from harmmap.web.data import require_run
from harmmap.web.uploads import default_columns, read_upload, sniff_type

HEADER = "Incident Ref,Incident Date,Store No,Category,Injury\n"


@pytest.fixture(scope="module")
def upload_ws(web_workspace, tmp_path_factory):
    """A private copy of the web workspace: uploads here never touch the shared fixture."""
    root = tmp_path_factory.mktemp("uploads") / "ws"
    shutil.copytree(web_workspace.root, root)
    return open_workspace(root)


def _app(ws, **settings):
    return create_app({"workspace": str(ws.root), "secure_cookies": False, "testing": True, **settings})


@pytest.fixture()
def api(upload_ws):
    """POST a file to /api/retailer/uploads/<kind> as a user (bearer token: no CSRF)."""
    app, tokens = _app(upload_ws), {}

    def post(kind: str, name: str, data: bytes, user: str = "acme_user", **form):
        if user not in tokens:
            tokens[user] = create_token(upload_ws, user, "uploads test")
        return app.test_client().post(f"/api/retailer/uploads/{kind}", headers={
            "Authorization": f"Bearer {tokens[user]}"}, data={"file": (io.BytesIO(data), name), **form},
            content_type="multipart/form-data")
    return post


@pytest.fixture()
def page(upload_ws):
    """POST a file through the upload form (session cookie and CSRF token) as acme_user."""
    client = _app(upload_ws).test_client()
    assert login(client, "acme_user").status_code == 302

    def post(kind: str, name: str, data: bytes):
        token = csrf_of(client.get("/retailer/upload").get_data(as_text=True))
        return client.post("/retailer/upload", data={"csrf_token": token, "kind": kind,
                                                     "file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")
    return post


def _counts(ws) -> tuple:
    with contextlib.closing(connect(ws)) as conn:
        files, segments = conn.execute("SELECT count(*), (SELECT count(*) FROM segments) FROM files").fetchone()
        stores = conn.execute("SELECT count(*) FROM stores").fetchone()[0]
    return files, segments, stores, len(read_incidents(ws, ["incident_id"], sources=["retailer:acme"]))


def _xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _rewrite(data: bytes, member: str, content: bytes) -> bytes:
    """The same zip with one member's content replaced."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, content if info.filename == member else source.read(info))
    return out.getvalue()


# -- accepted files ----------------------------------------------------------------------------------

def test_csv_incidents_are_reported_row_by_row_and_counts_reconcile(page, api, upload_ws):
    body = (HEADER + "W3-1,02/11/2023,1003,Theft,N\nW3-2,31/02/2023,1003,Theft,N\nW3-3,03/11/2023,9999,Theft,N\n"
            "W3-4,04/11/2023,1002,Alien abduction,N\nW3-5,05/11/2023,1002,Violence against staff,Y\n"
            "W3-6,06/11/2023,1001,Abuse,maybe\n").encode()
    before = _counts(upload_ws)
    response = page("incidents", "week.csv", body)
    html = re.sub(r"\s+", " ", response.get_data(as_text=True))
    assert response.status_code == 200 and 'id="upload-report"' in html
    assert "<strong>6</strong> rows read = <strong>2</strong> accepted + <strong>4</strong> rejected" in html
    for reason, original in (("bad_date", "W3-2,31/02/2023"), ("no_location", "W3-3,03/11/2023,9999"),
                             ("unknown_crime_type", "Alien abduction"), ("bad_value", "maybe")):
        assert reason in html and original in html
    after = _counts(upload_ws)
    assert after[0] == before[0] + 1 and after[3] == before[3] + 2
    again = api("incidents", "week-again.csv", body).get_json()  # same content: a duplicate file
    assert again["status"] == "duplicate" and again["rows_read"] == 6 and again["duplicates"] == 6
    assert again["accepted"] + again["rejected"] + again["duplicates"] == again["rows_read"]
    assert _counts(upload_ws) == after


def test_api_report_lists_every_row_with_reason_and_original(api):
    body = (HEADER + "W3-10,01/10/2023,1001,Theft,N\n,,1001,Theft,N\nW3-12,2023-10-03,1001,Shoplifting,N\n").encode()
    report = api("incidents", "api.csv", body).get_json()
    assert (report["rows_read"], report["accepted"], report["rejected"], report["duplicates"]) == (3, 2, 1, 0)
    assert [r["row"] for r in report["rows"]] == [1, 2, 3]
    assert [r["status"] for r in report["rows"]] == ["accepted", "rejected", "accepted"]
    bad = report["rows"][1]
    assert bad["reason"] == "missing_value" and bad["original"] == ",,1001,Theft,N" and bad["detail"]
    assert report["rejected_by_reason"] == {"missing_value": 1} and report["kind"] == "incidents"


def test_xlsx_incidents_and_stores_are_accepted(api, upload_ws):
    incidents = _xlsx([["Incident Ref", "Incident Date", "Store No", "Category"],
                       ["W3-X1", dt.datetime(2023, 9, 1, 14, 30), "1004", "Shop theft"],
                       ["W3-X2", dt.date(2023, 9, 2), "1004", "Robbery"], [None, None, None, None],
                       ["W3-X3", "not a date", "1004", "Robbery"]])
    report = api("incidents", "book.xlsx", incidents).get_json()
    assert (report["status"], report["rows_read"], report["accepted"], report["rejected"]) == ("ingested", 3, 2, 1)
    assert report["rows"][-1]["reason"] == "bad_date" and report["rows"][-1]["row"] == 4  # sheet rows count
    stores = _xlsx([["Store No", "Name", "Latitude", "Longitude"], ["X1", "Xlsx Store", 52.64, -1.13]])
    saved = api("stores", "stores.xlsx", stores).get_json()
    assert (saved["status"], saved["accepted"], saved["rows"][0]["row"]) == ("saved", 1, 1)
    assert "X1" in set(load_stores(upload_ws, "acme")["store_id"])


def test_store_list_duplicates_and_bad_rows_reconcile(api, upload_ws):
    body = (b"store_id,name,lat,lng\nN1,New One,52.63,-1.13\nN1,Again,52.64,-1.14\nN2,Nowhere,0,0\n"
            b"N3,Swapped,-1.13,52.63\nN4,Fine,52.70,-1.20\n")
    other_before = load_stores(upload_ws, "other")
    report = api("stores", "stores.csv", body).get_json()
    assert (report["rows_read"], report["accepted"], report["rejected"], report["duplicates"]) == (5, 2, 2, 1)
    assert {r["row"]: r["status"] for r in report["rows"]} == {1: "accepted", 2: "duplicate", 3: "rejected",
                                                              4: "rejected", 5: "accepted"}
    assert report["rejected_by_reason"] == {"lat_lng_swapped": 1, "zero_coordinates": 1}
    mine = load_stores(upload_ws, "acme").set_index("store_id")
    assert mine.loc["N1", "name"] == "New One" and "N4" in mine.index and "N2" not in mine.index
    assert load_stores(upload_ws, "other").equals(other_before)


def test_the_organisation_is_never_taken_from_the_form(api, upload_ws):
    report = api("stores", "s.csv", b"store_id,lat,lng\nZZ9,52.6,-1.1\n", org_id="other", org="other").get_json()
    assert report["accepted"] == 1
    assert "ZZ9" in set(load_stores(upload_ws, "acme")["store_id"])
    assert "ZZ9" not in set(load_stores(upload_ws, "other")["store_id"])


def test_the_organisations_mapping_file_is_used(api, upload_ws):
    mapping = upload_ws.root / "mappings" / "acme.toml"
    mapping.parent.mkdir(exist_ok=True)
    mapping.write_text('[columns]\nsource_ref = "Ref"\ndate = "When"\ncategory = "What"\nstore_id = "Shop"\n'
                       '[categories]\n"Till grab" = "robbery"\n', encoding="utf-8")
    try:
        report = api("incidents", "mapped.csv", b"Ref,When,What,Shop\nM-1,01/08/2023,Till grab,1005\n").get_json()
    finally:
        mapping.unlink()
    assert report["accepted"] == 1 and "Robbery" in report["rows"][0]["summary"]
    mapping.write_text('[columns]\ndate = When\n', encoding="utf-8")  # not TOML: a file-level error
    try:
        broken = api("incidents", "mapped.csv", b"Ref,When,What,Shop\nM-2,01/08/2023,Till grab,1005\n")
    finally:
        mapping.unlink()
    message = broken.get_json()["message"]
    assert broken.status_code == 400 and "TOML" in message and str(upload_ws.root) not in message


def test_default_mapping_reads_headings():
    columns = default_columns(["Incident Ref", "Incident Date", "Store No", "Category", "Value (GBP)", "Latitude",
                               "Longitude", "Police Ref", "Other"])
    assert columns == {"source_ref": "Incident Ref", "date": "Incident Date", "store_id": "Store No",
                       "category": "Category", "value_gbp": "Value (GBP)", "lat": "Latitude", "lng": "Longitude",
                       "police_ref": "Police Ref"}


# -- refused files: nothing written ----------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nstream\n\x00\x01\x02endstream"
UTF16 = (HEADER + "W3-U,01/11/2023,1001,Theft,N\n").encode("utf-16")
XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512)
LATIN1 = (HEADER + "W3-L,01/11/2023,1001,Théft,N\n").encode("latin-1")


def _plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("incidents.csv", HEADER)
    return out.getvalue()


@pytest.mark.parametrize("data", [PNG, PDF, UTF16, XLS, LATIN1, _plain_zip()],
                         ids=["png", "pdf", "utf16", "xls", "latin1", "zip"])
def test_type_is_decided_by_content_415_even_named_csv(api, page, upload_ws, data):
    before = _counts(upload_ws)
    for kind in ("incidents", "stores"):
        response = api(kind, "incidents.csv", data)
        assert response.status_code == 415 and response.get_json()["status"] == 415
    form = page("incidents", "incidents.csv", data)
    assert form.status_code == 415 and 'id="upload-error"' in form.get_data(as_text=True)
    assert _counts(upload_ws) == before


def test_oversize_upload_is_413_page_and_json(upload_ws):
    app = _app(upload_ws, max_upload_mb=0.02)  # 20 KiB
    big = (HEADER + "W3-B,01/11/2023,1001,Theft,N\n" * 2000).encode()
    token = create_token(upload_ws, "acme_user", "oversize test")
    before = _counts(upload_ws)
    response = app.test_client().post("/api/retailer/uploads/incidents", headers={"Authorization": f"Bearer {token}"},
                                      data={"file": (io.BytesIO(big), "big.csv")}, content_type="multipart/form-data")
    assert response.status_code == 413 and response.get_json()["status"] == 413
    client = app.test_client()
    login(client, "acme_user")
    form = client.post("/retailer/upload", data={"kind": "incidents", "file": (io.BytesIO(big), "big.csv")},
                       content_type="multipart/form-data")
    assert form.status_code == 413 and "<html" in form.get_data(as_text=True)
    assert _counts(upload_ws) == before
    with pytest.raises(RequestEntityTooLarge):  # the per-file check, below the request limit
        read_upload(FileStorage(io.BytesIO(b"x" * 101), "f.csv"), 100)


def test_zip_bomb_is_refused(api, upload_ws):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
        archive.writestr("xl/worksheets/sheet1.xml", b"<row/>" * (10 * 1024 * 1024))  # 60 MB of XML
    bomb = out.getvalue()
    assert len(bomb) < 200_000  # a ratio over 300
    before = _counts(upload_ws)
    response = api("incidents", "bomb.xlsx", bomb)
    assert response.status_code == 400 and "zip bomb" in response.get_json()["message"]
    assert api("stores", "bomb.csv", bomb).status_code == 400
    assert _counts(upload_ws) == before


def test_billion_laughs_workbook_is_refused(api, upload_ws):
    book = _xlsx([["Incident Ref", "Incident Date", "Store No", "Category"], ["L-1", "01/11/2023", "1001", "Theft"]])
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    laughs = (f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]>'
              '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
              '<c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>').encode()
    bomb = _rewrite(book, "xl/worksheets/sheet1.xml", laughs)
    before = _counts(upload_ws)
    for kind in ("incidents", "stores"):
        response = api(kind, "laughs.xlsx", bomb)
        assert response.status_code == 400 and "XML bomb" in response.get_json()["message"]
    assert _counts(upload_ws) == before


def test_file_level_errors_write_nothing(api, page, upload_ws):
    before = _counts(upload_ws)
    no_category = b"Incident Ref,Incident Date,Store No\nW3-N,01/11/2023,1001\n"
    response = api("incidents", "nocat.csv", no_category)
    assert response.status_code == 400 and "category" in response.get_json()["message"]
    assert "/tmp" not in response.get_json()["message"]  # the temporary file's folder is not shown
    assert api("stores", "noid.csv", b"name,lat,lng\nA,52.6,-1.1\n").status_code == 400
    assert api("incidents", "empty.csv", b"   \n").status_code == 400
    form = page("incidents", "nocat.csv", no_category)
    assert form.status_code == 400 and "category" in form.get_data(as_text=True)
    assert _counts(upload_ws) == before


# -- roles, audit, and what an upload does to the area statistics ------------------------------------------

def test_only_retailers_upload(api, upload_ws):
    for user in ("planner", "admin", "deploy"):
        assert api("stores", "s.csv", b"store_id,lat,lng\nP1,52.6,-1.1\n", user=user).status_code == 403
    anonymous = _app(upload_ws).test_client().post("/api/retailer/uploads/stores")
    assert anonymous.status_code in (400, 401)  # the CSRF check (no session, no token) answers first: 400
    assert api("bogus", "s.csv", b"x").status_code == 404


def test_uploads_are_audited_including_refusals(api, upload_ws):
    api("stores", "audited.csv", b"store_id,lat,lng\nAU1,52.6,-1.1\n")
    api("stores", "refused.csv", PNG)
    entries = [e for e in read_audit(upload_ws, 20) if e["action"] == "upload"]
    details = [(e["username"], e["target"], json.loads(e["detail"]).get("outcome"), json.loads(e["detail"]).get("file"))
               for e in entries]
    assert ("acme_user", "retailer:acme/stores", "saved", "audited.csv") in details
    assert ("acme_user", "retailer:acme/stores", "refused", "refused.csv") in details


def test_area_statistics_are_withheld_once_own_data_changed_since_the_run(api, upload_ws, web_workspace):
    assert own_data_unchanged(web_workspace, require_run(web_workspace), "acme")  # the shared fixture: as scored
    api("incidents", "later.csv", (HEADER + "W3-Z,15/12/2023,1001,Theft,N\n").encode())
    assert not own_data_unchanged(upload_ws, require_run(upload_ws), "acme")
    app = _app(upload_ws)
    client = app.test_client()
    login(client, "acme_user")
    area = client.get("/api/retailer/stores/1001").get_json()["area"]
    assert area["available"] is False and area["rows"] == [] and "next run" in area["reason"]


def test_sniff_type_unit():
    assert sniff_type(b"\xef\xbb\xbfa,b\n1,2\n") == "csv"
    assert sniff_type(_xlsx([["a"], [1]])) == "xlsx"
    assert sniff_type("a,b\né,2\n".encode("cp1252"), "cp1252") == "csv"
    with pytest.raises(UnsupportedMediaType):
        sniff_type("a,b\né,2\n".encode("cp1252"))
