"""Open an XLSX workbook safely as rows of text.

Guards: a zip that would expand to more than 200 MB, or with a compression
ratio over 100 for members over 1 MB, is refused (zip bomb); XML that declares
entities is refused before parsing, and openpyxl parses with defusedxml (XML
bomb).  Cells are turned into text the way a person reads them (dates as ISO).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
import zlib

import pandas as pd

from harmmap.errors import InputFileError
from harmmap.ingest.tables import _rejects, rows_to_csv_text, unique_header

_MAX_XLSX_BYTES = 200 * 1024**2
_MAX_RATIO = 100
_RATIO_FLOOR = 1024**2


def _check_zip(data: bytes, name: str) -> None:
    """Refuse zips that are not workbooks, zip bombs and XML with entity declarations."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
        names = {i.filename for i in infos}
        if "xl/workbook.xml" not in names:
            raise InputFileError("this zip file is not an XLSX workbook", given=name,
                                 fix="save the report as .xlsx or CSV (OpenDocument .ods is not supported)")
        total = sum(i.file_size for i in infos)
        packed = max(sum(i.compress_size for i in infos), 1)
        if total > _MAX_XLSX_BYTES or (total > _RATIO_FLOOR and total / packed > _MAX_RATIO):
            raise InputFileError("workbook refused: it would expand to too much data (possible zip bomb)",
                                 given=f"{name}: {total / 1e6:.0f} MB uncompressed, ratio {total / packed:.0f}",
                                 fix="export the sheet as CSV instead (limit 200 MB, ratio 100)")
        for info in infos:
            if info.filename.endswith((".xml", ".rels")):
                with archive.open(info) as member:
                    head = member.read(4096)
                if b"<!ENTITY" in head or b"<!DOCTYPE" in head:
                    raise InputFileError("workbook refused: its XML declares entities (possible XML bomb)",
                                         given=f"{name}: {info.filename}", fix="export the sheet as CSV instead")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, ValueError,
            NotImplementedError, RuntimeError) as exc:
        if isinstance(exc, InputFileError):
            raise
        raise InputFileError("cannot open the zip/XLSX file", given=f"{name}: {exc}",
                             fix="save the report again as .xlsx or CSV") from None


def read_workbook(data: bytes, name: str, sheet: str | None):
    """Return (header, rows, row numbers, bad rows) of one worksheet."""
    import openpyxl

    _check_zip(data, name)
    if not openpyxl.DEFUSEDXML:
        raise InputFileError("XLSX reading is disabled: openpyxl is not using defusedxml",
                             given="OPENPYXL_DEFUSEDXML is set to something other than True",
                             fix="unset OPENPYXL_DEFUSEDXML, or export the sheet as CSV")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on corrupt files; all mean "cannot open"
        raise InputFileError("cannot open the XLSX workbook", given=f"{name}: {type(exc).__name__}: {exc}",
                             fix="open it in Excel and save it again, or export the sheet as CSV") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise InputFileError(f"no sheet named {sheet!r}", given=f"{name} has sheets {book.sheetnames}",
                                 fix="set sheet under [format] in the mapping (or --sheet) to one of them")
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
        worksheet.reset_dimensions()
        return _sheet_rows(worksheet.iter_rows(values_only=True), name)
    except InputFileError:
        raise
    except Exception as exc:  # as above: a corrupt sheet part
        raise InputFileError("cannot read the XLSX worksheet", given=f"{name}: {type(exc).__name__}: {exc}",
                             fix="open it in Excel and save it again, or export the sheet as CSV") from None
    finally:
        book.close()


def _sheet_rows(rows, name: str):
    header_at, header = 0, None
    good, numbers, bad = [], [], []
    for sheet_row, values in enumerate(rows, start=1):
        cells = [_cell_text(v) for v in values]
        if header is None:
            if any(c is not None for c in cells):
                header, header_at = unique_header(cells, name), sheet_row
            continue
        width = len(header)
        if any(c is not None for c in cells[width:]):
            line = rows_to_csv_text(pd.DataFrame([cells], dtype=object))[0]
            bad.append((sheet_row - header_at, "malformed_row", f"values beyond the header's {width} columns", line))
            continue
        if any(c is not None for c in cells):
            good.append((cells + [None] * width)[:width])
            numbers.append(sheet_row - header_at)
    if header is None:
        raise InputFileError("the worksheet is empty", given=name, fix="choose the sheet with the incidents")
    rejects = _rejects(bad)
    return header, good, numbers, rejects


def _cell_text(value) -> str | None:
    """Return a workbook cell as text: numbers without float noise, dates and times in ISO form."""
    if value is None or isinstance(value, str):
        return value if value is None or value.strip() else None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        if value.date() in (dt.date(1899, 12, 30), dt.date(1899, 12, 31)):
            return value.time().isoformat(timespec="seconds")
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value)
