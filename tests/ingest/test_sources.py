"""Input files: zip members inflated with ISA-L give zipfile's bytes; damage is a clear error."""

from __future__ import annotations

import zipfile

import pytest

from harmmap.errors import InputFileError
from harmmap.ingest.sources import expand_paths

BODY = b"Crime ID,Month\r\n" + b"".join(b"%064x,2024-03\r\n" % i for i in range(2000))


def _archive(path, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("2024-03/2024-03-leicestershire-street.csv", BODY)
        archive.writestr("2024-04/2024-04-leicestershire-street.csv", BODY[:100])
    return path


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_BZIP2])
def test_zip_members_load_as_zipfile_reads_them(tmp_path, compression):
    path = _archive(tmp_path / "bulk.zip", compression)
    members = expand_paths([path])
    with zipfile.ZipFile(path) as archive:
        expected = [archive.read(name) for name in sorted(archive.namelist())]
    assert [member.load() for member in members] == expected
    assert members[0].name.endswith("!2024-03/2024-03-leicestershire-street.csv")


def test_a_damaged_member_is_an_input_error(tmp_path):
    path = _archive(tmp_path / "bulk.zip")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("2024-03/2024-03-leicestershire-street.csv")
    start = info.header_offset + 30 + len(info.filename.encode())
    data[start + 40] ^= 0xFF  # inside the deflated data
    path.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match="cannot read zip member"):
        expand_paths([path])[0].load()
