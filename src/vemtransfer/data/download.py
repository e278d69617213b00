"""The network layer of the data rules: verified, resumable, retried HTTP downloads.

The real datasets (Zenodo, GitHub, EBI's EMPIAR) are large files on busy hosts that now and
then drop a connection, answer 503/429, or serve an HTML error or login page with status
200. A data rule must either produce exactly the published bytes or fail loudly, and a
rerun after a crash must not start a multi-GiB transfer from zero. Hence:

* :func:`download` streams into ``<dest>.part`` and resumes it with an HTTP Range request;
  transient failures (connection errors, timeouts, 5xx, 429) are retried with exponential
  backoff, definite ones (other 4xx, an HTML page, a checksum mismatch) fail at once;
* the file appears under ``dest`` only once its size and checksums are verified
  (``os.replace``, the same rule as :mod:`vemtransfer.core.storage`: "the file exists" means
  "the step is done");
* the ZIP reader over range requests (:mod:`vemtransfer.data.remote_zip`) builds on
  :func:`range_get` and :func:`remote_size` here.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from tqdm import tqdm

from vemtransfer.core.storage import write_json

log = logging.getLogger(__name__)
T = TypeVar("T")

# Byte counts, Range offsets and checksums all refer to the stored file, never a gzip'd wire form.
_HEADERS = {"Accept-Encoding": "identity"}
_MAX_WAIT = 120.0  # seconds; caps the exponential backoff between two attempts
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


class DownloadError(RuntimeError):
    """A transfer failed for good: a definite error, a failed check, or retries exhausted."""


class _Transient(Exception):
    """A failure the next attempt may not meet (a 503, a cut stream); it resumes the part file."""


_RETRYABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, _Transient)


def _retry(op: Callable[[], T], url: str, retries: int, backoff: float) -> T:
    """Run ``op`` until it succeeds, waiting ``backoff * 2**attempt`` s after each transient failure."""
    last: Exception | None = None
    for attempt in range(retries + 1):
        try:
            return op()
        except _RETRYABLE as exc:
            last = exc
            if attempt < retries:
                log.warning("%s: %s; retry %d of %d", url, exc, attempt + 1, retries)
                time.sleep(min(backoff * 2**attempt, _MAX_WAIT))
    raise DownloadError(f"{url}: giving up after {retries + 1} attempts: {last}") from last


def _check_status(resp: requests.Response, url: str) -> None:
    """Sort an answer: 5xx/429 are worth retrying, other 4xx (416 aside) can never succeed."""
    code = resp.status_code
    if code == 429 or code >= 500:
        raise _Transient(f"HTTP {code} {resp.reason}")
    if code >= 400 and code != 416:
        raise DownloadError(f"{url}: HTTP {code} {resp.reason}")


def _content_range(resp: requests.Response) -> tuple[int | None, int | None, int | None]:
    """(first, last, total) of a ``Content-Range: bytes a-b/n`` header; None where absent or ``*``."""
    match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "").strip())
    if match is None:
        return None, None, None
    first, last, total = (None if g in (None, "*") else int(g) for g in match.groups())
    return first, last, total


def _session(session: requests.Session | None) -> contextlib.AbstractContextManager[requests.Session]:
    """The caller's session (connection reuse across calls), else a fresh one closed afterwards."""
    return contextlib.nullcontext(session) if session is not None else requests.Session()


def _with_session(session: requests.Session | None, once: Callable[[requests.Session], T], url: str, retries: int, backoff: float) -> T:
    """Run ``once`` on the caller's (or a fresh) session under the retry policy."""
    with _session(session) as s:
        return _retry(lambda: once(s), url, retries, backoff)


def file_record(url: str, path: Path, with_md5: bool) -> dict[str, Any]:
    """Size and sha256 (and md5 if asked) of ``path``, read once: the manifest record."""
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False) if with_md5 else None
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            size += len(chunk)
            sha.update(chunk)
            if md5 is not None:
                md5.update(chunk)
    record: dict[str, Any] = {"url": url, "path": str(path), "size": size, "sha256": sha.hexdigest()}
    if md5 is not None:
        record["md5"] = md5.hexdigest()
    return record


def _mismatches(record: dict[str, Any], md5: str | None, sha256: str | None, size: int | None) -> list[str]:
    """Human-readable 'expected vs actual' for every given check the record fails."""
    checks = [("size", size, record["size"]), ("md5", md5, record.get("md5")), ("sha256", sha256, record["sha256"])]
    return [
        f"{name} expected {want}, got {got}"
        for name, want, got in checks
        if want is not None and str(want).lower() != str(got).lower()
    ]


