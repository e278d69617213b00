"""measure_task and ``vemtransfer measure``: numbers per organelle from an OME-Zarr prediction.

The voxel size comes from the prediction itself (its OME metadata), so the numbers are in
the units the viewer shows. Object labels are built in a temporary Zarr beside the outputs
(memory stays bounded on masks larger than RAM) and removed afterwards.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vemtransfer.inference.morphometrics import measure
from vemtransfer.inference.ome import open_prediction, prediction_info
from vemtransfer.report.size_histogram import plot_size_distribution


def measure_prediction(store: str | Path, csv_path: str | Path, summary_path: str | Path, plot_path: str | Path,
                       chunk_zyx: Sequence[int] | None = None, connectivity: int = 1) -> dict[str, Any]:
    """``morphometrics.csv`` (one row per 3-D object), its summary JSON and a size histogram of a prediction's mask.

    ``chunk_zyx`` defaults to the mask's own chunks."""
    import zarr

    _, mask = open_prediction(store)
    voxel = prediction_info(store)["voxel_nm"]
    chunk = tuple(chunk_zyx or mask.chunks)
    scratch = Path(csv_path).parent / f".objects-{uuid.uuid4().hex[:8]}.zarr"
    try:
        labels = zarr.create_array(str(scratch), shape=mask.shape, chunks=chunk, dtype="uint64", fill_value=0)
        summary = measure(mask, voxel, csv_path, summary_path, chunk, connectivity, labels_out=labels)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    plot_size_distribution(pd.read_csv(csv_path), plot_path)
    return {"prediction": str(store), **summary}
