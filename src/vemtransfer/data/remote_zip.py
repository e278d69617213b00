"""Single members of a remote ZIP archive, read with HTTP range requests.

EMPIAR-10791 packs its per-slice labels in multi-GiB zips (and Zenodo records are zips) of
which a task needs a few hundred members: reading the central directory and then each
member's bytes costs kilobytes per slice instead of the whole archive. Members are
inflated and CRC-checked; anything unexpected is a :class:`DownloadError`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import requests

from vemtransfer.data.download import DownloadError, range_get, remote_size

_EOCD = struct.Struct("<IHHHHIIH")  # signature 0x06054b50 .. comment length
_ZIP64_LOCATOR = struct.Struct("<IIQI")  # signature 0x07064b50, disk, record offset, disks
_ZIP64_EOCD = struct.Struct("<IQHHIIQQQQ")  # signature 0x06064b50 .. entries, cd size, cd offset
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # signature 0x02014b50 .. local header offset
_LOCAL = struct.Struct("<IHHHHHIIIHH")  # signature 0x04034b50 .. name length, extra length
_TAIL = _EOCD.size + 0xFFFF + _ZIP64_LOCATOR.size + _ZIP64_EOCD.size  # EOCD, longest comment, zip64
_SLACK = 256  # bytes of local 'extra' beyond the central one that the first member read covers
_U32, _U16 = 0xFFFFFFFF, 0xFFFF


@dataclass(frozen=True)
class _Member:
    method: int
    flags: int
    crc: int
    compressed_size: int
    file_size: int
    header_offset: int
    header_guess: int  # local header size if its name and extra match the central entry's


def _zip64_values(extra: bytes, sizes: list[int]) -> list[int]:
    """Replace 0xFFFFFFFF in (file size, compressed size, offset) from the zip64 extra field (id 1)."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == 1:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, pos + 4))
            return [values.pop(0) if v == _U32 and values else v for v in sizes]
        pos += 4 + length
    return sizes


def _parse_central_directory(data: bytes, count: int, url: str) -> dict[str, _Member]:
    """Name -> member for ``count`` central-directory entries (zip64 extras applied)."""
    members: dict[str, _Member] = {}
    pos = 0
    for i in range(count):
        if len(data) < pos + _CENTRAL.size or data[pos : pos + 4] != b"PK\x01\x02":
            raise DownloadError(f"{url}: corrupt ZIP central directory at entry {i}")
        fields = _CENTRAL.unpack_from(data, pos)
        flags, method, crc, csize, usize, nlen, elen, clen, offset = (fields[j] for j in (3, 4, 7, 8, 9, 10, 11, 12, 16))
        name_start = pos + _CENTRAL.size
        name = data[name_start : name_start + nlen].decode("utf-8" if flags & 0x800 else "cp437")
        extra = data[name_start + nlen : name_start + nlen + elen]
        usize, csize, offset = _zip64_values(extra, [usize, csize, offset])
        members[name] = _Member(method, flags, crc, csize, usize, offset, _LOCAL.size + nlen + elen)
        pos = name_start + nlen + elen + clen
    return members