def _fetch_once(
    session: requests.Session, url: str, part: Path, size: int | None, timeout: float, chunk_size: int,
    progress: bool, allow_html: bool,
) -> int | None:
    """One attempt: resume or (re)start ``part``; return the file size the server announced."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {**_HEADERS, "Range": f"bytes={offset}-"} if offset else _HEADERS
    with session.get(url, headers=headers, stream=True, timeout=timeout) as resp:
        _check_status(resp, url)
        if resp.status_code == 416:  # refused resume: fine if the part already holds the whole file
            total = _content_range(resp)[2]
            if (total if total is not None else size) == offset:
                return offset  # complete as far as the server knows; verification judges it
            part.unlink(missing_ok=True)
            raise _Transient(f"server refused a resume at byte {offset} (file size {total}); restarting")
        ctype = resp.headers.get("Content-Type", "")  # a login, error or landing page served as 200
        if not allow_html and ctype.split(";")[0].strip().lower() == "text/html":
            raise DownloadError(f"{url}: server returned an HTML page instead of the file (Content-Type {ctype!r})")
        if resp.status_code == 206:
            first, _, total = _content_range(resp)
            if first != offset:
                part.unlink(missing_ok=True)
                raise _Transient(f"asked to resume at byte {offset}, server sent from {first}; restarting")
        else:  # 200: the server ignores Range (or there was none): start over
            offset = 0
            total = int(resp.headers["Content-Length"]) if "Content-Length" in resp.headers else None
        with open(part, "ab" if offset else "wb") as fh, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name[: -len(".part")], disable=not progress, file=sys.stderr,
        ) as bar:
            for chunk in resp.iter_content(chunk_size):
                fh.write(chunk)
                bar.update(len(chunk))
    expected = size if size is not None else total
    got = part.stat().st_size
    if expected is not None and got < expected:
        raise _Transient(f"transfer stopped at byte {got} of {expected}")
    return total


def download(
    url: str, dest: str | Path, *, md5: str | None = None, sha256: str | None = None, size: int | None = None,
    session: requests.Session | None = None, retries: int = 5, backoff: float = 1.0, timeout: float = 60,
    chunk_size: int = 1 << 20, progress: bool = True, allow_html: bool = False,
) -> dict[str, Any]:
    """Fetch ``url`` to ``dest``, verified, and return its manifest record.

    The record is ``{"url", "path", "size", "sha256"}`` plus ``"md5"`` when ``md5`` is
    given. A ``dest`` that already passes the given checks is kept (idempotent reruns);
    one that fails them is deleted and fetched again. ``<dest>.part`` survives failed
    attempts (and a final transient failure) so the next attempt or rerun resumes it; it
    is deleted when the finished file fails verification. ``chunk_size`` is the network
    read size: a cut connection loses at most the chunk being read.
    """
    dest = Path(dest)
    if dest.is_file():
        record = file_record(url, dest, md5 is not None)
        if not _mismatches(record, md5, sha256, size):
            return record
        log.warning("%s exists but fails verification; downloading it again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with _session(session) as s:
        announced = _retry(
            lambda: _fetch_once(s, url, part, size, timeout, chunk_size, progress, allow_html), url, retries, backoff
        )
    record = file_record(url, part, md5 is not None)
    problems = _mismatches(record, md5, sha256, size if size is not None else announced)
    if problems:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: downloaded file fails verification: {'; '.join(problems)}")
    with open(part, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(part, dest)
    return {**record, "path": str(dest)}


def range_get(
    url: str, start: int, end: int, *, session: requests.Session | None = None, retries: int = 5,
    backoff: float = 1.0, timeout: float = 60,
) -> bytes:
    """Bytes ``start..end`` (inclusive) of ``url``; fails unless the server honours the Range."""
    if not 0 <= start <= end:
        raise ValueError(f"bad byte range {start}-{end}")
    want = end - start + 1

    def once(s: requests.Session) -> bytes:
        headers = {**_HEADERS, "Range": f"bytes={start}-{end}"}
        # stream=True: a server that ignores Range must not send us the whole (multi-GiB) file.
        with s.get(url, headers=headers, stream=True, timeout=timeout) as resp:
            _check_status(resp, url)
            if resp.status_code != 206:
                raise DownloadError(
                    f"{url}: asked for bytes {start}-{end}, got HTTP {resp.status_code} {resp.reason} "
                    "instead of 206 Partial Content (the server does not honour Range requests)"
                )
            first, last, _ = _content_range(resp)
            if (first, last) != (start, end):
                raise DownloadError(f"{url}: asked for bytes {start}-{end}, server sent {first}-{last}")
            body = resp.content
        if len(body) != want:
            raise _Transient(f"range {start}-{end}: got {len(body)} of {want} bytes")
        return body

    return _with_session(session, once, url, retries, backoff)


def remote_size(
    url: str, *, session: requests.Session | None = None, retries: int = 5, backoff: float = 1.0, timeout: float = 60,
) -> int:
    """Size of the file at ``url``: HEAD's Content-Length, else the total of a 1-byte range GET."""

    def once(s: requests.Session) -> int:
        head = s.head(url, headers=_HEADERS, allow_redirects=True, timeout=timeout)
        if head.status_code == 429 or head.status_code >= 500:
            raise _Transient(f"HTTP {head.status_code} {head.reason}")
        if head.ok and "Content-Length" in head.headers:
            return int(head.headers["Content-Length"])
        with s.get(url, headers={**_HEADERS, "Range": "bytes=0-0"}, stream=True, timeout=timeout) as resp:
            _check_status(resp, url)
            total = _content_range(resp)[2] if resp.status_code == 206 else None
            if total is None and resp.status_code == 200 and "Content-Length" in resp.headers:
                total = int(resp.headers["Content-Length"])
        if total is None:
            raise DownloadError(f"{url}: server tells neither Content-Length nor a Content-Range total")
        return total

    return _with_session(session, once, url, retries, backoff)


def fetch_text(
    url: str, *, session: requests.Session | None = None, retries: int = 5, backoff: float = 1.0, timeout: float = 60,
) -> str:
    """A small text resource (an API answer, a directory listing), with the same retry policy."""

    def once(s: requests.Session) -> str:
        resp = s.get(url, headers=_HEADERS, timeout=timeout)
        _check_status(resp, url)
        return resp.text

    return _with_session(session, once, url, retries, backoff)


def write_manifest(path: str | Path, records: list[dict[str, Any]]) -> None:
    """Write the download records (a JSON list), atomically: its presence marks the rule done."""
    write_json(path, records)
