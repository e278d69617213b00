"""EMPIAR-10791 (mouse liver): only the needed raw slices, labels read out of remote zips.

The raw stack is 5638 single-slice TIFFs of 12000 x 8000; the directory listing is checked
for every needed slice before anything is fetched. Each segmentation is a multi-GiB zip of
per-slice 0/255 TIFFs whose sorted TIFF members are indexed by z (as torch-em reads them):
we read the central directory and the needed members with HTTP range requests and record
how many bytes that took against the archive's size. EMPIAR publishes no checksums, so
the manifest records size and sha256 of every raw slice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import requests

from vemtransfer.data.datasets.common import decode_image, progress, select
from vemtransfer.data.datasets.store import IMAGE, MAIN, section_path, write_section
from vemtransfer.data.download import DownloadError, download, fetch_text
from vemtransfer.data.remote_zip import HttpZip


def listing(url: str, session: requests.Session) -> set[str]:
    """File names linked from an HTML directory index."""
    return {unquote(h).rsplit("/", 1)[-1] for h in re.findall(r'href="([^"?#]+)"', fetch_text(url, session=session))}


def fetch(name: str, spec: Mapping[str, Any], raw_dir: Path, needed: Mapping[str, list[int] | None]) -> list[dict[str, Any]]:
    kinds = needed.get(MAIN, {})
    if any(zs is None for zs in kinds.values()):
        raise ValueError(f"dataset {name!r}: tasks must name their z ranges (the stack has 5638 sections)")
    base = spec["base_url"].rstrip("/")
    with requests.Session() as session:
        records = _fetch_raw(base, spec, raw_dir, kinds[IMAGE], session) if IMAGE in kinds else []
        for label, zip_path in spec["label_zips"].items():
            if label in kinds:
                records.append(_fetch_labels(f"{base}/{zip_path}", label, raw_dir, kinds[label], session))
    return records


def _fetch_raw(base: str, spec: Mapping[str, Any], raw_dir: Path, zs: list[int], session: requests.Session) -> list[dict[str, Any]]:
    folder = f"{base}/{spec['raw_dir']}"
    names = {z: spec["raw_pattern"].format(z=z) for z in zs}
    present = listing(f"{folder}/", session)
    missing = [n for n in names.values() if n not in present]
    if missing:
        raise DownloadError(f"{folder}/: listing lacks {len(missing)} needed slices, e.g. {missing[:3]}")
    return [
        download(f"{folder}/{quote(names[z])}", section_path(raw_dir, MAIN, IMAGE, z), session=session, progress=False)
        for z in progress(zs, "raw slices")
    ]


def _fetch_labels(url: str, label: str, raw_dir: Path, zs: list[int], session: requests.Session) -> dict[str, Any]:
    with HttpZip(url, session) as zf:
        tiffs = sorted(n for n in zf.names() if n.lower().endswith((".tif", ".tiff")))
        for z in progress(select(range(len(tiffs)), zs), f"{label} labels"):
            write_section(raw_dir, MAIN, label, z, decode_image(zf.read(tiffs[z]), tiffs[z]))
        return {"url": url, "label": label, "size": zf.size, "sections": len(zs), "bytes_fetched": zf.bytes_fetched,
                "fraction_fetched": round(zf.bytes_fetched / zf.size, 6)}
