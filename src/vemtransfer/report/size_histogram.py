"""The size histogram of a volume's objects (``morphometrics.png``): a figure of the morphometrics table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vemtransfer.core.storage import atomic_path


def _log_bins(volumes: np.ndarray, n: int = 30) -> np.ndarray:
    """Log-spaced bin edges covering all volumes: organelle sizes span decades."""
    lo, hi = float(volumes.min()), float(volumes.max())
    if lo == hi:
        lo, hi = lo / 1.5, hi * 1.5
    return np.geomspace(lo, hi, n + 1)


def plot_size_distribution(table: pd.DataFrame, path: str | Path) -> None:
    """Histogram of object volumes (µm³, log-spaced bins) as a PNG, written atomically.

    Uses a bare ``Figure`` (Agg canvas) rather than pyplot, so no global state or
    backend switch leaks into the caller."""
    from matplotlib.figure import Figure

    volumes = table["volume_um3"].to_numpy(dtype=np.float64)
    fig = Figure(figsize=(5, 3.5), dpi=100)
    ax = fig.add_subplot()
    if len(volumes):
        ax.hist(volumes, bins=_log_bins(volumes), color="tab:blue", edgecolor="white")
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no objects", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("object volume (µm³)")
    ax.set_ylabel("objects")
    ax.set_title(f"{len(volumes)} objects")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
