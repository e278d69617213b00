"""download_dataset: fetch what the configured tasks need of one dataset, verified."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vemtransfer.config import Config
from vemtransfer.data.datasets import Needed, fetch_dataset
from vemtransfer.data.download import write_manifest


def download_dataset(cfg: Config, dataset: str, needed: Needed, manifest: str | Path,
                     sha256sums: str | Path | None = None) -> list[dict[str, Any]]:
    """Fetch ``needed`` of ``dataset`` into the manifest's folder; the manifest is written last (it marks done).

    ``sha256sums``: where the dataset's checksum list was found, if not at its configured path.
    """
    spec: Mapping[str, Any] = dict(cfg.section("datasets")[dataset]) | ({"sha256sums": str(sha256sums)} if sha256sums else {})
    records = fetch_dataset(dataset, spec, Path(manifest).parent, needed)
    write_manifest(manifest, records)
    return records
