"""Retailer uploads: size and type checks, then the ingest, with a row-by-row validation report.

Checks, in order; a refusal at any step leaves the workspace as it was:

1. **Size.** Flask's ``MAX_CONTENT_LENGTH`` (the ``max_upload_mb`` setting) refuses a larger
   request with 413 before it is read; each file is checked again (413).
2. **Type, by content, never by name.** XLSX is a zip holding ``[Content_Types].xml`` and
   ``xl/workbook.xml``; CSV is text with no NUL byte that decodes as UTF-8 (a byte-order
   mark is fine) or in the encoding the organisation's mapping declares.  Anything else
   (a PDF or a PNG renamed ``.csv``, UTF-16, an old ``.xls``, a zip that is no workbook)
   is 415.
3. **Zip and XML bombs.** Workbooks go through :mod:`harmmap.ingest.xlsx`'s guards (more than
   200 MB uncompressed, a ratio over 100, or XML declaring entities is refused: 400).
4. **Reading.** A file-level problem (no header, a mapped column missing) is 400 and nothing is
   written.  Row-level problems reject the row with its reason, a detail and the original row;
   the other rows are stored.

Store lists are read with :func:`harmmap.ingest.stores.read_stores` and saved with
:func:`harmmap.store.places.save_stores` in one transaction (a store id already known is
replaced).  Incident reports are ingested exactly as ``harmmap ingest incidents`` does
(:func:`harmmap.ingest.pipeline.ingest_files`: one transaction per file; a file already
uploaded adds nothing), without a postcode lookup.

The column mapping of an incident report is ``<workspace>/mappings/<org>.toml`` when it exists
(the TOML of ``harmmap ingest incidents --mapping``, see :mod:`harmmap.ingest.mapping`).
Otherwise the file's headings name the columns: each harmmap field matches a heading equal to
its name or a usual alternative (:data:`DEFAULT_HEADINGS`; case, spaces and punctuation
ignored, so ``Incident Date`` is ``date`` and ``Value (GBP)`` is ``value_gbp``).  Categories
always go through the built-in table ``harmmap/data/retailer_categories.toml``; a mapping's
``[categories]`` adds the organisation's own labels.

Counts reconcile: ``rows_read = accepted + rejected + duplicates``.  Duplicates are rows of a
file uploaded before (same content), and for store lists repeated store ids (the first wins).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.utils import secure_filename

from harmmap.errors import HarmmapError, MappingError
from harmmap.ingest.categories import normalise_label
from harmmap.ingest.stores import ALIASES as STORE_ALIASES
from harmmap.store.workspace import Workspace

MAPPINGS_DIR = "mappings"
ROW_LIMIT = 1000  # rejected or duplicate rows listed in a report
ACCEPTED_LIMIT = 200  # accepted rows listed in a report
_BOM = b"\xef\xbb\xbf"
DEFAULT_HEADINGS: dict[str, tuple[str, ...]] = {
    "source_ref": ("source_ref", "incident_ref", "incident_reference", "reference", "ref", "incident_id",
                   "incident_no", "incident_number"),
    "date": ("date", "incident_date", "date_time", "datetime", "occurred_at", "date_of_incident"),
    "time": ("time", "incident_time", "time_of_incident"),
    "category": ("category", "incident_category", "incident_type", "type", "crime_type"),
    "store_id": STORE_ALIASES["store_id"],
    "location_text": ("location_text", "store_name", "location", "address", "site_name"),
    "value_gbp": ("value_gbp", "value", "loss_gbp", "loss", "value_of_goods", "amount"),
    "injury": ("injury", "injured", "injury_caused"),
    "weapon": ("weapon", "weapon_involved", "weapon_used"),
    "police_ref": ("police_ref", "police_reference", "crime_ref", "crime_reference", "crime_number"),
    **{name: STORE_ALIASES[name] for name in ("lat", "lng", "easting", "northing", "postcode")},
}


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file: its (safe) name and bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class UploadReport:
    """What happened to an upload, row by row (see the module notes for the reconciliation)."""

    kind: str  # "stores" | "incidents"
    file: str
    status: str  # "saved" | "ingested" | "duplicate"
    rows_read: int
    accepted: int
    rejected: int
    duplicates: int
    rejected_by_reason: dict = field(default_factory=dict)
    updated: int = 0
    notes: tuple[str, ...] = ()
    rows: tuple[dict, ...] = ()
    rows_truncated: bool = False

    def to_dict(self) -> dict:
        """JSON-ready form (the API's ``UploadReport`` schema)."""
        out = asdict(self)
        out["notes"], out["rows"] = list(self.notes), [dict(r) for r in self.rows]
        return out


def read_upload(storage, max_bytes: int) -> Upload:
    """Read a werkzeug ``FileStorage``: 400 when missing or empty, 413 when larger than ``max_bytes``."""
    if storage is None or not getattr(storage, "filename", None):
        raise BadRequest("choose a file to upload (form field 'file')")
    data = storage.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RequestEntityTooLarge(f"the file is larger than the {max_bytes / 1024 / 1024:g} MB upload limit")
    if not data.strip():
        raise BadRequest("the file is empty")
    return Upload(secure_filename(storage.filename) or "upload", data)


def sniff_type(data: bytes, encoding: str = "utf-8") -> str:
    """Return ``"xlsx"`` or ``"csv"`` from the content, or raise 415 (type) / 400 (zip or XML bomb)."""
    if data.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise UnsupportedMediaType("the file is a damaged zip archive, not an XLSX workbook") from None
        if not {"[Content_Types].xml", "xl/workbook.xml"} <= names:
            raise UnsupportedMediaType("the file is a zip archive but not an XLSX workbook; upload .xlsx or CSV")
        from harmmap.ingest.xlsx import _check_zip  # the ingest's zip-bomb and XML-bomb guards

        try:
            _check_zip(data, "the workbook")
        except HarmmapError as error:
            raise BadRequest(str(error)) from None
        return "xlsx"
    if b"\x00" in data:
        raise UnsupportedMediaType("the file is not CSV text (it holds binary data); upload CSV (UTF-8) or XLSX")
    try:
        data.removeprefix(_BOM).decode("utf-8" if data.startswith(_BOM) else encoding)
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise UnsupportedMediaType(f"the file is not {encoding} text: invalid byte at line {line}; save it as "
                                   "'CSV UTF-8' or XLSX") from None
    except LookupError:
        raise UnsupportedMediaType(f"unknown text encoding {encoding!r} in the organisation's mapping") from None
    return "csv"


@contextlib.contextmanager
def _paths_hidden(*folders):
    """Re-raise harmmap errors without the server's folders in their text (users see file names only)."""
    try:
        yield
    except HarmmapError as error:
        def hide(text):
            if text is None:
                return None
            for folder in folders:
                text = str(text).replace(f"{folder}/", "")
            return text
        raise type(error)(hide(error.what), given=hide(error.given), fix=hide(error.fix)) from None


@contextlib.contextmanager
def _staged(upload: Upload, ws: Workspace):
    """The upload written to a private temporary file (named like the upload, for messages)."""
    with tempfile.TemporaryDirectory(prefix="harmmap-upload-") as folder, _paths_hidden(folder, ws.root):
        path = Path(folder) / upload.name
        path.write_bytes(upload.data)
        yield path


def mapping_path(ws: Workspace, org_id: str) -> Path:
    """Where an organisation's column mapping lives (it may not exist)."""
    return ws.root / MAPPINGS_DIR / f"{org_id}.toml"


def default_columns(headings) -> dict[str, str]:
    """field -> heading for the headings that name a harmmap field (see :data:`DEFAULT_HEADINGS`)."""
    by_key = {normalise_label(h).replace(" ", "_"): h for h in reversed(list(headings))}
    out: dict[str, str] = {}
    for name, aliases in DEFAULT_HEADINGS.items():
        hit = next((by_key[a] for a in aliases if a in by_key and by_key[a] not in out.values()), None)
        if hit is not None:
            out[name] = hit
    return out


def incident_mapping(ws: Workspace, org_id: str, path: Path | None = None):
    """The organisation's mapping file, else the default mapping from the file's headings."""
    from harmmap.ingest.mapping import load_mapping
    from harmmap.ingest.tables import read_table

    own = mapping_path(ws, org_id)
    if own.is_file():
        return load_mapping(own)
    if path is None:
        return None
    columns = default_columns(read_table(path).columns)
    try:
        return load_mapping(None, columns=columns)
    except MappingError as error:
        raise MappingError(f"the file's headings do not say which column is which: {error.what}",
                           given=f"headings understood: {columns or 'none'}",
                           fix="name the columns date, category and store_id (or lat/lng, postcode), or ask "
                               f"an administrator for a mapping file {MAPPINGS_DIR}/{org_id}.toml") from None


def _reject_rows(rejects: pd.DataFrame, status_of=None) -> list[dict]:
    status = status_of(rejects) if status_of else np.full(len(rejects), "rejected", dtype=object)
    return [{"row": int(n), "status": s, "reason": str(r), "detail": str(d), "original": str(o), "summary": None}
            for n, s, r, d, o in zip(rejects["row_number"], status, rejects["reason"], rejects["detail"],
                                     rejects["raw"].fillna(""))]


def _merge_rows(problems: list[dict], accepted: list[dict]) -> tuple[tuple[dict, ...], bool]:
    truncated = len(problems) > ROW_LIMIT or len(accepted) > ACCEPTED_LIMIT
    rows = problems[:ROW_LIMIT] + accepted[:ACCEPTED_LIMIT]
    return tuple(sorted(rows, key=lambda r: (r["row"] is None, r["row"] or 0))), truncated


def _accepted_incidents(incidents: pd.DataFrame) -> list[dict]:
    head = incidents.head(ACCEPTED_LIMIT + 1)
    when = pd.to_datetime(head["occurred_at"]).dt.strftime("%Y-%m-%d").fillna("")
    text = (head["source_ref"].astype(str) + " · " + when + " · " + head["crime_type"].astype(str) + " · store "
            + head["store_id"].astype(object).fillna("-").astype(str))
    return [{"row": int(n), "status": "accepted", "reason": None, "detail": None, "original": None, "summary": s}
            for n, s in zip(head["row_number"], text)]


def _duplicate_report(name: str, result, earlier: str | None) -> UploadReport:
    """Every row of a file uploaded before is a duplicate."""
    numbers = np.sort(np.concatenate([result.incidents["row_number"].to_numpy(),
                                      result.rejects["row_number"].to_numpy()]))
    rows = [{"row": int(n), "status": "duplicate", "reason": "duplicate_file", "original": None, "summary": None,
             "detail": f"this file was uploaded before: {earlier}"} for n in numbers]
    listed, truncated = _merge_rows(rows, [])
    return UploadReport("incidents", name, "duplicate", result.rows_read, 0, 0, result.rows_read, rows=listed,
                        rows_truncated=truncated)


def ingest_incident_upload(ws: Workspace, org_id: str, upload: Upload) -> UploadReport:
    """Check and ingest an incident report for ``org_id`` (as ``harmmap ingest incidents``)."""
    from harmmap.ingest.pipeline import ingest_files
    from harmmap.ingest.retailer import read_retailer_incidents
    from harmmap.ingest.sources import InputFile
    from harmmap.schema import RETAILER_PREFIX
    from harmmap.store.places import load_stores

    with _paths_hidden(ws.root):
        preset = incident_mapping(ws, org_id)
    sniff_type(upload.data, preset.encoding if preset is not None else "utf-8")
    with _staged(upload, ws) as path:
        mapping = preset or incident_mapping(ws, org_id, path)
        stores, seen = load_stores(ws, org_id), {}

        def reader(data: bytes, name: str):
            seen["result"] = read_retailer_incidents(path, org_id=org_id, mapping=mapping, stores=stores)
            return seen["result"]

        summary = ingest_files(ws, RETAILER_PREFIX + org_id, [InputFile(upload.name, lambda: upload.data)],
                               reader).files[0]
        if summary.status == "duplicate":  # the pipeline skipped it unread: read it for the report
            return _duplicate_report(upload.name, reader(upload.data, upload.name), summary.duplicate_of)
    result = seen["result"]
    listed, truncated = _merge_rows(_reject_rows(result.rejects), _accepted_incidents(result.incidents))
    return UploadReport("incidents", upload.name, "ingested", result.rows_read, summary.accepted, summary.rejected, 0,
                        dict(summary.rejected_by_reason), summary.updated, tuple(summary.notes), listed, truncated)


def _is_duplicate_store(rejects: pd.DataFrame) -> np.ndarray:
    return ((rejects["reason"] == "bad_value") & rejects["detail"].str.startswith("duplicate store id")).to_numpy(bool)


def _store_row_numbers(path: Path, rejects: pd.DataFrame, accepted: int) -> list[int | None]:
    """Data row numbers of the accepted stores (file order), when the file is a table."""
    from harmmap.ingest.tables import read_table

    try:
        numbers = read_table(path).row_numbers
    except HarmmapError:
        return [None] * accepted
    kept = numbers[~np.isin(numbers, rejects["row_number"].to_numpy())]
    return [int(n) for n in kept] if kept.size == accepted else [None] * accepted


def save_store_upload(ws: Workspace, org_id: str, upload: Upload) -> UploadReport:
    """Check, read and save a store list for ``org_id``."""
    from harmmap.ingest.stores import read_stores
    from harmmap.store.places import save_stores

    sniff_type(upload.data)
    with _staged(upload, ws) as path:
        read = read_stores(path, org_id=org_id)
        numbers = _store_row_numbers(path, read.rejects, len(read.stores))
    if len(read.stores):
        save_stores(ws, org_id, read.stores)
    duplicate = _is_duplicate_store(read.rejects)
    problems = _reject_rows(read.rejects, lambda r: np.where(duplicate, "duplicate", "rejected"))
    stores = read.stores.head(ACCEPTED_LIMIT + 1)
    accepted = [{"row": n, "status": "accepted", "reason": None, "detail": None, "original": None,
                 "summary": f"{sid} · {'' if pd.isna(name) else name} · {lat:.5f}, {lng:.5f}"}
                for n, sid, name, lat, lng in zip(numbers, stores["store_id"], stores["name"], stores["lat"],
                                                  stores["lng"])]
    listed, truncated = _merge_rows(problems, accepted)
    real = read.rejects.loc[~duplicate, "reason"].value_counts().sort_index()
    return UploadReport("stores", upload.name, "saved", read.rows_read, len(read.stores), int((~duplicate).sum()),
                        int(duplicate.sum()), {str(k): int(v) for k, v in real.items()}, rows=listed,
                        rows_truncated=truncated)


__all__ = ["DEFAULT_HEADINGS", "Upload", "UploadReport", "default_columns", "incident_mapping",
           "ingest_incident_upload", "mapping_path", "read_upload", "save_store_upload", "sniff_type"]
