"""Plain files at fixed URLs (UroCell's NIfTI volumes on GitHub): download, record, convert.

No checksums are published, so each file's size and sha256 go into the manifest. NIfTI is
read with nibabel; sections are taken along the array's first axis, as the authors did.
Labels are stored as 0/1.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vemtransfer.data.datasets.common import progress, select
from vemtransfer.data.datasets.store import IMAGE, write_section
from vemtransfer.data.download import download


def _read_nifti(path: Path) -> np.ndarray:
    import nibabel

    return np.asarray(nibabel.load(path).dataobj)


def fetch(name: str, spec: Mapping[str, Any], raw_dir: Path, needed: Mapping[str, list[int] | None]) -> list[dict[str, Any]]:
    records = []
    patterns = {IMAGE: spec["image_pattern"], **spec["label_patterns"]}
    for volume, kinds in needed.items():
        for kind, pattern in patterns.items():
            if kind not in kinds:
                continue
            rel = pattern.format(volume=volume)
            record = download(f"{spec['base_url'].rstrip('/')}/{rel}", raw_dir / "files" / rel)
            records.append(record)
            array = _read_nifti(Path(record["path"]))
            array = array.astype(np.uint8) if kind == IMAGE else (array != 0).astype(np.uint8)
            for z in progress(select(range(array.shape[0]), kinds[kind]), f"{volume} {kind}"):
                write_section(raw_dir, volume, kind, z, array[z])
    return records
