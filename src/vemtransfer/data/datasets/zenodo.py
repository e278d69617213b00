"""Zenodo datasets: one published zip with a checksum (SNEMI3D), or a record's files via its API (rat liver).

``zenodo_file``: the whole file is downloaded and its published md5 checked, then the
multi-page TIFF members are split into sections. ``zenodo_record``: names, sizes and md5s
come from the record's REST API at download time; each configured file is a zip of
per-section images, of which only the needed sections are read with HTTP range requests
(each member's CRC32 is checked; the whole-file md5 cannot be, since the file is not
fetched whole, and the API's size is compared with the server's).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
import tifffile

from vemtransfer.data.datasets.common import decode_image, progress, select
from vemtransfer.data.datasets.store import IMAGE, MAIN, write_section
from vemtransfer.data.download import DownloadError, download, fetch_text
from vemtransfer.data.remote_zip import HttpZip


def fetch(name: str, spec: Mapping[str, Any], raw_dir: Path, needed: Mapping[str, list[int] | None]) -> list[dict[str, Any]]:
    if spec["kind"] == "zenodo_file":
        return _fetch_file(spec, raw_dir, needed.get(MAIN, {}))
    return _fetch_record(spec, raw_dir, needed.get(MAIN, {}))


def _fetch_file(spec: Mapping[str, Any], raw_dir: Path, needed: Mapping[str, list[int] | None]) -> list[dict[str, Any]]:
    """Download the zip (md5-checked), split the configured TIFF members into sections, drop the zip."""
    archive = raw_dir / Path(urlparse(spec["url"]).path).name
    record = download(spec["url"], archive, md5=spec.get("md5"), sha256=spec.get("sha256"))
    with zipfile.ZipFile(archive) as zf:
        for kind, member in spec["members"].items():
            if kind not in needed:
                continue
            try:
                stack = tifffile.imread(zf.open(member))
            except KeyError:
                raise DownloadError(f"{spec['url']}: archive has no member {member!r}") from None
            for z in progress(select(range(stack.shape[0]), needed[kind]), f"{member} -> sections"):
                write_section(raw_dir, MAIN, kind, z, stack[z])
    archive.unlink()
    return [{**record, "path": None, "extracted": dict(spec["members"])}]


def record_files(url: str, session: requests.Session | None = None) -> dict[str, dict[str, Any]]:
    """The files of the Zenodo record at API ``url`` by name (``key``, ``size``, ``checksum``, ``links``)."""
    try:
        files = json.loads(fetch_text(url, session=session))["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DownloadError(f"{url}: not a Zenodo record answer ({exc})") from exc
    return {f["key"]: f for f in files}


def _fetch_record(spec: Mapping[str, Any], raw_dir: Path, needed: Mapping[str, list[int] | None]) -> list[dict[str, Any]]:
    records = []
    with requests.Session() as session:
        files = record_files(spec["api_url"], session)
        wanted = {IMAGE: spec["image"], **spec["labels"]}
        for kind, sel in wanted.items():
            if kind not in needed:
                continue
            if sel["file"] not in files:
                raise DownloadError(f"{spec['api_url']}: record has no file {sel['file']!r} (it has {sorted(files)})")
            entry = files[sel["file"]]
            records.append(_read_sections(entry, sel["member"], kind, raw_dir, needed[kind], session))
    return records


def _read_sections(entry: Mapping[str, Any], pattern: str, kind: str, raw_dir: Path, needed: list[int] | None, session: requests.Session) -> dict[str, Any]:
    """Range-read the needed section members of one zip file of the record."""
    url = entry["links"]["self"]
    with HttpZip(url, session) as zf:
        if zf.size != entry["size"]:
            raise DownloadError(f"{url}: server has {zf.size} bytes, the Zenodo record says {entry['size']}")
        members = {int(m["z"]): n for n in zf.names() if (m := re.search(pattern, n))}
        zs = select(members, needed)
        for z in progress(zs, f"{entry['key']} -> sections"):
            write_section(raw_dir, MAIN, kind, z, decode_image(zf.read(members[z]), members[z]))
        return {"url": url, "key": entry["key"], "size": entry["size"], "md5_published": entry.get("checksum"),
                "sections": len(zs), "bytes_fetched": zf.bytes_fetched,
                "verified": "CRC32 of every member read; size against the record"}
