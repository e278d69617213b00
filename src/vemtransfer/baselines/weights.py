"""Pretrained baseline weights (SAM2.1, MitoNet) as verified downloads, like the data.

A weights spec is either a plain file with a published checksum (``url`` + ``sha256`` or
``md5``, optional ``size``: SAM2.1 from Meta's download folder) or a file of a Zenodo record
(``api_url`` + ``file``: MitoNet), whose link, size and md5 come from the record's API at
download time, so no checksum is copied by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vemtransfer.data.datasets.zenodo import record_files
from vemtransfer.data.download import DownloadError, download


def fetch_weights(spec: Mapping[str, Any], dest: str | Path) -> dict[str, Any]:
    """Download ``spec``'s file to ``dest`` (resumable, verified, atomic); return its manifest record."""
    if "api_url" not in spec:
        return download(spec["url"], dest, md5=spec.get("md5"), sha256=spec.get("sha256"), size=spec.get("size"))
    files = record_files(spec["api_url"])
    if spec["file"] not in files:
        raise DownloadError(f"{spec['api_url']}: record has no file {spec['file']!r} (it has {sorted(files)})")
    entry = files[spec["file"]]
    algo, _, digest = str(entry.get("checksum", "")).partition(":")
    if algo != "md5" or not digest:
        raise DownloadError(f"{spec['api_url']}: no md5 checksum for {spec['file']!r} in the record ({entry.get('checksum')!r})")
    return {**download(entry["links"]["self"], dest, md5=digest, size=entry["size"]), "record": spec["api_url"]}