class HttpZip:
    """Members of a remote ZIP archive, fetched with HTTP range requests, never the whole file.

    Opening reads the archive's tail (end-of-central-directory record, zip64 locator and
    record for archives over 4 GiB) and the central directory; :meth:`read` fetches one
    member's local header and data. ``bytes_fetched`` counts the bytes transferred so a
    caller can log "fetched X of ``size`` bytes".
    """

    def __init__(
        self, url: str, session: requests.Session | None = None, *, retries: int = 5, backoff: float = 1.0,
        timeout: float = 60,
    ) -> None:
        self.url = url
        self._own_session = session is None
        self._session = session if session is not None else requests.Session()
        self._policy = {"retries": retries, "backoff": backoff, "timeout": timeout}
        self.bytes_fetched = 0
        self.size = remote_size(url, session=self._session, **self._policy)
        cd_offset, cd_size, count = self._locate_central_directory()
        directory = self._get(cd_offset, cd_size) if count else b""
        self._members = _parse_central_directory(directory, count, url)

    def _get(self, start: int, length: int) -> bytes:
        data = range_get(self.url, start, start + length - 1, session=self._session, **self._policy)
        self.bytes_fetched += len(data)
        return data

    def _locate_central_directory(self) -> tuple[int, int, int]:
        """(offset, size, entry count) of the central directory, from the zip64 record if any."""
        if self.size < _EOCD.size:
            raise DownloadError(f"{self.url}: {self.size} bytes cannot be a zip archive")
        tail_start = max(0, self.size - _TAIL)
        tail = self._get(tail_start, self.size - tail_start)
        pos = tail.rfind(b"PK\x05\x06")  # the last one: a signature inside the comment is rare enough
        if pos < 0 or pos + _EOCD.size > len(tail):
            raise DownloadError(f"{self.url}: no ZIP end-of-central-directory record (not a zip archive?)")
        _, _, _, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, pos)
        loc = pos - _ZIP64_LOCATOR.size
        if loc >= 0 and tail[loc : loc + 4] == b"PK\x06\x07":
            record_offset = _ZIP64_LOCATOR.unpack_from(tail, loc)[2]
            at = record_offset - tail_start
            record = tail[at : at + _ZIP64_EOCD.size] if at >= 0 else self._get(record_offset, _ZIP64_EOCD.size)
            if record[:4] != b"PK\x06\x06":
                raise DownloadError(f"{self.url}: zip64 locator points to no zip64 end-of-central-directory record")
            *_, count, cd_size, cd_offset = _ZIP64_EOCD.unpack(record)
        elif _U16 == count or _U32 in (cd_size, cd_offset):
            raise DownloadError(f"{self.url}: ZIP end record needs zip64 values but has no zip64 locator")
        return cd_offset, cd_size, count

    def names(self) -> list[str]:
        """Member names in archive order."""
        return list(self._members)

    def read(self, name: str) -> bytes:
        """The uncompressed bytes of member ``name`` (stored or deflate), CRC-checked."""
        if name not in self._members:
            raise KeyError(f"{self.url}: no member {name!r}")
        m = self._members[name]
        if m.flags & 0x1:
            raise DownloadError(f"{self.url}: member {name!r} is encrypted")
        if m.method not in (0, 8):
            raise DownloadError(
                f"{self.url}: member {name!r} uses compression method {m.method}; only stored (0) and deflate (8) are supported"
            )
        buf = self._get(m.header_offset, min(m.header_guess + _SLACK + m.compressed_size, self.size - m.header_offset))
        if buf[:4] != b"PK\x03\x04":
            raise DownloadError(f"{self.url}: no local file header for {name!r} at byte {m.header_offset}")
        nlen, elen = _LOCAL.unpack_from(buf)[9:]
        start = _LOCAL.size + nlen + elen
        if (missing := start + m.compressed_size - len(buf)) > 0:
            buf += self._get(m.header_offset + len(buf), missing)
        data = buf[start : start + m.compressed_size]
        if m.method == 8:  # raw deflate, no zlib header
            try:
                inflater = zlib.decompressobj(-15)
                data = inflater.decompress(data) + inflater.flush()
            except zlib.error as exc:
                raise DownloadError(f"{self.url}: member {name!r} is corrupt: {exc}") from exc
        crc = zlib.crc32(data)
        if len(data) != m.file_size or crc != m.crc:
            raise DownloadError(
                f"{self.url}: member {name!r} is corrupt: expected {m.file_size} bytes with CRC32 {m.crc:08x}, "
                f"got {len(data)} bytes with CRC32 {crc:08x}"
            )
        return data

    def close(self) -> None:
        """Close the session if this object made it."""
        if self._own_session:
            self._session.close()

    def __enter__(self) -> HttpZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
