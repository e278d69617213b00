"""vemtransfer.data.download against a real HTTP server on 127.0.0.1 that misbehaves on request."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import zipfile
from pathlib import Path

import pytest

from vemtransfer.data.download import DownloadError, download, range_get, remote_size, write_manifest
from vemtransfer.data.remote_zip import HttpZip

from loopback import FileServer

FAST = {"backoff": 0, "timeout": 5}  # no sleeping between retries; never hang a test


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    srv = FileServer(root)
    yield srv
    srv.close()


@pytest.fixture
def payload() -> bytes:
    return os.urandom(300_000)


def _hashes(data: bytes) -> dict[str, str]:
    return {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}


# --- download -------------------------------------------------------------------------------
def test_download_verifies_and_returns_record(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    dest = tmp_path / "out" / "a.bin"
    record = download(url, dest, **_hashes(payload), size=len(payload), chunk_size=4096, **FAST)
    assert dest.read_bytes() == payload
    assert record == {"url": url, "path": str(dest), "size": len(payload), **_hashes(payload)}
    assert not dest.with_name("a.bin.part").exists()
    write_manifest(tmp_path / "out" / "manifest.json", [record])
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == [record]


def test_interrupted_transfer_resumes_with_range(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    server.behaviour.drop_after, server.behaviour.drop_times = 100_000, 1
    dest = tmp_path / "a.bin"
    download(url, dest, sha256=_hashes(payload)["sha256"], progress=False, chunk_size=8192, **FAST)
    assert dest.read_bytes() == payload
    gets = server.behaviour.gets()
    assert len(gets) == 2 and gets[0][2] is None
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", gets[1][2])[1])
    assert 100_000 - 8192 < resumed_at <= 100_000  # at most the chunk being read when cut is lost


def test_server_ignoring_range_restarts_cleanly(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    dest = tmp_path / "a.bin"
    dest.with_name("a.bin.part").write_bytes(b"stale junk from an earlier try")
    server.behaviour.ignore_range = True
    download(url, dest, md5=_hashes(payload)["md5"], progress=False, **FAST)
    assert dest.read_bytes() == payload
    assert server.behaviour.gets()[0][2] == "bytes=30-"


def test_complete_part_answered_416_is_verified_and_kept(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    dest = tmp_path / "a.bin"
    dest.with_name("a.bin.part").write_bytes(payload)
    record = download(url, dest, sha256=_hashes(payload)["sha256"], progress=False, **FAST)
    assert dest.read_bytes() == payload and record["size"] == len(payload)
    assert len(server.behaviour.gets()) == 1


def test_retries_after_503(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    server.behaviour.fail_first = 3
    download(url, tmp_path / "a.bin", progress=False, retries=3, **FAST)
    assert (tmp_path / "a.bin").read_bytes() == payload
    assert len(server.behaviour.gets()) == 4


def test_503_until_retries_run_out(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    server.behaviour.fail_first = 10
    with pytest.raises(DownloadError, match="giving up after 3 attempts.*503"):
        download(url, tmp_path / "a.bin", progress=False, retries=2, **FAST)
    assert not (tmp_path / "a.bin").exists()


def test_404_fails_at_once(server, tmp_path):
    url = server.url("missing.bin")
    with pytest.raises(DownloadError, match=re.escape(url) + ".*404"):
        download(url, tmp_path / "m.bin", progress=False, **FAST)
    assert len(server.behaviour.gets()) == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "www"]


def test_wrong_checksum_leaves_nothing(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError) as err:
        download(url, dest, md5="0" * 32, progress=False, **FAST)
    message = str(err.value)
    assert url in message and "0" * 32 in message and _hashes(payload)["md5"] in message
    assert not dest.exists() and not dest.with_name("a.bin.part").exists()


def test_remote_file_shorter_than_declared_size(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError, match=f"size expected {len(payload) + 10}, got {len(payload)}"):
        download(url, dest, size=len(payload) + 10, progress=False, retries=1, **FAST)
    assert not dest.exists() and not dest.with_name("a.bin.part").exists()
    assert [r[2] for r in server.behaviour.gets()] == [None, f"bytes={len(payload)}-"]


def test_truncated_transfer_with_known_size_fails(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    server.behaviour.ignore_range = True  # no resume possible: every try restarts and is cut
    server.behaviour.drop_after = 1000
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError, match=re.escape(url)):
        download(url, dest, size=len(payload), progress=False, retries=2, **FAST)
    assert not dest.exists()
    assert len(server.behaviour.gets()) == 3


def test_html_page_is_refused(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    server.behaviour.html = True
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError, match=re.escape(url) + ".*HTML page instead of the file"):
        download(url, dest, progress=False, **FAST)
    assert not dest.exists() and not dest.with_name("a.bin.part").exists()
    record = download(url, dest, progress=False, allow_html=True, **FAST)
    assert dest.read_bytes().startswith(b"<html>") and record["size"] == dest.stat().st_size


def test_verified_file_is_not_downloaded_again(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    dest = tmp_path / "a.bin"
    first = download(url, dest, **_hashes(payload), progress=False, **FAST)
    again = download(url, dest, **_hashes(payload), progress=False, **FAST)
    unchecked = download(url, dest, progress=False, **FAST)
    assert first == again and unchecked["sha256"] == first["sha256"]
    assert len(server.behaviour.seen) == 1


def test_corrupt_existing_file_is_replaced(server, tmp_path, payload):
    url = server.put("a.bin", payload)
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"not the file")
    download(url, dest, sha256=_hashes(payload)["sha256"], progress=False, **FAST)
    assert dest.read_bytes() == payload


# --- range_get / remote_size ----------------------------------------------------------------
def test_range_get_exact_bytes(server, payload):
    url = server.put("a.bin", payload)
    assert range_get(url, 1000, 1999, **FAST) == payload[1000:2000]
    assert range_get(url, len(payload) - 1, len(payload) - 1, **FAST) == payload[-1:]
    assert remote_size(url, **FAST) == len(payload)


def test_remote_size_without_head(server, payload):
    url = server.put("a.bin", payload)
    server.behaviour.refuse_head = True
    assert remote_size(url, **FAST) == len(payload)
    assert server.behaviour.gets() == [("GET", "/a.bin", "bytes=0-0")]


def test_range_get_requires_206(server, payload):
    url = server.put("a.bin", payload)
    server.behaviour.ignore_range = True
    with pytest.raises(DownloadError, match=re.escape(url) + ".*206"):
        range_get(url, 0, 9, **FAST)
    assert len(server.behaviour.gets()) == 1


def test_range_get_retries_503(server, payload):
    url = server.put("a.bin", payload)
    server.behaviour.fail_first = 2
    assert range_get(url, 5, 9, **FAST) == payload[5:10]


# --- HttpZip --------------------------------------------------------------------------------
MEMBERS = {
    "labels/er_000000.tiff": b"\x00\xff" * 3000 + b"end",
    "labels/er_000005.tiff": b"tiny",
    "readme.txt": "Grüße, slices are sorted by z\n".encode() * 50,
    "empty.txt": b"",
    "ER/größe.txt": b"utf-8 name",
}


def _zip_bytes(big: int = 2_000_000) -> bytes:
    """A zip with stored and deflated members and one big incompressible member never read."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", allowZip64=True) as zf:
        for i, (name, data) in enumerate(MEMBERS.items()):
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if i % 2 else zipfile.ZIP_DEFLATED)
        zf.writestr("raw/huge.bin", os.urandom(big), compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


def test_httpzip_reads_members_with_few_bytes(server):
    data = _zip_bytes()
    url = server.put("labels.zip", data)
    with HttpZip(url, **FAST) as zf:
        assert zf.size == len(data)
        assert zf.names() == [*MEMBERS, "raw/huge.bin"]
        for name, content in MEMBERS.items():
            assert zf.read(name) == content
        assert zf.bytes_fetched < len(data) // 10
    with zipfile.ZipFile(io.BytesIO(data)) as local:
        kinds = {i.compress_type for i in local.infolist() if i.filename in MEMBERS}
    assert kinds == {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}


def test_httpzip_zip64(server, monkeypatch):
    """An archive written as Python writes one over 4 GiB: zip64 extras, locator and end record."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", allowZip64=True) as zf:
        with zf.open("forced.bin", "w", force_zip64=True) as fh:
            fh.write(b"zip64 member " * 1000)
        for name, content in MEMBERS.items():
            zf.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
        monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 8)  # the end records now need zip64 values
    monkeypatch.undo()
    data = bytearray(buf.getvalue())
    eocd = len(data) - 22
    assert data[eocd - 20 : eocd - 16] == b"PK\x06\x07"  # zip64 locator, then the classic end record
    struct.pack_into("<II", data, eocd + 12, 0xFFFFFFFF, 0xFFFFFFFF)  # cd size, offset as past 4 GiB
    data = bytes(data)
    with zipfile.ZipFile(io.BytesIO(data)) as local:  # Python agrees the archive is valid
        assert local.read("forced.bin") == b"zip64 member " * 1000
        assert all(i.extra[:2] == b"\x01\x00" for i in local.infolist()[1:])  # zip64 extras in the CD
    url = server.put("big.zip", data)
    with HttpZip(url, **FAST) as zf:
        assert zf.names() == ["forced.bin", *MEMBERS]
        assert zf.read("forced.bin") == b"zip64 member " * 1000
        for name, content in MEMBERS.items():
            assert zf.read(name) == content


def test_httpzip_crc_mismatch(server):
    data = bytearray(_zip_bytes(big=1000))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as local:
        info = local.getinfo("labels/er_000005.tiff")  # a stored member: b"tiny"
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    assert data[start : start + 4] == b"tiny"
    data[start] ^= 0xFF
    url = server.put("bad.zip", bytes(data))
    with HttpZip(url, **FAST) as zf:
        assert zf.read("readme.txt") == MEMBERS["readme.txt"]
        with pytest.raises(DownloadError, match="er_000005.tiff.*corrupt.*CRC32"):
            zf.read("labels/er_000005.tiff")


def test_httpzip_rejects_non_zip(server, payload):
    url = server.put("a.bin", payload)
    with pytest.raises(DownloadError, match="not a zip"):
        HttpZip(url, **FAST)
